//! The execution engine: a reference-counted pool of worker threads on which every completion
//! runs.
//!
//! Cloning an [`ExecutionEngine`] takes a reference; dropping the last one stops the threads
//! (also when that happens on one of them, inside a completion). Every
//! [`AsyncSocket`](crate::AsyncSocket) holds a reference from its creation to its drop.

use std::fmt;
use std::sync::Arc;

use crate::result::CreateError;
use crate::sys::{self, EngineApi};

/// c-pal's default minimum thread count.
pub const DEFAULT_MIN_THREAD_COUNT: u32 = 4;
/// c-pal's default maximum thread count: 0, no explicit maximum.
pub const DEFAULT_MAX_THREAD_COUNT: u32 = 0;

/// Thread counts of an engine (`EXECUTION_ENGINE_PARAMETERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionEngineParameters {
    /// Threads started with the engine; 0 is accepted and means one.
    pub min_thread_count: u32,
    /// Upper bound on threads, 0 for none; otherwise it must be at least `min_thread_count`.
    pub max_thread_count: u32,
}

impl Default for ExecutionEngineParameters {
    fn default() -> Self {
        Self {
            min_thread_count: DEFAULT_MIN_THREAD_COUNT,
            max_thread_count: DEFAULT_MAX_THREAD_COUNT,
        }
    }
}

/// The I/O backend an engine runs on ([`ExecutionEngine::backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// Linux `epoll`: readiness, with completions emulated on the engine's workers.
    Epoll,
    /// Linux io_uring: completion-based I/O on one ring per engine.
    Uring,
    /// Windows thread-pool I/O (`CreateThreadpoolIo`).
    ThreadPool,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Epoll => "epoll",
            Backend::Uring => "io_uring",
            Backend::ThreadPool => "thread-pool I/O",
        })
    }
}

/// Which backend an engine should run on ([`ExecutionEngine::with_backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The platform's preferred backend that works here: on Linux, io_uring when the kernel
    /// allows it and it is the faster one, epoll otherwise; on Windows, thread-pool I/O.
    #[default]
    Auto,
    /// Linux `epoll` (unsupported elsewhere).
    Epoll,
    /// Linux io_uring; creating the engine fails when the kernel refuses it (unsupported
    /// elsewhere).
    Uring,
}

impl BackendChoice {
    /// Parses `epoll`, `uring` (or `io_uring`) and `auto`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Some(BackendChoice::Auto),
            "epoll" => Some(BackendChoice::Epoll),
            "uring" | "io_uring" | "io-uring" => Some(BackendChoice::Uring),
            _ => None,
        }
    }

    /// The choice in the environment variable `ASOCK_BACKEND` (`epoll`, `uring` or `auto`);
    /// `Auto` when it is unset. An unknown value is reported on stderr and taken as `Auto`.
    pub fn from_env() -> Self {
        match std::env::var("ASOCK_BACKEND") {
            Err(_) => BackendChoice::Auto,
            Ok(v) => BackendChoice::parse(&v).unwrap_or_else(|| {
                eprintln!("asock: ASOCK_BACKEND={v:?} is not epoll, uring or auto; using auto");
                BackendChoice::Auto
            }),
        }
    }
}

struct Handle {
    params: ExecutionEngineParameters,
    sys: Arc<sys::Engine>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.sys.shutdown();
    }
}

/// A reference to an execution engine. Cheap to clone; the threads stop when the last reference
/// is dropped.
///
/// ```
/// use asock::{ExecutionEngine, ExecutionEngineParameters};
///
/// let engine = ExecutionEngine::new(None).unwrap(); // defaults: 4 threads, no maximum
/// assert_eq!(engine.parameters().min_thread_count, 4);
/// let bad = ExecutionEngineParameters { min_thread_count: 5, max_thread_count: 3 };
/// assert!(ExecutionEngine::new(Some(bad)).is_err());
/// ```
#[derive(Clone)]
pub struct ExecutionEngine {
    handle: Arc<Handle>,
}

impl ExecutionEngine {
    /// Starts an engine. `None` means the defaults (4 threads, no maximum). Parameters with
    /// `max_thread_count != 0 && max_thread_count < min_thread_count` are rejected with
    /// [`CreateError::InvalidParameters`].
    ///
    /// The backend is the one the environment variable `ASOCK_BACKEND` names (`epoll`, `uring`
    /// or `auto`, see [`BackendChoice::from_env`]), [`BackendChoice::Auto`] when it is unset.
    pub fn new(params: Option<ExecutionEngineParameters>) -> Result<Self, CreateError> {
        Self::with_backend(params, BackendChoice::from_env())
    }

    /// Starts an engine on the given backend. An explicit [`BackendChoice::Uring`] fails with
    /// the OS's error when io_uring is refused (EPERM in many containers, ENOSYS on old kernels,
    /// ENOMEM under a low `RLIMIT_MEMLOCK`) or lacks an operation the backend needs; `Auto` then
    /// falls back to epoll. A Linux backend asked for on another platform is
    /// [`CreateError::Unsupported`].
    pub fn with_backend(
        params: Option<ExecutionEngineParameters>,
        backend: BackendChoice,
    ) -> Result<Self, CreateError> {
        let params = params.unwrap_or_default();
        if params.max_thread_count != 0 && params.max_thread_count < params.min_thread_count {
            return Err(CreateError::InvalidParameters);
        }
        let sys = sys::Engine::start(&params, backend)?;
        Ok(Self {
            handle: Arc::new(Handle { params, sys }),
        })
    }

    /// The backend this engine runs on.
    pub fn backend(&self) -> Backend {
        self.handle.sys.backend()
    }

    /// The parameters the engine was created with.
    pub fn parameters(&self) -> ExecutionEngineParameters {
        self.handle.params
    }

    /// How many worker threads run completions.
    pub fn thread_count(&self) -> usize {
        self.handle.sys.thread_count()
    }

    /// Number of references to this engine (engine handles and async sockets).
    pub fn ref_count(&self) -> usize {
        Arc::strong_count(&self.handle)
    }

    /// The engine's private thread pool (`PTP_POOL`), as c-pal's
    /// `execution_engine_win32_get_threadpool`: valid while the engine lives; no reference is
    /// added. Windows only.
    #[cfg(windows)]
    pub fn threadpool(&self) -> *mut std::ffi::c_void {
        self.handle.sys.threadpool() as *mut std::ffi::c_void
    }

    pub(crate) fn sys(&self) -> &Arc<sys::Engine> {
        &self.handle.sys
    }
}

impl fmt::Debug for ExecutionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionEngine")
            .field("parameters", &self.handle.params)
            .field("threads", &self.thread_count())
            .field("backend", &self.backend())
            .finish()
    }
}
