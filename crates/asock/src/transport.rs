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
//! Differences from c-pal, all deliberate (cpal-notes §7 and §8.4):
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

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, MaybeUninitSlice, Protocol, SockAddr, Socket, Type};

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
    /// The address; its [`Display`](fmt::Display) form is the numeric text
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

/// The error of [`SocketTransport::connect`], [`SocketTransport::listen`],
/// [`SocketTransport::listen_on`] and [`SocketTransport::local_addresses`].
#[derive(Debug)]
pub enum TransportError {
    /// An argument is invalid; the text names it.
    InvalidArg(&'static str),
    /// The operation does not apply to this [`SocketType`] (connect on a
    /// server, listen on a client).
    WrongType,
    /// The transport already holds a socket; [`disconnect`] it first.
    ///
    /// [`disconnect`]: SocketTransport::disconnect
    AlreadyOpen,
    /// The transport holds no socket.
    NotOpen,
    /// A system call failed. A refused connection has the kind
    /// [`io::ErrorKind::ConnectionRefused`], a connection that did not
    /// complete in time [`io::ErrorKind::TimedOut`].
    Io(io::Error),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::InvalidArg(what) => write!(f, "invalid argument: {what}"),
            TransportError::WrongType => f.write_str("operation not valid for this socket type"),
            TransportError::AlreadyOpen => f.write_str("the transport already holds a socket"),
            TransportError::NotOpen => f.write_str("the transport holds no socket"),
            TransportError::Io(err) => write!(f, "socket error: {err}"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(err: io::Error) -> Self {
        TransportError::Io(err)
    }
}

/// The error of [`SocketTransport::accept`] (c-pal's `SOCKET_ACCEPT_RESULT`
/// failures; `NO_CONNECTION` is `Ok(None)`).
#[derive(Debug)]
pub enum AcceptError {
    /// The transport is a client.
    WrongType,
    /// The transport is not listening.
    NotOpen,
    /// Out of descriptors or buffers (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`).
    PortExhaustion(io::Error),
    /// The system reported an operation in progress (`EINPROGRESS`).
    InProgress,
    /// Any other failure.
    Error(io::Error),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::WrongType => f.write_str("accept is not valid on a client transport"),
            AcceptError::NotOpen => f.write_str("the transport is not listening"),
            AcceptError::PortExhaustion(err) => write!(f, "accept: out of resources: {err}"),
            AcceptError::InProgress => f.write_str("accept: operation in progress"),
            AcceptError::Error(err) => write!(f, "accept failed: {err}"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcceptError::PortExhaustion(err) | AcceptError::Error(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`SocketTransport::send`] failed.
#[derive(Debug)]
pub enum SendErrorKind {
    /// The buffer list is empty.
    InvalidArg,
    /// The transport holds no socket.
    NotOpen,
    /// A system call failed.
    Failed(io::Error),
    /// The connection is gone: reset by the peer (`ECONNRESET`), aborted
    /// (`ECONNABORTED`) or closed for writing (`EPIPE`).
    Shutdown,
}

/// The error of [`SocketTransport::send`]: why, and how many bytes were
/// written before the failure.
#[derive(Debug)]
pub struct TransportSendError {
    /// Why the send failed.
    pub kind: SendErrorKind,
    /// The bytes written before the failure: the first `bytes_sent` bytes of
    /// the buffers, in order, were handed to the kernel.
    pub bytes_sent: usize,
}

impl fmt::Display for TransportSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SendErrorKind::InvalidArg => f.write_str("send: no buffers")?,
            SendErrorKind::NotOpen => f.write_str("send: the transport holds no socket")?,
            SendErrorKind::Failed(err) => write!(f, "send failed: {err}")?,
            SendErrorKind::Shutdown => f.write_str("send: the connection is shut down")?,
        }
        write!(f, " ({} bytes sent)", self.bytes_sent)
    }
}

impl std::error::Error for TransportSendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SendErrorKind::Failed(err) => Some(err),
            _ => None,
        }
    }
}

