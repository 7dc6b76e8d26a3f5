//! The write side of a stream and what both halves share.
//!
//! `Shared` owns the socket. Every handle of the stream (the stream, or its two halves) holds a
//! reference, and so does each send in flight, so a stream dropped with bytes still to send
//! lives on until the engine has sent them; the socket is closed when the last reference goes
//! (a [`Socket`]'s drop: on an engine thread, without blocking).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::StreamOptions;
use crate::core::poison::unpoisoned;
use crate::future::fd::Fd;
use crate::future::Socket;
use crate::result::{SendResult, SubmitErrorKind};
use crate::SocketState;

/// How long a dropped stream may take to send what its write buffer held before the socket is
/// closed regardless (Linux; the peer stopped reading).
#[cfg(target_os = "linux")]
const DROP_LINGER: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) struct Shared {
    write: Mutex<WriteState>,
    /// A direct send saw the connection reset (the kernel reports that once): the read side
    /// reports it too instead of a clean end of stream.
    pub(super) reset: AtomicBool,
    pub(super) fd: Fd,
    /// Declared last: the socket (the descriptor's owner) outlives every use of `fd`.
    pub(super) socket: Socket,
}

struct WriteState {
    /// Bytes accepted and not yet handed to the engine.
    staged: Vec<u8>,
    /// The buffers of the last completed send, kept for reuse (one `Vec<u8>` inside).
    spare: Vec<Vec<u8>>,
    capacity: usize,
    /// Staging buffers up to this size are kept for reuse; larger ones are released when
    /// they empty.
    keep: usize,
    in_flight: bool,
    /// Set once a send fails; every later write and flush reports it.
    failed: Option<io::ErrorKind>,
    /// Shut down for writing (no more writes).
    shut: bool,
    /// The writer was dropped: no task waits any more, but what is staged is still sent.
    writer_gone: bool,
    /// The write half was dropped while bytes were staged: shut down once they are sent.
    shutdown_when_sent: bool,
    reader_gone: bool,
    /// The task waiting for room or for a flush.
    waker: Option<Waker>,
}

impl WriteState {
    fn check(&self) -> io::Result<()> {
        if let Some(kind) = self.failed {
            return Err(failed(kind));
        }
        if self.shut {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "asock: the stream was shut down for writing",
            ));
        }
        Ok(())
    }

    fn busy(&self) -> bool {
        self.in_flight || !self.staged.is_empty()
    }
}

fn failed(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "asock: the connection failed")
}

