//! `socket_transport.h`: a synchronous socket wrapper over [`SocketTransport`].
//!
//! A handle is a boxed [`SOCKET_TRANSPORT_TAG`] holding the transport behind an [`RwLock`]:
//! send, receive, accept and the getters take it shared (so they may run concurrently, as in
//! c-pal), connect, listen and disconnect take it exclusively (so they wait for the calls in
//! flight, as c-pal's state machine does). `async_socket_open_async` takes it exclusively to move
//! the socket out (see the crate docs).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::{IoSlice, IoSliceMut};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use asock::buf::check_buffers;
use asock::transport::{
    AcceptError, AddressType, SendErrorKind, SocketType, TransportReceiveError,
};
use asock::SocketTransport;

use crate::socket_handle::{self, INVALID_SOCKET, SOCKET_HANDLE};
use crate::{descriptors, failure, guard, SUCCESS};

/// `MAX_GET_HOST_NAME_LEN`: size of the host name buffer of
/// [`socket_transport_get_local_address`].
pub const MAX_GET_HOST_NAME_LEN: usize = 256;
/// `MAX_LOCAL_ADDRESS_LEN`: size of [`LOCAL_ADDRESS::address`].
pub const MAX_LOCAL_ADDRESS_LEN: usize = 22;

/// `SOCKET_SEND_RESULT` (a C enum, passed as `int`).
pub type SOCKET_SEND_RESULT = c_int;
/// `SOCKET_SEND_RESULT_INVALID`, never returned.
pub const SOCKET_SEND_RESULT_INVALID: SOCKET_SEND_RESULT = 0;
/// `SOCKET_SEND_INVALID_ARG`.
pub const SOCKET_SEND_INVALID_ARG: SOCKET_SEND_RESULT = 1;
/// `SOCKET_SEND_OK`.
pub const SOCKET_SEND_OK: SOCKET_SEND_RESULT = 2;
/// `SOCKET_SEND_ERROR`: the transport holds no socket.
pub const SOCKET_SEND_ERROR: SOCKET_SEND_RESULT = 3;
/// `SOCKET_SEND_FAILED`: a system call failed.
pub const SOCKET_SEND_FAILED: SOCKET_SEND_RESULT = 4;
/// `SOCKET_SEND_SHUTDOWN`: the connection is gone.
pub const SOCKET_SEND_SHUTDOWN: SOCKET_SEND_RESULT = 5;

/// `SOCKET_RECEIVE_RESULT` (a C enum, passed as `int`).
pub type SOCKET_RECEIVE_RESULT = c_int;
/// `SOCKET_RECEIVE_RESULT_INVALID`, never returned.
pub const SOCKET_RECEIVE_RESULT_INVALID: SOCKET_RECEIVE_RESULT = 0;
/// `SOCKET_RECEIVE_INVALID_ARG`.
pub const SOCKET_RECEIVE_INVALID_ARG: SOCKET_RECEIVE_RESULT = 1;
/// `SOCKET_RECEIVE_OK`.
pub const SOCKET_RECEIVE_OK: SOCKET_RECEIVE_RESULT = 2;
/// `SOCKET_RECEIVE_WOULD_BLOCK`.
pub const SOCKET_RECEIVE_WOULD_BLOCK: SOCKET_RECEIVE_RESULT = 3;
/// `SOCKET_RECEIVE_ERROR`.
pub const SOCKET_RECEIVE_ERROR: SOCKET_RECEIVE_RESULT = 4;
/// `SOCKET_RECEIVE_SHUTDOWN`.
pub const SOCKET_RECEIVE_SHUTDOWN: SOCKET_RECEIVE_RESULT = 5;

