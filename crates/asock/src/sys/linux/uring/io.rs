//! One socket's operations on its shard's ring.
//!
//! # What the kernel holds
//! At most one send (for the head of `sends`) and one receive (for the head of `recvs`) are in
//! flight, and at most one one-shot poll per direction (for notifications and custom
//! transports). An SQE points at the operation's own buffers and slots (the operation is boxed
//! and stays at the head of its queue until its CQE is accounted) and, for several buffers, at a
//! `msghdr` kept here, in the socket's state, which never moves. Close cancels what is in flight
//! and waits for every CQE before anything leaves the queues.
//!
//! # Receives that do not fail first
//! A receive posted before its data arrives would make the kernel try it, fail, arm a poll and
//! rerun it later as deferred work. Instead:
//! * a receive goes out with `MSG_DONTWAIT`: it completes at once, with data or with `EAGAIN`;
//! * when the previous receive drained the socket (its CQE lacked `IORING_CQE_F_SOCK_NONEMPTY`),
//!   the next one waits out one `io_uring_enter` (the one that carries the reply this socket's
//!   callback just sent) and then goes into the ring *behind* the sends of the next loop turn:
//!   in a ping-pong the peer's answer to that reply then lands just before the receive runs,
//!   in the same `io_uring_enter`;
//! * a receive that found nothing goes again at the end of the loop turn, behind that turn's
//!   sends; after a second miss, or when a turn made no progress at all, it is armed to wait in
//!   the kernel (the ordinary receive), so an idle connection costs one or two failed tries,
//!   not one per turn.
//!
//! A ping-pong between two sockets of one shard so costs one `io_uring_enter` per hop, with one
//! successful receive and no failed try, no armed poll and no deferred work.

use std::io;

use io_uring::{cqueue, opcode, types};

use super::super::driver::Here;
use super::super::os;
use super::super::socket::Core;
use super::{user_data, Event, Kind, Parked, Uring};
use crate::core::ops::Slot;
use crate::result::{ReceiveResult, SendResult};
use crate::Transport;

/// Most iovecs in one `SendMsg` / `RecvMsg` (`UIO_MAXIOV`).
const IOV_MAX: usize = 1024;
/// From this many bytes, a head send or receive goes as a plain system call ([`bulk`]).
const BULK: usize = 64 * 1024;
/// The header of an in-flight `SendMsg` / `RecvMsg` (boxed: it must not move while in flight,
/// and the socket's state has it only once an operation of several buffers needs it).
struct Hdr(libc::msghdr);

// SAFETY: the header's raw pointers point at the head operation's slots, owned by the same
// socket state; they are only read by the kernel, and the header is written under the socket's
// lock, whichever thread that is.
unsafe impl Send for Hdr {}

impl Default for Hdr {
    fn default() -> Hdr {
        // SAFETY: an all-zero msghdr is a valid empty header.
        Hdr(unsafe { std::mem::zeroed() })
    }
}

impl Hdr {
    /// Points the header at (at most [`IOV_MAX`] of) `slots`.
    fn point_at(&mut self, slots: &[Slot]) -> *mut libc::msghdr {
        let iov = os::iovecs(&slots[..slots.len().min(IOV_MAX)]);
        self.0.msg_iov = iov.as_ptr().cast_mut();
        self.0.msg_iovlen = iov.len() as _;
        &mut self.0
    }
}

/// One kind of operation of the socket in the ring.
#[derive(Default, Clone, Copy)]
struct Flight {
    /// The kernel holds it (its CQE has not arrived).
    busy: bool,
    /// Its last CQE (result, flags), not yet accounted.
    res: Option<(i32, u32)>,
}

/// The io_uring driver's part of a socket's state.
#[derive(Default)]
pub(crate) struct UringIo {
    send: Flight,
    recv: Flight,
    poll_in: Flight,
    poll_out: Flight,
    /// Headers for sends and receives of several buffers, made on first use and kept.
    send_hdr: Option<Box<Hdr>>,
    recv_hdr: Option<Box<Hdr>>,
    /// Receive tries that found nothing since data last came.
    misses: u8,
    /// The next receive goes armed (waits in the kernel).
    armed: bool,
    /// Send tries that found the socket's buffer full since bytes last went.
    send_misses: u8,
    /// The next send goes armed (waits in the kernel for all its bytes).
    send_armed: bool,
    /// The previous receive left the socket empty.
    drained: bool,
    /// Close pushed its cancellations.
    cancelled: bool,
}

