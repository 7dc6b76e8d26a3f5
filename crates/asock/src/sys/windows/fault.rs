//! Test-only fault injection and call observation for the Windows backend (cargo feature
//! `fault-injection`, off by default; never enabled in production builds).
//!
//! Every OS call the backend makes goes through the thin layer in `sys/windows/os.rs`. With this
//! feature each of those wrappers first reports the call here: when [recording](record) is on,
//! the call and its arguments are appended to a log ([`calls`]); when a [`Fault`] is armed for
//! that kind of call, the wrapper does what the fault says instead of (or after) making the real
//! call. The backend's `on_io_complete` callback also reports every completion it receives, and
//! a fault can rewrite the completion's `io_result` / byte count before the backend looks at it.
//!
//! The state is process-wide: a test binary that uses it must run those tests one at a time
//! (take a common lock) and [`reset`] between them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use crate::core::poison::unpoisoned;

/// One OS call made by the backend (or one completion it received), with its arguments.
/// Handles and pointers are given as `usize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `CreateThreadpool(NULL)`.
    CreateThreadpool,
    /// `SetThreadpoolThreadMinimum(pool, min)`.
    SetThreadpoolThreadMinimum {
        /// The `PTP_POOL`.
        pool: usize,
        /// The minimum thread count.
        min: u32,
    },
    /// `SetThreadpoolThreadMaximum(pool, max)`.
    SetThreadpoolThreadMaximum {
        /// The `PTP_POOL`.
        pool: usize,
        /// The maximum thread count.
        max: u32,
    },
    /// `CloseThreadpool(pool)`.
    CloseThreadpool {
        /// The `PTP_POOL`.
        pool: usize,
    },
    /// `execution_engine_win32_get_threadpool(engine)`: the async socket asked its engine for
    /// the pool ([`crate::ExecutionEngine::threadpool`]); not an OS call, logged for 01_035. An
    /// [`Outcome::Fail`] makes it find no pool (the creation of the async socket then fails).
    GetThreadpool {
        /// The `PTP_POOL` returned.
        pool: usize,
    },
    /// `InitializeThreadpoolEnvironment(env)`.
    InitializeThreadpoolEnvironment {
        /// Address of the `TP_CALLBACK_ENVIRON`.
        env: usize,
    },
    /// `SetThreadpoolCallbackPool(env, pool)`.
    SetThreadpoolCallbackPool {
        /// Address of the `TP_CALLBACK_ENVIRON`.
        env: usize,
        /// The `PTP_POOL`.
        pool: usize,
    },
    /// `CreateThreadpoolIo(handle, callback, context, env)`.
    CreateThreadpoolIo {
        /// The socket handle.
        handle: usize,
        /// Address of the callback (the backend's `on_io_complete`).
        callback: usize,
        /// The context pointer.
        context: usize,
        /// Address of the `TP_CALLBACK_ENVIRON`.
        env: usize,
        /// The pool the environment names (`env->Pool`).
        env_pool: usize,
    },
    /// `DestroyThreadpoolEnvironment(env)`.
    DestroyThreadpoolEnvironment {
        /// Address of the `TP_CALLBACK_ENVIRON`.
        env: usize,
    },
    /// `CreateEventW(NULL, manual_reset, initial_state, NULL)`.
    CreateEvent {
        /// `bManualReset`.
        manual_reset: bool,
        /// `bInitialState`.
        initial_state: bool,
    },
    /// `CloseHandle(handle)`.
    CloseHandle {
        /// The handle.
        handle: usize,
    },
    /// `socket_transport_send(transport, buffers, count, bytes_sent, flags, overlapped)`: the
    /// overlapped form of the transport's send, which makes the `WSASend` logged after it.
    SocketTransportSend {
        /// The transport's socket.
        socket: usize,
        /// The number of buffers.
        buffer_count: u32,
        /// Whether `bytes_sent` is NULL.
        bytes_sent_null: bool,
        /// `flags`.
        flags: u32,
        /// The `OVERLAPPED` pointer.
        overlapped: usize,
    },
    /// `socket_transport_receive(transport, buffers, count, bytes_received, flags, overlapped)`:
    /// the overlapped form of the transport's receive, which makes the `WSARecv` logged after it.
    SocketTransportReceive {
        /// The transport's socket.
        socket: usize,
        /// The number of buffers.
        buffer_count: u32,
        /// Whether `bytes_received` is NULL.
        bytes_received_null: bool,
        /// `flags`.
        flags: u32,
        /// The `OVERLAPPED` pointer.
        overlapped: usize,
    },
    /// `StartThreadpoolIo(io)`.
    StartThreadpoolIo {
        /// The `PTP_IO`.
        io: usize,
    },
    /// `WSASend(socket, buffers, count, bytes_sent, flags, overlapped, completion_routine)`.
    WsaSend {
        /// The socket.
        socket: usize,
        /// `(buf, len)` of every `WSABUF` passed.
        buffers: Vec<(usize, u32)>,
        /// Whether `lpNumberOfBytesSent` is NULL.
        bytes_sent_null: bool,
        /// `dwFlags`.
        flags: u32,
        /// The `OVERLAPPED` pointer.
        overlapped: usize,
        /// `overlapped->hEvent`.
        event: usize,
        /// Whether the completion routine is NULL.
        routine_null: bool,
    },
    /// `WSARecv(socket, buffers, count, bytes_received, &flags, overlapped, completion_routine)`.
    WsaRecv {
        /// The socket.
        socket: usize,
        /// `(buf, len)` of every `WSABUF` passed.
        buffers: Vec<(usize, u32)>,
        /// Whether `lpNumberOfBytesRecvd` is NULL.
        bytes_received_null: bool,
        /// `*lpFlags` on input.
        flags: u32,
        /// The `OVERLAPPED` pointer.
        overlapped: usize,
        /// `overlapped->hEvent`.
        event: usize,
        /// Whether the completion routine is NULL.
        routine_null: bool,
    },
    /// `WSAGetLastError()`, with the value it returned.
    WsaGetLastError {
        /// The error code returned.
        error: i32,
    },
    /// `CancelThreadpoolIo(io)`.
    CancelThreadpoolIo {
        /// The `PTP_IO`.
        io: usize,
    },
    /// `CancelIoEx(socket, overlapped)`, for each send still pending when close begins.
    CancelIoEx {
        /// The socket.
        socket: usize,
        /// The send's `OVERLAPPED`.
        overlapped: usize,
    },
    /// `closesocket(socket)`.
    Closesocket {
        /// The socket.
        socket: usize,
    },
    /// `WaitForThreadpoolIoCallbacks(io, cancel_pending)`.
    WaitForThreadpoolIoCallbacks {
        /// The `PTP_IO`.
        io: usize,
        /// `fCancelPendingCallbacks`.
        cancel_pending: bool,
    },
    /// `CloseThreadpoolIo(io)`.
    CloseThreadpoolIo {
        /// The `PTP_IO`.
        io: usize,
    },
    /// `CallbackMayRunLong(instance)`.
    CallbackMayRunLong,
    /// `DisassociateCurrentThreadFromCallback(instance)`.
    DisassociateCurrentThreadFromCallback,
    /// `TrySubmitThreadpoolCallback(callback, context, env)` (an engine running a job).
    TrySubmitThreadpoolCallback {
        /// The pool the environment names (`env->Pool`).
        env_pool: usize,
    },
    /// The backend's `on_io_complete` ran with these arguments (as the pool passed them,
    /// before any [`Outcome::Completion`] rewrite).
    OnIoComplete {
        /// The `OVERLAPPED` pointer (0 for NULL).
        overlapped: usize,
        /// `IoResult`.
        io_result: u32,
        /// `NumberOfBytesTransferred`.
        bytes: usize,
    },
}

