//! Unit tests of the pool: timers and lending.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::super::epoll::Epoll;
use super::lend::NO_HOST;
use super::{current, Pool, Task};

/// The bound of every wait here, the same as the integration suites' (`tests/common`): it
/// only runs out when something hangs.
const WAIT: Duration = Duration::from_secs(20);

/// Polls `cond` every millisecond until it holds; fails the test after [`WAIT`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Each shard's host (`NO_HOST`: not lent).
fn hosts(pool: &Pool<Epoll>) -> Vec<usize> {
    pool.shards.iter().map(|s| s.host.load(SeqCst)).collect()
}

/// Waits until the idle two-worker `pool` has lent one shard to the other: `(guest, host)`.
fn lent_pair(pool: &Pool<Epoll>) -> (usize, usize) {
    let mut pair = None;
    eventually("an idle worker lends its shard", || {
        let h = hosts(pool);
        pair = (0..2).find(|&g| h[g] != NO_HOST).map(|g| (g, h[g]));
        pair.is_some()
    });
    pair.expect("a lent shard")
}

/// Queues a job on `shard` that reports which shard's worker ran it.
fn probe(pool: &Pool<Epoll>, shard: usize) -> mpsc::Receiver<Option<usize>> {
    let (tx, rx) = mpsc::channel();
    let job = move || {
        let _ = tx.send(current().map(|c| c.shard));
    };
    pool.push(shard, Task::Job(Box::new(job)));
    rx
}

/// An idle pool of three workers keeps one of them awake: the two others lend it their
/// shards, and shutting the pool down with two workers parked returns.
#[test]
fn an_idle_pool_lends_every_shard_but_one_to_one_worker() {
    let pool = Pool::start(3, |_| Epoll::new()).expect("pool");
    eventually("two shards lent to the third worker", || {
        let h = hosts(&pool);
        let awake: Vec<usize> = (0..3).filter(|&k| h[k] == NO_HOST).collect();
        awake.len() == 1 && h.iter().all(|&x| x == NO_HOST || x == awake[0])
    });
    pool.shutdown();
}

/// The host runs a lent shard's jobs and timers, and its own wait is bounded by the lent
/// shard's next deadline.
#[test]
fn the_host_runs_a_lent_shards_jobs_and_timers() {
    let pool = Pool::start(2, |_| Epoll::new()).expect("pool");
    let (guest, host) = lent_pair(&pool);
    let ran_on = probe(&pool, guest).recv_timeout(WAIT);
    assert_eq!(ran_on, Ok(Some(host)), "the lent shard's job ran elsewhere");

    // From a thread that is not a worker, `after` takes the shards in turn: two timers put
    // one on each shard.
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for _ in 0..2 {
        let (tx, p) = (tx.clone(), Arc::clone(&pool));
        let job = move || {
            let _ = tx.send((start.elapsed(), p.is_current_worker()));
        };
        pool.after(Duration::from_millis(300), Box::new(job));
    }
    let guest_deadline = pool.shards[guest].next_timer.load(SeqCst);
    assert_ne!(
        guest_deadline,
        u64::MAX,
        "no timer landed on the lent shard"
    );
    if pool.shards[guest].host.load(SeqCst) == host {
        assert!(pool.next_deadline(host) <= guest_deadline);
    }
    for _ in 0..2 {
        let (at, on_worker) = rx.recv_timeout(WAIT).expect("a timer fired");
        assert!(
            at >= Duration::from_millis(300),
            "a timer fired early: {at:?}"
        );
        assert!(on_worker, "a timer ran off the workers");
    }
    pool.shutdown();
}

