//! A synchronous socket wrapper: the c-pal `socket_transport` module.
//!
//! A [`SocketTransport`] is either a *client* ([`SocketType::Client`]), which
//! [connects](SocketTransport::connect) to a host or wraps an already
//! connected socket ([`SocketTransport::from_socket`]), or a *server*
//! ([`SocketType::Binding`]), which [listens](SocketTransport::listen) and
//! [accepts](SocketTransport::accept) clients. Every socket the transport
//! holds is non-blocking; [`send`](SocketTransport::send) still writes every
//! byte before it returns (it waits for room with `poll(2)`), while
//! [`receive`](SocketTransport::receive) reads what is there now, or reports
//! [`TransportReceiveError::WouldBlock`].
//!
//! A transport holds at most one socket. It gets one from `connect`,
//! `listen`/`listen_on` or `from_socket`, gives it up at
//! [`disconnect`](SocketTransport::disconnect) (after which it can connect or
//! listen again) and closes it when dropped.
//!
//! Differences from c-pal's socket transport, all deliberate:
//!
//! * `connect` resolves IPv4 and IPv6 addresses, tries each within the
//!   timeout, honours the timeout, and fails fast when the peer refuses;
//! * `listen` takes port 0 (the kernel chooses, see
//!   [`local_port`](SocketTransport::local_port)) and listens dual-stack;
//! * `accept` honours its timeout on every platform;
//! * `send` continues from the exact byte where a partial write stopped, waits
//!   on `EAGAIN` instead of failing, stops at the first error and never raises
//!   `SIGPIPE`;
//! * `receive` is one scatter read (like `readv(2)`), reports end of stream as
//!   [`TransportReceiveError::Shutdown`] and "nothing yet" as
//!   [`TransportReceiveError::WouldBlock`];
//! * the socket is released at `disconnect` and closed on drop, so
//!   [`is_valid_socket`](SocketTransport::is_valid_socket) is exact;
//! * [`local_addresses`](SocketTransport::local_addresses) lists IPv4 and
//!   IPv6 addresses, loopback included.
//!
//! The system calls named below are the unix ones. On Windows the same
//! behaviour comes from Winsock: the waits use `WSAPoll`, the host name
//! `gethostname`, the interface list `GetAdaptersAddresses` (adapters that
//! are up), and `EAGAIN`, `EINTR`, ... are their `WSAE*` counterparts;
//! socket2 and the standard library call `WSAStartup`.
//!
//! # Examples
//!
//! ```
//! use std::io::{IoSlice, IoSliceMut};
//! use std::time::Duration;
//!
//! use asock::transport::SocketTransport;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut server = SocketTransport::server();
//! server.listen_on("127.0.0.1:0".parse()?, 16)?;
//! let port = server.local_port().expect("listening");
//!
//! let mut client = SocketTransport::client();
//! client.connect("127.0.0.1", port, Duration::from_secs(5))?;
//! let accepted = server
//!     .accept(Duration::from_secs(5))?
//!     .expect("the client is connected");
//!
//! let sent = client.send(&[IoSlice::new(b"he"), IoSlice::new(b"llo")], 0)?;
//! assert_eq!(sent, 5);
//!
//! let mut buf = [0u8; 5];
//! let n = accepted.receive_timeout(&mut [IoSliceMut::new(&mut buf)], 0, Duration::from_secs(5))?;
//! assert_eq!(&buf[..n], &b"hello"[..n]);
//! # Ok(())
//! # }
//! ```

mod adopt;
mod data;
mod error;
#[cfg(unix)]
#[path = "unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "windows.rs"]
mod sys;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

pub use error::{
    AcceptError, SendErrorKind, SocketRefused, TransportError, TransportReceiveError,
    TransportSendError,
};

/// What a [`SocketTransport`] is for.
///
/// The discriminants are c-pal's `SOCKET_TYPE` values (`BINDING = 1`,
/// `CLIENT = 2`, after the implicit `INVALID = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// A server: it listens and accepts.
    Binding = 1,
    /// A client: it connects, or wraps a connected socket.
    Client = 2,
}

