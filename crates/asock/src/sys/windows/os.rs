//! The thin layer over every OS call the Windows backend makes. Each function makes exactly the
//! call it is named after, with the arguments the seed asks for, and nothing else.
//!
//! In production builds these are direct calls. With the cargo feature `fault-injection` (tests
//! only), each function first reports itself to [`super::fault`], which may log it, run a test
//! hook, or make it fail with a chosen error instead.
//!
//! `InitializeThreadpoolEnvironment`, `SetThreadpoolCallbackPool` and
//! `DestroyThreadpoolEnvironment` are inline functions of the Windows SDK headers (no DLL
//! exports them); they are implemented here as the SDK defines them for Windows 7 and later.

use std::ffi::c_void;
use std::io;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Networking::WinSock::{
    closesocket as ws_closesocket, WSAGetLastError, WSARecv, WSASend, SOCKET, SOCKET_ERROR, WSABUF,
};
use windows_sys::Win32::System::Threading::{
    CallbackMayRunLong, CancelThreadpoolIo, CloseThreadpool, CloseThreadpoolIo, CreateEventW,
    CreateThreadpool, CreateThreadpoolIo, DisassociateCurrentThreadFromCallback,
    SetThreadpoolThreadMaximum, SetThreadpoolThreadMinimum, StartThreadpoolIo,
    TrySubmitThreadpoolCallback, WaitForThreadpoolIoCallbacks, PTP_CALLBACK_INSTANCE, PTP_IO,
    PTP_POOL, PTP_WIN32_IO_CALLBACK, TP_CALLBACK_ENVIRON_V3, TP_CALLBACK_PRIORITY_NORMAL,
};
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED};

#[cfg(feature = "fault-injection")]
use super::fault::{self, Call, Outcome};

/// The environment type (`TP_CALLBACK_ENVIRON`, version 3).
pub(crate) type CallbackEnviron = TP_CALLBACK_ENVIRON_V3;

/// A `TP_CALLBACK_ENVIRON` that may move between threads.
pub(crate) struct Env(pub(crate) CallbackEnviron);

// SAFETY: the environment is plain data (a version, a pool handle, NULL pointers and flags);
// nothing in it is tied to a thread. Writers hold `&mut` (the owner's lock).
unsafe impl Send for Env {}
// SAFETY: as above; shared access only reads it (`TrySubmitThreadpoolCallback`).
unsafe impl Sync for Env {}

/// What a test made a call do instead (see [`super::fault::Outcome`]); never produced in
/// production builds.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
enum Injected {
    Fail(u32),
    FailAfterCall(u32),
    Return(i32),
    Completion(Option<u32>, Option<usize>),
}

/// Reports a call (built lazily by the expression) to the fault-injection layer and returns
/// what an armed fault makes it do; `None`, at no cost, in production builds.
macro_rules! enter {
    ($call:expr) => {{
        #[cfg(feature = "fault-injection")]
        let injected = fault::enter(|| $call).map(|o| match o {
            Outcome::Fail(code) => Injected::Fail(code),
            Outcome::FailAfterCall(code) => Injected::FailAfterCall(code),
            Outcome::Return(value) => Injected::Return(value),
            Outcome::Completion { io_result, bytes } => Injected::Completion(io_result, bytes),
        });
        #[cfg(not(feature = "fault-injection"))]
        let injected: Option<Injected> = None;
        injected
    }};
}

/// The failure code of an injected [`Injected::Fail`], if any.
macro_rules! injected_failure {
    ($call:expr) => {
        match enter!($call) {
            Some(Injected::Fail(code)) => Some(code),
            _ => None,
        }
    };
}

fn set_last_error(code: u32) {
    // SAFETY: plain call with no pointer arguments.
    unsafe { windows_sys::Win32::Foundation::SetLastError(code) }
}

fn set_wsa_last_error(code: u32) {
    // SAFETY: plain call with no pointer arguments.
    unsafe { windows_sys::Win32::Networking::WinSock::WSASetLastError(code as i32) }
}