/// The error of [`SocketTransport::receive`] and
/// [`SocketTransport::receive_timeout`].
#[derive(Debug)]
pub enum TransportReceiveError {
    /// The buffer list is empty, or all its buffers are empty.
    InvalidArg,
    /// The transport holds no socket.
    NotOpen,
    /// No data is available now (or within the timeout).
    WouldBlock,
    /// The peer closed the connection (a 0-byte read) or reset it.
    Shutdown,
    /// Any other failure.
    Error(io::Error),
}

impl fmt::Display for TransportReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportReceiveError::InvalidArg => f.write_str("receive: no buffer space"),
            TransportReceiveError::NotOpen => f.write_str("receive: the transport holds no socket"),
            TransportReceiveError::WouldBlock => f.write_str("receive: no data available"),
            TransportReceiveError::Shutdown => f.write_str("receive: the connection is shut down"),
            TransportReceiveError::Error(err) => write!(f, "receive failed: {err}"),
        }
    }
}

impl std::error::Error for TransportReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportReceiveError::Error(err) => Some(err),
            _ => None,
        }
    }
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
    /// socket (c-pal's `socket_transport_create_from_socket`).
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
                    let Some(remaining) = deadline.remaining() else {
                        return Ok(None);
                    };
                    match sys::poll_one(listener, Interest::Read, remaining) {
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

    /// Sends every byte of every buffer, in order, before returning.
    ///
    /// Calls `sendmsg(2)` with the buffers (at most 1024 per call) and
    /// `flags`, to which `MSG_NOSIGNAL` is added on Linux and Android (on
    /// Apple platforms the socket has `SO_NOSIGPIPE` instead), so a closed
    /// peer never raises `SIGPIPE`. After a partial write the next call
    /// starts at the first unsent byte; on `EAGAIN` it waits with `poll(2)`
    /// (`POLLOUT`, no timeout) and continues; `EINTR` is retried. Empty
    /// buffers are skipped. Returns the total number of bytes, which is the
    /// sum of the buffer lengths.
    ///
    /// # Errors
    ///
    /// The error carries the number of bytes written before the failure in
    /// [`TransportSendError::bytes_sent`]; nothing after the failing call is
    /// sent.
    ///
    /// * [`SendErrorKind::InvalidArg`]: `bufs` is empty;
    /// * [`SendErrorKind::NotOpen`]: the transport holds no socket;
    /// * [`SendErrorKind::Shutdown`]: `ECONNRESET`, `ECONNABORTED` or `EPIPE`;
    /// * [`SendErrorKind::Failed`]: any other error.
    pub fn send(&self, bufs: &[IoSlice<'_>], flags: i32) -> Result<usize, TransportSendError> {
        let fail = |kind, bytes_sent| Err(TransportSendError { kind, bytes_sent });
        if bufs.is_empty() {
            return fail(SendErrorKind::InvalidArg, 0);
        }
        let Some(socket) = self.socket() else {
            return fail(SendErrorKind::NotOpen, 0);
        };
        let total = bufs
            .iter()
            .fold(0usize, |sum, buf| sum.saturating_add(buf.len()));
        let mut slices = bufs.to_vec();
        let mut rest: &mut [IoSlice<'_>] = &mut slices;
        // Drops leading empty buffers, so every call below has bytes to send.
        IoSlice::advance_slices(&mut rest, 0);
        let mut sent = 0usize;
        while sent < total {
            let count = rest.len().min(sys::MAX_IOVECS);
            match socket.send_vectored_with_flags(&rest[..count], flags | sys::SEND_FLAGS) {
                Ok(0) => {
                    return fail(
                        SendErrorKind::Failed(io::Error::from(io::ErrorKind::WriteZero)),
                        sent,
                    )
                }
                Ok(n) => {
                    sent += n;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(err) = sys::poll_one(socket, Interest::Write, None) {
                        return fail(SendErrorKind::Failed(err), sent);
                    }
                }
                Err(err) if is_connection_gone(&err) => return fail(SendErrorKind::Shutdown, sent),
                Err(err) => return fail(SendErrorKind::Failed(err), sent),
            }
        }
        Ok(sent)
    }

    /// Receives what is available now into the buffers, filling them in
    /// order, like `readv(2)`.
    ///
    /// Makes one `recvmsg(2)` call with the buffers (at most 1024) and
    /// `flags` (retried on `EINTR`). Returns the number of bytes received,
    /// always at least 1.
    ///
    /// # Errors
    ///
    /// * [`TransportReceiveError::InvalidArg`]: `bufs` is empty or has no
    ///   room;
    /// * [`TransportReceiveError::NotOpen`]: the transport holds no socket;
    /// * [`TransportReceiveError::WouldBlock`]: no data now (`EAGAIN`);
    /// * [`TransportReceiveError::Shutdown`]: the peer closed the connection
    ///   (0 bytes read, after every byte it sent) or reset it;
    /// * [`TransportReceiveError::Error`]: any other error.
    pub fn receive(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
    ) -> Result<usize, TransportReceiveError> {
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Err(TransportReceiveError::InvalidArg);
        }
        let socket = self.socket().ok_or(TransportReceiveError::NotOpen)?;
        // Skip leading empty buffers so that the window passed to the kernel
        // has room (a 0-byte read would look like end of stream).
        let first = bufs.iter().position(|buf| !buf.is_empty()).unwrap_or(0);
        let bufs = &mut bufs[first..];
        let count = bufs.len().min(sys::MAX_IOVECS);
        let bufs = &mut bufs[..count];
        // SAFETY: `IoSliceMut` and `socket2::MaybeUninitSlice` are both
        // `repr(transparent)` wrappers documented to be ABI compatible with
        // `iovec` (unix) / `WSABUF` (Windows), so the slice cast keeps layout,
        // length and lifetime. Viewing initialised bytes as `MaybeUninit<u8>`
        // is only unsound if uninitialised bytes get written through it;
        // socket2 documents that `recv_vectored_with_flags` passes the buffers
        // straight to `recvmsg(2)`/`WSARecv`, which only write received
        // (initialised) bytes. socket2's own `Read::read_vectored` does this.
        let uninit =
            unsafe { &mut *(bufs as *mut [IoSliceMut<'_>] as *mut [MaybeUninitSlice<'_>]) };
        loop {
            return match socket.recv_vectored_with_flags(uninit, flags) {
                Ok((0, _)) => Err(TransportReceiveError::Shutdown),
                Ok((n, _)) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    Err(TransportReceiveError::WouldBlock)
                }
                Err(err) if is_connection_gone(&err) => Err(TransportReceiveError::Shutdown),
                Err(err) => Err(TransportReceiveError::Error(err)),
            };
        }
    }

    /// As [`receive`](Self::receive), but when no data is there yet, waits
    /// for some up to `timeout` with `poll(2)` (`POLLIN`).
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive); [`TransportReceiveError::WouldBlock`]
    /// means nothing arrived within the timeout.
    pub fn receive_timeout(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
        timeout: Duration,
    ) -> Result<usize, TransportReceiveError> {
        let deadline = Deadline::after(timeout);
        loop {
            match self.receive(bufs, flags) {
                Err(TransportReceiveError::WouldBlock) => {}
                result => return result,
            }
            let Some(remaining) = deadline.remaining() else {
                return Err(TransportReceiveError::WouldBlock);
            };
            let socket = self.socket().ok_or(TransportReceiveError::NotOpen)?;
            match sys::poll_one(socket, Interest::Read, remaining) {
                Ok(true) => {}
                Ok(false) => return Err(TransportReceiveError::WouldBlock),
                Err(err) => return Err(TransportReceiveError::Error(err)),
            }
        }
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

/// Reset, aborted or broken pipe: the connection is gone.
fn is_connection_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
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

/// The unix-only pieces: `poll(2)`, `gethostname(2)`, `getifaddrs(3)` and
/// errno classification.
/// What the OS layer's `poll_one` waits for.
#[derive(Clone, Copy)]
enum Interest {
    Read,
    Write,
}

#[cfg(unix)]
mod sys {
    use std::ffi::c_int;
    use std::io;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

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

    /// Waits until `socket` is ready for `interest` (or has an error or a
    /// hang-up) or `timeout` passes (`None` = no timeout). `Ok(true)` when
    /// ready, `Ok(false)` on timeout. Retries `EINTR`.
    pub(super) fn poll_one(
        socket: &Socket,
        interest: Interest,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let events = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let millis: c_int = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Round up so that we never wake before the deadline.
                    let millis = left.as_nanos().div_ceil(1_000_000);
                    c_int::try_from(millis).unwrap_or(c_int::MAX)
                }
            };
            let mut pollfd = libc::pollfd {
                fd: socket.as_raw_fd(),
                events,
                revents: 0,
            };
            // SAFETY: `pollfd` is a valid, initialised `pollfd` that lives
            // across the call, and we pass a count of 1.
            let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if ready == 0 {
                match deadline {
                    Some(deadline) if Instant::now() >= deadline => return Ok(false),
                    _ => continue,
                }
            }
            if pollfd.revents & libc::POLLNVAL != 0 {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            return Ok(true);
        }
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
                    let sin6 =
                        unsafe { ifa.ifa_addr.cast::<libc::sockaddr_in6>().read_unaligned() };
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
}

