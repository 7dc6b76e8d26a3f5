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

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::buf::{IoBuf, IoBufMut};
use crate::core::state::SocketState;
use crate::engine::ExecutionEngine;
use crate::result::{
    CreateError, NotifyResult, NotifyType, OpenError, ReceiveResult, SendResult, SubmitError,
};
use crate::socket::AsyncSocket;
use crate::transport::{SocketTransport, TransportError};

mod listener;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod stream;
mod task;

pub use listener::Listener;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub use stream::SocketStream;
pub use task::{spawn, JoinHandle};

// ---------------------------------------------------------------------------------------------
// The oneshot completion cell

/// A oneshot slot filled by a completion callback (on an engine thread) and taken by a future.
pub(crate) struct Cell<T> {
    slot: Mutex<Slot<T>>,
}

enum Slot<T> {
    /// Not completed; the waker of the task that polled last.
    Waiting(Option<Waker>),
    /// Completed, not yet taken.
    Ready(T),
    /// Taken by the future.
    Taken,
    /// The future was dropped before the completion: the completion drops the value.
    Detached,
}

impl<T> Cell<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Slot::Waiting(None)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic never happens while the slot is locked; recover anyway rather than poison.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the completion's value and wakes the waiting task, or drops the value (outside
    /// the lock) when the future is gone.
    pub(crate) fn fill(&self, value: T) {
        let mut slot = self.lock();
        match mem::replace(&mut *slot, Slot::Ready(value)) {
            Slot::Waiting(waker) => {
                drop(slot);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Slot::Detached => {
                let orphan = mem::replace(&mut *slot, Slot::Detached);
                drop(slot);
                drop(orphan);
            }
            // The callback API calls each completion exactly once.
            Slot::Ready(_) | Slot::Taken => unreachable!("an operation completed twice"),
        }
    }

    /// Takes the value if the completion has run, else remembers `cx`'s waker.
    ///
    /// # Panics
    /// When called again after it returned `Ready`.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.lock();
        match &mut *slot {
            Slot::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Ready(_) => match mem::replace(&mut *slot, Slot::Taken) {
                Slot::Ready(value) => Poll::Ready(value),
                _ => unreachable!("matched Ready above"),
            },
            Slot::Taken => panic!("an asock future was polled after it completed"),
            Slot::Detached => unreachable!("a detached cell has no future left to poll it"),
        }
    }

    /// The future is being dropped: forget its waker, and give back a value that arrived but
    /// was never taken (the caller drops it, outside the lock).
    pub(crate) fn detach(&self) -> Option<T> {
        let mut slot = self.lock();
        match mem::replace(&mut *slot, Slot::Detached) {
            Slot::Ready(value) => Some(value),
            Slot::Waiting(_) => None,
            Slot::Taken => {
                *slot = Slot::Taken;
                None
            }
            Slot::Detached => None,
        }
    }
}

/// A future over one cell, or over a synchronous rejection kept for the first poll.
struct OpFuture<T, E> {
    state: OpState<T, E>,
}

enum OpState<T, E> {
    Submitted(Arc<Cell<T>>),
    Rejected(E),
    Finished,
}

impl<T, E> OpFuture<T, E> {
    fn submitted(cell: Arc<Cell<T>>) -> Self {
        Self {
            state: OpState::Submitted(cell),
        }
    }
    fn rejected(error: E) -> Self {
        Self {
            state: OpState::Rejected(error),
        }
    }

    fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        match &self.state {
            OpState::Submitted(cell) => {
                let value = std::task::ready!(cell.poll(cx));
                self.state = OpState::Finished;
                Poll::Ready(Ok(value))
            }
            OpState::Rejected(_) => match mem::replace(&mut self.state, OpState::Finished) {
                OpState::Rejected(e) => Poll::Ready(Err(e)),
                _ => unreachable!("matched Rejected above"),
            },
            OpState::Finished => panic!("an asock future was polled after it completed"),
        }
    }

    fn is_pending(&self) -> bool {
        matches!(self.state, OpState::Submitted(_))
    }
}

