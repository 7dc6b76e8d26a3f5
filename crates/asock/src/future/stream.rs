//! `SocketStream`: a byte stream over a [`Socket`] for the poll-based I/O traits.

use std::fmt;
use std::io;
use std::mem;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use super::{connect_transport, Cell, Connect, Socket};
use crate::engine::ExecutionEngine;
use crate::result::{ReceiveResult, SendResult, SubmitErrorKind};
use crate::socket::AsyncSocket;
use crate::transport::SocketTransport;

/// Default size of the read buffer and of the write buffer.
const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A byte stream over an async socket, for the poll-based I/O traits: `tokio::io::AsyncRead`,
/// `AsyncWrite` and `AsyncBufRead` (cargo feature `tokio`), and `futures_io::AsyncRead`,
/// `AsyncWrite` and `AsyncBufRead` (cargo feature `futures-io`). With it, crates written for
/// those traits (codecs, TLS, HTTP) run over asock.
///
/// # What it costs
/// **An internal buffer on each side, and one copy of every byte.** The operating system keeps
/// using a buffer after the call that submitted it returns, but the traits lend the caller's
/// buffer only for the duration of one `poll_read` / `poll_write`. So the stream owns two
/// buffers (64 KiB each by default, see [`with_capacity`](Self::with_capacity)):
/// * reading: one receive at a time into the read buffer; `poll_read` copies out of it;
/// * writing: `poll_write` copies into the write buffer and returns `Ready(n)` at once; the
///   stream keeps at most one send in flight, and the bytes written meanwhile wait in the write
///   buffer and go out in one send as soon as the previous one completes (from the completion,
///   without waiting for the next poll). When the write buffer is full, `poll_write` returns
///   `Pending` until a send completes: at most two buffers' worth of bytes are outstanding.
///
/// The futures API of [`Socket`] moves owned buffers instead and copies nothing.
///
/// # Flushing, shutting down, dropping
/// * `poll_flush` resolves once every byte written so far has been handed to the operating
///   system (its send completed).
/// * `poll_shutdown` (tokio) and `poll_close` (futures-io) flush, then **half-close**: they shut
///   the socket down for writing (`shutdown(2)` with `SHUT_WR`; the peer reads end of stream)
///   and leave the read side working, as `TcpStream` does. [`close`](Self::close) closes both
///   directions.
/// * Dropping the stream closes the socket without blocking (see [`Socket`]): bytes written but
///   not yet flushed may be lost, so flush or shut down first.
///
/// # Reading
/// End of stream (`Ok(0)`) is reported when a receive completes `Abandoned`: the peer closed
/// the connection or reset it, or the socket was closed. A receive completing with
/// [`ReceiveResult::Error`] is reported as an error of kind [`io::ErrorKind::Other`].
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
/// let listener = Listener::bind(&engine, "127.0.0.1:0".parse()?)?;
/// let port = listener.local_addr()?.port();
/// let server = async {
///     let mut stream = listener.accept_stream().await?;
///     let mut line = Vec::new();
///     stream.read_to_end(&mut line).await?; // until the client shuts down
///     stream.write_all(&line).await?;
///     stream.shutdown().await
/// };
/// let client = async {
///     let mut stream = SocketStream::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
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
    socket: Socket,
    /// A second descriptor of the same socket, for `shutdown(SHUT_WR)` (the async socket owns
    /// its transport and offers no half-close).
    half_close: Option<socket2::Socket>,
    read: ReadSide,
    write: Arc<WriteShared>,
}

type Received = (ReceiveResult, usize, Vec<Vec<u8>>);

struct ReadSide {
    /// The read buffer while no receive is in flight (an empty `Vec` while one is).
    buf: Vec<u8>,
    capacity: usize,
    pos: usize,
    filled: usize,
    in_flight: Option<Arc<Cell<Received>>>,
    eof: bool,
}

struct WriteShared {
    socket: Weak<AsyncSocket>,
    state: Mutex<WriteState>,
}

