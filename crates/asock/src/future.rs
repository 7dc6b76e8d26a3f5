//! async/await on top of the callback API: futures that need no runtime, a TCP byte stream for
//! the tokio / futures I/O traits, a listener and connects that run on the engine.
//!
//! * [`Socket`]: an [`AsyncSocket`](crate::AsyncSocket) whose [`send`](Socket::send), [`receive`](Socket::receive),
//!   [`notify`](Socket::notify) and [`close`](Socket::close) return futures. Each future
//!   resolves to the operation's result **together with the owned buffers**, exactly as the
//!   callback would have received them.
//! * `SocketStream` (cargo features `tokio` and/or `futures-io`): a TCP stream implementing
//!   `tokio::io::AsyncRead` / `AsyncWrite` / `AsyncBufRead` (feature `tokio`) and
//!   `futures_io::AsyncRead` / `AsyncWrite` / `AsyncBufRead` (feature `futures-io`), with what a
//!   user of tokio's `TcpStream` expects (addresses, `TCP_NODELAY`, socket options, owned
//!   halves, resets reported as errors); see its documentation for how bytes move.
//! * [`Listener`]: accepts connections as [`Socket`]s or `SocketStream`s with the peer's
//!   address, from any executor ([`Listener::poll_accept`]), and as a `futures_core::Stream`
//!   (feature `futures-io`). On Linux accepts and connects run on the engine's event source,
//!   with no helper thread.
//! * [`spawn`]: runs a future as a task on the engine's own workers. A completion then wakes
//!   its task on the worker it ran on, with no hand-off to another thread: the fastest way to
//!   use these futures (close to the callback API), where another executor pays two thread
//!   hand-offs per round trip.
//!
//! # hyper (and other stream protocols) on asock
//! Wrap a `SocketStream` in hyper-util's `TokioIo` and hand it to hyper (see
//! `examples/hyper_server.rs`). The fastest way is to run each connection as a task on the
//! engine's workers with [`spawn`] (the accept loop too): the receive that brings a request
//! completes on the connection's worker and polls hyper there at once, and the response goes
//! straight to the kernel from that poll (a `SocketStream` write sends directly while nothing
//! is queued), so a request costs no thread hand-off at all. Connections in tokio tasks work the
//! same but pay a hand-off per request (the completion on an engine worker wakes a task on a
//! tokio worker), which costs CPU; `asock bench --scenario P5` measures both beside hyper on
//! tokio's `TcpStream`.
//!
//! # Any executor
//! Completions run on the engine's worker threads. A future here is a oneshot cell that the
//! completion callback fills, waking the task's [`Waker`](std::task::Waker); nothing else crosses over. So the
//! futures work under tokio (multi-thread or current-thread), `futures::executor`, smol or a
//! hand-written executor, and they never block the thread that polls them.
//!
//! The price of another executor is a hand-off per completion: the completion runs on an
//! engine worker and wakes a task that runs on the executor's thread. On the P1 ping-pong of
//! `asock bench` (2 cores) the futures on tokio make a fifth to a third of the callback API's
//! round trips per second; the same futures in tasks started with [`spawn`] make about 80 % of
//! them.
//!
//! # Ownership and cancellation
//! An operation owns its buffers from submission to completion (see [`crate::buf`]). A future
//! only *waits* for the completion: dropping it does **not** cancel the operation, and never
//! frees a buffer the operating system may still read or write. The operation keeps its buffers
//! until it completes, and the completion then drops them (on an engine thread) instead of
//! handing them to the dropped future. Every method below says what a dropped future loses,
//! under `# Cancel safety`. To cancel operations, close the socket: each pending operation then
//! completes with `Abandoned`.
//!
//! Operations are submitted when the method is **called**, not when the future is first polled,
//! so two sends are written in the order of the calls, whatever order their futures are
//! awaited in.
//!
//! # Example
//! ```
//! use asock::future::Socket;
//! use asock::{ExecutionEngine, ReceiveResult, SendResult, SocketTransport};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = ExecutionEngine::new(None)?;
//! let mut listener = SocketTransport::server();
//! listener.listen_on("127.0.0.1:0".parse()?, 16)?;
//! let mut client = SocketTransport::client();
//! client.connect("127.0.0.1", listener.local_port().unwrap(), Duration::from_secs(5))?;
//! let server = listener.accept(Duration::from_secs(5))?.expect("a connection");
//! let (a, b) = (Socket::open_on(&engine, client)?, Socket::open_on(&engine, server)?);
//!
//! futures::executor::block_on(async {
//!     let (sent, _bufs) = a.send(vec![b"hello".to_vec()]).await?;
//!     assert_eq!(sent, SendResult::Ok);
//!     let (result, n, bufs) = b.receive(vec![vec![0u8; 16]]).await?;
//!     assert_eq!((result, &bufs[0][..n]), (ReceiveResult::Ok, &b"hello"[..]));
//!     a.close().await;
//!     let (result, n, _bufs) = b.receive(vec![vec![0u8; 16]]).await?;
//!     assert_eq!((result, n), (ReceiveResult::Abandoned, 0)); // the peer closed
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod connect;
mod fd;
mod listener;
mod op;
mod socket;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod stream;
mod task;

pub use connect::Connect;
pub use listener::{AcceptTransport, Listener, DEFAULT_BACKLOG};
pub use op::{CloseFuture, NotifyFuture, ReceiveFuture, SendFuture};
pub use socket::Socket;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tokio", feature = "futures-io"))))]
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReuniteError, SocketStream, StreamOptions};
pub use task::{spawn, JoinHandle};

pub(crate) use op::Cell;
