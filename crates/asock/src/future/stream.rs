//! `SocketStream`: a TCP byte stream over an async socket for the poll-based I/O traits.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::connect::Connect;
use super::fd::Fd;
use super::Socket;
use crate::core::state::SocketState;
use crate::engine::ExecutionEngine;
use crate::transport::SocketTransport;

mod io_impls;
mod read;
mod write;

use read::ReadSide;
use write::Shared;

/// Buffer sizes and options of a [`SocketStream`], given where a stream is made:
/// [`SocketStream::open_with`], [`SocketStream::connect_with`],
/// [`Listener::accept_stream_with`](super::Listener::accept_stream_with).
///
/// ```
/// use asock::future::StreamOptions;
/// let options = StreamOptions::new().read_buffer(16 * 1024).write_buffer(256 * 1024);
/// assert_eq!(options.read_buffer_size(), 16 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    read_buffer: usize,
    max_read_buffer: usize,
    write_buffer: usize,
    nodelay: bool,
}

impl StreamOptions {
    /// The defaults: a 256-byte read buffer that grows up to 64 KiB, a write buffer of at most
    /// 64 KiB, `TCP_NODELAY` on.
    ///
    /// The read buffer starts small because it is what a connection waiting for data holds
    /// (an idle keep-alive connection of a server waits all the time): it only has to catch
    /// the first bytes, since a read that filled it is followed by reads straight into the
    /// caller's buffer (Linux), and it doubles while receives fill it.
    pub const fn new() -> Self {
        Self {
            read_buffer: 256,
            max_read_buffer: 64 * 1024,
            write_buffer: 64 * 1024,
            nodelay: true,
        }
    }

    /// The read buffer's first size (at least 1): what a receive waiting for data holds,
    /// hence most of what an idle connection costs. It doubles, up to
    /// [`max_read_buffer`](Self::max_read_buffer), each time a receive fills it, and halves
    /// again after receives that use less than half of it. Raised to the maximum if above it.
    pub const fn read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = if bytes == 0 { 1 } else { bytes };
        if self.max_read_buffer < self.read_buffer {
            self.max_read_buffer = self.read_buffer;
        }
        self
    }

    /// The largest the read buffer grows to (at least its first size).
    pub const fn max_read_buffer(mut self, bytes: usize) -> Self {
        self.max_read_buffer = if bytes < self.read_buffer {
            self.read_buffer
        } else {
            bytes
        };
        self
    }

    /// The most bytes that wait in the write buffer (at least 1), where bytes go that the
    /// kernel's send buffer cannot take at once: `poll_write` returns `Pending` while it is
    /// full. It is allocated only when needed, and released when it was larger than the read
    /// buffer's first size and is empty again.
    pub const fn write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = if bytes == 0 { 1 } else { bytes };
        self
    }

    /// Whether `TCP_NODELAY` is set (default `true`; see [`SocketStream::set_nodelay`]).
    pub const fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// The read buffer's first size.
    pub const fn read_buffer_size(&self) -> usize {
        self.read_buffer
    }

    /// The read buffer's largest size.
    pub const fn max_read_buffer_size(&self) -> usize {
        self.max_read_buffer
    }

    /// The write buffer's largest size.
    pub const fn write_buffer_size(&self) -> usize {
        self.write_buffer
    }
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP byte stream over an async socket, for the poll-based I/O traits:
/// `tokio::io::AsyncRead`, `AsyncWrite` and `AsyncBufRead` (cargo feature `tokio`), and
/// `futures_io::AsyncRead`, `AsyncWrite` and `AsyncBufRead` (cargo feature `futures-io`). With
/// it, crates written for those traits (hyper, tokio-rustls, codecs) run over asock, on any
/// executor, like tokio's `TcpStream`: [`peer_addr`](Self::peer_addr),
/// [`local_addr`](Self::local_addr), [`set_nodelay`](Self::set_nodelay) (`TCP_NODELAY` is on
/// by default), the other options through [`socket2`](Self::socket2), and
/// [`into_split`](Self::into_split) into halves for two tasks.
///
/// # How bytes move
/// The traits lend the caller's buffer only for one call, while the engine keeps using a
/// buffer until its operation completes, so the stream owns a buffer on each side; on Linux it
/// also makes the non-blocking system calls itself where that saves a copy or a wake-up:
/// * **writing** (Linux): `poll_write` sends straight from the caller's bytes
///   (`sendmsg(2)`, non-blocking) while nothing waits in the write buffer, and returns what
///   the kernel took: no copy, no completion to wait for, and `poll_flush` has nothing to do.
///   What the kernel cannot take at once is copied into the write buffer and sent by the engine
///   when the socket is writable again, and later writes queue behind it, so the order holds.
///   While the write buffer is full (see [`StreamOptions::write_buffer`]), `poll_write` returns
///   `Pending`. On Windows every write goes through the write buffer and the engine.
/// * **reading**: a read that finds no data hands the engine a receive into the read buffer (a
///   small one: see [`StreamOptions::read_buffer`]), and `poll_read` copies out of it once it
///   completes. After a read that filled its buffer, where more is likely waiting, the next read
///   (Linux) first tries `recv(2)` straight into the caller's buffer.
///
/// # Errors
/// A connection reset by the peer reads as an error of kind [`io::ErrorKind::ConnectionReset`]
/// (then end of stream), the peer's orderly close as end of stream (`Ok(0)`); on Windows,
/// whose backend keeps no error for a failed receive, a reset reads as end of stream. A write
/// after the connection failed reports [`io::ErrorKind::BrokenPipe`] or
/// [`io::ErrorKind::ConnectionReset`], and so does every later write and flush.
///
/// # Flushing, shutting down, dropping
/// * Bytes that `poll_write` accepted are delivered unless the connection fails, also when
///   the stream is dropped without a flush: a drop hands what is still in the write buffer to
///   the engine, which finishes sending it and then closes the socket (on Linux after at most
///   60 s: a peer that stops reading cannot keep the socket forever). Dropping never blocks.
/// * `poll_flush` resolves once every accepted byte has been handed to the kernel.
/// * `poll_shutdown` (tokio) and `poll_close` (futures-io) flush, then **half-close**: they shut
///   the socket down for writing (`shutdown(2)` with `SHUT_WR`; the peer reads end of stream)
///   and leave the read side working, as `TcpStream` does. [`close`](Self::close) closes both
///   directions.
///
/// # Example
/// ```
/// # #[cfg(feature = "tokio")]
/// # {
/// use asock::future::{Listener, SocketStream};
/// use asock::ExecutionEngine;
/// use std::time::Duration;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let engine = ExecutionEngine::new(None)?;
/// let listener = Listener::bind(&engine, "127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let server = async {
///     let (mut stream, _peer) = listener.accept_stream().await?;
///     let mut line = Vec::new();
///     stream.read_to_end(&mut line).await?; // until the client shuts down
///     stream.write_all(&line).await?;
///     stream.shutdown().await
/// };
/// let client = async {
///     let mut stream = SocketStream::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
///     assert!(stream.nodelay()?);
///     stream.write_all(b"hello").await?;
///     stream.shutdown().await?; // half-close: the server sees end of stream
///     let mut echo = String::new();
///     stream.read_to_string(&mut echo).await?;
///     Ok::<_, std::io::Error>(echo)
/// };
/// let (served, echo) = tokio::join!(server, client);
/// served?;
/// assert_eq!(echo?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # }
/// ```
pub struct SocketStream {
    read: ReadSide,
    shared: Arc<Shared>,
    /// Split or closed: the parts live on elsewhere, the drop does nothing.
    moved: bool,
}

