//! Linux: accepting through the engine's event source.
//!
//! The listening socket is an async socket opened on the listening transport, used only for
//! readiness notifications. An accept tries `accept4(2)` at once; when nothing waits it records
//! its waker and, unless one is pending already, asks for one notification (`In`). The
//! notification's completion (on an engine worker) accepts until `WouldBlock` or until every
//! waiting accept has a connection, hands them out in waiting order and asks again if accepts
//! are still waiting.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use super::{wake_all, Accepted, Queue};
use crate::core::poison::unpoisoned;
use crate::engine::ExecutionEngine;
use crate::future::fd::Fd;
use crate::result::{NotifyResult, NotifyType};
use crate::socket::AsyncSocket;
use crate::transport::SocketTransport;

pub(super) struct Acceptor {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    fd: Fd,
    /// Open on the listening transport, which it owns (and closes when it is dropped, with the
    /// last reference to `Shared`: the `Listener`'s, unless a completion holds one for a
    /// moment).
    socket: AsyncSocket,
}

#[derive(Default)]
struct State {
    queue: Queue,
    /// A readiness notification is pending.
    armed: bool,
}

impl Acceptor {
    pub(super) fn new(engine: &ExecutionEngine, transport: SocketTransport) -> io::Result<Self> {
        // SAFETY: kept in `Shared` next to the async socket that owns the descriptor, and used
        // only through `Shared` (so never after that socket is dropped).
        let fd = unsafe { Fd::of(&transport) }
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not listening"))?;
        let socket = AsyncSocket::new(engine).map_err(io::Error::from)?;
        socket.open_listening(transport).map_err(io::Error::from)?;
        Ok(Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                fd,
                socket,
            }),
        })
    }

    pub(super) fn poll_accept(&self, cx: &mut Context<'_>, id: u64) -> Poll<Accepted> {
        let sh = &self.shared;
        let mut st = sh.lock();
        if let Some(accepted) = st.queue.take_ready(id) {
            return Poll::Ready(accepted);
        }
        if let Some(accepted) = sh.accept_now() {
            st.queue.remove(id);
            return Poll::Ready(accepted);
        }
        st.queue.register(id, cx.waker());
        if let Err(e) = sh.arm(&mut st) {
            st.queue.remove(id);
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    }

    pub(super) fn withdraw(&self, id: u64) {
        let wake = self.shared.lock().queue.withdraw(id);
        wake_all(wake);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        unpoisoned(self.state.lock())
    }

    /// One connection if one is waiting (`None`: `WouldBlock`), or the error of `accept4`.
    fn accept_now(&self) -> Option<Accepted> {
        loop {
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            return match self.fd.sock().accept4(flags) {
                Ok((socket, peer)) => {
                    let _ = socket.set_tcp_nodelay(true);
                    let peer = peer
                        .as_socket()
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    Some(Ok((SocketTransport::from_socket(socket), peer)))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                // The connection was reset before it was accepted, or a signal came: next one.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(e) => Some(Err(e)),
            };
        }
    }

    /// Asks for a readiness notification unless one is pending. Called with the lock held:
    /// the completion runs on an engine thread and waits for the lock.
    fn arm(self: &Arc<Self>, st: &mut State) -> io::Result<()> {
        if st.armed {
            return Ok(());
        }
        let me = Arc::downgrade(self);
        self.socket
            .notify_io(NotifyType::In, move |r| {
                if let Some(sh) = Weak::upgrade(&me) {
                    sh.on_readable(r);
                }
            })
            .map_err(|e| io::Error::from(e.into_parts().0))?;
        st.armed = true;
        Ok(())
    }

    /// The notification's completion: accept for the waiters, wake them, ask again if needed.
    fn on_readable(self: &Arc<Self>, r: NotifyResult) {
        let mut st = self.lock();
        st.armed = false;
        if r == NotifyResult::Abandoned {
            // The listener is closing.
            return;
        }
        // One connection for each waiting accept (at least one: a connection may be there for
        // an accept that comes later), until none is left.
        let want = st.queue.waiting().max(1);
        let mut accepted = Vec::new();
        while accepted.len() < want {
            let Some(one) = self.accept_now() else {
                break;
            };
            let failed = one.is_err();
            accepted.push(one);
            if failed {
                break;
            }
        }
        let mut wake = st.queue.deliver(accepted);
        if !st.queue.is_empty() {
            if let Err(e) = self.arm(&mut st) {
                // Hand the error to a waiter rather than leave it waiting for nothing.
                wake.extend(st.queue.deliver([Err(e)]));
            }
        }
        drop(st);
        wake_all(wake);
    }
}
