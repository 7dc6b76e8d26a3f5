//! The Windows side of the transport: `WSAPoll`, `gethostname`, `GetAdaptersAddresses` and
//! `WSAE*` classification.

use std::ffi::c_int;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::windows::io::AsRawSocket;

use socket2::Socket;
use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetAdaptersAddresses, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_SKIP_MULTICAST,
    IP_ADAPTER_ADDRESSES_LH,
};
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::{
    gethostname, WSAGetLastError, WSAPoll, AF_INET, AF_INET6, AF_UNSPEC, POLLNVAL, POLLRDNORM,
    POLLWRNORM, SOCKADDR_IN, SOCKADDR_IN6, SOCKET, SOCKET_ERROR, WSAEADDRNOTAVAIL, WSAEAFNOSUPPORT,
    WSAEINPROGRESS, WSAEINTR, WSAEMFILE, WSAENOBUFS, WSAENOTSOCK, WSAEPROTONOSUPPORT, WSAPOLLFD,
};

use super::{AddressType, Interest, LocalAddress};

/// Flags added to every send: none (Windows raises no `SIGPIPE`).
pub(super) const SEND_FLAGS: c_int = 0;

/// The most buffers passed to one `WSASend` / `WSARecv`.
pub(super) const MAX_IOVECS: usize = 1024;

/// The backlog of [`super::SocketTransport::listen`]: Winsock's
/// `SOMAXCONN` (a reasonable maximum chosen by the provider).
pub(super) const SOMAXCONN: c_int = windows_sys::Win32::Networking::WinSock::SOMAXCONN as c_int;

/// One `WSAPoll` of `socket` for `interest`, waiting up to `millis` ms (-1: no limit):
/// `Ok(true)` when ready (or in error, or hung up), `Ok(false)` on time out, `WSAEINTR` as an
/// error of kind `Interrupted`.
pub(super) fn poll_once(socket: &Socket, interest: Interest, millis: c_int) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => POLLRDNORM,
        Interest::Write => POLLWRNORM,
    };
    let mut pollfd = WSAPOLLFD {
        fd: socket.as_raw_socket() as SOCKET,
        events,
        revents: 0,
    };
    // SAFETY: `pollfd` is a valid, initialised `WSAPOLLFD` that lives across the call, and we
    // pass a count of 1.
    let ready = unsafe { WSAPoll(&mut pollfd, 1, millis) };
    if ready == SOCKET_ERROR {
        // SAFETY: plain call with no arguments.
        let code = unsafe { WSAGetLastError() };
        if code == WSAEINTR {
            return Err(io::ErrorKind::Interrupted.into());
        }
        return Err(io::Error::from_raw_os_error(code));
    }
    if ready > 0 && pollfd.revents & POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(WSAENOTSOCK));
    }
    Ok(ready > 0)
}

/// `WSAEAFNOSUPPORT` / `WSAEPROTONOSUPPORT` from `socket` or
/// `WSAEADDRNOTAVAIL` from `bind`: no usable IPv6.
pub(super) fn is_ipv6_unavailable(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AddrNotAvailable
        || matches!(
            err.raw_os_error(),
            Some(WSAEAFNOSUPPORT) | Some(WSAEPROTONOSUPPORT) | Some(WSAEADDRNOTAVAIL)
        )
}

/// Out of sockets or buffers.
pub(super) fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(WSAEMFILE) | Some(WSAENOBUFS))
}

pub(super) fn is_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(WSAEINPROGRESS)
}