struct WriteState {
    /// Bytes accepted by `poll_write` and not yet submitted.
    staged: Vec<u8>,
    /// The buffer of the last completed send, kept for reuse.
    spare: Vec<u8>,
    capacity: usize,
    in_flight: bool,
    /// Set once a send fails; every later write and flush reports it.
    failed: Option<(io::ErrorKind, &'static str)>,
    /// Write side shut down (no more writes).
    shut: bool,
    /// The task waiting for room or for a flush.
    waker: Option<Waker>,
}

impl SocketStream {
    /// Opens a stream on the connected `transport`, with 64 KiB buffers.
    pub fn open(engine: &ExecutionEngine, transport: SocketTransport) -> io::Result<Self> {
        Self::with_capacity(engine, transport, DEFAULT_CAPACITY, DEFAULT_CAPACITY)
    }

    /// Opens a stream on the connected `transport` with a read buffer of `read_capacity` bytes
    /// (the largest receive) and a write buffer of `write_capacity` bytes (the largest send;
    /// `poll_write` blocks once that many bytes wait behind the send in flight). Each is at least
    /// 1.
    pub fn with_capacity(
        engine: &ExecutionEngine,
        transport: SocketTransport,
        read_capacity: usize,
        write_capacity: usize,
    ) -> io::Result<Self> {
        let half_close = transport
            .socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no connected socket"))?
            .try_clone()?;
        let socket = Socket::open_on(engine, transport)?;
        let read_capacity = read_capacity.max(1);
        let write_capacity = write_capacity.max(1);
        Ok(Self {
            write: Arc::new(WriteShared {
                socket: Arc::downgrade(socket.shared()),
                state: Mutex::new(WriteState {
                    staged: Vec::with_capacity(write_capacity),
                    spare: Vec::new(),
                    capacity: write_capacity,
                    in_flight: false,
                    failed: None,
                    shut: false,
                    waker: None,
                }),
            }),
            socket,
            half_close: Some(half_close),
            read: ReadSide {
                buf: vec![0; read_capacity],
                capacity: read_capacity,
                pos: 0,
                filled: 0,
                in_flight: None,
                eof: false,
            },
        })
    }

    /// Connects to `host:port` within `timeout` (on a helper thread, as [`Socket::connect`])
    /// and opens a stream with 64 KiB buffers on the connection.
    ///
    /// # Cancel safety
    /// As [`Socket::connect`]: a connection made after the future was dropped is closed at once.
    pub fn connect(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Connect<SocketStream> {
        let engine = engine.clone();
        let host = host.to_owned();
        Connect::spawn(move || {
            let transport = connect_transport(&host, port, timeout)?;
            SocketStream::open(&engine, transport)
        })
    }

    /// The socket underneath. Operations submitted on it directly would interleave with the
    /// stream's own; use it for [`state`](Socket::state) and the like.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Flushes, then closes the socket (both directions) and waits until it is CLOSED.
    ///
    /// # Cancel safety
    /// Dropping the future before the flush finished drops the stream, which closes the socket
    /// without waiting for the flush (unflushed bytes may be lost).
    pub async fn close(mut self) -> io::Result<()> {
        let flushed = std::future::poll_fn(|cx| self.poll_flush_inner(cx)).await;
        self.socket.close().await;
        flushed
    }

    // -- reading ------------------------------------------------------------------------------

    /// The buffered bytes, receiving more first if there are none; empty at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let read = &mut self.read;
        loop {
            if read.pos < read.filled {
                return Poll::Ready(Ok(&read.buf[read.pos..read.filled]));
            }
            if read.eof {
                return Poll::Ready(Ok(&[]));
            }
            if let Some(cell) = &read.in_flight {
                let (result, n, mut bufs) = ready!(cell.poll(cx));
                read.in_flight = None;
                read.buf = bufs.pop().expect("the receive was given one buffer");
                read.pos = 0;
                read.filled = 0;
                match result {
                    ReceiveResult::Ok => read.filled = n,
                    ReceiveResult::Abandoned => read.eof = true,
                    ReceiveResult::Error => {
                        return Poll::Ready(Err(io::Error::other("asock: the receive failed")))
                    }
                }
                continue;
            }
            // Nothing buffered, nothing in flight: receive into the read buffer.
            let cell = Cell::new();
            let filler = Arc::clone(&cell);
            let mut buf = mem::take(&mut read.buf);
            if buf.len() != read.capacity {
                buf.resize(read.capacity, 0);
            }
            match self
                .socket
                .shared()
                .receive(vec![buf], move |r, n, b| filler.fill((r, n as usize, b)))
            {
                Ok(()) => read.in_flight = Some(cell),
                Err(e) => {
                    let (kind, mut bufs) = e.into_parts();
                    read.buf = bufs.pop().expect("one buffer handed back");
                    return Poll::Ready(Err(submit_error(kind)));
                }
            }
        }
    }

