//! The Linux engine's shards: where sockets are bound, what a blocking callback costs the other
//! sockets of its worker, and closes that cross sockets of one worker. Every wait is bounded.
#![cfg(target_os = "linux")] // sockets are bound to workers on Linux only

mod common;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketState};
use common::*;

/// How many of `sockets` each of the engine's workers has.
fn per_worker(engine: &ExecutionEngine, sockets: &[&AsyncSocket]) -> Vec<usize> {
    let mut counts = vec![0; engine.thread_count()];
    for s in sockets {
        counts[s.worker().expect("an open socket is bound to a worker")] += 1;
    }
    counts
}

/// 13.1: both ends of a loopback connection opened on one engine share a worker (a ping-pong
/// between them then never leaves that thread), and connections spread evenly over the
/// workers (a hash of the two ports once put all 256 on one worker).
#[test]
fn loopback_pairs_share_a_worker_and_spread_evenly() {
    for threads in [2, 3, 4] {
        let engine = engine_with_threads(threads);
        let pairs: Vec<(AsyncSocket, AsyncSocket)> =
            (0..256).map(|_| socket_pair(&engine)).collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            assert_eq!(a.worker(), b.worker(), "pair {i} on {threads} workers");
        }
        let clients: Vec<&AsyncSocket> = pairs.iter().map(|(a, _)| a).collect();
        let counts = per_worker(&engine, &clients);
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(
            max - min <= 1,
            "{threads} workers: pairs per worker {counts:?}"
        );
    }
}

/// Sockets whose peer is not on the engine spread by count, and a closed socket frees its place.
#[test]
fn sockets_go_to_the_least_loaded_worker_and_leave_it_at_close() {
    let engine = engine_with_threads(4);
    let mut sockets: Vec<(AsyncSocket, asock::SocketTransport)> =
        (0..100).map(|_| socket_and_raw_peer(&engine)).collect();
    let counts = per_worker(&engine, &sockets.iter().map(|(s, _)| s).collect::<Vec<_>>());
    assert_eq!(counts, [25, 25, 25, 25]);
    // Close every socket of worker 0: new sockets go there first.
    for (s, _) in &sockets {
        if s.worker() == Some(0) {
            s.close();
            assert_eq!(s.worker(), None);
        }
    }
    sockets.retain(|(s, _)| s.state() == SocketState::Open);
    let fresh: Vec<(AsyncSocket, asock::SocketTransport)> =
        (0..25).map(|_| socket_and_raw_peer(&engine)).collect();
    assert!(fresh.iter().all(|(s, _)| s.worker() == Some(0)));
}

/// Two pairs bound to the same worker: `(a1, b1, a2, b2)`.
fn two_pairs_on_one_worker(
    engine: &ExecutionEngine,
) -> (AsyncSocket, AsyncSocket, AsyncSocket, AsyncSocket) {
    let (a1, b1) = socket_pair(engine);
    let mut others = Vec::new();
    loop {
        let (a2, b2) = socket_pair(engine);
        if a2.worker() == a1.worker() {
            return (a1, b1, a2, b2);
        }
        others.push((a2, b2));
        assert!(
            others.len() < 16,
            "no second pair on worker {:?}",
            a1.worker()
        );
    }
}

/// 13.4: a callback that blocks (1 s) stalls the other sockets of its own worker only until an
/// idle worker rescues the shard (about 20-40 ms): a round trip on another pair of the same
/// worker completes while the slow callback still sleeps.
#[test]
fn a_slow_callback_does_not_stall_another_socket_of_its_own_worker() {
    let engine = engine_with_threads(2);
    let (a1, b1, a2, b2) = two_pairs_on_one_worker(&engine);
    round_trip_while_a_callback_sleeps(&a1, &b1, &a2, &b2);
    // The slow socket works normally afterwards.
    let (r, _) = send_and_wait(&a1, vec![b"t".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b1, 1, 1), b"t");
}

