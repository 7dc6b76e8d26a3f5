//! One async socket on the Windows backend (c-pal's `async_socket_win32`, per the seed).
//!
//! # Operations
//! A send or receive builds an [`IoContext`] whose first field is the `OVERLAPPED` (so the
//! pointer the pool hands back to `on_io_complete` is the context), with an array of one
//! `WSABUF` per buffer pointing into the operation's own buffers and an event in
//! `OVERLAPPED::hEvent`. The operation (with its buffers) lives inside the boxed context until
//! the completion, so every pointer given to the kernel stays valid. Then `StartThreadpoolIo`
//! and an overlapped `WSASend` / `WSARecv`; a synchronous failure other than `WSA_IO_PENDING`
//! is balanced by `CancelThreadpoolIo` and returned, and nothing is ever called back for it.
//!
//! # Completions and their order
//! `on_io_complete` runs on a pool thread, maps the result as the seed says, closes the event,
//! frees the context and stores the completion in its slot: one FIFO of slots per direction,
//! reserved in submission order. Whichever thread finds no *runner* for the socket becomes it and
//! delivers the ready slots at the heads of the two FIFOs, so a socket's receives complete in
//! submission order, so do its sends, and its callbacks never run two at a time (the pool would
//! otherwise run them concurrently and out of order). A submission holds the socket's lock from
//! its state check through `WSASend` / `WSARecv`, so the slot order is the order the kernel saw.
//!
//! # Close
//! `closesocket` (the kernel aborts what is pending; each aborted operation still completes
//! through the pool), `WaitForThreadpoolIoCallbacks(io, FALSE)`, then until every accepted
//! operation has been delivered, `CloseThreadpoolIo`, `DestroyThreadpoolEnvironment`, CLOSED.
//! Called from inside one of this socket's own callbacks (this thread is its runner), close
//! cannot wait for the pool (that would wait for itself); instead it waits on its own count of
//! operations still in the kernel, after telling the pool with `CallbackMayRunLong` that this
//! callback will run long, and delivers the rest itself. If the pool cannot lend another thread
//! (`CallbackMayRunLong` returns FALSE: the engine's maximum is reached), waiting could deadlock,
//! so close returns with the socket CLOSING and the last completion finishes the close.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::os::windows::io::{AsRawSocket, IntoRawSocket};
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use windows_sys::Win32::Foundation::{
    ERROR_CONNECTION_ABORTED, ERROR_NETNAME_DELETED, HANDLE, NO_ERROR,
};
use windows_sys::Win32::Networking::WinSock::{
    INVALID_SOCKET, SOCKET, SOCKET_ERROR, WSABUF, WSAECONNRESET, WSA_IO_PENDING,
};
use windows_sys::Win32::System::Threading::{PTP_CALLBACK_INSTANCE, PTP_IO, PTP_POOL};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::engine::Engine;
use super::os::{self, CallbackEnviron, Env};
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;
use crate::result::{
    NotifyType, OpenError, OpenErrorKind, ReceiveResult, SendResult, SubmitErrorKind,
};
use crate::transport::SocketTransport;
use crate::Transport;

use tls::{DELIVERING, INSTANCE, RUN_LONG};

mod tls {
    // The initialisers are `const`; clippy 1.96 misreads the windows-gnu expansion of
    // `thread_local!` (the same declarations pass on Linux).
    #![allow(clippy::missing_const_for_thread_local)]

    use std::cell::Cell;

    use windows_sys::Win32::System::Threading::PTP_CALLBACK_INSTANCE;

    thread_local! {
        /// The `PTP_CALLBACK_INSTANCE` of the pool callback running on this thread (0: none).
        pub(super) static INSTANCE: Cell<PTP_CALLBACK_INSTANCE> = const { Cell::new(0) };
        /// What `CallbackMayRunLong` answered for that instance (it may be asked only once).
        pub(super) static RUN_LONG: Cell<Option<bool>> = const { Cell::new(None) };
        /// The socket whose completion callback this thread is delivering (null: none).
        pub(super) static DELIVERING: Cell<*const super::Shared> =
            const { Cell::new(std::ptr::null()) };
    }
}

