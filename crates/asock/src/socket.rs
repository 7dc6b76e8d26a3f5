//! The async socket: completion-style send, receive and readiness notification on an
//! [`ExecutionEngine`]'s threads.

use std::fmt;
use std::io;

use crate::buf::{CheckedRawBuf, IoBuf, IoBufMut, RawBuf};
use crate::core::ops;
use crate::core::state::SocketState;
use crate::core::validate;
use crate::engine::ExecutionEngine;
use crate::result::{
    CreateError, NotifyResult, NotifyType, OpenError, OpenErrorKind, OpenResult, ReceiveResult,
    SendResult, SubmitError, SubmitErrorKind,
};
use crate::sys::{self, SocketApi};
use crate::transport::{SocketTransport, SocketType};

/// A replacement for the `send(2)` / `recv(2)` calls of an async socket
/// ([`AsyncSocket::with_transport`]); readiness still comes from the socket given to `open`.
///
/// Both functions must behave like the system calls on a non-blocking socket: return the number
/// of bytes moved, `Ok(0)` from `recv` at end of stream, an error of kind
/// [`io::ErrorKind::WouldBlock`] when nothing can be moved now, a reset as
/// [`io::ErrorKind::ConnectionReset`], anything else as another error. A `send` that returns
/// `Ok(0)` for a non-empty buffer fails the send (it is never retried in a loop).
///
/// Both run on an engine thread (or the submitting thread) while the socket's internal lock is
/// held: they must not call back into the same [`AsyncSocket`]. A transport that returns
/// `WouldBlock` while the socket itself is ready (one that buffers, like TLS) is called again
/// only at the socket's next readiness change (c-pal has the same limit).
pub trait Transport: Send + Sync + 'static {
    /// Sends bytes from `buf` on `socket`.
    fn send(&self, socket: &socket2::Socket, buf: &[u8]) -> io::Result<usize>;
    /// Receives bytes into `buf` from `socket`.
    fn recv(&self, socket: &socket2::Socket, buf: &mut [u8]) -> io::Result<usize>;
}

