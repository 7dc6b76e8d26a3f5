//! `Listener`: accepts connections as async sockets or streams, from any executor.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use super::Socket;
use crate::engine::ExecutionEngine;
use crate::transport::SocketTransport;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as accept;
#[cfg(windows)]
mod thread;
#[cfg(windows)]
use thread as accept;

/// The backlog of [`Listener::bind`] (tokio's `TcpListener::bind` uses the same).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// A listening TCP socket that accepts connections as [`Socket`]s (or, with cargo feature
/// `tokio` or `futures-io`, as `SocketStream`s), from any executor, like tokio's
/// `TcpListener`.
///
/// # How it accepts
/// On Linux the listening socket is registered with the engine's event source (epoll, or a
/// one-shot poll on io_uring). An accept first tries a non-blocking `accept4(2)`; when no
/// connection is waiting it asks the engine to be told when the socket is readable, and the
/// engine's worker then accepts, without blocking, as many connections as there are accepts
/// waiting, and wakes them. Any number of accepts may wait at once (from several tasks
/// sharing the listener), no thread is started, and dropping the `Listener` closes the
/// listening socket before `drop` returns: its port is free again at once.
///
/// On Windows (thread-pool I/O has no readiness notification) the accepts run on one helper
/// thread per listener (named `asock-accept`) that blocks in `accept` in slices of 50 ms while
/// an accept waits; the listening socket closes within 50 ms of the drop.
///
/// Accepted connections have `TCP_NODELAY` set and are opened on the listener's engine. With
/// cargo feature `futures-io`, the listener is also a `futures_core::Stream` of
/// `io::Result<Socket>`.
///
/// # Example
/// ```
/// use asock::future::{Listener, Socket};
/// use asock::{ExecutionEngine, ReceiveResult};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = ExecutionEngine::new(None)?;
/// let listener = Listener::bind(&engine, "127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// futures::executor::block_on(async {
///     let connect = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5));
///     let (client, server) = futures::join!(connect, listener.accept());
///     let (client, (server, peer)) = (client?, server?);
///     assert!(peer.ip().is_loopback());
///     client.send(vec![b"ping".to_vec()]).await?;
///     let (r, n, bufs) = server.receive(vec![vec![0u8; 4]]).await?;
///     assert_eq!((r, &bufs[0][..n]), (ReceiveResult::Ok, &b"ping"[..]));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// # }
/// ```
pub struct Listener {
    acceptor: accept::Acceptor,
    engine: ExecutionEngine,
    local_addr: Option<SocketAddr>,
}

impl Listener {
    /// Listens on `addr` with a backlog of [`DEFAULT_BACKLOG`]: anything
    /// [`std::net::ToSocketAddrs`] takes, such as `"127.0.0.1:0"`, `"localhost:8080"`,
    /// `"[::1]:0"` or a [`SocketAddr`] (port 0: the kernel chooses; read it back with
    /// [`local_addr`](Self::local_addr)). When `addr` resolves to several addresses, the first
    /// that can be bound is used. The socket has `SO_REUSEADDR` set (unix), as tokio's has.
    ///
    /// A host name is resolved on the calling thread (`getaddrinfo(3)`, like `std`'s
    /// `TcpListener::bind`): quick for `localhost` and IP addresses.
    pub fn bind(engine: &ExecutionEngine, addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::bind_with_backlog(engine, addr, DEFAULT_BACKLOG)
    }

