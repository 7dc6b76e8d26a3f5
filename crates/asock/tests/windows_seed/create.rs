//! `async_socket_create_with_transport`, `async_socket_create`, `async_socket_destroy`, and the
//! engine's pool.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{AsyncSocket, CreateError, ExecutionEngine, ReceiveResult, SocketState, Transport};

use crate::common::*;

struct NeverUsed;

impl Transport for NeverUsed {
    fn send(&self, _: &asock::socket2::Socket, _: &[u8]) -> std::io::Result<usize> {
        unreachable!("create_with_transport fails on Windows")
    }
    fn recv(&self, _: &asock::socket2::Socket, _: &mut [u8]) -> std::io::Result<usize> {
        unreachable!("create_with_transport fails on Windows")
    }
}

#[test]
fn create_with_transport_fails_04_001() {
    let _s = serial();
    let engine = engine();
    let refs = engine.ref_count();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_04_001: fails (NULL in C, an error here), takes nothing.
    let result = AsyncSocket::with_transport(&engine, NeverUsed);
    assert!(
        matches!(result, Err(CreateError::Unsupported)),
        "{result:?}"
    );
    assert_eq!(engine.ref_count(), refs, "no engine reference is kept");
    assert!(calls().is_empty(), "no OS call: {:?}", calls());
}

