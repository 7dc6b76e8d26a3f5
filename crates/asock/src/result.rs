//! Results and errors of the async socket, with c-pal's vocabulary.
//!
//! Every asynchronous operation has two outcomes:
//! * a **synchronous** one, the return value of the submitting call: `Ok(())` promises exactly one
//!   completion; an error promises none and hands the buffers back ([`SubmitError::into_inner`]);
//! * an **asynchronous** one, the result passed to the completion callback.

use std::fmt;
use std::io;

/// Result passed to an open completion (`ASYNC_SOCKET_OPEN_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenResult {
    /// The socket is open.
    Ok,
    /// Reserved by c-pal; never delivered: a failing open returns an error and calls nothing.
    Error,
}

/// Result passed to a send completion (`ASYNC_SOCKET_SEND_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    /// Every byte of every buffer was written, in order.
    Ok,
    /// The send failed; how much was written is unknown to the caller.
    Error,
    /// The connection was reset or the socket was closed before the send finished.
    Abandoned,
}

/// Result passed to a receive completion (`ASYNC_SOCKET_RECEIVE_RESULT`), beside the byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveResult {
    /// At least one byte was received; the count says how many, filling the buffers in order.
    Ok,
    /// The receive failed.
    Error,
    /// The peer closed the connection (0 bytes), the connection was reset, or the socket was
    /// closed while the receive was pending. Never reported while received data is still queued.
    Abandoned,
}

/// What a readiness notification waits for (`ASYNC_SOCKET_NOTIFY_IO_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyType {
    /// Readable (data, or the peer's end of stream).
    In,
    /// Writable.
    Out,
}

/// Result passed to a notify completion (`ASYNC_SOCKET_NOTIFY_IO_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyResult {
    /// The socket is readable.
    In,
    /// The socket is writable.
    Out,
    /// The socket was closed while the notification was pending.
    Abandoned,
    /// The socket reported an error.
    Error,
}

/// The three-valued synchronous result of c-pal's `async_socket_send_async`
/// (`ASYNC_SOCKET_SEND_SYNC_RESULT`), for callers that want it; see [`SubmitError::send_sync_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSyncResult {
    /// Accepted: exactly one completion follows.
    Ok,
    /// Rejected (bad argument or an OS error); no completion.
    Error,
    /// Rejected because the socket is not open (or was reset); no completion.
    NotOpen,
}

/// Why a submission was rejected.
#[derive(Debug)]
pub enum SubmitErrorKind {
    /// A bad argument: no buffers, a buffer with no memory or zero length, a total over
    /// `u32::MAX`. The text says which.
    InvalidArgument(&'static str),
    /// The socket is not OPEN, or (send only) the connection was found reset when the send was
    /// tried.
    NotOpen,
    /// The operation does not exist on this platform (notify on Windows).
    Unsupported,
    /// The OS refused the operation when it was tried.
    Io(io::Error),
}

/// A rejected submission: why, and what was handed in (the buffers), given back untouched.
pub struct SubmitError<T> {
    kind: SubmitErrorKind,
    value: T,
}

impl<T> SubmitError<T> {
    pub(crate) fn new(kind: SubmitErrorKind, value: T) -> Self {
        Self { kind, value }
    }

    /// Why the submission was rejected.
    pub fn kind(&self) -> &SubmitErrorKind {
        &self.kind
    }

    /// The buffers that were handed in.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Splits the error into its reason and the buffers.
    pub fn into_parts(self) -> (SubmitErrorKind, T) {
        (self.kind, self.value)
    }

    /// c-pal's synchronous send result for this error: `NotOpen` for [`SubmitErrorKind::NotOpen`],
    /// `Error` otherwise.
    pub fn send_sync_result(&self) -> SendSyncResult {
        match self.kind {
            SubmitErrorKind::NotOpen => SendSyncResult::NotOpen,
            _ => SendSyncResult::Error,
        }
    }

    /// Replaces the handed-back value (used to drop internal wrappers).
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> SubmitError<U> {
        SubmitError {
            kind: self.kind,
            value: f(self.value),
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SubmitErrorKind::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            SubmitErrorKind::NotOpen => f.write_str("the async socket is not open"),
            SubmitErrorKind::Unsupported => f.write_str("not supported on this platform"),
            SubmitErrorKind::Io(e) => write!(f, "the OS refused the operation: {e}"),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SubmitErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A refused submission as the I/O error a stream reports: not open is
/// [`io::ErrorKind::NotConnected`], an invalid argument [`io::ErrorKind::InvalidInput`].
impl From<SubmitErrorKind> for io::Error {
    fn from(kind: SubmitErrorKind) -> Self {
        match kind {
            SubmitErrorKind::NotOpen => {
                io::Error::new(io::ErrorKind::NotConnected, "asock: the socket is not open")
            }
            SubmitErrorKind::Io(e) => e,
            SubmitErrorKind::InvalidArgument(what) => {
                io::Error::new(io::ErrorKind::InvalidInput, what)
            }
            SubmitErrorKind::Unsupported => {
                io::Error::new(io::ErrorKind::Unsupported, "not supported on this platform")
            }
        }
    }
}

/// Why an open was rejected.
#[derive(Debug)]
pub enum OpenErrorKind {
    /// The transport holds no connected socket (none at all, or a listening one).
    InvalidTransport,
    /// The async socket is not CLOSED (already OPEN, or being opened or closed). On Windows
    /// also an async socket that was opened and closed before: the seed allows no re-open.
    NotClosed,
    /// Registering the socket with the OS failed.
    Io(io::Error),
}

/// A rejected open: why, and the transport, which still belongs to the caller.
pub struct OpenError {
    kind: OpenErrorKind,
    transport: crate::transport::SocketTransport,
}

impl OpenError {
    pub(crate) fn new(kind: OpenErrorKind, transport: crate::transport::SocketTransport) -> Self {
        Self { kind, transport }
    }
    /// Why the open was rejected.
    pub fn kind(&self) -> &OpenErrorKind {
        &self.kind
    }
    /// The transport handed in, still open and owned by the caller.
    pub fn into_transport(self) -> crate::transport::SocketTransport {
        self.transport
    }
}

impl fmt::Debug for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OpenErrorKind::InvalidTransport => {
                f.write_str("the transport holds no connected socket")
            }
            OpenErrorKind::NotClosed => f.write_str("the async socket is not closed"),
            OpenErrorKind::Io(e) => write!(f, "registering the socket failed: {e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            OpenErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The I/O error of a failed open: of the registration that failed (this error inside), a
/// transport without a connected socket [`io::ErrorKind::NotConnected`].
impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> Self {
        let kind = match e.kind() {
            OpenErrorKind::Io(inner) => inner.kind(),
            OpenErrorKind::InvalidTransport => io::ErrorKind::NotConnected,
            OpenErrorKind::NotClosed => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Why an async socket or an engine could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// Engine parameters with `max_thread_count != 0 && max_thread_count < min_thread_count`.
    InvalidParameters,
    /// Not available on this platform (a custom transport on Windows).
    Unsupported,
    /// The OS refused a resource (threads, epoll, eventfd).
    Io(io::Error),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::InvalidParameters => {
                f.write_str("max_thread_count is neither 0 nor at least min_thread_count")
            }
            CreateError::Unsupported => f.write_str("not supported on this platform"),
            CreateError::Io(e) => write!(f, "the OS refused a resource: {e}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CreateError {
    fn from(e: io::Error) -> Self {
        CreateError::Io(e)
    }
}

/// The OS's own error, or [`io::ErrorKind::Other`] with this error inside.
impl From<CreateError> for io::Error {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}
