//! The in-memory kernel of the loom model: one [`Sock`] per descriptor the model opened, with
//! its receive queue, the room left in its send buffer, the bytes written to it, and the
//! peer's end of stream or reset. The model plays the peer through the `peer_*` functions and
//! announces each change with the model event source's `fire`, as a real edge would.
//!
//! Every call checks that the descriptor is still the socket it was installed for (same device
//! and inode), so a system call after close (on a closed or reused descriptor) fails the model.
//!
//! Loom runs all threads of a model on the one OS thread that calls `loom::model`, so the table
//! is a plain thread-local: each model (and each test thread) has its own.

// The model's side of the kernel is used by the loom tests only.
#![cfg_attr(not(test), allow(dead_code))]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::RawFd;

pub(crate) use super::super::os::iovecs;

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
        let sock = k
            .get_mut(&fd)
            .unwrap_or_else(|| panic!("{what} on descriptor {fd}, which the model never opened"));
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
pub(crate) fn recvmsg_inq(fd: RawFd, iov: &[libc::iovec]) -> io::Result<(usize, Option<usize>)> {
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
