//! The io_uring backend specifically (the whole suite also runs on it with
//! `ASOCK_BACKEND=uring`): it is chosen when asked for, works beside an epoll engine in one
//! process, survives many open / close cycles with operations in flight (stale completions of a
//! closed socket are ignored), and a close from inside a completion on a one-thread engine, with
//! a large send in flight, returns with every buffer handed back.
#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asock::{
    AsyncSocket, Backend, BackendChoice, ExecutionEngine, ExecutionEngineParameters, ReceiveResult,
    SendResult,
};
use common::*;

fn uring_engine(threads: u32) -> ExecutionEngine {
    let params = ExecutionEngineParameters {
        min_thread_count: threads,
        max_thread_count: 0,
    };
    let engine = ExecutionEngine::with_backend(Some(params), BackendChoice::Uring)
        .expect("io_uring is available on this kind of machine (kernel 6.18, no seccomp filter)");
    assert_eq!(engine.backend(), Backend::Uring);
    engine
}

#[test]
fn an_explicit_choice_is_honoured_and_visible() {
    let e = ExecutionEngine::with_backend(None, BackendChoice::Epoll).expect("epoll");
    assert_eq!(e.backend(), Backend::Epoll);
    assert!(format!("{e:?}").contains("Epoll"), "{e:?}");
    let u = uring_engine(2);
    assert_eq!(u.thread_count(), 2);
    assert!(format!("{u:?}").contains("Uring"), "{u:?}");
    assert_eq!(BackendChoice::parse("uring"), Some(BackendChoice::Uring));
    assert_eq!(BackendChoice::parse("EPOLL"), Some(BackendChoice::Epoll));
    assert_eq!(BackendChoice::parse("auto"), Some(BackendChoice::Auto));
    assert_eq!(BackendChoice::parse("kqueue"), None);
}

/// Ping-pong between a socket on an io_uring engine and one on an epoll engine: 2,000 round
/// trips of 64 bytes, every byte checked.
#[test]
fn a_uring_socket_talks_to_an_epoll_socket() {
    let uring = uring_engine(2);
    let epoll = ExecutionEngine::with_backend(None, BackendChoice::Epoll).expect("epoll");
    let (a, b) = transport_pair();
    let a = open_on(&uring, a);
    let b = open_on(&epoll, b);
    for round in 0..2000u32 {
        let msg = pattern(64, round as u8);
        let (r, _) = send_and_wait(&a, vec![msg.clone()]);
        assert_eq!(r, SendResult::Ok, "round {round}");
        assert_eq!(receive_exactly(&b, 64, 64), msg, "round {round}");
        let (r, _) = send_and_wait(&b, vec![msg.clone()]);
        assert_eq!(r, SendResult::Ok, "round {round}");
        assert_eq!(receive_exactly(&a, 64, 64), msg, "round {round}");
    }
}

/// 300 open / close cycles on one async socket, each with a receive in flight in the kernel when
/// close cancels it: every receive completes ABANDONED exactly once, and a completion left over
/// from a closed round never reaches the next one.
#[test]
fn open_close_cycles_with_receives_in_flight() {
    let engine = uring_engine(1);
    let socket = AsyncSocket::new(&engine).expect("create");
    let (tx, rx) = mpsc::channel();
    for round in 0..300u32 {
        let (mine, peer) = transport_pair();
        socket.open(mine).expect("open");
        let t = tx.clone();
        socket
            .receive(vec![vec![0u8; 32]], move |r, n, _| {
                let _ = t.send((round, r, n));
            })
            .expect("receive accepted");
        if round % 3 == 0 {
            // Let the RecvMsg reach the kernel and park on the socket first.
            std::thread::sleep(Duration::from_micros(200));
        }
        socket.close();
        assert_eq!(
            rx.try_recv(),
            Ok((round, ReceiveResult::Abandoned, 0)),
            "round {round}"
        );
        drop(peer);
    }
    drop((socket, tx));
    assert_no_more(&rx, "completions");
}

/// C6, C9: on a one-thread engine (the poller is the only thread that could reap), a receive
/// callback closes its own socket while a 32 MiB send sits in the kernel; close returns, the send
/// completes ABANDONED with its buffer, and the engine keeps working.
#[test]
fn close_inside_a_completion_on_one_thread_cancels_a_send_in_flight() {
    let engine = uring_engine(1);
    let (socket, peer) = socket_and_raw_peer(&engine);
    let socket = Arc::new(socket);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    socket
        .send(vec![vec![7u8; 32 << 20]], move |r, bufs| {
            let _ = t.send(format!("send {r:?} {}", bufs[0].len()));
        })
        .expect("send accepted");
    let s = Arc::clone(&socket);
    socket
        .receive(vec![vec![0u8; 8]], move |r, n, _| {
            let started = Instant::now();
            s.close();
            let _ = tx.send(format!(
                "receive {r:?} {n}, closed in {:?}: {}",
                s.state(),
                started.elapsed() < Duration::from_secs(5)
            ));
        })
        .expect("receive accepted");
    raw_send(&peer, b"go");
    // The close inside the receive callback delivers the abandoned send before that callback
    // reports.
    let got = wait_for_n(&rx, 2, "completions");
    assert_eq!(
        got,
        [
            format!("send {:?} {}", SendResult::Abandoned, 32 << 20),
            format!("receive {:?} 2, closed in Closed: true", ReceiveResult::Ok),
        ]
    );
    let (a, b) = socket_pair(&engine);
    let (r, _) = send_and_wait(&a, vec![b"still works".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 11, 64), b"still works");
}
