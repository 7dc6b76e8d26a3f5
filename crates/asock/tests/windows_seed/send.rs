//! `async_socket_send_async`.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{AsyncSocket, RawBuf, SendResult, SendSyncResult, SocketState, SubmitErrorKind};

use crate::common::*;

#[test]
fn send_argument_errors_01_085_01_089_01_090_01_101() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = socket_pair(&engine);
    fault::record(true);
    // (A NULL socket, buffer array or callback has no Rust form: the C ABI's tests.)
    // SRS_ASYNC_SOCKET_WIN32_01_085: 0 buffers.
    let (kind, sync, bufs) = send_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    assert!(bufs.is_empty());
    // SRS_ASYNC_SOCKET_WIN32_01_090: a buffer of length 0.
    let (kind, sync, bufs) = send_err(&a, vec![vec![1], vec![]]);
    assert!(is_invalid(&kind, "zero length"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    assert_eq!(bufs, vec![vec![1], vec![]], "handed back");
    // SRS_ASYNC_SOCKET_WIN32_01_089: a buffer with no memory (the raw API's NULL pointer).
    let byte = Box::leak(Box::new(1u8)) as *mut u8;
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.send_raw(
            &[RawBuf::new(byte, 1), RawBuf::new(std::ptr::null_mut(), 1)],
            |_| panic!("never called"),
        )
    }
    .expect_err("NULL buffer");
    assert!(is_invalid(err.kind(), "no memory"), "{err:?}");
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    // SRS_ASYNC_SOCKET_WIN32_01_101: the lengths add up to more than UINT32_MAX.
    let half = u32::MAX as usize / 2 + 1;
    // SAFETY: rejected before any pointer is used (the lengths are never read through).
    let err = unsafe {
        a.send_raw(&[RawBuf::new(byte, half), RawBuf::new(byte, half)], |_| {
            panic!("never called")
        })
    }
    .expect_err("too long");
    assert!(is_invalid(err.kind(), "u32::MAX"), "{err:?}");
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    // Argument errors come before the state and before any OS call.
    assert!(calls().is_empty(), "{:?}", calls());
    a.close();
    let (kind, sync, _) = send_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
}

#[test]
fn send_when_not_open_is_not_open_01_097() {
    let _s = serial();
    let engine = engine();
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_097: never opened...
    let (kind, sync, bufs) = send_err(&socket, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert_eq!(bufs, vec![b"x".to_vec()]);
    assert!(calls().is_empty(), "{:?}", calls());
    // ... OPENING (from the open's CreateThreadpoolIo) ...
    let during = Arc::new(Mutex::new(None));
    {
        let (socket, during) = (Arc::clone(&socket), Arc::clone(&during));
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            let r = socket.send(vec![b"y".to_vec()], |_, _| panic!("refused"));
            *during.lock().unwrap() = Some(r.map_err(|e| e.send_sync_result()));
        });
    }
    let (c, _p) = transport_pair();
    socket.open(c).unwrap();
    assert_eq!(
        during.lock().unwrap().take(),
        Some(Err(SendSyncResult::NotOpen))
    );
    // ... and closed.
    socket.close();
    take_calls();
    let (kind, sync, _) = send_err(&socket, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn send_context_exceeding_u32_max_is_an_error_01_103() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = socket_pair(&engine);
    fault::record(true);
    // As many one-byte buffers as the argument check allows (asock::buf::MAX_BUFFERS, whose
    // WSABUFs alone just fit in UINT32_MAX bytes): a valid total, but the context around the
    // WSABUFs would exceed UINT32_MAX.
    let count = asock::buf::MAX_BUFFERS;
    let bufs: Vec<[u8; 1]> = vec![[0u8]; count];
    let err = a
        .send(bufs, |_, _| panic!("never called"))
        .expect_err("context too large");
    // SRS_ASYNC_SOCKET_WIN32_01_103: refused by the context check, not the argument check.
    assert!(
        is_invalid(err.kind(), "the I/O context would exceed u32::MAX"),
        "{err:?}"
    );
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    assert_eq!(err.into_inner().len(), count, "handed back");
    assert!(calls().is_empty(), "no event, no I/O: {:?}", calls());
    no_contexts_left("every context freed");
}