/// `SOCKET_ACCEPT_RESULT` (a C enum, passed as `int`).
pub type SOCKET_ACCEPT_RESULT = c_int;
/// `SOCKET_ACCEPT_RESULT_INVALID`, never returned.
pub const SOCKET_ACCEPT_RESULT_INVALID: SOCKET_ACCEPT_RESULT = 0;
/// `SOCKET_ACCEPT_OK`.
pub const SOCKET_ACCEPT_OK: SOCKET_ACCEPT_RESULT = 1;
/// `SOCKET_ACCEPT_ERROR`.
pub const SOCKET_ACCEPT_ERROR: SOCKET_ACCEPT_RESULT = 2;
/// `SOCKET_ACCEPT_PORT_EXHAUSTION`.
pub const SOCKET_ACCEPT_PORT_EXHAUSTION: SOCKET_ACCEPT_RESULT = 3;
/// `SOCKET_ACCEPT_INPROGRESS`.
pub const SOCKET_ACCEPT_INPROGRESS: SOCKET_ACCEPT_RESULT = 4;
/// `SOCKET_ACCEPT_NO_CONNECTION`.
pub const SOCKET_ACCEPT_NO_CONNECTION: SOCKET_ACCEPT_RESULT = 5;

/// `SOCKET_TYPE` (a C enum, passed as `int`).
pub type SOCKET_TYPE = c_int;
/// `SOCKET_TYPE_INVALID`.
pub const SOCKET_TYPE_INVALID: SOCKET_TYPE = 0;
/// `SOCKET_BINDING`: a server.
pub const SOCKET_BINDING: SOCKET_TYPE = 1;
/// `SOCKET_CLIENT`.
pub const SOCKET_CLIENT: SOCKET_TYPE = 2;

/// `ADDRESS_TYPE` (a C enum, passed as `int`).
pub type ADDRESS_TYPE = c_int;
/// `ADDRESS_TYPE_INVALID`.
pub const ADDRESS_TYPE_INVALID: ADDRESS_TYPE = 0;
/// `ADDRESS_INET`: IPv4.
pub const ADDRESS_INET: ADDRESS_TYPE = 1;
/// `ADDRESS_INET_6`: IPv6.
pub const ADDRESS_INET_6: ADDRESS_TYPE = 2;
/// `ADDRESS_NETBIOS`: never produced.
pub const ADDRESS_NETBIOS: ADDRESS_TYPE = 3;

/// `SOCKET_BUFFER`: length then pointer (the layout of Winsock's `WSABUF`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SOCKET_BUFFER {
    /// Number of bytes.
    pub length: u32,
    /// The bytes.
    pub buffer: *mut u8,
}

/// `LOCAL_ADDRESS`: one interface address, as numeric text.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LOCAL_ADDRESS {
    /// `ADDRESS_INET` or `ADDRESS_INET_6`.
    pub address_type: ADDRESS_TYPE,
    /// NUL-terminated numeric text.
    pub address: [c_char; MAX_LOCAL_ADDRESS_LEN],
}

extern "C" {
    /// The C library's allocator: the address list goes to the caller, who releases it with
    /// `free`.
    fn malloc(size: usize) -> *mut c_void;
}

/// The object behind a `SOCKET_TRANSPORT_HANDLE`.
#[derive(Debug)]
pub struct SOCKET_TRANSPORT_TAG {
    transport: RwLock<SocketTransport>,
}

/// `SOCKET_TRANSPORT_HANDLE`: a pointer obtained from [`Box::into_raw`].
pub type SOCKET_TRANSPORT_HANDLE = *mut SOCKET_TRANSPORT_TAG;

impl SOCKET_TRANSPORT_TAG {
    fn boxed(transport: SocketTransport) -> SOCKET_TRANSPORT_HANDLE {
        Box::into_raw(Box::new(SOCKET_TRANSPORT_TAG {
            transport: RwLock::new(transport),
        }))
    }