#[test]
fn create_returns_a_closed_socket_holding_the_engine_and_its_pool_01_001_42_004_01_035() {
    let _s = serial();
    let engine = engine();
    assert_eq!(engine.ref_count(), 1);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_001: a new async socket.
    let socket = AsyncSocket::new(&engine).expect("created");
    assert_eq!(socket.state(), SocketState::Closed);
    // SRS_ASYNC_SOCKET_WIN32_42_004: one more reference on the engine.
    assert_eq!(engine.ref_count(), 2);
    let other = AsyncSocket::new(&engine).expect("created");
    assert_eq!(engine.ref_count(), 3);
    // SRS_ASYNC_SOCKET_WIN32_01_035: the pool comes from execution_engine_win32_get_threadpool.
    let pool = engine.threadpool() as usize;
    assert_ne!(pool, 0);
    assert_eq!(
        calls(),
        vec![Call::GetThreadpool { pool }, Call::GetThreadpool { pool }],
        "create asks the engine for its pool and makes no OS call"
    );
    drop((socket, other));
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn create_fails_when_the_engine_pool_cannot_be_had_01_003() {
    let _s = serial();
    let engine = engine();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_003: execution_engine_win32_get_threadpool finds no pool: create
    // fails, keeps no reference on the engine and makes no other call.
    fault::inject_once(
        CallKind::GetThreadpool,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let err = AsyncSocket::new(&engine).expect_err("no pool, no async socket");
    assert!(
        matches!(&err, CreateError::Io(e) if e.raw_os_error() == Some(ERROR_NOT_ENOUGH_MEMORY as i32)),
        "{err:?}"
    );
    assert_eq!(
        engine.ref_count(),
        1,
        "the failed create holds no reference"
    );
    assert_eq!(kinds(&take_calls()), [CallKind::GetThreadpool]);
    // The next create finds the pool again and works.
    let (c, peer) = transport_pair();
    let socket = open_on(&engine, c);
    let peer = open_on(&engine, peer);
    assert_eq!(sent(&socket, b"ok"), asock::SendResult::Ok);
    assert_eq!(read_exactly(&peer, 2), b"ok");
    // An engine without a pool cannot be made at all: CreateThreadpool failing fails the
    // engine, and so does SetThreadpoolThreadMinimum failing (which closes the pool first).
    fault::inject_once(
        CallKind::CreateThreadpool,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let e = ExecutionEngine::new(None).expect_err("no pool, no engine");
    assert!(
        matches!(&e, CreateError::Io(io) if io.raw_os_error() == Some(ERROR_NOT_ENOUGH_MEMORY as i32)),
        "{e:?}"
    );
    take_calls();
    fault::inject_once(
        CallKind::SetThreadpoolThreadMinimum,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    assert!(ExecutionEngine::new(None).is_err());
    let log = calls();
    let pool = match log[..] {
        [Call::CreateThreadpool, Call::SetThreadpoolThreadMinimum { pool, min: 4 }, ..] => pool,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(log[2], Call::CloseThreadpool { pool });
}

#[test]
fn engine_pool_is_created_with_the_parameters_and_closed_at_the_last_reference() {
    let _s = serial();
    fault::record(true);
    let engine = engine_with(2, 3);
    let pool = engine.threadpool() as usize;
    let log = calls();
    assert_eq!(
        &log[..3],
        &[
            Call::CreateThreadpool,
            Call::SetThreadpoolThreadMinimum { pool, min: 2 },
            Call::SetThreadpoolThreadMaximum { pool, max: 3 },
        ]
    );
    let socket = AsyncSocket::new(&engine).unwrap();
    drop(engine);
    assert_eq!(
        count(&calls(), CallKind::CloseThreadpool),
        0,
        "the socket holds the engine"
    );
    drop(socket);
    assert_eq!(calls().last(), Some(&Call::CloseThreadpool { pool }));
    // max 0: no maximum is set.
    take_calls();
    let engine = engine_with(1, 0);
    assert_eq!(count(&calls(), CallKind::SetThreadpoolThreadMaximum), 0);
    assert_eq!(engine.thread_count(), 1);
}

#[test]
fn destroy_of_a_socket_never_opened_makes_no_call() {
    let _s = serial();
    let engine = engine();
    let never_opened = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    drop(never_opened);
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn destroy_of_an_open_socket_closes_it_releases_the_engine_and_frees_everything_01_006_42_005_01_005(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    assert_eq!(engine.ref_count(), 3);
    let pending = receive(&b, vec![vec![0u8; 4]]);
    fault::record(true);
    drop(b);
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_006: an implicit close, with every step of close.
    assert_seed_close_order(&log);
    // The pending receive completed exactly once, before drop returned.
    let (r, n, _, _) = pending.try_recv().expect("completed before drop returned");
    assert_eq!(n, 0, "{r:?}");
    assert_quiet(&pending, "receive");
    // SRS_ASYNC_SOCKET_WIN32_42_005: the engine reference is released.
    assert_eq!(engine.ref_count(), 2);
    // SRS_ASYNC_SOCKET_WIN32_01_005: every resource is freed: no I/O context is left, the
    // thread-pool I/O and the environment are closed, and the socket is closed (the peer reads
    // the end of the stream).
    no_contexts_left("every context freed");
    let (r, n, _, _) = recv(&receive(&a, vec![vec![0u8; 4]]), "peer sees the close");
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
    drop(a);
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn destroy_waits_while_the_socket_is_closing_01_093() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    // b's first receive completes with a byte and its callback closes b. The pool is made to
    // answer that no thread is to spare (CallbackMayRunLong FALSE), so that close cannot wait
    // for b's second receive and leaves b CLOSING; the second receive's completion (aborted by
    // closesocket) is held back by a hook until the test lets it go.
    let (in_cb_tx, in_cb_rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        assert_eq!((r, n), (ReceiveResult::Ok, 1));
        b2.close();
        let _ = in_cb_tx.send(b2.state());
    })
    .unwrap();
    let second = receive(&b, vec![vec![0u8; 1]]);
    let release = Arc::new(Barrier::new(2));
    let held = Arc::new(AtomicBool::new(false));
    {
        let release = Arc::clone(&release);
        let held = Arc::clone(&held);
        fault::on_call(CallKind::OnIoComplete, move |call| {
            // Hold the aborted receive (the only completion with 0 bytes), once.
            if matches!(call, Call::OnIoComplete { bytes: 0, .. }) && !held.swap(true, SeqCst) {
                release.wait();
            }
        });
    }
    fault::inject_once(CallKind::CallbackMayRunLong, Outcome::Fail(0));
    fault::record(true);
    assert_eq!(sent(&a, &[7]), asock::SendResult::Ok);
    assert_eq!(recv(&in_cb_rx, "the first callback"), SocketState::Closing);
    assert_eq!(b.state(), SocketState::Closing);
    // The callback's clone of `b` goes with its closure, right after it returned.
    wait_until("the callback released b", || Arc::strong_count(&b) == 1);
    // SRS_ASYNC_SOCKET_WIN32_01_093: destroy waits while CLOSING.
    let dropped = Arc::new(AtomicBool::new(false));
    let dropper = {
        let dropped = Arc::clone(&dropped);
        thread::spawn(move || {
            let b = Arc::try_unwrap(b).expect("the callback released its reference");
            drop(b);
            dropped.store(true, SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(200));
    assert!(
        !dropped.load(SeqCst),
        "destroy returned while the socket was CLOSING"
    );
    assert!(
        second.try_recv().is_err(),
        "the second receive is still held"
    );
    release.wait();
    dropper.join().unwrap();
    assert!(dropped.load(SeqCst));
    // By the time destroy returned, the held completion was delivered and the close finished
    // with the seed's calls, in the seed's order.
    let (r, n, _, _) = second
        .try_recv()
        .expect("delivered before destroy returned");
    assert_eq!(n, 0, "{r:?}");
    let log = calls();
    let wait = first(&log, CallKind::WaitForThreadpoolIoCallbacks);
    assert!(wait > last(&log, CallKind::OnIoComplete), "{log:#?}");
    assert!(first(&log, CallKind::CloseThreadpoolIo) > wait, "{log:#?}");
    drop(a);
}