#[test]
fn send_builds_a_context_and_sends_it_through_the_transport_01_028_01_050_01_056_01_057_01_060_01_061_01_045(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    let bufs = vec![b"he".to_vec(), b"llo".to_vec(), b" world".to_vec()];
    let expected = wsabufs_of(&bufs);
    let me = thread::current().id();
    // SRS_ASYNC_SOCKET_WIN32_01_045: accepted.
    let done = send(&a, bufs);
    let (r, back, on) = recv(&done, "the send");
    assert_eq!(r, SendResult::Ok);
    assert_ne!(on, me, "completed on a pool thread");
    // SRS_ASYNC_SOCKET_WIN32_01_028: the context kept the payload and the callback, which
    // gets the very same buffers back.
    assert_eq!(
        back,
        vec![b"he".to_vec(), b"llo".to_vec(), b" world".to_vec()]
    );
    assert_eq!(wsabufs_of(&back), expected, "the same memory, never copied");
    assert_eq!(read_exactly(&b, 11), b"hello world");
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_057: an event is created (auto-reset, not signalled)...
    assert_eq!(
        log[0],
        Call::CreateEvent {
            manual_reset: false,
            initial_state: false,
        }
    );
    // SRS_ASYNC_SOCKET_WIN32_01_060: StartThreadpoolIo before the send.
    let io = match log[1] {
        Call::StartThreadpoolIo { io } if io != 0 => io,
        ref other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_061: the send goes through socket_transport_send, with the
    // OVERLAPPED, flags 0 and bytes_sent NULL; it makes the overlapped WSASend.
    let (socket, overlapped) = match log[2] {
        Call::SocketTransportSend {
            socket,
            buffer_count: 3,
            bytes_sent_null: true,
            flags: 0,
            overlapped,
        } => (socket, overlapped),
        ref other => panic!("{other:?}"),
    };
    match &log[3] {
        Call::WsaSend {
            socket: s,
            buffers,
            bytes_sent_null,
            flags,
            overlapped: o,
            event,
            routine_null,
        } => {
            assert_eq!((*s, *o), (socket, overlapped));
            // SRS_ASYNC_SOCKET_WIN32_01_050: one WSABUF per buffer...
            assert_eq!(buffers.len(), 3);
            // SRS_ASYNC_SOCKET_WIN32_01_056: ... pointing at the payload's memory and length.
            assert_eq!(*buffers, expected);
            // SRS_ASYNC_SOCKET_WIN32_01_057: the OVERLAPPED carries the event just created,
            // which is stored in the context: on_io_complete closes it.
            assert_ne!(*event, 0);
            assert!(log.contains(&Call::CloseHandle { handle: *event }));
            assert_eq!(*flags, 0);
            assert!(*bytes_sent_null);
            assert!(*routine_null);
        }
        other => panic!("{other:?}"),
    }
    assert_ne!(io, 0);
}

#[test]
fn send_that_goes_pending_is_not_an_error_01_053() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    // Really pending: 32 MiB to a peer that is not reading yet.
    let big: Vec<u8> = (0u32..32 << 20).map(|i| (i % 251) as u8).collect();
    let done = send(&a, vec![big.clone()]);
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_053: WSAGetLastError says WSA_IO_PENDING: accepted.
    assert!(
        log.contains(&Call::WsaGetLastError {
            error: WSA_IO_PENDING as i32
        }),
        "the large send went pending: {log:#?}"
    );
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 0);
    assert_eq!(read_exactly(&b, big.len()), big);
    assert_eq!(recv(&done, "the large send").0, SendResult::Ok);
    // Injected: a send that completed at once but reports WSA_IO_PENDING is accepted and
    // completes through the pool.
    fault::inject_once(CallKind::WsaSend, Outcome::FailAfterCall(WSA_IO_PENDING));
    assert_eq!(sent(&a, b"p"), SendResult::Ok);
    assert_eq!(read_exactly(&b, 1), b"p");
}

