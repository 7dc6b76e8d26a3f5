//! The io_uring driver: one ring per shard, true completion-based socket I/O.
//!
//! * This file: the ring as a shard's event source. Its worker enters the kernel once per loop
//!   turn (`io_uring_enter` submits everything pushed since the last turn and waits for a
//!   completion in the same call) and reads the completions out. Other threads never touch a
//!   ring: they hand their work to its worker (the ring is behind a lock only so that a worker
//!   rescuing the shard, or a close waiting on the worker's own thread, can take its place).
//!   A wake-up is a write to the shard's eventfd, on which the ring keeps a multishot poll.
//! * [`io`]: one socket's operations on the ring: at most one send and one receive in flight,
//!   their headers in the socket's state, their buffers in the operations themselves, and the
//!   receive strategy that makes a ping-pong cost one system call per hop.
//!
//! # Selection
//! [`probe`] decides whether this backend can run: `io_uring_setup` must succeed (containers and
//! sysctls refuse it with EPERM, old kernels with ENOSYS, a low `RLIMIT_MEMLOCK` with ENOMEM), the
//! kernel must take timeouts on a wait (`IORING_FEAT_EXT_ARG`, Linux 5.11) and support every
//! opcode the backend submits. Otherwise the engine runs on epoll.
//!
//! Test hook: the environment variable `ASOCK_URING_FAIL_SETUP=EPERM|ENOSYS|ENOMEM|EINVAL` makes
//! [`probe`] fail as if `io_uring_setup` had returned that error, and `NO_EXT_ARG` as if the
//! kernel lacked `IORING_FEAT_EXT_ARG`. Nothing else reads it.
//!
//! # Ring flags
//! Rings are set up plainly (no `SINGLE_ISSUER`, `DEFER_TASKRUN` or `COOP_TASKRUN`): a worker that
//! rescues a stuck shard submits to and reaps from that shard's ring, and the kernel must be free
//! to run the stuck owner's pending completion work by interrupting it. Receives are tried
//! without waiting (`MSG_DONTWAIT`) first, so that in the common case no completion needs that
//! deferred work at all (see [`io`]).

pub(crate) mod io;

use std::io as stdio;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::os;
use crate::core::poison::unpoisoned;

/// Submission queue entries of a ring.
const ENTRIES: u32 = 1024;
/// Completion queue entries of a ring (room for every socket's few operations in flight).
const CQ_ENTRIES: u32 = 8192;
/// `user_data` of the multishot poll on the wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// Parked receives a ring keeps room for between turns.
const PARKED_KEEP: usize = 256;
/// Low bits of the `user_data` of the multishot poll a host keeps on a lent shard's ring (the
/// shard's index above them); sockets' operations use 0 to 4.
const GUEST_POLL: u64 = 5;
/// Low bits of the `user_data` of the removal of such a poll (its CQE is ignored).
const GUEST_POLL_REMOVE: u64 = 6;

/// A multishot poll for `fd` becoming readable, completing as `user_data`: on the wake-up
/// eventfd ([`WAKE`]), or in a host's ring on a lent shard's ring ([`guest_data`]), which is
/// readable whenever it has completions.
fn poll_in(fd: RawFd, user_data: u64) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as _)
        .multi(true)
        .build()
        .user_data(user_data)
}

/// The `user_data` of a host's entry about lent shard `shard` (`low`: [`GUEST_POLL`] or
/// [`GUEST_POLL_REMOVE`]).
fn guest_data(shard: usize, low: u64) -> u64 {
    (shard as u64) << 3 | low
}

/// What a CQE completes: the low three bits of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The socket's in-flight send.
    Send = 0,
    /// The socket's in-flight receive.
    Recv = 1,
    /// The socket's one-shot poll for input.
    PollIn = 2,
    /// The socket's one-shot poll for output.
    PollOut = 3,
    /// A cancellation issued by close (its CQE is ignored).
    Cancel = 4,
}

/// What the ring reports for one socket: a completion's kind, result and flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) kind: Kind,
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

/// A send or receive that waits in the ring (not yet in the kernel) for the end of a loop turn:
/// what its SQE needs.
pub(crate) struct Parked {
    /// The socket's token (its registration).
    pub(crate) token: u64,
    pub(crate) fd: i32,
    /// `Kind::Send` or `Kind::Recv`.
    pub(crate) kind: Kind,
    /// One buffer (`ptr`, `len`), or several through the socket's header (`hdr`, `len` 0).
    pub(crate) ptr: *mut u8,
    pub(crate) len: u32,
    pub(crate) hdr: *mut libc::msghdr,
}

