//! State errors (C4) and open (C1, C2).

use super::*;

fn assert_send_not_open(socket: &AsyncSocket, what: &str) {
    let bufs = vec![b"abc".to_vec(), b"de".to_vec()];
    let (tx, rx) = mpsc::channel::<SendResult>();
    let err = socket
        .send(bufs.clone(), move |r, _| {
            let _ = tx.send(r);
        })
        .expect_err(what);
    assert!(
        matches!(err.kind(), SubmitErrorKind::NotOpen),
        "{what}: {:?}",
        err.kind()
    );
    assert_eq!(err.send_sync_result(), SendSyncResult::NotOpen, "{what}");
    assert_eq!(err.into_inner(), bufs, "{what}: buffers handed back");
    assert_no_more(&rx, what);
}

fn assert_receive_and_notify_not_open(socket: &AsyncSocket, what: &str) {
    let (tx, rx) = mpsc::channel::<ReceiveResult>();
    let err = socket
        .receive(vec![vec![9u8; 3]], move |r, _, _| {
            let _ = tx.send(r);
        })
        .expect_err(what);
    assert!(
        matches!(err.kind(), SubmitErrorKind::NotOpen),
        "{what}: {:?}",
        err.kind()
    );
    assert_eq!(
        err.into_inner(),
        vec![vec![9u8; 3]],
        "{what}: buffers handed back"
    );
    assert_no_more(&rx, what);
    for io_type in [NotifyType::In, NotifyType::Out] {
        let (tx, rx) = mpsc::channel::<NotifyResult>();
        let err = socket
            .notify_io(io_type, move |r| {
                let _ = tx.send(r);
            })
            .expect_err(what);
        // On Windows notify always fails, in any state (SRS_ASYNC_SOCKET_WIN32_04_002).
        if cfg!(windows) {
            assert!(
                matches!(err.kind(), SubmitErrorKind::Unsupported),
                "{what}: notify {io_type:?}: {:?}",
                err.kind()
            );
        } else {
            assert!(
                matches!(err.kind(), SubmitErrorKind::NotOpen),
                "{what}: notify {io_type:?}"
            );
        }
        assert_no_more(&rx, what);
    }
}

/// C4: send on a socket that was never opened is NOT_OPEN; buffers back, no callback.
#[test]
fn send_on_never_opened_socket_is_not_open() {
    let engine = engine();
    let socket = AsyncSocket::new(&engine).expect("create");
    assert_send_not_open(&socket, "send on a never-opened socket");
}

/// C4: send after close is NOT_OPEN.
#[test]
fn send_after_close_is_not_open() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    assert_send_not_open(&socket, "send after close");
    raw_expect_eof(&peer);
}

/// C4: receive and notify on a CLOSED socket (never opened, and after close) are NOT_OPEN.
#[test]
fn receive_and_notify_on_closed_socket_are_not_open() {
    let engine = engine();
    let socket = AsyncSocket::new(&engine).expect("create");
    assert_receive_and_notify_not_open(&socket, "never opened");
    let (client, _peer) = transport_pair();
    socket.open(client).expect("open");
    socket.close();
    assert_receive_and_notify_not_open(&socket, "after close");
}

/// C1: opening an OPEN socket fails with NotClosed and hands the transport back, still
/// connected and usable; the socket stays OPEN on its first transport.
#[test]
fn open_twice_is_not_closed_and_hands_back_a_usable_transport() {
    let engine = engine();
    let listener = Listener::v4();
    let (c1, p1) = listener.connect_pair();
    let (c2, p2) = listener.connect_pair();
    let socket = AsyncSocket::new(&engine).expect("create");
    socket.open(c1).expect("first open");
    let err = socket.open(c2).expect_err("second open");
    assert!(
        matches!(err.kind(), OpenErrorKind::NotClosed),
        "{:?}",
        err.kind()
    );
    let c2 = err.into_transport();
    assert!(c2.is_valid_socket());
    raw_send(&c2, b"still mine");
    assert_eq!(raw_read_exact(&p2, 10), b"still mine");

    assert_eq!(socket.state(), SocketState::Open);
    let (r, _) = send_and_wait(&socket, vec![b"first".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&p1, 5), b"first");
}