/// Whether this thread may block: always outside pool callbacks; inside one, when the pool
/// can lend another thread (`CallbackMayRunLong`, asked at most once per callback).
fn may_block() -> bool {
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

fn encode(state: SocketState) -> u8 {
    match state {
        SocketState::Closed => 0,
        SocketState::Opening => 1,
        SocketState::Open => 2,
        SocketState::Closing => 3,
    }
}

fn decode(state: u8) -> SocketState {
    match state {
        0 => SocketState::Closed,
        1 => SocketState::Opening,
        2 => SocketState::Open,
        _ => SocketState::Closing,
    }
}

/// 01_103: the size of a context with `count` `WSABUF`s must not exceed `u32::MAX`.
fn context_fits(count: usize) -> bool {
    count
        .checked_mul(std::mem::size_of::<WSABUF>())
        .and_then(|n| n.checked_add(std::mem::size_of::<IoContext>()))
        .is_some_and(|n| n <= u32::MAX as usize)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Send,
    Recv,
}

enum Op {
    Send(Box<dyn SendOp>),
    Recv(Box<dyn RecvOp>),
}

/// Counts live contexts for the tests (zero-sized without the feature).
struct Live;

impl Live {
    fn new() -> Self {
        #[cfg(feature = "fault-injection")]
        super::fault::context_allocated();
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        #[cfg(feature = "fault-injection")]
        super::fault::context_freed();
    }
}

/// The context of one send or receive (01_028, 01_050, 01_077, 01_078).
#[repr(C)]
struct IoContext {
    /// First field: a pointer to the `OVERLAPPED` is a pointer to the context (01_064). Its
    /// `hEvent` holds the operation's event (01_057, 01_080).
    overlapped: OVERLAPPED,
    /// `WSARecv`'s flags (in/out), kept here so that they outlive the call.
    flags: u32,
    /// The sum of the buffer lengths.
    total: u32,
    /// Slot in the direction's FIFO.
    seq: u64,
    /// The user's operation: its buffers and its callback.
    op: Op,
    /// One `WSABUF` per buffer, pointing into `op`'s buffers (01_056, 01_079).
    wsabufs: Box<[WSABUF]>,
    shared: Arc<Shared>,
    live: Live,
}

/// One accepted operation, in submission order.
enum Slot {
    /// In the kernel; the address of its `OVERLAPPED`.
    InFlight(usize),
    /// Back from the kernel, waiting for its turn to be delivered.
    Done(Completion),
}

struct Inner {
    state: SocketState,
    transport: Option<SocketTransport>,
    socket: SOCKET,
    io: PTP_IO,
    /// The callback environment of the open `PTP_IO` (boxed: its address is what the pool saw).
    env: Option<Box<Env>>,
    /// Slots of accepted sends, in submission order.
    sends: VecDeque<Slot>,
    /// Sequence number of `sends[0]`.
    send_base: u64,
    recvs: VecDeque<Slot>,
    recv_base: u64,
    /// Operations accepted and not yet back from the kernel.
    in_flight: usize,
    /// A thread is delivering this socket's completions.
    runner: bool,
    /// A close could not (or must not) wait; the last completion finishes it.
    finish_deferred: bool,
    /// Jobs of `close_with` to run on the engine once CLOSED.
    on_closed: Vec<Box<dyn FnOnce() + Send>>,
    /// `close_with` was called while OPENING: close as soon as the open succeeds.
    close_after_open: bool,
}

impl Inner {
    fn slot(&mut self, dir: Dir, seq: u64) -> &mut Slot {
        let (q, base) = match dir {
            Dir::Send => (&mut self.sends, self.send_base),
            Dir::Recv => (&mut self.recvs, self.recv_base),
        };
        &mut q[(seq - base) as usize]
    }

    fn next_seq(&self, dir: Dir) -> u64 {
        match dir {
            Dir::Send => self.send_base + self.sends.len() as u64,
            Dir::Recv => self.recv_base + self.recvs.len() as u64,
        }
    }

    fn push_slot(&mut self, dir: Dir, overlapped: usize) {
        match dir {
            Dir::Send => self.sends.push_back(Slot::InFlight(overlapped)),
            Dir::Recv => self.recvs.push_back(Slot::InFlight(overlapped)),
        }
        self.in_flight += 1;
    }

    /// The next completion that may be delivered: the head of a FIFO, once it is back.
    fn pop_ready(&mut self) -> Option<Completion> {
        for (q, base) in [
            (&mut self.recvs, &mut self.recv_base),
            (&mut self.sends, &mut self.send_base),
        ] {
            if matches!(q.front(), Some(Slot::Done(_))) {
                *base += 1;
                if let Some(Slot::Done(c)) = q.pop_front() {
                    return Some(c);
                }
            }
        }
        None
    }

    fn idle(&self) -> bool {
        self.in_flight == 0 && !self.runner && self.sends.is_empty() && self.recvs.is_empty()
    }
}

struct Shared {
    /// `inner.state`, readable without the lock (so `state()` never waits for a running
    /// open or close).
    state: AtomicU8,
    /// Keeps the engine's pool object alive for as long as this socket may use it.
    engine: Arc<Engine>,
    pool: PTP_POOL,
    inner: Mutex<Inner>,
    /// Signalled on every state change, when `in_flight` drops to 0 and when a runner stops.
    cv: Condvar,
}

/// The backend half of an [`crate::AsyncSocket`].
pub(crate) struct SocketIo {
    shared: Arc<Shared>,
}

impl SocketIo {
    /// A CLOSED async socket on `engine` (01_001). Obtains the engine's pool (01_035). A custom
    /// transport never reaches this backend: `AsyncSocket::with_transport` fails on Windows
    /// (04_001).
    pub(crate) fn new(engine: Arc<Engine>, custom: Option<Box<dyn Transport>>) -> Self {
        debug_assert!(custom.is_none(), "custom transports are refused on Windows");
        drop(custom);
        let pool = engine.threadpool();
        os::note_get_threadpool(pool);
        SocketIo {
            shared: Arc::new(Shared {
                state: AtomicU8::new(encode(SocketState::Closed)),
                engine,
                pool,
                inner: Mutex::new(Inner {
                    state: SocketState::Closed,
                    transport: None,
                    socket: INVALID_SOCKET,
                    io: 0,
                    env: None,
                    sends: VecDeque::new(),
                    send_base: 0,
                    recvs: VecDeque::new(),
                    recv_base: 0,
                    in_flight: 0,
                    runner: false,
                    finish_deferred: false,
                    on_closed: Vec::new(),
                    close_after_open: false,
                }),
                cv: Condvar::new(),
            }),
        }
    }

    pub(crate) fn state(&self) -> SocketState {
        decode(self.shared.state.load(SeqCst))
    }

    /// 01_015..01_094: binds the transport's socket to the engine's pool. The OS calls are made
    /// outside the lock, in OPENING, in which every other call fails or waits.
    pub(crate) fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        let socket = match transport.socket() {
            Some(s) => s.as_raw_socket() as SOCKET,
            None => return Err(OpenError::new(OpenErrorKind::InvalidTransport, transport)),
        };
        let sh = &self.shared;
        {
            let mut g = sh.lock();
            if g.state != SocketState::Closed {
                // 01_015: already OPEN or OPENING (or CLOSING).
                return Err(OpenError::new(OpenErrorKind::NotClosed, transport));
            }
            // 01_023
            sh.set_state(&mut g, SocketState::Opening);
        }
        // 01_016, 01_036
        let mut env = Box::new(Env(CallbackEnviron::default()));
        os::initialize_threadpool_environment(&mut env.0);
        os::set_threadpool_callback_pool(&mut env.0, sh.pool);
        // 01_058
        let created =
            os::create_threadpool_io(socket, Some(on_io_complete), std::ptr::null_mut(), &env.0);
        let mut g = sh.lock();
        match created {
            Ok(io) => {
                g.io = io;
                g.env = Some(env);
                g.socket = socket;
                g.transport = Some(transport);
                // 01_094
                sh.set_state(&mut g, SocketState::Open);
                if std::mem::take(&mut g.close_after_open) {
                    // A `close_with` arrived while opening: the open succeeded, now close.
                    sh.close_open_without_waiting(g);
                }
                Ok(())
            }
            Err(e) => {
                // 01_039: fail, hand the transport back, nothing called back.
                os::destroy_threadpool_environment(&mut env.0);
                sh.set_state(&mut g, SocketState::Closed);
                g.close_after_open = false;
                let jobs = std::mem::take(&mut g.on_closed);
                drop(g);
                for job in jobs {
                    sh.engine.execute(job);
                }
                Err(OpenError::new(OpenErrorKind::Io(e), transport))
            }
        }
    }

    /// 01_028..01_106.
    pub(crate) fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)> {
        let count = op.buf_count();
        if !context_fits(count) {
            // 01_103
            return Err((
                SubmitErrorKind::InvalidArgument(
                    "too many buffers: the I/O context would exceed u32::MAX bytes",
                ),
                op,
            ));
        }
        // 01_056: one WSABUF per buffer, pointing at the buffer's own memory.
        let wsabufs: Box<[WSABUF]> = (0..count)
            .map(|i| {
                let b = op.buf(i);
                WSABUF {
                    len: b.len() as u32,
                    buf: b.as_ptr().cast_mut(),
                }
            })
            .collect();
        self.shared
            .submit(Op::Send(op), total as u32, wsabufs)
            .map_err(|(kind, op)| match op {
                Op::Send(op) => (kind, op),
                Op::Recv(_) => unreachable!("a send comes back as a send"),
            })
    }

    /// 01_077..01_105.
    pub(crate) fn submit_recv(
        &self,
        mut op: Box<dyn RecvOp>,
    ) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        let count = op.buf_count();
        let mut total: u64 = 0;
        // 01_079: one WSABUF per buffer, pointing at the buffer's own memory.
        let wsabufs: Box<[WSABUF]> = (0..count)
            .map(|i| {
                let b = op.buf_mut(i);
                total += b.len() as u64;
                WSABUF {
                    len: b.len() as u32,
                    buf: b.as_mut_ptr(),
                }
            })
            .collect();
        // `AsyncSocket::receive` validated the total (01_096).
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        self.shared
            .submit(Op::Recv(op), total, wsabufs)
            .map_err(|(kind, op)| match op {
                Op::Recv(op) => (kind, op),
                Op::Send(_) => unreachable!("a receive comes back as a receive"),
            })
    }

    /// 04_002: readiness notification does not exist on Windows.
    pub(crate) fn submit_notify(
        &self,
        _io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        Err((SubmitErrorKind::Unsupported, op))
    }

    pub(crate) fn close(&self) {
        self.shared.close();
    }

    /// Closes without blocking the caller; `on_closed` runs on the engine's pool once the
    /// socket is CLOSED. The socket is closed at once (`closesocket`); the last pending
    /// completion (or this call, if none is pending) then closes the `PTP_IO`.
    pub(crate) fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        self.shared.close_async(on_closed);
    }
}