    /// [`bind`](Self::bind) with the given `listen(2)` backlog: how many connections the
    /// kernel queues before they are accepted (it caps the value at its `somaxconn`).
    pub fn bind_with_backlog(
        engine: &ExecutionEngine,
        addr: impl ToSocketAddrs,
        backlog: u32,
    ) -> io::Result<Self> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            let mut transport = SocketTransport::server();
            match transport.listen_on(addr, backlog) {
                Ok(()) => return Self::from_transport(engine, transport),
                Err(e) => last_error = Some(io::Error::from(e)),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to no address",
            )
        }))
    }

    /// Accepts on a listening server transport (see [`SocketTransport::listen`] and
    /// [`SocketTransport::listen_on`]). Fails when the transport is not listening.
    pub fn from_transport(
        engine: &ExecutionEngine,
        transport: SocketTransport,
    ) -> io::Result<Self> {
        if transport.socket_type() != crate::transport::SocketType::Binding {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a server transport",
            ));
        }
        let local_addr = transport.local_addr();
        if local_addr.is_none() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "not listening"));
        }
        Ok(Self {
            acceptor: accept::Acceptor::new(engine, transport)?,
            engine: engine.clone(),
            local_addr,
        })
    }

    /// The address the listener is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local_addr
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not listening"))
    }

    /// The engine accepted connections are opened on.
    pub fn engine(&self) -> &ExecutionEngine {
        &self.engine
    }

    /// Accepts one connection and opens a [`Socket`] on it: the socket and the peer's address.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection accepted for a future that was dropped waits in the listener
    /// for the next accept.
    pub async fn accept(&self) -> io::Result<(Socket, SocketAddr)> {
        let (transport, peer) = self.accept_transport().await?;
        Ok((Socket::open_on(&self.engine, transport)?, peer))
    }

    /// Accepts one connection and opens a [`SocketStream`](super::SocketStream) on it with the
    /// default [`StreamOptions`](super::StreamOptions): the stream and the peer's address.
    ///
    /// # Cancel safety
    /// As [`accept`](Self::accept).
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tokio", feature = "futures-io"))))]
    pub async fn accept_stream(&self) -> io::Result<(super::SocketStream, SocketAddr)> {
        self.accept_stream_with(super::StreamOptions::default())
            .await
    }

    /// [`accept_stream`](Self::accept_stream) with the stream's buffer sizes and options.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tokio", feature = "futures-io"))))]
    pub async fn accept_stream_with(
        &self,
        options: super::StreamOptions,
    ) -> io::Result<(super::SocketStream, SocketAddr)> {
        let (transport, peer) = self.accept_transport().await?;
        Ok((
            super::SocketStream::open_with(&self.engine, transport, options)?,
            peer,
        ))
    }

    /// Accepts one connection as a connected [`SocketTransport`] (not opened on the engine):
    /// for callers that open it themselves.
    ///
    /// # Cancel safety
    /// As [`accept`](Self::accept).
    pub fn accept_transport(&self) -> AcceptTransport<'_> {
        AcceptTransport {
            listener: self,
            id: next_waiter_id(),
        }
    }

    /// Polls for a connection: `Ready` with a [`Socket`] opened on it and the peer's address,
    /// or `Pending` after arranging for `cx`'s waker to be woken when one may be accepted.
    /// Usable from any executor (and from a hand-written `Future` or `Stream`). As with tokio's
    /// `poll_accept`, only the waker of the last `poll_accept` call is kept; the futures of
    /// [`accept`](Self::accept) each keep their own.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Socket, SocketAddr)>> {
        self.acceptor
            .poll_accept(cx, POLL_ACCEPT_ID)
            .map(|r| r.and_then(|(t, peer)| Ok((Socket::open_on(&self.engine, t)?, peer))))
    }

    /// [`poll_accept`](Self::poll_accept), opening a [`SocketStream`](super::SocketStream)
    /// with the default options.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub fn poll_accept_stream(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(super::SocketStream, SocketAddr)>> {
        self.acceptor.poll_accept(cx, POLL_ACCEPT_ID).map(|r| {
            r.and_then(|(t, peer)| Ok((super::SocketStream::open(&self.engine, t)?, peer)))
        })
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Yields every accepted connection as an opened [`Socket`]; never ends (cargo feature
/// `futures-io`).
#[cfg(feature = "futures-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
impl futures_core::Stream for Listener {
    type Item = io::Result<Socket>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Socket>>> {
        self.poll_accept(cx)
            .map(|r| Some(r.map(|(socket, _peer)| socket)))
    }
}

/// The future of [`Listener::accept_transport`]: a connected transport and the peer's
/// address. Dropping it withdraws its wait (a connection already accepted for it stays in the
/// listener for the next accept).
#[must_use = "futures do nothing unless awaited"]
pub struct AcceptTransport<'a> {
    listener: &'a Listener,
    id: u64,
}

impl Future for AcceptTransport<'_> {
    type Output = io::Result<(SocketTransport, SocketAddr)>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.acceptor.poll_accept(cx, self.id)
    }
}

impl Drop for AcceptTransport<'_> {
    fn drop(&mut self) {
        self.listener.acceptor.withdraw(self.id);
    }
}

impl fmt::Debug for AcceptTransport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptTransport").finish_non_exhaustive()
    }
}

/// The waiter id of [`Listener::poll_accept`]'s callers (one waker, replaced at each call).
const POLL_ACCEPT_ID: u64 = 0;

fn next_waiter_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// A connection accepted (as a connected transport) with the peer's address, or the error of
/// `accept`.
type Accepted = io::Result<(SocketTransport, SocketAddr)>;

/// The accepts waiting for a connection, in arrival order, each with its waker, and the
/// connections accepted for accepts that were woken and have not taken them yet.
#[derive(Default)]
struct Queue {
    ready: VecDeque<Accepted>,
    list: VecDeque<(u64, Waker)>,
}

impl Queue {
    /// A connection for waiter `id`, if one is ready (`id` then waits no more).
    fn take_ready(&mut self, id: u64) -> Option<Accepted> {
        let accepted = self.ready.pop_front()?;
        self.remove(id);
        Some(accepted)
    }

    /// Records (or refreshes) the waker of waiter `id`.
    fn register(&mut self, id: u64, waker: &Waker) {
        match self.list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => self.list.push_back((id, waker.clone())),
        }
    }

    /// Forgets waiter `id`; whether it was waiting (not yet woken).
    fn remove(&mut self, id: u64) -> bool {
        let before = self.list.len();
        self.list.retain(|(i, _)| *i != id);
        self.list.len() != before
    }

    /// The accept future of waiter `id` is dropped: if it was woken for a connection it never
    /// took, the next waiter gets the wake instead (returned, to wake once the lock is
    /// released).
    fn withdraw(&mut self, id: u64) -> Vec<Waker> {
        let was_waiting = self.remove(id);
        if !was_waiting && !self.ready.is_empty() {
            self.take(1)
        } else {
            Vec::new()
        }
    }

    /// Adds accepted connections and takes the wakers of as many of the longest-waiting
    /// accepts (to wake once the lock is released).
    fn deliver(&mut self, accepted: impl IntoIterator<Item = Accepted>) -> Vec<Waker> {
        let before = self.ready.len();
        self.ready.extend(accepted);
        self.take(self.ready.len() - before)
    }

    fn take(&mut self, n: usize) -> Vec<Waker> {
        let n = n.min(self.list.len());
        self.list.drain(..n).map(|(_, w)| w).collect()
    }

    #[cfg(target_os = "linux")]
    fn waiting(&self) -> usize {
        self.list.len()
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn wake_all(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}
