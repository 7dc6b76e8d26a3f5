//! Backends. Each backend is a small set of files behind the same internal interface:
//!
//! * `Engine`: the execution engine's threads. `Engine::new(&ExecutionEngineParameters)` starts
//!   them (parameters already validated);
//!   `Engine::shutdown(&Arc<Engine>)` stops them (joining them, unless called from one of them,
//!   which then exits after its current work); `Engine::thread_count()`.
//! * `SocketIo`: one async socket's I/O. Its methods mirror the public API one for one
//!   (`new(engine, custom_transport)`, `open`, `close`, `close_with(on_closed)` (close on an
//!   engine thread without blocking the caller), `submit_send`, `submit_recv`, `submit_notify`,
//!   `state`) and take the
//!   platform-neutral types of [`crate::core`] (boxed operations that complete exactly once,
//!   validated buffers). A backend promises:
//!   1. a submission that returns `Ok` completes exactly once, also across close and drop;
//!   2. completions run on an engine thread, never inside the submitting call;
//!   3. a socket's receives complete in submission order, and so do its sends (and their bytes
//!      never interleave);
//!   4. `close` returns only after every pending completion has run and the socket is closed; a
//!      close from inside the socket's own completion does not wait for that completion.
//!
//! Linux (`linux/`): a pool of workers, each with its own event source, over the `epoll`
//! driver (readiness, emulating completions) or the io_uring driver (true completions), chosen
//! per engine at run time.
//! Windows: thread-pool I/O (`CreateThreadpoolIo`, overlapped `WSASend` / `WSARecv`), exactly
//! as the seed `SRS_ASYNC_SOCKET_WIN32_*` specifies.

#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::{Engine, SocketIo};
#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use windows::{Engine, SocketIo};
