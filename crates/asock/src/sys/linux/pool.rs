//! The Linux execution engine: one worker thread per shard, each shard an event source of its
//! own (a [`Driver`]: an epoll instance or an io_uring ring) and the sockets bound to it.
//!
//! # Who touches what
//! * A **shard** belongs to its worker: only that thread waits on the shard's event source and
//!   runs the shard's queue, except while a *rescuer* stands in for it (below) or while the
//!   shard is *lent* to another worker, its *host* (an idle worker lends its shard and parks;
//!   see [`lend`]). A thread that takes a shard's events without being the one that sleeps on
//!   them (a rescuer, a close pumping them) sends the wake-up it consumed again
//!   (`Shard::rewake`).
//! * A **socket** is bound to one shard from open to close ([`Pool::bind`]): the least loaded
//!   shard, or, for one end of a loopback connection whose other end is open in this engine,
//!   the shard of that other end (a ping-pong between the two then never leaves one thread).
//!   Its events arrive on its shard's worker, which runs it in place; its state is guarded by
//!   its own lock, which in practice only that worker takes, so the lock never changes hands.
//! * The shard's **queue** takes work from other threads (a socket to run, a job): a push
//!   wakes the worker through its event source only when the worker sleeps (the `sleeping` /
//!   `woken` pair: each side stores, then a sequentially consistent fence, then loads the other
//!   side's flag, so a push either is seen by the worker's last
//!   look at the queue or sees it asleep). Work a worker makes for its own shard goes to the same
//!   queue without a wake-up.
//! * The **registry** maps a shard's tokens to its sockets; the worker looks up a whole batch of
//!   events under one lock, which only opens and closes on that shard contend for.
//!
//! # A blocking callback
//! User code (completions, jobs) runs on the worker, which meanwhile hears nothing from its
//! shard. Every worker publishes a counter that is odd while it runs user code (`user`); a
//! worker that is idle, or between batches, looks at the others every [`WATCH`], and one that
//! finds a worker inside the same piece of user code as [`WATCH`] ago (so for about 20 to 40
//! ms) *rescues* its shard: it serves that shard's queue and events besides its own until the
//! owner comes back. A socket is never run by two threads at once (its runner protocol), so the
//! stuck callback's own socket simply waits. An engine whose workers are all stuck has nobody
//! left to rescue; the minimum thread count is the number of workers (the maximum is never
//! needed: this engine does not grow).
//!
//! # Shutdown
//! Dropping the last [`crate::ExecutionEngine`] sets the shutdown flag and wakes every shard.
//! From a non-worker thread it joins the workers; from a worker it returns at once and that
//! worker exits when its current callback returns (a thread cannot join itself).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{Driver, Here, GUEST_TOKENS};
use super::slab::Slab;
use super::socket::Socket;
use super::sync::{
    fence, lock, spawn, thread_local, AtomicBool, AtomicU64, AtomicUsize, Condvar, JoinHandle,
    Mutex,
};
use lend::{Load, LEND_AGAIN_AFTER, NO_HOST};
use rescue::Watch;
use work::Work;

mod lend;
mod rescue;
#[cfg(all(test, not(loom)))]
mod tests;
mod work;

/// How often a worker looks for a worker stuck in user code, and how long user code may run
/// before its shard is rescued.
pub(crate) const WATCH: Duration = Duration::from_millis(20);
/// How long a rescuer waits on the rescued shard's events before serving its own again.
const RESCUE_SLICE: Duration = Duration::from_millis(1);
/// Tasks a worker runs from its queue at the most before it looks at its events again.
const TURN_BUDGET: usize = 256;
/// How long a close pumping its shard's events waits for one.
const PUMP: Duration = Duration::from_millis(1);

