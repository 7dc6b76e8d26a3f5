//! The execution engine on Windows: a private thread pool (`PTP_POOL`) per engine, as c-pal's
//! `execution_engine_win32`.
//!
//! `CreateThreadpool(NULL)`, then `SetThreadpoolThreadMinimum(min)` (a failure closes the pool
//! and fails the creation), then `SetThreadpoolThreadMaximum(max)` only when `max > 0` (0 keeps
//! the system's default cap). The last [`crate::ExecutionEngine`] reference calls
//! `CloseThreadpool`, which never waits: the system frees the pool once the last object bound
//! to it (an async socket's `PTP_IO`) is closed, so dropping the last reference from inside a
//! completion cannot deadlock.

use std::ffi::c_void;
use std::io;
use std::sync::{Arc, RwLock};

use windows_sys::Win32::System::Threading::{PTP_CALLBACK_INSTANCE, PTP_POOL};

use super::os::{self, Env};
use crate::core::poison::unpoisoned;
use crate::engine::{Backend, BackendChoice};
use crate::result::CreateError;
use crate::sys::EngineApi;

/// One engine's thread pool.
pub(crate) struct Engine {
    pool: PTP_POOL,
    /// A callback environment bound to the pool, for [`Engine::execute`].
    env: Env,
    thread_count: usize,
    /// Whether the pool is still open; jobs are submitted under the read lock, so that
    /// `shutdown` never closes the pool under a submission.
    open: RwLock<bool>,
}

impl EngineApi for Engine {
    /// Creates the pool with the (already validated) parameters. Windows has one backend:
    /// asking for a Linux one is unsupported.
    fn start(
        params: &crate::ExecutionEngineParameters,
        choice: BackendChoice,
    ) -> Result<Arc<Engine>, CreateError> {
        if choice != BackendChoice::Auto {
            return Err(CreateError::Unsupported);
        }
        Engine::new(params).map_err(CreateError::Io)
    }

    fn backend(&self) -> Backend {
        Backend::ThreadPool
    }

    /// Threads the pool keeps (its minimum; at least one runs completions on demand).
    fn thread_count(&self) -> usize {
        self.thread_count
    }

    /// Runs `job` once on one of the pool's threads (`TrySubmitThreadpoolCallback`). Should
    /// the pool refuse (out of memory), or be closed already (the engine's last reference is
    /// gone while a socket still finishes its close), the job runs on a new thread instead: it
    /// is never lost.
    fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        let context = Box::into_raw(Box::new(job)).cast::<c_void>();
        let submitted = {
            let open = unpoisoned(self.open.read());
            *open && os::try_submit_threadpool_callback(run_job, context, &self.env.0)
        };
        if !submitted {
            // SAFETY: the callback was not submitted, so `context` is still ours.
            let job = unsafe { Box::from_raw(context.cast::<Box<dyn FnOnce() + Send>>()) };
            if let Err(e) = std::thread::Builder::new()
                .name("asock-job".into())
                .spawn(move || run_guarded(*job))
            {
                eprintln!("asock: could not run a job on the pool or on a new thread: {e}");
            }
        }
    }

    /// Closes the pool (once).
    fn shutdown(&self) {
        let mut open = unpoisoned(self.open.write());
        if std::mem::replace(&mut *open, false) {
            os::close_threadpool(self.pool);
        }
    }
}

impl Engine {
    /// Creates the pool.
    fn new(params: &crate::ExecutionEngineParameters) -> io::Result<Arc<Engine>> {
        let pool = os::create_threadpool()?;
        if let Err(e) = os::set_threadpool_thread_minimum(pool, params.min_thread_count) {
            os::close_threadpool(pool);
            return Err(e);
        }
        if params.max_thread_count > 0 {
            os::set_threadpool_thread_maximum(pool, params.max_thread_count);
        }
        let mut env = Env(os::CallbackEnviron::default());
        os::initialize_threadpool_environment(&mut env.0);
        os::set_threadpool_callback_pool(&mut env.0, pool);
        Ok(Arc::new(Engine {
            pool,
            env,
            thread_count: (params.min_thread_count as usize).max(1),
            open: RwLock::new(true),
        }))
    }

    /// The pool (c-pal's `execution_engine_win32_get_threadpool`); no reference is added.
    pub(crate) fn threadpool(&self) -> PTP_POOL {
        self.pool
    }
}

/// Runs a job, containing a panic (it must not unwind into the pool).
fn run_guarded(job: Box<dyn FnOnce() + Send>) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
        eprintln!("asock: a job panicked; the panic was contained");
    }
}

/// The pool callback of [`Engine::execute`].
unsafe extern "system" fn run_job(instance: PTP_CALLBACK_INSTANCE, context: *mut c_void) {
    // SAFETY: `context` is the box leaked by `Engine::execute`, handed to exactly one callback.
    let job = unsafe { Box::from_raw(context.cast::<Box<dyn FnOnce() + Send>>()) };
    super::complete::in_pool_callback(instance, || run_guarded(*job));
}
