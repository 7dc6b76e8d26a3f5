//! `async_socket.h`: the async socket over [`AsyncSocket`]'s borrowed-buffer API.
//!
//! A handle is a boxed [`ASYNC_SOCKET_TAG`]. Submissions copy the `ASYNC_SOCKET_BUFFER`
//! descriptors into [`RawBuf`]s and call [`AsyncSocket::send_raw`] / [`AsyncSocket::receive_raw`],
//! whose completion closures call the C callback with the user context, verbatim, on an engine
//! thread. A custom transport ([`async_socket_create_with_transport`]) maps the C `send(2)` /
//! `recv(2)` look-alikes onto the Rust [`Transport`] trait, reading `errno` on `-1`.

use std::ffi::{c_int, c_void};
use std::io;
use std::mem::MaybeUninit;

use asock::{
    AsyncSocket, NotifyResult, NotifyType, RawBuf, ReceiveResult, SendResult, SendSyncResult,
    SocketState, SocketTransport, Transport,
};

use crate::execution_engine::{engine_ref, EXECUTION_ENGINE_HANDLE};
use crate::socket_handle::{self, SOCKET_HANDLE};
use crate::socket_transport::{is_client, transport_ref, SOCKET_TRANSPORT_HANDLE};
use crate::{descriptors, failure, guard, Context, SUCCESS};

/// `ASYNC_SOCKET_OPEN_RESULT` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_OPEN_RESULT = c_int;
/// `ASYNC_SOCKET_OPEN_RESULT_INVALID`.
pub const ASYNC_SOCKET_OPEN_RESULT_INVALID: ASYNC_SOCKET_OPEN_RESULT = 0;
/// `ASYNC_SOCKET_OPEN_OK`.
pub const ASYNC_SOCKET_OPEN_OK: ASYNC_SOCKET_OPEN_RESULT = 1;
/// `ASYNC_SOCKET_OPEN_ERROR`: reserved, never delivered.
pub const ASYNC_SOCKET_OPEN_ERROR: ASYNC_SOCKET_OPEN_RESULT = 2;

/// `ASYNC_SOCKET_SEND_SYNC_RESULT` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_SEND_SYNC_RESULT = c_int;
/// `ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID`, never returned.
pub const ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID: ASYNC_SOCKET_SEND_SYNC_RESULT = 0;
/// `ASYNC_SOCKET_SEND_SYNC_OK`: accepted, one completion follows.
pub const ASYNC_SOCKET_SEND_SYNC_OK: ASYNC_SOCKET_SEND_SYNC_RESULT = 1;
/// `ASYNC_SOCKET_SEND_SYNC_ERROR`: rejected, no completion.
pub const ASYNC_SOCKET_SEND_SYNC_ERROR: ASYNC_SOCKET_SEND_SYNC_RESULT = 2;
/// `ASYNC_SOCKET_SEND_SYNC_NOT_OPEN`: rejected (not OPEN, or reset), no completion.
pub const ASYNC_SOCKET_SEND_SYNC_NOT_OPEN: ASYNC_SOCKET_SEND_SYNC_RESULT = 3;

/// `ASYNC_SOCKET_SEND_RESULT` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_SEND_RESULT = c_int;
/// `ASYNC_SOCKET_SEND_RESULT_INVALID`, never delivered.
pub const ASYNC_SOCKET_SEND_RESULT_INVALID: ASYNC_SOCKET_SEND_RESULT = 0;
/// `ASYNC_SOCKET_SEND_OK`.
pub const ASYNC_SOCKET_SEND_OK: ASYNC_SOCKET_SEND_RESULT = 1;
/// `ASYNC_SOCKET_SEND_ERROR`.
pub const ASYNC_SOCKET_SEND_ERROR: ASYNC_SOCKET_SEND_RESULT = 2;
/// `ASYNC_SOCKET_SEND_ABANDONED`.
pub const ASYNC_SOCKET_SEND_ABANDONED: ASYNC_SOCKET_SEND_RESULT = 3;