/// `CreateThreadpool(NULL)`: a private pool.
pub(crate) fn create_threadpool() -> io::Result<PTP_POOL> {
    if let Some(code) = injected_failure!(Call::CreateThreadpool) {
        set_last_error(code);
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    // SAFETY: the reserved argument must be NULL.
    let pool = unsafe { CreateThreadpool(std::ptr::null()) };
    if pool == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pool)
    }
}

/// `SetThreadpoolThreadMinimum(pool, min)`.
pub(crate) fn set_threadpool_thread_minimum(pool: PTP_POOL, min: u32) -> io::Result<()> {
    if let Some(code) = injected_failure!(Call::SetThreadpoolThreadMinimum {
        pool: pool as usize,
        min
    }) {
        set_last_error(code);
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    // SAFETY: `pool` is a live pool created by `create_threadpool`.
    if unsafe { SetThreadpoolThreadMinimum(pool, min) } == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `SetThreadpoolThreadMaximum(pool, max)`.
pub(crate) fn set_threadpool_thread_maximum(pool: PTP_POOL, max: u32) {
    let _ = enter!(Call::SetThreadpoolThreadMaximum {
        pool: pool as usize,
        max
    });
    // SAFETY: `pool` is a live pool created by `create_threadpool`.
    unsafe { SetThreadpoolThreadMaximum(pool, max) }
}

/// `CloseThreadpool(pool)`: the pool goes away once its last bound object is closed.
pub(crate) fn close_threadpool(pool: PTP_POOL) {
    let _ = enter!(Call::CloseThreadpool {
        pool: pool as usize
    });
    // SAFETY: `pool` is a live pool, closed exactly once by its engine.
    unsafe { CloseThreadpool(pool) }
}

/// c-pal's `execution_engine_win32_get_threadpool`: the engine's pool, as the async socket asks
/// for it at creation (not an OS call, logged for the tests). An error when the engine has no
/// pool (NULL), which a test can also inject.
pub(crate) fn execution_engine_win32_get_threadpool(pool: PTP_POOL) -> io::Result<PTP_POOL> {
    if let Some(code) = injected_failure!(Call::GetThreadpool {
        pool: pool as usize
    }) {
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    if pool == 0 {
        return Err(io::Error::other("the execution engine has no thread pool"));
    }
    Ok(pool)
}

/// `InitializeThreadpoolEnvironment(env)` (the SDK's inline `TpInitializeCallbackEnviron`).
pub(crate) fn initialize_threadpool_environment(env: &mut CallbackEnviron) {
    let _ = enter!(Call::InitializeThreadpoolEnvironment {
        env: env as *mut CallbackEnviron as usize
    });
    *env = CallbackEnviron {
        Version: 3,
        Pool: 0,
        CleanupGroup: 0,
        CleanupGroupCancelCallback: None,
        RaceDll: std::ptr::null_mut(),
        ActivationContext: 0,
        FinalizationCallback: None,
        u: Default::default(),
        CallbackPriority: TP_CALLBACK_PRIORITY_NORMAL,
        Size: std::mem::size_of::<CallbackEnviron>() as u32,
    };
}

/// `SetThreadpoolCallbackPool(env, pool)` (the SDK's inline `TpSetCallbackThreadpool`).
pub(crate) fn set_threadpool_callback_pool(env: &mut CallbackEnviron, pool: PTP_POOL) {
    let _ = enter!(Call::SetThreadpoolCallbackPool {
        env: env as *mut CallbackEnviron as usize,
        pool: pool as usize
    });
    env.Pool = pool;
}

/// `DestroyThreadpoolEnvironment(env)` (the SDK's inline `TpDestroyCallbackEnviron`, which
/// releases nothing).
pub(crate) fn destroy_threadpool_environment(env: &mut CallbackEnviron) {
    let _ = enter!(Call::DestroyThreadpoolEnvironment {
        env: env as *mut CallbackEnviron as usize
    });
    let _ = env;
}

/// `CreateThreadpoolIo(socket, callback, context, env)`.
pub(crate) fn create_threadpool_io(
    socket: SOCKET,
    callback: PTP_WIN32_IO_CALLBACK,
    context: *mut c_void,
    env: &CallbackEnviron,
) -> io::Result<PTP_IO> {
    if let Some(code) = injected_failure!(Call::CreateThreadpoolIo {
        handle: socket,
        callback: callback.map_or(0, |f| f as usize),
        context: context as usize,
        env: env as *const CallbackEnviron as usize,
        env_pool: env.Pool as usize,
    }) {
        set_last_error(code);
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    // SAFETY: `socket` is an open socket handle; `env` is an initialised environment bound to a
    // live pool; the callback has the PTP_WIN32_IO_CALLBACK signature.
    let io = unsafe { CreateThreadpoolIo(socket as HANDLE, callback, context, env) };
    if io == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(io)
    }
}

/// `StartThreadpoolIo(io)`: one completion is expected.
pub(crate) fn start_threadpool_io(io: PTP_IO) {
    let _ = enter!(Call::StartThreadpoolIo { io: io as usize });
    // SAFETY: `io` is the live I/O object of an open socket.
    unsafe { StartThreadpoolIo(io) }
}

/// `CancelThreadpoolIo(io)`: balances a `StartThreadpoolIo` whose I/O was not started.
pub(crate) fn cancel_threadpool_io(io: PTP_IO) {
    let _ = enter!(Call::CancelThreadpoolIo { io: io as usize });
    // SAFETY: `io` is live and a `StartThreadpoolIo` is outstanding for it.
    unsafe { CancelThreadpoolIo(io) }
}

/// `WaitForThreadpoolIoCallbacks(io, cancel_pending)`.
pub(crate) fn wait_for_threadpool_io_callbacks(io: PTP_IO, cancel_pending: bool) {
    let _ = enter!(Call::WaitForThreadpoolIoCallbacks {
        io: io as usize,
        cancel_pending
    });
    // SAFETY: `io` is live; the caller is not one of its callbacks.
    unsafe { WaitForThreadpoolIoCallbacks(io, i32::from(cancel_pending)) }
}

/// `CloseThreadpoolIo(io)`.
pub(crate) fn close_threadpool_io(io: PTP_IO) {
    let _ = enter!(Call::CloseThreadpoolIo { io: io as usize });
    // SAFETY: `io` is live, its socket is closed and no I/O is outstanding; closed exactly once.
    unsafe { CloseThreadpoolIo(io) }
}

/// `CallbackMayRunLong(instance)`: `true` when the pool has (or could start) another thread.
pub(crate) fn callback_may_run_long(instance: PTP_CALLBACK_INSTANCE) -> bool {
    // SAFETY: `instance` is the instance of the callback running on this thread, and this is
    // the only call made for it. (An injected failure still makes the real call, which marks
    // the callback as long-running, and reports FALSE.)
    let answer = unsafe { CallbackMayRunLong(instance) != 0 };
    if injected_failure!(Call::CallbackMayRunLong).is_some() {
        return false;
    }
    answer
}

/// `DisassociateCurrentThreadFromCallback(instance)`: from now on this callback no longer counts
/// as one of its object's running callbacks, so that `WaitForThreadpoolIoCallbacks` on that
/// object does not wait for it.
pub(crate) fn disassociate_current_thread_from_callback(instance: PTP_CALLBACK_INSTANCE) {
    let _ = enter!(Call::DisassociateCurrentThreadFromCallback);
    // SAFETY: `instance` is the instance of the callback running on this thread.
    unsafe { DisassociateCurrentThreadFromCallback(instance) }
}

/// `TrySubmitThreadpoolCallback(callback, context, env)`; `false` when the pool refused.
pub(crate) fn try_submit_threadpool_callback(
    callback: unsafe extern "system" fn(PTP_CALLBACK_INSTANCE, *mut c_void),
    context: *mut c_void,
    env: &CallbackEnviron,
) -> bool {
    if let Some(code) = injected_failure!(Call::TrySubmitThreadpoolCallback {
        env_pool: env.Pool as usize
    }) {
        set_last_error(code);
        return false;
    }
    // SAFETY: `env` is an initialised environment bound to a live pool; the callback has the
    // PTP_SIMPLE_CALLBACK signature and owns `context` from now on.
    unsafe { TrySubmitThreadpoolCallback(Some(callback), context, env) != 0 }
}

/// `CreateEventW(NULL, FALSE, FALSE, NULL)`: an unnamed auto-reset event, not signalled.
pub(crate) fn create_event() -> io::Result<HANDLE> {
    if let Some(code) = injected_failure!(Call::CreateEvent {
        manual_reset: false,
        initial_state: false
    }) {
        set_last_error(code);
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    // SAFETY: NULL security attributes and name are allowed.
    let event = unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) };
    if event.is_null() {
        Err(io::Error::last_os_error())
    } else {
        Ok(event)
    }
}

/// `CloseHandle(handle)`; a failure is only reported (nothing can be done about it).
pub(crate) fn close_handle(handle: HANDLE) {
    let _ = enter!(Call::CloseHandle {
        handle: handle as usize
    });
    // SAFETY: `handle` is a handle this backend created and closes exactly once.
    if unsafe { CloseHandle(handle) } == 0 {
        eprintln!("asock: CloseHandle failed: {}", io::Error::last_os_error());
    }
}

/// `(buf, len)` of each `WSABUF`, for the call log.
#[cfg(feature = "fault-injection")]
fn describe(bufs: *const WSABUF, count: u32) -> Vec<(usize, u32)> {
    // SAFETY: the caller of `wsa_send` / `wsa_recv` guarantees `count` valid entries.
    let bufs = unsafe { std::slice::from_raw_parts(bufs, count as usize) };
    bufs.iter().map(|b| (b.buf as usize, b.len)).collect()
}

/// `overlapped->hEvent`, for the call log.
#[cfg(feature = "fault-injection")]
fn event_of(overlapped: *const OVERLAPPED) -> usize {
    // SAFETY: the caller guarantees a valid OVERLAPPED.
    unsafe { (*overlapped).hEvent as usize }
}

/// What a `WSASend` / `WSARecv` wrapper does: the real call, or what a test injected.
enum IoCall {
    Real,
    Fail(u32),
    FailAfterCall(u32),
    Return(i32),
}

fn io_call(injected: Option<Injected>) -> IoCall {
    match injected {
        Some(Injected::Fail(code)) => IoCall::Fail(code),
        Some(Injected::FailAfterCall(code)) => IoCall::FailAfterCall(code),
        Some(Injected::Return(value)) => IoCall::Return(value),
        Some(Injected::Completion(..)) | None => IoCall::Real,
    }
}

/// `WSASend(socket, bufs, count, bytes_sent, flags, overlapped, NULL)`: returns 0 or
/// `SOCKET_ERROR`.
///
/// # Safety
/// `bufs` must point to `count` `WSABUF`s describing readable memory, and `overlapped` to a
/// zero-initialised `OVERLAPPED`, all of which stay valid (and in place) until the completion
/// is delivered, or until this call fails; `bytes_sent` is NULL or valid for the call.
pub(crate) unsafe fn wsa_send(
    socket: SOCKET,
    bufs: *const WSABUF,
    count: u32,
    bytes_sent: *mut u32,
    flags: u32,
    overlapped: *mut OVERLAPPED,
) -> i32 {
    let how = io_call(enter!(Call::WsaSend {
        socket,
        buffers: describe(bufs, count),
        bytes_sent_null: bytes_sent.is_null(),
        flags,
        overlapped: overlapped as usize,
        event: event_of(overlapped),
        routine_null: true,
    }));
    let real = || {
        // SAFETY: forwarded from this function's contract; no completion routine (the
        // completion goes to the thread pool's completion port).
        unsafe { WSASend(socket, bufs, count, bytes_sent, flags, overlapped, None) }
    };
    finish_io_call(how, real)
}

/// `WSARecv(socket, bufs, count, bytes_received, flags, overlapped, NULL)`: returns 0 or
/// `SOCKET_ERROR`.
///
/// # Safety
/// `bufs` must point to `count` `WSABUF`s describing writable memory that nothing else
/// accesses, and `flags` and `overlapped` (zero-initialised) must be valid; all stay valid (and
/// in place) until the completion is delivered, or until this call fails; `bytes_received` is
/// NULL or valid for the call.
pub(crate) unsafe fn wsa_recv(
    socket: SOCKET,
    bufs: *const WSABUF,
    count: u32,
    bytes_received: *mut u32,
    flags: *mut u32,
    overlapped: *mut OVERLAPPED,
) -> i32 {
    let how = io_call(enter!(Call::WsaRecv {
        socket,
        buffers: describe(bufs, count),
        bytes_received_null: bytes_received.is_null(),
        // SAFETY: `flags` is valid per the contract.
        flags: unsafe { *flags },
        overlapped: overlapped as usize,
        event: event_of(overlapped),
        routine_null: true,
    }));
    let real = || {
        // SAFETY: forwarded from this function's contract; no completion routine (the
        // completion goes to the thread pool's completion port).
        unsafe { WSARecv(socket, bufs, count, bytes_received, flags, overlapped, None) }
    };
    finish_io_call(how, real)
}

/// Reports `socket_transport_send` / `socket_transport_receive` (the overlapped form) to the
/// fault-injection layer; nothing in production builds.
pub(crate) fn note_transport_io(
    send: bool,
    socket: SOCKET,
    count: u32,
    bytes_null: bool,
    flags: u32,
    overlapped: *mut OVERLAPPED,
) {
    let _ = enter!(if send {
        Call::SocketTransportSend {
            socket,
            buffer_count: count,
            bytes_sent_null: bytes_null,
            flags,
            overlapped: overlapped as usize,
        }
    } else {
        Call::SocketTransportReceive {
            socket,
            buffer_count: count,
            bytes_received_null: bytes_null,
            flags,
            overlapped: overlapped as usize,
        }
    });
    let _ = (send, socket, count, bytes_null, flags, overlapped);
}

fn finish_io_call(how: IoCall, real: impl FnOnce() -> i32) -> i32 {
    match how {
        IoCall::Real => real(),
        IoCall::Fail(code) => {
            set_wsa_last_error(code);
            SOCKET_ERROR
        }
        IoCall::FailAfterCall(code) => {
            let _ = real();
            set_wsa_last_error(code);
            SOCKET_ERROR
        }
        IoCall::Return(value) => value,
    }
}

/// `CancelIoEx(socket, overlapped)`: cancels that one I/O if it is still pending (a failure,
/// such as `ERROR_NOT_FOUND` for an I/O that already completed, changes nothing).
pub(crate) fn cancel_io_ex(socket: SOCKET, overlapped: *mut OVERLAPPED) {
    if injected_failure!(Call::CancelIoEx {
        socket,
        overlapped: overlapped as usize
    })
    .is_some()
    {
        return;
    }
    // SAFETY: the kernel only compares `overlapped` with the OVERLAPPED of the socket's
    // pending I/O; it never dereferences a pointer that matches none.
    let _ = unsafe { CancelIoEx(socket as HANDLE, overlapped) };
}

/// `WSAGetLastError()`.
pub(crate) fn wsa_get_last_error() -> i32 {
    // SAFETY: plain call with no arguments.
    let error = unsafe { WSAGetLastError() };
    let _ = enter!(Call::WsaGetLastError { error });
    error
}

/// `closesocket(socket)`; the error (from `WSAGetLastError`) when it fails.
pub(crate) fn closesocket(socket: SOCKET) -> io::Result<()> {
    if let Some(code) = injected_failure!(Call::Closesocket { socket }) {
        set_wsa_last_error(code);
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    // SAFETY: `socket` is a socket this backend owns and closes exactly once.
    if unsafe { ws_closesocket(socket) } == SOCKET_ERROR {
        Err(io::Error::from_raw_os_error(wsa_get_last_error()))
    } else {
        Ok(())
    }
}

/// Reports a completion received by `on_io_complete`; returns the `(io_result, bytes)` to
/// process (rewritten by an armed `Outcome::Completion` fault in tests).
pub(crate) fn on_io_complete_entered(
    overlapped: *mut c_void,
    io_result: u32,
    bytes: usize,
) -> (u32, usize) {
    match enter!(Call::OnIoComplete {
        overlapped: overlapped as usize,
        io_result,
        bytes
    }) {
        Some(Injected::Completion(r, b)) => (r.unwrap_or(io_result), b.unwrap_or(bytes)),
        _ => {
            let _ = overlapped;
            (io_result, bytes)
        }
    }
}