/// The family of a [`LocalAddress`].
///
/// The discriminants are c-pal's `ADDRESS_TYPE` values (`INET = 1`,
/// `INET_6 = 2`); c-pal's `NETBIOS` is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// An IPv4 address (`AF_INET`).
    Inet = 1,
    /// An IPv6 address (`AF_INET6`).
    Inet6 = 2,
}

/// One address of a local network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalAddress {
    /// The address family.
    pub address_type: AddressType,
    /// The address; its [`Display`](std::fmt::Display) form is the numeric text
    /// (`"127.0.0.1"`, `"::1"`). IPv6 scope ids are not kept.
    pub address: IpAddr,
}

/// The host name and the interface addresses of this machine, as returned by
/// [`SocketTransport::local_addresses`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddresses {
    /// The host name (`gethostname(2)`).
    pub hostname: String,
    /// Every address of every interface that is up, IPv4 and IPv6, loopback
    /// included, in the order the system lists them. May be empty.
    pub addresses: Vec<LocalAddress>,
}

/// A synchronous socket wrapper (c-pal's `SOCKET_TRANSPORT_HANDLE`).
///
/// See the [module documentation](self) for an overview and an example.
/// `&self` methods ([`send`](Self::send), [`receive`](Self::receive),
/// [`accept`](Self::accept), ...) may be called from several threads at once;
/// `connect`, `listen` and `disconnect` need `&mut self`, so the borrow
/// checker keeps them apart from I/O in flight.
#[derive(Debug)]
pub struct SocketTransport {
    socket_type: SocketType,
    socket: Option<Socket>,
}

impl SocketTransport {
    /// A client transport with no socket yet; [`connect`](Self::connect) it.
    ///
    /// No system call.
    pub fn client() -> Self {
        SocketTransport {
            socket_type: SocketType::Client,
            socket: None,
        }
    }

    /// A server ([`SocketType::Binding`]) transport with no socket yet;
    /// [`listen`](Self::listen) on it.
    ///
    /// No system call.
    pub fn server() -> Self {
        SocketTransport {
            socket_type: SocketType::Binding,
            socket: None,
        }
    }

    /// A client transport that takes ownership of an already connected
    /// socket, as it is: [`from_stream_socket`](Self::from_stream_socket)
    /// first checks that it is a stream socket that is not listening (as
    /// c-pal's `socket_transport_create_from_socket` does).
    ///
    /// Puts the socket in non-blocking mode (`fcntl(2)` `O_NONBLOCK`); should
    /// that fail the socket is kept as it is, and [`receive`](Self::receive)
    /// then blocks. On Apple platforms it also sets `SO_NOSIGPIPE`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{IoSlice, IoSliceMut};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// use asock::transport::SocketTransport;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (accepted, _) = listener.accept()?;
    ///
    /// let a = SocketTransport::from_socket(socket2::Socket::from(client));
    /// let b = SocketTransport::from_socket(socket2::Socket::from(accepted));
    /// assert_eq!(a.send(&[IoSlice::new(b"x")], 0)?, 1);
    /// let mut byte = [0u8; 1];
    /// b.receive_timeout(&mut [IoSliceMut::new(&mut byte)], 0, Duration::from_secs(5))?;
    /// assert_eq!(&byte, b"x");
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_socket(socket: Socket) -> Self {
        // Best effort, as documented: the signature has no error path and the
        // socket stays usable (blocking) if this fails.
        let _ = socket.set_nonblocking(true);
        #[cfg(target_vendor = "apple")]
        let _ = socket.set_nosigpipe(true);
        SocketTransport {
            socket_type: SocketType::Client,
            socket: Some(socket),
        }
    }

