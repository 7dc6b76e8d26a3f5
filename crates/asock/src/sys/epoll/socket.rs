//! One async socket on the epoll backend.
//!
//! # State and ownership
//! Everything mutable lives in [`Inner`] behind one mutex: the lifecycle state, the socket, the
//! readiness the kernel last reported, a FIFO queue per direction, the completions ready to be
//! delivered (`done`) and the identity of the thread delivering them (`runner`).
//!
//! * System calls for queued operations are made with the mutex held (they never block: the
//!   socket is non-blocking), always for the *head* of a queue, so bytes of concurrent sends never
//!   interleave and receives fill in submission order.
//! * Completions are delivered with the mutex released, by exactly one thread at a time, the
//!   runner, in the order they were produced; an operation leaves every queue exactly once, into
//!   `done`, so it completes exactly once.
//! * A submission may make the system call at once on the caller's thread (the fast path), but
//!   its completion is always delivered by the runner on an engine worker: after the current
//!   callback returns when the caller is a worker, otherwise on a worker it wakes.
//!
//! # Readiness
//! The socket is registered once, edge-triggered, for both directions. An edge sets `readable` /
//! `writable`; a `WouldBlock`, a short read or a short write clears it (on a stream socket a short
//! transfer means the kernel buffer was drained or filled). A receive never completes with 0 bytes
//! unless the peer closed the connection, and data queued before the peer's end of stream is
//! delivered first.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

#[cfg(not(loom))]
use super::engine::{thread_id, Engine, Source};
#[cfg(loom)]
use super::loom_engine::{thread_id, Engine, Source};
#[cfg(not(loom))]
use super::os;
#[cfg(loom)]
use super::os::fake as os;
use super::sync::{Condvar, Mutex, MutexGuard};
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;
use crate::result::{
    NotifyResult, NotifyType, OpenError, OpenErrorKind, ReceiveResult, SendResult, SubmitErrorKind,
};
use crate::sys::custom::{self, is_reset};
use crate::sys::delivery::{CloseStep, Delivery};
use crate::transport::SocketTransport;
use crate::Transport;

/// iovecs handed to one system call.
const IOV_BATCH: usize = 64;

struct Inner {
    /// Lifecycle state, completions to deliver and who delivers them (`sys::delivery`).
    d: Delivery,
    transport: Option<SocketTransport>,
    fd: RawFd,
    token: u64,
    readable: bool,
    writable: bool,
    error: bool,
    /// The peer's end of stream (or a hang-up) was reported: the end-of-stream read is still to
    /// come however short the last read was, and no further edge will announce it.
    peer_closed: bool,
    sends: VecDeque<Box<dyn SendOp>>,
    recvs: VecDeque<Box<dyn RecvOp>>,
    notifies: VecDeque<(NotifyType, NotifyOp)>,
    /// `TCP_INQ` is on: each read reports how many bytes are left, so a drained socket is known
    /// without a `WouldBlock` round trip.
    inq: bool,
    /// The custom transport panicked: the stream is in an unknown state, so the socket fails
    /// everything as a reset would, until it is closed.
    broken: bool,
}

struct Shared {
    engine: Arc<Engine>,
    custom: Option<Box<dyn Transport>>,
    inner: Mutex<Inner>,
    /// Signalled when `state` becomes CLOSED or `runner` becomes 0.
    cv: Condvar,
    /// Bytes of accepted sends whose completion has not run yet.
    pending_send_bytes: AtomicUsize,
}

/// The backend half of an [`crate::AsyncSocket`].
pub(crate) struct SocketIo {
    shared: Arc<Shared>,
}

enum Step {
    /// Bytes moved; `short` when fewer than offered (the kernel buffer is now full / empty).
    Moved {
        n: usize,
        short: bool,
    },
    WouldBlock,
    /// End of stream (receive only).
    Eof,
    Failed(io::Error),
    /// User code (a custom transport) panicked.
    Panicked,
}

impl From<custom::Step> for Step {
    /// A custom transport's bytes never say whether the kernel buffer was drained or filled.
    fn from(step: custom::Step) -> Step {
        match step {
            custom::Step::Moved(n) => Step::Moved { n, short: false },
            custom::Step::WouldBlock => Step::WouldBlock,
            custom::Step::Eof => Step::Eof,
            custom::Step::Failed(e) => Step::Failed(e),
            custom::Step::Panicked => Step::Panicked,
        }
    }
}

