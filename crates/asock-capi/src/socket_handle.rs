//! `socket_handle.h`: the platform socket handle, and taking ownership of one.
//!
//! A `SOCKET_HANDLE` reaches the library in two places: `socket_transport_create_from_socket`
//! and the socket-handle form of `async_socket_open_async` (c-pal's current signature). Both
//! check it the same way (`adopt`): an open stream socket that is not listening. Until the
//! library has taken it for good, a refused socket goes back to the caller open (`give_back`).

#[cfg(unix)]
use std::ffi::c_int;
#[cfg(windows)]
use std::ffi::c_void;

use asock::SocketTransport;

/// `SOCKET_HANDLE`: a file descriptor.
#[cfg(unix)]
pub type SOCKET_HANDLE = c_int;
/// `SOCKET_HANDLE`: a Winsock `SOCKET` carried as a pointer.
#[cfg(windows)]
pub type SOCKET_HANDLE = *mut c_void;

/// `INVALID_SOCKET`.
#[cfg(unix)]
pub const INVALID_SOCKET: SOCKET_HANDLE = -1;
/// `INVALID_SOCKET`: Winsock's `(SOCKET)(~0)`, as a pointer.
#[cfg(windows)]
pub const INVALID_SOCKET: SOCKET_HANDLE = std::ptr::without_provenance_mut(usize::MAX);

/// A CLIENT transport owning `socket_handle`, or `None` (the handle untouched and still the
/// caller's) for `INVALID_SOCKET`, a handle that is not an open socket, a datagram socket or a
/// listening socket: [`SocketTransport::from_raw_stream_socket`]'s checks. The transport makes
/// the socket non-blocking.
///
/// # Safety
/// On `Some` the transport owns the socket and closes it when dropped: the caller hands its
/// ownership over (or gets it back with [`give_back`]).
pub(crate) unsafe fn adopt(socket_handle: SOCKET_HANDLE) -> Option<SocketTransport> {
    if socket_handle == INVALID_SOCKET {
        return None;
    }
    #[cfg(unix)]
    let raw = socket_handle;
    #[cfg(windows)]
    let raw = socket_handle as usize as std::os::windows::io::RawSocket;
    // SAFETY: the checks are made on the value before it is taken; if it is an open socket,
    // the caller hands its ownership over (this function's contract).
    unsafe { SocketTransport::from_raw_stream_socket(raw) }.ok()
}

/// Hands the socket of a transport made by [`adopt`] back to the caller, open: for a
/// socket-handle open that failed after [`adopt`], when the socket must stay the caller's.
/// The socket leaves the transport without being closed, and its descriptor is released.
pub(crate) fn give_back(transport: SocketTransport) {
    if let Some(socket) = transport.into_socket() {
        #[cfg(unix)]
        let _ = std::os::fd::IntoRawFd::into_raw_fd(socket);
        #[cfg(windows)]
        let _ = std::os::windows::io::IntoRawSocket::into_raw_socket(socket);
    }
}

/// The raw socket as a `SOCKET_HANDLE`.
#[cfg(unix)]
pub(crate) fn raw_to_handle(fd: std::os::fd::RawFd) -> SOCKET_HANDLE {
    fd
}

/// The raw socket as a `SOCKET_HANDLE` (a pointer-sized value, no provenance).
#[cfg(windows)]
pub(crate) fn raw_to_handle(socket: std::os::windows::io::RawSocket) -> SOCKET_HANDLE {
    std::ptr::without_provenance_mut(socket as usize)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn fd_is_open(fd: c_int) -> bool {
        // SAFETY: F_GETFD on an integer descriptor only reads its flags (or fails with EBADF).
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    #[test]
    fn adopt_refuses_what_is_not_a_stream_socket_and_leaves_it_open() {
        // SAFETY: INVALID_SOCKET and a descriptor that is not a socket are refused untouched.
        assert!(unsafe { adopt(INVALID_SOCKET) }.is_none());
        let file = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
        // SAFETY: as above; the file is not a socket.
        assert!(unsafe { adopt(file) }.is_none());
        assert!(fd_is_open(file));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .into_raw_fd();
        // SAFETY: as above; a datagram socket is refused.
        assert!(unsafe { adopt(udp) }.is_none());
        assert!(fd_is_open(udp));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listening = listener.into_raw_fd();
        // SAFETY: as above; a listening socket is refused.
        assert!(unsafe { adopt(listening) }.is_none());
        assert!(fd_is_open(listening));

        let client = std::net::TcpStream::connect(addr).unwrap().into_raw_fd();
        // SAFETY: a connected stream socket whose ownership this test hands over.
        let transport = unsafe { adopt(client) }.expect("a connected socket is adopted");
        assert_eq!(transport.underlying_socket(), Some(client));
        give_back(transport);
        assert!(fd_is_open(client), "give_back closed the socket");
        for fd in [file, udp, listening, client] {
            // SAFETY: descriptors this test opened and still owns.
            unsafe { libc::close(fd) };
        }
    }
}
