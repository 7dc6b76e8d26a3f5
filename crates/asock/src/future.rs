//! async/await on top of the callback API: futures that need no runtime, a byte stream for the
//! tokio / futures I/O traits, and a listener.
//!
//! * [`Socket`]: an [`AsyncSocket`] whose [`send`](Socket::send), [`receive`](Socket::receive),
//!   [`notify`](Socket::notify) and [`close`](Socket::close) return futures. Each future
//!   resolves to the operation's result **together with the owned buffers**, exactly as the
//!   callback would have received them.
//! * `SocketStream` (cargo features `tokio` and/or `futures-io`): a byte stream with an
//!   internal buffer on each side, implementing `tokio::io::AsyncRead` / `AsyncWrite` /
//!   `AsyncBufRead` (feature `tokio`) and `futures_io::AsyncRead` / `AsyncWrite` /
//!   `AsyncBufRead` (feature `futures-io`). It costs one copy per byte each way; see its
//!   documentation.
//! * [`Listener`]: accepts connections as [`Socket`]s or `SocketStream`s, from any executor
//!   ([`Listener::poll_accept`]), and as a `futures_core::Stream` (feature `futures-io`).
//! * [`spawn`]: runs a future as a task on the engine's own workers. A completion then wakes
//!   its task on the worker it ran on, with no hand-off to another thread: the fastest way to
//!   use these futures (close to the callback API), where another executor pays two thread
//!   hand-offs per round trip.
//!
//! # Any executor
//! Completions run on the engine's worker threads. A future here is a oneshot cell that the
//! completion callback fills, waking the task's [`Waker`]; nothing else crosses over. So the
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
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReuniteError, SocketStream, StreamOptions};
pub use task::{spawn, JoinHandle};

pub(crate) use op::Cell;
