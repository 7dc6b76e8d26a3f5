//! One async socket on Linux, written once for every driver.
//!
//! # State and ownership
//! Everything mutable lives in [`Core`] behind the socket's mutex: the lifecycle and delivery
//! bookkeeping (`d`, see `delivery.rs`), the socket, a FIFO queue per direction and for
//! notifications, whether an attempt to move bytes may succeed now (`readable` / `writable`),
//! and the driver's own state (`io`).
//!
//! * The I/O of a queue is always for its *head*, so bytes of concurrent sends never
//!   interleave and receives fill in submission order. It runs with the mutex held (it never
//!   blocks: the socket is non-blocking), on whichever thread holds it.
//! * Completions are delivered with the mutex released, by exactly one thread at a time, the
//!   runner, in the order they were produced; an operation leaves every queue exactly once, into
//!   `done`, so it completes exactly once.
//! * A socket is bound to one shard (one worker and its event source) from open to close. Its
//!   events arrive on that worker, which runs the socket in place; a submission from another
//!   thread makes what progress it may there and hands the rest (and the delivery) to that
//!   worker's queue. A submission from inside a completion on the worker itself goes straight
//!   to the kernel, and its completion is delivered once the current callback returns.
//!
//! # Close
//! `close` follows the steps of [`Delivery::close_step`]. CLOSING begins with the driver
//! stopping the socket's I/O; while the kernel still holds memory of the socket (io_uring's
//! operations until their cancellations report back) nothing leaves the queues; then every
//! pending operation is abandoned, delivered, and the socket closed. A close made on the shard's
//! worker (inside a completion) pumps the shard's events itself while it waits for the kernel,
//! so it never waits for itself.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::custom::{self, Step};
use super::delivery::{CloseStep, Delivery};
use super::driver::{Driver, Here};
#[cfg(loom)]
use super::loom::kernel as os;
#[cfg(not(loom))]
use super::os;
use super::pool::{thread_id, Pool};
use super::sync::{AtomicUsize, Condvar, Mutex, MutexGuard};
use crate::core::errors::is_connection_gone;
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
use crate::core::poison::unpoisoned;
use crate::core::state::SocketState;
use crate::result::{
    NotifyResult, NotifyType, OpenError, OpenErrorKind, ReceiveResult, SendResult, SubmitErrorKind,
};
use crate::transport::SocketTransport;
use crate::Transport;

/// What [`SocketIo::admit`] gives: the locked core and the operation, or the refusal and the
/// operation back.
type Admitted<'a, D, T> = Result<(MutexGuard<'a, Core<D>>, T), (SubmitErrorKind, T)>;

/// The mutable state of one socket (see the module docs).
pub(crate) struct Core<D: Driver> {
    /// Lifecycle state, completions to deliver and who delivers them.
    pub(crate) d: Delivery,
    pub(crate) transport: Option<SocketTransport>,
    pub(crate) fd: RawFd,
    /// The socket's token in its shard's registry (its events carry it).
    pub(crate) token: u64,
    /// The shard the socket is bound to while open.
    pub(crate) shard: usize,
    pub(crate) sends: VecDeque<Box<dyn SendOp>>,
    pub(crate) recvs: VecDeque<Box<dyn RecvOp>>,
    pub(crate) notifies: VecDeque<(NotifyType, NotifyOp)>,
    /// An attempt to read may move bytes now (readiness seen, no `WouldBlock` since).
    pub(crate) readable: bool,
    /// An attempt to write may move bytes now.
    pub(crate) writable: bool,
    /// A custom transport panicked: the stream is in an unknown state, so the socket fails
    /// everything as a reset would, until it is closed.
    pub(crate) broken: bool,
    /// The error of the last send or receive that failed (a reset, a broken pipe...), so that
    /// a byte stream can tell a reset from the end of the stream.
    pub(crate) failure: Option<io::ErrorKind>,
    /// Set by the driver when the first attempt of the head send failed before any byte left
    /// (the send stays at the head): a submission reports that synchronously, anything else
    /// completes the send with the error.
    pub(crate) refused: Option<io::Error>,
    /// The driver's per-socket state.
    pub(crate) io: D::Io,
    /// `(local port, peer port)` when this is one end of a loopback connection.
    pair: Option<(u16, u16)>,
}

