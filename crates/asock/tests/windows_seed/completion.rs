//! `on_io_complete`, what a completion posted for a failed submission does, and
//! `async_socket_notify_io_async`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{NotifyResult, NotifyType, ReceiveResult, SendResult, SubmitErrorKind};

use crate::common::*;

#[test]
fn on_io_complete_with_null_overlapped_returns_01_063() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let pending = receive(&b, vec![vec![0u8; 1]]);
    let live = fault::live_io_contexts();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_063
    fault::call_on_io_complete_with_null_overlapped(NO_ERROR, 1);
    fault::call_on_io_complete_with_null_overlapped(ERROR_NETNAME_DELETED, 0);
    assert_eq!(
        calls(),
        vec![
            Call::OnIoComplete {
                overlapped: 0,
                io_result: NO_ERROR,
                bytes: 1
            },
            Call::OnIoComplete {
                overlapped: 0,
                io_result: ERROR_NETNAME_DELETED,
                bytes: 0
            },
        ],
        "nothing closed, nothing freed, nothing delivered"
    );
    assert_eq!(fault::live_io_contexts(), live);
    assert!(pending.try_recv().is_err());
    // The real completion still arrives afterwards.
    assert_eq!(sent(&a, b"!"), SendResult::Ok);
    assert_eq!(recv(&pending, "receive").1, 1);
}

#[test]
fn on_io_complete_finds_the_context_calls_back_then_closes_the_event_and_frees_it_01_064_01_068_01_072(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    // Each CloseHandle records how many callbacks had run and how many contexts were alive.
    let callbacks = Arc::new(AtomicUsize::new(0));
    let at_close = Arc::new(Mutex::new(Vec::new()));
    {
        let (callbacks, at_close) = (Arc::clone(&callbacks), Arc::clone(&at_close));
        fault::on_call(CallKind::CloseHandle, move |c| {
            if let Call::CloseHandle { handle } = c {
                at_close.lock().unwrap().push((
                    *handle,
                    callbacks.load(SeqCst),
                    fault::live_io_contexts(),
                ));
            }
        });
    }
    fault::record(true);
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let (tx, callbacks) = (tx.clone(), Arc::clone(&callbacks));
        b.receive(vec![vec![0u8; 3]], move |r, n, bufs| {
            callbacks.fetch_add(1, SeqCst);
            tx.send((r, n, bufs)).unwrap();
        })
        .unwrap();
    }
    assert_eq!(fault::live_io_contexts(), 2);
    assert_eq!(sent(&a, b"abc"), SendResult::Ok);
    let first_rx = recv(&rx, "first receive");
    assert_eq!(sent(&a, b"def"), SendResult::Ok);
    let second_rx = recv(&rx, "second receive");
    assert_eq!(first_rx, (ReceiveResult::Ok, 3, vec![b"abc".to_vec()]));
    assert_eq!(second_rx, (ReceiveResult::Ok, 3, vec![b"def".to_vec()]));
    // SRS_ASYNC_SOCKET_WIN32_01_072: the contexts are freed.
    wait_until("contexts freed", || fault::live_io_contexts() == 0);
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_064: each completion names its OVERLAPPED, which is how the
    // right context (and callback) was found: each OVERLAPPED was handed to exactly one I/O.
    let receives: Vec<(usize, usize)> = log
        .iter()
        .filter_map(|c| match c {
            Call::WsaRecv {
                overlapped, event, ..
            } => Some((*overlapped, *event)),
            _ => None,
        })
        .collect();
    assert_eq!(receives.len(), 2);
    assert_ne!(receives[0].0, receives[1].0);
    for (overlapped, _) in &receives {
        assert!(completed(&log, *overlapped), "{log:#?}");
    }
    // SRS_ASYNC_SOCKET_WIN32_01_068: on_io_complete closes each receive's event, after its
    // callback ran (k callbacks had run when the k-th receive's event was closed) and before
    // its context was freed (SRS_ASYNC_SOCKET_WIN32_01_072: it was still alive then).
    let closes = at_close.lock().unwrap().clone();
    for (k, (_, event)) in receives.iter().enumerate() {
        let &(_, ran, live) = closes
            .iter()
            .find(|(h, ..)| h == event)
            .unwrap_or_else(|| panic!("the event of receive {k} was closed: {closes:?}"));
        assert_eq!(
            ran,
            k + 1,
            "receive {k}: its callback ran before CloseHandle"
        );
        assert!(
            live >= 1,
            "receive {k}: its context was still alive at CloseHandle"
        );
    }
}