// SAFETY: the pointers lead to the head operation's buffers and header, owned by the socket,
// which keeps them in place while the operation is parked (its flight is busy) and takes the
// entry back out of the ring under the ring's lock (`Ring::unpark`) before they could move or
// be freed.
unsafe impl Send for Parked {}

/// Flags of a send: never SIGPIPE; tried without waiting (`MSG_DONTWAIT`: a full socket buffer
/// gives a short count or EAGAIN at once), or armed to wait for all its bytes (`MSG_WAITALL`:
/// the kernel retries short writes itself and completes once everything is written).
fn send_flags(armed: bool) -> i32 {
    libc::MSG_NOSIGNAL
        | if armed {
            libc::MSG_WAITALL
        } else {
            libc::MSG_DONTWAIT
        }
}

/// Flags of a receive: without waiting unless armed.
fn recv_flags(armed: bool) -> i32 {
    if armed {
        0
    } else {
        libc::MSG_DONTWAIT
    }
}

impl Parked {
    /// The operation's SQE: tried without waiting unless `armed`.
    pub(crate) fn entry(&self, armed: bool) -> squeue::Entry {
        let fd = types::Fd(self.fd);
        let entry = match (self.kind, self.hdr.is_null()) {
            (Kind::Send, true) => opcode::Send::new(fd, self.ptr.cast_const(), self.len)
                .flags(send_flags(armed))
                .build(),
            (Kind::Send, false) => opcode::SendMsg::new(fd, self.hdr.cast_const())
                .flags(send_flags(armed) as u32)
                .build(),
            (_, true) => opcode::Recv::new(fd, self.ptr, self.len)
                .flags(recv_flags(armed))
                .build(),
            (_, false) => opcode::RecvMsg::new(fd, self.hdr)
                .flags(recv_flags(armed) as u32)
                .build(),
        };
        entry.user_data(user_data(self.token, self.kind))
    }
}

/// The `user_data` of a socket's SQE: its registration token and the kind of operation.
pub(crate) fn user_data(token: u64, kind: Kind) -> u64 {
    let (idx, gen) = (token & 0xffff_ffff, token >> 32);
    (gen << 32) | (idx << 3) | kind as u64
}

/// The inverse of [`user_data`]; `None` for cancellations (and the wake-up).
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

