//! Lending an idle shard, so that no more workers are awake than the load needs.
//!
//! A worker whose shard has nothing to do sleeps on its own event source and is woken for every
//! event of its sockets, even while another worker is awake anyway. With few cores, two
//! half-busy workers and the threads that feed them then preempt one another far more often
//! than one busier worker would. So a worker that finds its shard idle *lends* it to a worker
//! that is not lent itself, its *host*: the host's event source reports the guest's (the
//! host registers the guest's epoll instance or ring in its own, [`Driver::host`], on its next
//! turn), and the host serves the guest's queue, timers and events besides its own while the
//! guest's thread parks.
//!
//! The host gives a guest back when its turns grow long (over [`SLOW_TURN`] on average for a
//! while: so many sockets are ready at once that each waits that long for its turn, and the load
//! wants another thread); a parked guest whose host is found inside the same
//! piece of user code for [`WATCH`] takes its shard back itself, and then rescues the host's
//! shard as any idle worker would.
//!
//! # Rules
//! * Lending and giving back happen under the pool's `lending` lock. A host never lends and a
//!   worker lends only to one that is not lent, so one worker at least is always awake (the last
//!   has nobody left to lend to).
//! * While lent, a shard's `sleeping` flag stays set, so work queued for it signals its wake-up
//!   descriptor, which the host's source reports. The host holds the shard's `woken` flag while
//!   it serves the shard, clears it and then looks at the queue once more (the pairing an
//!   owner's sleep has).
//! * The host is the thread that hears from the kernel for a lent shard ([`Pool::here`] says
//!   [`Here::Driver`](super::Here::Driver) there); a socket is still never run by two threads at
//!   once (its runner protocol), also in the brief overlap after a guest took its shard back
//!   from a stuck host.
//! * Only the host touches its own source's registrations of guests ([`Pool::sweep`], before
//!   each of its turns), so lending and giving back are two stores under the lock and a wake-up.
//! * Only sources that can be registered inside one another lend ([`Driver::LENDS`]: an epoll
//!   instance in another, a ring's descriptor polled by another ring); the loom models run
//!   without lending.

use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::super::driver::{Driver, MAX_LENDING_SHARDS};
use super::super::sync::{fence, lock};
use super::{Pool, Work, WATCH};
use crate::core::poison::unpoisoned;

/// `Shard::host` of a shard that is not lent.
pub(super) const NO_HOST: usize = usize::MAX;
/// How long a host measures its load over.
const LOAD_WINDOW: Duration = Duration::from_millis(4);
/// A host whose turns take longer than this on average gives a guest back.
const SLOW_TURN: Duration = Duration::from_millis(1);
/// Load windows in a row with slow turns after which a host gives a guest back.
const SLOW_WINDOWS: u32 = 2;
/// A worker given its shard back stays awake at least this long (it was given back because
/// the load wanted it: lending again at its first idle moment would only churn).
pub(super) const LEND_AGAIN_AFTER: Duration = Duration::from_millis(20);

/// A host's measure of how busy it is.
pub(super) struct Load {
    since: Instant,
    slow: u32,
}

impl Load {
    pub(super) fn new() -> Self {
        Load {
            since: Instant::now(),
            slow: 0,
        }
    }
}

impl<D: Driver> Pool<D> {
    /// Whether this pool's workers lend their shards.
    pub(super) fn lends(&self) -> bool {
        D::LENDS && self.shards.len() > 1 && self.shards.len() <= MAX_LENDING_SHARDS
    }

    /// Whether worker `me` serves any lent shard.
    pub(super) fn hosts_any(&self, me: usize) -> bool {
        self.shards.iter().any(|s| s.host.load(Relaxed) == me)
    }

    /// The worker `me` would lend its shard to: one that is not lent, preferably one that is
    /// awake.
    fn host_for(&self, me: usize) -> Option<usize> {
        let candidates = || {
            (0..self.shards.len())
                .filter(move |&k| k != me && self.shards[k].host.load(Relaxed) == NO_HOST)
        };
        candidates()
            .find(|&k| !self.shards[k].sleeping.load(Relaxed))
            .or_else(|| candidates().next())
    }

