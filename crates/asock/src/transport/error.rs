//! The errors of [`SocketTransport`](super::SocketTransport)'s operations, with c-pal's
//! result vocabulary.

use std::fmt;
use std::io;

/// The error of [`super::SocketTransport::connect`], [`super::SocketTransport::listen`],
/// [`super::SocketTransport::listen_on`] and [`super::SocketTransport::local_addresses`].
#[derive(Debug)]
pub enum TransportError {
    /// An argument is invalid; the text names it.
    InvalidArg(&'static str),
    /// The operation does not apply to this [`super::SocketType`] (connect on a
    /// server, listen on a client).
    WrongType,
    /// The transport already holds a socket; [`disconnect`] it first.
    ///
    /// [`disconnect`]: super::SocketTransport::disconnect
    AlreadyOpen,
    /// The transport holds no socket.
    NotOpen,
    /// A system call failed. A refused connection has the kind
    /// [`io::ErrorKind::ConnectionRefused`], a connection that did not
    /// complete in time [`io::ErrorKind::TimedOut`].
    Io(io::Error),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::InvalidArg(what) => write!(f, "invalid argument: {what}"),
            TransportError::WrongType => f.write_str("operation not valid for this socket type"),
            TransportError::AlreadyOpen => f.write_str("the transport already holds a socket"),
            TransportError::NotOpen => f.write_str("the transport holds no socket"),
            TransportError::Io(err) => write!(f, "socket error: {err}"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(err: io::Error) -> Self {
        TransportError::Io(err)
    }
}

/// The I/O error a caller of `std::io` style APIs sees: a failed system call is itself, an
/// invalid argument is [`io::ErrorKind::InvalidInput`], the rest
/// [`io::ErrorKind::Other`] with this error inside.
impl From<TransportError> for io::Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Io(e) => e,
            TransportError::InvalidArg(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            other => io::Error::other(other),
        }
    }
}

/// The error of [`super::SocketTransport::from_stream_socket`]: why the socket was refused, and
/// the socket itself, still open and the caller's.
pub struct SocketRefused {
    pub(super) error: TransportError,
    pub(super) socket: socket2::Socket,
}

impl SocketRefused {
    /// Why the socket was refused.
    pub fn error(&self) -> &TransportError {
        &self.error
    }

    /// The refused socket, open.
    pub fn into_socket(self) -> socket2::Socket {
        self.socket
    }
}

impl fmt::Debug for SocketRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketRefused")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SocketRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket refused: {}", self.error)
    }
}

impl std::error::Error for SocketRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The error of [`super::SocketTransport::accept`] (c-pal's `SOCKET_ACCEPT_RESULT`
/// failures; `NO_CONNECTION` is `Ok(None)`).
#[derive(Debug)]
pub enum AcceptError {
    /// The transport is a client.
    WrongType,
    /// The transport is not listening.
    NotOpen,
    /// Out of descriptors or buffers (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`).
    PortExhaustion(io::Error),
    /// The system reported an operation in progress (`EINPROGRESS`).
    InProgress,
    /// Any other failure.
    Error(io::Error),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::WrongType => f.write_str("accept is not valid on a client transport"),
            AcceptError::NotOpen => f.write_str("the transport is not listening"),
            AcceptError::PortExhaustion(err) => write!(f, "accept: out of resources: {err}"),
            AcceptError::InProgress => f.write_str("accept: operation in progress"),
            AcceptError::Error(err) => write!(f, "accept failed: {err}"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcceptError::PortExhaustion(err) | AcceptError::Error(err) => Some(err),
            _ => None,
        }
    }
}

/// The I/O error inside (an exhausted port range or a failed system call), or
/// [`io::ErrorKind::Other`] with this error inside.
impl From<AcceptError> for io::Error {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::PortExhaustion(inner) | AcceptError::Error(inner) => inner,
            other => io::Error::other(other),
        }
    }
}

/// Why [`super::SocketTransport::send`] failed.
#[derive(Debug)]
pub enum SendErrorKind {
    /// The buffer list is empty.
    InvalidArg,
    /// The transport holds no socket.
    NotOpen,
    /// A system call failed.
    Failed(io::Error),
    /// The connection is gone: reset by the peer (`ECONNRESET`), aborted
    /// (`ECONNABORTED`), closed for writing (`EPIPE`) or not connected
    /// (`ENOTCONN`).
    Shutdown,
}

/// The error of [`super::SocketTransport::send`]: why, and how many bytes were
/// written before the failure.
#[derive(Debug)]
pub struct TransportSendError {
    /// Why the send failed.
    pub kind: SendErrorKind,
    /// The bytes written before the failure: the first `bytes_sent` bytes of
    /// the buffers, in order, were handed to the kernel.
    pub bytes_sent: usize,
}

impl fmt::Display for TransportSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SendErrorKind::InvalidArg => f.write_str("send: no buffers")?,
            SendErrorKind::NotOpen => f.write_str("send: the transport holds no socket")?,
            SendErrorKind::Failed(err) => write!(f, "send failed: {err}")?,
            SendErrorKind::Shutdown => f.write_str("send: the connection is shut down")?,
        }
        write!(f, " ({} bytes sent)", self.bytes_sent)
    }
}

impl std::error::Error for TransportSendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SendErrorKind::Failed(err) => Some(err),
            _ => None,
        }
    }
}

/// The error of [`super::SocketTransport::receive`] and
/// [`super::SocketTransport::receive_timeout`].
#[derive(Debug)]
pub enum TransportReceiveError {
    /// The buffer list is empty, or all its buffers are empty.
    InvalidArg,
    /// The transport holds no socket.
    NotOpen,
    /// No data is available now (or within the timeout).
    WouldBlock,
    /// The peer closed the connection (a 0-byte read) or reset it.
    Shutdown,
    /// Any other failure.
    Error(io::Error),
}

impl fmt::Display for TransportReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportReceiveError::InvalidArg => f.write_str("receive: no buffer space"),
            TransportReceiveError::NotOpen => f.write_str("receive: the transport holds no socket"),
            TransportReceiveError::WouldBlock => f.write_str("receive: no data available"),
            TransportReceiveError::Shutdown => f.write_str("receive: the connection is shut down"),
            TransportReceiveError::Error(err) => write!(f, "receive failed: {err}"),
        }
    }
}

impl std::error::Error for TransportReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportReceiveError::Error(err) => Some(err),
            _ => None,
        }
    }
}
