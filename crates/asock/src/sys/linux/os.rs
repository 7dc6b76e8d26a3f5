//! Thin wrappers over the Linux system calls the backend makes; each returns `io::Result` and
//! names the call it makes. Nothing here keeps state.
//!
//! Under `cfg(loom)` the socket core and the epoll driver make their calls to the model's
//! in-memory kernel (`loom/kernel.rs`), which has the same functions, instead.

// Under loom the model's kernel stands in for most of these.
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
