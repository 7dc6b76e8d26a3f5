//! Completions: the thread pool's I/O callback (the seed's `on_io_complete`) and the delivery
//! of each completion to its operation's callback.
//!
//! `on_io_complete` runs on a pool thread, finds the context from the `OVERLAPPED` (01_064),
//! maps the result as the seed says (01_065..42_003) and stores the completion in its slot: one
//! FIFO of slots per direction, in submission order. Whichever of the socket's callbacks finds
//! no *runner* becomes it and delivers the ready slots at the heads of the two FIFOs: for each,
//! the user's callback, then `CloseHandle` of its event (01_068), then the context is freed
//! (01_072). So a socket's receives complete in submission order, so do its sends, and its
//! callbacks never run two at a time (the pool alone would run them concurrently and out of
//! order). A pool thread never waits here for another completion to arrive: it stores what it
//! has and goes back to the pool.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, MutexGuard};

use windows_sys::Win32::Foundation::{ERROR_CONNECTION_ABORTED, ERROR_NETNAME_DELETED, NO_ERROR};
use windows_sys::Win32::System::Threading::{PTP_CALLBACK_INSTANCE, PTP_IO};

use super::os;
use super::socket::{Dir, Inner, IoContext, Op, Owned, Shared, Slot, FAILED, SUBMITTING};
use crate::core::ops::Completion;
use crate::result::{ReceiveResult, SendResult};

use tls::RUN_LONG;
pub(super) use tls::{DELIVERING, DISASSOCIATED, INSTANCE};

mod tls {
    // The initialisers are `const`; clippy 1.96 misreads the windows-gnu expansion of
    // `thread_local!` (the same declarations pass on Linux).
    #![allow(clippy::missing_const_for_thread_local)]

    use std::cell::Cell;

    use windows_sys::Win32::System::Threading::PTP_CALLBACK_INSTANCE;

    thread_local! {
        /// The `PTP_CALLBACK_INSTANCE` of the pool callback running on this thread (0: none).
        pub(crate) static INSTANCE: Cell<PTP_CALLBACK_INSTANCE> = const { Cell::new(0) };
        /// What `CallbackMayRunLong` answered for that instance (it may be asked only once).
        pub(crate) static RUN_LONG: Cell<Option<bool>> = const { Cell::new(None) };
        /// Whether that callback was disassociated from its object.
        pub(crate) static DISASSOCIATED: Cell<bool> = const { Cell::new(false) };
        /// The socket whose completion callback this thread is delivering (null: none).
        pub(crate) static DELIVERING: Cell<*const super::Shared> =
            const { Cell::new(std::ptr::null()) };
    }
}

/// Whether this thread runs a pool callback (an I/O completion or an engine job).
pub(super) fn on_pool_thread() -> bool {
    INSTANCE.with(Cell::get) != 0
}

/// Whether this thread may block waiting for the pool: always outside pool callbacks; inside
/// one, when the pool can lend another thread (`CallbackMayRunLong`, asked at most once per
/// callback: the answer is kept).
pub(super) fn may_block() -> bool {
    let instance = INSTANCE.with(Cell::get);
    if instance == 0 {
        return true;
    }
    if let Some(answer) = RUN_LONG.with(Cell::get) {
        return answer;
    }
    let answer = os::callback_may_run_long(instance);
    RUN_LONG.with(|r| r.set(Some(answer)));
    answer
}

/// Runs `f` as pool callback `instance` (so that a close made inside it knows it runs on the
/// pool and may ask `CallbackMayRunLong`).
pub(crate) fn in_pool_callback(instance: PTP_CALLBACK_INSTANCE, f: impl FnOnce()) {
    let previous = INSTANCE.with(|i| i.replace(instance));
    let previous_answer = RUN_LONG.with(|r| r.replace(None));
    let previous_disassociated = DISASSOCIATED.with(|d| d.replace(false));
    f();
    INSTANCE.with(|i| i.set(previous));
    RUN_LONG.with(|r| r.set(previous_answer));
    DISASSOCIATED.with(|d| d.set(previous_disassociated));
}

/// The thread pool's I/O callback (the seed's `on_io_complete`).
pub(super) unsafe extern "system" fn on_io_complete(
    instance: PTP_CALLBACK_INSTANCE,
    _context: *mut c_void,
    overlapped: *mut c_void,
    io_result: u32,
    bytes: usize,
    _io: PTP_IO,
) {
    let (io_result, bytes) = os::on_io_complete_entered(overlapped, io_result, bytes);
    if overlapped.is_null() {
        // 01_063
        eprintln!("asock: on_io_complete called with a NULL overlapped (io_result {io_result})");
        return;
    }
    // 01_064: the OVERLAPPED is the first field of the context.
    let ctx = overlapped.cast::<IoContext>();
    in_pool_callback(instance, || {
        // SAFETY: every OVERLAPPED this backend hands to the kernel is the first field of a
        // context leaked with `Box::into_raw`, which stays allocated until its completion (this
        // call, which the pool makes once) has been handled.
        unsafe { handle_completion(ctx, io_result, bytes) }
    });
}

