//! Regression tests of close races found by the loom model (src/sys/epoll/loom_tests.rs), on
//! the real engine and real sockets. Every wait is bounded: a hang fails the test.
mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use asock::{AsyncSocket, ReceiveResult, SocketState};
use common::*;

/// Runs `f` on its own thread and fails the test if it has not returned within `limit` (the
/// blocked thread is left behind; the process exits with the failure).
fn within(limit: Duration, what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => {}
        Err(_) => panic!("{what}: still blocked after {limit:?} (deadlock)"),
    }
}

/// C9, C10: `close_with` (a close on an engine worker) racing a drop on the caller's thread.
/// The drop's close begins first and queues the delivery of the pending receive on the engine;
/// the worker that runs the `close_with` job must deliver it itself instead of waiting for a
/// task queued behind it on its own thread (before the fix, the worker and the drop waited for
/// each other forever).
#[test]
fn close_with_racing_a_drop_on_a_one_thread_engine_does_not_deadlock() {
    within(Duration::from_secs(30), "close_with + drop", || {
        let engine = engine_with_threads(1);
        for round in 0..200 {
            let (socket, _peer) = socket_and_raw_peer(&engine);
            let (tx, rx) = mpsc::channel();
            let t = tx.clone();
            socket
                .receive(vec![vec![0u8; 8]], move |r, _, _| {
                    let _ = t.send(format!("receive {r:?}"));
                })
                .expect("receive accepted");
            socket.close_with(move || {
                let _ = tx.send("closed".to_string());
            });
            drop(socket);
            let got = wait_for_n(&rx, 2, &format!("round {round}"));
            assert_eq!(
                got,
                [
                    format!("receive {:?}", ReceiveResult::Abandoned),
                    "closed".to_string()
                ],
                "round {round}"
            );
        }
    });
}

/// C9: a close that finds another close under way, made from a worker of the socket's engine
/// (a completion of another socket), returns once the socket is CLOSED.
#[test]
fn close_from_a_worker_while_another_close_is_under_way_returns_closed() {
    within(Duration::from_secs(30), "close from a worker", || {
        let engine = engine_with_threads(1);
        for round in 0..100 {
            let (a, _pa) = socket_and_raw_peer(&engine);
            let (b, _pb) = socket_and_raw_peer(&engine);
            let a = std::sync::Arc::new(a);
            let (tx, rx) = mpsc::channel();
            let t = tx.clone();
            a.receive(vec![vec![0u8; 1]], move |r, _, _| {
                let _ = t.send(format!("a {r:?}"));
            })
            .expect("receive on a accepted");
            let a2 = std::sync::Arc::clone(&a);
            // b's notify OUT completes at once on a worker; its callback closes `a` there.
            b.notify_io(asock::NotifyType::Out, move |_| {
                a2.close();
                let _ = tx.send(format!("closed from worker: {:?}", a2.state()));
            })
            .expect("notify accepted");
            a.close();
            let mut got = wait_for_n(&rx, 2, &format!("round {round}"));
            got.sort();
            assert_eq!(
                got,
                [
                    format!("a {:?}", ReceiveResult::Abandoned),
                    format!("closed from worker: {:?}", SocketState::Closed)
                ],
                "round {round}"
            );
            drop((a, b));
        }
        let _ = AsyncSocket::new(&engine).expect("the engine still works");
    });
}
