//! The execution engine on Linux: worker threads sharing one event source, an `epoll` instance
//! here ([`Epoll`]) or an io_uring ring (`sys::uring`).
//!
//! The scheduling below is written once, in [`Workers`], over a small [`Driver`] trait: *wait for
//! events and turn them into ready tasks*, and *wake the waiter*. Each backend supplies a driver;
//! [`Engine`] is `Workers<Epoll>`. "`epoll_wait`" below stands for [`Driver::wait`].
//!
//! # Roles
//! * **Poller**: at most one worker at a time holds the poller role and waits in `epoll_wait`.
//!   When it returns, it runs the first ready source itself (on its own stack) and keeps the role,
//!   so in a ping-pong the reply's readiness is picked up by the same thread without any wake-up.
//!   Further ready sources of the same batch go to the shared queue and wake parked workers.
//! * **Parked workers** sleep on a condition variable. One of them, the *sentinel*, sleeps with a
//!   timeout: when it wakes and finds the poller busy outside `epoll_wait` for longer than
//!   [`STALL`] (a slow callback), it takes the poller role over, so other sockets keep
//!   completing. The old poller, back from its callback, sees it lost the role and parks.
//! * **Injection**: work handed in from a thread that is not a worker of this engine goes to the
//!   shared queue and wakes a parked worker, or the poller through an `eventfd`.
//! * **Local queue**: work made ready by a worker for its own engine (a completion produced
//!   inside a callback) goes to that worker's local queue and runs after the current callback
//!   returns, with no wake-up.
//!
//! # Shutdown
//! Dropping the last [`crate::ExecutionEngine`] sets the shutdown flag and wakes everybody.
//! From a non-worker thread it joins the workers; from a worker it returns at once and that worker
//! exits when its current callback returns (a thread cannot join itself).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::os;

/// How long the poller may stay outside `epoll_wait` before a parked worker takes its role.
const STALL: Duration = Duration::from_millis(20);
/// How often the sentinel looks at the poller.
const WATCH: Duration = Duration::from_millis(20);
/// Token of the engine's own eventfd in the epoll set.
const WAKE_TOKEN: u64 = u64::MAX;
/// Events fetched per `epoll_wait`.
const EVENTS: usize = 256;
/// Most tasks a worker takes from the shared queue at once.
const TAKE: usize = 128;
/// A batch that kept the poller busy this long makes it hand the poller role to a parked worker
/// before running the next batch: bulk work (streaming, many connections) then runs on two
/// threads, while a ping-pong (a few microseconds per batch) stays on one with no wake-up.
const HANDOFF: Duration = Duration::from_micros(40);

/// Something registered with the engine: a socket.
pub(crate) trait Source: Send + Sync {
    /// Records the readiness `events` (`EPOLL*` bits); returns `true` when the source must now be
    /// run and the caller is the one to schedule it. Only the epoll driver calls it; other drivers
    /// tell their sources about events their own way.
    fn on_ready(&self, _events: u32) -> bool {
        false
    }
    /// Performs the source's pending work and delivers its completions.
    fn run(self: Arc<Self>);
}

/// Work a worker runs: a source made ready by an event, or a job.
pub(crate) type Task = Arc<dyn Source>;

/// The event source of one engine, shared by its workers.
///
/// At most one worker at a time is in [`Driver::wait`] on purpose (the poller), but a poller
/// replaced by the sentinel may still be finishing a `wait` while its successor starts one, so
/// `wait` must tolerate two concurrent callers.
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// Per-worker scratch space for [`Driver::wait`] (an event buffer).
    type Scratch;
    /// A fresh scratch space for one worker.
    fn scratch(&self) -> Self::Scratch;
    /// Waits for events (until one arrives or [`Driver::wake`] is called when `block`, not at all
    /// otherwise) and appends the sources that must run now to `ready`.
    fn wait(&self, scratch: &mut Self::Scratch, block: bool, ready: &mut Vec<Task>);
    /// Makes a thread blocked in [`Driver::wait`] return.
    fn wake(&self);
    /// A batch that kept the poller busy this long makes it hand the poller role off
    /// ([`HANDOFF`] unless the driver knows better).
    const HANDOFF: Duration = HANDOFF;
    /// A batch of at least this many ready sources is split with a parked worker; a smaller one
    /// runs on the poller's thread.
    const SHARE_FROM: usize = 2;
}