impl UringIo {
    fn in_flight(&self) -> bool {
        self.send.busy || self.recv.busy || self.poll_in.busy || self.poll_out.busy
    }

    fn has_results(&self) -> bool {
        self.send.res.is_some()
            || self.recv.res.is_some()
            || self.poll_in.res.is_some()
            || self.poll_out.res.is_some()
    }
}

/// A socket is opened: it starts readable and writable (an attempt tells).
pub(crate) fn open(core: &mut Core<Uring>, _custom: bool) {
    core.io = UringIo::default();
    core.readable = true;
    core.writable = true;
}

pub(crate) fn on_event(core: &mut Core<Uring>, event: Event) -> bool {
    let io = &mut core.io;
    let flight = match event.kind {
        Kind::Send => &mut io.send,
        Kind::Recv => &mut io.recv,
        Kind::PollIn => &mut io.poll_in,
        Kind::PollOut => &mut io.poll_out,
        Kind::Cancel => return false,
    };
    flight.busy = false;
    flight.res = Some((event.res, event.flags));
    true
}

/// Whether the socket has work only the shard's worker can start.
pub(crate) fn needs_driver(core: &Core<Uring>) -> bool {
    let io = &core.io;
    let (notify_in, notify_out) = core.notify_wants();
    io.has_results()
        || (!core.recvs.is_empty() && !io.recv.busy)
        || (!core.sends.is_empty() && !io.send.busy)
        || (notify_in && !io.poll_in.busy)
        || (notify_out && !io.poll_out.busy)
}

/// Turns the CQEs that arrived into results and completions.
fn account(core: &mut Core<Uring>) {
    for res in [core.io.poll_in.res.take(), core.io.poll_out.res.take()]
        .into_iter()
        .flatten()
    {
        account_poll(core, res.0);
    }
    if let Some((res, flags)) = core.io.recv.res.take() {
        if res > 0 {
            core.io.drained = !cqueue::sock_nonempty(flags);
            core.io.misses = 0;
            core.finish_recv(ReceiveResult::Ok, res as u32);
        } else if res == 0 {
            core.finish_recv(ReceiveResult::Abandoned, 0);
        } else if res == -libc::EAGAIN {
            // A try found nothing: once more at the turn's end, then wait in the kernel.
            core.io.misses = core.io.misses.saturating_add(1);
            core.io.armed |= core.io.misses >= 2;
        } else if res != -libc::EINTR && res != -libc::ECANCELED {
            core.fail_recv(&io::Error::from_raw_os_error(-res));
        }
    }
    if let Some((res, _)) = core.io.send.res.take() {
        if res > 0 {
            core.io.send_misses = 0;
            let head = core
                .sends
                .front_mut()
                .expect("an in-flight send is the head");
            head.slots_mut().advance(res as usize);
            if head.slots().is_finished() {
                core.finish_send(SendResult::Ok);
            }
        } else if res == 0 {
            core.finish_send(SendResult::Error);
        } else if res == -libc::EAGAIN {
            // The socket's buffer is full: once more at the turn's end, then wait in the kernel.
            core.io.send_misses = core.io.send_misses.saturating_add(1);
            core.io.send_armed |= core.io.send_misses >= 2;
        } else if res != -libc::EINTR && res != -libc::ECANCELED {
            core.fail_send(&io::Error::from_raw_os_error(-res));
        }
    }
}

/// A poll CQE: the socket may move bytes again; notifications whose condition holds complete.
fn account_poll(core: &mut Core<Uring>, res: i32) {
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
        core.readable = true;
    }
    if is_out || is_err {
        core.writable = true;
    }
    core.complete_notifies(is_in, is_out, is_err);
}

