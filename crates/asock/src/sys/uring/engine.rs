//! The io_uring engine: one ring shared by the engine's workers, as a [`Driver`] of the worker
//! logic of `sys/epoll/engine.rs` (poller, parked workers, sentinel, hand-off, local and inject
//! queues are the same code).
//!
//! # Roles and ownership of the ring
//! * **Submission queue**: any thread may push an SQE, under the `sq` lock (the lock is the only
//!   owner of the ring's `SubmissionQueue` view). Whoever pushes decides who submits it:
//!   - the poller running a completion on its own stack (not inside `io_uring_enter` at the
//!     moment) only pushes: its next `io_uring_enter` submits the SQE and waits for completions
//!     in the same system call;
//!   - any other thread (a foreign thread, or another worker) does the same while the poller is
//!     busy outside the kernel; while the poller is blocked in `io_uring_enter` it wakes it
//!     through the engine's eventfd (one write, coalesced), and the poller submits.
//!
//!   So the poller is the thread that submits nearly every SQE. That matters: the kernel runs an
//!   operation's retries (a receive woken by arriving data) as task work of the thread that
//!   submitted it, so an SQE submitted by a thread that then sleeps elsewhere costs a signal and
//!   a wake-up of that thread per completion.
//!
//!   The `waiting` flag (set by the poller before it reads how many SQEs to submit, under the same
//!   lock as the pushes) makes this race-free: a push either lands before the poller's count, or
//!   sees `waiting` and wakes it.
//! * **Completion queue**: reaped under the `cq` lock, normally by the poller after its wait, and
//!   by a closing socket that waits for its cancelled operations (see [`Engine::reap_for`]).
//!   Completions are copied out, the lock released, then dispatched: a CQE's `user_data` is a
//!   token (slab index and generation, plus the operation kind), never a pointer, so a CQE of a
//!   socket that has since been deregistered finds nothing and is dropped.
//! * **Wake-up**: a write to the engine's eventfd, on which the poller keeps a multishot
//!   `PollAdd`; its CQE makes the blocked poller return.
//!
//! Memory an SQE points at (the operation's buffers, its iovec array and `msghdr`) is owned by
//! the socket that pushed it and is kept alive until that SQE's CQE has been reaped; see
//! `socket.rs`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::socket::Shared;
use crate::sys::epoll::engine::{lock, Driver, Slab, Task, Workers};
use crate::sys::epoll::os;

/// `IORING_ENTER_GETEVENTS`: wait for completions.
const ENTER_GETEVENTS: u32 = 1;
/// `IORING_ENTER_EXT_ARG`: the argument is an `io_uring_getevents_arg` (a timeout).
const ENTER_EXT_ARG: u32 = 8;
/// `user_data` of the multishot poll on the wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// CQEs copied out per lock of the completion queue.
const REAP: usize = 256;

/// What a CQE completes: the low three bits of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The socket's in-flight `SendMsg`.
    Send = 0,
    /// The socket's in-flight `RecvMsg`.
    Recv = 1,
    /// The socket's one-shot `PollAdd` for input.
    PollIn = 2,
    /// The socket's one-shot `PollAdd` for output.
    PollOut = 3,
    /// An `AsyncCancel` issued by close (its CQE is ignored).
    Cancel = 4,
}

/// The `user_data` of a socket's SQE: its registration token and the kind of operation.
pub(crate) fn user_data(token: u64, kind: Kind) -> u64 {
    let (idx, gen) = (token & 0xffff_ffff, token >> 32);
    (gen << 32) | (idx << 3) | kind as u64
}

/// The inverse of [`user_data`]; `None` for the wake-up and cancel CQEs.
fn split(ud: u64) -> Option<(u64, Kind)> {
    let kind = match ud & 7 {
        0 => Kind::Send,
        1 => Kind::Recv,
        2 => Kind::PollIn,
        3 => Kind::PollOut,
        _ => return None,
    };
    Some(((ud >> 32) << 32 | (ud & 0xffff_ffff) >> 3, kind))
}

