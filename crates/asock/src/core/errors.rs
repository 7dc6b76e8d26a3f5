//! What an I/O error means to the contract, decided in one place for every backend, the
//! transport and the byte streams.

use std::io;

/// Whether an error means the connection is gone: reset by the peer, aborted, written after
/// the peer closed (a broken pipe), or not connected (any more). A send so ended completes
/// ABANDONED on Linux, a submission refused so is NOT_OPEN, and the transport reports SHUTDOWN.
pub(crate) fn is_connection_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}
