//! Rescuing the shard of a worker stuck in user code (see the parent module's docs): the
//! other workers' look at the user-code counters, and the stand-in.

use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::super::driver::Driver;
use super::{thread_id, Pool, Work, RESCUE_SLICE, WATCH};

impl<D: Driver> Pool<D> {
    /// Serves `stuck`'s shard besides this worker's own until its owner leaves the user code it
    /// was found in.
    pub(super) fn rescue(&self, me: usize, stuck: usize, work: &mut Work<D>) {
        let s = &self.shards[stuck];
        let me_id = thread_id();
        if s.rescuer
            .compare_exchange(0, me_id, SeqCst, SeqCst)
            .is_err()
        {
            return;
        }
        let seen = s.user.load(Acquire);
        while seen & 1 == 1 && s.user.load(Acquire) == seen && !self.shutdown.load(Relaxed) {
            self.serve(stuck, work, Some(RESCUE_SLICE), false);
            self.serve(me, work, Some(Duration::ZERO), false);
        }
        s.rescuer.store(0, SeqCst);
    }
}

/// Turns between two looks at the clock while a worker is busy.
const LOOK_EVERY: u32 = 16;

/// A worker's look at the others' user-code counters, every [`WATCH`].
pub(super) struct Watch {
    seen: Vec<u64>,
    at: Instant,
    turns: u32,
}

impl Watch {
    pub(super) fn new(n: usize) -> Self {
        Watch {
            seen: vec![0; n],
            at: Instant::now(),
            turns: 0,
        }
    }

    /// A shard whose owner has been inside the same piece of user code since the last look
    /// (at least [`WATCH`] ago), if any. The clock is read when this worker was idle (its wait
    /// timed out) or every [`LOOK_EVERY`] busy turns, not on every turn.
    pub(super) fn look<D: Driver>(
        &mut self,
        pool: &Pool<D>,
        me: usize,
        idle: bool,
    ) -> Option<usize> {
        if self.seen.len() < 2 {
            return None;
        }
        self.turns += 1;
        if !idle && self.turns < LOOK_EVERY {
            return None;
        }
        self.turns = 0;
        if self.at.elapsed() < WATCH {
            return None;
        }
        self.at = Instant::now();
        let mut stuck = None;
        for (k, s) in pool.shards.iter().enumerate() {
            let now = s.user.load(Acquire);
            if k != me && now & 1 == 1 && now == self.seen[k] && stuck.is_none() {
                stuck = Some(k);
            }
            self.seen[k] = now;
        }
        stuck
    }
}