impl Drop for SocketIo {
    /// 01_006 / 01_093: an implicit close; waits while another close is running. The engine
    /// reference is released by the caller afterwards (42_005).
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; every critical section leaves the data
        // consistent, so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.cv.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    /// Every state change goes through here (under the lock) and wakes the waiters.
    fn set_state(&self, g: &mut Inner, state: SocketState) {
        g.state = state;
        self.state.store(encode(state), SeqCst);
        self.cv.notify_all();
    }

    /// Starts one send or receive. The lock is held from the state check to the last OS call,
    /// which is what makes close wait for executing calls (01_020) and keeps the slot order
    /// equal to the order the kernel saw.
    fn submit(
        self: &Arc<Self>,
        op: Op,
        total: u32,
        wsabufs: Box<[WSABUF]>,
    ) -> Result<(), (SubmitErrorKind, Op)> {
        let dir = match op {
            Op::Send(_) => Dir::Send,
            Op::Recv(_) => Dir::Recv,
        };
        let mut g = self.lock();
        if g.state != SocketState::Open {
            // 01_097 / 01_098
            return Err((SubmitErrorKind::NotOpen, op));
        }
        // 01_057 / 01_080
        let event: HANDLE = match os::create_event() {
            Ok(e) => e,
            // 01_029 / 01_084
            Err(e) => return Err((SubmitErrorKind::Io(e), op)),
        };
        let count = wsabufs.len() as u32;
        let ctx = Box::new(IoContext {
            overlapped: OVERLAPPED {
                hEvent: event,
                ..Default::default()
            },
            flags: 0,
            total,
            seq: g.next_seq(dir),
            op,
            wsabufs,
            shared: Arc::clone(self),
            live: Live::new(),
        });
        let ctx = Box::into_raw(ctx);
        // 01_060 / 01_081
        os::start_threadpool_io(g.io);
        // SAFETY: `ctx` is a live, uniquely owned allocation; the buffers, the WSABUF array,
        // the flags and the OVERLAPPED it holds stay in place until `on_io_complete` takes the
        // box back (or until the failure path below does, the I/O not having started).
        let rc = unsafe {
            let bufs = (*ctx).wsabufs.as_ptr();
            let overlapped = std::ptr::addr_of_mut!((*ctx).overlapped);
            match dir {
                // 01_061: flags 0, no byte count, the OVERLAPPED with the event.
                Dir::Send => os::wsa_send(g.socket, bufs, count, 0, overlapped),
                // 01_082
                Dir::Recv => os::wsa_recv(
                    g.socket,
                    bufs,
                    count,
                    std::ptr::addr_of_mut!((*ctx).flags),
                    overlapped,
                ),
            }
        };
        enum Failure {
            Wsa(i32),
            Other,
        }
        let failure = if rc == 0 {
            // Completed at once; the completion still comes through the pool.
            None
        } else if rc == SOCKET_ERROR {
            // 01_062 / 01_054
            match os::wsa_get_last_error() {
                // 01_053 / 01_055
                WSA_IO_PENDING => None,
                // 01_100 / 01_099
                e => Some(Failure::Wsa(e)),
            }
        } else {
            // 01_106 / 01_105: a failure of any other kind.
            Some(Failure::Other)
        };
        let Some(failure) = failure else {
            g.push_slot(dir, ctx as usize);
            // 01_045 / 01_083
            return Ok(());
        };
        os::cancel_threadpool_io(g.io);
        drop(g);
        // SAFETY: the I/O was not started, so the kernel holds no pointer into the context,
        // and `on_io_complete` will never see it: we own the box again.
        let ctx = unsafe { Box::from_raw(ctx) };
        os::close_handle(ctx.overlapped.hEvent);
        let kind = match failure {
            // 42_002
            Failure::Wsa(WSAECONNRESET) if dir == Dir::Send => SubmitErrorKind::NotOpen,
            // 01_029 / 01_084
            Failure::Wsa(e) => SubmitErrorKind::Io(std::io::Error::from_raw_os_error(e)),
            Failure::Other => SubmitErrorKind::Io(std::io::Error::other(format!(
                "{} returned {rc}, neither 0 nor SOCKET_ERROR",
                if dir == Dir::Send {
                    "WSASend"
                } else {
                    "WSARecv"
                }
            ))),
        };
        Err((kind, ctx.op))
    }