/// `ASYNC_SOCKET_RECEIVE_RESULT` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_RECEIVE_RESULT = c_int;
/// `ASYNC_SOCKET_RECEIVE_RESULT_INVALID`, never delivered.
pub const ASYNC_SOCKET_RECEIVE_RESULT_INVALID: ASYNC_SOCKET_RECEIVE_RESULT = 0;
/// `ASYNC_SOCKET_RECEIVE_OK`.
pub const ASYNC_SOCKET_RECEIVE_OK: ASYNC_SOCKET_RECEIVE_RESULT = 1;
/// `ASYNC_SOCKET_RECEIVE_ERROR`.
pub const ASYNC_SOCKET_RECEIVE_ERROR: ASYNC_SOCKET_RECEIVE_RESULT = 2;
/// `ASYNC_SOCKET_RECEIVE_ABANDONED`.
pub const ASYNC_SOCKET_RECEIVE_ABANDONED: ASYNC_SOCKET_RECEIVE_RESULT = 3;

/// `ASYNC_SOCKET_NOTIFY_IO_TYPE` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_NOTIFY_IO_TYPE = c_int;
/// `ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID`: rejected.
pub const ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID: ASYNC_SOCKET_NOTIFY_IO_TYPE = 0;
/// `ASYNC_SOCKET_NOTIFY_IO_TYPE_IN`.
pub const ASYNC_SOCKET_NOTIFY_IO_TYPE_IN: ASYNC_SOCKET_NOTIFY_IO_TYPE = 1;
/// `ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT`.
pub const ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT: ASYNC_SOCKET_NOTIFY_IO_TYPE = 2;

/// `ASYNC_SOCKET_NOTIFY_IO_RESULT` (a C enum, passed as `int`).
pub type ASYNC_SOCKET_NOTIFY_IO_RESULT = c_int;
/// `ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID`, never delivered.
pub const ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID: ASYNC_SOCKET_NOTIFY_IO_RESULT = 0;
/// `ASYNC_SOCKET_NOTIFY_IO_RESULT_IN`.
pub const ASYNC_SOCKET_NOTIFY_IO_RESULT_IN: ASYNC_SOCKET_NOTIFY_IO_RESULT = 1;
/// `ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT`.
pub const ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT: ASYNC_SOCKET_NOTIFY_IO_RESULT = 2;
/// `ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED`.
pub const ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED: ASYNC_SOCKET_NOTIFY_IO_RESULT = 3;
/// `ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR`.
pub const ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR: ASYNC_SOCKET_NOTIFY_IO_RESULT = 4;

/// `ON_ASYNC_SOCKET_OPEN_COMPLETE` (nullable).
pub type ON_ASYNC_SOCKET_OPEN_COMPLETE =
    Option<unsafe extern "C" fn(context: *mut c_void, open_result: ASYNC_SOCKET_OPEN_RESULT)>;
/// `ON_ASYNC_SOCKET_SEND_COMPLETE` (nullable).
pub type ON_ASYNC_SOCKET_SEND_COMPLETE =
    Option<unsafe extern "C" fn(context: *mut c_void, send_result: ASYNC_SOCKET_SEND_RESULT)>;
/// `ON_ASYNC_SOCKET_RECEIVE_COMPLETE` (nullable).
pub type ON_ASYNC_SOCKET_RECEIVE_COMPLETE = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        receive_result: ASYNC_SOCKET_RECEIVE_RESULT,
        bytes_received: u32,
    ),
>;
/// `ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE` (nullable).
pub type ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE = Option<
    unsafe extern "C" fn(context: *mut c_void, notify_io_result: ASYNC_SOCKET_NOTIFY_IO_RESULT),
>;
/// `ON_ASYNC_SOCKET_SEND`: a custom `send(2)` (nullable).
pub type ON_ASYNC_SOCKET_SEND = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        async_socket: ASYNC_SOCKET_HANDLE,
        buf: *const c_void,
        len: usize,
    ) -> c_int,
>;
/// `ON_ASYNC_SOCKET_RECV`: a custom `recv(2)` (nullable).
pub type ON_ASYNC_SOCKET_RECV = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        async_socket: ASYNC_SOCKET_HANDLE,
        buf: *mut c_void,
        len: usize,
    ) -> c_int,
>;

/// `ASYNC_SOCKET_BUFFER`: pointer then length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ASYNC_SOCKET_BUFFER {
    /// The bytes.
    pub buffer: *mut c_void,
    /// Number of bytes.
    pub length: u32,
}