/// The io_uring driver: the ring, its locks and the registered sockets.
pub(crate) struct Uring {
    ring: IoUring,
    /// Serialises pushes to the submission queue and the reading of its length.
    sq: Mutex<()>,
    /// Serialises reaping of the completion queue.
    cq: Mutex<()>,
    /// The poller is about to enter, or is inside, `io_uring_enter` waiting for completions.
    waiting: AtomicBool,
    /// Written to wake the poller.
    wakefd: OwnedFd,
    /// The multishot poll on `wakefd` is armed (touched by pollers only).
    wake_armed: AtomicBool,
    /// `wakefd` was written and the poller has not seen it yet (coalesces wake-ups).
    signalled: AtomicBool,
    registry: Mutex<Slab<Arc<Shared>>>,
}

/// The io_uring backend's engine.
pub(crate) type Engine = Workers<Uring>;

impl Uring {
    /// SQEs pushed and not yet submitted.
    fn pending(&self) -> u32 {
        let _g = lock(&self.sq);
        // SAFETY: the `sq` lock is held, so no other `SubmissionQueue` view of this ring exists.
        let sq = unsafe { self.ring.submission_shared() };
        sq.len() as u32
    }

    /// `io_uring_enter`: submits the pending SQEs, and with `want` waits for that many CQEs (at
    /// most `timeout`, when given). Errors (EINTR, EBUSY on a full completion queue) are left to
    /// the caller's next reap.
    fn enter(&self, want: u32, timeout: Option<Duration>) {
        let to_submit = self.pending();
        if to_submit == 0 && want == 0 {
            return;
        }
        let flags = if want > 0 { ENTER_GETEVENTS } else { 0 };
        match timeout {
            None => {
                // SAFETY: no argument is passed; the SQEs being submitted were pushed under the
                // contract of `Engine::push` (their memory lives until their CQEs).
                let _ = unsafe {
                    self.ring
                        .submitter()
                        .enter::<libc::sigset_t>(to_submit, want, flags, None)
                };
            }
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                // SAFETY: with EXT_ARG the argument is the `io_uring_getevents_arg` wrapped by
                // `SubmitArgs` (whose size is passed), pointing at `ts`, alive for the call.
                let _ = unsafe {
                    self.ring
                        .submitter()
                        .enter(to_submit, want, flags | ENTER_EXT_ARG, Some(&args))
                };
            }
        }
    }

    /// Copies out every CQE now in the completion queue and dispatches them to their sockets,
    /// appending those that must run now to `ready`; returns how many CQEs it reaped.
    fn reap(&self, buf: &mut Vec<(u64, i32, u32)>, ready: &mut Vec<Task>) -> usize {
        let mut reaped = 0;
        loop {
            buf.clear();
            {
                let _g = lock(&self.cq);
                // SAFETY: the `cq` lock is held, so no other `CompletionQueue` view exists.
                let cq = unsafe { self.ring.completion_shared() };
                buf.extend(
                    cq.take(REAP)
                        .map(|c| (c.user_data(), c.result(), c.flags())),
                );
            }
            if buf.is_empty() {
                return reaped;
            }
            reaped += buf.len();
            for &(ud, res, flags) in buf.iter() {
                if ud == WAKE {
                    self.signalled.store(false, SeqCst);
                    os::eventfd_drain(&self.wakefd);
                    if !io_uring::cqueue::more(flags) {
                        self.wake_armed.store(false, SeqCst);
                    }
                    continue;
                }
                let Some((token, kind)) = split(ud) else {
                    continue;
                };
                let Some(socket) = lock(&self.registry).get(token) else {
                    continue;
                };
                if socket.on_cqe(kind, res) {
                    ready.push(socket);
                }
            }
            if buf.len() < REAP {
                return reaped;
            }
        }
    }
}

impl Driver for Uring {
    type Scratch = Vec<(u64, i32, u32)>;

    /// A send's completion comes as its own CQE, next to the peer's receive: a ping-pong makes
    /// batches of two, which must stay on one thread (sharing them cost a wake-up per hop and
    /// halved P1).
    const SHARE_FROM: usize = 4;
    /// Never hand the poller role off after a long batch: the kernel runs the retries of an
    /// operation (its internal poll wake-ups) on the thread that submitted it, so moving a
    /// connection's work to another thread makes every later completion signal the old one.
    /// (Measured: P2 streaming went from about 1.3 to 1.7 GB/s without the hand-off.) A poller
    /// stuck in a slow callback is still replaced by the sentinel.
    const HANDOFF: Duration = Duration::from_secs(3600);