    /// Shared access: for calls that may run concurrently.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, SocketTransport> {
        // A poisoned lock means a panic happened while it was held; the transport itself is
        // always in a consistent state between method calls, so carry on.
        self.transport.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access: for calls that change which socket the transport holds.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, SocketTransport> {
        self.transport.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The transport behind a handle, `None` for NULL.
///
/// # Safety
/// `handle` is NULL or a live handle from one of the `socket_transport_create_*` functions or
/// `socket_transport_accept`, not yet destroyed, and stays live while the reference is used.
pub(crate) unsafe fn transport_ref<'a>(
    handle: SOCKET_TRANSPORT_HANDLE,
) -> Option<&'a SOCKET_TRANSPORT_TAG> {
    // SAFETY: per this function's contract the pointer is NULL or points to a live Box payload.
    unsafe { handle.as_ref() }
}

/// `socket_transport_create_client`: a CLIENT transport holding no socket.
#[no_mangle]
pub extern "C" fn socket_transport_create_client() -> SOCKET_TRANSPORT_HANDLE {
    guard(std::ptr::null_mut(), || {
        SOCKET_TRANSPORT_TAG::boxed(SocketTransport::client())
    })
}

/// `socket_transport_create_server`: a BINDING transport holding no socket.
#[no_mangle]
pub extern "C" fn socket_transport_create_server() -> SOCKET_TRANSPORT_HANDLE {
    guard(std::ptr::null_mut(), || {
        SOCKET_TRANSPORT_TAG::boxed(SocketTransport::server())
    })
}

/// `socket_transport_create_from_socket`: a CLIENT transport owning `socket_handle`, a stream
/// socket that is not listening (Windows: a Winsock `SOCKET`). NULL, and the socket left to the
/// caller, for `INVALID_SOCKET`, a handle that is not an open socket, a datagram socket or a
/// listening socket.
///
/// # Safety
/// On success the transport owns the socket and closes it: the caller must not close it.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_create_from_socket(
    socket_handle: SOCKET_HANDLE,
) -> SOCKET_TRANSPORT_HANDLE {
    guard(std::ptr::null_mut(), || {
        // SAFETY: on success the caller hands the socket over (this function's contract).
        match unsafe { socket_handle::adopt(socket_handle) } {
            Some(transport) => SOCKET_TRANSPORT_TAG::boxed(transport),
            None => std::ptr::null_mut(),
        }
    })
}

/// `socket_transport_destroy`: closes the socket if the transport still holds one (c-pal
/// leaked it), then frees the transport. NULL is ignored.
///
/// # Safety
/// `socket_transport` is NULL or a live handle, and no other call on it runs or follows.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_destroy(socket_transport: SOCKET_TRANSPORT_HANDLE) {
    guard((), || {
        if !socket_transport.is_null() {
            // SAFETY: the handle came from `Box::into_raw` and this is its last use.
            drop(unsafe { Box::from_raw(socket_transport) });
        }
    })
}

/// `socket_transport_connect`: connects a CLIENT transport within `connection_timeout_ms`;
/// 0 on success, non-zero otherwise (see the header).
///
/// # Safety
/// `socket_transport` is NULL or a live handle; `hostname` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_connect(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    hostname: *const c_char,
    port: u16,
    connection_timeout_ms: u32,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return failure!();
        };
        if hostname.is_null() {
            return failure!();
        }
        // SAFETY: non-NULL and NUL-terminated (this function's contract).
        let Ok(host) = unsafe { CStr::from_ptr(hostname) }.to_str() else {
            return failure!();
        };
        let timeout = Duration::from_millis(u64::from(connection_timeout_ms));
        match tag.write().connect(host, port, timeout) {
            Ok(()) => SUCCESS,
            Err(_) => failure!(),
        }
    })
}

/// `socket_transport_listen`: listens on `port` (0: the system chooses); 0 on success.
///
/// # Safety
/// `socket_transport` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_listen(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    port: u16,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return failure!();
        };
        match tag.write().listen(port) {
            Ok(()) => SUCCESS,
            Err(_) => failure!(),
        }
    })
}