/// The object behind an `ASYNC_SOCKET_HANDLE`.
#[derive(Debug)]
pub struct ASYNC_SOCKET_TAG {
    socket: AsyncSocket,
}

/// `ASYNC_SOCKET_HANDLE`: a pointer obtained from [`Box::into_raw`].
pub type ASYNC_SOCKET_HANDLE = *mut ASYNC_SOCKET_TAG;

/// The async socket behind a handle, `None` for NULL.
///
/// # Safety
/// `handle` is NULL or a live handle from `async_socket_create*`, not yet destroyed, and stays
/// live while the reference is used.
unsafe fn socket_ref<'a>(handle: ASYNC_SOCKET_HANDLE) -> Option<&'a AsyncSocket> {
    // SAFETY: per this function's contract the pointer is NULL or points to a live Box payload.
    unsafe { handle.as_ref() }.map(|tag| &tag.socket)
}

fn send_result(r: SendResult) -> ASYNC_SOCKET_SEND_RESULT {
    match r {
        SendResult::Ok => ASYNC_SOCKET_SEND_OK,
        SendResult::Error => ASYNC_SOCKET_SEND_ERROR,
        SendResult::Abandoned => ASYNC_SOCKET_SEND_ABANDONED,
    }
}

fn receive_result(r: ReceiveResult) -> ASYNC_SOCKET_RECEIVE_RESULT {
    match r {
        ReceiveResult::Ok => ASYNC_SOCKET_RECEIVE_OK,
        ReceiveResult::Error => ASYNC_SOCKET_RECEIVE_ERROR,
        ReceiveResult::Abandoned => ASYNC_SOCKET_RECEIVE_ABANDONED,
    }
}

fn notify_result(r: NotifyResult) -> ASYNC_SOCKET_NOTIFY_IO_RESULT {
    match r {
        NotifyResult::In => ASYNC_SOCKET_NOTIFY_IO_RESULT_IN,
        NotifyResult::Out => ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT,
        NotifyResult::Abandoned => ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED,
        NotifyResult::Error => ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR,
    }
}

fn send_sync_result(r: SendSyncResult) -> ASYNC_SOCKET_SEND_SYNC_RESULT {
    match r {
        SendSyncResult::Ok => ASYNC_SOCKET_SEND_SYNC_OK,
        SendSyncResult::Error => ASYNC_SOCKET_SEND_SYNC_ERROR,
        SendSyncResult::NotOpen => ASYNC_SOCKET_SEND_SYNC_NOT_OPEN,
    }
}

/// The handle passed to the custom transport functions.
#[derive(Clone, Copy, Debug)]
struct HandlePtr(ASYNC_SOCKET_HANDLE);

// SAFETY: the pointer is never dereferenced by this crate from the transport; it is only passed
// back to the C caller's own `on_send` / `on_recv`, which receive it on an engine thread exactly
// as c-pal's did on its epoll thread.
unsafe impl Send for HandlePtr {}
// SAFETY: as above; shared access only copies the pointer value.
unsafe impl Sync for HandlePtr {}

/// A custom transport made of the C `on_send` / `on_recv` functions.
struct CTransport {
    on_send: unsafe extern "C" fn(*mut c_void, ASYNC_SOCKET_HANDLE, *const c_void, usize) -> c_int,
    on_send_context: Context,
    on_recv: unsafe extern "C" fn(*mut c_void, ASYNC_SOCKET_HANDLE, *mut c_void, usize) -> c_int,
    on_recv_context: Context,
    handle: HandlePtr,
}

/// Clears `errno`, so that a function that returns -1 without setting it is noticed.
fn clear_errno() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    unsafe {
        *libc::__errno_location() = 0
    };
}

/// The outcome of a C `send(2)` / `recv(2)` look-alike that was offered `len` bytes: the byte
/// count, or the `errno` error (EAGAIN gives [`io::ErrorKind::WouldBlock`], ECONNRESET
/// [`io::ErrorKind::ConnectionReset`], and so on).
fn c_io_result(rc: c_int, len: usize) -> io::Result<usize> {
    if rc >= 0 {
        let n = rc as usize;
        if n > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the custom transport reported more bytes than it was offered",
            ));
        }
        return Ok(n);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error().unwrap_or(0) == 0 {
        return Err(io::Error::other(
            "the custom transport returned a negative value without setting errno",
        ));
    }
    Err(err)
}