/// `gethostname`.
pub(super) fn hostname() -> io::Result<String> {
    // 256 bytes is what Winsock documents as always enough.
    let mut buf = [0u8; 257];
    // SAFETY: `buf` is writable for `buf.len() - 1` bytes, which is the
    // length we pass; the last byte stays NUL.
    let rc = unsafe { gethostname(buf.as_mut_ptr(), (buf.len() - 1) as i32) };
    if rc != 0 {
        // SAFETY: plain call with no arguments.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// `GetAdaptersAddresses`: the IPv4 and IPv6 unicast addresses of the
/// adapters that are up.
pub(super) fn interface_addresses() -> io::Result<Vec<LocalAddress>> {
    let flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    // u64 words keep the list suitably aligned for its structures.
    let mut buf: Vec<u64> = vec![0; 2048];
    let mut attempts = 0;
    loop {
        let mut size = u32::try_from(buf.len() * 8).unwrap_or(u32::MAX);
        // SAFETY: `buf` is writable for `size` bytes and aligned for
        // IP_ADAPTER_ADDRESSES_LH; `size` is a valid in/out place.
        let rc = unsafe {
            GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                std::ptr::null(),
                buf.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>(),
                &mut size,
            )
        };
        if rc == ERROR_BUFFER_OVERFLOW && attempts < 4 {
            attempts += 1;
            buf = vec![0; (size as usize).div_ceil(8) + 1];
            continue;
        }
        if rc != NO_ERROR {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        break;
    }
    let mut addresses = Vec::new();
    let mut adapter = buf.as_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
    while !adapter.is_null() {
        // SAFETY: `adapter` is a node of the list GetAdaptersAddresses
        // wrote into `buf`, which outlives this loop.
        let a = unsafe { &*adapter };
        adapter = a.Next;
        if a.OperStatus != IfOperStatusUp {
            continue;
        }
        let mut unicast = a.FirstUnicastAddress;
        while !unicast.is_null() {
            // SAFETY: a node of the adapter's unicast list, inside `buf`.
            let u = unsafe { &*unicast };
            unicast = u.Next;
            let sa = u.Address.lpSockaddr;
            if sa.is_null() {
                continue;
            }
            // SAFETY: `lpSockaddr` points to a socket address of at least
            // the size of its family's structure, as the family says.
            let entry = unsafe {
                match (*sa).sa_family {
                    AF_INET => {
                        let sin = sa.cast::<SOCKADDR_IN>().read_unaligned();
                        LocalAddress {
                            address_type: AddressType::Inet,
                            address: IpAddr::V4(Ipv4Addr::from(u32::from_be(
                                sin.sin_addr.S_un.S_addr,
                            ))),
                        }
                    }
                    AF_INET6 => {
                        let sin6 = sa.cast::<SOCKADDR_IN6>().read_unaligned();
                        LocalAddress {
                            address_type: AddressType::Inet6,
                            address: IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.u.Byte)),
                        }
                    }
                    _ => continue,
                }
            };
            addresses.push(entry);
        }
    }
    Ok(addresses)
}

/// A raw socket: a Winsock `SOCKET`.
pub(super) type RawSocket = std::os::windows::io::RawSocket;

/// The `SO_TYPE` of a stream socket.
pub(super) const SOCK_STREAM: c_int = windows_sys::Win32::Networking::WinSock::SOCK_STREAM as c_int;

/// `getsockopt` of the `int` option `name` at `SOL_SOCKET` level: `SO_TYPE` or `SO_ACCEPTCONN`
/// here. `socket` may be any value: one that is not an open socket makes the call fail
/// (`WSAENOTSOCK`; `WSANOTINITIALISED` before Winsock was started), and nothing else happens.
fn sockopt_int(socket: RawSocket, name: i32) -> io::Result<c_int> {
    use windows_sys::Win32::Networking::WinSock::{getsockopt, SOL_SOCKET};
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as c_int;
    // SAFETY: a plain system call on a handle value, with pointers to live locals of the sizes
    // given.
    let rc = unsafe {
        getsockopt(
            socket as SOCKET,
            SOL_SOCKET,
            name,
            (&mut value as *mut c_int).cast::<u8>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        // SAFETY: reads the calling thread's last Winsock error; no preconditions.
        Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }))
    }
}

/// `getsockopt` `SO_TYPE`.
pub(super) fn socket_type(socket: RawSocket) -> io::Result<c_int> {
    sockopt_int(socket, windows_sys::Win32::Networking::WinSock::SO_TYPE)
}

/// `getsockopt` `SO_ACCEPTCONN`: whether `listen` was called on the socket.
pub(super) fn is_listening(socket: RawSocket) -> io::Result<bool> {
    sockopt_int(
        socket,
        windows_sys::Win32::Networking::WinSock::SO_ACCEPTCONN,
    )
    .map(|v| v != 0)
}
