//! Close (01_018..01_059) and drop (01_093, 01_006).
//!
//! The seed's close: OPEN -> CLOSING (01_019), wait until no send or receive is executing
//! (01_020), `closesocket` (01_021: the kernel aborts what is pending, each aborted operation
//! still completes through the pool), `WaitForThreadpoolIoCallbacks(io, FALSE)` (01_040),
//! `CloseThreadpoolIo` (01_059), `DestroyThreadpoolEnvironment` (01_042), CLOSED. Every close
//! makes these calls in this order; what depends on the calling thread is only which thread
//! waits (see `docs/windows.md` for each departure and the test that justifies it):
//! * from inside one of this socket's own callbacks, the callback first disassociates itself
//!   from the socket's `PTP_IO` (`DisassociateCurrentThreadFromCallback`), or the wait would
//!   wait for itself, then delivers the completions that came back meanwhile;
//! * on a pool thread (any callback, or an engine job) with operations still to come back, it
//!   first asks `CallbackMayRunLong`; if the pool has no thread to lend, waiting would deadlock
//!   (the completions it waits for need a thread), so the close returns with the socket
//!   CLOSING, and once the last completion has been delivered an engine job makes the rest of
//!   the calls;
//! * before `closesocket`, each send still in the kernel is cancelled (`CancelIoEx`).

use std::cell::Cell;
use std::os::windows::io::IntoRawSocket;
use std::sync::Arc;
use std::sync::MutexGuard;

use windows_sys::Win32::Networking::WinSock::SOCKET;
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::complete::{may_block, on_pool_thread, DELIVERING, DISASSOCIATED, INSTANCE};
use super::os;
use super::socket::{Inner, Shared};
use crate::core::state::SocketState;
use crate::sys::EngineApi;
use crate::transport::SocketTransport;

/// Who closes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Caller {
    /// `async_socket_close`.
    Close,
    /// `async_socket_destroy` (an implicit close).
    Drop,
    /// The engine job of `close_with`.
    CloseWith,
}

impl Shared {
    /// 01_018..01_059 (close), 01_093 / 01_006 (drop).
    pub(super) fn close(self: &Arc<Self>, caller: Caller) {
        let nested = DELIVERING.with(Cell::get) == Arc::as_ptr(self);
        let mut g = self.lock();
        loop {
            match g.state {
                // 01_022
                SocketState::Closed => return,
                SocketState::Open => break,
                // 01_093: destroy waits for the open to end.
                SocketState::Opening if caller == Caller::Drop => g = self.wait(g),
                // 01_022: not OPEN, return.
                SocketState::Opening => return,
                // A close is running (or waits for its last completions) and will finish the
                // job. Waiting for it from one of this socket's callbacks, or on a pool thread
                // when the pool has no thread to spare, could deadlock: return (01_022).
                SocketState::Closing
                    if caller == Caller::CloseWith
                        || nested
                        || (on_pool_thread() && !may_block()) =>
                {
                    return
                }
                // 01_093 for a drop; for a close, waiting until CLOSED (a close that returns
                // promises that every completion has run).
                SocketState::Closing => g = self.wait(g),
            }
        }
        // 01_019
        self.set_state(&mut g, SocketState::Closing);
        // 01_020
        while g.api_calls > 0 {
            g = self.wait(g);
        }
        // Whether this thread may wait for the pool: outside pool callbacks always; inside
        // one only if nothing is still to come back, or the pool can lend another thread.
        let waits = g.in_flight == 0 || may_block();
        if !waits {
            g.deferred = true;
        }
        let sends = g.sends_in_flight();
        let transport = g.transport.take();
        let io = g.io;
        drop(g);
        // Sends still in the kernel are cancelled before closesocket: Wine leaves a send that
        // has written part of its bytes pending after closesocket until the peer reads; on
        // Windows closesocket aborts it anyway (ERROR either way, 01_067).
        if let Some(socket) = transport.as_ref().and_then(|t| t.underlying_socket()) {
            for overlapped in sends {
                os::cancel_io_ex(socket as usize, overlapped as *mut OVERLAPPED);
            }
        }
        // 01_021
        Shared::close_socket(transport);
        let mut g = self.lock();
        g.socket_closed = true;
        if !waits {
            self.finish_deferred_if_done(g);
            return;
        }
        drop(g);
        if nested && !DISASSOCIATED.with(|d| d.replace(true)) {
            os::disassociate_current_thread_from_callback(INSTANCE.with(Cell::get));
        }
        // 01_040
        os::wait_for_threadpool_io_callbacks(io, false);
        let mut g = self.lock();
        if nested {
            // This thread is the runner: what came back meanwhile was left to it.
            g = self.deliver_rest(g);
        }
        if !g.drained() {
            // The wait covers every I/O started on the PTP_IO; only a completion the pool
            // dropped (see the failure path of a submission) can be missing here.
            eprintln!(
                "asock: close ends with {} operation(s) whose completion never came",
                g.in_flight
            );
        }
        self.finish(g);
    }