impl Transport for CTransport {
    fn send(&self, _socket: &asock::socket2::Socket, buf: &[u8]) -> io::Result<usize> {
        // The C function returns an int: never offer more than it can report.
        let len = buf.len().min(c_int::MAX as usize);
        clear_errno();
        // SAFETY: calling the caller's function with its own context, the handle it created and
        // `len` readable bytes at `buf` (a live slice), as its contract in async_socket.h says.
        let rc = unsafe {
            (self.on_send)(
                self.on_send_context.get(),
                self.handle.0,
                buf.as_ptr().cast::<c_void>(),
                len,
            )
        };
        c_io_result(rc, len)
    }

    fn recv(&self, _socket: &asock::socket2::Socket, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(c_int::MAX as usize);
        clear_errno();
        // SAFETY: as in `send`, with `len` writable bytes at `buf` (a live, exclusive slice).
        let rc = unsafe {
            (self.on_recv)(
                self.on_recv_context.get(),
                self.handle.0,
                buf.as_mut_ptr().cast::<c_void>(),
                len,
            )
        };
        c_io_result(rc, len)
    }
}

/// `async_socket_create`: a CLOSED async socket holding a reference to `execution_engine`; NULL
/// for a NULL engine.
///
/// # Safety
/// `execution_engine` is NULL or a live engine handle.
#[no_mangle]
pub unsafe extern "C" fn async_socket_create(
    execution_engine: EXECUTION_ENGINE_HANDLE,
) -> ASYNC_SOCKET_HANDLE {
    guard(std::ptr::null_mut(), || {
        // SAFETY: NULL or a live engine handle (this function's contract).
        let Some(engine) = (unsafe { engine_ref(execution_engine) }) else {
            return std::ptr::null_mut();
        };
        match AsyncSocket::new(engine) {
            Ok(socket) => Box::into_raw(Box::new(ASYNC_SOCKET_TAG { socket })),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// `async_socket_create_with_transport`: as [`async_socket_create`], with `on_send` / `on_recv`
/// in place of the system calls. NULL for a NULL engine, `on_send` or `on_recv`, or where custom
/// transports are not supported.
///
/// # Safety
/// `execution_engine` is NULL or a live engine handle; `on_send` and `on_recv` behave as the
/// header describes for as long as the async socket exists.
#[no_mangle]
pub unsafe extern "C" fn async_socket_create_with_transport(
    execution_engine: EXECUTION_ENGINE_HANDLE,
    on_send: ON_ASYNC_SOCKET_SEND,
    on_send_context: *mut c_void,
    on_recv: ON_ASYNC_SOCKET_RECV,
    on_recv_context: *mut c_void,
) -> ASYNC_SOCKET_HANDLE {
    guard(std::ptr::null_mut(), || {
        // SAFETY: NULL or a live engine handle (this function's contract).
        let Some(engine) = (unsafe { engine_ref(execution_engine) }) else {
            return std::ptr::null_mut();
        };
        let (Some(on_send), Some(on_recv)) = (on_send, on_recv) else {
            return std::ptr::null_mut();
        };
        // Allocate first, so that the transport knows the handle it will pass to the callbacks.
        let mut slot: Box<MaybeUninit<ASYNC_SOCKET_TAG>> = Box::new_uninit();
        let handle = slot.as_mut_ptr();
        let transport = CTransport {
            on_send,
            on_send_context: Context::new(on_send_context),
            on_recv,
            on_recv_context: Context::new(on_recv_context),
            handle: HandlePtr(handle),
        };
        match AsyncSocket::with_transport(engine, transport) {
            Ok(socket) => {
                slot.write(ASYNC_SOCKET_TAG { socket });
                // SAFETY: the value was written just above.
                let tag = unsafe { slot.assume_init() };
                let raw = Box::into_raw(tag);
                debug_assert_eq!(raw, handle);
                raw
            }
            // `slot` is freed without running any destructor: nothing was written to it.
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// `async_socket_destroy`: closes the socket if needed (waiting while it opens or closes),
/// releases the engine and frees the handle. NULL is ignored.
///
/// # Safety
/// `async_socket` is NULL or a live handle, and no other call on it runs or follows.
#[no_mangle]
pub unsafe extern "C" fn async_socket_destroy(async_socket: ASYNC_SOCKET_HANDLE) {
    guard((), || {
        if !async_socket.is_null() {
            // SAFETY: the handle came from `Box::into_raw` and this is its last use.
            drop(unsafe { Box::from_raw(async_socket) });
        }
    })
}

/// What both open forms share: checks the handle and the callback, runs `open` (which hands a
/// socket to the async socket and returns true, or leaves everything as it was and returns
/// false), then, on success only, calls `on_open_complete(context, ASYNC_SOCKET_OPEN_OK)` on this
/// thread and returns 0.
///
/// # Safety
/// `async_socket` is NULL or a live handle.
unsafe fn open_then_report(
    async_socket: ASYNC_SOCKET_HANDLE,
    on_open_complete: ON_ASYNC_SOCKET_OPEN_COMPLETE,
    on_open_complete_context: *mut c_void,
    open: impl FnOnce(&AsyncSocket) -> bool,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(socket) = (unsafe { socket_ref(async_socket) }) else {
            return failure!();
        };
        let Some(on_open_complete) = on_open_complete else {
            return failure!();
        };
        if !open(socket) {
            return failure!();
        }
        // SAFETY: the caller's callback, with its own context, as async_socket.h describes.
        unsafe { on_open_complete(on_open_complete_context, ASYNC_SOCKET_OPEN_OK) };
        SUCCESS
    })
}

/// `async_socket_open_async` (the seed's form): opens on a CLIENT transport holding a connected
/// socket, taking that socket; on success calls `on_open_complete(context, ASYNC_SOCKET_OPEN_OK)`
/// on this thread and returns 0. On failure returns non-zero, calls nothing and leaves the
/// transport untouched.
///
/// # Safety
/// `async_socket` and `socket_transport` are NULL or live handles.
#[no_mangle]
pub unsafe extern "C" fn async_socket_open_async(
    async_socket: ASYNC_SOCKET_HANDLE,
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    on_open_complete: ON_ASYNC_SOCKET_OPEN_COMPLETE,
    on_open_complete_context: *mut c_void,
) -> c_int {
    let open = |socket: &AsyncSocket| {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(transport) = (unsafe { transport_ref(socket_transport) }) else {
            return false;
        };
        // Exclusive: no send / receive / disconnect on the transport while its socket moves. The
        // lock is released before the callback, which may use the (now empty) transport handle.
        let mut held = transport.write();
        if !is_client(&held) || !held.is_valid_socket() {
            return false;
        }
        let taken = std::mem::replace(&mut *held, SocketTransport::client());
        match socket.open(taken) {
            Ok(()) => true,
            Err(e) => {
                *held = e.into_transport();
                false
            }
        }
    };
    // SAFETY: NULL or a live handle (this function's contract).
    unsafe {
        open_then_report(
            async_socket,
            on_open_complete,
            on_open_complete_context,
            open,
        )
    }
}

/// `async_socket_open_async_with_socket_handle`: c-pal's current `async_socket_open_async`,
/// which opens on a connected stream socket (`SOCKET_HANDLE`) rather than on a transport. On
/// success the async socket owns the socket (it closes it at close / destroy), calls
/// `on_open_complete(context, ASYNC_SOCKET_OPEN_OK)` on this thread and returns 0. On failure it
/// returns non-zero, calls nothing, and the socket stays the caller's, open: for a NULL
/// `async_socket` or `on_open_complete`, `INVALID_SOCKET`, a handle that is not an open stream
/// socket or is listening, an async socket that is not CLOSED, or a system failure.
///
/// # Safety
/// `async_socket` is NULL or a live handle; on success the caller hands the socket over and must
/// not close it.
#[no_mangle]
pub unsafe extern "C" fn async_socket_open_async_with_socket_handle(
    async_socket: ASYNC_SOCKET_HANDLE,
    socket_handle: SOCKET_HANDLE,
    on_open_complete: ON_ASYNC_SOCKET_OPEN_COMPLETE,
    on_open_complete_context: *mut c_void,
) -> c_int {
    let open = |socket: &AsyncSocket| {
        // The usual refusal, before the handle is touched (adopting makes it non-blocking).
        if socket.state() != SocketState::Closed {
            return false;
        }
        // SAFETY: on success the caller hands the socket over (this function's contract); on
        // the failures below it gets it back, open.
        let Some(transport) = (unsafe { socket_handle::adopt(socket_handle) }) else {
            return false;
        };
        match socket.open(transport) {
            Ok(()) => true,
            Err(e) => {
                socket_handle::give_back(e.into_transport());
                false
            }
        }
    };
    // SAFETY: NULL or a live handle (this function's contract).
    unsafe {
        open_then_report(
            async_socket,
            on_open_complete,
            on_open_complete_context,
            open,
        )
    }
}

/// `async_socket_close`: cancels what is pending (each completion runs once, ABANDONED, before
/// this returns), closes the socket and leaves it CLOSED. Idempotent. NULL is ignored.
///
/// # Safety
/// `async_socket` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn async_socket_close(async_socket: ASYNC_SOCKET_HANDLE) {
    guard((), || {
        // SAFETY: NULL or a live handle (this function's contract).
        if let Some(socket) = unsafe { socket_ref(async_socket) } {
            socket.close();
        }
    })
}

/// Copies `buffer_count` C descriptors into [`RawBuf`]s, `None` for an array [`descriptors`]
/// refuses, or when the copy cannot be allocated. The rest of the rule is
/// [`AsyncSocket::send_raw`]'s / [`AsyncSocket::receive_raw`]'s, the same for Rust and C callers.
///
/// # Safety
/// `payload` is NULL or points to `buffer_count` readable descriptors.
unsafe fn raw_bufs(payload: *const ASYNC_SOCKET_BUFFER, buffer_count: u32) -> Option<Vec<RawBuf>> {
    // SAFETY: NULL or `buffer_count` readable descriptors (this function's contract).
    let descriptors = unsafe { descriptors(payload, buffer_count) }?;
    let mut bufs = Vec::new();
    bufs.try_reserve_exact(descriptors.len()).ok()?;
    bufs.extend(
        descriptors
            .iter()
            .map(|d| RawBuf::new(d.buffer.cast::<u8>(), d.length as usize)),
    );
    Some(bufs)
}

/// `async_socket_send_async`: sends every byte of the buffers, in order; see the header for the
/// results.
///
/// # Safety
/// `async_socket` is NULL or a live handle; `payload` is NULL or points to `buffer_count`
/// descriptors; on `ASYNC_SOCKET_SEND_SYNC_OK` each buffer's `length` bytes stay readable and
/// unmodified until `on_send_complete` has run.
#[no_mangle]
pub unsafe extern "C" fn async_socket_send_async(
    async_socket: ASYNC_SOCKET_HANDLE,
    payload: *const ASYNC_SOCKET_BUFFER,
    buffer_count: u32,
    on_send_complete: ON_ASYNC_SOCKET_SEND_COMPLETE,
    on_send_complete_context: *mut c_void,
) -> ASYNC_SOCKET_SEND_SYNC_RESULT {
    guard(ASYNC_SOCKET_SEND_SYNC_ERROR, || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(socket) = (unsafe { socket_ref(async_socket) }) else {
            return ASYNC_SOCKET_SEND_SYNC_ERROR;
        };
        // SAFETY: NULL or `buffer_count` descriptors (this function's contract).
        let Some(bufs) = (unsafe { raw_bufs(payload, buffer_count) }) else {
            return ASYNC_SOCKET_SEND_SYNC_ERROR;
        };
        let Some(callback) = on_send_complete else {
            return ASYNC_SOCKET_SEND_SYNC_ERROR;
        };
        let context = Context::new(on_send_complete_context);
        let on_complete = move |r: SendResult| {
            // SAFETY: the caller's callback with its own context, as async_socket.h describes.
            unsafe { callback(context.get(), send_result(r)) }
        };
        // SAFETY: the memory stays readable and unmodified until the completion has run (this
        // function's contract); `send_raw` rejects NULL pointers and zero lengths.
        match unsafe { socket.send_raw(&bufs, on_complete) } {
            Ok(()) => ASYNC_SOCKET_SEND_SYNC_OK,
            Err(e) => send_sync_result(e.send_sync_result()),
        }
    })
}

/// `async_socket_receive_async`: receives into the buffers, in order, completing once at least
/// one byte arrived; 0 on success, non-zero (no completion) otherwise.
///
/// # Safety
/// `async_socket` is NULL or a live handle; `payload` is NULL or points to `buffer_count`
/// descriptors; on success each buffer's `length` bytes stay writable, not otherwise accessed and
/// not overlapping another buffer, until `on_receive_complete` has run.
#[no_mangle]
pub unsafe extern "C" fn async_socket_receive_async(
    async_socket: ASYNC_SOCKET_HANDLE,
    payload: *mut ASYNC_SOCKET_BUFFER,
    buffer_count: u32,
    on_receive_complete: ON_ASYNC_SOCKET_RECEIVE_COMPLETE,
    on_receive_complete_context: *mut c_void,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(socket) = (unsafe { socket_ref(async_socket) }) else {
            return failure!();
        };
        // SAFETY: NULL or `buffer_count` descriptors (this function's contract).
        let Some(bufs) = (unsafe { raw_bufs(payload, buffer_count) }) else {
            return failure!();
        };
        let Some(callback) = on_receive_complete else {
            return failure!();
        };
        let context = Context::new(on_receive_complete_context);
        let on_complete = move |r: ReceiveResult, n: u32| {
            // SAFETY: the caller's callback with its own context, as async_socket.h describes.
            unsafe { callback(context.get(), receive_result(r), n) }
        };
        // SAFETY: the memory stays writable and untouched until the completion has run (this
        // function's contract); `receive_raw` rejects NULL pointers and zero lengths.
        match unsafe { socket.receive_raw(&bufs, on_complete) } {
            Ok(()) => SUCCESS,
            Err(_) => failure!(),
        }
    })
}

/// `async_socket_notify_io_async`: one completion when the socket is readable (IN) or writable
/// (OUT); 0 on success, non-zero (no completion) otherwise.
///
/// # Safety
/// `async_socket` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn async_socket_notify_io_async(
    async_socket: ASYNC_SOCKET_HANDLE,
    io_type: ASYNC_SOCKET_NOTIFY_IO_TYPE,
    on_notify_io_complete: ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE,
    on_notify_io_complete_context: *mut c_void,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(socket) = (unsafe { socket_ref(async_socket) }) else {
            return failure!();
        };
        let io_type = match io_type {
            ASYNC_SOCKET_NOTIFY_IO_TYPE_IN => NotifyType::In,
            ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT => NotifyType::Out,
            _ => return failure!(),
        };
        let Some(callback) = on_notify_io_complete else {
            return failure!();
        };
        let context = Context::new(on_notify_io_complete_context);
        let on_complete = move |r: NotifyResult| {
            // SAFETY: the caller's callback with its own context, as async_socket.h describes.
            unsafe { callback(context.get(), notify_result(r)) }
        };
        match socket.notify_io(io_type, on_complete) {
            Ok(()) => SUCCESS,
            Err(_) => failure!(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn set_errno(value: c_int) {
        // SAFETY: the calling thread's errno slot, always valid.
        unsafe { *libc::__errno_location() = value };
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn c_returns_map_like_send_and_recv() {
        assert_eq!(c_io_result(3, 4).unwrap(), 3);
        assert_eq!(c_io_result(0, 4).unwrap(), 0);
        assert_eq!(
            c_io_result(5, 4).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        set_errno(libc::EAGAIN);
        assert_eq!(
            c_io_result(-1, 4).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        set_errno(libc::ECONNRESET);
        assert_eq!(
            c_io_result(-1, 4).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        set_errno(libc::EPIPE);
        assert_eq!(
            c_io_result(-1, 4).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        set_errno(0);
        let e = c_io_result(-1, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.raw_os_error().is_none());
    }

    #[test]
    fn results_use_cpal_numbering() {
        assert_eq!(send_result(SendResult::Ok), 1);
        assert_eq!(send_result(SendResult::Abandoned), 3);
        assert_eq!(receive_result(ReceiveResult::Error), 2);
        assert_eq!(notify_result(NotifyResult::Error), 4);
        assert_eq!(send_sync_result(SendSyncResult::NotOpen), 3);
    }
}