/// `socket_transport_disconnect`: shuts down and closes the socket; the transport may connect
/// or listen again. Does nothing for NULL or a transport holding no socket.
///
/// # Safety
/// `socket_transport` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_disconnect(socket_transport: SOCKET_TRANSPORT_HANDLE) {
    guard((), || {
        // SAFETY: NULL or a live handle (this function's contract).
        if let Some(tag) = unsafe { transport_ref(socket_transport) } {
            tag.write().disconnect();
        }
    })
}

/// `socket_transport_accept`: accepts one client within `connection_timeout_ms`.
/// `*accepted_socket` is always written when `accepted_socket` is not NULL.
///
/// # Safety
/// `socket_transport` is NULL or a live handle; `accepted_socket` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_accept(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    accepted_socket: *mut SOCKET_TRANSPORT_HANDLE,
    connection_timeout_ms: u32,
) -> SOCKET_ACCEPT_RESULT {
    guard(SOCKET_ACCEPT_ERROR, || {
        if accepted_socket.is_null() {
            return SOCKET_ACCEPT_ERROR;
        }
        // SAFETY: non-NULL and writable (this function's contract).
        unsafe { accepted_socket.write(std::ptr::null_mut()) };
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return SOCKET_ACCEPT_ERROR;
        };
        let timeout = Duration::from_millis(u64::from(connection_timeout_ms));
        let accepted = tag.read().accept(timeout);
        match accepted {
            Ok(Some(client)) => {
                // SAFETY: as above.
                unsafe { accepted_socket.write(SOCKET_TRANSPORT_TAG::boxed(client)) };
                SOCKET_ACCEPT_OK
            }
            Ok(None) => SOCKET_ACCEPT_NO_CONNECTION,
            Err(AcceptError::PortExhaustion(_)) => SOCKET_ACCEPT_PORT_EXHAUSTION,
            Err(AcceptError::InProgress) => SOCKET_ACCEPT_INPROGRESS,
            Err(_) => SOCKET_ACCEPT_ERROR,
        }
    })
}

/// Checks a `SOCKET_BUFFER` array by the library's one buffer rule: `None` for an array
/// [`descriptors`] refuses, a NULL or empty buffer, or a total over `u32::MAX`
/// ([`check_buffers`]).
///
/// # Safety
/// `payload` is NULL or points to `buffer_count` readable descriptors that stay valid for `'a`.
unsafe fn checked_buffers<'a>(
    payload: *const SOCKET_BUFFER,
    buffer_count: u32,
) -> Option<&'a [SOCKET_BUFFER]> {
    // SAFETY: NULL or `buffer_count` readable descriptors valid for `'a` (this function's
    // contract).
    let bufs = unsafe { descriptors(payload, buffer_count) }?;
    check_buffers(
        bufs.iter()
            .map(|b| (b.buffer.cast_const(), b.length as usize)),
    )
    .ok()
    .map(|_| bufs)
}

/// `socket_transport_send`: writes every byte of the buffers, in order, before returning.
///
/// # Safety
/// `socket_transport` is NULL or a live handle; `payload` is NULL or points to `buffer_count`
/// descriptors, each pointing to `length` readable bytes; `bytes_sent` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_send(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    payload: *const SOCKET_BUFFER,
    buffer_count: u32,
    bytes_sent: *mut u32,
    flags: u32,
    data: *mut c_void,
) -> SOCKET_SEND_RESULT {
    let _ = data;
    guard(SOCKET_SEND_ERROR, || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return SOCKET_SEND_INVALID_ARG;
        };
        // SAFETY: NULL or `buffer_count` valid descriptors (this function's contract).
        let Some(bufs) = (unsafe { checked_buffers(payload, buffer_count) }) else {
            return SOCKET_SEND_INVALID_ARG;
        };
        let slices: Vec<IoSlice<'_>> = bufs
            .iter()
            .map(|b| {
                // SAFETY: checked non-NULL; `length` readable bytes (this function's contract).
                let bytes = unsafe { std::slice::from_raw_parts(b.buffer, b.length as usize) };
                IoSlice::new(bytes)
            })
            .collect();
        let (result, sent) = match tag.read().send(&slices, flags as c_int) {
            Ok(n) => (SOCKET_SEND_OK, n),
            Err(e) => (
                match e.kind {
                    SendErrorKind::InvalidArg => SOCKET_SEND_INVALID_ARG,
                    SendErrorKind::NotOpen => SOCKET_SEND_ERROR,
                    SendErrorKind::Failed(_) => SOCKET_SEND_FAILED,
                    SendErrorKind::Shutdown => SOCKET_SEND_SHUTDOWN,
                },
                e.bytes_sent,
            ),
        };
        if !bytes_sent.is_null() {
            // SAFETY: non-NULL and writable (this function's contract); the total was checked
            // to fit in u32.
            unsafe { bytes_sent.write(sent as u32) };
        }
        result
    })
}