impl SocketStream {
    /// Opens a stream on the connected `transport` with the default [`StreamOptions`].
    pub fn open(engine: &ExecutionEngine, transport: SocketTransport) -> io::Result<Self> {
        Self::open_with(engine, transport, StreamOptions::default())
    }

    /// Opens a stream on the connected `transport` with read and write buffers of at most
    /// `read_capacity` and `write_capacity` bytes (each at least 1; the read buffer starts at
    /// `read_capacity` too).
    pub fn with_capacity(
        engine: &ExecutionEngine,
        transport: SocketTransport,
        read_capacity: usize,
        write_capacity: usize,
    ) -> io::Result<Self> {
        let options = StreamOptions::new()
            .max_read_buffer(read_capacity)
            .read_buffer(read_capacity)
            .max_read_buffer(read_capacity)
            .write_buffer(write_capacity);
        Self::open_with(engine, transport, options)
    }

    /// Opens a stream on the connected `transport` with `options`.
    pub fn open_with(
        engine: &ExecutionEngine,
        transport: SocketTransport,
        options: StreamOptions,
    ) -> io::Result<Self> {
        // SAFETY: kept in the stream's `Shared`, next to the socket that owns the descriptor
        // and closes it only once no handle of the stream is left (see `Shared`).
        let fd = unsafe { Fd::of(&transport) }
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no connected socket"))?;
        let socket = Socket::open_on(engine, transport)?;
        Ok(Self::from_parts(socket, fd, options))
    }

    /// The stream of a connected, opened socket and its descriptor.
    fn from_parts(socket: Socket, fd: Fd, options: StreamOptions) -> Self {
        if !options.nodelay {
            let _ = fd.sock().set_tcp_nodelay(false);
        }
        Self {
            read: ReadSide::new(&options),
            shared: Shared::new(socket, fd, &options),
            moved: false,
        }
    }

