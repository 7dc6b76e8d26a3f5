//! The epoll driver: readiness from one epoll instance per shard, completions emulated by
//! making the system call for the head of a queue when the socket is ready.
//!
//! # Readiness
//! A socket is registered once, edge-triggered, for both directions and the peer's hang-up. An
//! edge sets `readable` / `writable`; a `WouldBlock`, a short read or a short write clears it
//! (on a stream socket a short transfer means the kernel buffer was drained or filled). With
//! `TCP_INQ` each read also says how many bytes are left, so a drained socket is known without a
//! `WouldBlock` round trip. A receive never completes with 0 bytes unless the peer closed the
//! connection, and data queued before the peer's end of stream is delivered first.
//!
//! The system calls may be made by any thread that holds the socket's lock (a submitting thread
//! tries a send at once): none of them needs the shard's worker.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::driver::{Driver, Here};
#[cfg(loom)]
use super::loom::kernel as os;
#[cfg(not(loom))]
use super::os;
use super::socket::Core;
use crate::result::{ReceiveResult, SendResult};
use crate::Transport;

/// iovecs handed to one system call.
const IOV_BATCH: usize = 64;

/// One shard's epoll instance and its wake-up eventfd.
#[cfg(not(loom))]
pub(crate) struct Epoll {
    epfd: std::os::fd::OwnedFd,
    wakefd: std::os::fd::OwnedFd,
}

/// Under loom the shard's event source is the model's (`loom/source.rs`): the model fires
/// the edges a real epoll instance would report.
#[cfg(loom)]
pub(crate) struct Epoll {
    pub(crate) model: super::loom::source::Source,
}

/// The event source: the real epoll instance (`epoll_create1`, `epoll_ctl`, `epoll_wait`, an
/// eventfd to wake it).
#[cfg(not(loom))]
mod source {
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::Duration;

    use super::super::os;
    use super::Epoll;

    /// Token of the shard's own eventfd in its epoll set.
    const WAKE_TOKEN: u64 = u64::MAX;
    /// Events fetched per `epoll_wait`.
    pub(super) const EVENTS: usize = 256;

    fn timeout_ms(timeout: Option<Duration>) -> i32 {
        match timeout {
            None => -1,
            // Rounded up, so a short timeout still waits rather than spins.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        }
    }

    impl Epoll {
        /// A new epoll instance with its eventfd registered.
        pub(crate) fn new() -> io::Result<Epoll> {
            let epfd = os::epoll_create()?;
            let wakefd = os::eventfd()?;
            os::epoll_add(&epfd, wakefd.as_raw_fd(), libc::EPOLLIN as u32, WAKE_TOKEN)?;
            Ok(Epoll { epfd, wakefd })
        }

        pub(super) fn add(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
            os::epoll_add(&self.epfd, fd, interest, token)
        }

        pub(super) fn del(&self, fd: RawFd) {
            let _ = os::epoll_del(&self.epfd, fd);
        }

        pub(super) fn events(
            &self,
            events: &mut [libc::epoll_event],
            timeout: Option<Duration>,
            out: &mut Vec<(u64, u32)>,
        ) {
            let n = os::epoll_wait(&self.epfd, events, timeout_ms(timeout)).unwrap_or(0);
            for ev in &events[..n] {
                let (token, bits) = (ev.u64, ev.events);
                if token == WAKE_TOKEN {
                    os::eventfd_drain(&self.wakefd);
                } else {
                    out.push((token, bits));
                }
            }
        }

        pub(super) fn signal(&self) {
            os::eventfd_signal(&self.wakefd);
        }

        /// `guest`'s epoll instance in this one, level-triggered: reported while it has
        /// events (its wake-up eventfd included), until the guest's own wait takes them.
        pub(super) fn nest(&self, guest: &Epoll, token: u64) -> io::Result<()> {
            os::epoll_add(
                &self.epfd,
                guest.epfd.as_raw_fd(),
                libc::EPOLLIN as u32,
                token,
            )
        }

        pub(super) fn unnest(&self, guest: &Epoll) {
            let _ = os::epoll_del(&self.epfd, guest.epfd.as_raw_fd());
        }
    }
}

#[cfg(loom)]
mod source {
    use std::io;
    use std::os::fd::RawFd;
    use std::time::Duration;