/// Whether `kind` means the peer reset or aborted the connection.
pub(super) fn is_reset(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

impl Shared {
    pub(super) fn new(socket: Socket, fd: Fd, options: &StreamOptions) -> Arc<Self> {
        Arc::new(Self {
            write: Mutex::new(WriteState {
                staged: Vec::new(),
                spare: Vec::new(),
                capacity: options.write_buffer,
                keep: options.read_buffer.min(options.write_buffer),
                in_flight: false,
                failed: None,
                shut: false,
                writer_gone: false,
                shutdown_when_sent: false,
                reader_gone: false,
                waker: None,
            }),
            reset: AtomicBool::new(false),
            fd,
            socket,
        })
    }

    fn lock(&self) -> MutexGuard<'_, WriteState> {
        unpoisoned(self.write.lock())
    }

    pub(super) fn peer_addr(&self) -> io::Result<SocketAddr> {
        as_inet(self.fd.sock().peer_addr()?)
    }

    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        as_inet(self.fd.sock().local_addr()?)
    }

    /// The error kind the socket's last failed operation saw, if it was a reset; or one a
    /// direct send saw.
    pub(super) fn reset_kind(&self) -> Option<io::ErrorKind> {
        if self.reset.load(Relaxed) {
            return Some(io::ErrorKind::ConnectionReset);
        }
        self.socket
            .as_async_socket()
            .failure()
            .filter(|k| is_reset(*k))
    }

    // -- writing ------------------------------------------------------------------------------

    pub(super) fn poll_write(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut st = self.lock();
        st.check()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut sent = 0;
        if !st.busy() {
            match self.send_now(bufs) {
                Ok(n) if n == total => return Poll::Ready(Ok(n)),
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.failed = Some(e.kind());
                    return Poll::Ready(Err(e));
                }
            }
        }
        // The kernel took `sent` bytes (it is full now): stage what follows, up to the room.
        let room = st.capacity.saturating_sub(st.staged.len());
        if room == 0 {
            if sent > 0 {
                return Poll::Ready(Ok(sent));
            }
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let before = st.staged.len();
        let mut skip = sent;
        let mut taken = 0;
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            let n = (b.len() - skip).min(room - taken);
            st.staged.extend_from_slice(&b[skip..skip + n]);
            skip = 0;
            taken += n;
            if taken == room {
                break;
            }
        }
        if !st.in_flight {
            self.submit(&mut st);
            if let Some(kind) = st.failed {
                // Refused: report only what the kernel took, or the error.
                st.staged.truncate(before);
                return Poll::Ready(if sent > 0 {
                    Ok(sent)
                } else {
                    Err(failed(kind))
                });
            }
        }
        Poll::Ready(Ok(sent + taken))
    }

    /// Linux: a non-blocking `sendmsg(2)` straight from the caller's bytes (`MSG_NOSIGNAL`: a
    /// closed peer is an error, not a signal). Windows: always `WouldBlock` (every write goes
    /// through the engine).
    fn send_now(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        loop {
            let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
            match self.fd.sock().send_vectored_with_flags(bufs, flags) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_reset(e.kind()) => {
                    self.reset.store(true, Relaxed);
                    return Err(e);
                }
                other => return other,
            }
        }
        #[cfg(windows)]
        {
            let _ = bufs;
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    pub(super) fn poll_flush(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.lock();
        if let Some(kind) = st.failed {
            return Poll::Ready(Err(failed(kind)));
        }
        if !st.busy() {
            return Poll::Ready(Ok(()));
        }
        if !st.in_flight {
            self.submit(&mut st);
            if let Some(kind) = st.failed {
                return Poll::Ready(Err(failed(kind)));
            }
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(super) fn poll_shutdown(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.lock().shut {
            return Poll::Ready(Ok(()));
        }
        std::task::ready!(self.poll_flush(cx))?;
        self.lock().shut = true;
        Poll::Ready(self.shutdown_write())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self.fd.sock().shutdown(std::net::Shutdown::Write) {
            // The peer is gone already: the write side is as shut as it gets.
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        }
    }

    /// Submits the staged bytes as one send. The caller holds the lock and checked that no send
    /// is in flight. The completion may run on another thread as soon as `send` has queued it;
    /// it then waits for this lock, which is released right after.
    fn submit(self: &Arc<Self>, st: &mut WriteState) {
        debug_assert!(!st.in_flight && !st.staged.is_empty());
        let mut bufs = mem::take(&mut st.spare);
        let next = bufs.pop().unwrap_or_default();
        bufs.push(mem::replace(&mut st.staged, next));
        let me = Arc::clone(self);
        match self
            .socket
            .as_async_socket()
            .send(bufs, move |r, bufs| me.on_sent(r, bufs))
        {
            Ok(()) => st.in_flight = true,
            Err(e) => {
                let (kind, mut bufs) = e.into_parts();
                // Give the bytes back to the stage so that nothing is reported sent.
                st.staged = bufs.pop().expect("one buffer handed back");
                st.failed = Some(self.refused_kind(kind));
            }
        }
    }

    /// What a refused send means to a stream user.
    fn refused_kind(&self, kind: SubmitErrorKind) -> io::ErrorKind {
        match kind {
            // Refused on an OPEN socket: the connection was found reset.
            SubmitErrorKind::NotOpen if self.socket.state() == SocketState::Open => self
                .socket
                .as_async_socket()
                .failure()
                .unwrap_or(io::ErrorKind::ConnectionReset),
            other => io::Error::from(other).kind(),
        }
    }

    /// The send completion (on an engine thread): recycle the buffer, submit what was staged
    /// meanwhile, wake the writer; once a dropped writer's bytes are all sent, shut down or let
    /// the socket close.
    fn on_sent(self: &Arc<Self>, result: SendResult, mut bufs: Vec<Vec<u8>>) {
        let mut st = self.lock();
        st.in_flight = false;
        let failure = self.socket.as_async_socket().failure();
        match result {
            SendResult::Ok => {
                if let Some(buf) = bufs.last_mut() {
                    buf.clear();
                }
                st.spare = mem::take(&mut bufs);
            }
            SendResult::Abandoned => {
                st.failed = Some(failure.unwrap_or(io::ErrorKind::BrokenPipe));
            }
            SendResult::Error => st.failed = Some(failure.unwrap_or(io::ErrorKind::Other)),
        }
        if st.failed.is_some() {
            st.staged = Vec::new();
        } else if !st.staged.is_empty() {
            self.submit(&mut st);
        } else {
            // Idle again: keep small buffers for the next time, release large ones.
            let keep = st.keep;
            if st.staged.capacity() > keep {
                st.staged = Vec::new();
            }
            if st.spare.last().is_some_and(|b| b.capacity() > keep) {
                st.spare.clear();
            }
        }
        if !st.busy() && st.shutdown_when_sent {
            st.shutdown_when_sent = false;
            st.shut = true;
            let _ = self.shutdown_write();
        }
        let waker = st.waker.take();
        drop(st);
        drop(bufs);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The writer (the stream, or its write half when `half`) is dropped: what is staged is
    /// still sent; a write half's drop then shuts the write side down.
    pub(super) fn writer_gone(self: &Arc<Self>, half: bool) {
        let mut st = self.lock();
        st.writer_gone = true;
        st.waker = None;
        if st.failed.is_some() || st.shut {
            return;
        }
        if !st.busy() {
            if half {
                st.shut = true;
                drop(st);
                let _ = self.shutdown_write();
            }
            return;
        }
        st.shutdown_when_sent = half;
        if !st.in_flight {
            self.submit(&mut st);
        }
        let linger = st.reader_gone && st.in_flight;
        drop(st);
        if linger {
            self.linger();
        }
    }

    /// The reader (the stream, or its read half) is dropped.
    pub(super) fn reader_gone(self: &Arc<Self>) {
        let mut st = self.lock();
        st.reader_gone = true;
        let linger = st.writer_gone && st.in_flight;
        drop(st);
        if linger {
            self.linger();
        }
    }

    /// Every handle is gone but bytes are still being sent: bound how long that may take.
    fn linger(self: &Arc<Self>) {
        #[cfg(target_os = "linux")]
        {
            let weak = Arc::downgrade(self);
            let engine = self.socket.engine().clone();
            engine.sys().after(
                DROP_LINGER,
                Box::new(move || {
                    if let Some(sh) = weak.upgrade() {
                        // Still sending after the linger: close, abandoning the rest.
                        sh.socket.as_async_socket().close_with(|| {});
                    }
                }),
            );
        }
    }
}

fn as_inet(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}
