//! Thin wrappers over the Linux system calls the backend makes; each returns `io::Result` and
//! names the call it makes. Nothing here keeps state.
//!
//! Under `cfg(loom)` the epoll backend's `socket.rs` makes its calls to [`fake`], an in-memory
//! kernel with the same functions, instead.

// Under loom the epoll socket calls the fake instead of most of these.
#![cfg_attr(loom, allow(dead_code))]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::core::ops::Slot;

/// The slots of an operation as the `iovec` array the kernel takes. No copy: [`Slot`] is laid
/// out as `struct iovec` (checked at compile time below).
pub(crate) fn iovecs(slots: &[Slot]) -> &[libc::iovec] {
    const _: () = {
        assert!(std::mem::size_of::<Slot>() == std::mem::size_of::<libc::iovec>());
        assert!(std::mem::align_of::<Slot>() == std::mem::align_of::<libc::iovec>());
        assert!(std::mem::offset_of!(Slot, base) == std::mem::offset_of!(libc::iovec, iov_base));
        assert!(std::mem::offset_of!(Slot, len) == std::mem::offset_of!(libc::iovec, iov_len));
    };
    // SAFETY: `Slot` is `repr(C)` with the same size, alignment and field offsets as `iovec`
    // (a pointer, then a `usize` length), so the slice reinterprets in place for its lifetime.
    unsafe { std::slice::from_raw_parts(slots.as_ptr().cast::<libc::iovec>(), slots.len()) }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub(crate) fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with no pointer arguments.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with no pointer arguments.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `write(2)` of 1 to an eventfd (wakes whoever waits on it).
pub(crate) fn eventfd_signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local; an eventfd write only fails when the counter is
    // saturated, in which case it is already signalled.
    let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// `read(2)` of an eventfd's counter (resets it).
pub(crate) fn eventfd_drain(fd: &OwnedFd) {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live local; EAGAIN (already drained) is harmless.
    let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
}

/// `epoll_ctl(EPOLL_CTL_ADD)` with the given interest and token.
pub(crate) fn epoll_add(epfd: &OwnedFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    cvt(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
    Ok(())
}

/// `epoll_ctl(EPOLL_CTL_DEL)`.
pub(crate) fn epoll_del(epfd: &OwnedFd, fd: RawFd) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: `ev` is valid (older kernels require a non-null pointer even for DEL).
    cvt(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
    Ok(())
}

/// `epoll_wait(2)`; EINTR is reported as 0 events.
pub(crate) fn epoll_wait(
    epfd: &OwnedFd,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    let max = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: `events` is a valid, writable buffer of `max` entries.
    let n = unsafe { libc::epoll_wait(epfd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// `sendmsg(2)` of the given iovecs with `MSG_NOSIGNAL | MSG_DONTWAIT` (never SIGPIPE).
pub(crate) fn sendmsg(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr().cast_mut();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points at `iov`, whose entries describe readable memory that the caller keeps
    // alive for the duration of the call.
    cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) })
}

/// `readv(2)` into the given iovecs.
pub(crate) fn readv(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    let cnt = iov.len().min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: the iovecs describe writable memory that the caller keeps alive and exclusively
    // borrowed for the duration of the call.
    cvt_size(unsafe { libc::readv(fd, iov.as_ptr(), cnt) })
}

/// `poll(2)` of one descriptor with a zero timeout: the events that are ready now.
pub(crate) fn poll_now(fd: RawFd, events: libc::c_short) -> io::Result<libc::c_short> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(p.revents)
}

/// `fcntl(F_SETFL, O_NONBLOCK)` (keeping the other flags).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain system calls with no pointer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// `TCP_INQ` (Linux 4.18): `recvmsg` then reports the bytes left in the receive queue.
const TCP_INQ: libc::c_int = 36;

/// `setsockopt(IPPROTO_TCP, TCP_INQ, 1)`; false when the socket is not TCP or the kernel is
/// older.
pub(crate) fn enable_tcp_inq(fd: RawFd) -> bool {
    let one: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_INQ,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// `recvmsg(2)` into the iovecs on a socket with `TCP_INQ` on: the bytes read, and the bytes
/// still queued when the kernel said so.
pub(crate) fn recvmsg_inq(fd: RawFd, iov: &[libc::iovec]) -> io::Result<(usize, Option<usize>)> {
    // Room for one cmsg carrying a c_int, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr().cast_mut();
    msg.msg_iovlen = iov.len() as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at the caller's iovecs (writable memory kept alive and exclusively
    // borrowed for the call) and at `control`, a live local buffer of the declared size.
    let n = cvt_size(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })?;
    let mut left = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // `msg_controllen`; each header they return lies inside `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_TCP && (*c).cmsg_type == TCP_INQ {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                left = Some(v.max(0) as usize);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, left))
}

/// The in-memory kernel of the loom model: one [`Sock`] per descriptor the model opened, with
/// its receive queue, the room left in its send buffer, the bytes written to it, and the
/// peer's end of stream or reset. The model plays the peer through the `peer_*` functions and
/// announces each change with [`crate::sys::Engine::fire`], as a real edge would.
///
/// Every call checks that the descriptor is still the socket it was installed for (same device
/// and inode), so a system call after close (on a closed or reused descriptor) fails the model.
///
/// Loom runs all threads of a model on the one OS thread that calls `loom::model`, so the table
/// is a plain thread-local: each model (and each test thread) has its own.
#[cfg(loom)]
// The model's side of the kernel is used by the loom tests only.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod fake {
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};
    use std::io;
    use std::os::fd::RawFd;

    pub(crate) use super::iovecs;

    /// One socket of the in-memory kernel.
    #[derive(Debug, Default)]
    pub(crate) struct Sock {
        identity: (u64, u64),
        /// Bytes the peer sent and nobody read yet.
        pub(crate) rx: VecDeque<u8>,
        /// The peer sent its end of stream (after `rx`).
        pub(crate) eof: bool,
        /// The connection was reset.
        pub(crate) reset: bool,
        /// Bytes `sendmsg` may still accept before it would block.
        pub(crate) room: usize,
        /// Bytes written by the socket and not yet read by the peer.
        pub(crate) sent: Vec<u8>,
        /// Make `set_nonblocking` (open) fail.
        pub(crate) fail_open: bool,
        /// Whether `TCP_INQ` is available (the `recvmsg_inq` path) or not (`readv`).
        pub(crate) inq: bool,
        /// System calls made on the socket.
        pub(crate) calls: usize,
    }

    thread_local!(static KERNEL: RefCell<HashMap<RawFd, Sock>> = RefCell::new(HashMap::new()));

    fn identity(fd: RawFd) -> Option<(u64, u64)> {
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a live, writable `stat`; fstat on a closed fd only returns EBADF.
        let r = unsafe { libc::fstat(fd, &mut st) };
        (r == 0).then_some((st.st_dev, st.st_ino))
    }

    /// Installs `fd` (a real descriptor the model keeps open, so its number and inode identify
    /// it) with `room` bytes of send buffer, replacing whatever an earlier model left there.
    pub(crate) fn install(fd: RawFd, room: usize) {
        let identity = identity(fd).expect("install: the descriptor is open");
        let sock = Sock {
            identity,
            room,
            inq: true,
            ..Sock::default()
        };
        KERNEL.with(|k| k.borrow_mut().insert(fd, sock));
    }

    /// Runs `f` on the socket of `fd` (model side: no identity check, no call counted).
    pub(crate) fn with<R>(fd: RawFd, f: impl FnOnce(&mut Sock) -> R) -> R {
        KERNEL.with(|k| {
            f(k.borrow_mut()
                .get_mut(&fd)
                .expect("a socket installed by the model"))
        })
    }

    /// A system call on `fd`: fails the model unless `fd` is still the installed socket.
    fn call<R>(fd: RawFd, what: &str, f: impl FnOnce(&mut Sock) -> R) -> R {
        let now = identity(fd);
        KERNEL.with(|k| {
            let mut k = k.borrow_mut();
            let sock = k.get_mut(&fd).unwrap_or_else(|| {
                panic!("{what} on descriptor {fd}, which the model never opened")
            });
            assert_eq!(
                now,
                Some(sock.identity),
                "{what} on descriptor {fd} after its socket was closed"
            );
            sock.calls += 1;
            f(sock)
        })
    }

    /// The peer sends `data`.
    pub(crate) fn peer_write(fd: RawFd, data: &[u8]) {
        with(fd, |s| s.rx.extend(data));
    }

    /// The peer reads everything written so far (making that much room again).
    pub(crate) fn peer_read(fd: RawFd) -> Vec<u8> {
        with(fd, |s| {
            let got = std::mem::take(&mut s.sent);
            s.room += got.len();
            got
        })
    }

    /// The peer resets the connection.
    pub(crate) fn peer_reset(fd: RawFd) {
        with(fd, |s| s.reset = true);
    }

    fn reset_error() -> io::Error {
        io::Error::from_raw_os_error(libc::ECONNRESET)
    }

    /// `sendmsg(2)`: takes what fits in `room`.
    pub(crate) fn sendmsg(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
        call(fd, "sendmsg", |s| {
            if s.reset {
                return Err(reset_error());
            }
            if s.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for v in iov {
                let take = v.iov_len.min(s.room - n);
                // SAFETY: `socket.rs` builds each iovec from a live buffer of the operation it
                // holds under the socket's lock for the duration of the call.
                let bytes = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, take) };
                s.sent.extend_from_slice(bytes);
                n += take;
                if n == s.room {
                    break;
                }
            }
            s.room -= n;
            Ok(n)
        })
    }

    fn read_into(s: &mut Sock, iov: &[libc::iovec]) -> io::Result<usize> {
        if s.reset {
            return Err(reset_error());
        }
        if s.rx.is_empty() {
            return if s.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let mut n = 0;
        for v in iov {
            let take = v.iov_len.min(s.rx.len());
            // SAFETY: `socket.rs` builds each iovec from a live buffer of the operation it holds
            // exclusively under the socket's lock for the duration of the call.
            let out = unsafe { std::slice::from_raw_parts_mut(v.iov_base as *mut u8, take) };
            for b in out.iter_mut() {
                *b = s.rx.pop_front().expect("counted above");
            }
            n += take;
            if s.rx.is_empty() {
                break;
            }
        }
        Ok(n)
    }

    /// `readv(2)`.
    pub(crate) fn readv(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
        call(fd, "readv", |s| read_into(s, iov))
    }

    /// `recvmsg(2)` with `TCP_INQ`: also reports what is left.
    pub(crate) fn recvmsg_inq(
        fd: RawFd,
        iov: &[libc::iovec],
    ) -> io::Result<(usize, Option<usize>)> {
        call(fd, "recvmsg", |s| {
            read_into(s, iov).map(|n| (n, Some(s.rx.len())))
        })
    }

    /// `poll(2)` with a zero timeout.
    pub(crate) fn poll_now(fd: RawFd, events: libc::c_short) -> io::Result<libc::c_short> {
        call(fd, "poll", |s| {
            let mut r = 0;
            if s.reset {
                r |= libc::POLLERR | libc::POLLHUP;
            }
            if !s.rx.is_empty() || s.eof || s.reset {
                r |= libc::POLLIN;
            }
            if s.eof {
                r |= libc::POLLRDHUP;
            }
            if s.room > 0 && !s.reset {
                r |= libc::POLLOUT;
            }
            Ok(r & (events | libc::POLLERR | libc::POLLHUP | libc::POLLRDHUP))
        })
    }

    /// `fcntl(O_NONBLOCK)`: fails when the model asked for it.
    pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
        call(fd, "fcntl", |s| {
            if s.fail_open {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                Ok(())
            }
        })
    }

    /// `setsockopt(TCP_INQ)`.
    pub(crate) fn enable_tcp_inq(fd: RawFd) -> bool {
        call(fd, "setsockopt", |s| s.inq)
    }
}