    /// Stores a completion in its slot and delivers what is ready if no thread is doing so.
    fn complete(self: &Arc<Self>, dir: Dir, seq: u64, completion: Completion) {
        let mut g = self.lock();
        *g.slot(dir, seq) = Slot::Done(completion);
        g.in_flight -= 1;
        if g.in_flight == 0 {
            self.cv.notify_all();
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
        while let Some(c) = g.pop_ready() {
            drop(g);
            self.deliver(c);
            g = self.lock();
        }
        g.runner = false;
        if g.state == SocketState::Closing && g.finish_deferred && g.idle() {
            self.finish(g);
        } else {
            self.cv.notify_all();
        }
    }

    fn deliver(self: &Arc<Self>, c: Completion) {
        let previous = DELIVERING.with(|d| d.replace(Arc::as_ptr(self)));
        c.deliver();
        DELIVERING.with(|d| d.set(previous));
    }

    /// 01_019..01_059.
    fn close(self: &Arc<Self>) {
        let nested = DELIVERING.with(Cell::get) == Arc::as_ptr(self);
        let mut g = self.lock();
        loop {
            match g.state {
                // 01_022
                SocketState::Closed => return,
                SocketState::Open => break,
                // A close is already running and will finish the job; from inside one of
                // this socket's callbacks we must not wait for it.
                SocketState::Closing if nested => return,
                // 01_093: wait for the open or the other close to finish.
                SocketState::Closing | SocketState::Opening => g = self.wait(g),
            }
        }
        let io = g.io;
        self.begin_close(g);
        let mut g = if nested {
            // This thread is the runner, inside a callback of this socket: waiting for the
            // pool's callbacks would wait for itself.
            let mut g = self.lock();
            if g.in_flight > 0 && !may_block() {
                g.finish_deferred = true;
                return;
            }
            while g.in_flight > 0 {
                g = self.wait(g);
            }
            // Everything is back: deliver the rest here, in order.
            while let Some(c) = g.pop_ready() {
                drop(g);
                self.deliver(c);
                g = self.lock();
            }
            g
        } else {
            if INSTANCE.with(Cell::get) != 0 {
                // Closing another socket from a pool callback: let the pool know (best effort).
                let _ = may_block();
            }
            // 01_040
            os::wait_for_threadpool_io_callbacks(io, false);
            let mut g = self.lock();
            while !g.idle() {
                g = self.wait(g);
            }
            g
        };
        g.finish_deferred = false;
        self.finish(g);
    }

    /// OPEN -> CLOSING, then closes the socket (01_019, 01_021): the kernel aborts every
    /// pending operation, each of which still completes through the pool. 01_020: no send or
    /// receive is executing, they hold the lock from their state check to their last call.
    ///
    /// Before `closesocket`, each send still in the kernel is cancelled (`CancelIoEx` of its
    /// `OVERLAPPED`). On Windows that changes nothing the caller sees: a send that
    /// `closesocket` aborts completes with an error, hence ERROR (01_067), and so does a
    /// cancelled one. It matters under Wine, whose `closesocket` leaves a send that has
    /// written part of its bytes pending forever (the close would never end). Receives are
    /// left to `closesocket`, whose result code the seed maps (42_001 / 01_070).
    fn begin_close(&self, mut g: MutexGuard<'_, Inner>) {
        self.set_state(&mut g, SocketState::Closing);
        let socket = g.socket;
        for slot in &g.sends {
            if let Slot::InFlight(overlapped) = *slot {
                os::cancel_io_ex(socket, overlapped as *mut OVERLAPPED);
            }
        }
        let transport = g.transport.take();
        g.socket = INVALID_SOCKET;
        drop(g);
        if let Some(mut transport) = transport {
            if let Some(socket) = transport.take_socket() {
                if let Err(e) = os::closesocket(socket.into_raw_socket() as SOCKET) {
                    eprintln!("asock: closesocket failed: {e}");
                }
            }
        }
    }

    /// `close_with`: never blocks.
    fn close_async(self: &Arc<Self>, on_closed: Box<dyn FnOnce() + Send>) {
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
                self.close_open_without_waiting(g);
            }
        }
    }

    /// Closes an OPEN socket without waiting: the socket now, the `PTP_IO` when the last
    /// pending completion has been delivered (or now, if none is pending).
    fn close_open_without_waiting(&self, g: MutexGuard<'_, Inner>) {
        self.begin_close(g);
        let mut g = self.lock();
        if g.idle() {
            self.finish(g);
        } else {
            g.finish_deferred = true;
        }
    }

    /// Ends a close: 01_059, 01_042, then CLOSED; `close_with` jobs go to the engine.
    fn finish(&self, mut g: MutexGuard<'_, Inner>) {
        let io = std::mem::replace(&mut g.io, 0);
        os::close_threadpool_io(io);
        if let Some(mut env) = g.env.take() {
            os::destroy_threadpool_environment(&mut env.0);
        }
        g.finish_deferred = false;
        self.set_state(&mut g, SocketState::Closed);
        let jobs = std::mem::take(&mut g.on_closed);
        drop(g);
        for job in jobs {
            self.engine.execute(job);
        }
    }
}