/// The kind of a [`Call`], used to arm a [`Fault`] or a [`on_call`] hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// See [`Call::CreateThreadpool`].
    CreateThreadpool,
    /// See [`Call::SetThreadpoolThreadMinimum`].
    SetThreadpoolThreadMinimum,
    /// See [`Call::SetThreadpoolThreadMaximum`].
    SetThreadpoolThreadMaximum,
    /// See [`Call::CloseThreadpool`].
    CloseThreadpool,
    /// See [`Call::GetThreadpool`].
    GetThreadpool,
    /// See [`Call::InitializeThreadpoolEnvironment`].
    InitializeThreadpoolEnvironment,
    /// See [`Call::SetThreadpoolCallbackPool`].
    SetThreadpoolCallbackPool,
    /// See [`Call::CreateThreadpoolIo`].
    CreateThreadpoolIo,
    /// See [`Call::DestroyThreadpoolEnvironment`].
    DestroyThreadpoolEnvironment,
    /// See [`Call::CreateEvent`].
    CreateEvent,
    /// See [`Call::CloseHandle`].
    CloseHandle,
    /// See [`Call::SocketTransportSend`].
    SocketTransportSend,
    /// See [`Call::SocketTransportReceive`].
    SocketTransportReceive,
    /// See [`Call::StartThreadpoolIo`].
    StartThreadpoolIo,
    /// See [`Call::WsaSend`].
    WsaSend,
    /// See [`Call::WsaRecv`].
    WsaRecv,
    /// See [`Call::WsaGetLastError`].
    WsaGetLastError,
    /// See [`Call::CancelThreadpoolIo`].
    CancelThreadpoolIo,
    /// See [`Call::CancelIoEx`].
    CancelIoEx,
    /// See [`Call::Closesocket`].
    Closesocket,
    /// See [`Call::WaitForThreadpoolIoCallbacks`].
    WaitForThreadpoolIoCallbacks,
    /// See [`Call::CloseThreadpoolIo`].
    CloseThreadpoolIo,
    /// See [`Call::CallbackMayRunLong`].
    CallbackMayRunLong,
    /// See [`Call::DisassociateCurrentThreadFromCallback`].
    DisassociateCurrentThreadFromCallback,
    /// See [`Call::TrySubmitThreadpoolCallback`].
    TrySubmitThreadpoolCallback,
    /// See [`Call::OnIoComplete`].
    OnIoComplete,
}

