//! Windows: accepting on a helper thread (thread-pool I/O offers no readiness notification).
//!
//! [`SocketTransport::accept`] blocks (with a timeout), so accepting runs on one helper thread
//! per listener (named `asock-accept`), started by the first accept. While accepts wait, the
//! thread blocks in `accept` in slices of [`ACCEPT_SLICE`]; between waits it sleeps on a
//! condition variable. After the `Listener` is dropped, the thread ends, and closes the
//! listening socket, within one slice.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use super::{wake_all, Accepted, Queue};
use crate::core::poison::unpoisoned;
use crate::engine::ExecutionEngine;
use crate::transport::SocketTransport;

/// How long the helper thread blocks in one `accept` before it looks whether the listener is
/// still wanted; it bounds how long the listening socket outlives a dropped listener.
const ACCEPT_SLICE: Duration = Duration::from_millis(50);

pub(super) struct Acceptor {
    shared: Arc<Shared>,
}

struct Shared {
    transport: SocketTransport,
    state: Mutex<State>,
    wanted: Condvar,
}

#[derive(Default)]
struct State {
    queue: Queue,
    thread_started: bool,
    /// The listener was dropped.
    dropped: bool,
}

impl Acceptor {
    pub(super) fn new(_engine: &ExecutionEngine, transport: SocketTransport) -> io::Result<Self> {
        Ok(Self {
            shared: Arc::new(Shared {
                transport,
                state: Mutex::new(State::default()),
                wanted: Condvar::new(),
            }),
        })
    }

    pub(super) fn poll_accept(&self, cx: &mut Context<'_>, id: u64) -> Poll<Accepted> {
        let mut st = self.shared.lock();
        if let Some(accepted) = st.queue.take_ready(id) {
            return Poll::Ready(accepted);
        }
        st.queue.register(id, cx.waker());
        if !st.thread_started {
            let shared = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name("asock-accept".into())
                .spawn(move || shared.run());
            if let Err(e) = started {
                st.queue.remove(id);
                return Poll::Ready(Err(e));
            }
            st.thread_started = true;
        }
        self.shared.wanted.notify_one();
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

    /// The helper thread: accepts while accepts wait, until the listener is dropped.
    fn run(&self) {
        let mut st = self.lock();
        loop {
            // Sleep until the listener is dropped or an accept waits (every connection in
            // `ready` is for an accept already woken).
            while !st.dropped && st.queue.is_empty() {
                st = unpoisoned(self.wanted.wait(st));
            }
            if st.dropped {
                return;
            }
            drop(st);
            let accepted = self.transport.accept(ACCEPT_SLICE);
            st = self.lock();
            let accepted = match accepted {
                Ok(None) => continue,
                Ok(Some(transport)) => {
                    let peer = transport
                        .peer_addr()
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    Ok((transport, peer))
                }
                Err(e) => Err(io::Error::from(e)),
            };
            if st.dropped {
                // Nobody will take it: close it now.
                return;
            }
            let wake = st.queue.deliver([accepted]);
            drop(st);
            wake_all(wake);
            st = self.lock();
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.dropped = true;
        st.queue = Queue::default();
        drop(st);
        self.shared.wanted.notify_all();
    }
}
