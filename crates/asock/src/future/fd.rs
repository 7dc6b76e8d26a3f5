//! The descriptor of a socket that an async socket owns, borrowed for option calls and, on
//! Linux, for the byte stream's own non-blocking system calls.

use crate::transport::SocketTransport;

#[cfg(unix)]
type Raw = std::os::fd::RawFd;
#[cfg(windows)]
type Raw = std::os::windows::io::RawSocket;

/// The raw descriptor of a socket owned by someone else (an [`AsyncSocket`] that is open on
/// it), with the promise made at [`Fd::of`] that it stays open while this value is used.
///
/// [`AsyncSocket`]: crate::AsyncSocket
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fd(Raw);

impl Fd {
    /// The descriptor of `transport`'s socket, `None` when it holds none.
    ///
    /// # Safety
    /// The returned value must only be used while the socket is still open: the caller keeps it
    /// next to the owner that closes the socket and drops it no later than that owner.
    pub(crate) unsafe fn of(transport: &SocketTransport) -> Option<Self> {
        transport.underlying_socket().map(Fd)
    }

    /// The socket, borrowed, for `socket2`'s calls (options, addresses, `send`, `recv`,
    /// `shutdown`).
    #[cfg_attr(
        all(windows, not(any(feature = "tokio", feature = "futures-io"))),
        allow(dead_code)
    )]
    pub(crate) fn sock(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(self)
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Fd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: `Fd::of`'s contract: the descriptor stays open while `self` is used, and the
        // borrow ends with `&self`.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Fd {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        // SAFETY: as for unix: the handle stays open while `self` is used.
        unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(self.0) }
    }
}