impl<T, E> Drop for OpFuture<T, E> {
    fn drop(&mut self) {
        if let OpState::Submitted(cell) = &self.state {
            // A value that arrived but was never polled is dropped here, on this thread, after
            // its operation completed; otherwise the completion drops it when it runs.
            drop(cell.detach());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Socket

/// An async socket with a futures API: [`AsyncSocket`] whose operations are awaited instead of
/// calling back.
///
/// Create it with [`new`](Self::new) and [`open`](Self::open) it on a connected
/// [`SocketTransport`], or in one step with [`open_on`](Self::open_on),
/// [`connect`](Self::connect) or [`Listener::accept`]. The callback API stays available through
/// [`as_async_socket`](Self::as_async_socket).
///
/// # Dropping
/// Dropping a `Socket` never blocks: if it is not CLOSED, the close runs on an engine thread
/// (like [`close`](Self::close), whose future is simply not awaited). Pending operations then
/// complete `Abandoned` there and their buffers are dropped there.
///
/// # Example
/// See the [module documentation](self).
pub struct Socket {
    inner: Arc<AsyncSocket>,
}

impl Socket {
    /// Creates a CLOSED socket on `engine` (see [`AsyncSocket::new`]).
    pub fn new(engine: &ExecutionEngine) -> Result<Self, CreateError> {
        AsyncSocket::new(engine).map(Self::from)
    }

    /// Creates a socket on `engine` and opens it on the connected `transport`.
    ///
    /// ```
    /// # use asock::{future::Socket, ExecutionEngine, SocketTransport};
    /// # use std::time::Duration;
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// # let mut l = SocketTransport::server();
    /// # l.listen_on("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    /// let mut client = SocketTransport::client();
    /// client.connect("127.0.0.1", l.local_port().unwrap(), Duration::from_secs(5)).unwrap();
    /// let socket = Socket::open_on(&engine, client).unwrap();
    /// assert_eq!(socket.state(), asock::SocketState::Open);
    /// ```
    pub fn open_on(engine: &ExecutionEngine, transport: SocketTransport) -> io::Result<Self> {
        let socket = Self::new(engine).map_err(create_error)?;
        socket.open(transport).map_err(open_error)?;
        Ok(socket)
    }

    /// Connects to `host:port` within `timeout` and opens a socket on the connection.
    ///
    /// [`SocketTransport::connect`] blocks, so it runs on a helper thread started for this call
    /// (named `asock-connect`); the executor thread that polls the future never blocks.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the helper thread: the connection may still be made,
    /// and is then closed at once.
    ///
    /// # Example
    /// ```
    /// # use asock::{future::{Listener, Socket}, ExecutionEngine};
    /// # use std::time::Duration;
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// let listener = Listener::bind(&engine, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let port = listener.local_addr().unwrap().port();
    /// futures::executor::block_on(async {
    ///     let client = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5));
    ///     let (client, server) = futures::join!(client, listener.accept());
    ///     assert_eq!(client.unwrap().state(), asock::SocketState::Open);
    ///     assert_eq!(server.unwrap().state(), asock::SocketState::Open);
    /// });
    /// ```
    pub fn connect(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Connect<Socket> {
        let engine = engine.clone();
        let host = host.to_owned();
        Connect::spawn(move || {
            let transport = connect_transport(&host, port, timeout)?;
            Socket::open_on(&engine, transport)
        })
    }

    /// Opens the socket on a connected transport (see [`AsyncSocket::open`]). Opening never
    /// waits, so it is an ordinary call.
    pub fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        self.inner.open(transport)
    }

    /// Where the socket is in its lifecycle.
    pub fn state(&self) -> SocketState {
        self.inner.state()
    }

    /// The engine the socket runs on.
    pub fn engine(&self) -> &ExecutionEngine {
        self.inner.engine()
    }

    /// The callback API of this socket.
    pub fn as_async_socket(&self) -> &AsyncSocket {
        &self.inner
    }

    /// Sends every byte of `bufs`, in order; resolves to the result and the buffers (see
    /// [`AsyncSocket::send`]). A rejected submission (bad argument, socket not OPEN) resolves to
    /// the error, which holds the buffers.
    ///
    /// The send is submitted by this call, before the future is polled.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future does not cancel the send. The bytes may still be
    /// sent, entirely, and a later send on the socket goes out after them. What is lost is the
    /// result and the buffers, which the completion drops (on an engine thread, once the
    /// operating system no longer uses them).
    ///
    /// # Example
    /// ```
    /// # use asock::{future::Socket, ExecutionEngine, SendResult, SocketTransport};
    /// # fn pair(e: &ExecutionEngine) -> (Socket, Socket) {
    /// #     let mut l = SocketTransport::server();
    /// #     l.listen_on("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    /// #     let mut c = SocketTransport::client();
    /// #     c.connect("127.0.0.1", l.local_port().unwrap(), std::time::Duration::from_secs(5)).unwrap();
    /// #     let s = l.accept(std::time::Duration::from_secs(5)).unwrap().unwrap();
    /// #     (Socket::open_on(e, c).unwrap(), Socket::open_on(e, s).unwrap())
    /// # }
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// # let (socket, _peer) = pair(&engine);
    /// let (result, bufs) = futures::executor::block_on(
    ///     socket.send(vec![b"head".to_vec(), b"body".to_vec()]),
    /// )
    /// .unwrap();
    /// assert_eq!(result, SendResult::Ok);
    /// assert_eq!(bufs, [b"head".to_vec(), b"body".to_vec()]); // handed back
    ///
    /// let rejected = futures::executor::block_on(socket.send(Vec::<Vec<u8>>::new()));
    /// assert!(rejected.is_err()); // no buffers: an argument error
    /// ```
    pub fn send<B: IoBuf>(&self, bufs: Vec<B>) -> SendFuture<B> {
        let cell = Cell::new();
        let filler = Arc::clone(&cell);
        let op = match self.inner.send(bufs, move |r, b| filler.fill((r, b))) {
            Ok(()) => OpFuture::submitted(cell),
            Err(e) => OpFuture::rejected(e),
        };
        SendFuture { op }
    }

    /// Receives into `bufs`, filled in order; resolves as soon as at least one byte arrived, to
    /// the result, the number of bytes and the buffers (see [`AsyncSocket::receive`]). The peer
    /// closing gives [`ReceiveResult::Abandoned`] with 0 bytes, after its data.
    ///
    /// The receive is submitted by this call, before the future is polled.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future does not cancel the receive. The next bytes to
    /// arrive are still received into its buffers and are then **lost**, together with the
    /// buffers (dropped by the completion, on an engine thread). Keep the future (or close the
    /// socket) rather than drop it where data matters, for instance in a `select!` loop.
    ///
    /// # Example
    /// ```
    /// # use asock::{future::Socket, ExecutionEngine, ReceiveResult, SocketTransport};
    /// # fn pair(e: &ExecutionEngine) -> (Socket, Socket) {
    /// #     let mut l = SocketTransport::server();
    /// #     l.listen_on("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    /// #     let mut c = SocketTransport::client();
    /// #     c.connect("127.0.0.1", l.local_port().unwrap(), std::time::Duration::from_secs(5)).unwrap();
    /// #     let s = l.accept(std::time::Duration::from_secs(5)).unwrap().unwrap();
    /// #     (Socket::open_on(e, c).unwrap(), Socket::open_on(e, s).unwrap())
    /// # }
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// # let (a, b) = pair(&engine);
    /// futures::executor::block_on(async {
    ///     a.send(vec![b"abcdef".to_vec()]).await.unwrap();
    ///     // Two buffers of 3 bytes: filled in order, like readv.
    ///     let mut got = Vec::new();
    ///     while got.len() < 6 {
    ///         let (r, n, bufs) = b.receive(vec![[0u8; 3], [0u8; 3]]).await.unwrap();
    ///         assert_eq!(r, ReceiveResult::Ok);
    ///         got.extend(bufs.concat().into_iter().take(n));
    ///     }
    ///     assert_eq!(got, b"abcdef");
    /// });
    /// ```
    pub fn receive<B: IoBufMut>(&self, bufs: Vec<B>) -> ReceiveFuture<B> {
        let cell = Cell::new();
        let filler = Arc::clone(&cell);
        let op = match self
            .inner
            .receive(bufs, move |r, n, b| filler.fill((r, n as usize, b)))
        {
            Ok(()) => OpFuture::submitted(cell),
            Err(e) => OpFuture::rejected(e),
        };
        ReceiveFuture { op }
    }

    /// Resolves once the socket is readable ([`NotifyType::In`]) or writable
    /// ([`NotifyType::Out`]), see [`AsyncSocket::notify_io`]. Nothing is read or written.
    /// Rejected with [`SubmitErrorKind::Unsupported`](crate::SubmitErrorKind::Unsupported) on
    /// Windows.
    ///
    /// The notification is requested by this call, before the future is polled.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future loses nothing but the notification.
    ///
    /// # Example
    /// ```
    /// # use asock::{future::Socket, ExecutionEngine, NotifyResult, NotifyType, SocketTransport};
    /// # fn pair(e: &ExecutionEngine) -> (Socket, Socket) {
    /// #     let mut l = SocketTransport::server();
    /// #     l.listen_on("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    /// #     let mut c = SocketTransport::client();
    /// #     c.connect("127.0.0.1", l.local_port().unwrap(), std::time::Duration::from_secs(5)).unwrap();
    /// #     let s = l.accept(std::time::Duration::from_secs(5)).unwrap().unwrap();
    /// #     (Socket::open_on(e, c).unwrap(), Socket::open_on(e, s).unwrap())
    /// # }
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// # let (socket, _peer) = pair(&engine);
    /// # #[cfg(not(windows))]
    /// assert_eq!(
    ///     futures::executor::block_on(socket.notify(NotifyType::Out)).unwrap(),
    ///     NotifyResult::Out
    /// );
    /// ```
    pub fn notify(&self, io_type: NotifyType) -> NotifyFuture {
        let cell = Cell::new();
        let filler = Arc::clone(&cell);
        let op = match self.inner.notify_io(io_type, move |r| filler.fill(r)) {
            Ok(()) => OpFuture::submitted(cell),
            Err(e) => OpFuture::rejected(e),
        };
        NotifyFuture { op }
    }

    /// Closes the socket without blocking (built on [`AsyncSocket::close_with`]): every pending
    /// operation completes `Abandoned` (its future resolves), then the future resolves with the
    /// socket CLOSED. It may be opened again afterwards. Closing a CLOSED socket resolves too.
    ///
    /// The close starts with this call, before the future is polled.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future does not stop the close, it only stops waiting for it.
    ///
    /// # Example
    /// ```
    /// # use asock::{future::Socket, ExecutionEngine, SocketState, SocketTransport};
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// # let mut l = SocketTransport::server();
    /// # l.listen_on("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    /// # let mut c = SocketTransport::client();
    /// # c.connect("127.0.0.1", l.local_port().unwrap(), std::time::Duration::from_secs(5)).unwrap();
    /// let socket = Socket::open_on(&engine, c).unwrap();
    /// let pending = socket.receive(vec![vec![0u8; 8]]);
    /// futures::executor::block_on(async {
    ///     socket.close().await;
    ///     assert_eq!(socket.state(), SocketState::Closed);
    ///     let (result, n, _bufs) = pending.await.unwrap();
    ///     assert_eq!((result, n), (asock::ReceiveResult::Abandoned, 0));
    /// });
    /// ```
    pub fn close(&self) -> CloseFuture {
        let cell = Cell::new();
        let filler = Arc::clone(&cell);
        self.inner.close_with(move || filler.fill(()));
        CloseFuture {
            op: OpFuture::submitted(cell),
        }
    }

    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn shared(&self) -> &Arc<AsyncSocket> {
        &self.inner
    }
}

impl From<AsyncSocket> for Socket {
    fn from(socket: AsyncSocket) -> Self {
        Self {
            inner: Arc::new(socket),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.inner.state() == SocketState::Closed {
            // Nothing to wait for: `AsyncSocket`'s own drop returns at once. (Only this owner
            // could open it again, and it is being dropped.)
            return;
        }
        // Close on an engine thread, and release the socket there once it is CLOSED, so that
        // `AsyncSocket`'s blocking drop finds nothing left to wait for.
        let keep = Arc::clone(&self.inner);
        self.inner.close_with(move || drop(keep));
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("state", &self.state())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// The futures

/// The future of [`Socket::send`]: the result and the buffers, or the rejection (holding the
/// buffers).
#[must_use = "the send is submitted already; the future only waits for its result"]
pub struct SendFuture<B> {
    op: OpFuture<(SendResult, Vec<B>), SubmitError<Vec<B>>>,
}

impl<B> SendFuture<B> {
    /// `true` until the future has resolved, unless the submission was rejected.
    pub fn is_submitted(&self) -> bool {
        self.op.is_pending()
    }
}

// Never pinned structurally: the buffers are only moved, never pinned in place.
impl<B> Unpin for SendFuture<B> {}

impl<B> Future for SendFuture<B> {
    type Output = Result<(SendResult, Vec<B>), SubmitError<Vec<B>>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl<B> fmt::Debug for SendFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::receive`]: the result, the number of bytes received and the
/// buffers, or the rejection (holding the buffers).
#[must_use = "the receive is submitted already; dropping the future loses the data it receives"]
pub struct ReceiveFuture<B> {
    op: OpFuture<(ReceiveResult, usize, Vec<B>), SubmitError<Vec<B>>>,
}

impl<B> ReceiveFuture<B> {
    /// `true` until the future has resolved, unless the submission was rejected.
    pub fn is_submitted(&self) -> bool {
        self.op.is_pending()
    }
}

// Never pinned structurally: the buffers are only moved, never pinned in place.
impl<B> Unpin for ReceiveFuture<B> {}

impl<B> Future for ReceiveFuture<B> {
    type Output = Result<(ReceiveResult, usize, Vec<B>), SubmitError<Vec<B>>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl<B> fmt::Debug for ReceiveFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::notify`].
#[must_use = "futures do nothing unless awaited"]
pub struct NotifyFuture {
    op: OpFuture<NotifyResult, SubmitError<()>>,
}

impl Future for NotifyFuture {
    type Output = Result<NotifyResult, SubmitError<()>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl fmt::Debug for NotifyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::close`]: resolves once the socket is CLOSED.
#[must_use = "the close has started already; the future only waits for it"]
pub struct CloseFuture {
    op: OpFuture<(), std::convert::Infallible>,
}

impl Future for CloseFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().op.poll_op(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for CloseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::connect`] and `SocketStream::connect`: a connect made on a helper
/// thread.
#[must_use = "futures do nothing unless awaited"]
pub struct Connect<T> {
    op: OpFuture<io::Result<T>, io::Error>,
}

impl<T: Send + 'static> Connect<T> {
    fn spawn(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> Self {
        let cell = Cell::new();
        let filler = Arc::clone(&cell);
        let spawned = std::thread::Builder::new()
            .name("asock-connect".into())
            .spawn(move || filler.fill(work()));
        let op = match spawned {
            Ok(_) => OpFuture::submitted(cell),
            Err(e) => OpFuture::rejected(e),
        };
        Self { op }
    }
}

impl<T> Future for Connect<T> {
    type Output = io::Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.get_mut().op.poll_op(cx).map(|r| r.and_then(|r| r))
    }
}

impl<T> fmt::Debug for Connect<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect").finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Error conversions for the io-flavoured entry points

fn connect_transport(host: &str, port: u16, timeout: Duration) -> io::Result<SocketTransport> {
    let mut transport = SocketTransport::client();
    transport
        .connect(host, port, timeout)
        .map_err(transport_error)?;
    Ok(transport)
}

pub(crate) fn transport_error(e: TransportError) -> io::Error {
    match e {
        TransportError::Io(e) => e,
        TransportError::InvalidArg(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
        other => io::Error::other(other),
    }
}

pub(crate) fn create_error(e: CreateError) -> io::Error {
    match e {
        CreateError::Io(e) => e,
        other => io::Error::other(other),
    }
}

pub(crate) fn open_error(e: OpenError) -> io::Error {
    match e.kind() {
        crate::OpenErrorKind::Io(inner) => io::Error::new(inner.kind(), e),
        crate::OpenErrorKind::InvalidTransport => io::Error::new(io::ErrorKind::NotConnected, e),
        crate::OpenErrorKind::NotClosed => io::Error::other(e),
    }
}