pub(crate) fn progress(
    uring: &Uring,
    core: &mut Core<Uring>,
    here: Here,
    custom: Option<(&dyn Transport, usize)>,
) {
    if here != Here::Driver {
        // The ring is its worker's: `needs_driver` hands the work over. A custom transport's
        // bytes need no ring, only its readiness does: any thread may try them, as on epoll
        // (so a send the transport refuses at once is reported to the submitting call).
        if let Some((transport, id)) = custom {
            core.custom_progress(transport, id);
        }
        return;
    }
    account(core);
    match custom {
        Some((transport, id)) => core.custom_progress(transport, id),
        None => {
            bulk(core);
            if !core.recvs.is_empty() && !core.io.recv.busy {
                start_recv(uring, core);
            }
            if !core.sends.is_empty() && !core.io.send.busy {
                start_send(uring, core);
            }
        }
    }
    if core.d.state == crate::core::state::SocketState::Open && !core.broken {
        arm_polls(uring, core, custom.is_some());
    }
}

/// Bulk transfers (a head operation of at least [`BULK`] bytes) as plain non-blocking system
/// calls on the worker, while they move bytes: measured here, a 1 MiB stream through SQEs cost
/// twice the CPU per byte of the same `sendmsg` / `readv` made directly (the kernel's copy and
/// receive processing run worse inside `io_uring_enter`), while small operations are where the
/// ring pays (many in one enter). A call that would block leaves the operation to the ring's
/// usual path (a try at the end of the turn, then an armed SQE).
fn bulk(core: &mut Core<Uring>) {
    if !core.io.recv.busy && core.io.misses == 0 && !core.io.armed {
        if let Some(head) = core.recvs.front() {
            let slots = head.slots().remaining();
            let iov = os::iovecs(&slots[..slots.len().min(IOV_MAX)]);
            let offered: usize = iov.iter().map(|v| v.iov_len).sum();
            if offered >= BULK {
                match os::readv(core.fd, iov) {
                    Ok(0) => core.finish_recv(ReceiveResult::Abandoned, 0),
                    Ok(n) => {
                        core.io.drained = n < offered;
                        core.finish_recv(ReceiveResult::Ok, n as u32);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => core.io.misses = 1,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => core.fail_recv(&e),
                }
            }
        }
    }
    while !core.io.send.busy && core.io.send_misses == 0 && !core.io.send_armed {
        let Some(head) = core.sends.front_mut() else {
            return;
        };
        let slots = head.slots().remaining();
        let iov = os::iovecs(&slots[..slots.len().min(IOV_MAX)]);
        let offered: usize = iov.iter().map(|v| v.iov_len).sum();
        if offered < BULK {
            return;
        }
        match os::sendmsg(core.fd, iov) {
            Ok(n) => {
                head.slots_mut().advance(n);
                if head.slots().is_finished() {
                    core.finish_send(SendResult::Ok);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => core.io.send_misses = 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => core.fail_send(&e),
        }
    }
}

impl Parked {
    /// The SQE parameters of an operation of `kind` over `slots`: the one buffer itself, or the
    /// socket's header for that direction (made on first use) pointed at all of them.
    fn of(token: u64, fd: i32, kind: Kind, slots: &[Slot], hdr: &mut Option<Box<Hdr>>) -> Self {
        let (ptr, len, hdr) = match slots {
            [one] => (one.base, one.len as u32, std::ptr::null_mut()),
            _ => (
                std::ptr::null_mut(),
                0,
                hdr.get_or_insert_with(Box::default).point_at(slots),
            ),
        };
        Parked {
            token,
            fd,
            kind,
            ptr,
            len,
            hdr,
        }
    }
}

/// Pushes the head receive now, or parks it in the ring for the end of the turn (see the
/// module docs); either way the receive is the ring's from here until its CQE.
fn start_recv(uring: &Uring, core: &mut Core<Uring>) {
    let Core {
        recvs,
        io,
        fd,
        token,
        ..
    } = core;
    let head = recvs.front().expect("a head receive");
    let receive = Parked::of(
        *token,
        *fd,
        Kind::Recv,
        head.slots().remaining(),
        &mut io.recv_hdr,
    );
    io.recv.busy = true;
    let mut ring = uring.lock();
    if !io.armed && (io.drained || io.misses > 0) {
        // Wait for the peer's reply to go out first: after the next enter when the socket was
        // drained, at the end of this turn after a miss.
        let later = io.drained;
        io.drained = false;
        return ring.park(receive, later);
    }
    let armed = std::mem::take(&mut io.armed);
    // SAFETY: the entry points at the head receive's buffer, or at the socket's header over its
    // slots (the boxed operation stays at the head of `recvs`, untouched, until its CQE has been
    // accounted, and the header is not written again meanwhile; close waits for that CQE), and
    // at the socket, which is only closed after the CQE.
    unsafe { ring.push(&receive.entry(armed)) };
}

/// Pushes a send of the head send's unsent bytes: tried without waiting, or, after the socket's
/// buffer was found full, parked for the end of the turn (behind the turn's receives, which may
/// make room) and then armed to wait in the kernel.
fn start_send(uring: &Uring, core: &mut Core<Uring>) {
    let Core {
        sends,
        io,
        fd,
        token,
        ..
    } = core;
    let head = sends.front().expect("a head send");
    let send = Parked::of(
        *token,
        *fd,
        Kind::Send,
        head.slots().remaining(),
        &mut io.send_hdr,
    );
    io.send.busy = true;
    let mut ring = uring.lock();
    if io.send_misses == 1 && !io.send_armed {
        return ring.park(send, false);
    }
    let armed = std::mem::take(&mut io.send_armed);
    // SAFETY: the entry points at the head send's unsent bytes (and, for several buffers, at
    // the header in the socket's state, not written again until the CQE): the boxed operation
    // stays at the head of `sends` until its CQE has been accounted, and close waits for that.
    unsafe { ring.push(&send.entry(armed)) };
}

/// Arms the one-shot polls that notifications and a custom transport's stalled transfers need.
fn arm_polls(uring: &Uring, core: &mut Core<Uring>, custom: bool) {
    let (notify_in, notify_out) = core.notify_wants();
    let want_in = notify_in || (custom && !core.readable && !core.recvs.is_empty());
    let want_out = notify_out || (custom && !core.writable && !core.sends.is_empty());
    let polls = [
        (want_in, Kind::PollIn, libc::POLLIN | libc::POLLRDHUP),
        (want_out, Kind::PollOut, libc::POLLOUT),
    ];
    for (want, kind, mask) in polls {
        let flight = if kind == Kind::PollIn {
            &mut core.io.poll_in
        } else {
            &mut core.io.poll_out
        };
        if !want || flight.busy {
            continue;
        }
        flight.busy = true;
        let entry = opcode::PollAdd::new(types::Fd(core.fd), mask as u32)
            .build()
            .user_data(user_data(core.token, kind));
        // SAFETY: a poll points at no memory; the socket stays open until its CQE.
        unsafe { uring.lock().push(&entry) };
    }
}

/// During CLOSING: cancels what is in flight (on the shard's worker), accounts what arrived,
/// and says whether the kernel holds nothing of the socket's any more.
pub(crate) fn settle(uring: &Uring, core: &mut Core<Uring>, here: Here) -> bool {
    account(core);
    // Only the shard's worker touches the ring (another thread would wait for it to leave a
    // blocking `io_uring_enter`): elsewhere, the socket is handed to the worker as in-flight.
    if here == Here::Driver {
        let mut ring = uring.lock();
        // Parked in the ring, never in the kernel: such an operation simply stays in its queue.
        if core.io.recv.busy && ring.unpark(core.token, Kind::Recv) {
            core.io.recv.busy = false;
        }
        if core.io.send.busy && ring.unpark(core.token, Kind::Send) {
            core.io.send.busy = false;
        }
    }
    if !core.io.in_flight() {
        return true;
    }
    if here == Here::Driver && !core.io.cancelled {
        core.io.cancelled = true;
        let token = core.token;
        let io = &core.io;
        let busy = [
            (io.send.busy, Kind::Send),
            (io.recv.busy, Kind::Recv),
            (io.poll_in.busy, Kind::PollIn),
            (io.poll_out.busy, Kind::PollOut),
        ];
        let mut ring = uring.lock();
        for (busy, kind) in busy {
            if busy {
                let entry = opcode::AsyncCancel::new(user_data(token, kind))
                    .build()
                    .user_data(user_data(token, Kind::Cancel));
                // SAFETY: a cancellation points at no memory.
                unsafe { ring.push(&entry) };
            }
        }
    }
    false
}