impl<D: Driver> Core<D> {
    /// Completes the head send with `result`.
    pub(crate) fn finish_send(&mut self, result: SendResult) {
        if let Some(op) = self.sends.pop_front() {
            self.d.done.push_back(Completion::Send(op, result));
        }
    }

    /// Completes the head receive.
    pub(crate) fn finish_recv(&mut self, result: ReceiveResult, bytes: u32) {
        if let Some(op) = self.recvs.pop_front() {
            self.d.done.push_back(Completion::Recv(op, result, bytes));
        }
    }

    /// Completes the head send as failed with `e` (ABANDONED for a reset, ERROR otherwise).
    pub(crate) fn fail_send(&mut self, e: &io::Error) {
        self.failure = Some(e.kind());
        self.finish_send(send_failure(e));
    }

    /// Completes the head receive as failed with `e` (ABANDONED for a reset, ERROR otherwise).
    pub(crate) fn fail_recv(&mut self, e: &io::Error) {
        self.failure = Some(e.kind());
        self.finish_recv(recv_failure(e), 0);
    }

    /// Completes the notifications whose condition holds (`is_err` completes all as ERROR).
    pub(crate) fn complete_notifies(&mut self, is_in: bool, is_out: bool, is_err: bool) {
        let mut keep = VecDeque::new();
        while let Some((t, op)) = self.notifies.pop_front() {
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
                Some(r) => self.d.done.push_back(Completion::Notify(op, r)),
                None => keep.push_back((t, op)),
            }
        }
        self.notifies = keep;
    }

    /// Whether notifications wait for input / output.
    pub(crate) fn notify_wants(&self) -> (bool, bool) {
        let want_in = self.notifies.iter().any(|(t, _)| *t == NotifyType::In);
        let want_out = self.notifies.iter().any(|(t, _)| *t == NotifyType::Out);
        (want_in, want_out)
    }

    /// User code (a custom transport) panicked: every other pending operation fails as on a
    /// reset (sends and receives ABANDONED, notifications ERROR), and so does everything
    /// submitted until the socket is closed.
    pub(crate) fn break_socket(&mut self) {
        self.broken = true;
        let recvs: Vec<_> = self.recvs.drain(..).collect();
        self.d
            .done
            .extend(recvs.into_iter().map(Completion::abandoned_recv));
        let sends: Vec<_> = self.sends.drain(..).collect();
        self.d
            .done
            .extend(sends.into_iter().map(Completion::abandoned_send));
        let notifies: Vec<_> = self.notifies.drain(..).collect();
        self.d.done.extend(
            notifies
                .into_iter()
                .map(|(_, op)| Completion::Notify(op, NotifyResult::Error)),
        );
    }

    /// A custom transport's steps for both queues, while the socket is readable / writable
    /// (readiness comes from the driver, the bytes from the transport).
    pub(crate) fn custom_progress(&mut self, custom: &dyn Transport, id: usize) {
        while self.readable && !self.recvs.is_empty() && !self.broken {
            let head = self.recvs.front_mut().expect("a head receive");
            let (result, bytes) =
                match custom::recv(id, custom, self.transport.as_ref(), &mut **head) {
                    Step::Moved(n) => (ReceiveResult::Ok, n as u32),
                    Step::WouldBlock => {
                        self.readable = false;
                        continue;
                    }
                    Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Step::Eof => (ReceiveResult::Abandoned, 0),
                    Step::Failed(e) => {
                        self.fail_recv(&e);
                        continue;
                    }
                    Step::Panicked => {
                        self.finish_recv(ReceiveResult::Error, 0);
                        return self.break_socket();
                    }
                };
            self.finish_recv(result, bytes);
        }
        while self.writable && !self.sends.is_empty() && !self.broken && self.refused.is_none() {
            let head = self.sends.front_mut().expect("a head send");
            let result = match custom::send(id, custom, self.transport.as_ref(), &**head) {
                Step::Moved(n) => {
                    head.slots_mut().advance(n);
                    if !head.slots().is_finished() {
                        continue;
                    }
                    SendResult::Ok
                }
                Step::WouldBlock => {
                    self.writable = false;
                    continue;
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Step::Failed(e) if head.slots().done() == 0 => {
                    // Nothing of it left: the caller reports or completes it.
                    self.refused = Some(e);
                    return;
                }
                Step::Failed(e) => {
                    self.fail_send(&e);
                    continue;
                }
                Step::Eof => SendResult::Error,
                Step::Panicked => {
                    self.finish_send(SendResult::Error);
                    return self.break_socket();
                }
            };
            self.finish_send(result);
        }
    }
}

