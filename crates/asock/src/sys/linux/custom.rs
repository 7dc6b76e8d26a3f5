//! The Linux backends' use of a custom [`Transport`] (contract C12), written once: readiness
//! comes from the socket as usual, and these functions replace the `send(2)` / `recv(2)` calls
//! for the head operation of a queue, with the semantics the `Transport` docs promise (a `send`
//! of 0 bytes fails instead of spinning, a `recv` fills the buffers in order like a `recv(2)`
//! loop, `WouldBlock` waits for the next readiness).
//!
//! A transport is user code called with the socket's lock held, so two things are contained
//! here: a panic in it (the operation fails, [`Step::Panicked`]) and a call back into the same
//! socket from inside it (which would wait for the lock its own thread holds: the socket's entry
//! points ask [`inside_transport_of`] first and refuse).

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
    /// The transport panicked: the state of the stream is unknown.
    Panicked,
}

thread_local! {
    /// The socket (its address, see [`inside_transport_of`]) whose transport this thread is
    /// running now; 0 for none.
    static IN_TRANSPORT: Cell<usize> = const { Cell::new(0) };
}

/// Whether the calling thread is inside the custom transport of the socket identified by `id`
/// (the address of its shared state): an API call on that socket from there must be refused.
pub(crate) fn inside_transport_of(id: usize) -> bool {
    IN_TRANSPORT.try_with(|c| c.get() == id).unwrap_or(false)
}

/// The error of a call refused because it came from inside the socket's own transport.
pub(crate) fn reentered() -> io::Error {
    io::Error::new(
        io::ErrorKind::Deadlock,
        "called from inside this socket's own custom transport",
    )
}

/// Runs one transport call for socket `id`, marking the thread as inside it and containing a
/// panic (`None`).
fn call<R>(id: usize, f: impl FnOnce() -> R) -> Option<R> {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = IN_TRANSPORT.try_with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IN_TRANSPORT.with(|c| c.replace(id)));
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(_) => {
            eprintln!("asock: a custom transport panicked; the panic was contained");
            None
        }
    }
}

/// One `Transport::send` of the unsent part of the first unfinished buffer.
pub(crate) fn send(
    id: usize,
    custom: &dyn Transport,
    transport: Option<&SocketTransport>,
    op: &dyn SendOp,
) -> Step {
    let Some(sock) = transport.and_then(|t| t.socket()) else {
        return Step::Failed(io::ErrorKind::NotConnected.into());
    };
    let Some(slot) = op.slots().remaining().first().copied() else {
        // A finished send leaves its queue at once; never loop on it.
        return Step::Failed(io::Error::other("the send has no bytes left"));
    };
    // SAFETY: the slot describes the unsent bytes of the operation's own buffer, captured at
    // submission; the buffer lives (and stays put) as long as `op`, which outlives this call.
    let buf = unsafe { std::slice::from_raw_parts(slot.base, slot.len) };
    match call(id, || custom.send(sock, buf)) {
        None => Step::Panicked,
        Some(Ok(0)) => Step::Failed(io::Error::new(
            io::ErrorKind::WriteZero,
            "the custom transport wrote 0 bytes",
        )),
        Some(Ok(n)) if n > buf.len() => Step::Failed(io::Error::new(
            io::ErrorKind::InvalidData,
            "the custom transport reported more bytes than offered",
        )),
        Some(Ok(n)) => Step::Moved(n),
        Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Step::WouldBlock,
        Some(Err(e)) => Step::Failed(e),
    }
}

/// `Transport::recv` calls filling the receive's buffers in order, until a short read, an error
/// or `WouldBlock` (which, after some bytes, completes with those bytes).
pub(crate) fn recv(
    id: usize,
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
            match call(id, || custom.recv(sock, &mut buf[filled..])) {
                None => return Step::Panicked,
                Some(Ok(0)) => break,
                Some(Ok(n)) => filled += n.min(len - filled),
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(_)) if total + filled > 0 => return Step::Moved(total + filled),
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Step::WouldBlock,
                Some(Err(e)) => return Step::Failed(e),
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