/// C1: open on a transport holding no socket fails with InvalidTransport and hands it back;
/// connected afterwards, the same transport opens fine.
#[test]
fn open_with_unconnected_transport_is_invalid_transport_and_hands_it_back() {
    let engine = engine();
    let socket = AsyncSocket::new(&engine).expect("create");
    for transport in [SocketTransport::client(), SocketTransport::server()] {
        let ty = transport.socket_type();
        let err = socket.open(transport).expect_err("open without a socket");
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidTransport),
            "{:?}",
            err.kind()
        );
        let back = err.into_transport();
        assert_eq!(back.socket_type(), ty);
        assert!(!back.is_valid_socket());
        assert_eq!(socket.state(), SocketState::Closed);
    }
    let err = socket
        .open(SocketTransport::client())
        .expect_err("open without a socket");
    let mut transport = err.into_transport();
    let listener = Listener::v4();
    transport
        .connect("127.0.0.1", listener.port(), WAIT)
        .expect("connect the handed-back transport");
    let peer = listener.accept();
    socket.open(transport).expect("open after connecting");
    assert_eq!(socket.state(), SocketState::Open);
    let (r, _) = send_and_wait(&socket, vec![b"x".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&peer, 1), b"x");
}

/// C1: after close the transport is closed (the peer sees the end of the stream), and the
/// async socket opens again on a new transport and works like a fresh one.
#[test]
#[cfg(not(windows))] // no re-open on Windows: the seed forbids it (windows_seed tests that)
fn reopen_after_close_with_a_new_transport_works_like_a_fresh_open() {
    let engine = engine();
    let listener = Listener::v4();
    let (c1, p1) = listener.connect_pair();
    let socket = open_on(&engine, c1);
    let (r, _) = send_and_wait(&socket, vec![b"one".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&p1, 3), b"one");
    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    raw_expect_eof(&p1);

    let (c2, p2) = listener.connect_pair();
    socket.open(c2).expect("re-open");
    assert_eq!(socket.state(), SocketState::Open);
    let (r, _) = send_and_wait(&socket, vec![b"two".to_vec(), b"!".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&p2, 4), b"two!");
    raw_send(&p2, b"back");
    assert_eq!(receive_exactly(&socket, 4, 16), b"back");
    // A pending receive on the re-opened socket is abandoned at close, like on a fresh one.
    let (tx, rx) = mpsc::channel();
    socket
        .receive(vec![vec![0u8; 4]], move |r, n, _| {
            let _ = tx.send((r, n));
        })
        .expect("receive accepted");
    socket.close();
    let (r, n) = rx
        .try_recv()
        .expect("the receive completed before close returned");
    assert!(receive_abandoned(r, n), "{r:?} with {n} bytes");
    raw_expect_eof(&p2);
}

/// C2: `open_async` calls its callback with OK on the calling thread before returning; a
/// failing `open_async` calls nothing.
#[test]
fn open_async_calls_back_on_the_calling_thread_before_returning() {
    let engine = engine();
    let (client, peer) = transport_pair();
    let socket = AsyncSocket::new(&engine).expect("create");
    let me = thread::current().id();
    let mut seen: Option<(OpenResult, ThreadId, SocketState)> = None;
    socket
        .open_async(client, |r| {
            seen = Some((r, thread::current().id(), SocketState::Open));
        })
        .expect("open_async");
    assert_eq!(seen, Some((OpenResult::Ok, me, SocketState::Open)));
    assert_eq!(socket.state(), SocketState::Open);

    let mut called = false;
    let (second, _second_peer) = transport_pair();
    let err = socket
        .open_async(second, |_| called = true)
        .expect_err("open_async on an OPEN socket");
    assert!(
        matches!(err.kind(), OpenErrorKind::NotClosed),
        "{:?}",
        err.kind()
    );
    assert!(!called, "a failed open_async must not call back");
    let other = AsyncSocket::new(&engine).expect("create");
    let err = other
        .open_async(SocketTransport::client(), |_| called = true)
        .expect_err("open_async on an unconnected transport");
    assert!(
        matches!(err.kind(), OpenErrorKind::InvalidTransport),
        "{:?}",
        err.kind()
    );
    assert!(!called, "a failed open_async must not call back");

    let (r, _) = send_and_wait(&socket, vec![b"opened".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&peer, 6), b"opened");
}
