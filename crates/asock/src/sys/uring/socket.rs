//! One async socket on the io_uring backend.
//!
//! # State and ownership
//! Everything mutable lives in [`Inner`] behind one mutex, as on the epoll backend: the lifecycle
//! state, the socket, a FIFO queue per direction, the completions ready to be delivered (`done`)
//! and the thread delivering them (`runner`).
//!
//! * **In flight**: at most one `SendMsg` (for the head of `sends`) and one `RecvMsg` (for the
//!   head of `recvs`), and at most one one-shot `PollAdd` per direction (for notifications, for a
//!   custom transport, and after an `EAGAIN`). The SQE points at the operation's own buffers (the
//!   operation is boxed and stays in its queue, so they never move) and at an iovec array and a
//!   `msghdr` in a heap allocation ([`Msg`]) held in `send_msg` / `recv_msg`. The socket owns
//!   all of that until the SQE's CQE arrives: only then is the `Msg` freed and may the operation
//!   leave its queue. A short send submits the rest; a receive completes on its first CQE.
//! * **CQEs** reach [`Shared::on_cqe`] by token (see `engine.rs`): it stores the result and
//!   schedules the socket's runner. The runner (exactly one thread at a time) turns results into
//!   completions, submits the next SQEs and delivers completions in order with the mutex
//!   released, like the epoll backend: on an engine worker, never inside the submitting call.
//! * **Close**: CLOSING (no new SQE from then on), an `AsyncCancel` for each SQE in flight, then
//!   wait until every one of them has its CQE (the closing thread reaps completions itself, so a
//!   close from inside a completion on the poller's thread cannot wait for itself); only then are
//!   the remaining operations completed ABANDONED (their buffers handed back) and the socket
//!   closed.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use io_uring::{opcode, types};

use super::engine::{user_data, Engine, Kind};
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp, Slot};
use crate::core::state::SocketState;
use crate::result::{
    NotifyResult, NotifyType, OpenError, OpenErrorKind, ReceiveResult, SendResult, SubmitErrorKind,
};
use crate::sys::custom::{self, Step};
use crate::sys::delivery::{CloseStep, Delivery};
use crate::sys::epoll::engine::{thread_id, Source};
use crate::sys::epoll::os;
use crate::transport::SocketTransport;
use crate::Transport;

/// iovecs handed to one `SendMsg` / `RecvMsg` (`UIO_MAXIOV`).
const IOV_MAX: usize = 1024;
/// How long a closing thread waits in the kernel for a CQE before looking again.
const CLOSE_POLL: Duration = Duration::from_millis(1);

/// The header of one in-flight `SendMsg` / `RecvMsg`: it lives in the socket's state (which
/// never moves: it is inside the socket's `Arc`) and points at the slots of the operation at the
/// head of its queue (which live in the operation's box).
struct Hdr(libc::msghdr);

// SAFETY: the raw pointers of the header point at the head operation's slots, owned by the same
// `Inner`; they are only read by the kernel, and the header is written under the socket's mutex,
// whichever thread that is.
unsafe impl Send for Hdr {}

impl Hdr {
    fn empty() -> Hdr {
        // SAFETY: an all-zero msghdr is a valid empty header.
        Hdr(unsafe { std::mem::zeroed() })
    }

    /// Points the header at (at most [`IOV_MAX`] of) `slots`.
    fn point_at(&mut self, slots: &[Slot]) -> *mut libc::msghdr {
        let iov = os::iovecs(&slots[..slots.len().min(IOV_MAX)]);
        self.0.msg_iov = iov.as_ptr().cast_mut();
        self.0.msg_iovlen = iov.len() as _;
        &mut self.0
    }
}

struct Inner {
    /// Lifecycle state, completions to deliver and who delivers them (`sys::delivery`).
    d: Delivery,
    transport: Option<SocketTransport>,
    fd: RawFd,
    token: u64,
    sends: VecDeque<Box<dyn SendOp>>,
    /// The head send's `SendMsg` is in flight (the kernel reads this header, and the slots it
    /// points at, until its CQE).
    send_msg: bool,
    send_hdr: Hdr,
    /// The result of the head send's last CQE, not yet accounted.
    send_res: Option<i32>,
    recvs: VecDeque<Box<dyn RecvOp>>,
    /// The head receive's `RecvMsg` is in flight.
    recv_msg: bool,
    recv_hdr: Hdr,
    recv_res: Option<i32>,
    notifies: VecDeque<(NotifyType, NotifyOp)>,
    /// A `PollAdd` for input / output is in flight.
    poll_in: bool,
    poll_out: bool,
    poll_in_res: Option<i32>,
    poll_out_res: Option<i32>,
    /// Whether an attempt may move bytes now: cleared by `EAGAIN` / `WouldBlock`, set again by
    /// a poll CQE.
    readable: bool,
    writable: bool,
    /// The custom transport panicked: see the epoll backend's `break_socket`.
    broken: bool,
}

