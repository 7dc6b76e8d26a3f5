//! What the seed leaves open, as the contract has it: completions on pool threads and in
//! submission order, sends that never interleave, full duplex under back-pressure, close from
//! inside callbacks, `close_with`, engine jobs, the engine's last reference, panics.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use asock::fault::{self, Call, CallKind, Fault, Outcome};
use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketState};

use crate::common::*;

#[test]
fn completions_run_on_pool_threads_never_inside_the_submitting_call() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let me = thread::current().id();
    // Even a send that WSASend completes at once is delivered through the pool: on another
    // thread, so never on the submitting call's stack.
    for _ in 0..20 {
        let (r, _, on) = recv(&send(&a, vec![b"x".to_vec()]), "send");
        assert_eq!(r, SendResult::Ok);
        assert_ne!(on, me);
        let (r, n, _, on) = recv(&receive(&b, vec![vec![0u8; 1]]), "receive");
        assert_eq!((r, n), (ReceiveResult::Ok, 1));
        assert_ne!(on, me);
    }
}

#[test]
fn receives_and_sends_complete_in_submission_order() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (a, b) = socket_pair(&engine);
    let (tx, rx) = mpsc::channel();
    const N: usize = 200;
    for i in 0..N {
        let tx = tx.clone();
        b.receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            tx.send((i, r, n, bufs[0][0])).unwrap();
        })
        .unwrap();
    }
    let (stx, srx) = mpsc::channel();
    for i in 0..N {
        let stx = stx.clone();
        a.send(vec![vec![i as u8]], move |r, _| stx.send((i, r)).unwrap())
            .unwrap();
    }
    for i in 0..N {
        let (j, r) = recv(&srx, "send");
        assert_eq!((j, r), (i, SendResult::Ok), "sends complete in order");
    }
    for i in 0..N {
        let (j, r, n, byte) = recv(&rx, "receive");
        assert_eq!(
            (j, r, n),
            (i, ReceiveResult::Ok, 1),
            "receives complete in order"
        );
        assert_eq!(byte, i as u8, "and the bytes fill them in order");
    }
}