    fn scratch(&self) -> Self::Scratch {
        Vec::with_capacity(REAP)
    }

    fn wait(&self, buf: &mut Self::Scratch, block: bool, ready: &mut Vec<Task>) {
        if !self.wake_armed.swap(true, SeqCst) {
            let entry = opcode::PollAdd::new(types::Fd(self.wakefd.as_raw_fd()), libc::POLLIN as _)
                .multi(true)
                .build()
                .user_data(WAKE);
            // SAFETY: a poll points at no memory; the eventfd lives as long as the ring.
            unsafe { self.push_entry(&entry) };
        }
        self.waiting.store(true, SeqCst);
        self.enter(u32::from(block), None);
        self.waiting.store(false, SeqCst);
        let _ = self.reap(buf, ready);
    }

    fn wake(&self) {
        self.signalled.store(true, SeqCst);
        os::eventfd_signal(&self.wakefd);
    }
}

impl Uring {
    /// Pushes one SQE, submitting to make room when the queue is full.
    ///
    /// # Safety
    /// Whatever memory `entry` points at must stay valid (and, for a receive, otherwise
    /// untouched) until the entry's CQE has been reaped.
    unsafe fn push_entry(&self, entry: &squeue::Entry) {
        loop {
            let pushed = {
                let _g = lock(&self.sq);
                // SAFETY: the `sq` lock is held, so no other `SubmissionQueue` view exists.
                let mut sq = unsafe { self.ring.submission_shared() };
                // SAFETY: the memory the entry points at outlives its CQE (this function's
                // contract).
                unsafe { sq.push(entry) }.is_ok()
            };
            if pushed {
                return;
            }
            self.enter(0, None);
        }
    }
}

impl Workers<Uring> {
    /// Starts an engine on `ring` (from [`super::probe`]).
    pub(crate) fn new(
        params: &crate::ExecutionEngineParameters,
        ring: IoUring,
    ) -> io::Result<Arc<Engine>> {
        let driver = Uring {
            wakefd: os::eventfd()?,
            wake_armed: AtomicBool::new(false),
            signalled: AtomicBool::new(false),
            ring,
            sq: Mutex::new(()),
            cq: Mutex::new(()),
            waiting: AtomicBool::new(false),
            registry: Mutex::default(),
        };
        Workers::start(driver, params)
    }

    /// Registers a socket; its token goes into the `user_data` of its SQEs.
    pub(crate) fn register(&self, socket: Arc<Shared>) -> u64 {
        lock(&self.driver().registry).insert(socket)
    }

    /// Forgets a socket's token: CQEs still carrying it are dropped.
    pub(crate) fn deregister(&self, token: u64) {
        lock(&self.driver().registry).remove(token);
    }

    /// Pushes an SQE and makes sure it gets submitted (see the module docs).
    ///
    /// # Safety
    /// Whatever memory `entry` points at must stay valid (and, for a receive, otherwise
    /// untouched) until the entry's CQE has been reaped.
    pub(crate) unsafe fn push(&self, entry: &squeue::Entry) {
        let d = self.driver();
        // SAFETY: forwarded from this function's contract.
        unsafe { d.push_entry(entry) };
        if d.waiting.load(SeqCst) && !d.signalled.swap(true, SeqCst) {
            os::eventfd_signal(&d.wakefd);
        }
    }

    /// Submits what is pending now.
    pub(crate) fn submit_now(&self) {
        self.driver().enter(0, None);
    }

    /// Reaps the completions available now, waiting up to `timeout` for one when there are none;
    /// sockets made ready are scheduled. For a close that waits for the CQEs of its cancelled
    /// operations: the poller may be the very thread that is closing.
    pub(crate) fn reap_for(&self, timeout: Duration) {
        let d = self.driver();
        let mut buf = Vec::new();
        let mut ready = Vec::new();
        if d.reap(&mut buf, &mut ready) == 0 {
            d.enter(1, Some(timeout));
            let _ = d.reap(&mut buf, &mut ready);
        }
        for task in ready {
            self.schedule(task);
        }
    }
}
