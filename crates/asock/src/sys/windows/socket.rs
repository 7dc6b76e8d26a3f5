//! One async socket on the Windows backend (c-pal's `async_socket_win32`, per the seed): its
//! state and open. The start of each send and receive is in `submit.rs`, completions in
//! `complete.rs`, close in `close.rs`; `docs/windows.md` lists every place where this backend
//! departs from the seed, and why.
//!
//! # Operations
//! A send or receive builds an [`IoContext`] whose first field is the `OVERLAPPED` (so the
//! pointer the pool hands back to `on_io_complete` is the context), with an array of one
//! `WSABUF` per buffer pointing into the operation's own buffers and an event in
//! `OVERLAPPED::hEvent`. The operation (with its buffers) lives inside the boxed context until
//! it is delivered, so every pointer given to the kernel stays valid. Then `StartThreadpoolIo`
//! and the transport's overlapped send / receive (`WSASend` / `WSARecv`); a synchronous failure
//! other than `WSA_IO_PENDING` is balanced by `CancelThreadpoolIo` and returned, and nothing is
//! ever called back for it. (Should the kernel have completed the I/O anyway, which its status
//! word in the `OVERLAPPED` tells, its completion balances the `StartThreadpoolIo` instead and
//! is dropped when it arrives.)
//!
//! See `submit.rs` for how a send or receive is counted and ordered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use windows_sys::Win32::Networking::WinSock::{SOCKET, WSABUF};
use windows_sys::Win32::System::Threading::{PTP_IO, PTP_POOL};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::complete::on_io_complete;
use super::engine::Engine;
use super::os::{self, CallbackEnviron, Env};
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
use crate::core::poison::unpoisoned;
use crate::core::state::SocketState;
use crate::result::{CreateError, NotifyType, OpenError, OpenErrorKind, SubmitErrorKind};
use crate::sys::{EngineApi, SocketApi};
use crate::transport::SocketTransport;
use crate::Transport;