/// Linux send completion for an error: a reset is ABANDONED, anything else ERROR.
pub(crate) fn send_failure(e: &io::Error) -> SendResult {
    if is_connection_gone(e) {
        SendResult::Abandoned
    } else {
        SendResult::Error
    }
}

/// Linux receive completion for an error: a reset is ABANDONED, anything else ERROR.
pub(crate) fn recv_failure(e: &io::Error) -> ReceiveResult {
    if is_connection_gone(e) {
        ReceiveResult::Abandoned
    } else {
        ReceiveResult::Error
    }
}

/// The shared part of one async socket: what its shard's registry, its queued task and its
/// [`SocketIo`] hold.
pub(crate) struct Socket<D: Driver> {
    pool: Arc<Pool<D>>,
    pub(crate) custom: Option<Box<dyn Transport>>,
    core: Mutex<Core<D>>,
    /// Signalled when `state` becomes CLOSED, `runner` becomes 0, or the kernel gives back what
    /// a closing socket lent it.
    cv: Condvar,
    /// Bytes of accepted sends whose completion has not run yet.
    pending_send_bytes: AtomicUsize,
}

impl<D: Driver> Socket<D> {
    /// This socket's identity for [`custom::inside_transport_of`].
    pub(crate) fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// The calling thread is inside this socket's own custom transport (which runs with the
    /// lock held): any call that would take the lock must be refused instead.
    fn reentered(&self) -> bool {
        self.custom.is_some() && custom::inside_transport_of(self.id())
    }

