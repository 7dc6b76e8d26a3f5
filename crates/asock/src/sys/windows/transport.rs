//! The socket transport's send and receive in their overlapped form: c-pal's
//! `socket_transport_send` / `socket_transport_receive` with an `OVERLAPPED` as last argument,
//! which is how the seed has the async socket start its I/O (01_061, 01_082). Each makes one
//! `WSASend` / `WSARecv` on the transport's socket and reports how that call ended; the async
//! socket then asks `WSAGetLastError` itself (01_062, 01_054).
//!
//! They are methods of [`SocketTransport`] (an inherent `impl` may live in any module of the
//! crate), crate-internal: the public, blocking `send` / `receive` stay as they are.

use std::os::windows::io::AsRawSocket;

use windows_sys::Win32::Networking::WinSock::{SOCKET, SOCKET_ERROR, WSABUF};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::os;
use crate::transport::SocketTransport;

/// How an overlapped send or receive ended at once (c-pal's `SOCKET_SEND_RESULT` /
/// `SOCKET_RECEIVE_RESULT`, as far as the overlapped form goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverlappedIo {
    /// The call returned 0: done at once (the completion still comes through the pool).
    Ok,
    /// The call returned `SOCKET_ERROR`: `WSAGetLastError` says why, `WSA_IO_PENDING` meaning
    /// the I/O was started (c-pal: `SOCKET_SEND_FAILED`, `SOCKET_RECEIVE_ERROR`).
    SocketError,
    /// Any other failure (c-pal: `SOCKET_SEND_ERROR`, and the receive's other results): the
    /// transport holds no socket, or the call returned neither 0 nor `SOCKET_ERROR` (the
    /// value).
    Other(i32),
}

fn ended(rc: i32) -> OverlappedIo {
    match rc {
        0 => OverlappedIo::Ok,
        SOCKET_ERROR => OverlappedIo::SocketError,
        other => OverlappedIo::Other(other),
    }
}

impl SocketTransport {
    fn raw(&self) -> Option<SOCKET> {
        self.socket().map(|s| s.as_raw_socket() as SOCKET)
    }

    /// `socket_transport_send(transport, bufs, count, bytes_sent, flags, overlapped)`: one
    /// `WSASend` of the buffers with the `OVERLAPPED` and no completion routine.
    ///
    /// # Safety
    /// As [`os::wsa_send`]: `bufs` points to `count` `WSABUF`s of readable memory and
    /// `overlapped` to a zeroed `OVERLAPPED`, all valid and in place until the completion has
    /// been delivered (or until this call failed); `bytes_sent` is NULL or valid for the call.
    pub(crate) unsafe fn send_overlapped(
        &self,
        bufs: *const WSABUF,
        count: u32,
        bytes_sent: *mut u32,
        flags: u32,
        overlapped: *mut OVERLAPPED,
    ) -> OverlappedIo {
        let Some(socket) = self.raw() else {
            return OverlappedIo::Other(0);
        };
        os::note_transport_io(true, socket, count, bytes_sent.is_null(), flags, overlapped);
        // SAFETY: forwarded from this function's contract; `socket` is the transport's open
        // socket, which stays open while the transport is borrowed.
        ended(unsafe { os::wsa_send(socket, bufs, count, bytes_sent, flags, overlapped) })
    }

    /// `socket_transport_receive(transport, bufs, count, bytes_received, flags, overlapped)`:
    /// one `WSARecv` into the buffers with the `OVERLAPPED` and no completion routine. `flags`
    /// is `WSARecv`'s in/out flags word.
    ///
    /// # Safety
    /// As [`os::wsa_recv`]: `bufs` points to `count` `WSABUF`s of writable memory nothing else
    /// accesses, `flags` and `overlapped` (zeroed) are valid, all in place until the completion
    /// has been delivered (or until this call failed); `bytes_received` is NULL or valid for
    /// the call.
    pub(crate) unsafe fn receive_overlapped(
        &self,
        bufs: *const WSABUF,
        count: u32,
        bytes_received: *mut u32,
        flags: *mut u32,
        overlapped: *mut OVERLAPPED,
    ) -> OverlappedIo {
        let Some(socket) = self.raw() else {
            return OverlappedIo::Other(0);
        };
        // SAFETY: `flags` is valid (this function's contract).
        let in_flags = unsafe { *flags };
        os::note_transport_io(
            false,
            socket,
            count,
            bytes_received.is_null(),
            in_flags,
            overlapped,
        );
        // SAFETY: forwarded from this function's contract; `socket` is the transport's open
        // socket, which stays open while the transport is borrowed.
        ended(unsafe { os::wsa_recv(socket, bufs, count, bytes_received, flags, overlapped) })
    }
}
