//! Backends. Each backend is a small set of files behind the same internal interface, the two
//! traits below, which its `Engine` and `SocketIo` implement (the compiler checks it:
//! [`check`]); [`shell`] implements them by refusing everything, the place a new port starts
//! from.
//!
//! A backend promises:
//! 1. a submission that returns `Ok` completes exactly once, also across close and drop;
//! 2. completions run on an engine thread, never inside the submitting call;
//! 3. a socket's receives complete in submission order, and so do its sends (and their bytes
//!    never interleave);
//! 4. `close` returns only after every pending completion has run and the socket is closed; a
//!    close from inside the socket's own completion does not wait for that completion.
//!
//! Linux (`linux/`): a pool of workers, each with its own event source, over the `epoll`
//! driver (readiness, emulating completions) or the io_uring driver (true completions), chosen
//! per engine at run time.
//! Windows (`windows/`): thread-pool I/O (`CreateThreadpoolIo`, overlapped `WSASend` /
//! `WSARecv`), exactly as the seed `SRS_ASYNC_SOCKET_WIN32_*` specifies.

use std::sync::Arc;

use crate::core::ops::{NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;
use crate::engine::{Backend, BackendChoice};
use crate::result::{CreateError, NotifyType, OpenError, SubmitErrorKind};
use crate::transport::SocketTransport;
use crate::{ExecutionEngineParameters, Transport};

/// The execution engine's side of a backend: its threads.
pub(crate) trait EngineApi: Send + Sync + Sized + 'static {
    /// Starts the threads with `params` (already checked) on the backend `choice` names;
    /// a choice this platform does not have is [`CreateError::Unsupported`].
    fn start(
        params: &ExecutionEngineParameters,
        choice: BackendChoice,
    ) -> Result<Arc<Self>, CreateError>;
    /// Which backend runs the engine.
    fn backend(&self) -> Backend;
    /// The number of threads that run completions.
    fn thread_count(&self) -> usize;
    /// Runs `job` once on one of the engine's threads.
    fn execute(&self, job: Box<dyn FnOnce() + Send>);
    /// Stops the threads: joins them, unless called from one of them, which then exits after
    /// its current work.
    fn shutdown(&self);
}

/// One async socket's side of a backend: its methods mirror the public API one for one and
/// take the platform-neutral types of [`crate::core`] (boxed operations that complete exactly
/// once, their buffers already captured and checked).
pub(crate) trait SocketApi: Send + Sync + Sized {
    /// The engine the socket runs on.
    type Engine: EngineApi;
    /// A CLOSED socket on `engine`, with `custom` in place of the system calls if given.
    fn create(
        engine: Arc<Self::Engine>,
        custom: Option<Box<dyn Transport>>,
    ) -> Result<Self, CreateError>;
    /// Where the socket is in its lifecycle.
    fn state(&self) -> SocketState;
    /// Opens the socket on `transport` (the caller refused listening transports where the
    /// contract says so); on failure the transport comes back in the error.
    fn open(&self, transport: SocketTransport) -> Result<(), OpenError>;
    /// Queues a send of `total` bytes.
    fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)>;
    /// Queues a receive.
    fn submit_recv(&self, op: Box<dyn RecvOp>) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)>;
    /// Queues a readiness notification.
    fn submit_notify(
        &self,
        io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)>;
    /// The blocking close (promise 4).
    fn close(&self);
    /// Closes on an engine thread without blocking the caller; `on_closed` runs there once the
    /// socket is CLOSED.
    fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>);
}

/// The compiler checks that this platform's backend implements the interface.
#[allow(dead_code)]
fn check() {
    fn implements<E: EngineApi, S: SocketApi<Engine = E>>() {}
    implements::<Engine, SocketIo>();
}

#[cfg(test)]
pub(crate) mod shell;

#[cfg(not(any(target_os = "linux", windows)))]
compile_error!(
    "asock has backends for Linux (epoll, io_uring) and Windows (thread-pool I/O) only: \
     src/sys/shell.rs shows what a backend for another system implements"
);

#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::{Engine, SocketIo};
#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use windows::{Engine, SocketIo};