    fn lock(&self) -> MutexGuard<'_, Core<D>> {
        super::sync::lock(&self.core)
    }

    fn wait<'a>(&self, mut g: MutexGuard<'a, Core<D>>) -> MutexGuard<'a, Core<D>> {
        g.d.waiters += 1;
        let mut g = unpoisoned(self.cv.wait(g));
        g.d.waiters -= 1;
        g
    }

    fn wake_waiters(&self, g: &Core<D>) {
        if g.d.waiters > 0 {
            self.cv.notify_all();
        }
    }

    /// The driver's steps, as far as this thread may take them (while OPEN); a refused head
    /// send is left for the caller ([`Core::refused`]).
    fn driver_progress(&self, g: &mut Core<D>, here: Here) {
        if g.d.state == SocketState::Open && !g.broken {
            let custom = self.custom.as_deref().map(|c| (c, self.id()));
            self.pool.driver(g.shard).progress(g, here, custom);
        }
    }

    /// Moves the socket forward as far as this thread may.
    fn progress(&self, g: &mut Core<D>, here: Here) {
        self.driver_progress(g, here);
        if let Some(e) = g.refused.take() {
            g.fail_send(&e);
        }
    }

    /// After a submission or an event: make sure produced completions get delivered, and work
    /// only the shard's worker can do gets done, by scheduling the socket on its shard (unless
    /// a runner or a queued task will see it).
    fn kick(self: &Arc<Self>, mut g: MutexGuard<'_, Core<D>>, here: Here) {
        let needs_worker =
            here == Here::Elsewhere && g.d.state == SocketState::Open && D::needs_driver(&g);
        if (g.d.done.is_empty() && !needs_worker) || g.d.runner != 0 || g.d.queued {
            return;
        }
        g.d.queued = true;
        let shard = g.shard;
        drop(g);
        self.pool.schedule_socket(shard, Arc::clone(self));
    }

    /// Delivers completions (and performs the I/O that produces them) until there is nothing
    /// left; the caller has made this thread the runner.
    fn drive<'a>(&'a self, mut g: MutexGuard<'a, Core<D>>) -> MutexGuard<'a, Core<D>> {
        let here = self.pool.here(g.shard);
        loop {
            self.progress(&mut g, here);
            if g.d.state == SocketState::Closing && !g.d.abandoned {
                self.try_settle(&mut g, here);
            }
            match g.d.done.pop_front() {
                Some(c) => {
                    drop(g);
                    if let Completion::Send(op, _) = &c {
                        self.pending_send_bytes
                            .fetch_sub(op.slots().total(), Relaxed);
                    }
                    self.pool.user_code(|| c.deliver());
                    g = self.lock();
                }
                None => return g,
            }
        }
    }

    /// Runs the socket on this thread (the runner), then releases the runner role.
    fn run_locked<'a>(self: &'a Arc<Self>, mut g: MutexGuard<'a, Core<D>>) {
        g = self.drive(g);
        if g.d.end_run() {
            self.finish_close(&mut g);
        } else if !g.d.queued && self.pool.here(g.shard) == Here::Elsewhere {
            // Work only the shard's worker can do (submissions, taking back what the kernel
            // holds of a closing socket): hand it over.
            let open_work = g.d.state == SocketState::Open && D::needs_driver(&g);
            let closing = g.d.state == SocketState::Closing && !g.d.abandoned;
            if open_work || closing {
                g.d.queued = true;
                let shard = g.shard;
                self.wake_waiters(&g);
                drop(g);
                return self.pool.schedule_socket(shard, Arc::clone(self));
            }
        }
        self.wake_waiters(&g);
    }

    /// A task for the socket runs on a worker.
    pub(crate) fn run(self: &Arc<Self>) {
        let mut g = self.lock();
        if !g.d.start_run(thread_id()) {
            return;
        }
        self.run_locked(g);
    }

    /// An event of the socket arrived on a worker of its shard: records it; whether the caller
    /// must now queue the socket on its shard (it has work and no runner or queued task will
    /// see it; `queued` is then set). Events of a batch are all recorded before any socket runs,
    /// so no callback can wait for a result that this thread reaped but has not recorded yet.
    pub(crate) fn record(&self, event: D::Event) -> bool {
        let mut g = self.lock();
        let work = D::on_event(&mut g, event);
        let closing = g.d.state == SocketState::Closing && !g.d.abandoned;
        if closing {
            // A closer may be waiting for the kernel to give the socket's memory back.
            self.wake_waiters(&g);
        }
        if !(work || closing) || g.d.runner != 0 || g.d.queued {
            return false;
        }
        g.d.queued = true;
        true
    }

    /// CLOSING: once the kernel holds nothing of the socket any more, abandons every pending
    /// operation (each queue in submission order) into `done`.
    fn try_settle(&self, g: &mut Core<D>, here: Here) {
        if self.pool.driver(g.shard).settle(g, here) {
            let sends: Vec<_> = g.sends.drain(..).collect();
            let recvs: Vec<_> = g.recvs.drain(..).collect();
            let notifies: Vec<_> = g.notifies.drain(..).map(|(_, op)| op).collect();
            g.d.abandon(recvs, sends, notifies);
            self.wake_waiters(g);
        }
    }

    /// Ends CLOSING: closes the socket and wakes every waiter.
    fn finish_close(&self, g: &mut Core<D>) {
        let driver = self.pool.driver(g.shard);
        driver.close(&mut g.io, g.fd);
        self.pool.unbind(g.shard, g.token, g.pair.take());
        g.transport = None;
        g.fd = -1;
        g.readable = false;
        g.writable = false;
        g.broken = false;
        g.failure = None;
        g.d.closed();
        self.wake_waiters(g);
    }

    /// The blocking close of contract C9 (see the module docs).
    pub(crate) fn close(self: &Arc<Self>) {
        if self.reentered() {
            // From inside its own transport, which holds the lock: close once it returns.
            let sh = Arc::clone(self);
            return self.pool.execute(Box::new(move || sh.close()));
        }
        let (me, on_worker) = (thread_id(), self.pool.is_current_worker());
        let mut g = self.lock();
        let mut entered = false;
        loop {
            match g.d.close_step(me, on_worker, &mut entered) {
                CloseStep::Return => return,
                CloseStep::Wait => {
                    let here = self.pool.here(g.shard);
                    if g.d.state == SocketState::Closing && !g.d.abandoned && here == Here::Driver {
                        // The kernel still holds memory of the socket and this thread is the
                        // one that hears from it: listen here rather than wait for itself.
                        let shard = g.shard;
                        drop(g);
                        self.pool.pump(shard);
                        g = self.lock();
                        self.try_settle(&mut g, here);
                    } else {
                        g = self.wait(g);
                    }
                }
                CloseStep::Begin => {
                    g.d.state = SocketState::Closing;
                    let here = self.pool.here(g.shard);
                    self.try_settle(&mut g, here);
                    if !g.d.abandoned && here == Here::Elsewhere && g.d.runner == 0 && !g.d.queued {
                        // The shard's worker must take the kernel's memory back.
                        g.d.queued = true;
                        let shard = g.shard;
                        drop(g);
                        self.pool.schedule_socket(shard, Arc::clone(self));
                        g = self.lock();
                    }
                }
                CloseStep::Finish => return self.finish_close(&mut g),
                CloseStep::Deliver { nested } => {
                    g = self.drive(g);
                    if !nested {
                        g.d.runner = 0;
                    }
                    return self.finish_close(&mut g);
                }
                CloseStep::Schedule => {
                    let shard = g.shard;
                    drop(g);
                    self.pool.schedule_socket(shard, Arc::clone(self));
                    g = self.lock();
                }
            }
        }
    }
}