/// A closure run once on a worker ([`Engine::execute`]).
struct Job(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Source for Job {
    fn on_ready(&self, _events: u32) -> bool {
        false
    }
    fn run(self: Arc<Self>) {
        let job = lock(&self.0).take();
        if let Some(job) = job {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                eprintln!("asock: a job panicked on an engine worker; the panic was contained");
            }
        }
    }
}

/// A small unique id for the current thread (0 is never used).
pub(crate) fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ID: Cell<u64> = const { Cell::new(0) });
    ID.try_with(|id| {
        if id.get() == 0 {
            id.set(NEXT.fetch_add(1, Relaxed));
        }
        id.get()
    })
    .unwrap_or(u64::MAX)
}

struct Local {
    /// The [`Workers`] this thread belongs to (compared by address only).
    engine: *const (),
    queue: VecDeque<Task>,
}

thread_local!(static WORKER: RefCell<Option<Local>> = const { RefCell::new(None) });

/// Registered sources by token: the low 32 bits index `entries`, the high 32 bits are the entry's
/// generation, so a token that outlived its registration (an event fetched before a deregister)
/// finds nothing.
pub(crate) struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Clone> Slab<T> {
    /// Stores `value`; returns its token.
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push((0, None));
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[idx as usize];
        entry.0 = entry.0.wrapping_add(1);
        entry.1 = Some(value);
        (u64::from(entry.0) << 32) | u64::from(idx)
    }

    /// Forgets the value of `token` (nothing when the token is stale).
    pub(crate) fn remove(&mut self, token: u64) {
        let idx = (token & 0xffff_ffff) as usize;
        if let Some(entry) = self.entries.get_mut(idx) {
            if u64::from(entry.0) == token >> 32 && entry.1.take().is_some() {
                entry.0 = entry.0.wrapping_add(1);
                self.free.push(idx as u32);
            }
        }
    }

    /// The value of `token`, unless the token is stale.
    pub(crate) fn get(&self, token: u64) -> Option<T> {
        let entry = self.entries.get((token & 0xffff_ffff) as usize)?;
        if u64::from(entry.0) != token >> 32 {
            return None;
        }
        entry.1.clone()
    }
}

#[derive(Default)]
struct Sched {
    inject: VecDeque<Task>,
    parked: usize,
    sentinel: bool,
    poller_held: bool,
    poller_gen: u64,
    shutdown: bool,
}

/// The epoll driver: the epoll instance, its wake-up eventfd and the registered sockets.
pub(crate) struct Epoll {
    epfd: OwnedFd,
    wakefd: OwnedFd,
    registry: Mutex<Slab<Task>>,
}

/// The epoll backend's engine.
pub(crate) type Engine = Workers<Epoll>;

/// One engine's threads around its driver `D`.
pub(crate) struct Workers<D: Driver> {
    driver: D,
    sched: Mutex<Sched>,
    cv: Condvar,
    inject_len: AtomicUsize,
    /// The poller is inside [`Driver::wait`].
    in_epoll: AtomicBool,
    shutdown: AtomicBool,
    /// Milliseconds since `epoch` when the poller last left `epoll_wait`.
    busy_since: AtomicU64,
    /// Nanoseconds the poller's last batch took to run.
    last_batch_ns: AtomicU64,
    epoch: Instant,
    threads: Mutex<Vec<JoinHandle<()>>>,
    thread_count: usize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic happened elsewhere while holding it; our critical
    // sections keep their data consistent at every step, so carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Workers<Epoll> {
    /// Creates the epoll instance and starts the workers ([`Workers::start`]).
    pub(crate) fn new(params: &crate::ExecutionEngineParameters) -> io::Result<Arc<Engine>> {
        let epfd = os::epoll_create()?;
        let wakefd = os::eventfd()?;
        os::epoll_add(&epfd, wakefd.as_raw_fd(), libc::EPOLLIN as u32, WAKE_TOKEN)?;
        let driver = Epoll {
            epfd,
            wakefd,
            registry: Mutex::default(),
        };
        Workers::start(driver, params)
    }