#[test]
fn send_failing_with_a_reset_is_not_open_after_cancelling_the_io_01_062_01_100_42_002() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = socket_pair(&engine);
    fault::record(true);
    fault::inject_once(CallKind::WsaSend, Outcome::Fail(WSAECONNRESET));
    let (kind, sync, bufs) = send_err(&a, vec![b"x".to_vec()]);
    // SRS_ASYNC_SOCKET_WIN32_42_002
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert_eq!(bufs, vec![b"x".to_vec()]);
    let log = calls();
    let send_at = first(&log, CallKind::WsaSend);
    // SRS_ASYNC_SOCKET_WIN32_01_062: the transport's send failed: WSAGetLastError.
    assert_eq!(log[send_at - 1].kind(), CallKind::SocketTransportSend);
    assert_eq!(
        log[send_at + 1],
        Call::WsaGetLastError {
            error: WSAECONNRESET as i32
        }
    );
    // SRS_ASYNC_SOCKET_WIN32_01_100: CancelThreadpoolIo for the started I/O.
    let io = match log[send_at - 2] {
        Call::StartThreadpoolIo { io } => io,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(log[send_at + 2], Call::CancelThreadpoolIo { io });
    // Then the event is closed and the context freed.
    let event = match &log[send_at] {
        Call::WsaSend { event, .. } => *event,
        other => panic!("{other:?}"),
    };
    assert_eq!(log[send_at + 3], Call::CloseHandle { handle: event });
    assert_eq!(
        fault::live_io_contexts(),
        0,
        "freed before the send returned"
    );
    assert_eq!(a.state(), SocketState::Open, "nothing else changed");
}

#[test]
fn send_failing_otherwise_is_an_error_after_cancelling_the_io_01_100_01_106_01_029() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_106 (and 01_100): another WSA error: CancelThreadpoolIo, ERROR.
    fault::inject_once(CallKind::WsaSend, Outcome::Fail(WSAENOBUFS));
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert_eq!(os_error(&kind), Some(WSAENOBUFS as i32), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    let log = take_calls();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert!(first(&log, CallKind::WsaGetLastError) < first(&log, CallKind::CancelThreadpoolIo));
    // SRS_ASYNC_SOCKET_WIN32_01_029: any other error: WSASend returning neither 0 nor
    // SOCKET_ERROR (the transport reports a failure of another kind): CancelThreadpoolIo, ERROR.
    fault::inject_once(CallKind::WsaSend, Outcome::Return(1));
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::Io(_)), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    let log = take_calls();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert_eq!(count(&log, CallKind::WsaGetLastError), 0);
    // SRS_ASYNC_SOCKET_WIN32_01_029: any error: CreateEvent failing (before any I/O call).
    fault::inject_once(
        CallKind::CreateEvent,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert_eq!(
        os_error(&kind),
        Some(ERROR_NOT_ENOUGH_MEMORY as i32),
        "{kind:?}"
    );
    assert_eq!(sync, SendSyncResult::Error);
    assert_eq!(kinds(&take_calls()), [CallKind::CreateEvent]);
    // None of these left anything behind: the socket still works.
    assert_eq!(sent(&a, b"fine"), SendResult::Ok);
    assert_eq!(read_exactly(&b, 4), b"fine");
    let (tx, rx) = mpsc::channel();
    a.send(vec![b"!".to_vec()], move |r, _| tx.send(r).unwrap())
        .unwrap();
    assert_eq!(recv(&rx, "send"), SendResult::Ok);
    a.close();
    no_contexts_left("every context freed");
}
