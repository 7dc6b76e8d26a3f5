//! asock: completion-style socket I/O on a shared pool of threads — the Azure c-pal
//! `async_socket` system (execution engine, socket transport, async socket) in Rust.
//!
//! * [`ExecutionEngine`]: a reference-counted pool of worker threads; every completion runs on
//!   one of them.
//! * [`SocketTransport`]: a synchronous socket wrapper: connect with a timeout, listen, accept
//!   with a timeout, vectored send and receive, local addresses; IPv4 and IPv6.
//! * [`AsyncSocket`]: opened on a connected transport; send and receive with owned
//!   scatter/gather buffers handed back in the completion, readiness notification, close.
//! * [`future`]: the same operations as futures (`.await` them on any executor), and, behind
//!   the cargo features `tokio` / `futures-io`, a byte stream implementing their `AsyncRead` /
//!   `AsyncWrite`; cargo feature `tracing` adds events for open, close and every completion.
//!
//! # The contract
//! * An operation whose submitting call returned `Ok` completes **exactly once**, on an engine
//!   thread, never inside the submitting call, also when the socket is closed or dropped first.
//!   A rejected submission hands its buffers back and calls nothing.
//! * A socket's receives complete in submission order, and so do its sends; the bytes of two
//!   sends never interleave; a send completes `Ok` only once every byte is written.
//! * `close` cancels what is pending, waits until every pending completion has run, and closes
//!   the socket; it may be called from inside a completion.
//!
//! # Backends
//! Linux: `epoll`, driven by the engine's workers (see the `sys` module docs in the source).
//! Windows: thread-pool I/O on a private pool per engine, exactly as c-pal's
//! `async_socket_win32` (`CreateThreadpoolIo`, overlapped `WSASend` / `WSARecv`); there,
//! [`AsyncSocket::with_transport`] and [`AsyncSocket::notify_io`] fail, as c-pal's do.
//!
//! # Example
//! See [`AsyncSocket`].
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod buf;
mod core;
mod engine;
pub mod future;
mod result;
mod socket;
mod sys;
mod trace;
pub mod transport;

/// Test-only fault injection and call log of the Windows backend (cargo feature
/// `fault-injection`; see the module's documentation).
#[cfg(all(windows, feature = "fault-injection"))]
pub use sys::windows::fault;

pub use crate::core::state::SocketState;
pub use buf::{IoBuf, IoBufMut, RawBuf};
pub use engine::{
    Backend, BackendChoice, ExecutionEngine, ExecutionEngineParameters, DEFAULT_MAX_THREAD_COUNT,
    DEFAULT_MIN_THREAD_COUNT,
};
pub use result::{
    CreateError, NotifyResult, NotifyType, OpenError, OpenErrorKind, OpenResult, ReceiveResult,
    SendResult, SendSyncResult, SubmitError, SubmitErrorKind,
};
pub use socket::{AsyncSocket, Transport};
pub use socket2;
pub use transport::SocketTransport;
