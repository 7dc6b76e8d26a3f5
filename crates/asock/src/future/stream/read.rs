//! The read side of a stream: the read buffer, the receive in flight, direct reads (Linux).

use std::io;
use std::mem;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

#[cfg(target_os = "linux")]
use super::write::is_reset;
use super::write::Shared;
use super::StreamOptions;
use crate::future::op::Cell;
use crate::result::{ReceiveResult, SubmitErrorKind};

type Received = (ReceiveResult, usize, Vec<Vec<u8>>);

/// Where a read puts its bytes: tokio's `ReadBuf` (uninitialized memory) or a plain slice.
pub(super) trait ReadDst {
    fn remaining(&self) -> usize;
    fn put(&mut self, src: &[u8]);
    /// A non-blocking `recv(2)` straight into the destination.
    #[cfg(target_os = "linux")]
    fn recv_from(&mut self, sock: &socket2::Socket) -> io::Result<usize>;
}

impl ReadDst for [u8] {
    fn remaining(&self) -> usize {
        self.len()
    }
    fn put(&mut self, src: &[u8]) {
        self[..src.len()].copy_from_slice(src);
    }
    #[cfg(target_os = "linux")]
    fn recv_from(&mut self, sock: &socket2::Socket) -> io::Result<usize> {
        io::Read::read(&mut &*sock, self)
    }
}

#[cfg(feature = "tokio")]
impl ReadDst for tokio::io::ReadBuf<'_> {
    fn remaining(&self) -> usize {
        tokio::io::ReadBuf::remaining(self)
    }
    fn put(&mut self, src: &[u8]) {
        self.put_slice(src);
    }
    #[cfg(target_os = "linux")]
    fn recv_from(&mut self, sock: &socket2::Socket) -> io::Result<usize> {
        // SAFETY: `recv` only writes into the slice, never de-initializes it.
        let n = sock.recv(unsafe { self.unfilled_mut() })?;
        // SAFETY: `recv` initialized the first `n` bytes of the unfilled part.
        unsafe { self.assume_init(n) };
        self.advance(n);
        Ok(n)
    }
}

pub(super) struct ReadSide {
    /// The read buffer (one `Vec<u8>`) while no receive is in flight; empty while one is.
    bufs: Vec<Vec<u8>>,
    pos: usize,
    filled: usize,
    /// The size of the next receive, between `min` and `max`.
    capacity: usize,
    min: usize,
    max: usize,
    /// Receives in a row that used less than half of the buffer.
    small: u8,
    /// The cell of the receive in flight, or of the last one (kept for reuse).
    cell: Option<Arc<Cell<Received>>>,
    in_flight: bool,
    eof: bool,
    /// The last read filled its buffer: more is probably waiting, so the next read tries a
    /// direct `recv` first (Linux).
    maybe_more: bool,
}

impl ReadSide {
    pub(super) fn new(options: &StreamOptions) -> Self {
        Self {
            bufs: Vec::new(),
            pos: 0,
            filled: 0,
            capacity: options.read_buffer,
            min: options.read_buffer,
            max: options.max_read_buffer,
            small: 0,
            cell: None,
            in_flight: false,
            eof: false,
            // A new connection's first bytes are often there already.
            maybe_more: cfg!(target_os = "linux"),
        }
    }

    /// Moves the state out, leaving an empty side that owns nothing.
    pub(super) fn take(&mut self) -> Self {
        let inert = Self {
            bufs: Vec::new(),
            cell: None,
            in_flight: false,
            ..*self
        };
        mem::replace(self, inert)
    }

    pub(super) fn buffered(&self) -> usize {
        self.filled - self.pos
    }

    /// The reader is gone: a receive in flight completes into nobody's hands (its buffer is
    /// dropped by the completion, on an engine thread).
    pub(super) fn detach(&mut self) {
        if let (true, Some(cell)) = (self.in_flight, self.cell.take()) {
            drop(cell.detach());
        }
        self.in_flight = false;
    }