    use super::Epoll;

    pub(super) const EVENTS: usize = 1;

    impl Epoll {
        /// A model event source.
        pub(crate) fn new() -> io::Result<Epoll> {
            Ok(Epoll {
                model: super::super::loom::source::Source::new(),
            })
        }

        pub(super) fn add(&self, fd: RawFd, _interest: u32, token: u64) -> io::Result<()> {
            self.model.add(fd, token);
            Ok(())
        }

        pub(super) fn del(&self, fd: RawFd) {
            self.model.del(fd);
        }

        pub(super) fn events(
            &self,
            _events: &mut [libc::epoll_event],
            timeout: Option<Duration>,
            out: &mut Vec<(u64, u32)>,
        ) {
            self.model.wait(timeout, out);
        }

        pub(super) fn signal(&self) {
            self.model.wake();
        }
    }
}

/// The epoll driver's part of a socket's state.
pub(crate) struct EpollIo {
    registered: bool,
    /// The socket reported an error.
    error: bool,
    /// The peer's end of stream (or a hang-up) was reported: the end-of-stream read is still to
    /// come however short the last read was, and no further edge will announce it.
    peer_closed: bool,
    /// `TCP_INQ` is on.
    inq: bool,
    /// Notifications present when readiness was last polled for them: more means new ones.
    notifies_polled: usize,
}

/// The outcome of one system call for the head of a queue.
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
}