/// A small unique id for the current thread (0 is never used).
pub(crate) fn thread_id() -> u64 {
    // A plain counter even under loom: it only hands out distinct numbers.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    #[cfg(not(loom))]
    thread_local!(static ID: Cell<u64> = const { Cell::new(0) });
    #[cfg(loom)]
    thread_local!(static ID: Cell<u64> = Cell::new(0));
    ID.try_with(|id| {
        if id.get() == 0 {
            id.set(NEXT.fetch_add(1, Relaxed));
        }
        id.get()
    })
    .unwrap_or(u64::MAX)
}

/// What the current thread is to a pool: its address, the shard the thread owns, and that
/// shard's user-code counter.
#[derive(Clone, Copy)]
struct Current {
    pool: usize,
    shard: usize,
    user: *const AtomicU64,
}

#[cfg(not(loom))]
thread_local!(static CURRENT: Cell<Option<Current>> = const { Cell::new(None) });
#[cfg(loom)]
thread_local!(static CURRENT: Cell<Option<Current>> = Cell::new(None));

fn current() -> Option<Current> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// Work for a shard's worker.
pub(crate) enum Task<D: Driver> {
    /// Run a socket (deliver its completions, take its I/O forward).
    Socket(Arc<Socket<D>>),
    /// Run a closure once.
    Job(Box<dyn FnOnce() + Send>),
}

/// One worker's event source, queue and sockets.
pub(crate) struct Shard<D: Driver> {
    driver: D,
    queue: Mutex<VecDeque<Task<D>>>,
    queued: AtomicUsize,
    /// The owner is (about to be) blocked in its source's `wait`.
    sleeping: AtomicBool,
    /// A wake-up was sent and not yet consumed (coalesces them).
    woken: AtomicBool,
    /// Odd while the owner runs user code; bumped on every entry and exit.
    user: AtomicU64,
    /// The thread rescuing this shard, 0 for none.
    rescuer: AtomicU64,
    registry: Mutex<Slab<Arc<Socket<D>>>>,
    /// Sockets bound to this shard.
    bound: AtomicUsize,
    /// Jobs to run at a deadline ([`Pool::after`]), earliest first.
    timers: Mutex<BinaryHeap<Reverse<Timer>>>,
    /// The earliest deadline in `timers` (nanoseconds since the pool's epoch), `u64::MAX` for
    /// none: what the worker's wait is bounded by.
    next_timer: AtomicU64,
    /// The worker serving this shard while it is lent (`NO_HOST`: its own; see `lend.rs`).
    host: AtomicUsize,
    /// Where the owner parks while its shard is lent.
    park: Mutex<()>,
    unpark: Condvar,
}