/// Creates a ring if this kernel and process allow it and it supports every opcode and feature
/// the backend uses; the error says why not.
pub(crate) fn probe() -> stdio::Result<IoUring> {
    if let Ok(forced) = std::env::var("ASOCK_URING_FAIL_SETUP") {
        let errno = match forced.as_str() {
            "EPERM" => libc::EPERM,
            "ENOSYS" => libc::ENOSYS,
            "ENOMEM" => libc::ENOMEM,
            // An old kernel: the ring is made, but it cannot time out a wait.
            "NO_EXT_ARG" => 0,
            _ => libc::EINVAL,
        };
        if errno != 0 {
            return Err(stdio::Error::from_raw_os_error(errno));
        }
    }
    let ring = new_ring()?;
    let forced_old = std::env::var("ASOCK_URING_FAIL_SETUP").is_ok_and(|v| v == "NO_EXT_ARG");
    if forced_old || !ring.params().is_feature_ext_arg() {
        return Err(stdio::Error::new(
            stdio::ErrorKind::Unsupported,
            "io_uring cannot time out a wait (no IORING_FEAT_EXT_ARG)",
        ));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        ("SEND", opcode::Send::CODE),
        ("RECV", opcode::Recv::CODE),
        ("SENDMSG", opcode::SendMsg::CODE),
        ("RECVMSG", opcode::RecvMsg::CODE),
        ("POLL_ADD", opcode::PollAdd::CODE),
        ("POLL_REMOVE", opcode::PollRemove::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ];
    for (name, code) in needed {
        if !probe.is_supported(code) {
            return Err(stdio::Error::new(
                stdio::ErrorKind::Unsupported,
                format!("io_uring lacks IORING_OP_{name}"),
            ));
        }
    }
    Ok(ring)
}

fn new_ring() -> stdio::Result<IoUring> {
    IoUring::builder()
        .setup_cqsize(CQ_ENTRIES)
        .setup_submit_all()
        .build(ENTRIES)
        .or_else(|_| IoUring::new(ENTRIES))
}

/// The ring of one shard, and what it keeps between loop turns.
pub(crate) struct Ring {
    ring: IoUring,
    /// The multishot poll on the eventfd is in the ring.
    wake_armed: bool,
    /// Receives that go at the end of this loop turn.
    parked: Vec<Parked>,
    /// Receives that go at the end of the turn after the next enter.
    later: Vec<Parked>,
    /// The last turn completed something (not only receives that found nothing).
    progressed: bool,
    /// The lent shards whose rings this ring polls, with those rings' descriptors (see
    /// `pool/lend.rs`).
    guests: Vec<(usize, RawFd)>,
}

/// One shard's ring and wake-up eventfd.
pub(crate) struct Uring {
    ring: Mutex<Ring>,
    /// The ring's descriptor (for a host's poll on it).
    fd: RawFd,
    wakefd: OwnedFd,
    /// A wake-up was written and not yet read (coalesces them).
    signalled: AtomicBool,
}

impl Uring {
    /// A shard's ring: `first` is the one the probe made, the others are made alike.
    pub(crate) fn new(first: Option<IoUring>) -> stdio::Result<Uring> {
        let ring = match first {
            Some(r) => r,
            None => new_ring()?,
        };
        Ok(Uring {
            fd: ring.as_raw_fd(),
            ring: Mutex::new(Ring {
                ring,
                wake_armed: false,
                parked: Vec::new(),
                later: Vec::new(),
                progressed: true,
                guests: Vec::new(),
            }),
            wakefd: os::eventfd()?,
            signalled: AtomicBool::new(false),
        })
    }

    /// The ring, for the thread that drives the shard (see the module docs).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Ring> {
        unpoisoned(self.ring.lock())
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, Ring>> {
        match self.ring.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl Ring {
    /// Pushes one SQE, submitting to make room when the queue is full.
    ///
    /// # Safety
    /// Whatever memory `entry` points at must stay valid (and, for a receive, otherwise
    /// untouched) until the entry's CQE has been reaped.
    pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            if self.ring.submit().is_err() {
                // The completion queue is full (EBUSY): leave room by waiting for nothing; the
                // caller's worker reaps on its next turn. Try once more after yielding.
                std::thread::yield_now();
            }
        }
    }

    /// Keeps a socket's operation for the end of the loop turn (`later`: of the turn after the
    /// next `io_uring_enter`).
    pub(crate) fn park(&mut self, receive: Parked, later: bool) {
        if later {
            self.later.push(receive);
        } else {
            self.parked.push(receive);
        }
    }

    /// Takes back the parked operation of `kind` of the socket `token`, if there is one (it
    /// never reached the kernel).
    pub(crate) fn unpark(&mut self, token: u64, kind: Kind) -> bool {
        let before = self.parked.len() + self.later.len();
        let keep = |p: &Parked| p.token != token || p.kind != kind;
        self.parked.retain(keep);
        self.later.retain(keep);
        before != self.parked.len() + self.later.len()
    }

    /// Submits what was pushed and waits up to `timeout` for a completion (`None`: no limit;
    /// zero: do not wait). Errors (EINTR, EBUSY on a full completion queue) are left for the
    /// reap that follows.
    fn enter(&mut self, timeout: Option<Duration>) {
        let submitter = self.ring.submitter();
        let _ = match timeout {
            Some(t) if t.is_zero() => submitter.submit(),
            None => submitter.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(1, &args)
            }
        };
    }
}

impl super::driver::Driver for Uring {
    type Event = Event;
    type Io = io::UringIo;
    type Scratch = ();

    fn io() -> io::UringIo {
        io::UringIo::default()
    }

    fn scratch(&self) {}

