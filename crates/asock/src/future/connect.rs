//! Connecting: the future of `Socket::connect` and `SocketStream::connect`.
//!
//! Linux: through the engine. Each address gets a non-blocking socket and a non-blocking
//! `connect(2)`; a connect that is still in progress is opened as an async socket at once and
//! waits for writability on the engine's event source ([`AsyncSocket::notify_io`]), then reads
//! `SO_ERROR`. The timeout is an engine timer. No thread is started, except a short-lived one
//! to resolve a host *name* (`getaddrinfo(3)` blocks; an IP address needs none).
//!
//! Windows: the engine has no readiness notification, so the blocking
//! [`SocketTransport::connect`] runs on a helper thread, one per connect.
//!
//! [`AsyncSocket::notify_io`]: crate::AsyncSocket::notify_io

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::fd::Fd;
use super::op::{Cell, OpFuture};
use super::Socket;
use crate::engine::ExecutionEngine;

/// What the connect makes of the connected, opened socket and its descriptor (a [`Socket`],
/// a `SocketStream`).
pub(crate) type Make<T> = Box<dyn FnOnce(Socket, Fd) -> io::Result<T> + Send>;

/// The future of [`Socket::connect`] and `SocketStream::connect`: resolves to the connected
/// socket or stream, or to the error of the last address tried.
#[must_use = "futures do nothing unless awaited"]
pub struct Connect<T> {
    op: OpFuture<io::Result<T>, io::Error>,
}

impl<T: Send + 'static> Connect<T> {
    /// Starts connecting to `host:port` within `timeout`.
    pub(crate) fn start(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
        make: Make<T>,
    ) -> Self {
        if host.is_empty() || port == 0 {
            let why = if host.is_empty() {
                "host is empty"
            } else {
                "port is 0"
            };
            return Self::rejected(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let cell = Cell::new();
        #[cfg(target_os = "linux")]
        let started = linux::start(engine, host, port, timeout, make, Arc::clone(&cell));
        #[cfg(windows)]
        let started = thread::start(engine, host, port, timeout, make, Arc::clone(&cell));
        match started {
            Ok(()) => Self {
                op: OpFuture::submitted(cell),
            },
            Err(e) => Self::rejected(e),
        }
    }

    fn rejected(e: io::Error) -> Self {
        Self {
            op: OpFuture::rejected(e),
        }
    }
}

impl<T> Future for Connect<T> {
    type Output = io::Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.get_mut().op.poll_op(cx).map(|r| r.and_then(|r| r))
    }
}

impl<T> fmt::Debug for Connect<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect").finish_non_exhaustive()
    }
}

