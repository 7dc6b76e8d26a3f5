//! The unix side of the transport: `poll(2)`, `gethostname(2)`, `getifaddrs(3)` and errno
//! classification.

use std::ffi::c_int;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use socket2::Socket;

use super::{AddressType, Interest, LocalAddress};

/// Flags added to every `sendmsg(2)`: no `SIGPIPE` where the flag exists.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) const SEND_FLAGS: c_int = libc::MSG_NOSIGNAL;
/// Flags added to every `sendmsg(2)`: none here (Apple platforms use
/// `SO_NOSIGPIPE`, which socket2 sets on every socket it creates).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) const SEND_FLAGS: c_int = 0;

/// The most buffers passed to one `sendmsg(2)` / `recvmsg(2)`: `IOV_MAX`
/// on Linux, the BSDs and Apple platforms.
pub(super) const MAX_IOVECS: usize = 1024;

/// The backlog of [`super::SocketTransport::listen`].
pub(super) const SOMAXCONN: c_int = libc::SOMAXCONN;

/// One `poll(2)` of `socket` for `interest`, waiting up to `millis` ms (-1: no limit):
/// `Ok(true)` when ready (or in error, or hung up), `Ok(false)` on time out, `EINTR` as an
/// error of kind `Interrupted`.
pub(super) fn poll_once(socket: &Socket, interest: Interest, millis: c_int) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    let mut pollfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: `pollfd` is a valid, initialised `pollfd` that lives across the call, and we
    // pass a count of 1.
    let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    if ready > 0 && pollfd.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(ready > 0)
}

/// `EAFNOSUPPORT` / `EPROTONOSUPPORT` from `socket(2)` or
/// `EADDRNOTAVAIL` from `bind(2)`: no usable IPv6.
pub(super) fn is_ipv6_unavailable(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AddrNotAvailable
        || matches!(
            err.raw_os_error(),
            Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
        )
}

/// Out of descriptors or buffers.
pub(super) fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

pub(super) fn is_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `gethostname(2)`.
pub(super) fn hostname() -> io::Result<String> {
    // 255 is the longest host name POSIX allows (HOST_NAME_MAX on Linux
    // is 64); one more byte keeps a terminating NUL.
    let mut buf = [0u8; 257];
    // SAFETY: `buf` is writable for `buf.len() - 1` bytes, which is the
    // length we pass; the last byte stays NUL so the result is terminated
    // even if the name was truncated.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// Frees the list of `getifaddrs(3)` on every path.
struct IfAddrs(*mut libc::ifaddrs);

impl Drop for IfAddrs {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful `getifaddrs` and is
        // freed exactly once, here.
        unsafe { libc::freeifaddrs(self.0) };
    }
}

/// `getifaddrs(3)`: the IPv4 and IPv6 addresses of the interfaces that
/// are up.
pub(super) fn interface_addresses() -> io::Result<Vec<LocalAddress>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid place for the list pointer.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = IfAddrs(head);
    let mut addresses = Vec::new();
    let mut node = list.0;
    while !node.is_null() {
        // SAFETY: `node` is a non-null element of the list returned by
        // `getifaddrs`, which stays allocated until `list` is dropped.
        let ifa = unsafe { &*node };
        node = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
        if !up || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: `ifa_addr` is non-null and points to a socket address
        // of at least `sockaddr` size; `read_unaligned` needs no
        // alignment.
        let family = c_int::from(unsafe { ifa.ifa_addr.read_unaligned() }.sa_family);
        let entry = match family {
            libc::AF_INET => {
                // SAFETY: family AF_INET means the storage is a
                // `sockaddr_in`.
                let sin = unsafe { ifa.ifa_addr.cast::<libc::sockaddr_in>().read_unaligned() };
                LocalAddress {
                    address_type: AddressType::Inet,
                    address: IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                }
            }
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6 means the storage is a
                // `sockaddr_in6`.
                let sin6 = unsafe { ifa.ifa_addr.cast::<libc::sockaddr_in6>().read_unaligned() };
                LocalAddress {
                    address_type: AddressType::Inet6,
                    address: IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                }
            }
            _ => continue,
        };
        addresses.push(entry);
    }
    Ok(addresses)
}

/// A raw socket: a file descriptor.
pub(super) type RawSocket = RawFd;

/// The `SO_TYPE` of a stream socket.
pub(super) const SOCK_STREAM: c_int = libc::SOCK_STREAM;

/// `getsockopt(2)` of the `int` option `name` at `SOL_SOCKET` level: `SO_TYPE` or
/// `SO_ACCEPTCONN` here. `fd` may be any value: one that is not an open socket makes the call
/// fail (`EBADF`, `ENOTSOCK`), and nothing else happens to it.
fn sockopt_int(fd: RawFd, name: c_int) -> io::Result<c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: a plain system call on an integer descriptor, with pointers to live locals of the
    // sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut c_int).cast::<std::ffi::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(2)` `SO_TYPE`.
pub(super) fn socket_type(fd: RawFd) -> io::Result<c_int> {
    sockopt_int(fd, libc::SO_TYPE)
}

/// `getsockopt(2)` `SO_ACCEPTCONN`: whether `listen(2)` was called on the socket.
pub(super) fn is_listening(fd: RawFd) -> io::Result<bool> {
    sockopt_int(fd, libc::SO_ACCEPTCONN).map(|v| v != 0)
}