    pub(super) fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
    }

    /// Reads into `dst`: buffered bytes first; with none, and more probably waiting, straight
    /// from the socket (Linux); else through the read buffer.
    pub(super) fn poll_read<D: ReadDst + ?Sized>(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
        dst: &mut D,
    ) -> Poll<io::Result<usize>> {
        let want = dst.remaining();
        if want == 0 {
            return Poll::Ready(Ok(0));
        }
        #[cfg(target_os = "linux")]
        if self.buffered() == 0
            && !self.in_flight
            && !self.eof
            && self.maybe_more
            && want >= self.capacity
        {
            match self.direct(shared, |sock| dst.recv_from(sock)) {
                Some(Ok(n)) => {
                    self.maybe_more = n == want;
                    return Poll::Ready(Ok(n));
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => {}
            }
        }
        let src = ready!(self.poll_fill(shared, cx))?;
        let n = src.len().min(want);
        dst.put(&src[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// A direct non-blocking read with `recv`: `None` when nothing is waiting (`maybe_more` is
    /// then cleared), `Some(Ok(0))` at end of stream.
    #[cfg(target_os = "linux")]
    fn direct(
        &mut self,
        shared: &Shared,
        mut recv: impl FnMut(&socket2::Socket) -> io::Result<usize>,
    ) -> Option<io::Result<usize>> {
        loop {
            return match recv(&shared.fd.sock()) {
                Ok(0) => {
                    self.eof = true;
                    Some(Ok(0))
                }
                Ok(n) => Some(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.maybe_more = false;
                    None
                }
                Err(e) => {
                    if is_reset(e.kind()) {
                        shared
                            .reset
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.eof = true;
                    Some(Err(e))
                }
            };
        }
    }

    /// The buffered bytes, reading more first if there are none; empty at end of stream.
    pub(super) fn poll_fill(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&[u8]>> {
        loop {
            if self.pos < self.filled {
                return Poll::Ready(Ok(&self.bufs[0][self.pos..self.filled]));
            }
            if self.eof {
                return Poll::Ready(Ok(&[]));
            }
            if self.in_flight {
                ready!(self.poll_received(shared, cx))?;
                continue;
            }
            self.size_buffer();
            #[cfg(target_os = "linux")]
            if self.maybe_more {
                let cap = self.capacity;
                let mut buf = mem::take(&mut self.bufs[0]);
                let got = self.direct(shared, |sock| io::Read::read(&mut &*sock, &mut buf));
                self.bufs[0] = buf;
                match got {
                    Some(Ok(n)) => {
                        (self.pos, self.filled) = (0, n);
                        self.maybe_more = n == cap;
                        continue;
                    }
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => {}
                }
            }
            if let Err(e) = self.submit(shared) {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// Makes the read buffer `capacity` bytes long (allocating it the first time).
    fn size_buffer(&mut self) {
        if self.bufs.is_empty() {
            self.bufs.push(Vec::new());
        }
        let buf = &mut self.bufs[0];
        if buf.len() > self.capacity {
            buf.truncate(self.capacity);
            buf.shrink_to_fit();
        } else if buf.len() < self.capacity {
            buf.resize(self.capacity, 0);
        }
    }

    /// Hands the read buffer to the engine for one receive.
    fn submit(&mut self, shared: &Shared) -> io::Result<()> {
        let mut cell = self.cell.take().unwrap_or_else(Cell::new);
        Cell::reuse(&mut cell);
        let filler = Arc::clone(&cell);
        let bufs = mem::take(&mut self.bufs);
        let submitted = shared
            .socket
            .as_async_socket()
            .receive(bufs, move |r, n, b| filler.fill((r, n as usize, b)));
        match submitted {
            Ok(()) => {
                self.cell = Some(cell);
                self.in_flight = true;
                Ok(())
            }
            Err(e) => {
                let (kind, bufs) = e.into_parts();
                self.bufs = bufs;
                Err(match kind {
                    SubmitErrorKind::NotOpen => match shared.reset_kind() {
                        Some(k) => io::Error::new(k, "asock: the connection was reset"),
                        None => io::Error::new(io::ErrorKind::NotConnected, "asock: closed"),
                    },
                    other => io::Error::from(other),
                })
            }
        }
    }

    /// Waits for the receive in flight and takes its bytes into the buffer.
    fn poll_received(&mut self, shared: &Shared, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let cell = self
            .cell
            .as_ref()
            .expect("a receive in flight has its cell");
        let (result, n, bufs) = ready!(cell.poll(cx));
        self.in_flight = false;
        self.bufs = bufs;
        (self.pos, self.filled) = (0, 0);
        match result {
            ReceiveResult::Ok => {
                self.filled = n;
                self.maybe_more = n == self.capacity;
                self.adapt(n);
                Poll::Ready(Ok(()))
            }
            ReceiveResult::Abandoned => {
                self.eof = true;
                match shared.reset_kind() {
                    Some(kind) => Poll::Ready(Err(io::Error::new(
                        kind,
                        "asock: the connection was reset by the peer",
                    ))),
                    None => Poll::Ready(Ok(())),
                }
            }
            ReceiveResult::Error => {
                self.eof = true;
                let kind = shared
                    .socket
                    .as_async_socket()
                    .failure()
                    .unwrap_or(io::ErrorKind::Other);
                Poll::Ready(Err(io::Error::new(kind, "asock: the receive failed")))
            }
        }
    }

    /// Doubles the buffer after a receive that filled it; halves it after two in a row that
    /// used less than half.
    fn adapt(&mut self, n: usize) {
        if n == self.capacity {
            self.capacity = (self.capacity * 2).min(self.max);
            self.small = 0;
        } else if n < self.capacity / 2 && self.capacity > self.min {
            self.small += 1;
            if self.small >= 2 {
                self.capacity = (self.capacity / 2).max(self.min);
                self.small = 0;
            }
        } else {
            self.small = 0;
        }
    }
}
