//! `Socket`: an async socket whose operations return futures.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::connect::Connect;
use super::op::{Cell, CloseFuture, NotifyFuture, OpFuture, ReceiveFuture, SendFuture};
use crate::buf::{IoBuf, IoBufMut};
use crate::core::state::SocketState;
use crate::engine::ExecutionEngine;
use crate::result::{CreateError, NotifyType, OpenError};
use crate::socket::AsyncSocket;
use crate::transport::SocketTransport;

/// An async socket with a futures API: [`AsyncSocket`] whose operations are awaited instead of
/// calling back.
///
/// Create it with [`new`](Self::new) and [`open`](Self::open) it on a connected
/// [`SocketTransport`], or in one step with [`open_on`](Self::open_on),
/// [`connect`](Self::connect) or [`Listener::accept`](super::Listener::accept). The callback API stays available through
/// [`as_async_socket`](Self::as_async_socket).
///
/// # Dropping
/// Dropping a `Socket` never blocks: if it is not CLOSED, the close runs on an engine thread
/// (like [`close`](Self::close), whose future is simply not awaited). Pending operations then
/// complete `Abandoned` there and their buffers are dropped there.
///
/// # Example
/// See the [module documentation](super).
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
        let socket = Self::new(engine).map_err(io::Error::from)?;
        socket.open(transport).map_err(io::Error::from)?;
        Ok(socket)
    }

    /// Connects to `host:port` within `timeout` and opens a socket on the connection, with
    /// `TCP_NODELAY` set. `host` is an IP address (`"127.0.0.1"`, `"::1"`, `"[::1]"`) or a name;
    /// each address it resolves to is tried in turn until one connects, and the error of the
    /// last one is returned when none does ([`io::ErrorKind::TimedOut`] once `timeout` has
    /// passed).
    ///
    /// On Linux the connect runs on the engine: a non-blocking `connect(2)`, then, unless it
    /// completed at once, a wait for writability on the engine's event source and `SO_ERROR`;
    /// the timeout is an engine timer. A host *name* is resolved first on a short-lived thread
    /// (`getaddrinfo(3)` blocks; an IP address needs none). On Windows the blocking
    /// [`SocketTransport::connect`] runs on a helper thread (named `asock-connect`). Either way
    /// the thread that polls the future never blocks.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the connect: a connection made afterwards is closed
    /// at once.
    ///
    /// # Example
    /// ```
    /// # use asock::{future::{Listener, Socket}, ExecutionEngine};
    /// # use std::time::Duration;
    /// # let engine = ExecutionEngine::new(None).unwrap();
    /// let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
    /// let port = listener.local_addr().unwrap().port();
    /// futures::executor::block_on(async {
    ///     let client = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5));
    ///     let (client, server) = futures::join!(client, listener.accept());
    ///     let (server, peer) = server.unwrap();
    ///     assert_eq!(client.unwrap().state(), asock::SocketState::Open);
    ///     assert_eq!(server.state(), asock::SocketState::Open);
    ///     assert!(peer.ip().is_loopback());
    /// });
    /// ```
    pub fn connect(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Connect<Socket> {
        Connect::start(
            engine,
            host,
            port,
            timeout,
            Box::new(|socket, _fd| Ok(socket)),
        )
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
    /// closing gives [`ReceiveResult::Abandoned`](crate::ReceiveResult::Abandoned) with 0 bytes, after its data.
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
