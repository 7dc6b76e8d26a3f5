//! `Listener`: accepts connections as async sockets from any executor.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{transport_error, Socket};
use crate::engine::ExecutionEngine;
use crate::transport::{AcceptError, SocketTransport};

/// How long the helper thread blocks in one `accept` before it looks whether the listener is
/// still wanted; it bounds how long the listening socket outlives a dropped [`Listener`].
const ACCEPT_SLICE: Duration = Duration::from_millis(50);

/// A listening socket that accepts connections as [`Socket`]s (or, with cargo feature `tokio`
/// or `futures-io`, as `SocketStream`s), from any executor.
///
/// [`SocketTransport::accept`] blocks (with a timeout), so accepting runs on **one helper
/// thread per listener** (named `asock-accept`), started by the first accept. While a task
/// waits for a connection, the thread blocks in `accept` in slices of 50 ms; between waits it
/// sleeps on a condition variable. The executor thread that polls never blocks. After the
/// `Listener` is dropped, the thread ends, and closes the listening socket, within 50 ms.
///
/// Accepted connections are opened on the listener's engine. With cargo feature `futures-io`,
/// the listener is also a `futures_core::Stream` of `io::Result<Socket>`.
///
/// # Example
/// ```
/// use asock::future::{Listener, Socket};
/// use asock::{ExecutionEngine, ReceiveResult};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = ExecutionEngine::new(None)?;
/// let listener = Listener::bind(&engine, "127.0.0.1:0".parse()?)?;
/// let port = listener.local_addr()?.port();
/// futures::executor::block_on(async {
///     let connect = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5));
///     let (client, server) = futures::join!(connect, listener.accept());
///     let (client, server) = (client?, server?);
///     client.send(vec![b"ping".to_vec()]).await?;
///     let (r, n, bufs) = server.receive(vec![vec![0u8; 4]]).await?;
///     assert_eq!((r, &bufs[0][..n]), (ReceiveResult::Ok, &b"ping"[..]));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// # }
/// ```
pub struct Listener {
    shared: Arc<Shared>,
    engine: ExecutionEngine,
}

struct Shared {
    transport: SocketTransport,
    state: Mutex<State>,
    wanted: Condvar,
}

struct State {
    /// A task waits for a connection.
    demand: bool,
    /// Accepted, not yet handed out (at most one: the thread accepts only on demand).
    ready: VecDeque<Result<SocketTransport, AcceptError>>,
    waker: Option<Waker>,
    thread_started: bool,
    /// The `Listener` was dropped.
    dropped: bool,
}

impl Listener {
    /// Listens on `addr` (port 0: the kernel chooses) with a backlog of 128.
    pub fn bind(engine: &ExecutionEngine, addr: SocketAddr) -> io::Result<Self> {
        let mut transport = SocketTransport::server();
        transport.listen_on(addr, 128).map_err(transport_error)?;
        Ok(Self::from_transport(engine, transport))
    }

    /// Accepts on a listening server transport (see [`SocketTransport::listen`]).
    pub fn from_transport(engine: &ExecutionEngine, transport: SocketTransport) -> Self {
        Self {
            shared: Arc::new(Shared {
                transport,
                state: Mutex::new(State {
                    demand: false,
                    ready: VecDeque::new(),
                    waker: None,
                    thread_started: false,
                    dropped: false,
                }),
                wanted: Condvar::new(),
            }),
            engine: engine.clone(),
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared
            .transport
            .local_addr()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not listening"))
    }

    /// Accepts one connection and opens a [`Socket`] on it.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection accepted after the future was dropped waits in the listener
    /// for the next accept.
    pub async fn accept(&self) -> io::Result<Socket> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Accepts one connection and opens a [`SocketStream`](super::SocketStream) on it.
    ///
    /// # Cancel safety
    /// As [`accept`](Self::accept).
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub async fn accept_stream(&self) -> io::Result<super::SocketStream> {
        std::future::poll_fn(|cx| self.poll_accept_stream(cx)).await
    }

    /// Polls for a connection: `Ready` with a [`Socket`] opened on it, or `Pending` after
    /// arranging for `cx`'s waker to be woken when one is accepted. Usable from any executor
    /// (and from a hand-written `Future` or `Stream`). Only the waker of the last poll is woken.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Socket>> {
        self.poll_transport(cx)
            .map(|r| r.and_then(|t| Socket::open_on(&self.engine, t)))
    }

    /// [`poll_accept`](Self::poll_accept), opening a [`SocketStream`](super::SocketStream).
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub fn poll_accept_stream(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<super::SocketStream>> {
        self.poll_transport(cx)
            .map(|r| r.and_then(|t| super::SocketStream::open(&self.engine, t)))
    }

    fn poll_transport(&self, cx: &mut Context<'_>) -> Poll<io::Result<SocketTransport>> {
        let mut st = self.shared.lock();
        if let Some(accepted) = st.ready.pop_front() {
            return Poll::Ready(accepted.map_err(accept_error));
        }
        st.demand = true;
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        if !st.thread_started {
            let shared = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name("asock-accept".into())
                .spawn(move || shared.run());
            if let Err(e) = started {
                st.demand = false;
                return Poll::Ready(Err(e));
            }
            st.thread_started = true;
        }
        self.shared.wanted.notify_one();
        Poll::Pending
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The helper thread: accepts while there is demand, until the listener is dropped.
    fn run(&self) {
        let mut st = self.lock();
        loop {
            // Sleep until the listener is dropped, or a task waits and nothing is ready.
            while !(st.dropped || st.demand && st.ready.is_empty()) {
                st = self.wanted.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.dropped {
                return;
            }
            drop(st);
            let accepted = self.transport.accept(ACCEPT_SLICE);
            st = self.lock();
            let accepted = match accepted {
                Ok(None) => continue,
                Ok(Some(transport)) => Ok(transport),
                Err(e) => Err(e),
            };
            if st.dropped {
                // Nobody will take it: close it now.
                return;
            }
            st.ready.push_back(accepted);
            st.demand = false;
            if let Some(waker) = st.waker.take() {
                drop(st);
                waker.wake();
                st = self.lock();
            }
        }
    }
}

fn accept_error(e: AcceptError) -> io::Error {
    match e {
        AcceptError::PortExhaustion(inner) | AcceptError::Error(inner) => inner,
        other => io::Error::other(other),
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.dropped = true;
        st.waker = None;
        drop(st);
        self.shared.wanted.notify_all();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.shared.transport.local_addr())
            .finish()
    }
}

/// Yields every accepted connection as an opened [`Socket`]; never ends (cargo feature
/// `futures-io`).
#[cfg(feature = "futures-io")]
impl futures_core::Stream for Listener {
    type Item = io::Result<Socket>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Socket>>> {
        self.poll_accept(cx).map(Some)
    }
}