/// Linux send completion for an error: a reset is ABANDONED, anything else ERROR.
fn send_failure(e: &io::Error) -> SendResult {
    if is_reset(e) {
        SendResult::Abandoned
    } else {
        SendResult::Error
    }
}

impl SocketIo {
    /// An async socket in the CLOSED state on `engine`, optionally with a custom transport.
    pub(crate) fn new(engine: Arc<Engine>, custom: Option<Box<dyn Transport>>) -> Self {
        SocketIo {
            shared: Arc::new(Shared {
                engine,
                custom,
                inner: Mutex::new(Inner {
                    d: Delivery::new(),
                    transport: None,
                    fd: -1,
                    token: 0,
                    readable: false,
                    writable: false,
                    error: false,
                    peer_closed: false,
                    sends: VecDeque::new(),
                    recvs: VecDeque::new(),
                    notifies: VecDeque::new(),
                    inq: false,
                    broken: false,
                }),
                cv: Condvar::new(),
                pending_send_bytes: AtomicUsize::new(0),
            }),
        }
    }

    pub(crate) fn state(&self) -> SocketState {
        if self.shared.reentered() {
            // Its own transport is running under the lock: the socket is OPEN.
            return SocketState::Open;
        }
        self.shared.lock().d.state
    }

    /// Bytes of accepted sends whose completion has not run yet.
    pub(crate) fn pending_send_bytes(&self) -> usize {
        self.shared.pending_send_bytes.load(Relaxed)
    }