/// A job waiting for its deadline.
struct Timer {
    at: u64,
    seq: u64,
    job: Box<dyn FnOnce() + Send>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<D: Driver> Shard<D> {
    /// After queueing work: wakes the owner if it sleeps (or is about to), once.
    fn wake_if_sleeping(&self) {
        // Pairs with the owner's fence between `sleeping` and its look at the queue.
        fence(SeqCst);
        if self.sleeping.load(Relaxed) && !self.woken.swap(true, SeqCst) {
            self.driver.wake();
        }
    }

    /// After a thread other than the one that sleeps on this shard's source took its events (a
    /// rescuer, a close pumping them, a look before lending): a wake-up it consumed was owed to
    /// the sleeper (the owner, or the host of a lent shard), so the coalescing flag is cleared
    /// and the wake-up sent again if work is queued.
    fn rewake(&self) {
        self.woken.store(false, SeqCst);
        if self.queued.load(SeqCst) > 0 {
            self.wake_if_sleeping();
        }
    }
}

/// The engine: its shards and their workers.
pub(crate) struct Pool<D: Driver> {
    shards: Box<[Shard<D>]>,
    shutdown: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The shard of each open loopback end, by `(local port, peer port)`. Ports alone can
    /// collide across loopback addresses; that only costs a pair its shared shard.
    pairs: Mutex<HashMap<(u16, u16), usize>>,
    /// Where the search for the least loaded shard starts (ties go round).
    next: AtomicUsize,
    /// What timer deadlines count from.
    epoch: Instant,
    /// Orders timers of one deadline.
    timer_seq: AtomicU64,
    /// Taken to lend a shard or give it back (see `lend.rs`).
    lending: Mutex<()>,
}

impl<D: Driver> Pool<D> {
    /// Starts `threads` workers (at least one), each with the source `make(i)` creates.
    pub(crate) fn start(
        threads: usize,
        mut make: impl FnMut(usize) -> io::Result<D>,
    ) -> io::Result<Arc<Self>> {
        let n = threads.max(1);
        let mut shards = Vec::with_capacity(n);
        for i in 0..n {
            shards.push(Shard {
                driver: make(i)?,
                queue: Mutex::new(VecDeque::new()),
                queued: AtomicUsize::new(0),
                sleeping: AtomicBool::new(false),
                woken: AtomicBool::new(false),
                user: AtomicU64::new(0),
                rescuer: AtomicU64::new(0),
                registry: Mutex::new(Slab::default()),
                bound: AtomicUsize::new(0),
                timers: Mutex::new(BinaryHeap::new()),
                next_timer: AtomicU64::new(u64::MAX),
                host: AtomicUsize::new(NO_HOST),
                park: Mutex::new(()),
                unpark: Condvar::new(),
            });
        }
        let pool = Arc::new(Pool {
            shards: shards.into_boxed_slice(),
            shutdown: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            pairs: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            timer_seq: AtomicU64::new(0),
            lending: Mutex::new(()),
        });
        for i in 0..n {
            let p = Arc::clone(&pool);
            let spawned = spawn(format!("asock-worker-{i}"), move || p.worker_main(i));
            match spawned {
                Ok(h) => lock(&pool.threads).push(h),
                Err(err) => {
                    pool.shutdown();
                    return Err(err);
                }
            }
        }
        Ok(pool)
    }

    /// Number of worker threads.
    pub(crate) fn thread_count(&self) -> usize {
        self.shards.len()
    }

    /// The event source of `shard`.
    pub(crate) fn driver(&self, shard: usize) -> &D {
        &self.shards[shard].driver
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Whether the calling thread is one of this engine's workers.
    pub(crate) fn is_current_worker(&self) -> bool {
        current().is_some_and(|c| c.pool == self.addr())
    }

    /// What the calling thread is to `shard` (see [`Here`]).
    pub(crate) fn here(&self, shard: usize) -> Here {
        match current() {
            Some(c) if c.pool == self.addr() => {
                let s = &self.shards[shard];
                if c.shard == shard
                    || s.rescuer.load(Relaxed) == thread_id()
                    || s.host.load(Relaxed) == c.shard
                {
                    Here::Driver
                } else {
                    Here::Elsewhere
                }
            }
            _ => Here::Elsewhere,
        }
    }

    /// Binds an opening socket to a shard and registers it there: `(shard, token)`.
    pub(crate) fn bind(&self, socket: Arc<Socket<D>>, pair: Option<(u16, u16)>) -> (usize, u64) {
        let shard = match pair {
            Some((local, peer)) => {
                let mut pairs = lock(&self.pairs);
                let shard = match pairs.get(&(peer, local)) {
                    Some(&s) => s,
                    None => self.least_loaded(),
                };
                pairs.insert((local, peer), shard);
                shard
            }
            None => self.least_loaded(),
        };
        let s = &self.shards[shard];
        s.bound.fetch_add(1, Relaxed);
        let token = lock(&s.registry).insert(socket);
        (shard, token)
    }

    /// Undoes [`Pool::bind`] (the socket closed, or its open failed).
    pub(crate) fn unbind(&self, shard: usize, token: u64, pair: Option<(u16, u16)>) {
        let s = &self.shards[shard];
        let removed = lock(&s.registry).remove(token);
        if removed.is_some() {
            s.bound.fetch_sub(1, Relaxed);
        }
        // Dropped outside the lock: it may be the last reference to the socket.
        drop(removed);
        if let Some(key) = pair {
            let mut pairs = lock(&self.pairs);
            if pairs.get(&key) == Some(&shard) {
                pairs.remove(&key);
            }
        }
    }

    fn least_loaded(&self) -> usize {
        let n = self.shards.len();
        let start = self.next.fetch_add(1, Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| self.shards[i].bound.load(Relaxed))
            .unwrap_or(0)
    }

    /// How many sockets each shard has (for tests of the spread).
    #[allow(dead_code)]
    pub(crate) fn spread(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.bound.load(Relaxed)).collect()
    }