    fn wait(
        &self,
        _scratch: &mut (),
        timeout: Option<Duration>,
        owner: bool,
        out: &mut Vec<(u64, Event)>,
    ) {
        let ring = if owner {
            Some(self.lock())
        } else {
            self.try_lock()
        };
        // Another thread drives the ring just now: it hears the ring's completions.
        let Some(mut ring) = ring else { return };
        if !ring.wake_armed {
            let entry = poll_in(self.wakefd.as_raw_fd(), WAKE);
            ring.wake_armed = true;
            // SAFETY: a poll points at no memory; the eventfd lives as long as the ring.
            unsafe { ring.push(&entry) };
        }
        // A receive waiting out this enter must not wait for a completion that may never come.
        let timeout = if ring.later.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        ring.enter(timeout);
        let mut progressed = false;
        let mut woke = false;
        let mut wake_armed = ring.wake_armed;
        let mut rearm = Vec::new();
        let Ring {
            ring: uring,
            guests,
            ..
        } = &mut *ring;
        for cqe in uring.completion() {
            let (ud, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if ud == WAKE {
                woke = true;
                wake_armed &= io_uring::cqueue::more(flags);
                continue;
            }
            if ud & 7 == GUEST_POLL {
                let shard = (ud >> 3) as usize;
                if !io_uring::cqueue::more(flags) {
                    rearm.extend(guests.iter().filter(|g| g.0 == shard).copied());
                }
                let event = Event {
                    kind: Kind::PollIn,
                    res,
                    flags,
                };
                out.push((super::driver::guest_token(shard), event));
                continue;
            }
            let Some((token, kind)) = split(ud) else {
                continue;
            };
            progressed |= res != -libc::EAGAIN;
            out.push((token, Event { kind, res, flags }));
        }
        for (shard, fd) in rearm {
            // SAFETY: a poll points at no memory; the guest's ring lives as long as the pool.
            unsafe { ring.push(&poll_in(fd, guest_data(shard, GUEST_POLL))) };
        }
        ring.wake_armed = wake_armed;
        ring.progressed = progressed || woke;
        let Ring { parked, later, .. } = &mut *ring;
        parked.append(later);
        if later.capacity() > PARKED_KEEP {
            *later = Vec::new();
        }
        if woke {
            self.signalled.store(false, SeqCst);
            os::eventfd_drain(&self.wakefd);
        }
    }

    fn wake(&self) {
        if !self.signalled.swap(true, SeqCst) {
            os::eventfd_signal(&self.wakefd);
        }
    }

    /// A ring polls a lent shard's ring (one multishot poll, renewed when the kernel ends it).
    const LENDS: bool = true;

    fn host(&self, guest: &Uring, shard: usize) -> stdio::Result<()> {
        let mut ring = self.lock();
        if !ring.guests.iter().any(|g| g.0 == shard) {
            ring.guests.push((shard, guest.fd));
            // SAFETY: a poll points at no memory; the guest's ring lives as long as the pool.
            unsafe { ring.push(&poll_in(guest.fd, guest_data(shard, GUEST_POLL))) };
        }
        Ok(())
    }

    fn unhost(&self, _guest: &Uring, shard: usize) {
        let mut ring = self.lock();
        let before = ring.guests.len();
        ring.guests.retain(|g| g.0 != shard);
        if ring.guests.len() != before {
            let entry = opcode::PollRemove::new(guest_data(shard, GUEST_POLL))
                .build()
                .user_data(guest_data(shard, GUEST_POLL_REMOVE));
            // SAFETY: a poll removal points at no memory.
            unsafe { ring.push(&entry) };
        }
    }

    fn flush(&self) -> bool {
        self.end_turn();
        let Some(mut ring) = self.try_lock() else {
            // Whoever drives the ring just now submits.
            return false;
        };
        if !ring.ring.submission().is_empty() {
            ring.enter(Some(Duration::ZERO));
        }
        // Receives that found their socket drained go out on the next turn (see `wait`).
        !ring.later.is_empty()
    }

    /// Receives that waited for the end of the turn go into the submission queue now, behind
    /// the turn's sends (armed to wait in the kernel when the last enter brought no progress).
    fn end_turn(&self) {
        // Busy: another thread drives the ring just now, and its own turns end too.
        let Some(mut ring) = self.try_lock() else {
            return;
        };
        if ring.parked.is_empty() {
            return;
        }
        let armed = !ring.progressed;
        let parked = std::mem::take(&mut ring.parked);
        for p in &parked {
            // SAFETY: a parked receive's buffers and header stay in place until its CQE (see
            // `Parked`); the socket it belongs to is closed only after that CQE.
            unsafe { ring.push(&p.entry(armed)) };
        }
        // Keep the list's room for the next turn, unless a burst (many idle sockets parking
        // their first receive at once) made it large.
        if parked.capacity() <= PARKED_KEEP {
            ring.parked = parked;
            ring.parked.clear();
        }
    }

    fn open(&self, core: &mut super::socket::Core<Uring>, custom: bool) -> stdio::Result<()> {
        io::open(core, custom);
        Ok(())
    }

    fn on_event(core: &mut super::socket::Core<Uring>, event: Event) -> bool {
        io::on_event(core, event)
    }

    fn progress(
        &self,
        core: &mut super::socket::Core<Uring>,
        here: super::driver::Here,
        custom: Option<(&dyn crate::Transport, usize)>,
    ) {
        io::progress(self, core, here, custom)
    }

    fn needs_driver(core: &super::socket::Core<Uring>) -> bool {
        io::needs_driver(core)
    }

    fn settle(&self, core: &mut super::socket::Core<Uring>, here: super::driver::Here) -> bool {
        io::settle(self, core, here)
    }

    fn close(&self, io: &mut io::UringIo, _fd: std::os::fd::RawFd) {
        *io = io::UringIo::default();
    }
}
