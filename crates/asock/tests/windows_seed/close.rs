//! `async_socket_close`.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{AsyncSocket, ReceiveResult, SocketState};

use crate::common::*;

#[test]
fn close_returns_when_the_socket_is_not_open_01_022() {
    let _s = serial();
    let engine = engine();
    // SRS_ASYNC_SOCKET_WIN32_01_022, CLOSED (never opened): returns, does nothing.
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    fault::record(true);
    socket.close();
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(socket.state(), SocketState::Closed);

    // SRS_ASYNC_SOCKET_WIN32_01_022, OPENING: a close made while the open creates the
    // thread-pool I/O returns at once and changes nothing; the open then ends OPEN.
    let seen = Arc::new(Mutex::new(None));
    {
        let socket = Arc::clone(&socket);
        let seen = Arc::clone(&seen);
        let once = AtomicBool::new(false);
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            if !once.swap(true, SeqCst) {
                let before = socket.state();
                let at = fault::calls().len();
                socket.close();
                let made = fault::calls().len() - at;
                *seen.lock().unwrap() = Some((before, socket.state(), made));
            }
        });
    }
    let (c, peer) = transport_pair();
    socket.open(c).expect("the open goes on");
    assert_eq!(
        seen.lock().unwrap().take(),
        Some((SocketState::Opening, SocketState::Opening, 0)),
        "close during OPENING returned at once without a call"
    );
    assert_eq!(socket.state(), SocketState::Open, "the open ended OPEN");
    let peer = open_on(&engine, peer);
    assert_eq!(sent(&socket, b"still open"), asock::SendResult::Ok);
    assert_eq!(read_exactly(&peer, 10), b"still open");

    // SRS_ASYNC_SOCKET_WIN32_01_022, CLOSING: from inside one of the socket's own callbacks
    // while its close waits for the last completions, a second close returns at once. The
    // close is made to wait (CallbackMayRunLong FALSE) by the first receive's callback; the
    // second receive's (aborted) callback closes again.
    fault::reset();
    let (a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let (b1, tx1) = (Arc::clone(&b), tx.clone());
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        b1.close();
        let _ = tx1.send(("first", b1.state()));
    })
    .unwrap();
    let (b2, tx2) = (Arc::clone(&b), tx.clone());
    b.receive(vec![vec![0u8; 1]], move |_, n, _| {
        assert_eq!(n, 0);
        let before = b2.state();
        b2.close();
        let _ = tx2.send(("second, before", before));
        let _ = tx2.send(("second, after", b2.state()));
    })
    .unwrap();
    fault::inject_once(CallKind::CallbackMayRunLong, Outcome::Fail(0));
    assert_eq!(sent(&a, &[1]), asock::SendResult::Ok);
    assert_eq!(recv(&rx, "first"), ("first", SocketState::Closing));
    assert_eq!(
        recv(&rx, "second"),
        ("second, before", SocketState::Closing)
    );
    assert_eq!(
        recv(&rx, "second returned"),
        ("second, after", SocketState::Closing),
        "the nested close returned at once"
    );
    wait_until("closed", || b.state() == SocketState::Closed);

    // CLOSED again (after a close): returns, does nothing.
    take_calls();
    fault::record(true);
    b.close();
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn close_moves_to_closing_closes_the_socket_waits_and_releases_01_019_01_021_01_040_01_059_01_042()
{
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    let during = Arc::new(Mutex::new(None));
    {
        let b = Arc::clone(&b);
        let during = Arc::clone(&during);
        fault::on_call(CallKind::Closesocket, move |_| {
            *during.lock().unwrap() = Some(b.state());
        });
    }
    let pending = receive(&b, vec![vec![0u8; 8]]);
    fault::record(true);
    b.close();
    // SRS_ASYNC_SOCKET_WIN32_01_019: CLOSING while it closes.
    assert_eq!(*during.lock().unwrap(), Some(SocketState::Closing));
    assert_eq!(b.state(), SocketState::Closed);
    let log = calls();
    let io = match log
        .iter()
        .find(|c| c.kind() == CallKind::WaitForThreadpoolIoCallbacks)
    {
        // SRS_ASYNC_SOCKET_WIN32_01_040: WaitForThreadpoolIoCallbacks(io, FALSE).
        Some(Call::WaitForThreadpoolIoCallbacks { io, cancel_pending }) => {
            assert!(!cancel_pending);
            *io
        }
        other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_021: the socket is closed first (which aborts the receive).
    let close_at = first(&log, CallKind::Closesocket);
    assert!(close_at < first(&log, CallKind::WaitForThreadpoolIoCallbacks));
    // SRS_ASYNC_SOCKET_WIN32_01_059: then CloseThreadpoolIo of the same PTP_IO.
    let at = log
        .iter()
        .position(|c| *c == Call::CloseThreadpoolIo { io })
        .expect("CloseThreadpoolIo(io)");
    assert!(at > first(&log, CallKind::WaitForThreadpoolIoCallbacks));
    // SRS_ASYNC_SOCKET_WIN32_01_042: and the environment is destroyed.
    assert!(first(&log, CallKind::DestroyThreadpoolEnvironment) > at);
    // Nothing else: an application thread may wait, so no CallbackMayRunLong and no
    // disassociation.
    assert_eq!(count(&log, CallKind::CallbackMayRunLong), 0);
    assert_eq!(
        count(&log, CallKind::DisassociateCurrentThreadFromCallback),
        0
    );
    // The pending receive completed once, before close returned.
    let (r, n, _, _) = pending.try_recv().expect("completed before close returned");
    assert_eq!(n, 0);
    assert_ne!(r, ReceiveResult::Ok);
    // The socket is really closed: the peer reads the end of the stream.
    let (r, n, _, _) = recv(&receive(&a, vec![vec![0u8; 1]]), "peer");
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
}

/// Holds the first call of `kind` in place until the test lets it go.
fn hold_first(kind: CallKind) -> (Arc<Barrier>, Arc<Barrier>) {
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
    let once = AtomicBool::new(false);
    fault::on_call(kind, move |_| {
        if !once.swap(true, SeqCst) {
            e.wait();
            r.wait();
        }
    });
    (entered, release)
}

#[test]
fn close_waits_for_executing_sends_and_receives_01_020() {
    let _s = serial();
    let engine = engine();
    for kind in [CallKind::WsaSend, CallKind::WsaRecv] {
        fault::reset();
        let (a, b) = socket_pair(&engine);
        let a = Arc::new(a);
        // Hold a WSASend (WSARecv) in place; close from another thread meanwhile.
        let (entered, release) = hold_first(kind);
        fault::record(true);
        let submitter = {
            let a = Arc::clone(&a);
            thread::spawn(move || {
                let (tx, rx) = mpsc::channel();
                let r = if kind == CallKind::WsaSend {
                    a.send(vec![b"held".to_vec()], move |r, _| {
                        let _ = tx.send(format!("{r:?}"));
                    })
                    .map_err(|e| format!("{:?}", e.kind()))
                } else {
                    a.receive(vec![vec![0u8; 4]], move |r, n, _| {
                        let _ = tx.send(format!("{r:?} {n}"));
                    })
                    .map_err(|e| format!("{:?}", e.kind()))
                };
                (r, rx.recv_timeout(WAIT).ok())
            })
        };
        entered.wait();
        let closed = Arc::new(AtomicBool::new(false));
        let closer = {
            let (a, closed) = (Arc::clone(&a), Arc::clone(&closed));
            thread::spawn(move || {
                a.close();
                closed.store(true, SeqCst);
            })
        };
        wait_until("close moved to CLOSING", || {
            a.state() == SocketState::Closing
        });
        thread::sleep(Duration::from_millis(100));
        // SRS_ASYNC_SOCKET_WIN32_01_020: close waits for the executing call: the socket is not
        // closed while WSASend (WSARecv) runs; the call started before close is accepted...
        assert!(!closed.load(SeqCst));
        assert_eq!(count(&calls(), CallKind::Closesocket), 0);
        // ... and one made now is refused at once (the socket is CLOSING).
        let refused = a.send(vec![b"x".to_vec()], |_, _| panic!("refused"));
        assert!(refused.is_err());
        release.wait();
        closer.join().unwrap();
        let (accepted, completion) = submitter.join().unwrap();
        assert!(accepted.is_ok(), "{accepted:?}");
        assert!(completion.is_some(), "the held call completed once");
        let log = calls();
        assert!(first(&log, kind) < first(&log, CallKind::Closesocket));
        drop(b);
    }
}
