//! Taking a socket made elsewhere, after checking that a client transport can use it: an open
//! stream socket that is not listening.

use socket2::Socket;

use super::{sys, SocketRefused, SocketTransport, TransportError};

impl SocketTransport {
    /// A client transport owning `socket`, after checking that it is an open stream socket
    /// that is not listening: `getsockopt(2)` `SO_TYPE`, then `SO_ACCEPTCONN`.
    ///
    /// Otherwise as [`from_socket`](Self::from_socket), which takes any socket unchecked.
    ///
    /// # Errors
    ///
    /// The socket comes back inside the error, untouched and open
    /// ([`SocketRefused::into_socket`]), with the reason ([`SocketRefused::error`]):
    ///
    /// * [`TransportError::InvalidArg`] for a datagram (or any other non-stream) socket or a
    ///   listening one;
    /// * [`TransportError::Io`] if a `getsockopt(2)` fails.
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream, UdpSocket};
    ///
    /// use asock::transport::SocketTransport;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(SocketTransport::from_stream_socket(client.into()).is_ok());
    ///
    /// let refused = SocketTransport::from_stream_socket(listener.into()).unwrap_err();
    /// assert!(refused.to_string().contains("listening"));
    /// let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(SocketTransport::from_stream_socket(udp.into()).is_err());
    /// ```
    pub fn from_stream_socket(socket: Socket) -> Result<Self, SocketRefused> {
        match check(raw(&socket)) {
            Ok(()) => Ok(Self::from_socket(socket)),
            Err(error) => Err(SocketRefused { error, socket }),
        }
    }

    /// As [`from_stream_socket`](Self::from_stream_socket), for a raw descriptor (a Winsock
    /// `SOCKET` on Windows) that may not even be an open socket: the checks are made on the
    /// value before the transport takes it, so on an error nothing has happened to it and it is
    /// still the caller's.
    ///
    /// # Errors
    ///
    /// As [`from_stream_socket`](Self::from_stream_socket); a value that is not an open socket
    /// is [`TransportError::Io`] (`EBADF`, `ENOTSOCK`; `WSAENOTSOCK` on Windows).
    ///
    /// # Safety
    ///
    /// If `raw` is an open socket, the caller owns it and hands that ownership over on `Ok`:
    /// the transport closes it, and nothing else may.
    #[cfg(unix)]
    pub unsafe fn from_raw_stream_socket(raw: std::os::fd::RawFd) -> Result<Self, TransportError> {
        check(raw)?;
        // SAFETY: `raw` is an open socket (`getsockopt` succeeded on it) whose ownership the
        // caller hands over (this function's contract).
        let socket = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        Ok(Self::from_socket(socket))
    }

    /// As [`from_stream_socket`](Self::from_stream_socket), for a raw Winsock `SOCKET` that may
    /// not even be an open socket; see the unix version.
    ///
    /// # Errors
    ///
    /// As the unix version.
    ///
    /// # Safety
    ///
    /// As the unix version.
    #[cfg(windows)]
    pub unsafe fn from_raw_stream_socket(
        raw: std::os::windows::io::RawSocket,
    ) -> Result<Self, TransportError> {
        check(raw)?;
        // SAFETY: `raw` is an open socket (`getsockopt` succeeded on it) whose ownership the
        // caller hands over (this function's contract).
        let socket =
            unsafe { <Socket as std::os::windows::io::FromRawSocket>::from_raw_socket(raw) };
        Ok(Self::from_socket(socket))
    }
}

#[cfg(unix)]
fn raw(socket: &Socket) -> sys::RawSocket {
    std::os::fd::AsRawFd::as_raw_fd(socket)
}

#[cfg(windows)]
fn raw(socket: &Socket) -> sys::RawSocket {
    std::os::windows::io::AsRawSocket::as_raw_socket(socket)
}

/// The checks, in order: the value is an open socket of the stream type (`SO_TYPE`), and it is
/// not listening (`SO_ACCEPTCONN`).
fn check(raw: sys::RawSocket) -> Result<(), TransportError> {
    if sys::socket_type(raw)? != sys::SOCK_STREAM {
        return Err(TransportError::InvalidArg("not a stream socket"));
    }
    if sys::is_listening(raw)? {
        return Err(TransportError::InvalidArg("a listening socket"));
    }
    Ok(())
}