/// The backend half of an [`crate::AsyncSocket`] on a Linux driver.
pub(crate) struct SocketIo<D: Driver> {
    socket: Arc<Socket<D>>,
}

impl<D: Driver> SocketIo<D> {
    /// An async socket in the CLOSED state on `pool`, optionally with a custom transport.
    pub(crate) fn new(pool: Arc<Pool<D>>, custom: Option<Box<dyn Transport>>) -> Self {
        SocketIo {
            socket: Arc::new(Socket {
                pool,
                custom,
                core: Mutex::new(Core {
                    d: Delivery::new(),
                    transport: None,
                    fd: -1,
                    token: 0,
                    shard: 0,
                    sends: VecDeque::new(),
                    recvs: VecDeque::new(),
                    notifies: VecDeque::new(),
                    readable: false,
                    writable: false,
                    broken: false,
                    failure: None,
                    refused: None,
                    io: D::io(),
                    pair: None,
                }),
                cv: Condvar::new(),
                pending_send_bytes: AtomicUsize::new(0),
            }),
        }
    }

    pub(crate) fn state(&self) -> SocketState {
        if self.socket.reentered() {
            // Its own transport is running under the lock: the socket is OPEN.
            return SocketState::Open;
        }
        self.socket.lock().d.state
    }

    /// Bytes of accepted sends whose completion has not run yet.
    pub(crate) fn pending_send_bytes(&self) -> usize {
        self.socket.pending_send_bytes.load(Relaxed)
    }

    /// The error of the last send or receive that failed, if any (see [`Core::failure`]).
    pub(crate) fn failure(&self) -> Option<io::ErrorKind> {
        if self.socket.reentered() {
            return None;
        }
        self.socket.lock().failure
    }

    /// The worker the socket is bound to while it is open.
    pub(crate) fn worker(&self) -> Option<usize> {
        if self.socket.reentered() {
            return None;
        }
        let g = self.socket.lock();
        matches!(g.d.state, SocketState::Open | SocketState::Closing).then_some(g.shard)
    }