/// The Windows pieces: `WSAPoll`, `gethostname`, `GetAdaptersAddresses` and
/// `WSAE*` classification.
#[cfg(windows)]
mod sys {
    use std::ffi::c_int;
    use std::io;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::os::windows::io::AsRawSocket;
    use std::time::{Duration, Instant};

    use socket2::Socket;
    use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, NO_ERROR};
    use windows_sys::Win32::NetworkManagement::IpHelper::{
        GetAdaptersAddresses, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
        GAA_FLAG_SKIP_MULTICAST, IP_ADAPTER_ADDRESSES_LH,
    };
    use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
    use windows_sys::Win32::Networking::WinSock::{
        gethostname, WSAGetLastError, WSAPoll, AF_INET, AF_INET6, AF_UNSPEC, POLLNVAL, POLLRDNORM,
        POLLWRNORM, SOCKADDR_IN, SOCKADDR_IN6, SOCKET, SOCKET_ERROR, WSAEADDRNOTAVAIL,
        WSAEAFNOSUPPORT, WSAEINPROGRESS, WSAEINTR, WSAEMFILE, WSAENOBUFS, WSAENOTSOCK,
        WSAEPROTONOSUPPORT, WSAPOLLFD,
    };

    use super::{AddressType, Interest, LocalAddress};

    /// Flags added to every send: none (Windows raises no `SIGPIPE`).
    pub(super) const SEND_FLAGS: c_int = 0;

    /// The most buffers passed to one `WSASend` / `WSARecv`.
    pub(super) const MAX_IOVECS: usize = 1024;

    /// The backlog of [`super::SocketTransport::listen`]: Winsock's
    /// `SOMAXCONN` (a reasonable maximum chosen by the provider).
    pub(super) const SOMAXCONN: c_int = windows_sys::Win32::Networking::WinSock::SOMAXCONN as c_int;

    /// Waits until `socket` is ready for `interest` (or has an error or a
    /// hang-up) or `timeout` passes (`None` = no timeout), with `WSAPoll`.
    /// `Ok(true)` when ready, `Ok(false)` on timeout.
    pub(super) fn poll_one(
        socket: &Socket,
        interest: Interest,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let events = match interest {
            Interest::Read => POLLRDNORM,
            Interest::Write => POLLWRNORM,
        };
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let millis: c_int = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Round up so that we never wake before the deadline.
                    let millis = left.as_nanos().div_ceil(1_000_000);
                    c_int::try_from(millis).unwrap_or(c_int::MAX)
                }
            };
            let mut pollfd = WSAPOLLFD {
                fd: socket.as_raw_socket() as SOCKET,
                events,
                revents: 0,
            };
            // SAFETY: `pollfd` is a valid, initialised `WSAPOLLFD` that lives
            // across the call, and we pass a count of 1.
            let ready = unsafe { WSAPoll(&mut pollfd, 1, millis) };
            if ready == SOCKET_ERROR {
                // SAFETY: plain call with no arguments.
                let code = unsafe { WSAGetLastError() };
                if code == WSAEINTR {
                    continue;
                }
                return Err(io::Error::from_raw_os_error(code));
            }
            if ready == 0 {
                match deadline {
                    Some(deadline) if Instant::now() >= deadline => return Ok(false),
                    _ => continue,
                }
            }
            if pollfd.revents & POLLNVAL != 0 {
                return Err(io::Error::from_raw_os_error(WSAENOTSOCK));
            }
            return Ok(true);
        }
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
}