/// An async socket.
///
/// Lifecycle: [`new`](Self::new) (CLOSED) → [`open`](Self::open) with a connected
/// [`SocketTransport`] (OPEN) → operations → [`close`](Self::close) (CLOSED; may be opened again
/// with a new transport, except on Windows, whose seed allows no re-open) → drop.
///
/// # Completions
/// Each operation that is accepted (the submitting call returned `Ok`) completes **exactly once**,
/// also when the socket is closed or dropped meanwhile, by calling its callback on one of the
/// engine's worker threads — never inside the submitting call. A socket's receives complete in
/// submission order, and so do its sends; the bytes of concurrent sends never interleave. A
/// callback may submit the next operation or close the socket.
///
/// # Example
/// ```
/// use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketTransport};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let engine = ExecutionEngine::new(None)?;
/// let mut listener = SocketTransport::server();
/// listener.listen_on("127.0.0.1:0".parse()?, 16)?;
/// let port = listener.local_port().unwrap();
/// let mut client = SocketTransport::client();
/// client.connect("127.0.0.1", port, Duration::from_secs(5))?;
/// let server = listener.accept(Duration::from_secs(5))?.expect("a connection");
///
/// let (a, b) = (AsyncSocket::new(&engine)?, AsyncSocket::new(&engine)?);
/// a.open(client)?;
/// b.open(server)?;
///
/// let (tx, rx) = mpsc::channel();
/// let tx2 = tx.clone();
/// b.receive(vec![vec![0u8; 16]], move |r, n, bufs| {
///     tx2.send(format!("{r:?} {}", String::from_utf8_lossy(&bufs[0][..n as usize]))).unwrap();
/// })?;
/// a.send(vec![b"hello".to_vec()], move |r, _bufs| tx.send(format!("{r:?}")).unwrap())?;
/// let mut got = vec![rx.recv()?, rx.recv()?];
/// got.sort();
/// assert_eq!(got, ["Ok", "Ok hello"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncSocket {
    io: sys::SocketIo,
    // Declared after `io`: the engine reference is released after the socket is closed.
    engine: ExecutionEngine,
    #[cfg(feature = "tracing")]
    id: u64,
    /// Windows: bytes of sends accepted and not yet completed (the Linux backends count them
    /// themselves).
    #[cfg(windows)]
    pending_sends: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl AsyncSocket {
    /// Creates a CLOSED async socket on `engine`, taking a reference to it.
    ///
    /// On Windows it fails ([`CreateError::Io`]) when the engine's thread pool cannot be had
    /// (`SRS_ASYNC_SOCKET_WIN32_01_003`).
    pub fn new(engine: &ExecutionEngine) -> Result<Self, CreateError> {
        let io = sys::SocketIo::create(engine.sys().clone(), None)?;
        Ok(Self {
            io,
            engine: engine.clone(),
            #[cfg(feature = "tracing")]
            id: crate::trace::next_id(),
            #[cfg(windows)]
            pending_sends: Default::default(),
        })
    }

    /// Creates a CLOSED async socket whose sends and receives go through `transport` instead of
    /// the system calls (see [`Transport`]).
    ///
    /// On Windows this always fails with [`CreateError::Unsupported`], as c-pal's
    /// `async_socket_create_with_transport` does (`SRS_ASYNC_SOCKET_WIN32_04_001`).
    pub fn with_transport(
        engine: &ExecutionEngine,
        transport: impl Transport,
    ) -> Result<Self, CreateError> {
        Ok(Self {
            io: sys::SocketIo::create(engine.sys().clone(), Some(Box::new(transport)))?,
            engine: engine.clone(),
            #[cfg(feature = "tracing")]
            id: crate::trace::next_id(),
            #[cfg(windows)]
            pending_sends: Default::default(),
        })
    }

    /// The engine this socket runs on.
    pub fn engine(&self) -> &ExecutionEngine {
        &self.engine
    }

    /// Where the socket is in its lifecycle.
    pub fn state(&self) -> SocketState {
        self.io.state()
    }

    /// The index (from 0 to [`ExecutionEngine::thread_count`] - 1) of the engine worker this
    /// socket is bound to while it is open, `None` when it is not open or the backend does not
    /// bind sockets to workers (Windows: any pool thread runs any completion).
    ///
    /// On Linux a socket is bound at `open` to the worker with the fewest sockets, or, when the
    /// other end of its loopback connection is open on the same engine, to that end's worker;
    /// its readiness, I/O and completions then run on that worker until it is closed, except
    /// while that worker, idle, has lent its shard to another worker, whose thread then runs
    /// them.
    pub fn worker(&self) -> Option<usize> {
        #[cfg(not(windows))]
        return self.io.worker();
        #[cfg(windows)]
        return None;
    }

    /// Bytes of sends that were accepted and whose completion has not run yet: what this socket
    /// holds for a peer that reads slowly.
    ///
    /// Sends are never refused for being too many (as in c-pal), so a caller that produces data
    /// faster than the peer reads it should watch this figure and wait (for a send completion)
    /// when it is above its budget. Each queued send costs its own buffers plus the operation
    /// record (its callback, and room for 4 buffer descriptors; 16 bytes more per descriptor
    /// beyond 4), about a hundred bytes for a one-buffer send with a small callback.
    pub fn pending_send_bytes(&self) -> u64 {
        #[cfg(not(windows))]
        return self.io.pending_send_bytes() as u64;
        #[cfg(windows)]
        return self
            .pending_sends
            .load(std::sync::atomic::Ordering::Relaxed) as u64;
    }

    /// Opens the async socket on a connected transport, which it then owns and closes at
    /// [`close`](Self::close). On failure nothing changed and the error hands the transport back.
    ///
    /// Fails when the transport holds no socket or is a listening (BINDING) transport
    /// ([`OpenErrorKind::InvalidTransport`]), when the
    /// async socket is not CLOSED ([`OpenErrorKind::NotClosed`]) or when the OS refuses to
    /// register the socket.
    ///
    /// On Windows, as the seed says, a listening transport is opened like any other (its sends
    /// and receives then fail or wait as the OS decides), and an async socket that was opened
    /// and closed cannot be opened again ([`OpenErrorKind::NotClosed`]).
    ///
    /// [`OpenErrorKind::InvalidTransport`]: crate::OpenErrorKind::InvalidTransport
    /// [`OpenErrorKind::NotClosed`]: crate::OpenErrorKind::NotClosed
    pub fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        #[cfg(feature = "tracing")]
        let (local, peer) = (transport.local_addr(), transport.peer_addr());
        let opened = if cfg!(not(windows)) && transport.socket_type() == SocketType::Binding {
            // A listening socket carries no stream to send or receive on.
            Err(OpenError::new(OpenErrorKind::InvalidTransport, transport))
        } else {
            self.io.open(transport)
        };
        #[cfg(feature = "tracing")]
        crate::trace::opened(self.id, local, peer, &opened);
        opened
    }

    /// Opens the async socket on a *listening* transport, for readiness notifications
    /// ([`notify_io`](Self::notify_io) `In`: a connection waits) around non-blocking accepts:
    /// the futures layer's listener. Linux only (Windows has no readiness notification).
    #[cfg(not(windows))]
    #[allow(dead_code)] // used by the futures layer
    pub(crate) fn open_listening(&self, transport: SocketTransport) -> Result<(), OpenError> {
        self.io.open(transport)
    }

    /// The error of the last send or receive that failed on this socket, if any: how a byte
    /// stream tells a reset (`ConnectionReset`) from the end of the stream (an abandoned receive
    /// with no failure). `None` on Windows.
    #[allow(dead_code)] // used by the futures layer
    pub(crate) fn failure(&self) -> Option<io::ErrorKind> {
        #[cfg(not(windows))]
        return self.io.failure();
        #[cfg(windows)]
        return None;
    }

    /// c-pal's `open_async`: like [`open`](Self::open), then, on success only, calls
    /// `on_open_complete(OpenResult::Ok)` on the calling thread before returning.
    pub fn open_async(
        &self,
        transport: SocketTransport,
        on_open_complete: impl FnOnce(OpenResult),
    ) -> Result<(), OpenError> {
        self.open(transport)?;
        on_open_complete(OpenResult::Ok);
        Ok(())
    }

    /// Closes the socket: moves to CLOSING, cancels every pending operation, waits until each
    /// pending completion has run (exactly once, [`SendResult::Abandoned`] /
    /// [`ReceiveResult::Abandoned`] / [`NotifyResult::Abandoned`] for the cancelled ones), closes
    /// the socket and returns in CLOSED. Idempotent; a second concurrent close waits for CLOSED
    /// too. From inside one of this socket's own completions it does not wait for that one.
    ///
    /// On Windows the results are the seed's (`SRS_ASYNC_SOCKET_WIN32_*`): `closesocket` aborts
    /// what is pending; a send so ended completes with [`SendResult::Error`], a receive with
    /// [`ReceiveResult::Abandoned`] when the OS reports `ERROR_NETNAME_DELETED` or
    /// `ERROR_CONNECTION_ABORTED` and [`ReceiveResult::Error`] otherwise. A close while the
    /// socket is OPENING returns at once and does nothing (`SRS_ASYNC_SOCKET_WIN32_01_022`). A
    /// close on one of the engine's threads (inside a completion) when the engine's maximum
    /// thread count is reached cannot wait for the other pending completions; it returns with
    /// the socket CLOSING and the close ends once the last of them has run (a drop meanwhile
    /// waits for CLOSED, except from inside one of this socket's own completions).
    ///
    /// # Blocking
    /// Blocks while another thread is delivering one of this socket's completions. Two callbacks
    /// of two sockets that close each other from two threads at once would wait for each other.
    pub fn close(&self) {
        #[cfg(feature = "tracing")]
        let _span = crate::trace::close_span(self.id);
        self.io.close();
        #[cfg(feature = "tracing")]
        crate::trace::closed(self.id);
    }

    /// Closes like [`close`](Self::close), but without blocking the caller: the close runs on
    /// one of the engine's threads, and `on_closed` runs there once the socket is CLOSED (every
    /// pending completion has run). The futures layer's close is built on it.
    pub fn close_with(&self, on_closed: impl FnOnce() + Send + 'static) {
        #[cfg(feature = "tracing")]
        let on_closed = crate::trace::close_with(self.id, on_closed);
        self.io.close_with(Box::new(on_closed))
    }

    /// Sends every byte of `bufs`, in order, then calls `on_complete` with the result and the
    /// buffers. Bytes of concurrent sends on one socket never interleave.
    ///
    /// Returns an error, hands the buffers back and never calls `on_complete` when: `bufs` is
    /// empty, a buffer is empty, the total exceeds `u32::MAX`
    /// ([`SubmitErrorKind::InvalidArgument`]); the socket is not OPEN, or the connection was found
    /// reset when the send was tried ([`SubmitErrorKind::NotOpen`]); the OS refused the send at once
    /// ([`SubmitErrorKind::Io`]).
    pub fn send<B, F>(&self, bufs: Vec<B>, on_complete: F) -> Result<(), SubmitError<Vec<B>>>
    where
        B: IoBuf,
        F: FnOnce(SendResult, Vec<B>) + Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let (on_complete, traced_total) = crate::trace::send_done(self.id, on_complete);
        #[cfg(windows)]
        let (on_complete, pending) = {
            use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
            use std::sync::Arc;
            // The send's total is known once its buffers are captured (asked once, below).
            let this_op = Arc::new(AtomicUsize::new(0));
            let (counter, op_total) = (Arc::clone(&self.pending_sends), Arc::clone(&this_op));
            let cb = move |r, bufs| {
                counter.fetch_sub(op_total.load(Relaxed), Relaxed);
                on_complete(r, bufs)
            };
            (cb, this_op)
        };
        let op = match ops::send_op(bufs, on_complete) {
            Ok(op) => op,
            Err((why, bufs)) => {
                return Err(SubmitError::new(
                    SubmitErrorKind::InvalidArgument(why),
                    bufs,
                ))
            }
        };
        let total = op.slots().total();
        #[cfg(feature = "tracing")]
        traced_total.store(total, std::sync::atomic::Ordering::Relaxed);
        #[cfg(windows)]
        {
            use std::sync::atomic::Ordering::Relaxed;
            pending.store(total, Relaxed);
            self.pending_sends.fetch_add(total, Relaxed);
        }
        self.io.submit_send(op, total).map_err(|(kind, op)| {
            #[cfg(windows)]
            self.pending_sends
                .fetch_sub(total, std::sync::atomic::Ordering::Relaxed);
            SubmitError::new(kind, ops::reclaimed(op.reclaim()))
        })
    }

    /// Receives into `bufs`, filling them in order like `readv`, and calls `on_complete` with the
    /// result, the number of bytes received and the buffers as soon as at least one byte has
    /// arrived. The peer closing the connection gives [`ReceiveResult::Abandoned`] with 0 bytes,
    /// after any data it sent before has been delivered; a receive never completes `Ok` with 0
    /// bytes.
    ///
    /// Returns an error, hands the buffers back and never calls `on_complete` for the argument
    /// errors of [`send`](Self::send) and when the socket is not OPEN.
    pub fn receive<B, F>(&self, bufs: Vec<B>, on_complete: F) -> Result<(), SubmitError<Vec<B>>>
    where
        B: IoBufMut,
        F: FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let on_complete = crate::trace::receive_done(self.id, on_complete);
        let op = match ops::recv_op(bufs, on_complete) {
            Ok(op) => op,
            Err((why, bufs)) => {
                return Err(SubmitError::new(
                    SubmitErrorKind::InvalidArgument(why),
                    bufs,
                ))
            }
        };
        self.io
            .submit_recv(op)
            .map_err(|(kind, op)| SubmitError::new(kind, ops::reclaimed(op.reclaim())))
    }

    /// Calls `on_complete` once when the socket is readable ([`NotifyType::In`]) or writable
    /// ([`NotifyType::Out`]): with [`NotifyResult::In`] / [`NotifyResult::Out`], with
    /// [`NotifyResult::Error`] when the socket reports an error, or [`NotifyResult::Abandoned`]
    /// when it is closed first. Nothing is read or written.
    ///
    /// Returns [`SubmitErrorKind::NotOpen`] when the socket is not OPEN (and
    /// [`SubmitErrorKind::Unsupported`] on platforms without readiness notification).
    pub fn notify_io<F>(&self, io_type: NotifyType, on_complete: F) -> Result<(), SubmitError<()>>
    where
        F: FnOnce(NotifyResult) + Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let on_complete = crate::trace::notify_done(self.id, io_type, on_complete);
        self.io
            .submit_notify(io_type, Box::new(on_complete))
            .map_err(|(kind, _op)| SubmitError::new(kind, ()))
    }

    /// [`send`](Self::send) with borrowed memory, for callers that manage it themselves (the C
    /// ABI). Null pointers and zero lengths are argument errors.
    ///
    /// # Safety
    /// If this returns `Ok`, every buffer's `len` bytes at `ptr` must stay valid for reads, and
    /// unmodified, until `on_complete` has returned. The descriptor slice itself may be
    /// released as soon as the call returns.
    pub unsafe fn send_raw<F>(&self, bufs: &[RawBuf], on_complete: F) -> Result<(), SubmitError<()>>
    where
        F: FnOnce(SendResult) + Send + 'static,
    {
        // SAFETY: forwarded from this function's contract.
        let checked = unsafe { check_raw(bufs) }?;
        self.send(checked, move |r, _bufs| on_complete(r))
            .map_err(|e| e.map(|_| ()))
    }

    /// [`receive`](Self::receive) into borrowed memory (the C ABI's form).
    ///
    /// # Safety
    /// If this returns `Ok`, every buffer's `len` bytes at `ptr` must stay valid for writes, and
    /// not be accessed otherwise, until `on_complete` has returned.
    pub unsafe fn receive_raw<F>(
        &self,
        bufs: &[RawBuf],
        on_complete: F,
    ) -> Result<(), SubmitError<()>>
    where
        F: FnOnce(ReceiveResult, u32) + Send + 'static,
    {
        // SAFETY: forwarded from this function's contract.
        let checked = unsafe { check_raw(bufs) }?;
        self.receive(checked, move |r, n, _bufs| on_complete(r, n))
            .map_err(|e| e.map(|_| ()))
    }
}

/// Validates borrowed descriptors (null pointers and zero lengths are argument errors) and wraps
/// them for the owned-buffer machinery.
///
/// # Safety
/// Each descriptor's memory must satisfy the contract of the calling `*_raw` function.
unsafe fn check_raw(bufs: &[RawBuf]) -> Result<Vec<CheckedRawBuf>, SubmitError<()>> {
    match validate::buffers(bufs.iter().map(|b| (!b.ptr.is_null(), b.len))) {
        // SAFETY: non-null and non-empty (just checked); validity is the caller's contract.
        Ok(_) => Ok(bufs
            .iter()
            .map(|b| unsafe { CheckedRawBuf::new(*b) })
            .collect()),
        Err(why) => Err(SubmitError::new(SubmitErrorKind::InvalidArgument(why), ())),
    }
}

impl fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSocket")
            .field("state", &self.state())
            .finish()
    }
}
