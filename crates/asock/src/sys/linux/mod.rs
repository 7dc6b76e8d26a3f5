//! Linux: the engine is a pool of workers, each with an event source of its own and the
//! sockets bound to it, over one of two drivers chosen per engine at run time: epoll
//! (readiness) or io_uring (completions).
//!
//! * [`pool`]: the workers, their shards, where a socket is bound, the rescue of a shard whose
//!   worker is stuck in user code;
//! * [`socket`]: the one socket core (queues, delivery, close) every driver shares, with
//!   [`delivery`] (who delivers, the close steps) and [`custom`] (custom transports);
//! * [`driver`]: the interface a driver implements; [`epoll`] and [`uring`] implement it;
//! * [`os`]: the thin layer over the system calls; [`slab`]: tokens; [`sync`]: the lock types.
//!
//! [`Engine`] and [`SocketIo`] forward to the pool of the engine's driver; a socket always uses
//! its engine's driver.

pub(crate) mod custom;
pub(crate) mod delivery;
pub(crate) mod driver;
pub(crate) mod epoll;
#[cfg(loom)]
pub(crate) mod loom;
pub(crate) mod os;
pub(crate) mod pool;
pub(crate) mod slab;
pub(crate) mod socket;
pub(crate) mod sync;
pub(crate) mod uring;

use std::sync::Arc;

use self::epoll::Epoll;
use self::pool::Pool;
use self::uring::Uring;
use crate::core::ops::{NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;
use crate::engine::{Backend, BackendChoice};
use crate::result::{CreateError, NotifyType, OpenError, SubmitErrorKind};
use crate::sys::{EngineApi, SocketApi};
use crate::transport::SocketTransport;
use crate::Transport;

/// An engine of either driver.
pub(crate) enum Engine {
    Epoll(Arc<Pool<Epoll>>),
    Uring(Arc<Pool<Uring>>),
}

impl EngineApi for Engine {
    /// Starts an engine on the chosen backend. `Auto` takes io_uring when [`uring::probe`]
    /// passes and [`AUTO_PREFERS_URING`] says so, epoll otherwise; an explicit `Uring` fails with
    /// the probe's error.
    fn start(
        params: &crate::ExecutionEngineParameters,
        choice: BackendChoice,
    ) -> Result<Arc<Engine>, CreateError> {
        let threads = params.min_thread_count as usize;
        let epoll = || Pool::start(threads, |_| Epoll::new()).map(Engine::Epoll);
        let uring = |first| {
            let mut first = Some(first);
            Pool::start(threads, |_| Uring::new(first.take())).map(Engine::Uring)
        };
        let engine = match choice {
            BackendChoice::Epoll => epoll(),
            BackendChoice::Uring => uring::probe().and_then(uring),
            // A ring refused for a later shard (memory limits, say) falls back too.
            BackendChoice::Auto => match AUTO_PREFERS_URING.then(uring::probe) {
                Some(Ok(ring)) => uring(ring).or_else(|_| epoll()),
                Some(Err(_)) | None => epoll(),
            },
        };
        engine.map(Arc::new).map_err(CreateError::Io)
    }

    fn backend(&self) -> Backend {
        match self {
            Engine::Epoll(_) => Backend::Epoll,
            Engine::Uring(_) => Backend::Uring,
        }
    }

    fn shutdown(&self) {
        match self {
            Engine::Epoll(e) => e.shutdown(),
            Engine::Uring(e) => e.shutdown(),
        }
    }

    fn thread_count(&self) -> usize {
        match self {
            Engine::Epoll(e) => e.thread_count(),
            Engine::Uring(e) => e.thread_count(),
        }
    }

    fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        match self {
            Engine::Epoll(e) => e.execute(job),
            Engine::Uring(e) => e.execute(job),
        }
    }
}

impl Engine {
    /// Runs `job` once on one of the engine's workers after `delay` (no cancelling).
    #[allow(dead_code)] // used by the futures layer
    pub(crate) fn after(&self, delay: std::time::Duration, job: Box<dyn FnOnce() + Send>) {
        match self {
            Engine::Epoll(e) => e.after(delay, job),
            Engine::Uring(e) => e.after(delay, job),
        }
    }
}

/// Whether `Auto` picks io_uring when the kernel offers it: yes. `asock bench --backend both`
/// on the 2-core machines shows it ahead of epoll where the ring pays (ping-pong P1 and 256
/// connections P3: one `io_uring_enter` per hop, or per batch, where epoll makes a system call
/// per operation and an `epoll_wait`) and level with it on streaming (P2, whose bulk transfers
/// take plain system calls on both).
const AUTO_PREFERS_URING: bool = true;

/// One async socket's I/O on its engine's driver.
pub(crate) enum SocketIo {
    Epoll(socket::SocketIo<Epoll>),
    Uring(socket::SocketIo<Uring>),
}

macro_rules! forward {
    ($self:ident, $io:ident => $e:expr) => {
        match $self {
            SocketIo::Epoll($io) => $e,
            SocketIo::Uring($io) => $e,
        }
    };
}

impl SocketApi for SocketIo {
    type Engine = Engine;

    /// A CLOSED socket on `engine`'s driver.
    fn create(
        engine: Arc<Engine>,
        custom: Option<Box<dyn Transport>>,
    ) -> Result<Self, CreateError> {
        Ok(match &*engine {
            Engine::Epoll(p) => SocketIo::Epoll(socket::SocketIo::new(Arc::clone(p), custom)),
            Engine::Uring(p) => SocketIo::Uring(socket::SocketIo::new(Arc::clone(p), custom)),
        })
    }

    fn state(&self) -> SocketState {
        forward!(self, io => io.state())
    }

    fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        forward!(self, io => io.open(transport))
    }

    fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)> {
        forward!(self, io => io.submit_send(op, total))
    }

    fn submit_recv(&self, op: Box<dyn RecvOp>) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        forward!(self, io => io.submit_recv(op))
    }

    fn submit_notify(
        &self,
        io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        forward!(self, io => io.submit_notify(io_type, op))
    }

    fn close(&self) {
        forward!(self, io => io.close())
    }

    fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        forward!(self, io => io.close_with(on_closed))
    }
}

/// What only the Linux backends offer.
impl SocketIo {
    pub(crate) fn pending_send_bytes(&self) -> usize {
        forward!(self, io => io.pending_send_bytes())
    }

    pub(crate) fn worker(&self) -> Option<usize> {
        forward!(self, io => io.worker())
    }

    #[allow(dead_code)] // used by the futures layer
    pub(crate) fn failure(&self) -> Option<std::io::ErrorKind> {
        forward!(self, io => io.failure())
    }
}