    /// Whether this is a client or a server transport.
    ///
    /// No system call.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// Connects a client transport to `host:port` within `timeout`.
    ///
    /// Resolves `host` (a name or a numeric IPv4/IPv6 address) with
    /// `getaddrinfo(3)`, then tries each address in the order returned until
    /// one connects: `socket(2)`, non-blocking `connect(2)`, `poll(2)` for
    /// completion, `getsockopt(2)` `SO_ERROR`. The timeout is an overall
    /// budget: each attempt gets an equal share of what is left (the last
    /// one all of it), so an address that never answers cannot starve the
    /// others. Name resolution itself is not bounded by the timeout.
    ///
    /// On success the socket is non-blocking and has `TCP_NODELAY` set
    /// (`fcntl(2)`, `setsockopt(2)`).
    ///
    /// # Errors
    ///
    /// * [`TransportError::WrongType`] on a server transport;
    /// * [`TransportError::InvalidArg`] for an empty `host` or port 0;
    /// * [`TransportError::AlreadyOpen`] if the transport holds a socket;
    /// * [`TransportError::Io`] with the error of the last address tried:
    ///   [`io::ErrorKind::ConnectionRefused`] comes back as soon as the peer
    ///   refuses, [`io::ErrorKind::TimedOut`] once the budget is spent (a zero
    ///   `timeout` times out at once); resolution failures are passed on.
    pub fn connect(
        &mut self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        if self.socket_type != SocketType::Client {
            return Err(TransportError::WrongType);
        }
        if host.is_empty() {
            return Err(TransportError::InvalidArg("host is empty"));
        }
        if port == 0 {
            return Err(TransportError::InvalidArg("port is 0"));
        }
        if self.socket.is_some() {
            return Err(TransportError::AlreadyOpen);
        }

        let start = Instant::now();
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(TransportError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} resolved to no address"),
            )));
        }

        let mut last_error = io::Error::from(io::ErrorKind::TimedOut);
        for (i, addr) in addrs.iter().enumerate() {
            let remaining = timeout.saturating_sub(start.elapsed());
            if remaining.is_zero() {
                last_error = io::ErrorKind::TimedOut.into();
                break;
            }
            let attempts_left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
            match connect_one(*addr, remaining / attempts_left) {
                Ok(socket) => {
                    self.socket = Some(socket);
                    return Ok(());
                }
                Err(err) => last_error = err,
            }
        }
        Err(TransportError::Io(last_error))
    }

    /// Listens on every interface, on `port` (0 lets the kernel choose; read
    /// it back with [`local_port`](Self::local_port)).
    ///
    /// Binds `[::]:port` dual-stack (IPv4 clients arrive as IPv4-mapped
    /// addresses); if the system has no IPv6 (`socket(2)` fails with
    /// `EAFNOSUPPORT`, or `bind(2)` with `EADDRNOTAVAIL`), binds
    /// `0.0.0.0:port` instead. The backlog is `SOMAXCONN`. Otherwise as
    /// [`listen_on`](Self::listen_on).
    ///
    /// # Errors
    ///
    /// As [`listen_on`](Self::listen_on).
    pub fn listen(&mut self, port: u16) -> Result<(), TransportError> {
        let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        match self.listen_on(any6, sys::SOMAXCONN) {
            Err(TransportError::Io(err)) if sys::is_ipv6_unavailable(&err) => self.listen_on(
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
                sys::SOMAXCONN,
            ),
            result => result,
        }
    }

    /// Listens on `addr` with the given `backlog`.
    ///
    /// Makes `socket(2)`, `setsockopt(2)` `SO_REUSEADDR` (unix), `bind(2)`,
    /// `listen(2)` and `fcntl(2)` `O_NONBLOCK`. For the IPv6 unspecified
    /// address (`[::]`) it also clears `IPV6_V6ONLY` so that IPv4 clients are
    /// accepted too (best effort: where the system refuses, the socket stays
    /// IPv6 only). On failure the socket is closed and the transport stays
    /// without one.
    ///
    /// # Errors
    ///
    /// * [`TransportError::WrongType`] on a client transport;
    /// * [`TransportError::AlreadyOpen`] if the transport holds a socket;
    /// * [`TransportError::Io`] if a system call fails (for instance
    ///   [`io::ErrorKind::AddrInUse`]).
    pub fn listen_on(&mut self, addr: SocketAddr, backlog: i32) -> Result<(), TransportError> {
        if self.socket_type != SocketType::Binding {
            return Err(TransportError::WrongType);
        }
        if self.socket.is_some() {
            return Err(TransportError::AlreadyOpen);
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            // Best effort, as documented.
            let _ = socket.set_only_v6(false);
        }
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(backlog)?;
        socket.set_nonblocking(true)?;
        self.socket = Some(socket);
        Ok(())
    }

    /// The local address of the socket (`getsockname(2)`), `None` when the
    /// transport holds no socket or the call fails.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket()?.local_addr().ok()?.as_socket()
    }

    /// The local port of the socket (`getsockname(2)`); after
    /// [`listen`](Self::listen) on port 0, the port the kernel chose.
    pub fn local_port(&self) -> Option<u16> {
        self.local_addr().map(|addr| addr.port())
    }

    /// The address of the connected peer (`getpeername(2)`), `None` when the
    /// transport holds no socket or is not connected.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket()?.peer_addr().ok()?.as_socket()
    }

    /// Accepts one client, waiting up to `timeout` for it.
    ///
    /// Calls `accept(2)` (`accept4(2)` with `SOCK_CLOEXEC` on Linux); while
    /// no client is pending, waits for one with `poll(2)` (`POLLIN`) until
    /// the timeout. The accepted socket is made non-blocking with
    /// `TCP_NODELAY` (`fcntl(2)`, `setsockopt(2)`) and returned as a client
    /// transport. If configuring it fails it is closed, never leaked.
    ///
    /// Returns `Ok(None)` when no client arrived in time (c-pal's
    /// `NO_CONNECTION`); a zero timeout just checks once.
    ///
    /// # Errors
    ///
    /// * [`AcceptError::WrongType`] on a client transport;
    /// * [`AcceptError::NotOpen`] if the transport is not listening;
    /// * [`AcceptError::PortExhaustion`] for `EMFILE`, `ENFILE`, `ENOBUFS`,
    ///   `ENOMEM`;
    /// * [`AcceptError::InProgress`] for `EINPROGRESS`;
    /// * [`AcceptError::Error`] for anything else.
    pub fn accept(&self, timeout: Duration) -> Result<Option<SocketTransport>, AcceptError> {
        if self.socket_type != SocketType::Binding {
            return Err(AcceptError::WrongType);
        }
        let listener = self.socket().ok_or(AcceptError::NotOpen)?;
        let deadline = Deadline::after(timeout);
        loop {
            match listener.accept() {
                Ok((socket, _peer)) => {
                    return match configure_connected(&socket) {
                        Ok(()) => Ok(Some(SocketTransport {
                            socket_type: SocketType::Client,
                            socket: Some(socket),
                        })),
                        // `socket` is dropped, hence closed, here.
                        Err(err) => Err(map_accept_error(err)),
                    };
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    match poll_one(listener, Interest::Read, &deadline) {
                        Ok(true) => continue,
                        Ok(false) => return Ok(None),
                        Err(err) => return Err(map_accept_error(err)),
                    }
                }
                Err(err) => return Err(map_accept_error(err)),
            }
        }
    }

    /// Closes the socket: `shutdown(2)` both directions (not for a listening
    /// transport, where it has no meaning), then `close(2)`.
    ///
    /// Returns `true` if a socket was closed, `false` (and does nothing) if
    /// the transport held none. Afterwards the transport holds no socket and
    /// may [`connect`](Self::connect) or [`listen`](Self::listen) again.
    pub fn disconnect(&mut self) -> bool {
        let Some(socket) = self.socket.take() else {
            return false;
        };
        if self.socket_type != SocketType::Binding {
            // The peer may already be gone (ENOTCONN); close regardless.
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        drop(socket);
        true
    }

    /// The raw file descriptor of the socket, `None` when the transport holds
    /// none. The transport keeps ownership: do not close it.
    ///
    /// Unix only. No system call.
    #[cfg(unix)]
    pub fn underlying_socket(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.socket().map(AsRawFd::as_raw_fd)
    }

    /// The raw socket handle (`SOCKET`), `None` when the transport holds
    /// none. The transport keeps ownership: do not close it.
    ///
    /// Windows only. No system call.
    #[cfg(windows)]
    pub fn underlying_socket(&self) -> Option<std::os::windows::io::RawSocket> {
        use std::os::windows::io::AsRawSocket;
        self.socket().map(AsRawSocket::as_raw_socket)
    }

    /// Whether the transport holds a socket: `false` before
    /// [`connect`](Self::connect) / [`listen`](Self::listen) and after
    /// [`disconnect`](Self::disconnect), `true` in between.
    ///
    /// No system call.
    pub fn is_valid_socket(&self) -> bool {
        self.socket.is_some()
    }

    /// The host name and the addresses of the local interfaces.
    ///
    /// Calls `gethostname(2)` and `getifaddrs(3)`, and lists the address of
    /// every interface that is up (`IFF_UP`), IPv4 and IPv6, loopback
    /// included; entries without an address or of other families are
    /// skipped. The list may be empty. As in c-pal, the transport must hold
    /// a socket (although the answer does not depend on it).
    ///
    /// On Windows: `gethostname` and `GetAdaptersAddresses`, the unicast
    /// addresses of every adapter whose operational status is up.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotOpen`] if the transport holds no socket;
    /// [`TransportError::Io`] if a system call fails.
    pub fn local_addresses(&self) -> Result<LocalAddresses, TransportError> {
        if self.socket().is_none() {
            return Err(TransportError::NotOpen);
        }
        Ok(LocalAddresses {
            hostname: sys::hostname()?,
            addresses: sys::interface_addresses()?,
        })
    }

    /// The socket, for the async socket built on this transport.
    pub(crate) fn socket(&self) -> Option<&Socket> {
        self.socket.as_ref()
    }

    /// Takes the socket out (the transport then holds none), for a backend
    /// that closes it with its own call.
    #[cfg(windows)]
    pub(crate) fn take_socket(&mut self) -> Option<Socket> {
        self.socket.take()
    }

    /// The transport's socket, open, for the caller to own (`None` when it holds none): the
    /// way back from [`from_socket`](Self::from_socket), for instance with the transport an
    /// open that failed handed back. Nothing is closed.
    pub fn into_socket(mut self) -> Option<Socket> {
        self.socket.take()
    }
}