/// `socket_transport_receive`: one scatter read of what is available now.
///
/// # Safety
/// `socket_transport` is NULL or a live handle; `payload` is NULL or points to `buffer_count`
/// descriptors, each pointing to `length` writable bytes, no two overlapping; `bytes_recv` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_receive(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    payload: *mut SOCKET_BUFFER,
    buffer_count: u32,
    bytes_recv: *mut u32,
    flags: u32,
    data: *mut c_void,
) -> SOCKET_RECEIVE_RESULT {
    let _ = data;
    guard(SOCKET_RECEIVE_ERROR, || {
        let set_count = |n: usize| {
            if !bytes_recv.is_null() {
                // SAFETY: non-NULL and writable (this function's contract); n fits in u32
                // because the buffers' total was checked to.
                unsafe { bytes_recv.write(n as u32) };
            }
        };
        set_count(0);
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return SOCKET_RECEIVE_INVALID_ARG;
        };
        // SAFETY: NULL or `buffer_count` valid descriptors (this function's contract).
        let Some(bufs) = (unsafe { checked_buffers(payload, buffer_count) }) else {
            return SOCKET_RECEIVE_INVALID_ARG;
        };
        let mut slices: Vec<IoSliceMut<'_>> = bufs
            .iter()
            .map(|b| {
                // SAFETY: checked non-NULL; `length` writable bytes that no other buffer
                // overlaps (this function's contract).
                let bytes = unsafe { std::slice::from_raw_parts_mut(b.buffer, b.length as usize) };
                IoSliceMut::new(bytes)
            })
            .collect();
        match tag.read().receive(&mut slices, flags as c_int) {
            Ok(n) => {
                set_count(n);
                SOCKET_RECEIVE_OK
            }
            Err(TransportReceiveError::InvalidArg) => SOCKET_RECEIVE_INVALID_ARG,
            Err(TransportReceiveError::WouldBlock) => SOCKET_RECEIVE_WOULD_BLOCK,
            Err(TransportReceiveError::Shutdown) => SOCKET_RECEIVE_SHUTDOWN,
            Err(_) => SOCKET_RECEIVE_ERROR,
        }
    })
}

/// `socket_transport_get_underlying_socket`: the descriptor (Windows: the `SOCKET`) the
/// transport holds (still owned by it), `INVALID_SOCKET` for NULL or a transport holding none.
///
/// # Safety
/// `socket_transport` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_get_underlying_socket(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
) -> SOCKET_HANDLE {
    guard(INVALID_SOCKET, || {
        // SAFETY: NULL or a live handle (this function's contract).
        match unsafe { transport_ref(socket_transport) } {
            Some(tag) => tag
                .read()
                .underlying_socket()
                .map_or(INVALID_SOCKET, socket_handle::raw_to_handle),
            None => INVALID_SOCKET,
        }
    })
}

/// `socket_transport_is_valid_socket`: whether the transport holds a socket (false for NULL).
///
/// # Safety
/// `socket_transport_handle` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_is_valid_socket(
    socket_transport_handle: SOCKET_TRANSPORT_HANDLE,
) -> bool {
    guard(false, || {
        // SAFETY: NULL or a live handle (this function's contract).
        unsafe { transport_ref(socket_transport_handle) }
            .is_some_and(|tag| tag.read().is_valid_socket())
    })
}