impl Epoll {
    fn send_step(core: &Core<Epoll>) -> Step {
        let Some(head) = core.sends.front() else {
            return Step::WouldBlock;
        };
        let rest = head.slots().remaining();
        let iov = os::iovecs(&rest[..rest.len().min(IOV_BATCH)]);
        let offered: usize = iov.iter().map(|v| v.iov_len).sum();
        match os::sendmsg(core.fd, iov) {
            Ok(n) => Step::Moved {
                n,
                short: n < offered,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::WouldBlock,
            Err(e) => Step::Failed(e),
        }
    }

    fn progress_send(core: &mut Core<Epoll>) {
        while core.writable && !core.sends.is_empty() && core.refused.is_none() {
            let result = match Epoll::send_step(core) {
                Step::Moved { n, short } => {
                    if short {
                        core.writable = false;
                    }
                    let head = core.sends.front_mut().expect("a head send");
                    head.slots_mut().advance(n);
                    if !head.slots().is_finished() {
                        continue;
                    }
                    SendResult::Ok
                }
                Step::WouldBlock => {
                    core.writable = false;
                    continue;
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Step::Failed(e) => {
                    if core.sends.front().is_some_and(|h| h.slots().done() == 0) {
                        // Nothing of it left: the caller reports or completes it.
                        core.refused = Some(e);
                        return;
                    }
                    core.fail_send(&e);
                    continue;
                }
                Step::Eof => SendResult::Error,
            };
            core.finish_send(result);
        }
    }

    fn recv_step(core: &mut Core<Epoll>) -> Step {
        let (fd, inq) = (core.fd, core.io.inq);
        let Some(head) = core.recvs.front_mut() else {
            return Step::WouldBlock;
        };
        let slots = head.slots().remaining();
        let iov = os::iovecs(&slots[..slots.len().min(IOV_BATCH)]);
        let offered: usize = iov.iter().map(|v| v.iov_len).sum();
        let read = if inq {
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

    fn progress_recv(core: &mut Core<Epoll>) {
        while core.readable && !core.recvs.is_empty() {
            let (result, bytes) = match Epoll::recv_step(core) {
                Step::Moved { n, short } => {
                    if short && !core.io.peer_closed {
                        core.readable = false;
                    }
                    (ReceiveResult::Ok, n as u32)
                }
                Step::WouldBlock => {
                    core.readable = false;
                    continue;
                }
                Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Step::Eof => (ReceiveResult::Abandoned, 0),
                Step::Failed(e) => {
                    core.fail_recv(&e);
                    continue;
                }
            };
            core.finish_recv(result, bytes);
        }
    }

    /// Completes the notifications whose condition holds now: polled when notifications are
    /// new or an edge they care about was seen.
    fn progress_notify(core: &mut Core<Epoll>) {
        if core.notifies.is_empty() {
            return;
        }
        let (want_in, want_out) = core.notify_wants();
        let fresh = core.notifies.len() > core.io.notifies_polled;
        let edge = (want_in && core.readable) || (want_out && core.writable) || core.io.error;
        if !fresh && !edge {
            return;
        }
        let revents = os::poll_now(core.fd, libc::POLLIN | libc::POLLOUT).unwrap_or(libc::POLLERR);
        let is_in = revents & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP) != 0;
        let is_out = revents & libc::POLLOUT != 0;
        let is_err = revents & libc::POLLERR != 0;
        // Only clear: a set flag must always come from an edge, which also runs the socket.
        core.readable &= is_in;
        core.writable &= is_out;
        core.complete_notifies(is_in, is_out, is_err);
        core.io.notifies_polled = core.notifies.len();
    }
}

impl Driver for Epoll {
    type Event = u32;
    type Io = EpollIo;
    type Scratch = Vec<libc::epoll_event>;

    fn io() -> EpollIo {
        EpollIo {
            registered: false,
            error: false,
            peer_closed: false,
            inq: false,
            notifies_polled: 0,
        }
    }

    fn scratch(&self) -> Self::Scratch {
        vec![libc::epoll_event { events: 0, u64: 0 }; source::EVENTS]
    }

    fn wait(
        &self,
        events: &mut Self::Scratch,
        timeout: Option<Duration>,
        _owner: bool,
        out: &mut Vec<(u64, u32)>,
    ) {
        self.events(events, timeout, out);
    }

    fn wake(&self) {
        self.signal();
    }

    /// Lending needs a real epoll instance (the loom models run without it).
    const LENDS: bool = cfg!(not(loom));

    #[cfg(not(loom))]
    fn host(&self, guest: &Epoll, shard: usize) -> io::Result<()> {
        self.nest(guest, super::driver::guest_token(shard))
    }

    #[cfg(not(loom))]
    fn unhost(&self, guest: &Epoll, _shard: usize) {
        self.unnest(guest);
    }

    fn open(&self, core: &mut Core<Epoll>, custom: bool) -> io::Result<()> {
        let interest = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        self.add(core.fd, interest, core.token)?;
        core.io = EpollIo {
            registered: true,
            inq: !custom && os::enable_tcp_inq(core.fd),
            ..Epoll::io()
        };
        Ok(())
    }

    fn on_event(core: &mut Core<Epoll>, bits: u32) -> bool {
        let ev = bits as libc::c_int;
        if ev & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            core.readable = true;
        }
        if ev & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            core.writable = true;
        }
        if ev & libc::EPOLLERR != 0 {
            core.io.error = true;
        }
        if ev & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
            core.io.peer_closed = true;
        }
        (core.readable && !core.recvs.is_empty())
            || (core.writable && !core.sends.is_empty())
            || !core.notifies.is_empty()
    }

    fn progress(
        &self,
        core: &mut Core<Epoll>,
        _here: Here,
        custom: Option<(&dyn Transport, usize)>,
    ) {
        match custom {
            Some((transport, id)) => core.custom_progress(transport, id),
            None => {
                Epoll::progress_recv(core);
                Epoll::progress_send(core);
            }
        }
        Epoll::progress_notify(core);
    }

    fn needs_driver(_core: &Core<Epoll>) -> bool {
        false
    }

    fn settle(&self, core: &mut Core<Epoll>, _here: Here) -> bool {
        if core.io.registered {
            // An event already fetched for it finds a stale token or a closing socket.
            self.del(core.fd);
            core.io.registered = false;
        }
        true
    }

    fn close(&self, io: &mut EpollIo, _fd: RawFd) {
        *io = Epoll::io();
    }
}