    pub(crate) fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        let sh = &self.socket;
        if sh.reentered() {
            return Err(OpenError::new(OpenErrorKind::NotClosed, transport));
        }
        let fd = match transport.socket() {
            Some(s) => s.as_raw_fd(),
            None => return Err(OpenError::new(OpenErrorKind::InvalidTransport, transport)),
        };
        let mut g = sh.lock();
        if g.d.state != SocketState::Closed {
            return Err(OpenError::new(OpenErrorKind::NotClosed, transport));
        }
        g.d.state = SocketState::Opening;
        let pair = match (transport.local_addr(), transport.peer_addr()) {
            (Some(local), Some(peer)) if peer.ip().is_loopback() => {
                Some((local.port(), peer.port()))
            }
            _ => None,
        };
        let opened = os::set_nonblocking(fd).and_then(|()| {
            let (shard, token) = sh.pool.bind(Arc::clone(sh), pair);
            g.shard = shard;
            g.token = token;
            g.fd = fd;
            g.readable = false;
            g.writable = true;
            g.broken = false;
            let custom = sh.custom.is_some();
            sh.pool.driver(shard).open(&mut g, custom).inspect_err(|_| {
                sh.pool.unbind(shard, token, pair);
                g.fd = -1;
            })
        });
        if let Err(e) = opened {
            g.d.state = SocketState::Closed;
            sh.wake_waiters(&g);
            return Err(OpenError::new(OpenErrorKind::Io(e), transport));
        }
        g.transport = Some(transport);
        g.pair = pair;
        g.d.state = SocketState::Open;
        Ok(())
    }

    /// The checks every submission makes before it queues anything: not from inside the
    /// socket's own transport, and only while OPEN (and not broken).
    fn admit<T>(&self, op: T) -> Admitted<'_, D, T> {
        let sh = &self.socket;
        if sh.reentered() {
            return Err((SubmitErrorKind::Io(custom::reentered()), op));
        }
        let g = sh.lock();
        if g.d.state != SocketState::Open || g.broken {
            return Err((SubmitErrorKind::NotOpen, op));
        }
        Ok((g, op))
    }

    /// Queues an operation after the checks of [`SocketIo::admit`].
    fn submit<T>(
        &self,
        op: T,
        push: impl FnOnce(&mut Core<D>, T),
    ) -> Result<(), (SubmitErrorKind, T)> {
        let sh = &self.socket;
        let (mut g, op) = self.admit(op)?;
        push(&mut g, op);
        let here = sh.pool.here(g.shard);
        sh.progress(&mut g, here);
        sh.kick(g, here);
        Ok(())
    }

    pub(crate) fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)> {
        let sh = &self.socket;
        let (mut g, op) = self.admit(op)?;
        sh.pending_send_bytes.fetch_add(total, Relaxed);
        let was_empty = g.sends.is_empty();
        g.sends.push_back(op);
        let here = sh.pool.here(g.shard);
        sh.driver_progress(&mut g, here);
        if let Some(e) = g.refused.take() {
            if was_empty {
                // This very send was refused before any byte left: say so now.
                let op = g.sends.pop_front().expect("the refused send is the head");
                sh.pending_send_bytes.fetch_sub(total, Relaxed);
                let kind = if is_connection_gone(&e) {
                    SubmitErrorKind::NotOpen
                } else {
                    SubmitErrorKind::Io(e)
                };
                sh.kick(g, here);
                return Err((kind, op));
            }
            g.fail_send(&e);
        }
        sh.kick(g, here);
        Ok(())
    }

    pub(crate) fn submit_recv(
        &self,
        op: Box<dyn RecvOp>,
    ) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        self.submit(op, |g, op| g.recvs.push_back(op))
    }

    pub(crate) fn submit_notify(
        &self,
        io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        self.submit(op, |g, op| g.notifies.push_back((io_type, op)))
    }

    pub(crate) fn close(&self) {
        self.socket.close();
    }

    /// Closes on an engine worker without blocking the caller; `on_closed` runs there once the
    /// socket is CLOSED.
    pub(crate) fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        let sh = Arc::clone(&self.socket);
        self.socket.pool.execute(Box::new(move || {
            sh.close();
            on_closed();
        }));
    }
}

impl<D: Driver> Drop for SocketIo<D> {
    fn drop(&mut self) {
        self.socket.close();
    }
}