/// # Safety
/// `ctx` is a context of this backend, handed back by the pool (once).
unsafe fn handle_completion(ctx: *mut IoContext, io_result: u32, bytes: usize) {
    // SAFETY: the context is allocated (this function's contract); `shared` is never written
    // after the context was made.
    let shared = Arc::clone(unsafe { &(*ctx).shared });
    let mut g = shared.lock();
    loop {
        // SAFETY: as above; `stage` is an atomic, written under this lock.
        match unsafe { (*ctx).stage.load(SeqCst) } {
            // The submission that started this I/O is still recording its outcome.
            SUBMITTING => {
                // SAFETY: as above.
                unsafe { (*ctx).arrived.store(true, SeqCst) };
                g = shared.wait(g);
            }
            FAILED => {
                // A completion posted although the submission failed at once (and the caller
                // got the operation back): nothing to deliver; the parked context is ours.
                g.parked.retain(|p| p.0 != ctx);
                drop(g);
                eprintln!(
                    "asock: a completion (io_result {io_result}) arrived for a send or receive \
                     that had failed when it was submitted; ignored"
                );
                // SAFETY: removed from `parked` under the lock: no one else holds it.
                drop(unsafe { Box::from_raw(ctx) });
                return;
            }
            _ => break,
        }
    }
    // SAFETY: IN_FLIGHT: the submitter is done with the context and only this completion
    // takes it (the pool delivers each completion once).
    let mut ctx = unsafe { Box::from_raw(ctx) };
    let Some(op) = ctx.op.take() else {
        unreachable!("an I/O in flight holds its operation")
    };
    let total = ctx.total as usize;
    let (dir, seq) = (ctx.dir, ctx.seq);
    let completion = match op {
        // 01_065
        Op::Send(op) => {
            let result = if io_result != NO_ERROR {
                // 01_067
                SendResult::Error
            } else if bytes != total {
                // 01_102
                SendResult::Error
            } else {
                // 01_066
                SendResult::Ok
            };
            Completion::Send(op, result)
        }
        // 01_071
        Op::Recv(op) => match io_result {
            // 42_003: the peer closed the connection.
            NO_ERROR if bytes == 0 => Completion::abandoned_recv(op),
            // 01_095
            NO_ERROR if bytes > total => Completion::Recv(
                op,
                ReceiveResult::Error,
                u32::try_from(bytes).unwrap_or(u32::MAX),
            ),
            // 01_069
            NO_ERROR => Completion::Recv(op, ReceiveResult::Ok, bytes as u32),
            // 42_001
            ERROR_NETNAME_DELETED | ERROR_CONNECTION_ABORTED => Completion::abandoned_recv(op),
            // 01_070
            _ => Completion::Recv(op, ReceiveResult::Error, 0),
        },
    };
    shared.complete(g, dir, seq, completion, Owned(ctx));
}

impl Shared {
    /// Stores a completion in its slot and delivers what is ready if no thread is doing so.
    fn complete<'a>(
        self: &'a Arc<Self>,
        mut g: MutexGuard<'a, Inner>,
        dir: Dir,
        seq: u64,
        completion: Completion,
        ctx: Owned,
    ) {
        *g.slot(dir, seq) = Slot::Done(completion, ctx);
        g.in_flight -= 1;
        if g.in_flight == 0 {
            self.notify();
        }
        if g.runner {
            // The runner picks it up after its current callback.
            return;
        }
        g.runner = true;
        self.drive(g);
    }

    /// Delivers ready completions in order; the caller made this thread the runner.
    fn drive<'a>(self: &'a Arc<Self>, mut g: MutexGuard<'a, Inner>) {
        while let Some((c, ctx)) = g.pop_ready() {
            drop(g);
            self.deliver(c, ctx);
            g = self.lock();
        }
        g.runner = false;
        self.notify();
        self.finish_deferred_if_done(g);
    }

    /// Delivers what is ready on this thread, which is the runner (a close made from inside
    /// one of this socket's callbacks, once everything is back).
    pub(super) fn deliver_rest<'a>(
        self: &'a Arc<Self>,
        mut g: MutexGuard<'a, Inner>,
    ) -> MutexGuard<'a, Inner> {
        while let Some((c, ctx)) = g.pop_ready() {
            drop(g);
            self.deliver(c, ctx);
            g = self.lock();
        }
        g
    }

    /// One completion: the user's callback (01_066..42_003), then the event is closed (01_068)
    /// and the context freed (01_072).
    fn deliver(self: &Arc<Self>, c: Completion, ctx: Owned) {
        let previous = DELIVERING.with(|d| d.replace(Arc::as_ptr(self)));
        c.deliver();
        DELIVERING.with(|d| d.set(previous));
        // 01_068
        os::close_handle(ctx.0.overlapped.hEvent);
        // 01_072: the context (OVERLAPPED, WSABUF array) is freed.
        drop(ctx);
    }
}

/// Test support: the pool calling `on_io_complete` with a NULL `OVERLAPPED`.
#[cfg(feature = "fault-injection")]
pub(crate) fn simulate_null_overlapped(io_result: u32, bytes: usize) {
    // SAFETY: a NULL overlapped makes the callback return before it touches anything else.
    unsafe {
        on_io_complete(
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            io_result,
            bytes,
            0,
        )
    }
}