impl Call {
    /// The kind of this call.
    pub fn kind(&self) -> CallKind {
        match self {
            Call::CreateThreadpool => CallKind::CreateThreadpool,
            Call::SetThreadpoolThreadMinimum { .. } => CallKind::SetThreadpoolThreadMinimum,
            Call::SetThreadpoolThreadMaximum { .. } => CallKind::SetThreadpoolThreadMaximum,
            Call::CloseThreadpool { .. } => CallKind::CloseThreadpool,
            Call::GetThreadpool { .. } => CallKind::GetThreadpool,
            Call::InitializeThreadpoolEnvironment { .. } => {
                CallKind::InitializeThreadpoolEnvironment
            }
            Call::SetThreadpoolCallbackPool { .. } => CallKind::SetThreadpoolCallbackPool,
            Call::CreateThreadpoolIo { .. } => CallKind::CreateThreadpoolIo,
            Call::DestroyThreadpoolEnvironment { .. } => CallKind::DestroyThreadpoolEnvironment,
            Call::CreateEvent { .. } => CallKind::CreateEvent,
            Call::CloseHandle { .. } => CallKind::CloseHandle,
            Call::SocketTransportSend { .. } => CallKind::SocketTransportSend,
            Call::SocketTransportReceive { .. } => CallKind::SocketTransportReceive,
            Call::StartThreadpoolIo { .. } => CallKind::StartThreadpoolIo,
            Call::WsaSend { .. } => CallKind::WsaSend,
            Call::WsaRecv { .. } => CallKind::WsaRecv,
            Call::WsaGetLastError { .. } => CallKind::WsaGetLastError,
            Call::CancelThreadpoolIo { .. } => CallKind::CancelThreadpoolIo,
            Call::CancelIoEx { .. } => CallKind::CancelIoEx,
            Call::Closesocket { .. } => CallKind::Closesocket,
            Call::WaitForThreadpoolIoCallbacks { .. } => CallKind::WaitForThreadpoolIoCallbacks,
            Call::CloseThreadpoolIo { .. } => CallKind::CloseThreadpoolIo,
            Call::CallbackMayRunLong => CallKind::CallbackMayRunLong,
            Call::DisassociateCurrentThreadFromCallback => {
                CallKind::DisassociateCurrentThreadFromCallback
            }
            Call::TrySubmitThreadpoolCallback { .. } => CallKind::TrySubmitThreadpoolCallback,
            Call::OnIoComplete { .. } => CallKind::OnIoComplete,
        }
    }
}

/// A logged call: what, and on which thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The call and its arguments.
    pub call: Call,
    /// The thread that made it.
    pub thread: ThreadId,
}

/// What an armed fault makes a call do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The real function is not called; the wrapper returns the function's failure value
    /// (`NULL`, `FALSE`, `SOCKET_ERROR`) with this code as the thread's last error (or WSA
    /// error). For `CallbackMayRunLong`, `FALSE` (the code is ignored).
    Fail(u32),
    /// `WSASend` / `WSARecv` only: the real function is called, then `SOCKET_ERROR` is returned
    /// with this WSA error set (the real I/O, if any, still completes through the pool). Used to
    /// see `WSA_IO_PENDING` on a call that happened to complete at once, and, with another code,
    /// a failure for which a completion is posted anyway.
    FailAfterCall(u32),
    /// `WSASend` / `WSARecv` only: the real function is not called and this value (neither 0
    /// nor `SOCKET_ERROR`) is returned: a failure of "any other" kind.
    Return(i32),
    /// `OnIoComplete` only: the completion is processed with this `io_result` and/or byte count
    /// instead of the real ones (`None` keeps the real value).
    Completion {
        /// Replacement `IoResult`.
        io_result: Option<u32>,
        /// Replacement `NumberOfBytesTransferred`.
        bytes: Option<usize>,
    },
}