    /// A deferred close (see [`Shared::close`]): once the socket is closed and every
    /// completion delivered, an engine job makes the rest of the calls. That job is no callback
    /// of this socket's `PTP_IO`, and nothing it waits for needs a thread.
    pub(super) fn finish_deferred_if_done(self: &Arc<Self>, mut g: MutexGuard<'_, Inner>) {
        if !(g.state == SocketState::Closing
            && g.deferred
            && g.socket_closed
            && !g.runner
            && g.drained())
        {
            return;
        }
        g.deferred = false;
        let io = g.io;
        drop(g);
        let me = Arc::clone(self);
        self.engine.execute(Box::new(move || {
            // 01_040
            os::wait_for_threadpool_io_callbacks(io, false);
            let g = me.lock();
            me.finish(g);
        }));
    }

    /// `close_with`: never blocks; the close runs as an engine job.
    pub(super) fn close_async(self: &Arc<Self>, on_closed: Box<dyn FnOnce() + Send>) {
        let mut g = self.lock();
        match g.state {
            SocketState::Closed => {
                drop(g);
                self.engine.execute(on_closed);
            }
            SocketState::Opening => {
                g.on_closed.push(on_closed);
                g.close_after_open = true;
            }
            SocketState::Closing => g.on_closed.push(on_closed),
            SocketState::Open => {
                g.on_closed.push(on_closed);
                drop(g);
                self.close_on_engine();
            }
        }
    }

    /// Runs the close on one of the engine's threads.
    pub(super) fn close_on_engine(self: &Arc<Self>) {
        let me = Arc::clone(self);
        self.engine
            .execute(Box::new(move || me.close(Caller::CloseWith)));
    }

    /// Ends a close: 01_059, 01_042, then CLOSED; `close_with` jobs go to the engine. The
    /// contexts of failed submissions are freed here: no callback of the `PTP_IO` can run
    /// any more.
    fn finish(&self, mut g: MutexGuard<'_, Inner>) {
        let io = std::mem::replace(&mut g.io, 0);
        // 01_059
        os::close_threadpool_io(io);
        // 01_042
        if let Some(mut env) = g.env.take() {
            os::destroy_threadpool_environment(&mut env.0);
        }
        let parked = std::mem::take(&mut g.parked);
        self.set_state(&mut g, SocketState::Closed);
        let jobs = std::mem::take(&mut g.on_closed);
        drop(g);
        for p in parked {
            // SAFETY: parked contexts are only freed here or by their own completion, which
            // removes them from `parked` first; after WaitForThreadpoolIoCallbacks none can run.
            drop(unsafe { Box::from_raw(p.0) });
        }
        for job in jobs {
            self.engine.execute(job);
        }
    }

    /// Takes the transport out (after the last send or receive stopped counting) and closes
    /// its socket (01_021).
    pub(super) fn close_socket(transport: Option<Arc<SocketTransport>>) {
        let Some(transport) = transport else { return };
        match Arc::into_inner(transport) {
            Some(mut transport) => {
                if let Some(socket) = transport.take_socket() {
                    if let Err(e) = os::closesocket(socket.into_raw_socket() as SOCKET) {
                        eprintln!("asock: closesocket failed: {e}");
                    }
                }
            }
            None => {
                eprintln!("asock: the transport is still in use at close; it closes when released")
            }
        }
    }
}