    pub(crate) fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        if self.shared.reentered() {
            return Err(OpenError::new(OpenErrorKind::NotClosed, transport));
        }
        let fd = match transport.socket() {
            Some(s) => s.as_raw_fd(),
            None => return Err(OpenError::new(OpenErrorKind::InvalidTransport, transport)),
        };
        let sh = &self.shared;
        let mut g = sh.lock();
        if g.d.state != SocketState::Closed {
            return Err(OpenError::new(OpenErrorKind::NotClosed, transport));
        }
        g.d.state = SocketState::Opening;
        let registered = os::set_nonblocking(fd)
            .and_then(|()| sh.engine.register(fd, Arc::clone(sh) as Arc<dyn Source>));
        let token = match registered {
            Ok(t) => t,
            Err(e) => {
                g.d.state = SocketState::Closed;
                sh.wake_waiters(&g);
                return Err(OpenError::new(OpenErrorKind::Io(e), transport));
            }
        };
        g.transport = Some(transport);
        g.fd = fd;
        g.token = token;
        g.readable = false;
        g.writable = true;
        g.error = false;
        g.peer_closed = false;
        g.inq = sh.custom.is_none() && os::enable_tcp_inq(fd);
        g.broken = false;
        g.d.state = SocketState::Open;
        Ok(())
    }

    pub(crate) fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)> {
        let sh = &self.shared;
        if sh.reentered() {
            return Err((SubmitErrorKind::Io(custom::reentered()), op));
        }
        let mut g = sh.lock();
        if g.d.state != SocketState::Open || g.broken {
            return Err((SubmitErrorKind::NotOpen, op));
        }
        sh.pending_send_bytes.fetch_add(total, Relaxed);
        let was_empty = g.sends.is_empty();
        g.sends.push_back(op);
        if was_empty && g.writable {
            // Fast path: try at once. A failure before any byte left is reported synchronously.
            match sh.send_step(&mut g) {
                Step::Failed(e) if e.kind() != io::ErrorKind::Interrupted => {
                    let op = g.sends.pop_front().expect("head exists");
                    if op.slots().done() == 0 {
                        sh.pending_send_bytes.fetch_sub(total, Relaxed);
                        let kind = if is_reset(&e) {
                            SubmitErrorKind::NotOpen
                        } else {
                            SubmitErrorKind::Io(e)
                        };
                        return Err((kind, op));
                    }
                    g.d.done.push_back(Completion::Send(op, send_failure(&e)));
                }
                step => sh.apply_send_step(&mut g, step),
            }
            sh.progress_send(&mut g);
        }
        sh.kick(g);
        Ok(())
    }

    pub(crate) fn submit_recv(
        &self,
        op: Box<dyn RecvOp>,
    ) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        let sh = &self.shared;
        if sh.reentered() {
            return Err((SubmitErrorKind::Io(custom::reentered()), op));
        }
        let mut g = sh.lock();
        if g.d.state != SocketState::Open || g.broken {
            return Err((SubmitErrorKind::NotOpen, op));
        }
        let was_empty = g.recvs.is_empty();
        g.recvs.push_back(op);
        if was_empty && g.readable {
            sh.progress_recv(&mut g);
        }
        sh.kick(g);
        Ok(())
    }

    pub(crate) fn submit_notify(
        &self,
        io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        let sh = &self.shared;
        if sh.reentered() {
            return Err((SubmitErrorKind::Io(custom::reentered()), op));
        }
        let mut g = sh.lock();
        if g.d.state != SocketState::Open || g.broken {
            return Err((SubmitErrorKind::NotOpen, op));
        }
        g.notifies.push_back((io_type, op));
        sh.progress_notify(&mut g, true);
        sh.kick(g);
        Ok(())
    }

    pub(crate) fn close(&self) {
        self.shared.close();
    }

    /// Closes on an engine worker without blocking the caller; `on_closed` runs there once the
    /// socket is CLOSED.
    pub(crate) fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        let sh = Arc::clone(&self.shared);
        self.shared.engine.execute(Box::new(move || {
            sh.close();
            on_closed();
        }));
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Shared {
    /// This socket's identity for [`custom::inside_transport_of`].
    fn id(&self) -> usize {
        self as *const Shared as usize
    }

    /// The calling thread is inside this socket's own custom transport (which runs with the
    /// lock held): any call that would take the lock must be refused instead.
    fn reentered(&self) -> bool {
        self.custom.is_some() && custom::inside_transport_of(self.id())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        g.d.waiters += 1;
        let mut g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        g.d.waiters -= 1;
        g
    }

    fn wake_waiters(&self, g: &Inner) {
        if g.d.waiters > 0 {
            self.cv.notify_all();
        }
    }

    /// After a submission: make sure produced completions get delivered by a runner.
    fn kick(self: &Arc<Self>, mut g: MutexGuard<'_, Inner>) {
        if g.d.needs_schedule() {
            drop(g);
            self.engine.schedule(Arc::clone(self) as Arc<dyn Source>);
        }
    }

    // ----- system calls for the head of each queue -------------------------------------------

    fn send_step(&self, g: &mut Inner) -> Step {
        let fd = g.fd;
        let Some(head) = g.sends.front() else {
            return Step::WouldBlock;
        };
        if let Some(custom) = &self.custom {
            return Step::from(custom::send(
                self.id(),
                custom.as_ref(),
                g.transport.as_ref(),
                head.as_ref(),
            ));
        }
        let rest = head.slots().remaining();
        let iov = os::iovecs(&rest[..rest.len().min(IOV_BATCH)]);
        let offered: usize = iov.iter().map(|v| v.iov_len).sum();
        match os::sendmsg(fd, iov) {
            Ok(n) => Step::Moved {
                n,
                short: n < offered,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::WouldBlock,
            Err(e) => Step::Failed(e),
        }
    }

    fn progress_send(&self, g: &mut Inner) {
        while g.writable && !g.sends.is_empty() {
            let step = self.send_step(g);
            self.apply_send_step(g, step);
        }
    }

    /// Accounts one system call's outcome to the head send.
    fn apply_send_step(&self, g: &mut Inner, step: Step) {
        let result = match step {
            Step::Moved { n, short } => {
                if short {
                    g.writable = false;
                }
                let head = g.sends.front_mut().expect("head exists");
                head.slots_mut().advance(n);
                if !head.slots().is_finished() {
                    return;
                }
                SendResult::Ok
            }
            Step::WouldBlock => {
                g.writable = false;
                return;
            }
            Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Step::Failed(e) => send_failure(&e),
            Step::Eof => SendResult::Error,
            Step::Panicked => {
                let op = g.sends.pop_front().expect("head exists");
                g.d.done.push_back(Completion::Send(op, SendResult::Error));
                return Shared::break_socket(g);
            }
        };
        let op = g.sends.pop_front().expect("head exists");
        g.d.done.push_back(Completion::Send(op, result));
    }

    /// The transport panicked: every other pending operation fails as on a reset (sends and
    /// receives ABANDONED, notifications ERROR), and so does everything submitted until close.
    fn break_socket(g: &mut Inner) {
        g.broken = true;
        let recvs: Vec<_> = g.recvs.drain(..).collect();
        g.d.done
            .extend(recvs.into_iter().map(Completion::abandoned_recv));
        let sends: Vec<_> = g.sends.drain(..).collect();
        g.d.done
            .extend(sends.into_iter().map(Completion::abandoned_send));
        let notifies: Vec<_> = g.notifies.drain(..).collect();
        g.d.done.extend(
            notifies
                .into_iter()
                .map(|(_, op)| Completion::Notify(op, NotifyResult::Error)),
        );
    }

    fn recv_step(&self, g: &mut Inner) -> Step {
        let fd = g.fd;
        let Some(head) = g.recvs.front_mut() else {
            return Step::WouldBlock;
        };
        if let Some(custom) = &self.custom {
            return Step::from(custom::recv(
                self.id(),
                custom.as_ref(),
                g.transport.as_ref(),
                head.as_mut(),
            ));
        }
        let slots = head.slots().remaining();
        let iov = os::iovecs(&slots[..slots.len().min(IOV_BATCH)]);
        let offered: usize = iov.iter().map(|v| v.iov_len).sum();
        let read = if g.inq {
            os::recvmsg_inq(fd, iov)
        } else {
            os::readv(fd, iov).map(|n| (n, None))
        };
        match read {
            Ok((0, _)) => Step::Eof,
            Ok((n, left)) => Step::Moved {
                n,
                // Drained when the kernel says nothing is left, or (without TCP_INQ) when the
                // read came back short.
                short: left.map_or(n < offered, |left| left == 0),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::WouldBlock,
            Err(e) => Step::Failed(e),
        }
    }

    fn progress_recv(&self, g: &mut Inner) {
        while g.readable && !g.recvs.is_empty() {
            let (result, bytes) = match self.recv_step(g) {
                Step::Moved { n, short } => {
                    if short && !g.peer_closed {
                        g.readable = false;
                    }
                    (ReceiveResult::Ok, n as u32)
                }
                Step::WouldBlock => {
                    g.readable = false;
                    continue;
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Step::Eof => (ReceiveResult::Abandoned, 0),
                Step::Failed(e) if is_reset(&e) => (ReceiveResult::Abandoned, 0),
                Step::Failed(_) => (ReceiveResult::Error, 0),
                Step::Panicked => {
                    let op = g.recvs.pop_front().expect("head exists");
                    g.d.done
                        .push_back(Completion::Recv(op, ReceiveResult::Error, 0));
                    return Shared::break_socket(g);
                }
            };
            let op = g.recvs.pop_front().expect("head exists");
            g.d.done.push_back(Completion::Recv(op, result, bytes));
        }
    }

    /// Completes the notifications whose condition holds now. `force` checks even when no edge
    /// was seen (at submission).
    fn progress_notify(&self, g: &mut Inner, force: bool) {
        if g.notifies.is_empty() {
            return;
        }
        let want_in = g.notifies.iter().any(|(t, _)| *t == NotifyType::In);
        let want_out = g.notifies.iter().any(|(t, _)| *t == NotifyType::Out);
        let edge = (want_in && g.readable) || (want_out && g.writable) || g.error;
        if !force && !edge {
            return;
        }
        let revents = match os::poll_now(g.fd, libc::POLLIN | libc::POLLOUT) {
            Ok(r) => r,
            Err(_) => libc::POLLERR,
        };
        let is_in = revents & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP) != 0;
        let is_out = revents & libc::POLLOUT != 0;
        let is_err = revents & libc::POLLERR != 0;
        // Only clear: a set flag must always come from an edge, which also schedules a run.
        g.readable &= is_in;
        g.writable &= is_out;
        let mut keep = VecDeque::new();
        while let Some((t, op)) = g.notifies.pop_front() {
            let r = if is_err {
                Some(NotifyResult::Error)
            } else if t == NotifyType::In && is_in {
                Some(NotifyResult::In)
            } else if t == NotifyType::Out && is_out {
                Some(NotifyResult::Out)
            } else {
                None
            };
            match r {
                Some(r) => g.d.done.push_back(Completion::Notify(op, r)),
                None => keep.push_back((t, op)),
            }
        }
        g.notifies = keep;
    }

    fn progress(&self, g: &mut Inner) {
        if g.d.state != SocketState::Open {
            return;
        }
        self.progress_recv(g);
        self.progress_send(g);
        self.progress_notify(g, false);
    }

    /// Delivers completions (and performs the I/O that produces them) until there is nothing
    /// left; the caller has made this thread the runner.
    fn drive<'a>(&'a self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        loop {
            self.progress(&mut g);
            match g.d.done.pop_front() {
                Some(c) => {
                    drop(g);
                    if let Completion::Send(op, _) = &c {
                        self.pending_send_bytes
                            .fetch_sub(op.slots().total(), Relaxed);
                    }
                    c.deliver();
                    g = self.lock();
                }
                None => return g,
            }
        }
    }

    /// Ends CLOSING: closes the socket and wakes every waiter.
    fn finish_close(&self, g: &mut Inner) {
        g.transport = None;
        g.fd = -1;
        g.readable = false;
        g.writable = false;
        g.error = false;
        g.peer_closed = false;
        g.broken = false;
        g.d.closed();
        self.wake_waiters(g);
    }

    fn close(self: &Arc<Self>) {
        if self.reentered() {
            // From inside its own transport, which holds the lock: close once it returns.
            let sh = Arc::clone(self);
            return self.engine.execute(Box::new(move || sh.close()));
        }
        let (me, on_worker) = (thread_id(), self.engine.is_current_worker());
        let mut g = self.lock();
        let mut entered = false;
        loop {
            match g.d.close_step(me, on_worker, &mut entered) {
                CloseStep::Return => return,
                CloseStep::Wait => g = self.wait(g),
                CloseStep::Begin => self.begin_close(&mut g),
                CloseStep::Finish => return self.finish_close(&mut g),
                CloseStep::Deliver { nested } => {
                    g = self.drive(g);
                    if !nested {
                        g.d.runner = 0;
                    }
                    return self.finish_close(&mut g);
                }
                CloseStep::Schedule => {
                    drop(g);
                    self.engine.schedule(Arc::clone(self) as Arc<dyn Source>);
                    g = self.lock();
                }
            }
        }
    }

    /// OPEN -> CLOSING: deregisters the socket and cancels every pending operation (each queue
    /// in submission order) into `done`, in one critical section with the state change, so a
    /// submission either was queued before (and is cancelled here) or sees CLOSING.
    fn begin_close(&self, g: &mut Inner) {
        g.d.state = SocketState::Closing;
        self.engine.deregister(g.token, g.fd);
        let sends: Vec<_> = g.sends.drain(..).collect();
        let recvs: Vec<_> = g.recvs.drain(..).collect();
        let notifies: Vec<_> = g.notifies.drain(..).map(|(_, op)| op).collect();
        g.d.abandon(recvs, sends, notifies);
    }
}

impl Source for Shared {
    fn on_ready(&self, events: u32) -> bool {
        let mut g = self.lock();
        let ev = events as libc::c_int;
        if ev & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            g.readable = true;
        }
        if ev & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            g.writable = true;
        }
        if ev & libc::EPOLLERR != 0 {
            g.error = true;
        }
        if ev & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
            g.peer_closed = true;
        }
        if g.d.state != SocketState::Open || g.d.runner != 0 || g.d.queued {
            return false;
        }
        let work = (g.readable && !g.recvs.is_empty())
            || (g.writable && !g.sends.is_empty())
            || !g.notifies.is_empty();
        if work {
            g.d.queued = true;
        }
        work
    }

    fn run(self: Arc<Self>) {
        let mut g = self.lock();
        if !g.d.start_run(thread_id()) {
            return;
        }
        g = self.drive(g);
        if g.d.end_run() {
            self.finish_close(&mut g);
        }
        self.wake_waiters(&g);
    }
}
