//! The backend interface with nothing behind it: an engine that cannot start and a socket that
//! refuses every call. It compiles on every platform (the crate's tests build it), so it keeps
//! in step with [`super::EngineApi`] and [`super::SocketApi`]; a port to another system copies
//! it and fills the methods in, keeping the promises listed in [`super`].

use std::io;
use std::sync::Arc;

use super::{EngineApi, SocketApi};
use crate::core::ops::{NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;
use crate::engine::{Backend, BackendChoice};
use crate::result::{CreateError, NotifyType, OpenError, OpenErrorKind, SubmitErrorKind};
use crate::transport::SocketTransport;
use crate::{ExecutionEngineParameters, Transport};

/// An engine of no backend: it never starts.
pub(crate) struct Engine;

impl EngineApi for Engine {
    fn start(
        _params: &ExecutionEngineParameters,
        _choice: BackendChoice,
    ) -> Result<Arc<Self>, CreateError> {
        Err(CreateError::Unsupported)
    }
    fn backend(&self) -> Backend {
        Backend::ThreadPool
    }
    fn thread_count(&self) -> usize {
        0
    }
    fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        // No thread to run it on: a port runs it on one of its threads.
        drop(job);
    }
    fn shutdown(&self) {}
}

/// A socket of no backend: always CLOSED, every call refused.
pub(crate) struct SocketIo;

impl SocketApi for SocketIo {
    type Engine = Engine;
    fn create(
        _engine: Arc<Engine>,
        _custom: Option<Box<dyn Transport>>,
    ) -> Result<Self, CreateError> {
        Ok(SocketIo)
    }
    fn state(&self) -> SocketState {
        SocketState::Closed
    }
    fn open(&self, transport: SocketTransport) -> Result<(), OpenError> {
        let e = io::Error::new(io::ErrorKind::Unsupported, "no backend on this system");
        Err(OpenError::new(OpenErrorKind::Io(e), transport))
    }
    fn submit_send(
        &self,
        op: Box<dyn SendOp>,
        _total: usize,
    ) -> Result<(), (SubmitErrorKind, Box<dyn SendOp>)> {
        Err((SubmitErrorKind::NotOpen, op))
    }
    fn submit_recv(&self, op: Box<dyn RecvOp>) -> Result<(), (SubmitErrorKind, Box<dyn RecvOp>)> {
        Err((SubmitErrorKind::NotOpen, op))
    }
    fn submit_notify(
        &self,
        _io_type: NotifyType,
        op: NotifyOp,
    ) -> Result<(), (SubmitErrorKind, NotifyOp)> {
        Err((SubmitErrorKind::Unsupported, op))
    }
    fn close(&self) {}
    fn close_with(&self, on_closed: Box<dyn FnOnce() + Send>) {
        on_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_refuses_to_start_and_its_socket_refuses_everything() {
        assert!(matches!(
            Engine::start(&ExecutionEngineParameters::default(), BackendChoice::Auto),
            Err(CreateError::Unsupported)
        ));
        let socket = SocketIo::create(Arc::new(Engine), None).expect("a CLOSED socket");
        assert_eq!(socket.state(), SocketState::Closed);
        let op: NotifyOp = Box::new(|_| {});
        assert!(matches!(
            socket.submit_notify(NotifyType::In, op),
            Err((SubmitErrorKind::Unsupported, _))
        ));
        assert!(socket.open(SocketTransport::client()).is_err());
    }
}
