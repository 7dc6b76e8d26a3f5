//! The Linux backends' use of a custom [`Transport`] (contract C12), written once: readiness
//! comes from the socket as usual, and these functions replace the `send(2)` / `recv(2)` calls
//! for the head operation of a queue, with the semantics the `Transport` docs promise (a `send`
//! of 0 bytes fails instead of spinning, a `recv` fills the buffers in order like a `recv(2)`
//! loop, `WouldBlock` waits for the next readiness).

use std::io;

use crate::core::ops::{RecvOp, SendOp};
use crate::transport::SocketTransport;
use crate::Transport;

/// The outcome of one attempt on the head operation.
pub(crate) enum Step {
    /// Bytes moved.
    Moved(usize),
    /// Nothing can move now; wait for readiness.
    WouldBlock,
    /// End of stream (receive only).
    Eof,
    /// A failure (`Interrupted` means: try again).
    Failed(io::Error),
}

/// Whether an error means the connection is gone (reset, aborted, broken, not connected).
pub(crate) fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// The buffer holding byte `sent` of a send, and the offset of that byte in it.
pub(crate) fn first_unsent(op: &dyn SendOp, sent: usize) -> (usize, usize) {
    let (mut first, mut skip) = (0, sent);
    while first < op.buf_count() && skip >= op.buf(first).len() {
        skip -= op.buf(first).len();
        first += 1;
    }
    (first, skip)
}

/// One `Transport::send` of the unsent part of the first unfinished buffer.
pub(crate) fn send(
    custom: &dyn Transport,
    transport: Option<&SocketTransport>,
    op: &dyn SendOp,
    sent: usize,
) -> Step {
    let Some(sock) = transport.and_then(|t| t.socket()) else {
        return Step::Failed(io::ErrorKind::NotConnected.into());
    };
    let (first, skip) = first_unsent(op, sent);
    if first == op.buf_count() {
        // A finished send leaves its queue at once; never loop on it.
        return Step::Failed(io::Error::other("the send has no bytes left"));
    }
    let buf = &op.buf(first)[skip..];
    match custom.send(sock, buf) {
        Ok(0) => Step::Failed(io::Error::new(
            io::ErrorKind::WriteZero,
            "the custom transport wrote 0 bytes",
        )),
        Ok(n) if n > buf.len() => Step::Failed(io::Error::new(
            io::ErrorKind::InvalidData,
            "the custom transport reported more bytes than offered",
        )),
        Ok(n) => Step::Moved(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::WouldBlock,
        Err(e) => Step::Failed(e),
    }
}

/// `Transport::recv` calls filling the receive's buffers in order, until a short read, an error
/// or `WouldBlock` (which, after some bytes, completes with those bytes).
pub(crate) fn recv(
    custom: &dyn Transport,
    transport: Option<&SocketTransport>,
    op: &mut dyn RecvOp,
) -> Step {
    let Some(sock) = transport.and_then(|t| t.socket()) else {
        return Step::Failed(io::ErrorKind::NotConnected.into());
    };
    let mut total = 0;
    for i in 0..op.buf_count() {
        let buf = op.buf_mut(i);
        let len = buf.len();
        let mut filled = 0;
        while filled < len {
            match custom.recv(sock, &mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n.min(len - filled),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if total + filled > 0 => return Step::Moved(total + filled),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::WouldBlock,
                Err(e) => return Step::Failed(e),
            }
            if filled < len {
                // A short read: take what we have rather than wait for more.
                break;
            }
        }
        total += filled;
        if filled < len {
            break;
        }
    }
    if total == 0 {
        Step::Eof
    } else {
        Step::Moved(total)
    }
}
