//! The byte I/O of a [`SocketTransport`]: send every byte, receive what is there.

use std::io::{self, IoSlice, IoSliceMut};
use std::time::Duration;

use socket2::MaybeUninitSlice;

use super::{
    poll_one, sys, Deadline, Interest, SendErrorKind, SocketTransport, TransportReceiveError,
    TransportSendError,
};
use crate::core::errors::is_connection_gone;

impl SocketTransport {
    /// Sends every byte of every buffer, in order, before returning.
    ///
    /// Calls `sendmsg(2)` with the buffers (at most 1024 per call) and
    /// `flags`, to which `MSG_NOSIGNAL` is added on Linux and Android (on
    /// Apple platforms the socket has `SO_NOSIGPIPE` instead), so a closed
    /// peer never raises `SIGPIPE`. After a partial write the next call
    /// starts at the first unsent byte; on `EAGAIN` it waits with `poll(2)`
    /// (`POLLOUT`, no timeout) and continues; `EINTR` is retried. Empty
    /// buffers are skipped. Returns the total number of bytes, which is the
    /// sum of the buffer lengths.
    ///
    /// # Errors
    ///
    /// The error carries the number of bytes written before the failure in
    /// [`TransportSendError::bytes_sent`]; nothing after the failing call is
    /// sent.
    ///
    /// * [`SendErrorKind::InvalidArg`]: `bufs` is empty;
    /// * [`SendErrorKind::NotOpen`]: the transport holds no socket;
    /// * [`SendErrorKind::Shutdown`]: `ECONNRESET`, `ECONNABORTED`, `EPIPE` or
    ///   `ENOTCONN`;
    /// * [`SendErrorKind::Failed`]: any other error.
    pub fn send(&self, bufs: &[IoSlice<'_>], flags: i32) -> Result<usize, TransportSendError> {
        let fail = |kind, bytes_sent| Err(TransportSendError { kind, bytes_sent });
        if bufs.is_empty() {
            return fail(SendErrorKind::InvalidArg, 0);
        }
        let Some(socket) = self.socket() else {
            return fail(SendErrorKind::NotOpen, 0);
        };
        let total = bufs
            .iter()
            .fold(0usize, |sum, buf| sum.saturating_add(buf.len()));
        let mut slices = bufs.to_vec();
        let mut rest: &mut [IoSlice<'_>] = &mut slices;
        // Drops leading empty buffers, so every call below has bytes to send.
        IoSlice::advance_slices(&mut rest, 0);
        let mut sent = 0usize;
        while sent < total {
            let count = rest.len().min(sys::MAX_IOVECS);
            match socket.send_vectored_with_flags(&rest[..count], flags | sys::SEND_FLAGS) {
                Ok(0) => {
                    return fail(
                        SendErrorKind::Failed(io::Error::from(io::ErrorKind::WriteZero)),
                        sent,
                    )
                }
                Ok(n) => {
                    sent += n;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(err) = poll_one(socket, Interest::Write, &Deadline::never()) {
                        return fail(SendErrorKind::Failed(err), sent);
                    }
                }
                Err(err) if is_connection_gone(&err) => return fail(SendErrorKind::Shutdown, sent),
                Err(err) => return fail(SendErrorKind::Failed(err), sent),
            }
        }
        Ok(sent)
    }

    /// Receives what is available now into the buffers, filling them in
    /// order, like `readv(2)`.
    ///
    /// Makes one `recvmsg(2)` call with the buffers (at most 1024) and
    /// `flags` (retried on `EINTR`). Returns the number of bytes received,
    /// always at least 1.
    ///
    /// # Errors
    ///
    /// * [`TransportReceiveError::InvalidArg`]: `bufs` is empty or has no
    ///   room;
    /// * [`TransportReceiveError::NotOpen`]: the transport holds no socket;
    /// * [`TransportReceiveError::WouldBlock`]: no data now (`EAGAIN`);
    /// * [`TransportReceiveError::Shutdown`]: the peer closed the connection
    ///   (0 bytes read, after every byte it sent) or reset it;
    /// * [`TransportReceiveError::Error`]: any other error.
    pub fn receive(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
    ) -> Result<usize, TransportReceiveError> {
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Err(TransportReceiveError::InvalidArg);
        }
        let socket = self.socket().ok_or(TransportReceiveError::NotOpen)?;
        // Skip leading empty buffers so that the window passed to the kernel
        // has room (a 0-byte read would look like end of stream).
        let first = bufs.iter().position(|buf| !buf.is_empty()).unwrap_or(0);
        let bufs = &mut bufs[first..];
        let count = bufs.len().min(sys::MAX_IOVECS);
        let bufs = &mut bufs[..count];
        // SAFETY: `IoSliceMut` and `socket2::MaybeUninitSlice` are both
        // `repr(transparent)` wrappers documented to be ABI compatible with
        // `iovec` (unix) / `WSABUF` (Windows), so the slice cast keeps layout,
        // length and lifetime. Viewing initialised bytes as `MaybeUninit<u8>`
        // is only unsound if uninitialised bytes get written through it;
        // socket2 documents that `recv_vectored_with_flags` passes the buffers
        // straight to `recvmsg(2)`/`WSARecv`, which only write received
        // (initialised) bytes. socket2's own `Read::read_vectored` does this.
        let uninit =
            unsafe { &mut *(bufs as *mut [IoSliceMut<'_>] as *mut [MaybeUninitSlice<'_>]) };
        loop {
            return match socket.recv_vectored_with_flags(uninit, flags) {
                Ok((0, _)) => Err(TransportReceiveError::Shutdown),
                Ok((n, _)) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    Err(TransportReceiveError::WouldBlock)
                }
                Err(err) if is_connection_gone(&err) => Err(TransportReceiveError::Shutdown),
                Err(err) => Err(TransportReceiveError::Error(err)),
            };
        }
    }

    /// As [`receive`](Self::receive), but when no data is there yet, waits
    /// for some up to `timeout` with `poll(2)` (`POLLIN`).
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive); [`TransportReceiveError::WouldBlock`]
    /// means nothing arrived within the timeout.
    pub fn receive_timeout(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
        timeout: Duration,
    ) -> Result<usize, TransportReceiveError> {
        let deadline = Deadline::after(timeout);
        loop {
            match self.receive(bufs, flags) {
                Err(TransportReceiveError::WouldBlock) => {}
                result => return result,
            }
            let socket = self.socket().ok_or(TransportReceiveError::NotOpen)?;
            match poll_one(socket, Interest::Read, &deadline) {
                Ok(true) => {}
                Ok(false) => return Err(TransportReceiveError::WouldBlock),
                Err(err) => return Err(TransportReceiveError::Error(err)),
            }
        }
    }
}