/// Runs `f` as pool callback `instance` (so that a close made inside it knows it runs on the
/// pool and may ask `CallbackMayRunLong`).
pub(crate) fn in_pool_callback(instance: PTP_CALLBACK_INSTANCE, f: impl FnOnce()) {
    let previous = INSTANCE.with(|i| i.replace(instance));
    let previous_answer = RUN_LONG.with(|r| r.replace(None));
    f();
    INSTANCE.with(|i| i.set(previous));
    RUN_LONG.with(|r| r.set(previous_answer));
}

/// The thread pool's I/O callback (the seed's `on_io_complete`).
unsafe extern "system" fn on_io_complete(
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
    // SAFETY: every OVERLAPPED this backend hands to the kernel is the first field of a boxed
    // IoContext leaked with `Box::into_raw`, and the pool delivers each completion once.
    let ctx = unsafe { Box::from_raw(overlapped.cast::<IoContext>()) };
    in_pool_callback(instance, || handle_completion(ctx, io_result, bytes));
}

#[allow(clippy::boxed_local)] // the box is the context the pool handed back; freeing it is 01_072
fn handle_completion(ctx: Box<IoContext>, io_result: u32, bytes: usize) {
    // 01_068
    os::close_handle(ctx.overlapped.hEvent);
    let IoContext {
        overlapped: _,
        flags: _,
        total,
        seq,
        op,
        wsabufs,
        shared,
        live,
    } = *ctx;
    // 01_072: the context (OVERLAPPED, WSABUF array) is freed; the operation moves on.
    drop(wsabufs);
    drop(live);
    let (dir, completion) = match op {
        // 01_065
        Op::Send(op) => {
            let result = if io_result != NO_ERROR {
                // 01_067
                SendResult::Error
            } else if bytes != total as usize {
                // 01_102
                SendResult::Error
            } else {
                // 01_066
                SendResult::Ok
            };
            (Dir::Send, Completion::Send(op, result))
        }
        // 01_071
        Op::Recv(op) => {
            let completion = match io_result {
                // 42_003: the peer closed the connection.
                NO_ERROR if bytes == 0 => Completion::abandoned_recv(op),
                // 01_095
                NO_ERROR if bytes > total as usize => Completion::Recv(
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
            };
            (Dir::Recv, completion)
        }
    };
    shared.complete(dir, seq, completion);
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
