//! `async_socket_receive_async`.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{AsyncSocket, RawBuf, ReceiveResult, SendResult, SubmitErrorKind};

use crate::common::*;

#[test]
fn receive_argument_errors_01_086_01_091_01_092_01_096() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = socket_pair(&engine);
    fault::record(true);
    // (A NULL socket, buffer array or callback has no Rust form: the C ABI's tests.)
    // SRS_ASYNC_SOCKET_WIN32_01_086: 0 buffers.
    let (kind, _) = recv_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_092: a buffer of length 0.
    let (kind, bufs) = recv_err(&a, vec![vec![0; 2], vec![]]);
    assert!(is_invalid(&kind, "zero length"), "{kind:?}");
    assert_eq!(bufs, vec![vec![0; 2], vec![]]);
    let byte = Box::leak(Box::new(0u8)) as *mut u8;
    // SRS_ASYNC_SOCKET_WIN32_01_091: a buffer with no memory.
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.receive_raw(&[RawBuf::new(std::ptr::null_mut(), 4)], |_, _| {
            panic!("never called")
        })
    }
    .expect_err("NULL buffer");
    assert!(is_invalid(err.kind(), "no memory"), "{err:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_096: more than UINT32_MAX bytes in total.
    let half = u32::MAX as usize / 2 + 1;
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.receive_raw(
            &[RawBuf::new(byte, half), RawBuf::new(byte, half)],
            |_, _| panic!("never called"),
        )
    }
    .expect_err("too long");
    assert!(is_invalid(err.kind(), "u32::MAX"), "{err:?}");
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn receive_when_not_open_fails_01_098() {
    let _s = serial();
    let engine = engine();
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_098: never opened...
    let (kind, bufs) = recv_err(&socket, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(bufs, vec![vec![0u8; 2]]);
    // ... OPENING ...
    let during = Arc::new(Mutex::new(None));
    {
        let (socket, during) = (Arc::clone(&socket), Arc::clone(&during));
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            let r = socket.receive(vec![vec![0u8; 1]], |_, _, _| panic!("refused"));
            *during.lock().unwrap() = Some(r.map_err(|e| format!("{:?}", e.kind())));
        });
    }
    let (c, _p) = transport_pair();
    socket.open(c).unwrap();
    assert_eq!(
        during.lock().unwrap().take(),
        Some(Err("NotOpen".to_string()))
    );
    // ... and closed.
    socket.close();
    take_calls();
    let (kind, _) = recv_err(&socket, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn receive_builds_a_context_and_receives_through_the_transport_01_077_01_078_01_079_01_080_01_081_01_082_01_054_01_055_01_083(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    let bufs = vec![vec![0u8; 1], vec![0u8; 2], vec![0u8; 3]];
    let expected = wsabufs_of(&bufs);
    // SRS_ASYNC_SOCKET_WIN32_01_083: accepted (nothing to read yet: it goes pending).
    let done = receive(&b, bufs);
    let log = calls();
    assert!(matches!(
        log[0],
        // SRS_ASYNC_SOCKET_WIN32_01_080: an event for the OVERLAPPED.
        Call::CreateEvent {
            manual_reset: false,
            initial_state: false
        }
    ));
    // SRS_ASYNC_SOCKET_WIN32_01_081
    assert!(matches!(log[1], Call::StartThreadpoolIo { .. }), "{log:#?}");
    // SRS_ASYNC_SOCKET_WIN32_01_082: through socket_transport_receive, with the OVERLAPPED,
    // flags 0 and bytes_received NULL; it makes the overlapped WSARecv.
    let (socket, overlapped) = match log[2] {
        Call::SocketTransportReceive {
            socket,
            buffer_count: 3,
            bytes_received_null: true,
            flags: 0,
            overlapped,
        } => (socket, overlapped),
        ref other => panic!("{other:?}"),
    };
    let event = match &log[3] {
        Call::WsaRecv {
            socket: s,
            buffers,
            bytes_received_null,
            flags,
            overlapped: o,
            event,
            routine_null,
        } => {
            assert_eq!((*s, *o), (socket, overlapped));
            // SRS_ASYNC_SOCKET_WIN32_01_078: one WSABUF per buffer...
            assert_eq!(buffers.len(), 3);
            // SRS_ASYNC_SOCKET_WIN32_01_079: ... pointing at the payload.
            assert_eq!(*buffers, expected);
            assert_ne!(*event, 0);
            assert_eq!(*flags, 0);
            assert!(*bytes_received_null);
            assert!(*routine_null);
            *event
        }
        other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_054 / SRS_ASYNC_SOCKET_WIN32_01_055: the transport reports the
    // receive error, WSAGetLastError says IO_PENDING, which is not an error.
    assert_eq!(
        log[4],
        Call::WsaGetLastError {
            error: WSA_IO_PENDING as i32
        }
    );
    assert_eq!(log.len(), 5, "{log:#?}");
    assert_eq!(sent(&a, b"abcdef"), SendResult::Ok);
    let (r, n, back, _) = recv(&done, "the receive");
    // SRS_ASYNC_SOCKET_WIN32_01_077: the context kept the payload and the callback.
    assert_eq!((r, n), (ReceiveResult::Ok, 6));
    assert_eq!(back, vec![b"a".to_vec(), b"bc".to_vec(), b"def".to_vec()]);
    assert_eq!(wsabufs_of(&back), expected);
    let log = calls();
    assert!(log.contains(&Call::OnIoComplete {
        overlapped,
        io_result: NO_ERROR,
        bytes: 6
    }));
    assert!(log.contains(&Call::CloseHandle { handle: event }));
}

#[test]
fn receive_failing_is_an_error_after_cancelling_the_io_01_054_01_099_01_105_01_084() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_054 / SRS_ASYNC_SOCKET_WIN32_01_099: the transport reports the
    // receive error, WSAGetLastError gives another error: CancelThreadpoolIo, then an error.
    fault::inject_once(CallKind::WsaRecv, Outcome::Fail(WSAECONNRESET));
    let (kind, bufs) = recv_err(&b, vec![vec![0u8; 2]]);
    assert_eq!(os_error(&kind), Some(WSAECONNRESET as i32), "{kind:?}");
    assert_eq!(bufs, vec![vec![0u8; 2]]);
    let log = take_calls();
    let at = first(&log, CallKind::WsaRecv);
    assert_eq!(log[at - 1].kind(), CallKind::SocketTransportReceive);
    assert_eq!(
        log[at + 1],
        Call::WsaGetLastError {
            error: WSAECONNRESET as i32
        }
    );
    assert!(matches!(log[at + 2], Call::CancelThreadpoolIo { .. }));
    // SRS_ASYNC_SOCKET_WIN32_01_105: the transport's receive fails otherwise (WSARecv returned
    // neither 0 nor SOCKET_ERROR): CancelThreadpoolIo, an error, no WSAGetLastError.
    fault::inject_once(CallKind::WsaRecv, Outcome::Return(7));
    let (kind, _) = recv_err(&b, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::Io(_)), "{kind:?}");
    let log = take_calls();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert_eq!(count(&log, CallKind::WsaGetLastError), 0);
    // SRS_ASYNC_SOCKET_WIN32_01_084: any error: CreateEvent failing.
    fault::inject_once(
        CallKind::CreateEvent,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let (kind, _) = recv_err(&b, vec![vec![0u8; 2]]);
    assert_eq!(
        os_error(&kind),
        Some(ERROR_NOT_ENOUGH_MEMORY as i32),
        "{kind:?}"
    );
    assert_eq!(kinds(&take_calls()), [CallKind::CreateEvent]);
    // A receive whose WSARecv completed at once is accepted too, and the socket still works
    // after all the failures.
    assert_eq!(sent(&a, b"zz"), SendResult::Ok);
    // Give the bytes time to land, so that this WSARecv can complete at once.
    thread::sleep(Duration::from_millis(20));
    let (r, n, bufs, _) = recv(&receive(&b, vec![vec![0u8; 2]]), "receive");
    assert_eq!((r, n, bufs), (ReceiveResult::Ok, 2, vec![b"zz".to_vec()]));
    b.close();
    no_contexts_left("every context freed");
}
