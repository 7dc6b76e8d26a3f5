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
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use io_uring::{opcode, types};

use super::engine::{user_data, Engine, Kind};
use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
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

/// The iovec array and header of one in-flight `SendMsg` / `RecvMsg`.
struct Msg {
    iov: Vec<libc::iovec>,
    hdr: libc::msghdr,
}

// SAFETY: the raw pointers in `iov` and `hdr` point at the operation's buffers and at `iov`
// itself, all owned by the same `Inner`; they are only read by the kernel, and the `Msg` is
// created and dropped under the socket's mutex, whichever thread that is.
unsafe impl Send for Msg {}

impl Msg {
    /// A header over `iov` (boxed, so `hdr.msg_iov` stays valid when the box moves).
    fn new(iov: Vec<libc::iovec>) -> Box<Msg> {
        // SAFETY: an all-zero msghdr is a valid empty header.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut m = Box::new(Msg { iov, hdr });
        m.hdr.msg_iov = m.iov.as_mut_ptr();
        m.hdr.msg_iovlen = m.iov.len() as _;
        m
    }
}

struct PendingSend {
    op: Box<dyn SendOp>,
    total: usize,
    sent: usize,
}

struct Inner {
    /// Lifecycle state, completions to deliver and who delivers them (`sys::delivery`).
    d: Delivery,
    transport: Option<SocketTransport>,
    fd: RawFd,
    token: u64,
    sends: VecDeque<PendingSend>,
    /// The head send's `SendMsg` is in flight (the kernel reads this until its CQE).
    send_msg: Option<Box<Msg>>,
    /// The result of the head send's last CQE, not yet accounted.
    send_res: Option<i32>,
    recvs: VecDeque<Box<dyn RecvOp>>,
    /// The head receive's `RecvMsg` is in flight.
    recv_msg: Option<Box<Msg>>,
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
}

impl Inner {
    /// Whether the kernel still holds an SQE of this socket.
    fn in_flight(&self) -> bool {
        self.send_msg.is_some() || self.recv_msg.is_some() || self.poll_in || self.poll_out
    }
}

/// The part of a socket the engine's registry holds while it is open.
pub(crate) struct Shared {
    engine: Arc<Engine>,
    custom: Option<Box<dyn Transport>>,
    inner: Mutex<Inner>,
    /// Signalled when `state` becomes CLOSED or `runner` becomes 0.
    cv: Condvar,
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
                    send_msg: None,
                    send_res: None,
                    recvs: VecDeque::new(),
                    recv_msg: None,
                    recv_res: None,
                    notifies: VecDeque::new(),
                    poll_in: false,
                    poll_out: false,
                    poll_in_res: None,
                    poll_out_res: None,
                    readable: false,
                    writable: false,
                }),
                cv: Condvar::new(),
            }),
        }
    }

    pub(crate) fn state(&self) -> SocketState {
        self.shared.lock().d.state
    }

    pub(crate) fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
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
        let mut g = sh.lock();
        if g.d.state != SocketState::Open {
            return Err((SubmitErrorKind::NotOpen, op));
        }
        g.sends.push_back(PendingSend { op, total, sent: 0 });
        sh.progress(&mut g);
        sh.kick(g);
        Ok(())
    }

    pub(crate) fn submit_recv(
        &self,
        op: Box<dyn RecvOp>,
    ) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        let sh = &self.shared;
        let mut g = sh.lock();
        if g.d.state != SocketState::Open {
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
        let mut g = sh.lock();
        if g.d.state != SocketState::Open {
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
                g.send_msg = None;
                g.send_res = Some(res);
            }
            Kind::Recv => {
                g.recv_msg = None;
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
        let Some(head) = g.sends.front() else {
            return;
        };
        let mut skip = head.sent;
        let mut iov = Vec::with_capacity(head.op.buf_count().min(IOV_MAX));
        for i in 0..head.op.buf_count() {
            let b = head.op.buf(i);
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            if iov.len() == IOV_MAX {
                break;
            }
            let b = &b[skip..];
            skip = 0;
            iov.push(libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            });
        }
        let msg = Msg::new(iov);
        let entry = opcode::SendMsg::new(types::Fd(fd), &msg.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data(token, Kind::Send));
        g.send_msg = Some(msg);
        // SAFETY: the entry points at `msg` (kept in `send_msg` until the CQE: `on_cqe` is the
        // only place that clears it while the SQE is in flight, and close waits for that) and at
        // the head send's buffers (the boxed operation stays at the head of `sends` until the
        // CQE has been accounted), and at the socket, which is only closed after the CQE.
        unsafe { self.engine.push(&entry) };
    }

    /// Pushes a `RecvMsg` into the head receive's buffers.
    fn start_recv(&self, g: &mut Inner) {
        let (fd, token) = (g.fd, g.token);
        let Some(head) = g.recvs.front_mut() else {
            return;
        };
        let cnt = head.buf_count().min(IOV_MAX);
        let mut iov = Vec::with_capacity(cnt);
        for i in 0..cnt {
            let b = head.buf_mut(i);
            iov.push(libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            });
        }
        let mut msg = Msg::new(iov);
        let entry = opcode::RecvMsg::new(types::Fd(fd), &mut msg.hdr)
            .build()
            .user_data(user_data(token, Kind::Recv));
        g.recv_msg = Some(msg);
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
            head.sent += res as usize;
            if head.sent < head.total {
                return;
            }
            SendResult::Ok
        } else if res == 0 || !is_reset(-res) {
            SendResult::Error
        } else {
            SendResult::Abandoned
        };
        let p = g.sends.pop_front().expect("an in-flight send is the head");
        g.d.done.push_back(Completion::Send(p.op, result));
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
            if g.readable && g.recv_msg.is_none() && !g.recvs.is_empty() {
                self.start_recv(g);
            }
            if g.writable && g.send_msg.is_none() && !g.sends.is_empty() {
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
                    head.sent += n;
                    (head.sent >= head.total).then_some(SendResult::Ok)
                }
                Step::WouldBlock => {
                    g.writable = false;
                    None
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Step::Failed(e) if custom::is_reset(&e) => Some(SendResult::Abandoned),
                Step::Failed(_) | Step::Eof => Some(SendResult::Error),
            };
            if let Some(r) = finished {
                let p = g.sends.pop_front().expect("head exists");
                g.d.done.push_back(Completion::Send(p.op, r));
            }
        }
    }

    fn custom_send_step(&self, g: &mut Inner) -> Step {
        match (&self.custom, g.sends.front()) {
            (Some(custom), Some(head)) => custom::send(
                custom.as_ref(),
                g.transport.as_ref(),
                head.op.as_ref(),
                head.sent,
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
            Some(head) => custom::recv(custom.as_ref(), g.transport.as_ref(), head.as_mut()),
            None => Step::WouldBlock,
        }
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
        g.d.closed();
        self.wake_waiters(g);
    }

    fn close(self: &Arc<Self>) {
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
            (g.send_msg.is_some(), Kind::Send),
            (g.recv_msg.is_some(), Kind::Recv),
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
        let sends: Vec<_> = g.sends.drain(..).map(|p| p.op).collect();
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