    /// Lends the shard of worker `me` if it has nothing to do and somebody can take it; the
    /// caller then parks ([`Pool::park`]).
    pub(super) fn try_lend(&self, me: usize, work: &mut Work<D>) -> bool {
        // A rescuer still serving this shard would take wake-ups meant for the host.
        let rescued = self.shards[me].rescuer.load(SeqCst) != 0;
        if rescued || self.hosts_any(me) || self.host_for(me).is_none() {
            return false;
        }
        if let Some(at) = work.lend_after {
            if Instant::now() < at {
                return false;
            }
            work.lend_after = None;
        }
        // Nothing now? (Whatever comes, the worker serves at once and tries again later.)
        if self.serve(me, work, Some(Duration::ZERO), false) {
            return false;
        }
        let s = &self.shards[me];
        s.sleeping.store(true, Relaxed);
        // As before an owner's sleep: work queued after this look signals the wake-up
        // descriptor, which the host's source reports once the shard is registered there.
        fence(SeqCst);
        let host = if s.queued.load(Relaxed) == 0 && !self.shutdown.load(Relaxed) {
            let _lending = lock(&self.lending);
            let h = self.host_for(me).filter(|_| !self.hosts_any(me));
            if let Some(h) = h {
                s.host.store(h, SeqCst);
            }
            h
        } else {
            None
        };
        let Some(h) = host else {
            s.sleeping.store(false, Relaxed);
            return false;
        };
        // The host registers this shard's source in its own on its next turn ([`Pool::sweep`]),
        // and takes this shard's timers into account.
        self.shards[h].driver.wake();
        true
    }

    /// On worker `me` before each turn: registers the sources of the shards lent to it in its
    /// own, and takes out those given back since (by `me`, or taken back by their owner).
    /// Returns whether `me` hosts any shard now. A shard whose source cannot be registered is
    /// given back at once.
    pub(super) fn sweep(&self, me: usize, work: &mut Work<D>) -> bool {
        let mut hosting = false;
        for (k, g) in self.shards.iter().enumerate() {
            let lent_here = g.host.load(SeqCst) == me;
            if lent_here != work.nested[k] {
                let own = &self.shards[me].driver;
                if !lent_here {
                    own.unhost(&g.driver, k);
                } else if own.host(&g.driver, k).is_err() {
                    self.give_back(me, k);
                    continue;
                }
                work.nested[k] = lent_here;
            }
            hosting |= lent_here;
        }
        hosting
    }

    /// Parks worker `me` while its shard is lent: until the host gives it back, the pool shuts
    /// down, or the host is found stuck in user code (then `me` takes its shard back).
    pub(super) fn park(&self, me: usize) {
        let s = &self.shards[me];
        let mut seen = None;
        let mut parked = lock(&s.park);
        while !self.shutdown.load(SeqCst) {
            let h = s.host.load(SeqCst);
            if h == NO_HOST {
                break;
            }
            let (p, waited) = unpoisoned(s.unpark.wait_timeout(parked, WATCH));
            parked = p;
            if waited.timed_out() {
                let now = self.shards[h].user.load(Acquire);
                if now & 1 == 1 && seen == Some(now) {
                    drop(parked);
                    self.give_back(h, me);
                    parked = lock(&s.park);
                    continue;
                }
                seen = Some(now);
            }
        }
        drop(parked);
        s.sleeping.store(false, Relaxed);
        s.woken.store(false, SeqCst);
    }

    /// Ends the lending of `guest` to `host` (by either of them) and unparks the guest.
    fn give_back(&self, host: usize, guest: usize) {
        let g = &self.shards[guest];
        {
            let _lending = lock(&self.lending);
            if g.host.load(SeqCst) != host {
                return;
            }
            // The host takes the shard's source out of its own on its next turn.
            g.host.store(NO_HOST, SeqCst);
        }
        let _parked = lock(&g.park);
        g.unpark.notify_all();
    }

    /// Unparks every parked worker (shutdown).
    pub(super) fn unpark_all(&self) {
        for s in self.shards.iter() {
            let _parked = lock(&s.park);
            s.unpark.notify_all();
        }
    }

