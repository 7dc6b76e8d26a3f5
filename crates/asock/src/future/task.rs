//! `spawn`: run a future as a task on an engine's worker threads.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use super::Cell;
use crate::core::poison::unpoisoned;
use crate::engine::ExecutionEngine;
use crate::sys::EngineApi;

/// Polls in a row, when woken while running, before the task yields its worker to other work.
const POLLS_BEFORE_YIELD: u32 = 32;

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
/// Running, and woken meanwhile: poll again.
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

/// Runs `future` as a task on `engine`'s worker threads and returns a handle that resolves to
/// its output.
///
/// This is the fast way to use the futures of this module: a completion runs on an engine
/// worker, and waking a task from there queues it **on that same worker**, which polls it as
/// soon as the completion returns, with no hand-off to another thread. A task woken from
/// elsewhere (another executor, a plain thread) is queued on the engine like any job.
///
/// A task occupies a worker while it is being polled: do not block in it (no blocking
/// [`AsyncSocket::close`](crate::AsyncSocket::close), no `std::thread::sleep`, no
/// `futures::executor::block_on`), exactly as in a completion callback. A task that panics
/// ends; the panic is raised again where its [`JoinHandle`] is awaited.
///
/// # Cancel safety
/// Dropping the [`JoinHandle`] does not stop the task: it runs to its end and its output is
/// dropped. A task that never completes keeps the engine (and whatever it holds) alive.
///
/// # Example
/// ```
/// use asock::future::{spawn, Socket};
/// use asock::{ExecutionEngine, ReceiveResult, SocketTransport};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = ExecutionEngine::new(None)?;
/// let mut listener = SocketTransport::server();
/// listener.listen_on("127.0.0.1:0".parse()?, 4)?;
/// let mut client = SocketTransport::client();
/// client.connect("127.0.0.1", listener.local_port().unwrap(), Duration::from_secs(5))?;
/// let server = listener.accept(Duration::from_secs(5))?.expect("a connection");
/// let (a, b) = (Socket::open_on(&engine, client)?, Socket::open_on(&engine, server)?);
///
/// let echo = spawn(&engine, async move {
///     let (r, n, mut bufs) = b.receive(vec![vec![0u8; 64]]).await.unwrap();
///     assert_eq!(r, ReceiveResult::Ok);
///     bufs[0].truncate(n);
///     b.send(bufs).await.unwrap();
///     std::thread::current().name().map(str::to_owned) // where the task ran
/// });
/// let ran_on = futures::executor::block_on(async {
///     a.send(vec![b"ping".to_vec()]).await.unwrap();
///     let (_, n, bufs) = a.receive(vec![vec![0u8; 64]]).await.unwrap();
///     assert_eq!(&bufs[0][..n], b"ping");
///     echo.await
/// });
/// # #[cfg(target_os = "linux")]
/// assert!(ran_on.unwrap().starts_with("asock-worker"));
/// # Ok(())
/// # }
/// ```
pub fn spawn<F>(engine: &ExecutionEngine, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let join = Cell::new();
    let task = Arc::new(Task {
        state: AtomicU8::new(SCHEDULED),
        future: Mutex::new(Some(Box::pin(future))),
        join: Arc::clone(&join),
        engine: engine.clone(),
    });
    task.schedule();
    JoinHandle { join: Some(join) }
}

struct Task<F: Future> {
    state: AtomicU8,
    /// `None` once the future finished (or panicked).
    future: Mutex<Option<Pin<Box<F>>>>,
    join: Arc<Cell<thread::Result<F::Output>>>,
    engine: ExecutionEngine,
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Queues a run on the engine: on the current worker when called on one.
    fn schedule(self: &Arc<Self>) {
        let task = Arc::clone(self);
        self.engine.sys().execute(Box::new(move || task.run()));
    }

    fn run(self: Arc<Self>) {
        self.state.store(RUNNING, Release);
        let waker = Waker::from(Arc::clone(&self));
        let mut cx = Context::from_waker(&waker);
        let mut polls = 0;
        loop {
            let mut slot = unpoisoned(self.future.lock());
            let Some(future) = slot.as_mut() else {
                return;
            };
            let polled = panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
            let output = match polled {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(value)) => Some(Ok(value)),
                Err(payload) => Some(Err(payload)),
            };
            if let Some(output) = output {
                let finished = slot.take();
                drop(slot);
                self.state.store(DONE, Release);
                // The future (and what it owns) is dropped before the handle hears of it.
                drop(finished);
                self.join.fill(output);
                return;
            }
            drop(slot);
            match self.state.compare_exchange(RUNNING, IDLE, AcqRel, Acquire) {
                Ok(_) => return,
                Err(_notified) => {
                    polls += 1;
                    if polls >= POLLS_BEFORE_YIELD {
                        // Let other work on this worker run first.
                        self.state.store(SCHEDULED, Release);
                        self.schedule();
                        return;
                    }
                    self.state.store(RUNNING, Release);
                }
            }
        }
    }
}

impl<F> Wake for Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                // Already queued, already to be polled again, or finished.
                _ => return,
            };
            match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                Ok(_) => {
                    if next == SCHEDULED {
                        self.schedule();
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }
}

/// The handle of a task started by [`spawn`]: a future that resolves to the task's output.
///
/// Dropping it detaches the task (it keeps running).
#[must_use = "dropping the handle detaches the task"]
pub struct JoinHandle<T> {
    join: Option<Arc<Cell<thread::Result<T>>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    /// # Panics
    /// When the task panicked (with its panic), or when polled again after it resolved.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let join = this
            .join
            .as_ref()
            .expect("a JoinHandle was polled after it resolved");
        let output = std::task::ready!(join.poll(cx));
        this.join = None;
        match output {
            Ok(value) => Poll::Ready(value),
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(join) = &self.join {
            drop(join.detach());
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