#[test]
fn send_completion_maps_the_io_result_01_065_01_066_01_067_01_102() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_065 / SRS_ASYNC_SOCKET_WIN32_01_066: NO_ERROR, every byte: OK.
    assert_eq!(sent(&a, b"12345"), SendResult::Ok);
    assert_eq!(read_exactly(&b, 5), b"12345");
    // SRS_ASYNC_SOCKET_WIN32_01_067: any error is ERROR (also the codes that make a receive
    // ABANDONED: a send is never ABANDONED on Windows).
    for code in [
        ERROR_OPERATION_ABORTED,
        ERROR_NETNAME_DELETED,
        ERROR_CONNECTION_ABORTED,
    ] {
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: Some(code),
                bytes: Some(0),
            },
        );
        let (r, bufs, _) = recv(&send(&a, vec![b"ab".to_vec()]), "send");
        assert_eq!(r, SendResult::Error, "io_result {code}");
        assert_eq!(bufs, vec![b"ab".to_vec()]);
        read_exactly(&b, 2);
    }
    // SRS_ASYNC_SOCKET_WIN32_01_102: NO_ERROR but fewer, or more, bytes than the total: ERROR.
    for bytes in [4usize, 6] {
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: None,
                bytes: Some(bytes),
            },
        );
        let (r, _, _) = recv(&send(&a, vec![b"abc".to_vec(), b"de".to_vec()]), "send");
        assert_eq!(r, SendResult::Error, "{bytes} of 5 bytes");
        read_exactly(&b, 5);
    }
    no_contexts_left("every context freed");
}

#[test]
fn receive_completion_maps_the_io_result_01_071_01_069_42_001_01_070_01_095_42_003() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_071 / SRS_ASYNC_SOCKET_WIN32_01_069: NO_ERROR: OK with the
    // byte count.
    let r = receive(&b, vec![vec![0u8; 8]]);
    assert_eq!(sent(&a, b"four"), SendResult::Ok);
    let (res, n, bufs, _) = recv(&r, "receive");
    assert_eq!((res, n), (ReceiveResult::Ok, 4));
    assert_eq!(&bufs[0][..4], b"four");
    // SRS_ASYNC_SOCKET_WIN32_42_001: ERROR_NETNAME_DELETED / ERROR_CONNECTION_ABORTED:
    // ABANDONED with 0 bytes (whatever arrived).
    // SRS_ASYNC_SOCKET_WIN32_01_070: any other error: ERROR with 0 bytes.
    for (code, want) in [
        (ERROR_NETNAME_DELETED, ReceiveResult::Abandoned),
        (ERROR_CONNECTION_ABORTED, ReceiveResult::Abandoned),
        (ERROR_OPERATION_ABORTED, ReceiveResult::Error),
        (ERROR_HANDLES_CLOSED, ReceiveResult::Error),
        (WSAENOBUFS, ReceiveResult::Error),
    ] {
        // (The data is sent first, so that the next completion is the receive's.)
        assert_eq!(sent(&a, b"xy"), SendResult::Ok);
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: Some(code),
                bytes: None,
            },
        );
        let (res, n, _, _) = recv(&receive(&b, vec![vec![0u8; 8]]), "receive");
        assert_eq!((res, n), (want, 0), "io_result {code}");
    }
    // SRS_ASYNC_SOCKET_WIN32_01_095: NO_ERROR but more bytes than the buffers hold: ERROR with
    // that count.
    assert_eq!(sent(&a, b"z"), SendResult::Ok);
    fault::inject_once(
        CallKind::OnIoComplete,
        Outcome::Completion {
            io_result: None,
            bytes: Some(9),
        },
    );
    let (res, n, _, _) = recv(&receive(&b, vec![vec![0u8; 3], vec![0u8; 5]]), "receive");
    assert_eq!((res, n), (ReceiveResult::Error, 9));
    // Exactly the total is fine.
    let r = receive(&b, vec![vec![0u8; 3], vec![0u8; 5]]);
    assert_eq!(sent(&a, b"12345678"), SendResult::Ok);
    let (res, n, bufs, _) = recv(&r, "receive");
    assert_eq!((res, n), (ReceiveResult::Ok, 8));
    assert_eq!(bufs, vec![b"123".to_vec(), b"45678".to_vec()]);
    // SRS_ASYNC_SOCKET_WIN32_42_003: NO_ERROR with 0 bytes (the peer closed): ABANDONED, 0.
    fault::record(true);
    let r = receive(&b, vec![vec![0u8; 8]]);
    a.close();
    let (res, n, _, _) = recv(&r, "receive after the peer closed");
    assert_eq!((res, n), (ReceiveResult::Abandoned, 0));
    assert!(calls().iter().any(|c| matches!(
        c,
        Call::OnIoComplete {
            io_result: NO_ERROR,
            bytes: 0,
            overlapped
        } if *overlapped != 0
    )));
    no_contexts_left("every context freed");
}