/// A host stuck in user code: its guest takes its shard back within a few watch periods and
/// runs that shard's work itself while the host is still stuck.
#[test]
fn a_guest_takes_its_shard_back_from_a_stuck_host() {
    let pool = Pool::start(2, |_| Epoll::new()).expect("pool");
    let (guest, host) = lent_pair(&pool);
    let (started_tx, started_rx) = mpsc::channel();
    let stuck = move || {
        let _ = started_tx.send(());
        thread::sleep(Duration::from_millis(800));
    };
    pool.push(host, Task::Job(Box::new(stuck)));
    started_rx
        .recv_timeout(WAIT)
        .expect("the host runs the blocking job");
    let started = Instant::now();
    let ran_on = probe(&pool, guest).recv_timeout(WAIT);
    assert_eq!(
        ran_on,
        Ok(Some(guest)),
        "the guest's own worker did not run its job"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "the guest's job waited for the stuck host ({:?})",
        started.elapsed()
    );
    pool.shutdown();
}

/// A host whose turns are long (a stream of 3 ms jobs) gives back a guest that has sockets,
/// whose own worker then runs its work.
#[test]
fn a_busy_host_gives_a_guest_with_sockets_back() {
    let pool = Pool::start(2, |_| Epoll::new()).expect("pool");
    let (guest, host) = lent_pair(&pool);
    // As if a socket were bound there (only whether there is one matters).
    pool.shards[guest].bound.fetch_add(1, SeqCst);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
        thread::spawn(move || {
            let deadline = Instant::now() + WAIT;
            while !stop.load(SeqCst) && Instant::now() < deadline {
                if pool.shards[host].queued.load(SeqCst) < 2 {
                    let spin = || {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(3) {
                            std::hint::spin_loop();
                        }
                    };
                    pool.push(host, Task::Job(Box::new(spin)));
                }
                thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let deadline = Instant::now() + WAIT;
    let mut given_back = false;
    while !given_back && Instant::now() < deadline {
        given_back = probe(&pool, guest).recv_timeout(WAIT) == Ok(Some(guest));
    }
    stop.store(true, SeqCst);
    feeder.join().expect("the feeder");
    assert!(given_back, "the busy host kept its guest for {WAIT:?}");
    pool.shards[guest].bound.fetch_sub(1, SeqCst);
    pool.shutdown();
}

/// Timers run once each, in deadline order, not before their deadline, on a worker, also
/// when an earlier one is set while the worker waits for a later one.
#[test]
fn timers_fire_once_in_deadline_order_after_their_delay() {
    let pool = Pool::start(2, |_| Epoll::new()).expect("pool");
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for (label, ms) in [("late", 60u64), ("early", 20), ("middle", 40)] {
        let (tx, p) = (tx.clone(), std::sync::Arc::clone(&pool));
        pool.after(
            Duration::from_millis(ms),
            Box::new(move || {
                let _ = tx.send((label, start.elapsed(), p.is_current_worker()));
            }),
        );
    }
    drop(tx);
    let got: Vec<_> = rx.iter().collect();
    let labels: Vec<_> = got.iter().map(|g| g.0).collect();
    assert_eq!(labels, ["early", "middle", "late"]);
    for (label, at, on_worker) in &got {
        let want = match *label {
            "early" => 20,
            "middle" => 40,
            _ => 60,
        };
        assert!(*at >= Duration::from_millis(want), "{label} at {at:?}");
        assert!(*on_worker, "{label} ran off the engine's workers");
    }
    pool.shutdown();
}

/// A wake-up taken by another thread that waits on a lent shard's source (a close pumping it,
/// a rescuer's last slice) is sent again: with such a thread pumping the lent shard all the
/// while, every job queued on it still runs.
#[test]
fn a_wake_up_taken_by_another_thread_still_reaches_the_host() {
    let pool = Pool::start(2, |_| Epoll::new()).expect("pool");
    let (guest, _host) = lent_pair(&pool);
    let stop = Arc::new(AtomicBool::new(false));
    let thief = {
        let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                pool.pump(guest);
            }
        })
    };
    for i in 0..200 {
        let ran = probe(&pool, guest).recv_timeout(WAIT);
        assert!(ran.is_ok(), "job {i} queued on the lent shard never ran");
    }
    stop.store(true, SeqCst);
    thief.join().expect("the pumping thread");
    pool.shutdown();
}