#[test]
fn concurrent_sends_never_interleave_and_every_byte_arrives() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let a = Arc::new(a);
    const THREADS: usize = 4;
    const PER: usize = 50;
    const LEN: usize = 3000;
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let a = Arc::clone(&a);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                for k in 0..PER {
                    let tag = (t * PER + k) as u16;
                    let mut msg = vec![0u8; LEN];
                    for chunk in msg.chunks_mut(2) {
                        chunk.copy_from_slice(&tag.to_le_bytes());
                    }
                    let done = Arc::clone(&done);
                    a.send(vec![msg], move |r, _| {
                        assert_eq!(r, SendResult::Ok);
                        done.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = read_exactly(&b, THREADS * PER * LEN);
    let mut seen = HashSet::new();
    for msg in all.chunks(LEN) {
        let tag = u16::from_le_bytes([msg[0], msg[1]]);
        assert!(
            msg.chunks(2)
                .all(|c| u16::from_le_bytes([c[0], c[1]]) == tag),
            "a message was interleaved with another"
        );
        assert!(seen.insert(tag), "message {tag} twice");
    }
    assert_eq!(seen.len(), THREADS * PER);
    wait_until("all send callbacks", || done.load(SeqCst) == THREADS * PER);
}

#[test]
fn a_receive_completes_behind_a_back_pressured_send_and_close_ends_both() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    // 64 MiB to a peer that never reads: the send stays pending (full duplex, C8/C9).
    let big = send(&a, vec![vec![0x5Au8; 64 << 20]]);
    let got = receive(&a, vec![vec![0u8; 16]]);
    assert_eq!(
        recv(&send(&b, vec![b"duplex!".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (r, n, bufs, _) = recv(&got, "the receive behind the pending send");
    assert_eq!(
        (r, &bufs[0][..n as usize]),
        (ReceiveResult::Ok, &b"duplex!"[..])
    );
    assert!(big.try_recv().is_err(), "the big send is still pending");
    let pending = receive(&a, vec![vec![0u8; 16]]);
    fault::record(true);
    a.close();
    // Both completed exactly once before close returned: the send with ERROR (01_067: a send
    // ended by close is an error on Windows, never ABANDONED), the receive with 0 bytes.
    let (r, bufs, _) = big
        .try_recv()
        .expect("the send completed before close returned");
    assert_eq!(r, SendResult::Error);
    assert_eq!(bufs[0].len(), 64 << 20, "its buffer is handed back");
    let (r, n, _, _) = pending
        .try_recv()
        .expect("the receive completed before close returned");
    assert_eq!(n, 0);
    assert_ne!(r, ReceiveResult::Ok);
    assert_quiet(&big, "send");
    assert_quiet(&pending, "receive");
    // The pending send was cancelled just before closesocket (see `begin_close`), the receive
    // was left to closesocket.
    let log = calls();
    assert_eq!(count(&log, CallKind::CancelIoEx), 1, "{log:#?}");
    assert!(first(&log, CallKind::CancelIoEx) < first(&log, CallKind::Closesocket));
    drop(b);
}

#[test]
fn close_from_inside_a_receive_callback_does_not_deadlock_and_completes_the_rest() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    let tx1 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx1.send(format!("first {r:?} {n}")).unwrap();
        b2.close();
        // The close ran to the end from inside: the second receive was delivered (nested, on
        // this thread) before close returned here.
        tx1.send(format!("closed {:?}", b2.state())).unwrap();
    })
    .unwrap();
    let tx2 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx2.send(format!("second {} {n}", r == ReceiveResult::Ok))
            .unwrap();
    })
    .unwrap();
    fault::record(true);
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    assert_eq!(recv(&rx, "first"), "first Ok 1");
    assert_eq!(recv(&rx, "second"), "second false 0");
    assert_eq!(recv(&rx, "close returned"), "closed Closed");
    assert_eq!(b.state(), SocketState::Closed);
    // The close decided whether it may wait before closesocket, while the second receive was
    // certainly still in the kernel (nothing but closesocket could end it): so it asked the
    // pool exactly once, every time. Then the seed's calls, the wait made possible by
    // disassociating the callback first, all on the callback's thread.
    let records = records();
    let closing = records
        .iter()
        .find(|r| r.call.kind() == CallKind::CallbackMayRunLong)
        .expect("CallbackMayRunLong")
        .thread;
    let mine: Vec<CallKind> = records
        .iter()
        .filter(|r| r.thread == closing)
        .map(|r| r.call.kind())
        .filter(|k| {
            [
                CallKind::CallbackMayRunLong,
                CallKind::Closesocket,
                CallKind::DisassociateCurrentThreadFromCallback,
                CallKind::WaitForThreadpoolIoCallbacks,
                CallKind::CloseThreadpoolIo,
                CallKind::DestroyThreadpoolEnvironment,
            ]
            .contains(k)
        })
        .collect();
    assert_eq!(
        mine,
        [
            CallKind::CallbackMayRunLong,
            CallKind::Closesocket,
            CallKind::DisassociateCurrentThreadFromCallback,
            CallKind::WaitForThreadpoolIoCallbacks,
            CallKind::CloseThreadpoolIo,
            CallKind::DestroyThreadpoolEnvironment,
        ]
    );
    assert_eq!(count(&calls(), CallKind::CallbackMayRunLong), 1);
    // Close from a callback with nothing else pending: no need to ask the pool, the rest of
    // the sequence is the same.
    let (a, c) = socket_pair(&engine);
    let c = Arc::new(c);
    let c2 = Arc::clone(&c);
    let (tx, rx) = mpsc::channel();
    c.receive(vec![vec![0u8; 1]], move |_, _, _| {
        c2.close();
        tx.send(c2.state()).unwrap();
    })
    .unwrap();
    take_calls();
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    assert_eq!(recv(&rx, "closed inside"), SocketState::Closed);
    let log = calls();
    assert_eq!(count(&log, CallKind::CallbackMayRunLong), 0);
    assert!(
        first(&log, CallKind::DisassociateCurrentThreadFromCallback)
            < first(&log, CallKind::WaitForThreadpoolIoCallbacks)
    );
}

#[test]
fn close_from_inside_a_callback_on_a_one_thread_pool_ends_once_the_rest_has_run() {
    let _s = serial();
    // One thread at most: the pool cannot lend another while the callback waits, so the close
    // made inside the callback must not wait (see `departures`).
    let engine = engine_with(1, 1);
    let (a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    let tx1 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        b2.close();
        tx1.send(format!("inside {:?}", b2.state())).unwrap();
    })
    .unwrap();
    let tx2 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx2.send(format!("second {} {n}", r == ReceiveResult::Ok))
            .unwrap();
    })
    .unwrap();
    fault::record(true);
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    assert_eq!(recv(&rx, "first callback"), "inside Closing");
    assert_eq!(recv(&rx, "second callback"), "second false 0");
    wait_until("closed", || b.state() == SocketState::Closed);
    // The close ended with the seed's calls, in the seed's order.
    let log = calls();
    assert_seed_close_order(&log);
}

#[test]
fn close_from_a_callback_of_another_socket_waits_normally() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let (c, d) = socket_pair(&engine);
    let d = Arc::new(d);
    let pending = receive(&d, vec![vec![0u8; 1]]);
    let d2 = Arc::clone(&d);
    let (tx, rx) = mpsc::channel();
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        d2.close();
        tx.send(d2.state()).unwrap();
    })
    .unwrap();
    fault::record(true);
    recv(&send(&a, vec![vec![1]]), "send");
    assert_eq!(recv(&rx, "closed from b's callback"), SocketState::Closed);
    assert_eq!(recv(&pending, "d's receive").1, 0);
    // On a pool thread with an operation still to come back, the close asks the pool whether
    // it may wait (see `departures`), then waits as the seed says; b's callback is no callback
    // of d's, so nothing is disassociated.
    let log = calls();
    assert_eq!(count(&log, CallKind::WaitForThreadpoolIoCallbacks), 1);
    assert_eq!(count(&log, CallKind::CallbackMayRunLong), 1);
    assert_eq!(
        count(&log, CallKind::DisassociateCurrentThreadFromCallback),
        0
    );
    drop(c);
}