/// A fault armed for the next `times` calls of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which calls.
    pub call: CallKind,
    /// What they do.
    pub outcome: Outcome,
    /// How many calls it applies to (then it disarms itself).
    pub times: usize,
}

type Hook = Arc<dyn Fn(&Call) + Send + Sync>;

#[derive(Default)]
struct State {
    record: bool,
    log: Vec<Record>,
    faults: VecDeque<Fault>,
    hooks: Vec<(CallKind, Hook)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    record: false,
    log: Vec::new(),
    faults: VecDeque::new(),
    hooks: Vec::new(),
});
/// Fast path: nothing to record, no fault, no hook.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static LIVE_IO_CONTEXTS: AtomicUsize = AtomicUsize::new(0);

fn state() -> MutexGuard<'static, State> {
    unpoisoned(STATE.lock())
}

fn refresh(s: &State) {
    ACTIVE.store(
        s.record || !s.faults.is_empty() || !s.hooks.is_empty(),
        SeqCst,
    );
}

/// Turns the call log on or off.
pub fn record(on: bool) {
    let mut s = state();
    s.record = on;
    refresh(&s);
}

/// Arms a fault: the next `fault.times` calls of kind `fault.call` do `fault.outcome`. Faults
/// of the same kind apply in the order they were armed.
pub fn inject(fault: Fault) {
    let mut s = state();
    if fault.times > 0 {
        s.faults.push_back(fault);
    }
    refresh(&s);
}

/// Shorthand for [`inject`] of one call.
pub fn inject_once(call: CallKind, outcome: Outcome) {
    inject(Fault {
        call,
        outcome,
        times: 1,
    });
}

/// Runs `hook` with the call (and its arguments) on the calling thread just before every call
/// of kind `call` (after it is logged), until [`reset`]. A hook may block, to hold a call in
/// place while a test acts; it must not arm faults or hooks itself.
pub fn on_call(call: CallKind, hook: impl Fn(&Call) + Send + Sync + 'static) {
    let mut s = state();
    s.hooks.push((call, Arc::new(hook)));
    refresh(&s);
}

/// The calls logged since recording started (or since the last [`take_calls`]).
pub fn calls() -> Vec<Record> {
    state().log.clone()
}

/// Returns the log and empties it.
pub fn take_calls() -> Vec<Record> {
    std::mem::take(&mut state().log)
}

/// Disarms every fault and hook, empties the log and stops recording.
pub fn reset() {
    let hooks = {
        let mut s = state();
        s.record = false;
        s.log.clear();
        s.faults.clear();
        let hooks = std::mem::take(&mut s.hooks);
        refresh(&s);
        hooks
    };
    // Dropped outside the lock: a hook may own objects whose drop makes calls.
    drop(hooks);
}

/// Number of per-operation I/O contexts (OVERLAPPED + WSABUF array + event) currently
/// allocated by the backend, all sockets together.
pub fn live_io_contexts() -> usize {
    LIVE_IO_CONTEXTS.load(SeqCst)
}

/// Calls the backend's `on_io_complete` as the thread pool would, with a NULL `OVERLAPPED`
/// and the given result and byte count (the callback must just return: 01_063).
pub fn call_on_io_complete_with_null_overlapped(io_result: u32, bytes: usize) {
    super::complete::simulate_null_overlapped(io_result, bytes);
}

pub(crate) fn context_allocated() {
    LIVE_IO_CONTEXTS.fetch_add(1, SeqCst);
}

pub(crate) fn context_freed() {
    LIVE_IO_CONTEXTS.fetch_sub(1, SeqCst);
}

/// Reports a call: logs it, runs its hooks and returns the outcome of an armed fault, if any.
pub(crate) fn enter(make: impl FnOnce() -> Call) -> Option<Outcome> {
    if !ACTIVE.load(SeqCst) {
        return None;
    }
    let call = make();
    let kind = call.kind();
    let (hooks, outcome) = {
        let mut s = state();
        if s.record {
            s.log.push(Record {
                call: call.clone(),
                thread: std::thread::current().id(),
            });
        }
        let hooks: Vec<Hook> = s
            .hooks
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, h)| Arc::clone(h))
            .collect();
        let mut outcome = None;
        if let Some(i) = s.faults.iter().position(|f| f.call == kind) {
            let f = &mut s.faults[i];
            outcome = Some(f.outcome);
            f.times -= 1;
            if f.times == 0 {
                s.faults.remove(i);
            }
        }
        refresh(&s);
        (hooks, outcome)
    };
    for h in hooks {
        h(&call);
    }
    outcome
}