pub(super) fn encode(state: SocketState) -> u8 {
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

/// 01_103: the size of a context with `count` `WSABUF`s must not exceed `u32::MAX`. The argument
/// check already keeps the `WSABUF`s alone within it ([`crate::buf::MAX_BUFFERS`]); this adds
/// the context itself, after the state check, where the seed puts it.
fn context_fits(count: usize) -> bool {
    count
        .checked_mul(std::mem::size_of::<WSABUF>())
        .and_then(|n| n.checked_add(std::mem::size_of::<IoContext>()))
        .is_some_and(|n| n <= u32::MAX as usize)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Dir {
    Send,
    Recv,
}

pub(super) enum Op {
    Send(Box<dyn SendOp>),
    Recv(Box<dyn RecvOp>),
}

/// Counts live contexts for the tests (zero-sized without the feature).
pub(super) struct Live;

impl Live {
    pub(super) fn new() -> Self {
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

/// [`IoContext::stage`]: the submission is still running (`WSASend` / `WSARecv` may have
/// returned, the outcome is not recorded yet).
pub(super) const SUBMITTING: u8 = 0;
/// The I/O was started and has its slot; its completion owns the context.
pub(super) const IN_FLIGHT: u8 = 1;
/// The submission failed at once and the caller got the operation back, but a completion was
/// posted anyway: the context is kept (parked) for that completion, which frees it.
pub(super) const FAILED: u8 = 2;

/// The context of one send or receive (01_028, 01_050, 01_077, 01_078).
#[repr(C)]
pub(super) struct IoContext {
    /// First field: a pointer to the `OVERLAPPED` is a pointer to the context (01_064). Its
    /// `hEvent` holds the operation's event (01_057, 01_080).
    pub(super) overlapped: OVERLAPPED,
    /// `WSARecv`'s flags (in/out), kept here so that they outlive the call.
    pub(super) flags: u32,
    /// The sum of the buffer lengths.
    pub(super) total: u32,
    pub(super) dir: Dir,
    /// Slot in the direction's FIFO.
    pub(super) seq: u64,
    /// [`SUBMITTING`], [`IN_FLIGHT`] or [`FAILED`]; written under the socket's lock.
    pub(super) stage: AtomicU8,
    /// A completion for this I/O reached `on_io_complete` while the submission was still
    /// running (written under the socket's lock).
    pub(super) arrived: AtomicBool,
    /// The user's operation: its buffers and its callback (taken by the completion, or handed
    /// back when the submission fails).
    pub(super) op: Option<Op>,
    /// One `WSABUF` per buffer, pointing into `op`'s buffers (01_056, 01_079).
    pub(super) wsabufs: Box<[WSABUF]>,
    pub(super) shared: Arc<Shared>,
    pub(super) live: Live,
}

/// A context owned by the socket's state (a delivered-to-be slot or a parked failure).
pub(super) struct Owned(pub(super) Box<IoContext>);

// SAFETY: the raw pointers in a context (the event handle, the OVERLAPPED's, the WSABUFs) name
// a kernel object and memory owned by the context's own operation, which may be used and freed
// from any thread; the operation and the socket handle inside are `Send`.
unsafe impl Send for Owned {}

/// A parked context (see [`FAILED`]): only its address, the memory stays where it is.
pub(super) struct Parked(pub(super) *mut IoContext);

// SAFETY: as for `Owned`; the pointer is dereferenced only under the socket's lock by the one
// thread that removes it from `Inner::parked`.
unsafe impl Send for Parked {}

/// One accepted operation, in submission order.
pub(super) enum Slot {
    /// In the kernel; the address of its `OVERLAPPED`.
    InFlight(usize),
    /// Back from the kernel, waiting for its turn to be delivered.
    Done(Completion, Owned),
}

pub(super) struct Inner {
    pub(super) state: SocketState,
    /// The open socket's transport (shared with the send or receive calls that run).
    pub(super) transport: Option<Arc<SocketTransport>>,
    pub(super) io: PTP_IO,
    /// The callback environment of the open `PTP_IO` (boxed: its address is what the pool saw).
    pub(super) env: Option<Box<Env>>,
    /// Slots of accepted sends, in submission order.
    pub(super) sends: VecDeque<Slot>,
    /// Sequence number of `sends[0]`.
    pub(super) send_base: u64,
    pub(super) recvs: VecDeque<Slot>,
    pub(super) recv_base: u64,
    /// Operations accepted and not yet back from the kernel.
    pub(super) in_flight: usize,
    /// Sends and receives executing now (c-pal's `pending_api_calls`, 01_020).
    pub(super) api_calls: usize,
    /// A thread is delivering this socket's completions.
    pub(super) runner: bool,
    /// A close could not wait for the pool; once everything is delivered and the socket is
    /// closed, an engine job finishes it.
    pub(super) deferred: bool,
    /// The close has closed the socket (`closesocket`).
    pub(super) socket_closed: bool,
    /// The socket was opened once: it cannot be opened again (the seed's design section).
    pub(super) opened_once: bool,
    /// Contexts of failed submissions whose completion is still to come (see [`FAILED`]); any
    /// left are freed at close.
    pub(super) parked: Vec<Parked>,
    /// Jobs of `close_with` to run on the engine once CLOSED.
    pub(super) on_closed: Vec<Box<dyn FnOnce() + Send>>,
    /// `close_with` was called while OPENING: close as soon as the open succeeds.
    pub(super) close_after_open: bool,
}

impl Inner {
    pub(super) fn slot(&mut self, dir: Dir, seq: u64) -> &mut Slot {
        let (q, base) = match dir {
            Dir::Send => (&mut self.sends, self.send_base),
            Dir::Recv => (&mut self.recvs, self.recv_base),
        };
        &mut q[(seq - base) as usize]
    }

    pub(super) fn next_seq(&self, dir: Dir) -> u64 {
        match dir {
            Dir::Send => self.send_base + self.sends.len() as u64,
            Dir::Recv => self.recv_base + self.recvs.len() as u64,
        }
    }

    /// The next completion that may be delivered: the head of a FIFO, once it is back.
    pub(super) fn pop_ready(&mut self) -> Option<(Completion, Owned)> {
        for (q, base) in [
            (&mut self.recvs, &mut self.recv_base),
            (&mut self.sends, &mut self.send_base),
        ] {
            if matches!(q.front(), Some(Slot::Done(..))) {
                *base += 1;
                if let Some(Slot::Done(c, ctx)) = q.pop_front() {
                    return Some((c, ctx));
                }
            }
        }
        None
    }

    /// Nothing accepted is left: every operation is back from the kernel and delivered.
    pub(super) fn drained(&self) -> bool {
        self.in_flight == 0 && self.sends.is_empty() && self.recvs.is_empty()
    }

    /// The `OVERLAPPED`s of the sends still in the kernel.
    pub(super) fn sends_in_flight(&self) -> Vec<usize> {
        self.sends
            .iter()
            .filter_map(|s| match s {
                Slot::InFlight(o) => Some(*o),
                Slot::Done(..) => None,
            })
            .collect()
    }
}

pub(super) struct Shared {
    /// `inner.state`, readable without the lock (so `state()` never waits for a running
    /// open or close).
    state: AtomicU8,
    /// Keeps the engine's pool object alive for as long as this socket may use it.
    pub(super) engine: Arc<Engine>,
    pool: PTP_POOL,
    inner: Mutex<Inner>,
    /// Signalled on every state change, when `in_flight` or `api_calls` drops to 0, when a
    /// submission records its outcome and when a runner stops.
    pub(super) cv: Condvar,
    pub(super) send_order: Mutex<()>,
    pub(super) recv_order: Mutex<()>,
}

/// The backend half of an [`crate::AsyncSocket`].
pub(crate) struct SocketIo {
    shared: Arc<Shared>,
}

impl SocketApi for SocketIo {
    type Engine = Engine;

    /// A CLOSED async socket on `engine` (01_001), with the engine's pool (01_035); fails when
    /// the pool cannot be had (01_003). A custom transport never reaches this backend:
    /// `AsyncSocket::with_transport` fails on Windows (04_001).
    fn create(
        engine: Arc<Engine>,
        custom: Option<Box<dyn Transport>>,
    ) -> Result<Self, CreateError> {
        if custom.is_some() {
            // 04_001: `async_socket_create_with_transport` fails on Windows.
            return Err(CreateError::Unsupported);
        }
        let pool = os::execution_engine_win32_get_threadpool(engine.threadpool())
            .map_err(CreateError::Io)?;
        Ok(SocketIo {
            shared: Arc::new(Shared {
                state: AtomicU8::new(encode(SocketState::Closed)),
                engine,
                pool,
                inner: Mutex::new(Inner {
                    state: SocketState::Closed,
                    transport: None,
                    io: 0,
                    env: None,
                    sends: VecDeque::new(),
                    send_base: 0,
                    recvs: VecDeque::new(),
                    recv_base: 0,
                    in_flight: 0,
                    api_calls: 0,
                    runner: false,
                    deferred: false,
                    socket_closed: false,
                    opened_once: false,
                    parked: Vec::new(),
                    on_closed: Vec::new(),
                    close_after_open: false,
                }),
                cv: Condvar::new(),
                send_order: Mutex::new(()),
                recv_order: Mutex::new(()),
            }),
        })
    }

    fn state(&self) -> SocketState {
        decode(self.shared.state.load(SeqCst))
    }

    /// 01_015..01_094: binds the transport's socket to the engine's pool. The OS calls are made
    /// outside the lock, in OPENING, in which every other call fails or waits.
    fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        // 01_034: the Rust form of a NULL transport is one that holds no socket.
        let Some(socket) = transport.underlying_socket() else {
            return Err(OpenError::new(OpenErrorKind::InvalidTransport, transport));
        };
        let socket = socket as SOCKET;
        let sh = &self.shared;
        {
            let mut g = sh.lock();
            // 01_015: already OPEN or OPENING (or CLOSING). The seed's design section: an
            // async socket that was opened and closed cannot be opened again.
            if g.state != SocketState::Closed || g.opened_once {
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
                g.transport = Some(Arc::new(transport));
                g.opened_once = true;
                // 01_094
                sh.set_state(&mut g, SocketState::Open);
                if std::mem::take(&mut g.close_after_open) {
                    // A `close_with` arrived while opening: the open succeeded, now close.
                    drop(g);
                    sh.close_on_engine();
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
    fn submit_send(
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
    fn submit_recv(
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
    fn submit_notify(
        &self,
        _io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        Err((SubmitErrorKind::Unsupported, op))
    }

    fn close(&self) {
        self.shared.close(super::close::Caller::Close);
    }

    /// Closes without blocking the caller; `on_closed` runs on the engine's pool once the
    /// socket is CLOSED. The close itself runs as an engine job.
    fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        self.shared.close_async(on_closed);
    }
}

impl Drop for SocketIo {
    /// 01_006 / 01_093: an implicit close; waits while the socket is opening or closing. The
    /// engine reference is released by the caller afterwards (42_005).
    fn drop(&mut self) {
        self.shared.close(super::close::Caller::Drop);
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; every critical section leaves the data
        // consistent, so carry on.
        unpoisoned(self.inner.lock())
    }

    pub(super) fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        unpoisoned(self.cv.wait(g))
    }

    pub(super) fn notify(&self) {
        self.cv.notify_all();
    }

    /// Every state change goes through here (under the lock) and wakes the waiters.
    pub(super) fn set_state(&self, g: &mut Inner, state: SocketState) {
        g.state = state;
        self.state.store(encode(state), SeqCst);
        self.cv.notify_all();
    }
}