impl Drop for SocketTransport {
    /// Closes the socket if the transport holds one (`close(2)`, without
    /// `shutdown(2)`); c-pal's destroy leaked it.
    fn drop(&mut self) {
        drop(self.socket.take());
    }
}

/// One connection attempt of [`SocketTransport::connect`].
fn connect_one(addr: SocketAddr, timeout: Duration) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Non-blocking connect, then poll for completion; reports POLLERR/POLLHUP
    // through SO_ERROR, so a refusal comes back at once.
    socket.connect_timeout(&SockAddr::from(addr), timeout)?;
    // A writable socket may still carry an error: check SO_ERROR ourselves.
    if let Some(err) = socket.take_error()? {
        return Err(err);
    }
    configure_connected(&socket)?;
    Ok(socket)
}

/// Non-blocking and `TCP_NODELAY`, for connected and accepted sockets.
fn configure_connected(socket: &Socket) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)
}

fn map_accept_error(err: io::Error) -> AcceptError {
    if sys::is_resource_exhaustion(&err) {
        AcceptError::PortExhaustion(err)
    } else if sys::is_in_progress(&err) {
        AcceptError::InProgress
    } else {
        AcceptError::Error(err)
    }
}

/// A point in time after which a wait has expired; `None` = never (the
/// timeout overflowed `Instant`).
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// A deadline that never comes.
    fn never() -> Self {
        Deadline(None)
    }

    /// `None` once expired, else the time left (`Some(None)` = unbounded).
    fn remaining(&self) -> Option<Option<Duration>> {
        match self.0 {
            None => Some(None),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (!left.is_zero()).then_some(Some(left))
            }
        }
    }
}

/// What [`poll_one`] waits for.
#[derive(Clone, Copy)]
enum Interest {
    Read,
    Write,
}

/// Waits until `socket` is ready for `interest` (or has an error or a hang-up) or `deadline`
/// passes: `Ok(true)` when ready, `Ok(false)` on time out. One `poll(2)` (`WSAPoll` on
/// Windows) at a time, retried on `EINTR` with the time then left.
fn poll_one(socket: &Socket, interest: Interest, deadline: &Deadline) -> io::Result<bool> {
    loop {
        let Some(left) = deadline.remaining() else {
            return Ok(false);
        };
        // Round up so that we never wake before the deadline; -1 waits without limit.
        let millis = left.map_or(-1, |left| {
            i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
        });
        match sys::poll_once(socket, interest, millis) {
            Ok(true) => return Ok(true),
            // Time out: the loop looks at the deadline again.
            Ok(false) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}
