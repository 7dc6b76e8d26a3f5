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
//! **Linux.** An engine is one worker thread per shard ([`ExecutionEngine::thread_count`] of
//! them, the minimum thread count); each shard has an event source of its own, an io_uring ring
//! or an epoll instance ([`BackendChoice`], `ASOCK_BACKEND`), and the sockets bound to it.
//! * *Where a socket runs*: [`AsyncSocket::open`] binds the socket to the worker with the fewest
//!   sockets, or, when the other end of its loopback connection is open on the same engine, to
//!   that end's worker (a ping-pong between the two then never leaves one thread). Its
//!   readiness, I/O and completions run on that worker until it is closed
//!   ([`AsyncSocket::worker`]). A submission from another thread is handed to that worker, which
//!   it wakes only when it sleeps; a submission from inside a completion goes straight to the
//!   kernel.
//! * *What a blocking callback costs*: the callback's worker hears nothing from its other
//!   sockets while it runs. If it runs for more than about 20 ms and another worker is idle,
//!   that worker serves the stuck worker's sockets (its event source and its queue) until the
//!   callback returns; the callback's own socket waits for it. An engine whose workers are all
//!   inside blocking callbacks makes no progress until one returns: give an engine that runs
//!   blocking callbacks more threads than it will have callbacks blocked at once. The engine
//!   never grows past its minimum; the maximum thread count is checked but not needed.
//! * *Idle workers lend their shards*: a worker with nothing to do hands its shard to a worker
//!   that is awake and parks, and that worker serves both, so a lightly loaded engine does not
//!   wake several threads for its events. The shard is given back as soon as its host's turns
//!   grow long or the host is stuck in a callback. Meanwhile the lent shard's completions run
//!   on the host's thread: [`AsyncSocket::worker`] names the shard a socket is bound to, which
//!   is its worker's thread except while that shard is lent.
//!
//! **Windows.** Thread-pool I/O on a private pool per engine, as the requirements of c-pal's
//! `async_socket_win32` say (`CreateThreadpoolIo`, overlapped `WSASend` / `WSARecv`); there,
//! [`AsyncSocket::with_transport`] and [`AsyncSocket::notify_io`] fail, as c-pal's do, and a
//! closed async socket cannot be opened again. `docs/windows.md` lists the few places where
//! that backend departs from those requirements, and why.
//!
//! # Example
//! See [`AsyncSocket`].
#![cfg_attr(docsrs, feature(doc_cfg))]

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