    fn push(&self, shard: usize, task: Task<D>) {
        let s = &self.shards[shard];
        lock(&s.queue).push_back(task);
        s.queued.fetch_add(1, SeqCst);
        s.wake_if_sleeping();
    }

    /// Has `socket` run on a worker of its shard.
    pub(crate) fn schedule_socket(&self, shard: usize, socket: Arc<Socket<D>>) {
        self.push(shard, Task::Socket(socket));
    }

    /// Runs `job` once on a worker: this one's shard when called from a worker, else the
    /// shards in turn.
    pub(crate) fn execute(&self, job: Box<dyn FnOnce() + Send>) {
        let shard = match current() {
            Some(c) if c.pool == self.addr() => c.shard,
            _ => self.next.fetch_add(1, Relaxed) % self.shards.len(),
        };
        self.push(shard, Task::Job(job));
    }

    /// Runs `job` once on a worker, `delay` from now (or a little later: at the next turn of
    /// that worker after the deadline). There is no cancelling: a job that may be obsolete by
    /// then checks for itself (and should hold weak references).
    pub(crate) fn after(&self, delay: Duration, job: Box<dyn FnOnce() + Send>) {
        let shard = match current() {
            Some(c) if c.pool == self.addr() => c.shard,
            _ => self.next.fetch_add(1, Relaxed) % self.shards.len(),
        };
        let s = &self.shards[shard];
        let at = self
            .now_ns()
            .saturating_add(delay.as_nanos().min(u64::MAX as u128) as u64);
        let seq = self.timer_seq.fetch_add(1, Relaxed);
        let earlier = {
            let mut timers = lock(&s.timers);
            timers.push(Reverse(Timer { at, seq, job }));
            let earliest = timers.peek().map_or(u64::MAX, |t| t.0.at);
            s.next_timer.swap(earliest, SeqCst) > earliest
        };
        if earlier {
            // The worker may be waiting for a later deadline: let it look again.
            s.wake_if_sleeping();
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }

    /// Runs the timers of `shard` that are due.
    fn run_timers(&self, shard: usize) {
        let s = &self.shards[shard];
        if s.next_timer.load(SeqCst) == u64::MAX {
            return;
        }
        loop {
            let now = self.now_ns();
            let due = {
                let mut timers = lock(&s.timers);
                let due = match timers.peek() {
                    Some(t) if t.0.at <= now => timers.pop().map(|t| t.0),
                    _ => None,
                };
                let earliest = timers.peek().map_or(u64::MAX, |t| t.0.at);
                s.next_timer.store(earliest, SeqCst);
                due
            };
            match due {
                Some(t) => self.run_task(Task::Job(t.job)),
                None => return,
            }
        }
    }

    /// Runs user code, publishing that this worker is inside it (see the module docs).
    pub(crate) fn user_code<R>(&self, f: impl FnOnce() -> R) -> R {
        let user = match current() {
            Some(c) if c.pool == self.addr() => c.user,
            _ => return f(),
        };
        // SAFETY: `user` points at the counter of the calling worker's own shard, inside the
        // pool this worker holds an `Arc` of for its whole life.
        let user = unsafe { &*user };
        struct Leave<'a>(&'a AtomicU64);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.store(self.0.load(Relaxed).wrapping_add(1), Release);
            }
        }
        // Only this worker writes its counter: a load and a store are enough.
        user.store(user.load(Relaxed).wrapping_add(1), Release);
        let _leave = Leave(user);
        f()
    }

    /// For a close waiting on the worker of `shard` (this thread) for the kernel: waits a
    /// little for the shard's events and records them (sockets made runnable are queued).
    pub(crate) fn pump(&self, shard: usize) {
        let s = &self.shards[shard];
        let mut work = Work::new(&s.driver);
        s.driver
            .wait(&mut work.scratch, Some(PUMP), false, &mut work.events);
        s.rewake();
        self.dispatch(shard, &mut work, false);
    }

    /// Stops the workers (see the module docs).
    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        for s in self.shards.iter() {
            s.woken.store(true, SeqCst);
            s.driver.wake();
        }
        self.unpark_all();
        let handles = std::mem::take(&mut *lock(&self.threads));
        if !self.is_current_worker() {
            for h in handles {
                let _ = h.join();
            }
        }
    }

    fn run_task(&self, task: Task<D>) {
        let outcome = catch_unwind(AssertUnwindSafe(|| match task {
            Task::Socket(socket) => socket.run(),
            Task::Job(job) => self.user_code(job),
        }));
        if outcome.is_err() {
            eprintln!("asock: a task panicked on an engine worker; the panic was contained");
        }
    }

    /// Hands a batch of `(token, event)` to the sockets of `shard` (looked up under one lock)
    /// and queues those that must run. Every event is recorded before any socket runs (see
    /// [`Socket::record`]), and runnable sockets go through the shard's queue, where a rescuer
    /// finds them if a callback blocks this worker.
    ///
    /// With `run_one`, the first runnable socket runs here at once instead (the others are in
    /// the queue by then, so nothing is left where a rescuer could not see it).
    fn dispatch(&self, shard: usize, work: &mut Work<D>, run_one: bool) {
        if work.events.is_empty() {
            return;
        }
        {
            let registry = lock(&self.shards[shard].registry);
            for (token, ev) in work.events.drain(..) {
                if token >= GUEST_TOKENS {
                    work.guests.push((token - GUEST_TOKENS) as usize);
                } else if let Some(socket) = registry.get(token) {
                    work.found.push((socket, ev));
                }
            }
        }
        let runnable = work
            .found
            .drain(..)
            .filter_map(|(socket, ev)| socket.record(ev).then_some(Task::Socket(socket)));
        work.runnable.extend(runnable);
        let first = if run_one && !work.runnable.is_empty() {
            Some(work.runnable.remove(0))
        } else {
            None
        };
        if !work.runnable.is_empty() {
            let s = &self.shards[shard];
            let n = work.runnable.len();
            lock(&s.queue).extend(work.runnable.drain(..));
            s.queued.fetch_add(n, SeqCst);
            s.wake_if_sleeping();
        }
        if let Some(task) = first {
            self.run_task(task);
        }
    }

    /// Runs the queued work of `shard`, one task at a time (the rest stays in the queue, where
    /// a rescuer finds it while a task blocks), [`TURN_BUDGET`] tasks at the most: a flood of
    /// jobs does not keep the worker from its events.
    fn run_queue(&self, shard: usize) {
        let s = &self.shards[shard];
        for _ in 0..TURN_BUDGET {
            if s.queued.load(SeqCst) == 0 {
                break;
            }
            let task = lock(&s.queue).pop_front();
            let Some(task) = task else { break };
            s.queued.fetch_sub(1, SeqCst);
            self.run_task(task);
        }
    }

    /// One turn of a worker on `shard`: its queued work, the driver's end of the turn, then its
    /// events (waiting for them up to `timeout`; `sleep`: as the shard's
    /// owner, which others wake), recorded and queued. Returns whether events came.
    fn serve(
        &self,
        shard: usize,
        work: &mut Work<D>,
        timeout: Option<Duration>,
        sleep: bool,
    ) -> bool {
        let s = &self.shards[shard];
        self.run_queue(shard);
        s.driver.end_turn();
        self.run_timers(shard);
        let mut timeout = timeout;
        if sleep {
            s.sleeping.store(true, Relaxed);
            // Pairs with the fence of `wake_if_sleeping` (see the module docs): a task queued,
            // or a timer set, after this look wakes the wait.
            fence(SeqCst);
            if s.queued.load(Relaxed) > 0 || self.shutdown.load(Relaxed) {
                timeout = Some(Duration::ZERO);
            }
        }
        let next_timer = if work.hosting {
            self.next_deadline(shard)
        } else {
            s.next_timer.load(SeqCst)
        };
        if next_timer != u64::MAX {
            let next = Duration::from_nanos(next_timer.saturating_sub(self.now_ns()));
            timeout = Some(timeout.map_or(next, |t| t.min(next)));
        }
        if work.hosting && sleep && self.flush_guests(shard, work) {
            timeout = Some(Duration::ZERO);
        }
        let waiting = (work.hosting && sleep).then(Instant::now);
        s.driver
            .wait(&mut work.scratch, timeout, sleep, &mut work.events);
        if let Some(t) = waiting {
            work.waited += t.elapsed();
            work.turns += 1;
        }
        if sleep {
            s.sleeping.store(false, Relaxed);
            s.woken.store(false, SeqCst);
        } else {
            s.rewake();
        }
        let came = !work.events.is_empty();
        if work.hosting {
            // A guest's events are counted by `serve_guest`.
            let own = work.events.iter().filter(|e| e.0 < GUEST_TOKENS).count();
            work.own_events += own as u32;
        }
        self.dispatch(shard, work, true);
        if work.hosting {
            self.add_due_guests(shard, work);
        }
        if !work.guests.is_empty() {
            let mut guests = std::mem::take(&mut work.guests);
            guests.sort_unstable();
            guests.dedup();
            for &g in &guests {
                self.serve_guest(shard, g, work);
            }
            work.guests = guests;
            work.guests.clear();
        }
        came
    }

    fn worker_main(self: Arc<Self>, me: usize) {
        let shard = &self.shards[me];
        let _ = CURRENT.try_with(|c| {
            c.set(Some(Current {
                pool: self.addr(),
                shard: me,
                user: &shard.user,
            }))
        });
        let mut work = Work::new(&shard.driver);
        let mut watch = Watch::new(self.shards.len());
        let alone = self.shards.len() == 1;
        let lends = self.lends();
        let mut load = Load::new();
        work.nested = vec![false; self.shards.len()];
        while !self.shutdown.load(Relaxed) {
            // Registrations of shards no longer lent here go first: a source still registered
            // here must not be asked to report this worker's own (a loop of two sources).
            let was_hosting = work.hosting;
            work.hosting = lends && self.sweep(me, &mut work);
            if lends && !work.hosting && self.try_lend(me, &mut work) {
                self.park(me);
                work.lend_after = Some(Instant::now() + LEND_AGAIN_AFTER);
                continue;
            }
            if work.hosting && !was_hosting {
                load = Load::new();
                work.reset_load();
            }
            let came = self.serve(me, &mut work, if alone { None } else { Some(WATCH) }, true);
            if let Some(stuck) = watch.look(&self, me, !came) {
                self.rescue(me, stuck, &mut work);
            }
            if work.hosting {
                self.check_load(me, &mut load, &mut work);
            }
        }
        // Queued tasks hold their sockets, which hold this pool: drop them (and the registry's
        // references) so the pool and its descriptors can be freed once every worker is gone.
        let leftover = std::mem::take(&mut *lock(&shard.queue));
        let timers = std::mem::take(&mut *lock(&shard.timers));
        drop((leftover, timers, work));
        let sockets = std::mem::take(&mut *lock(&shard.registry));
        drop(sockets);
    }
}