    /// Registers `fd` (edge-triggered, both directions and peer hang-up) for `source`;
    /// returns its token.
    pub(crate) fn register(&self, fd: RawFd, source: Task) -> io::Result<u64> {
        let d = &self.driver;
        let mut slab = lock(&d.registry);
        let token = slab.insert(source);
        let interest = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = os::epoll_add(&d.epfd, fd, interest, token) {
            slab.remove(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes `fd` from the epoll set and forgets its token; an event already fetched for it is
    /// ignored.
    pub(crate) fn deregister(&self, token: u64, fd: RawFd) {
        let d = &self.driver;
        let _ = os::epoll_del(&d.epfd, fd);
        lock(&d.registry).remove(token);
    }
}

impl Driver for Epoll {
    type Scratch = Vec<libc::epoll_event>;

    fn scratch(&self) -> Self::Scratch {
        vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS]
    }

    fn wait(&self, events: &mut Self::Scratch, block: bool, ready: &mut Vec<Task>) {
        let n = os::epoll_wait(&self.epfd, events, if block { -1 } else { 0 }).unwrap_or(0);
        for ev in &events[..n] {
            let (token, bits) = (ev.u64, ev.events);
            if token == WAKE_TOKEN {
                os::eventfd_drain(&self.wakefd);
                continue;
            }
            let Some(src) = lock(&self.registry).get(token) else {
                continue;
            };
            if src.on_ready(bits) {
                ready.push(src);
            }
        }
    }

    fn wake(&self) {
        os::eventfd_signal(&self.wakefd);
    }
}

impl<D: Driver> Workers<D> {
    /// Starts `min_thread_count` workers (at least one) around `driver`. The maximum is not
    /// needed: this engine never grows (a stalled poller is replaced by a parked worker instead).
    pub(crate) fn start(
        driver: D,
        params: &crate::ExecutionEngineParameters,
    ) -> io::Result<Arc<Self>> {
        let threads = (params.min_thread_count as usize).max(1);
        let engine = Arc::new(Workers {
            driver,
            sched: Mutex::default(),
            cv: Condvar::new(),
            inject_len: AtomicUsize::new(0),
            in_epoll: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            busy_since: AtomicU64::new(0),
            last_batch_ns: AtomicU64::new(0),
            epoch: Instant::now(),
            threads: Mutex::default(),
            thread_count: threads,
        });
        for i in 0..threads {
            let e = Arc::clone(&engine);
            let spawned = std::thread::Builder::new()
                .name(format!("asock-worker-{i}"))
                .spawn(move || e.worker_main());
            match spawned {
                Ok(h) => lock(&engine.threads).push(h),
                Err(err) => {
                    engine.shutdown();
                    return Err(err);
                }
            }
        }
        Ok(engine)
    }

    /// The driver.
    pub(crate) fn driver(&self) -> &D {
        &self.driver
    }

    /// Number of worker threads.
    pub(crate) fn thread_count(&self) -> usize {
        self.thread_count
    }

    /// Stops the workers (see the module docs).
    pub(crate) fn shutdown(&self) {
        lock(&self.sched).shutdown = true;
        self.shutdown.store(true, SeqCst);
        self.cv.notify_all();
        self.driver.wake();
        let handles = std::mem::take(&mut *lock(&self.threads));
        if !self.is_current_worker() {
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// Whether the calling thread is one of this engine's workers.
    pub(crate) fn is_current_worker(&self) -> bool {
        WORKER
            .try_with(|w| {
                w.borrow()
                    .as_ref()
                    .is_some_and(|l| std::ptr::eq(l.engine, self.as_ptr()))
            })
            .unwrap_or(false)
    }

    fn as_ptr(&self) -> *const () {
        (self as *const Self).cast()
    }

    /// Has `task` run on a worker: on the current worker after its current work if the caller is
    /// one of this engine's workers, otherwise on whichever worker is free.
    pub(crate) fn schedule(&self, task: Task) {
        let mut task = Some(task);
        let _ = WORKER.try_with(|w| {
            if let Some(l) = &mut *w.borrow_mut() {
                if std::ptr::eq(l.engine, self.as_ptr()) {
                    l.queue.extend(task.take());
                }
            }
        });
        if let Some(task) = task {
            self.inject(std::iter::once(task));
        }
    }

    /// Runs `job` once on one of the engine's workers.
    pub(crate) fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        self.schedule(Arc::new(Job(Mutex::new(Some(job)))));
    }

    fn inject(&self, tasks: impl Iterator<Item = Task>) {
        let mut s = lock(&self.sched);
        let before = s.inject.len();
        s.inject.extend(tasks);
        let added = s.inject.len() - before;
        if added == 0 {
            return;
        }
        self.inject_len.fetch_add(added, SeqCst);
        // One wake-up per call: a woken worker takes up to TAKE tasks at once.
        let wake = s.parked.min(1);
        drop(s);
        for _ in 0..wake {
            self.cv.notify_one();
        }
        if wake == 0 && self.in_epoll.load(SeqCst) {
            self.driver.wake();
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn run_local(&self) {
        loop {
            let next = WORKER.with(|w| w.borrow_mut().as_mut().and_then(|l| l.queue.pop_front()));
            match next {
                // User code is contained where it is called (callbacks, transports, jobs); this
                // keeps the worker alive whatever else a task's run unwinds with.
                Some(t) => {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.run())).is_err() {
                        eprintln!("asock: a task panicked on an engine worker; the worker goes on");
                    }
                }
                None => return,
            }
        }
    }

    fn worker_main(self: Arc<Self>) {
        WORKER.with(|w| {
            *w.borrow_mut() = Some(Local {
                engine: self.as_ptr(),
                queue: VecDeque::new(),
            })
        });
        let mut events = self.driver.scratch();
        let mut my_gen = 0u64;
        loop {
            self.run_local();
            let mut s = lock(&self.sched);
            if !s.inject.is_empty() {
                // Take the whole share at once (a batch split by a poller), so two workers do
                // not fight over the lock task by task.
                let take = s.inject.len().min(TAKE);
                let batch: Vec<Task> = s.inject.drain(..take).collect();
                self.inject_len.fetch_sub(take, SeqCst);
                drop(s);
                WORKER.with(|w| {
                    if let Some(l) = w.borrow_mut().as_mut() {
                        l.queue.extend(batch);
                    }
                });
                continue;
            }
            if s.shutdown {
                break;
            }
            let poll = if my_gen != 0 && s.poller_held && s.poller_gen == my_gen {
                true
            } else if !s.poller_held {
                s.poller_held = true;
                s.poller_gen += 1;
                my_gen = s.poller_gen;
                true
            } else {
                my_gen = 0;
                false
            };
            if poll {
                drop(s);
                self.poll_once(&mut events, my_gen);
                continue;
            }
            s.parked += 1;
            if s.sentinel {
                s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
                s.parked -= 1;
                continue;
            }
            s.sentinel = true;
            let (mut s, res) = self
                .cv
                .wait_timeout(s, WATCH)
                .unwrap_or_else(|e| e.into_inner());
            s.parked -= 1;
            s.sentinel = false;
            let busy = self.now_ms().saturating_sub(self.busy_since.load(Relaxed));
            if res.timed_out()
                && s.poller_held
                && !self.in_epoll.load(SeqCst)
                && busy >= STALL.as_millis() as u64
            {
                // The poller is stuck in a callback: take its role over.
                s.poller_gen += 1;
                my_gen = s.poller_gen;
                self.busy_since.store(self.now_ms(), Relaxed);
            }
        }
        // Queued tasks hold their socket, which holds this engine: drop them so the engine (and
        // its file descriptors) can be freed once every worker is gone.
        let leftover = WORKER.with(|w| w.borrow_mut().take());
        let injected = std::mem::take(&mut lock(&self.sched).inject);
        drop((leftover, injected));
    }

    fn poll_once(&self, events: &mut D::Scratch, my_gen: u64) {
        self.in_epoll.store(true, SeqCst);
        let block = self.inject_len.load(SeqCst) == 0 && !self.shutdown.load(SeqCst);
        let mut ready: Vec<Task> = Vec::new();
        self.driver.wait(events, block, &mut ready);
        self.in_epoll.store(false, SeqCst);
        self.busy_since.store(self.now_ms(), Relaxed);
        if ready.is_empty() {
            return;
        }
        if self.last_batch_ns.load(Relaxed) > D::HANDOFF.as_nanos() as u64 {
            self.hand_off(my_gen);
        }
        // The batch is timed from here: the hand-off's own wake-up must not count in it, or the
        // next batch would look long and hand off again, on and on.
        let started = Instant::now();
        // Several ready sockets: keep the first half here, share the rest with a parked worker
        // (one lock, one wake-up per batch).
        let keep = if ready.len() >= D::SHARE_FROM {
            ready.len().div_ceil(2)
        } else {
            ready.len()
        };
        let shared = ready.split_off(keep);
        if !shared.is_empty() {
            self.inject(shared.into_iter());
        }
        WORKER.with(|w| {
            if let Some(l) = w.borrow_mut().as_mut() {
                l.queue.extend(ready);
            }
        });
        self.run_local();
        self.last_batch_ns
            .store(started.elapsed().as_nanos() as u64, Relaxed);
    }

    /// Gives the poller role to a parked worker, if there is one, so that it polls while this
    /// thread runs a long batch.
    fn hand_off(&self, my_gen: u64) {
        let mut s = lock(&self.sched);
        if s.parked > 0 && s.poller_held && s.poller_gen == my_gen {
            s.poller_held = false;
            drop(s);
            self.cv.notify_one();
        }
    }
}