/// 13.3: a completion of one socket closes another socket of the same worker, which has a
/// receive pending and a send stuck in the kernel (the peer does not read): the close makes
/// progress on that worker itself (it is the thread that hears from the kernel), abandons both
/// operations before it returns, and the worker goes on.
#[test]
fn a_completion_can_close_another_socket_of_its_own_worker() {
    let engine = engine_with_threads(2);
    let (a1, b1, a2, _b2) = two_pairs_on_one_worker(&engine);
    let a2 = Arc::new(a2);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    a2.receive(vec![vec![0u8; 8]], move |r, n, _| {
        let _ = t.send(format!("receive {r:?} {n}"));
    })
    .expect("receive accepted");
    let t = tx.clone();
    a2.send(vec![vec![7u8; 64 * 1024 * 1024]], move |r, _| {
        let _ = t.send(format!("send {r:?}"));
    })
    .expect("send accepted");
    let (victim, t) = (Arc::clone(&a2), tx.clone());
    b1.receive(vec![vec![0u8; 1]], move |_, _, _| {
        victim.close();
        let _ = t.send(format!("closed {:?}", victim.state()));
    })
    .expect("receive accepted");
    drop(tx);
    let (r, _) = send_and_wait(&a1, vec![b"x".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    let got = wait_for_n(&rx, 3, "the close from the other socket's completion");
    assert_eq!(got[2], "closed Closed", "{got:?}");
    assert!(
        got[..2].contains(&"receive Abandoned 0".to_string()),
        "{got:?}"
    );
    assert!(got[..2].contains(&"send Abandoned".to_string()), "{got:?}");
    assert_no_more(&rx, "completions");
    // The worker still serves its other sockets.
    let (r, _) = send_and_wait(&b1, vec![b"y".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&a1, 1, 1), b"y");
}

/// Lending: after an idle spell, in which one of two idle workers lends its shard to the other
/// and parks, a socket that keeps busy is served by its own worker again (its completions run
/// on that worker's thread), whichever of the two was lent.
#[test]
fn a_busy_socket_is_served_by_its_own_worker_after_an_idle_spell() {
    let engine = engine_with_threads(2);
    let (a, b) = socket_pair(&engine);
    let own = format!("asock-worker-{}", b.worker().expect("bound"));
    // The idle spell itself: nothing runs on the engine meanwhile.
    thread::sleep(Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut in_a_row, mut round_trips) = (0, 0);
    while in_a_row < 50 {
        assert!(
            Instant::now() < deadline,
            "after {round_trips} round trips the completions still ran off {own}"
        );
        let (tx, rx) = mpsc::channel();
        b.receive(vec![vec![0u8; 4]], move |r, n, _| {
            let _ = tx.send((r, n, thread::current().name().map(String::from)));
        })
        .expect("receive accepted");
        let (r, _) = send_and_wait(&a, vec![b"ping".to_vec()]);
        assert_eq!(r, SendResult::Ok);
        let (r, n, name) = wait_for(&rx, "the receive");
        assert_eq!((r, n), (ReceiveResult::Ok, 4));
        round_trips += 1;
        in_a_row = if name.as_deref() == Some(own.as_str()) {
            in_a_row + 1
        } else {
            0
        };
    }
}

/// Keeps one receive pending on `socket`, each posted from the completion of the one before
/// (as a stream's read loop does), and reports every byte that arrives.
fn receive_chain(socket: Arc<AsyncSocket>, tx: mpsc::Sender<u8>) {
    let next = Arc::clone(&socket);
    socket
        .receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            if r == ReceiveResult::Ok && n == 1 && tx.send(bufs[0][0]).is_ok() {
                receive_chain(next, tx);
            }
        })
        .expect("receive accepted");
}

/// Lending: a lent shard's sockets keep working while its host serves them. One connection on
/// each of two idle workers (so one of them is on the lent shard, whichever that is), its peer
/// outside the engine, with a receive always pending, re-posted from each completion: every
/// byte the peer sends, a few milliseconds apart so that each receive first finds its socket
/// drained, arrives.
#[test]
fn a_receive_posted_from_a_completion_on_a_lent_shard_completes() {
    let engine = engine_with_threads(2);
    let (b1, peer1) = socket_and_raw_peer(&engine);
    let (b2, peer2) = socket_and_raw_peer(&engine);
    assert_ne!(b1.worker(), b2.worker(), "one connection on each worker");
    let (b1, b2) = (Arc::new(b1), Arc::new(b2));
    let (tx1, rx1) = mpsc::channel();
    let (tx2, rx2) = mpsc::channel();
    receive_chain(Arc::clone(&b1), tx1);
    receive_chain(Arc::clone(&b2), tx2);
    // The idle spell: one worker lends its shard to the other.
    thread::sleep(Duration::from_millis(100));
    for i in 0..100u8 {
        for (peer, rx) in [(&peer1, &rx1), (&peer2, &rx2)] {
            raw_send(peer, &[i]);
            assert_eq!(wait_for(rx, "the byte on the chained receive"), i);
        }
        thread::sleep(Duration::from_millis(2));
    }
    b1.close();
    b2.close();
}
