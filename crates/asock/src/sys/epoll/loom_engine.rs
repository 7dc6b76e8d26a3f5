//! The execution engine as the loom model sees it (`cfg(loom)` only; `mod.rs` makes it the epoll
//! backend's `Engine`).
//!
//! It keeps the part of the real engine's contract that `socket.rs` relies on, built on loom's
//! threads, lock and condition variable so that loom explores every interleaving:
//! * `schedule` from one of the engine's workers queues the task on that worker, to run after
//!   its current task (the real engine's local queue); from any other thread it goes to the
//!   shared queue and wakes a worker;
//! * `is_current_worker` and `thread_id` tell the threads apart (loom runs every model thread on
//!   one OS thread, so both use loom's thread-locals);
//! * `register` / `deregister` keep the token table; an event for a deregistered token is
//!   dropped, as the real poller drops an event whose token lookup fails.
//!
//! Instead of `epoll_wait`, the model calls [`Engine::fire`] with the readiness bits a real
//! edge would carry, from whichever thread plays the poller.

// `fire` (and what only it uses) serves the loom tests only.
#![cfg_attr(not(test), allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use loom::sync::{Condvar, Mutex, MutexGuard};

/// Something registered with the engine: a socket (same as the real engine's).
pub(crate) trait Source: Send + Sync {
    /// Records the readiness `events`; returns `true` when the caller must schedule the source.
    fn on_ready(&self, events: u32) -> bool;
    /// Performs the source's pending work and delivers its completions.
    fn run(self: Arc<Self>);
}

type Task = Arc<dyn Source>;

/// A small unique id for the current (loom) thread; 0 is never used.
pub(crate) fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loom::thread_local!(static ID: Cell<u64> = Cell::new(0));
    ID.with(|id| {
        if id.get() == 0 {
            id.set(NEXT.fetch_add(1, Relaxed));
        }
        id.get()
    })
}

struct Local {
    engine: *const Engine,
    queue: VecDeque<Task>,
}

loom::thread_local!(static WORKER: RefCell<Option<Local>> = RefCell::new(None));

struct Job(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Source for Job {
    fn on_ready(&self, _events: u32) -> bool {
        false
    }
    fn run(self: Arc<Self>) {
        let job = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(job) = job {
            job();
        }
    }
}

struct Reg {
    token: u64,
    fd: RawFd,
    source: Task,
}

#[derive(Default)]
struct State {
    inject: VecDeque<Task>,
    shutdown: bool,
    regs: Vec<Reg>,
    next_token: u64,
}

/// The model's engine: `min_thread_count` loom threads (at least one) sharing one queue.
pub(crate) struct Engine {
    state: Mutex<State>,
    cv: Condvar,
    threads: std::sync::Mutex<Vec<loom::thread::JoinHandle<()>>>,
    thread_count: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// Starts the workers (inside a loom model).
    pub(crate) fn new(params: &crate::ExecutionEngineParameters) -> io::Result<Arc<Engine>> {
        let threads = (params.min_thread_count as usize).max(1);
        let engine = Arc::new(Engine {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            threads: std::sync::Mutex::new(Vec::new()),
            thread_count: threads,
        });
        for _ in 0..threads {
            let e = Arc::clone(&engine);
            let h = loom::thread::spawn(move || e.worker_main());
            engine
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h);
        }
        Ok(engine)
    }

    /// Number of worker threads.
    pub(crate) fn thread_count(&self) -> usize {
        self.thread_count
    }

    /// Stops the workers once their queues are empty; joins them unless called from one.
    pub(crate) fn shutdown(&self) {
        lock(&self.state).shutdown = true;
        self.cv.notify_all();
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        if !self.is_current_worker() {
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// Whether the calling thread is one of this engine's workers.
    pub(crate) fn is_current_worker(&self) -> bool {
        WORKER.with(|w| {
            w.borrow()
                .as_ref()
                .is_some_and(|l| std::ptr::eq(l.engine, self))
        })
    }

    /// Records `source` for `fd`; returns its token.
    pub(crate) fn register(&self, fd: RawFd, source: Task) -> io::Result<u64> {
        let mut s = lock(&self.state);
        s.next_token += 1;
        let token = s.next_token;
        s.regs.push(Reg { token, fd, source });
        Ok(token)
    }

    /// Forgets `token`; later events for it are dropped.
    pub(crate) fn deregister(&self, token: u64, _fd: RawFd) {
        lock(&self.state).regs.retain(|r| r.token != token);
    }

    /// Whether `fd` is registered (the model's leak check).
    pub(crate) fn is_registered(&self, fd: RawFd) -> bool {
        lock(&self.state).regs.iter().any(|r| r.fd == fd)
    }

    /// Plays the poller for one edge on `fd`: looks the token up (dropping the event if `fd` was
    /// deregistered), records the readiness and schedules the socket if it asks for it.
    pub(crate) fn fire(&self, fd: RawFd, events: u32) {
        let src = lock(&self.state)
            .regs
            .iter()
            .find(|r| r.fd == fd)
            .map(|r| Arc::clone(&r.source));
        if let Some(src) = src {
            if src.on_ready(events) {
                self.schedule(src);
            }
        }
    }

    /// Has `task` run on a worker (see the module docs).
    pub(crate) fn schedule(&self, task: Task) {
        let mut task = Some(task);
        WORKER.with(|w| {
            if let Some(l) = &mut *w.borrow_mut() {
                if std::ptr::eq(l.engine, self) {
                    l.queue.extend(task.take());
                }
            }
        });
        if let Some(task) = task {
            lock(&self.state).inject.push_back(task);
            self.cv.notify_one();
        }
    }

    /// Runs `job` once on a worker.
    pub(crate) fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        self.schedule(Arc::new(Job(std::sync::Mutex::new(Some(job)))));
    }

    fn worker_main(self: Arc<Self>) {
        WORKER.with(|w| {
            *w.borrow_mut() = Some(Local {
                engine: Arc::as_ptr(&self),
                queue: VecDeque::new(),
            })
        });
        loop {
            loop {
                let next =
                    WORKER.with(|w| w.borrow_mut().as_mut().and_then(|l| l.queue.pop_front()));
                match next {
                    Some(t) => t.run(),
                    None => break,
                }
            }
            let mut s = lock(&self.state);
            if let Some(t) = s.inject.pop_front() {
                drop(s);
                t.run();
                continue;
            }
            if s.shutdown {
                break;
            }
            drop(self.cv.wait(s).unwrap_or_else(|e| e.into_inner()));
        }
        let leftover = WORKER.with(|w| w.borrow_mut().take());
        drop(leftover);
    }
}