/// The overlapped pointer and event of the last `WSASend` in the log.
fn last_send(log: &[Call]) -> (usize, usize) {
    match &log[last(log, CallKind::WsaSend)] {
        Call::WsaSend {
            overlapped, event, ..
        } => (*overlapped, *event),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_completion_posted_for_a_failed_submission_is_ignored() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    // WSASend really sends, but reports WSAENOBUFS: a failure for which a completion is posted
    // anyway (Winsock says none is for a TCP socket; a datagram's WSAEMSGSIZE is one that is).
    // The failure path is held back 300 ms (in WSAGetLastError), so that the pool runs
    // on_io_complete for that completion before the failure path is done with the context: as
    // the path was, it freed the context under that completion (the crash "CloseHandle failed:
    // Invalid handle", then a page fault).
    fault::inject_once(CallKind::WsaSend, Outcome::FailAfterCall(WSAENOBUFS));
    let held = Arc::new(AtomicBool::new(false));
    {
        let held = Arc::clone(&held);
        fault::on_call(CallKind::WsaGetLastError, move |_| {
            if !held.swap(true, SeqCst) {
                thread::sleep(Duration::from_millis(300));
            }
        });
    }
    fault::record(true);
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let err = a
        .send(vec![b"late".to_vec()], move |_, _| flag.store(true, SeqCst))
        .expect_err("the send reports a failure");
    // The caller is told ERROR and gets the buffers back.
    assert_eq!(os_error(err.kind()), Some(WSAENOBUFS as i32), "{err:?}");
    assert_eq!(err.into_inner(), vec![b"late".to_vec()]);
    let log = calls();
    let (overlapped, event) = last_send(&log);
    // The completion came while the failure path was held, waited for it, found its context
    // alive, delivered nothing and freed the context: no callback, the event closed exactly
    // once (by the failure path), nothing left.
    assert!(completed(&log, overlapped), "{log:#?}");
    wait_until("the context freed", || fault::live_io_contexts() == 0);
    let log = calls();
    assert_eq!(
        log.iter()
            .filter(|c| **c == Call::CloseHandle { handle: event })
            .count(),
        1,
        "{log:#?}"
    );
    assert!(!called.load(SeqCst), "a rejected send never calls back");
    // That completion already balanced the StartThreadpoolIo: CancelThreadpoolIo is not called
    // (the seed's 01_100 would call it; under Wine the pool then drops the socket's next
    // completion, and a close waits for it forever).
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 0, "{log:#?}");
    assert_eq!(read_exactly(&b, 4), b"late", "(WSASend did send)");
    // The socket goes on as before: the next completions all come.
    for _ in 0..3 {
        assert_eq!(sent(&a, b"next"), SendResult::Ok);
        assert_eq!(read_exactly(&b, 4), b"next");
    }
    // Without the hold the outcome is the same, whichever of the failure path and the
    // completion comes first: the I/O's status word says it completed, so no
    // CancelThreadpoolIo, and the completion frees the context.
    take_calls();
    fault::inject_once(CallKind::WsaSend, Outcome::FailAfterCall(WSAENOBUFS));
    let (kind, _, _) = send_err(&a, vec![b"also".to_vec()]);
    assert_eq!(os_error(&kind), Some(WSAENOBUFS as i32));
    let (overlapped, _) = last_send(&calls());
    wait_until("the late completion", || completed(&calls(), overlapped));
    no_contexts_left("the completion freed the context");
    assert_eq!(count(&calls(), CallKind::CancelThreadpoolIo), 0);
    read_exactly(&b, 4);
    assert_eq!(sent(&a, b"more"), SendResult::Ok);
    assert_eq!(read_exactly(&b, 4), b"more");
    a.close();
    assert_eq!(a.state(), asock::SocketState::Closed);
}