/// `socket_transport_get_local_address`: the host name and, when `local_address_list` is not
/// NULL, a `malloc`'ed array of interface addresses that the caller releases with `free`.
///
/// # Safety
/// `socket_transport` is NULL or a live handle; `hostname` is NULL or points to
/// `MAX_GET_HOST_NAME_LEN` writable bytes; `local_address_list` and `address_count` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_get_local_address(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
    hostname: *mut c_char,
    local_address_list: *mut *mut LOCAL_ADDRESS,
    address_count: *mut u32,
) -> c_int {
    guard(failure!(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        let Some(tag) = (unsafe { transport_ref(socket_transport) }) else {
            return failure!();
        };
        if hostname.is_null() || (!local_address_list.is_null() && address_count.is_null()) {
            return failure!();
        }
        let Ok(local) = tag.read().local_addresses() else {
            return failure!();
        };
        let mut list: *mut LOCAL_ADDRESS = std::ptr::null_mut();
        let mut count = 0usize;
        if !local_address_list.is_null() {
            let entries: Vec<LOCAL_ADDRESS> = local
                .addresses
                .iter()
                .filter_map(|a| {
                    let text = a.address.to_string();
                    if text.len() >= MAX_LOCAL_ADDRESS_LEN {
                        return None;
                    }
                    let mut address = [0 as c_char; MAX_LOCAL_ADDRESS_LEN];
                    for (dst, src) in address.iter_mut().zip(text.bytes()) {
                        *dst = src as c_char;
                    }
                    Some(LOCAL_ADDRESS {
                        address_type: match a.address_type {
                            AddressType::Inet => ADDRESS_INET,
                            AddressType::Inet6 => ADDRESS_INET_6,
                        },
                        address,
                    })
                })
                .collect();
            count = entries.len();
            if count > 0 {
                // SAFETY: plain allocation of `count` entries (no overflow: `count` is small and
                // the product was computed by Vec already).
                list = unsafe { malloc(std::mem::size_of_val(entries.as_slice())) }
                    .cast::<LOCAL_ADDRESS>();
                if list.is_null() {
                    return failure!();
                }
                // SAFETY: `list` has room for `count` entries, freshly allocated (no overlap),
                // and malloc's alignment suits any C type.
                unsafe { std::ptr::copy_nonoverlapping(entries.as_ptr(), list, count) };
            }
        }
        // Everything that can fail is done: write the outputs.
        let name = local.hostname.as_bytes();
        let n = name.len().min(MAX_GET_HOST_NAME_LEN - 1);
        // SAFETY: `hostname` has MAX_GET_HOST_NAME_LEN writable bytes (this function's
        // contract) and n + 1 <= MAX_GET_HOST_NAME_LEN; the source is our own string.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr().cast::<c_char>(), hostname, n);
            hostname.add(n).write(0);
        }
        if !local_address_list.is_null() {
            // SAFETY: both writable (checked non-NULL above, this function's contract).
            unsafe {
                local_address_list.write(list);
                address_count.write(count as u32);
            }
        }
        SUCCESS
    })
}

/// asock extension `socket_transport_get_local_port`: the local port of the socket the
/// transport holds (after listening on port 0, the port the system chose); 0 for NULL, no
/// socket, or a failure.
///
/// # Safety
/// `socket_transport` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn socket_transport_get_local_port(
    socket_transport: SOCKET_TRANSPORT_HANDLE,
) -> u16 {
    guard(0, || {
        // SAFETY: NULL or a live handle (this function's contract).
        unsafe { transport_ref(socket_transport) }
            .and_then(|tag| tag.read().local_port())
            .unwrap_or(0)
    })
}

/// Whether a transport is a client (the only kind an async socket can open on).
pub(crate) fn is_client(t: &SocketTransport) -> bool {
    t.socket_type() == SocketType::Client
}