    fn consume_inner(&mut self, amount: usize) {
        self.read.pos = (self.read.pos + amount).min(self.read.filled);
    }

    #[cfg(feature = "futures-io")]
    fn poll_read_inner(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let src = ready!(self.poll_fill(cx))?;
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        self.consume_inner(n);
        Poll::Ready(Ok(n))
    }

    // -- writing ------------------------------------------------------------------------------

    fn poll_write_inner(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.write;
        let mut st = shared.lock();
        st.check()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = st.capacity.saturating_sub(st.staged.len());
        if room == 0 {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut taken = 0;
        for b in bufs {
            let n = b.len().min(room - taken);
            st.staged.extend_from_slice(&b[..n]);
            taken += n;
            if taken == room {
                break;
            }
        }
        if !st.in_flight {
            shared.submit(&mut st);
            if let Some((kind, what)) = st.failed {
                // Nothing of this write left: report it instead of accepting the bytes.
                return Poll::Ready(Err(io::Error::new(kind, what)));
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &self.write;
        let mut st = shared.lock();
        if let Some((kind, what)) = st.failed {
            return Poll::Ready(Err(io::Error::new(kind, what)));
        }
        if !st.in_flight && st.staged.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if !st.in_flight {
            shared.submit(&mut st);
            if let Some((kind, what)) = st.failed {
                return Poll::Ready(Err(io::Error::new(kind, what)));
            }
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_shutdown_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write.lock().shut {
            ready!(self.poll_flush_inner(cx))?;
            self.write.lock().shut = true;
            if let Some(handle) = &self.half_close {
                match handle.shutdown(Shutdown::Write) {
                    // The peer is gone already: the write side is as shut as it gets.
                    Err(e) if e.kind() != io::ErrorKind::NotConnected => {
                        return Poll::Ready(Err(e))
                    }
                    _ => {}
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl WriteShared {
    fn lock(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits the staged bytes as one send. The caller holds the lock and checked that no send
    /// is in flight. The completion may run on another thread as soon as `send` has queued it;
    /// it then waits for this lock, which is released right after.
    fn submit(self: &Arc<Self>, st: &mut WriteState) {
        let Some(socket) = self.socket.upgrade() else {
            st.failed = Some((io::ErrorKind::NotConnected, "asock: the socket is gone"));
            return;
        };
        debug_assert!(!st.in_flight && !st.staged.is_empty());
        let next = mem::take(&mut st.spare);
        let buf = mem::replace(&mut st.staged, next);
        let me = Arc::clone(self);
        match socket.send(vec![buf], move |r, bufs| me.on_sent(r, bufs)) {
            Ok(()) => st.in_flight = true,
            Err(e) => {
                let (kind, mut bufs) = e.into_parts();
                // Give the bytes back to the stage so that nothing is reported sent.
                st.staged = bufs.pop().expect("one buffer handed back");
                let io = submit_error(kind);
                st.failed = Some((io.kind(), "asock: the send was refused"));
            }
        }
        drop(socket);
    }

    /// The send completion (on an engine thread): recycle the buffer, submit what was staged
    /// meanwhile, wake the writer.
    fn on_sent(self: &Arc<Self>, result: SendResult, mut bufs: Vec<Vec<u8>>) {
        let mut st = self.lock();
        st.in_flight = false;
        match result {
            SendResult::Ok => {
                let mut buf = bufs.pop().expect("the send was given one buffer");
                buf.clear();
                st.spare = buf;
            }
            SendResult::Abandoned => {
                st.failed = Some((
                    io::ErrorKind::BrokenPipe,
                    "asock: the send was abandoned (connection reset or socket closed)",
                ))
            }
            SendResult::Error => st.failed = Some((io::ErrorKind::Other, "asock: the send failed")),
        }
        // Not after a shutdown or the stream's drop (`shut`): nothing is staged after a
        // shutdown's flush, and a dropped stream's bytes are not sent.
        if st.failed.is_none() && !st.shut && !st.staged.is_empty() {
            self.submit(&mut st);
        }
        let waker = st.waker.take();
        drop(st);
        drop(bufs);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl WriteState {
    fn check(&self) -> io::Result<()> {
        if let Some((kind, what)) = self.failed {
            return Err(io::Error::new(kind, what));
        }
        if self.shut {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "asock: the stream was shut down for writing",
            ));
        }
        Ok(())
    }
}

fn submit_error(kind: SubmitErrorKind) -> io::Error {
    match kind {
        SubmitErrorKind::NotOpen => {
            io::Error::new(io::ErrorKind::NotConnected, "asock: the socket is not open")
        }
        SubmitErrorKind::Io(e) => e,
        SubmitErrorKind::InvalidArgument(what) => io::Error::new(io::ErrorKind::InvalidInput, what),
        SubmitErrorKind::Unsupported => io::Error::new(io::ErrorKind::Unsupported, "unsupported"),
    }
}

impl fmt::Debug for SocketStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketStream")
            .field("state", &self.socket.state())
            .field("buffered", &(self.read.filled - self.read.pos))
            .finish_non_exhaustive()
    }
}

impl Drop for SocketStream {
    fn drop(&mut self) {
        // Submit nothing more and wake nobody: the writer's task is gone with the stream.
        let mut st = self.write.lock();
        st.shut = true;
        st.waker = None;
        drop(st);
        if let Some(cell) = &self.read.in_flight {
            // A receive completing later drops its buffer on the engine thread.
            drop(cell.detach());
        }
    }
}

#[cfg(feature = "tokio")]
mod tokio_impl {
    use super::*;
    use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

    /// Copies out of the read buffer (cargo feature `tokio`).
    impl AsyncRead for SocketStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let src = ready!(this.poll_fill(cx))?;
            let n = src.len().min(buf.remaining());
            buf.put_slice(&src[..n]);
            this.consume_inner(n);
            Poll::Ready(Ok(()))
        }
    }

    /// The read buffer itself (cargo feature `tokio`).
    impl AsyncBufRead for SocketStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill(cx)
        }
        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume_inner(amt)
        }
    }

    /// Copies into the write buffer; `poll_shutdown` half-closes (cargo feature `tokio`).
    impl AsyncWrite for SocketStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut()
                .poll_write_inner(cx, &[io::IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_inner(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_inner(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_inner(cx)
        }
    }
}

#[cfg(feature = "futures-io")]
mod futures_impl {
    use super::*;
    use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

    /// Copies out of the read buffer (cargo feature `futures-io`).
    impl AsyncRead for SocketStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_read_inner(cx, buf)
        }
    }

    /// The read buffer itself (cargo feature `futures-io`).
    impl AsyncBufRead for SocketStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill(cx)
        }
        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume_inner(amt)
        }
    }

    /// Copies into the write buffer; `poll_close` half-closes (cargo feature `futures-io`).
    impl AsyncWrite for SocketStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut()
                .poll_write_inner(cx, &[io::IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_inner(cx, bufs)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_inner(cx)
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_inner(cx)
        }
    }
}