#[test]
fn a_real_synchronous_failure_posts_no_completion() {
    let _s = serial();
    let engine = engine();
    let (c, s) = transport_pair();
    reset_on_close(&s);
    let a = open_on(&engine, c);
    drop(s);
    // The peer reset the connection: a send fails at once (42_002: NOT_OPEN), for real.
    fault::record(true);
    let mut failures = 0;
    for _ in 0..20 {
        match a.send(vec![b"x".to_vec()], |_, _| {}) {
            Err(e) if matches!(e.kind(), SubmitErrorKind::NotOpen) => failures += 1,
            Err(e) => panic!("{e:?}"),
            // Until the reset has arrived, sends may still be accepted.
            Ok(()) => thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(failures > 0, "the reset arrived");
    thread::sleep(Duration::from_millis(300));
    let log = calls();
    // The calls this thread made, in order (pool threads log their completions meanwhile).
    let me = thread::current().id();
    let mine: Vec<Call> = records()
        .into_iter()
        .filter(|r| r.thread == me)
        .map(|r| r.call)
        .collect();
    // No completion came for any of the failed sends' OVERLAPPEDs: per Winsock, and as Wine
    // does it, a failure other than WSA_IO_PENDING posts none.
    let failed: Vec<usize> = mine
        .windows(3)
        .filter_map(|w| match (&w[0], &w[1], &w[2]) {
            (
                Call::WsaSend { overlapped, .. },
                Call::WsaGetLastError { error },
                Call::CancelThreadpoolIo { .. },
            ) if *error == WSAECONNRESET as i32 => Some(*overlapped),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), failures, "{log:#?}");
    for overlapped in failed {
        assert!(!completed(&log, overlapped), "{log:#?}");
    }
    // So the failure path freed each context at once, as the seed has it: none is left for
    // the failed sends (the accepted ones, if any, completed meanwhile).
    no_contexts_left("the failed sends' contexts were freed at once");
    a.close();
}

#[test]
fn notify_io_fails_04_002() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = socket_pair(&engine);
    fault::record(true);
    for io_type in [NotifyType::In, NotifyType::Out] {
        let called = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&called);
        // SRS_ASYNC_SOCKET_WIN32_04_002
        let err = a
            .notify_io(io_type, move |_r: NotifyResult| flag.store(true, SeqCst))
            .expect_err("not on Windows");
        assert!(
            matches!(err.kind(), SubmitErrorKind::Unsupported),
            "{err:?}"
        );
        assert!(!called.load(SeqCst));
    }
    assert!(calls().is_empty());
}