    /// Connects to `host:port` within `timeout` (through the engine, as [`Socket::connect`])
    /// and opens a stream with the default [`StreamOptions`] on the connection.
    ///
    /// # Cancel safety
    /// As [`Socket::connect`]: a connection made after the future was dropped is closed at once.
    pub fn connect(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Connect<SocketStream> {
        Self::connect_with(engine, host, port, timeout, StreamOptions::default())
    }

    /// [`connect`](Self::connect) with the stream's buffer sizes and options.
    pub fn connect_with(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
        options: StreamOptions,
    ) -> Connect<SocketStream> {
        let make = Box::new(move |socket, fd| Ok(Self::from_parts(socket, fd, options)));
        Connect::start(engine, host, port, timeout, make)
    }

    /// Where the socket underneath is in its lifecycle (OPEN until the stream is closed).
    pub fn state(&self) -> SocketState {
        self.shared.socket.state()
    }

    /// The engine the stream runs on.
    pub fn engine(&self) -> &ExecutionEngine {
        self.shared.socket.engine()
    }

    /// The address of the peer (`getpeername(2)`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.peer_addr()
    }

    /// The local address (`getsockname(2)`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.local_addr()
    }

    /// Sets `TCP_NODELAY` (on by default: small writes go out at once rather than waiting for
    /// the peer's acknowledgement, as a request-response protocol wants).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.shared.fd.sock().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.shared.fd.sock().tcp_nodelay()
    }

    /// The socket, borrowed, for the options `socket2` offers (`set_linger`, `set_ttl`,
    /// `set_keepalive`, buffer sizes, ...). Do not change its blocking mode, shut it down or
    /// read or write through it: the stream relies on doing that itself.
    pub fn socket2(&self) -> socket2::SockRef<'_> {
        self.shared.fd.sock()
    }

    /// Splits the stream into a read half and a write half that may be used (and dropped) on
    /// different tasks or threads, like tokio's `TcpStream::into_split`. Dropping the write
    /// half shuts the write side down (`SHUT_WR`) once its bytes are sent; the socket closes
    /// when both halves are gone. [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(mut self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let read = self.read.take();
        let shared = Arc::clone(&self.shared);
        self.moved = true;
        drop(self);
        (
            OwnedReadHalf {
                read,
                shared: Arc::clone(&shared),
                moved: false,
            },
            OwnedWriteHalf {
                shared,
                moved: false,
            },
        )
    }

    /// Flushes, then closes the socket (both directions) and waits until it is CLOSED.
    ///
    /// # Cancel safety
    /// Dropping the future before the flush finished drops the stream, which finishes sending
    /// in the background (see the type's documentation).
    pub async fn close(mut self) -> io::Result<()> {
        let flushed = std::future::poll_fn(|cx| self.shared.poll_flush(cx)).await;
        self.read.detach();
        self.moved = true;
        let shared = Arc::clone(&self.shared);
        drop(self);
        shared.socket.close().await;
        flushed
    }
}

impl Drop for SocketStream {
    fn drop(&mut self) {
        if self.moved {
            return;
        }
        self.read.detach();
        self.shared.reader_gone();
        self.shared.writer_gone(false);
    }
}

impl fmt::Debug for SocketStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketStream")
            .field("state", &self.state())
            .field("buffered", &self.read.buffered())
            .finish_non_exhaustive()
    }
}

/// The read half of a [`SocketStream`] ([`SocketStream::into_split`]): `AsyncRead` and
/// `AsyncBufRead`.
pub struct OwnedReadHalf {
    read: ReadSide,
    shared: Arc<Shared>,
    moved: bool,
}

/// The write half of a [`SocketStream`] ([`SocketStream::into_split`]): `AsyncWrite`. Dropping
/// it shuts the write side down once its bytes are sent, as `poll_shutdown` does.
pub struct OwnedWriteHalf {
    shared: Arc<Shared>,
    moved: bool,
}

/// [`OwnedReadHalf::reunite`] was given halves of two different streams; they are handed back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves are not of the same stream")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.local_addr()
    }

    /// Puts the two halves of one stream back together.
    pub fn reunite(mut self, mut write: OwnedWriteHalf) -> Result<SocketStream, ReuniteError> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        let read = self.read.take();
        self.moved = true;
        write.moved = true;
        Ok(SocketStream {
            read,
            shared: Arc::clone(&write.shared),
            moved: false,
        })
    }
}

impl Drop for OwnedReadHalf {
    fn drop(&mut self) {
        if self.moved {
            return;
        }
        self.read.detach();
        self.shared.reader_gone();
    }
}

impl OwnedWriteHalf {
    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.local_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.moved {
            return;
        }
        self.shared.writer_gone(true);
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf")
            .field("buffered", &self.read.buffered())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf").finish_non_exhaustive()
    }
}