#[test]
fn close_with_does_not_block_and_reports_closed_on_the_pool() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let pending = receive(&b, vec![vec![0u8; 1]]);
    let me = thread::current().id();
    let (tx, rx) = mpsc::channel();
    fault::record(true);
    b.close_with(move || tx.send(thread::current().id()).unwrap());
    let on = recv(&rx, "on_closed");
    assert_ne!(on, me);
    assert_eq!(b.state(), SocketState::Closed);
    assert_eq!(recv(&pending, "receive").1, 0);
    // The close ran on the pool with the seed's calls, in the seed's order.
    let log = calls();
    assert_seed_close_order(&log);
    assert_eq!(count(&log, CallKind::Closesocket), 1);
    // On a closed socket, on_closed still runs (on the pool).
    let (tx, rx) = mpsc::channel();
    b.close_with(move || tx.send(()).unwrap());
    recv(&rx, "on_closed of a closed socket");
    drop(a);
}

#[test]
fn close_with_while_opening_closes_once_the_open_succeeded() {
    let _s = serial();
    let engine = engine();
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (tx, rx) = mpsc::channel();
    {
        let socket = Arc::clone(&socket);
        let tx = Mutex::new(Some(tx));
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            assert_eq!(socket.state(), SocketState::Opening);
            if let Some(tx) = tx.lock().unwrap().take() {
                socket.close_with(move || tx.send(()).unwrap());
            }
        });
    }
    fault::record(true);
    let (c, _p) = transport_pair();
    socket.open(c).expect("the open itself succeeds");
    recv(&rx, "on_closed");
    assert_eq!(socket.state(), SocketState::Closed);
    let log = calls();
    assert_eq!(count(&log, CallKind::Closesocket), 1);
    assert_eq!(count(&log, CallKind::CloseThreadpoolIo), 1);
}

#[test]
fn engine_jobs_run_on_a_thread_of_their_own_when_the_pool_refuses_them() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    // close_with makes two jobs: the close itself, then on_closed once CLOSED.
    fault::inject(Fault {
        call: CallKind::TrySubmitThreadpoolCallback,
        outcome: Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
        times: 2,
    });
    let (tx, rx) = mpsc::channel();
    b.close_with(move || {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    });
    assert_eq!(recv(&rx, "on_closed").as_deref(), Some("asock-job"));
    assert_eq!(b.state(), SocketState::Closed);
    assert_eq!(count(&calls(), CallKind::TrySubmitThreadpoolCallback), 2);
    drop(a);
}

#[test]
fn dropping_the_last_engine_reference_inside_a_callback_does_not_deadlock() {
    let _s = serial();
    fault::record(true);
    let engine = engine();
    let pool = engine.threadpool() as usize;
    let (a, b) = socket_pair(&engine);
    drop(engine);
    let holder = Arc::new(Mutex::new(Some(b)));
    let h2 = Arc::clone(&holder);
    let (tx, rx) = mpsc::channel();
    holder
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .receive(vec![vec![0u8; 1]], move |_, _, _| {
            // Drops b (closing it from inside its own callback), and with a the last engine
            // reference goes away on this pool thread.
            let b = h2.lock().unwrap().take();
            drop(b);
            tx.send(()).unwrap();
        })
        .unwrap();
    let sent = send(&a, vec![vec![1]]);
    recv(&sent, "send");
    drop(a);
    recv(&rx, "the callback returned");
    wait_until("the pool closed", || {
        calls().contains(&Call::CloseThreadpool { pool })
    });
}

#[test]
fn a_panicking_callback_is_contained() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    b.receive(vec![vec![0u8; 1]], |_, _, _| panic!("on purpose"))
        .unwrap();
    recv(&send(&a, vec![vec![1]]), "send");
    // The pool and the socket keep working.
    let r = receive(&b, vec![vec![0u8; 1]]);
    recv(&send(&a, vec![vec![2]]), "send");
    assert_eq!(recv(&r, "receive").2, vec![vec![2]]);
}

#[test]
fn faults_are_armed_per_call_kind_and_count() {
    let _s = serial();
    // The injection layer itself: a fault for 2 calls fails exactly 2.
    fault::inject(Fault {
        call: CallKind::CreateThreadpool,
        outcome: Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
        times: 2,
    });
    assert!(ExecutionEngine::new(None).is_err());
    assert!(ExecutionEngine::new(None).is_err());
    assert!(ExecutionEngine::new(None).is_ok());
}