    /// Serves lent shard `g` on its host (this thread): its queue, timers and events, once.
    /// What is still queued afterwards has the host's next wait return at once (see the module
    /// docs for the `woken` pairing).
    pub(super) fn serve_guest(&self, me: usize, g: usize, work: &mut Work<D>) {
        let s = &self.shards[g];
        if s.host.load(SeqCst) != me {
            return;
        }
        // No wake-ups while the host is looking.
        s.woken.store(true, SeqCst);
        self.run_queue(g);
        s.driver.end_turn();
        self.run_timers(g);
        s.driver.wait(
            &mut work.scratch,
            Some(Duration::ZERO),
            false,
            &mut work.events,
        );
        work.guest_events += work.events.len() as u32;
        self.dispatch(g, work, true);
        self.run_queue(g);
        // What the shard's sockets started meanwhile goes to the kernel now: nobody else
        // enters the shard's source before its next turn here (which `flush_guests` brings
        // forward if the source wants it).
        s.driver.flush();
        s.woken.store(false, SeqCst);
        if s.queued.load(SeqCst) > 0 {
            s.wake_if_sleeping();
        }
    }

    /// Before host `me` waits: what its turn started on the sockets of the shards it hosts (a
    /// callback of one of its sockets writing to a socket of a guest, say) goes to the kernel.
    /// A guest whose source wants another turn at once ([`Driver::flush`]) is added to those
    /// the host serves after its wait; returns whether there is one (the wait then does not
    /// wait).
    pub(super) fn flush_guests(&self, me: usize, work: &mut Work<D>) -> bool {
        let mut again = false;
        for (k, s) in self.shards.iter().enumerate() {
            if s.host.load(Relaxed) == me && s.driver.flush() {
                again = true;
                if !work.guests.contains(&k) {
                    work.guests.push(k);
                }
            }
        }
        again
    }

    /// Adds the shards host `me` serves that have work queued or a timer due to those its turn
    /// serves, as an owner looks at its queue and timers every turn (a source reports
    /// neither: a timer is silent, and a wake-up may have been taken by another thread).
    pub(super) fn add_due_guests(&self, me: usize, work: &mut Work<D>) {
        let now = self.now_ns();
        for (k, s) in self.shards.iter().enumerate() {
            if s.host.load(Relaxed) == me
                && (s.next_timer.load(SeqCst) <= now || s.queued.load(SeqCst) > 0)
                && !work.guests.contains(&k)
            {
                work.guests.push(k);
            }
        }
    }

    /// The earliest timer deadline of `me`'s shard and the shards it hosts.
    pub(super) fn next_deadline(&self, me: usize) -> u64 {
        self.shards
            .iter()
            .enumerate()
            .filter(|(k, s)| *k == me || s.host.load(Relaxed) == me)
            .map(|(_, s)| s.next_timer.load(SeqCst))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// After a turn of host `me`, once per [`LOAD_WINDOW`]:
    /// * when only guests had events in the window, gives them all back: the host's own shard
    ///   is the idle one, and it lends it in turn (an awake worker serves its own sockets
    ///   without the extra look a guest's events cost);
    /// * when the host's turns (its work between two waits) were longer than [`SLOW_TURN`] on
    ///   average for [`SLOW_WINDOWS`] windows in a row, gives back a guest that has sockets: so
    ///   many sockets are ready at once that each waits that long for its turn while a worker
    ///   sleeps.
    ///
    /// `work` counts the host's time in its waits, its turns and the events of its own shard
    /// and of its guests since the last look.
    pub(super) fn check_load(&self, me: usize, load: &mut Load, work: &mut Work<D>) {
        let elapsed = load.since.elapsed();
        if elapsed < LOAD_WINDOW {
            return;
        }
        let busy = elapsed.saturating_sub(work.waited);
        let per_turn = busy / work.turns.max(1);
        let (own, guests) = (work.own_events, work.guest_events);
        load.since = Instant::now();
        work.reset_load();
        let hosted = |k: usize| self.shards[k].host.load(Relaxed) == me;
        if own == 0 && guests > 0 {
            load.slow = 0;
            for g in (0..self.shards.len()).filter(|&k| hosted(k)) {
                self.give_back(me, g);
            }
            return;
        }
        if per_turn < SLOW_TURN {
            load.slow = 0;
            return;
        }
        load.slow += 1;
        if load.slow < SLOW_WINDOWS {
            return;
        }
        load.slow = 0;
        let busy_guest =
            (0..self.shards.len()).find(|&k| hosted(k) && self.shards[k].bound.load(Relaxed) > 0);
        if let Some(g) = busy_guest {
            self.give_back(me, g);
        }
    }
}