impl Inner {
    /// Whether the kernel still holds an SQE of this socket.
    fn in_flight(&self) -> bool {
        self.send_msg || self.recv_msg || self.poll_in || self.poll_out
    }
}

/// The part of a socket the engine's registry holds while it is open.
pub(crate) struct Shared {
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

fn is_reset(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNRESET | libc::ECONNABORTED | libc::EPIPE | libc::ENOTCONN
    )
}

/// A result worth retrying rather than reporting.
fn is_retry(res: i32) -> bool {
    res == -libc::EINTR || res == -libc::EAGAIN || res == -libc::ECANCELED
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
                    sends: VecDeque::new(),
                    send_msg: false,
                    send_hdr: Hdr::empty(),
                    send_res: None,
                    recvs: VecDeque::new(),
                    recv_msg: false,
                    recv_hdr: Hdr::empty(),
                    recv_res: None,
                    notifies: VecDeque::new(),
                    poll_in: false,
                    poll_out: false,
                    poll_in_res: None,
                    poll_out_res: None,
                    readable: false,
                    writable: false,
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
        if let Err(e) = os::set_nonblocking(fd) {
            return Err(OpenError::new(OpenErrorKind::Io(e), transport));
        }
        g.token = sh.engine.register(Arc::clone(sh));
        g.transport = Some(transport);
        g.fd = fd;
        g.readable = true;
        g.writable = true;
        g.broken = false;
        g.d.abandoned = false;
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
        g.sends.push_back(op);
        sh.progress(&mut g);
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
        g.recvs.push_back(op);
        sh.progress(&mut g);
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
        sh.arm(&mut g);
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

    /// Records a CQE of this socket; `true` when the caller must schedule the runner.
    pub(crate) fn on_cqe(&self, kind: Kind, res: i32) -> bool {
        let mut g = self.lock();
        match kind {
            Kind::Send => {
                g.send_msg = false;
                g.send_res = Some(res);
            }
            Kind::Recv => {
                g.recv_msg = false;
                g.recv_res = Some(res);
            }
            Kind::PollIn => {
                g.poll_in = false;
                g.poll_in_res = Some(res);
            }
            Kind::PollOut => {
                g.poll_out = false;
                g.poll_out_res = Some(res);
            }
            Kind::Cancel => return false,
        }
        if g.d.state != SocketState::Open {
            self.wake_waiters(&g);
            return false;
        }
        if g.d.runner != 0 || g.d.queued {
            return false;
        }
        g.d.queued = true;
        true
    }

    // ----- submissions ------------------------------------------------------------------------

    /// Pushes a `SendMsg` for the unsent bytes of the head send.
    fn start_send(&self, g: &mut Inner) {
        let (fd, token) = (g.fd, g.token);
        let Inner {
            sends, send_hdr, ..
        } = g;
        let Some(head) = sends.front() else {
            return;
        };
        let hdr = send_hdr.point_at(head.slots().remaining());
        let entry = opcode::SendMsg::new(types::Fd(fd), hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data(token, Kind::Send));
        g.send_msg = true;
        // SAFETY: the entry points at `send_hdr` (in this socket's state, which never moves,
        // and is not written again while `send_msg` is set: only `on_cqe` clears it, and close
        // waits for that), at the head send's slots and buffers (the boxed operation stays at
        // the head of `sends` until the CQE has been accounted), and at the socket, which is
        // only closed after the CQE.
        unsafe { self.engine.push(&entry) };
    }

    /// Pushes a `RecvMsg` into the head receive's buffers.
    fn start_recv(&self, g: &mut Inner) {
        let (fd, token) = (g.fd, g.token);
        let Inner {
            recvs, recv_hdr, ..
        } = g;
        let Some(head) = recvs.front() else {
            return;
        };
        let hdr = recv_hdr.point_at(head.slots().remaining());
        let entry = opcode::RecvMsg::new(types::Fd(fd), hdr)
            .build()
            .user_data(user_data(token, Kind::Recv));
        g.recv_msg = true;
        // SAFETY: as in `start_send`; the head receive's buffers are not touched by anyone until
        // the CQE (the operation is only completed, and its buffers handed back, after it).
        unsafe { self.engine.push(&entry) };
    }

    /// Arms the one-shot polls that notifications and stalled transfers need.
    fn arm(&self, g: &mut Inner) {
        if g.d.state != SocketState::Open {
            return;
        }
        let want_in = g.notifies.iter().any(|(t, _)| *t == NotifyType::In)
            || (!g.readable && !g.recvs.is_empty());
        let want_out = g.notifies.iter().any(|(t, _)| *t == NotifyType::Out)
            || (!g.writable && !g.sends.is_empty());
        let polls = [
            (
                want_in && !g.poll_in,
                Kind::PollIn,
                libc::POLLIN | libc::POLLRDHUP,
            ),
            (want_out && !g.poll_out, Kind::PollOut, libc::POLLOUT),
        ];
        for (arm, kind, mask) in polls {
            if !arm {
                continue;
            }
            if kind == Kind::PollIn {
                g.poll_in = true;
            } else {
                g.poll_out = true;
            }
            let entry = opcode::PollAdd::new(types::Fd(g.fd), mask as u32)
                .build()
                .user_data(user_data(g.token, kind));
            // SAFETY: a poll points at no memory; the socket stays open until its CQE.
            unsafe { self.engine.push(&entry) };
        }
    }

    // ----- results ----------------------------------------------------------------------------

    fn account_send(&self, g: &mut Inner, res: i32) {
        if is_retry(res) {
            if res == -libc::EAGAIN {
                g.writable = false;
            }
            return;
        }
        let result = if res > 0 {
            let head = g.sends.front_mut().expect("an in-flight send is the head");
            head.slots_mut().advance(res as usize);
            if !head.slots().is_finished() {
                return;
            }
            SendResult::Ok
        } else if res == 0 || !is_reset(-res) {
            SendResult::Error
        } else {
            SendResult::Abandoned
        };
        let op = g.sends.pop_front().expect("an in-flight send is the head");
        g.d.done.push_back(Completion::Send(op, result));
    }

    fn account_recv(&self, g: &mut Inner, res: i32) {
        if is_retry(res) {
            if res == -libc::EAGAIN {
                g.readable = false;
            }
            return;
        }
        let (result, bytes) = if res > 0 {
            (ReceiveResult::Ok, res as u32)
        } else if res == 0 || is_reset(-res) {
            (ReceiveResult::Abandoned, 0)
        } else {
            (ReceiveResult::Error, 0)
        };
        let op = g
            .recvs
            .pop_front()
            .expect("an in-flight receive is the head");
        g.d.done.push_back(Completion::Recv(op, result, bytes));
    }

    /// A poll CQE: the socket may move bytes again; notifications whose condition holds complete.
    fn account_poll(&self, g: &mut Inner, res: i32) {
        if res == -libc::ECANCELED {
            return;
        }
        let mask = if res < 0 {
            libc::POLLERR
        } else {
            res as libc::c_short
        };
        let is_in = mask & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP) != 0;
        let is_out = mask & libc::POLLOUT != 0;
        let is_err = mask & libc::POLLERR != 0;
        if is_in || is_err {
            g.readable = true;
        }
        if is_out || is_err {
            g.writable = true;
        }
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

    /// Accounts the CQEs received so far, then (while OPEN) starts what can start now.
    fn progress(&self, g: &mut Inner) {
        if let Some(res) = g.poll_in_res.take() {
            self.account_poll(g, res);
        }
        if let Some(res) = g.poll_out_res.take() {
            self.account_poll(g, res);
        }
        if let Some(res) = g.recv_res.take() {
            self.account_recv(g, res);
        }
        if let Some(res) = g.send_res.take() {
            self.account_send(g, res);
        }
        if g.d.state != SocketState::Open {
            return;
        }
        if self.custom.is_some() {
            self.custom_recv(g);
            self.custom_send(g);
        } else {
            if g.readable && !g.recv_msg && !g.recvs.is_empty() {
                self.start_recv(g);
            }
            if g.writable && !g.send_msg && !g.sends.is_empty() {
                self.start_send(g);
            }
        }
        self.arm(g);
    }

    // ----- custom transports: readiness from polls, bytes from the transport -------------------

    fn custom_send(&self, g: &mut Inner) {
        while g.writable && !g.sends.is_empty() {
            let step = self.custom_send_step(g);
            let finished = match step {
                Step::Moved(n) => {
                    let head = g.sends.front_mut().expect("head exists");
                    head.slots_mut().advance(n);
                    head.slots().is_finished().then_some(SendResult::Ok)
                }
                Step::WouldBlock => {
                    g.writable = false;
                    None
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Step::Failed(e) if custom::is_reset(&e) => Some(SendResult::Abandoned),
                Step::Failed(_) | Step::Eof => Some(SendResult::Error),
                Step::Panicked => {
                    let op = g.sends.pop_front().expect("head exists");
                    g.d.done.push_back(Completion::Send(op, SendResult::Error));
                    return Shared::break_socket(g);
                }
            };
            if let Some(r) = finished {
                let op = g.sends.pop_front().expect("head exists");
                g.d.done.push_back(Completion::Send(op, r));
            }
        }
    }

    fn custom_send_step(&self, g: &mut Inner) -> Step {
        match (&self.custom, g.sends.front()) {
            (Some(custom), Some(head)) => custom::send(
                self.id(),
                custom.as_ref(),
                g.transport.as_ref(),
                head.as_ref(),
            ),
            _ => Step::WouldBlock,
        }
    }

    fn custom_recv(&self, g: &mut Inner) {
        while g.readable && !g.recvs.is_empty() {
            let (result, bytes) = match self.custom_recv_step(g) {
                Step::Moved(n) => (ReceiveResult::Ok, n as u32),
                Step::WouldBlock => {
                    g.readable = false;
                    continue;
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Step::Eof => (ReceiveResult::Abandoned, 0),
                Step::Failed(e) if custom::is_reset(&e) => (ReceiveResult::Abandoned, 0),
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

    fn custom_recv_step(&self, g: &mut Inner) -> Step {
        let Some(custom) = &self.custom else {
            return Step::WouldBlock;
        };
        match g.recvs.front_mut() {
            Some(head) => custom::recv(
                self.id(),
                custom.as_ref(),
                g.transport.as_ref(),
                head.as_mut(),
            ),
            None => Step::WouldBlock,
        }
    }

    /// The transport panicked: every other pending operation fails as on a reset (sends and
    /// receives ABANDONED, notifications ERROR), and so does everything submitted until close.
    /// (Custom transports make no SQE for bytes, only polls, which may stay in flight.)
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

    // ----- delivery and close -----------------------------------------------------------------

    /// Delivers completions (accounting CQEs and submitting the next SQEs as it goes) until there
    /// is nothing left; the caller has made this thread the runner.
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
                CloseStep::Begin => g = self.begin_close(g),
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

    /// OPEN -> CLOSING: cancels the SQEs in flight, waits until the kernel has completed every one
    /// of them, then abandons every pending operation into `done` (each queue in submission
    /// order). Submissions made after the state change see CLOSING.
    fn begin_close<'a>(&'a self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        g.d.state = SocketState::Closing;
        g.d.abandoned = false;
        // Cancel what the kernel holds; from now on nothing new is submitted.
        let token = g.token;
        let busy = [
            (g.send_msg, Kind::Send),
            (g.recv_msg, Kind::Recv),
            (g.poll_in, Kind::PollIn),
            (g.poll_out, Kind::PollOut),
        ];
        for (busy, kind) in busy {
            if busy {
                let entry = opcode::AsyncCancel::new(user_data(token, kind))
                    .build()
                    .user_data(user_data(token, Kind::Cancel));
                // SAFETY: a cancel points at no memory.
                unsafe { self.engine.push(&entry) };
            }
        }
        self.engine.submit_now();
        // Wait until the kernel is done with every buffer, reaping completions here: the thread
        // that would otherwise reap them may be this one.
        while g.in_flight() {
            drop(g);
            self.engine.reap_for(CLOSE_POLL);
            g = self.lock();
        }
        self.engine.deregister(token);
        // What completed before the cancel keeps its result (a receive that got data is OK);
        // the rest is abandoned.
        self.progress(&mut g);
        let sends: Vec<_> = g.sends.drain(..).collect();
        let recvs: Vec<_> = g.recvs.drain(..).collect();
        let notifies: Vec<_> = g.notifies.drain(..).map(|(_, op)| op).collect();
        g.d.abandon(recvs, sends, notifies);
        self.wake_waiters(&g);
        g
    }
}

impl Source for Shared {
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