/// The addresses of `host:port`: at once for an IP address, else `None` (a name: resolving it
/// blocks).
#[cfg(target_os = "linux")]
fn numeric(host: &str, port: u16) -> Option<Vec<std::net::SocketAddr>> {
    let ip: std::net::IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    Some(vec![std::net::SocketAddr::new(ip, port)])
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::VecDeque;
    use std::net::{SocketAddr, ToSocketAddrs};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use socket2::{Domain, Protocol, SockAddr, Type};

    use super::{numeric, Cell, Fd, Make};
    use crate::core::poison::unpoisoned;
    use crate::engine::ExecutionEngine;
    use crate::future::Socket;
    use crate::result::{NotifyResult, NotifyType};
    use crate::transport::SocketTransport;
    use std::io;

    /// Timeouts longer than this set no timer (a timer's job stays queued until its deadline).
    const NO_TIMER_BEYOND: Duration = Duration::from_secs(24 * 3600);

    /// One connect: the addresses left to try and the attempt in progress.
    struct Attempts<T> {
        engine: ExecutionEngine,
        cell: Arc<Cell<io::Result<T>>>,
        state: Mutex<State<T>>,
    }

    struct State<T> {
        /// `None` once the future's value is decided.
        make: Option<Make<T>>,
        addrs: VecDeque<SocketAddr>,
        /// The socket whose connect is in progress (its writability notification pending), with
        /// the attempt's number.
        waiting: Option<(Socket, Fd, u64)>,
        attempt: u64,
        last_error: Option<io::Error>,
    }

    pub(super) fn start<T: Send + 'static>(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
        make: Make<T>,
        cell: Arc<Cell<io::Result<T>>>,
    ) -> io::Result<()> {
        let attempts = Arc::new(Attempts {
            engine: engine.clone(),
            cell,
            state: Mutex::new(State {
                make: Some(make),
                addrs: VecDeque::new(),
                waiting: None,
                attempt: 0,
                last_error: None,
            }),
        });
        if timeout <= NO_TIMER_BEYOND {
            let weak = Arc::downgrade(&attempts);
            engine.sys().after(
                timeout,
                Box::new(move || {
                    if let Some(a) = weak.upgrade() {
                        a.time_out();
                    }
                }),
            );
        }
        match numeric(host, port) {
            Some(addrs) => attempts.run(addrs),
            None => {
                // `getaddrinfo` blocks: resolve on a short-lived thread, connect from there.
                let host = host.to_owned();
                let a = Arc::clone(&attempts);
                std::thread::Builder::new()
                    .name("asock-resolve".into())
                    .spawn(move || match (host.as_str(), port).to_socket_addrs() {
                        Ok(addrs) => a.run(addrs.collect()),
                        Err(e) => a.finish(Err(e)),
                    })?;
            }
        }
        Ok(())
    }

    impl<T: Send + 'static> Attempts<T> {
        fn lock(&self) -> MutexGuard<'_, State<T>> {
            unpoisoned(self.state.lock())
        }

        fn run(self: &Arc<Self>, addrs: Vec<SocketAddr>) {
            if addrs.is_empty() {
                let e = io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address");
                return self.finish(Err(e));
            }
            self.lock().addrs = addrs.into();
            self.next();
        }

        /// Tries the next addresses until one connects at once, one is in progress, or none is
        /// left.
        fn next(self: &Arc<Self>) {
            loop {
                let mut st = self.lock();
                if st.make.is_none() {
                    return;
                }
                let Some(addr) = st.addrs.pop_front() else {
                    let e = st
                        .last_error
                        .take()
                        .unwrap_or_else(|| io::ErrorKind::TimedOut.into());
                    drop(st);
                    return self.finish(Err(e));
                };
                drop(st);
                match self.attempt(addr) {
                    Ok(Some(connected)) => return self.finish(Ok(connected)),
                    // In progress: the notification continues.
                    Ok(None) => return,
                    Err(e) => self.lock().last_error = Some(e),
                }
            }
        }

        /// One address: `Some` when connected at once (loopback usually is), `None` when the
        /// connect goes on in the background.
        fn attempt(self: &Arc<Self>, addr: SocketAddr) -> io::Result<Option<(Socket, Fd)>> {
            let ty = Type::STREAM.nonblocking().cloexec();
            let sock = socket2::Socket::new(Domain::for_address(addr), ty, Some(Protocol::TCP))?;
            match sock.connect(&SockAddr::from(addr)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => return Err(e),
            }
            if let Some(e) = sock.take_error()? {
                return Err(e);
            }
            let connected = sock.peer_addr().is_ok();
            let transport = SocketTransport::from_socket(sock);
            // SAFETY: kept next to the socket that owns the descriptor (see `Fd::of`).
            let fd = unsafe { Fd::of(&transport) }.expect("a transport made from a socket");
            let engine = self.engine.clone();
            let socket = Socket::open_on(&engine, transport)?;
            if connected {
                return Ok(Some((socket, fd)));
            }
            let mut st = self.lock();
            if st.make.is_none() {
                // Timed out meanwhile: the socket is dropped (closed) here.
                return Ok(None);
            }
            st.attempt += 1;
            let attempt = st.attempt;
            // The notification holds the connect until it completes (it always does: at the
            // latest `Abandoned` when a timeout closes the socket). Submitted with the lock
            // held: it completes on an engine thread, which then finds the attempt recorded.
            let me = Arc::clone(self);
            let notified = socket
                .as_async_socket()
                .notify_io(NotifyType::Out, move |r| me.on_writable(r, attempt));
            notified.map_err(|e| io::Error::from(e.into_parts().0))?;
            st.waiting = Some((socket, fd, attempt));
            Ok(None)
        }

        /// The connect in progress ended (writable, or an error, or closed by a timeout).
        fn on_writable(self: &Arc<Self>, r: NotifyResult, attempt: u64) {
            let mut st = self.lock();
            if st.waiting.as_ref().is_none_or(|w| w.2 != attempt) {
                // A timeout took it, or the notification of an earlier, closed attempt.
                return;
            }
            let Some((socket, fd, _)) = st.waiting.take() else {
                return;
            };
            drop(st);
            let outcome = match r {
                NotifyResult::Abandoned => Err(io::ErrorKind::TimedOut.into()),
                _ => match fd.sock().take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => match fd.sock().peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    },
                },
            };
            match outcome {
                Ok(()) => self.finish(Ok((socket, fd))),
                Err(e) => {
                    self.lock().last_error = Some(e);
                    // The failed socket is closed on an engine thread (a `Socket`'s drop).
                    drop(socket);
                    self.next();
                }
            }
        }

        fn time_out(&self) {
            let waiting = self.lock().waiting.take();
            drop(waiting);
            self.finish(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "asock: the connect timed out",
            )));
        }

        /// Decides the future's value, once.
        fn finish(&self, result: io::Result<(Socket, Fd)>) {
            let Some(make) = self.lock().make.take() else {
                return;
            };
            let value = result.and_then(|(socket, fd)| {
                let _ = fd.sock().set_tcp_nodelay(true);
                make(socket, fd)
            });
            self.cell.fill(value);
        }
    }
}

#[cfg(windows)]
mod thread {
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Cell, Fd, Make};
    use crate::engine::ExecutionEngine;
    use crate::future::Socket;
    use crate::transport::SocketTransport;

    /// The blocking connect on a helper thread (named `asock-connect`).
    pub(super) fn start<T: Send + 'static>(
        engine: &ExecutionEngine,
        host: &str,
        port: u16,
        timeout: Duration,
        make: Make<T>,
        cell: Arc<Cell<io::Result<T>>>,
    ) -> io::Result<()> {
        let engine = engine.clone();
        let host = host.to_owned();
        std::thread::Builder::new()
            .name("asock-connect".into())
            .spawn(move || {
                let work = || {
                    let mut transport = SocketTransport::client();
                    transport
                        .connect(&host, port, timeout)
                        .map_err(io::Error::from)?;
                    // SAFETY: kept next to the socket that owns the descriptor (see `Fd::of`).
                    let fd = unsafe { Fd::of(&transport) }.expect("a connected transport");
                    make(Socket::open_on(&engine, transport)?, fd)
                };
                cell.fill(work())
            })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Error conversions for the io-flavoured entry points
