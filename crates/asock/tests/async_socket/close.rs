//! Close and drop with operations pending, from every thread and from inside completions;
//! resets.

use super::*;

#[derive(Debug, PartialEq)]
enum Pending {
    Receive(ReceiveResult, u32),
    Send(SendResult, usize),
    Notify(NotifyResult),
}

/// Posts a receive (nothing to read), a 64 MiB send the peer never reads, and a notify In
/// (nothing to read) on `socket`; all report into `tx`. On Windows, which has no notify
/// (SRS_ASYNC_SOCKET_WIN32_04_002), only the receive and the send.
fn post_three_pending(socket: &AsyncSocket, tx: &Sender<Pending>) {
    let t = tx.clone();
    socket
        .receive(vec![vec![0u8; 16]], move |r, n, _| {
            let _ = t.send(Pending::Receive(r, n));
        })
        .expect("receive accepted");
    let t = tx.clone();
    socket
        .send(vec![vec![0u8; 64 * MIB]], move |r, bufs| {
            let _ = t.send(Pending::Send(r, bufs[0].len()));
        })
        .expect("send accepted");
    if cfg!(windows) {
        return;
    }
    let t = tx.clone();
    socket
        .notify_io(NotifyType::In, move |r| {
            let _ = t.send(Pending::Notify(r));
        })
        .expect("notify accepted");
}

/// What [`post_three_pending`] posted, each completed once: ABANDONED (on Windows the send
/// ERROR, the receive ABANDONED or ERROR, and no notify).
fn assert_three_abandoned(got: Vec<Pending>, what: &str) {
    assert_eq!(
        got.len(),
        if cfg!(windows) { 2 } else { 3 },
        "{what}: {got:?}"
    );
    assert!(
        got.iter()
            .any(|p| matches!(p, Pending::Receive(r, n) if receive_abandoned(*r, *n))),
        "{what}: missing the abandoned receive in {got:?}"
    );
    let mut expected = vec![Pending::Send(SEND_ABANDONED_OR_ERROR_ON_WINDOWS, 64 * MIB)];
    if !cfg!(windows) {
        expected.push(Pending::Notify(NotifyResult::Abandoned));
    }
    for expected in expected {
        assert!(
            got.contains(&expected),
            "{what}: missing {expected:?} in {got:?}"
        );
    }
}

/// C5, C9, C13: close with a pending receive, a back-pressured send and a pending
/// notify: each callback runs exactly once, ABANDONED, before close returns.
#[test]
fn close_with_pending_receive_send_and_notify_abandons_each_once_before_returning() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    post_three_pending(&socket, &tx);
    drop(tx);
    assert_silent_for(&rx, Duration::from_millis(100), "nothing is ready");
    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    assert_three_abandoned(rx.try_iter().collect(), "after close returned");
    socket.close(); // idempotent
    drop(socket);
    assert_no_more(&rx, "abandoned operations");
}

/// C1: a listening (BINDING) transport is no stream: open refuses it and hands it back, still
/// listening.
#[test]
#[cfg(not(windows))] // the seed opens a listening transport on Windows (windows_seed tests that)
fn open_with_a_listening_transport_is_invalid_and_hands_it_back_listening() {
    let engine = engine();
    let mut listener = SocketTransport::server();
    listener
        .listen_on("127.0.0.1:0".parse().unwrap(), 4)
        .expect("listen");
    let port = listener.local_port().expect("port");
    let socket = AsyncSocket::new(&engine).expect("create");
    let err = socket
        .open(listener)
        .expect_err("a listener is not a stream");
    assert!(
        matches!(err.kind(), OpenErrorKind::InvalidTransport),
        "{err}"
    );
    assert_eq!(socket.state(), SocketState::Closed);
    let listener = err.into_transport();
    let mut client = SocketTransport::client();
    client
        .connect("127.0.0.1", port, WAIT)
        .expect("the listener still listens");
    assert!(listener.accept(WAIT).expect("accept").is_some());
}

/// C9: `close_with` returns at once; the close runs on an engine worker, which delivers every
/// pending completion (ABANDONED) before `on_closed` runs, exactly once, on a worker.
#[test]
fn close_with_closes_on_a_worker_and_calls_back_once_after_every_completion() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    post_three_pending(&socket, &tx);
    drop(tx);
    let (closed_tx, closed_rx) = mpsc::channel();
    let main = std::thread::current().id();
    socket.close_with(move || {
        let name = std::thread::current().name().map(str::to_owned);
        let _ = closed_tx.send((std::thread::current().id(), name));
    });
    let (thread, name) = wait_for(&closed_rx, "the close_with callback");
    assert_ne!(thread, main, "on_closed runs on an engine worker");
    if !cfg!(windows) {
        // Windows' thread-pool threads carry no name: the check above is the one there.
        assert!(name.is_some_and(|n| n.starts_with("asock-worker")));
    }
    assert_eq!(socket.state(), SocketState::Closed);
    assert_three_abandoned(rx.try_iter().collect(), "when on_closed ran");
    assert_no_more(&closed_rx, "close_with callbacks");
    // A second close_with on a CLOSED socket still calls back once.
    let (again_tx, again_rx) = mpsc::channel();
    socket.close_with(move || {
        let _ = again_tx.send(());
    });
    wait_for(&again_rx, "the second close_with callback");
    assert_no_more(&again_rx, "second close_with callbacks");
}

/// C5, C10: dropping an OPEN socket with pending operations completes each once, ABANDONED,
/// before the drop returns, and releases the engine.
#[test]
fn drop_with_pending_operations_completes_them_abandoned() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    assert_eq!(engine.ref_count(), 2);
    let (tx, rx) = mpsc::channel();
    post_three_pending(&socket, &tx);
    drop(tx);
    drop(socket);
    assert_three_abandoned(rx.try_iter().collect(), "after drop returned");
    assert_no_more(&rx, "abandoned operations");
    assert_eq!(engine.ref_count(), 1);
    // The transport was closed: the peer reads what got through, then the end (or a reset).
    let mut buf = vec![0u8; 1 << 20];
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the peer never saw the end of the stream"
        );
        match peer.receive_timeout(&mut [io::IoSliceMut::new(&mut buf)], 0, WAIT) {
            Ok(n) => assert!(buf[..n].iter().all(|&b| b == 0)),
            Err(asock::transport::TransportReceiveError::Shutdown) => break,
            Err(e) => panic!("peer receive: {e}"),
        }
    }
}

/// C5, C9: close racing a storm of sends from 4 threads: every accepted send gets
/// exactly one callback before close returns, every later send is NOT_OPEN, counts balance.
#[test]
fn close_racing_a_send_storm_balances_every_accepted_send() {
    const THREADS: u64 = 4;
    const MAX_PER_THREAD: u64 = 200_000;
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel::<(u64, SendResult)>();
    let (warm_tx, warm_rx) = mpsc::channel::<()>();
    let (accepted, delivered_at_close) = thread::scope(|s| {
        let storms: Vec<_> = (0..THREADS)
            .map(|t| {
                let (socket, tx, warm_tx) = (&socket, tx.clone(), warm_tx.clone());
                s.spawn(move || {
                    let mut ok = Vec::new();
                    for i in 0..MAX_PER_THREAD {
                        let id = t * MAX_PER_THREAD + i;
                        let tx = tx.clone();
                        match socket.send(vec![vec![t as u8; 64]], move |r, _| {
                            let _ = tx.send((id, r));
                        }) {
                            Ok(()) => ok.push(id),
                            Err(e) => {
                                assert!(
                                    matches!(e.kind(), SubmitErrorKind::NotOpen),
                                    "thread {t}: a send after close: {:?}",
                                    e.kind()
                                );
                                assert_eq!(e.send_sync_result(), SendSyncResult::NotOpen);
                                assert_eq!(e.into_inner(), vec![vec![t as u8; 64]]);
                                return ok;
                            }
                        }
                        if i == 500 {
                            let _ = warm_tx.send(());
                        }
                    }
                    panic!("thread {t}: {MAX_PER_THREAD} sends and the socket never closed");
                })
            })
            .collect();
        drop(warm_tx);
        wait_for(&warm_rx, "a storm thread to reach 500 accepted sends");
        socket.close();
        assert_eq!(socket.state(), SocketState::Closed);
        let delivered: Vec<(u64, SendResult)> = rx.try_iter().collect();
        let accepted: Vec<u64> = storms
            .into_iter()
            .flat_map(|h| h.join().expect("storm thread"))
            .collect();
        (accepted, delivered)
    });
    drop(tx);
    let mut seen = HashMap::new();
    for (id, r) in &delivered_at_close {
        assert!(
            *r == SendResult::Ok || *r == SEND_ABANDONED_OR_ERROR_ON_WINDOWS,
            "send {id}: {r:?}"
        );
        *seen.entry(*id).or_insert(0) += 1;
    }
    assert!(seen.values().all(|&c| c == 1), "a send completed twice");
    let accepted: HashSet<u64> = accepted.into_iter().collect();
    assert!(accepted.len() > 500);
    let delivered: HashSet<u64> = seen.keys().copied().collect();
    assert_eq!(
        accepted.len(),
        delivered.len(),
        "accepted sends vs completions delivered before close returned"
    );
    assert_eq!(accepted, delivered);
    drop(socket);
    assert_no_more(&rx, "storm completions");
}

#[derive(Debug, PartialEq)]
enum Inside {
    First(ReceiveResult, u32, u8),
    Sent(SendResult),
    OtherReceive(ReceiveResult, u32),
    BigSend(SendResult),
    CloseReturned(SocketState),
}

/// C6, C9: close from inside a receive callback returns (no
/// deadlock), and the socket's other pending operations complete ABANDONED meanwhile.
#[test]
fn close_from_inside_a_receive_callback_returns_and_abandons_the_rest() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let socket = Arc::new(socket);
    let (tx, rx) = mpsc::channel();
    let (me, t) = (Arc::clone(&socket), tx.clone());
    socket
        .receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            let _ = t.send(Inside::First(r, n, bufs[0][0]));
            me.close();
            let _ = t.send(Inside::CloseReturned(me.state()));
        })
        .expect("receive accepted");
    let t = tx.clone();
    socket
        .receive(vec![vec![0u8; 1]], move |r, n, _| {
            let _ = t.send(Inside::OtherReceive(r, n));
        })
        .expect("second receive accepted");
    let t = tx.clone();
    socket
        .send(vec![vec![0u8; 64 * MIB]], move |r, _| {
            let _ = t.send(Inside::BigSend(r));
        })
        .expect("big send accepted");
    drop(tx);
    raw_send(&peer, b"x");

    let got = wait_for_n(
        &rx,
        4,
        "the callbacks around a close from a receive callback",
    );
    assert_eq!(got[0], Inside::First(ReceiveResult::Ok, 1, b'x'));
    assert_eq!(got[3], Inside::CloseReturned(SocketState::Closed));
    assert!(
        got.iter()
            .any(|i| matches!(i, Inside::OtherReceive(r, n) if receive_abandoned(*r, *n))),
        "{got:?}"
    );
    assert!(
        got.contains(&Inside::BigSend(SEND_ABANDONED_OR_ERROR_ON_WINDOWS)),
        "{got:?}"
    );
    assert_eq!(socket.state(), SocketState::Closed);
    socket.close();
    assert_no_more(&rx, "callbacks");
}

/// C6, C9: close from inside a send callback returns, a pending
/// receive completes ABANDONED, and the peer gets the data then the end of the stream.
#[test]
fn close_from_inside_a_send_callback_returns_and_abandons_the_rest() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let socket = Arc::new(socket);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    socket
        .receive(vec![vec![0u8; 4]], move |r, n, _| {
            let _ = t.send(Inside::OtherReceive(r, n));
        })
        .expect("receive accepted");
    let (me, t) = (Arc::clone(&socket), tx.clone());
    socket
        .send(vec![b"hi".to_vec()], move |r, _| {
            let _ = t.send(Inside::Sent(r));
            me.close();
            let _ = t.send(Inside::CloseReturned(me.state()));
        })
        .expect("send accepted");
    drop(tx);
    let got = wait_for_n(&rx, 3, "the callbacks around a close from a send callback");
    assert!(
        matches!(
            &got[..],
            [
                Inside::Sent(SendResult::Ok),
                Inside::OtherReceive(r, n),
                Inside::CloseReturned(SocketState::Closed),
            ] if receive_abandoned(*r, *n)
        ),
        "{got:?}"
    );
    assert_eq!(raw_read_exact(&peer, 2), b"hi");
    raw_expect_eof(&peer);
    assert_no_more(&rx, "callbacks");
}

/// C9: two threads closing at once both return only when the
/// socket is CLOSED and the (slow) abandoned completion has run.
#[test]
fn two_concurrent_closes_both_return_only_when_closed() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let finished = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let f = Arc::clone(&finished);
    socket
        .receive(vec![vec![0u8; 4]], move |r, n, _| {
            thread::sleep(Duration::from_millis(300));
            f.store(true, SeqCst);
            let _ = tx.send((r, n));
        })
        .expect("receive accepted");
    let barrier = Barrier::new(2);
    let seen: Vec<(SocketState, bool)> = thread::scope(|s| {
        let closers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    socket.close();
                    (socket.state(), finished.load(SeqCst))
                })
            })
            .collect();
        closers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        seen,
        [(SocketState::Closed, true), (SocketState::Closed, true)]
    );
    let (r, n) = rx
        .try_recv()
        .expect("the receive completed before close returned");
    assert!(receive_abandoned(r, n), "{r:?} with {n} bytes");
    assert_no_more(&rx, "the abandoned receive");
}

/// C9: close waits while another thread is delivering one of the socket's completions: the
/// (slow, 300 ms) callback has returned by the time close returns.
#[test]
fn close_waits_for_a_completion_callback_running_on_another_thread() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let finished = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let f = Arc::clone(&finished);
    socket
        .receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            let _ = tx.send((r, n, bufs[0][0]));
            thread::sleep(Duration::from_millis(300));
            f.store(true, SeqCst);
        })
        .expect("receive accepted");
    raw_send(&peer, b"w");
    assert_eq!(
        wait_for(&rx, "the slow callback to start"),
        (ReceiveResult::Ok, 1, b'w')
    );
    socket.close();
    assert!(
        finished.load(SeqCst),
        "close returned while the callback was still running"
    );
    assert_eq!(socket.state(), SocketState::Closed);
    assert_no_more(&rx, "the slow callback");
}

/// An ABANDONED callback (run by a close) may submit I/O on another
/// socket of the engine and close a third one, without deadlock.
#[test]
fn an_abandoned_callback_can_use_and_close_other_sockets() {
    let engine = engine();
    let (a, _pa) = socket_and_raw_peer(&engine);
    let (b, pb) = socket_and_raw_peer(&engine);
    let (c, pc) = socket_and_raw_peer(&engine);
    let (b, c) = (Arc::new(b), Arc::new(c));
    let (tx, rx) = mpsc::channel();
    let (bb, cc, t) = (Arc::clone(&b), Arc::clone(&c), tx.clone());
    a.receive(vec![vec![0u8; 4]], move |r, n, _| {
        let t2 = t.clone();
        let submitted = bb.receive(vec![vec![0u8; 8]], move |r, n, bufs| {
            let _ = t2.send(format!(
                "b {r:?} {:?}",
                String::from_utf8_lossy(&filled(&bufs, n))
            ));
        });
        cc.close();
        let _ = t.send(format!(
            "a {r:?} {n}, b submit ok: {}, c {:?}",
            submitted.is_ok(),
            cc.state()
        ));
    })
    .expect("receive accepted");
    drop(tx);
    a.close();
    let got = wait_for(&rx, "the abandoned callback");
    assert!(
        abandoned_or_error_on_windows()
            .iter()
            .any(|r| got == format!("a {r:?} 0, b submit ok: true, c Closed")),
        "{got:?}"
    );
    raw_expect_eof(&pc);
    raw_send(&pb, b"b!");
    assert_eq!(wait_for(&rx, "b's receive"), "b Ok \"b!\"");
    assert_no_more(&rx, "callbacks");
}

/// C7, C8 (Linux: a reset gives ABANDONED), C13 (ERROR on a socket error): the peer closes with
/// unread data, which resets the connection: notify reports Error, a receive ABANDONED, a send
/// is rejected NOT_OPEN or completes ABANDONED. On Windows (no notify, 04_002) a receive is
/// ABANDONED or ERROR (42_001 / 01_070) and a send NOT_OPEN (42_002) or ERROR (01_067).
#[test]
fn peer_reset_gives_notify_error_and_abandoned_receive_and_send() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (r, _) = send_and_wait(&socket, vec![b"never read".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    drop(peer); // unread data: the kernel answers with a reset
    if !cfg!(windows) {
        let rx = super::notify::notify(&socket, NotifyType::In);
        assert_eq!(wait_for(&rx, "notify after a reset"), NotifyResult::Error);
    }
    let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 8]]);
    assert!(
        receive_abandoned(r, n),
        "receive after a reset: {r:?} with {n} bytes"
    );
    let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 8]]);
    assert!(
        receive_abandoned(r, n),
        "second receive after a reset: {r:?} with {n} bytes"
    );
    let (tx, rx) = mpsc::channel();
    match socket.send(vec![b"late".to_vec()], move |r, _| {
        let _ = tx.send(r);
    }) {
        Err(e) => {
            assert!(
                matches!(e.kind(), SubmitErrorKind::NotOpen),
                "{:?}",
                e.kind()
            );
            assert_eq!(e.send_sync_result(), SendSyncResult::NotOpen);
        }
        Ok(()) => assert_eq!(
            wait_for(&rx, "send after a reset"),
            SEND_ABANDONED_OR_ERROR_ON_WINDOWS
        ),
    }
}

/// C7, C8: a back-pressured send and a pending receive both complete ABANDONED when the peer
/// resets the connection (closes with unread data), without any close on our side (on
/// Windows the send ERROR, 01_067, the receive ABANDONED or ERROR, 42_001 / 01_070).
#[test]
fn pending_send_and_receive_are_abandoned_when_the_peer_resets() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    socket
        .receive(vec![vec![0u8; 16]], move |r, n, _| {
            let _ = t.send(Pending::Receive(r, n));
        })
        .expect("receive accepted");
    socket
        .send(vec![vec![0u8; 64 * MIB]], move |r, bufs| {
            let _ = tx.send(Pending::Send(r, bufs[0].len()));
        })
        .expect("send accepted");
    assert_silent_for(&rx, Duration::from_millis(100), "the peer reads nothing");
    drop(peer);
    let got = wait_for_n(&rx, 2, "completions after the peer's reset");
    assert!(
        got.iter()
            .any(|p| matches!(p, Pending::Receive(r, n) if receive_abandoned(*r, *n))),
        "{got:?}"
    );
    assert!(
        got.contains(&Pending::Send(SEND_ABANDONED_OR_ERROR_ON_WINDOWS, 64 * MIB)),
        "{got:?}"
    );
    assert_eq!(
        socket.state(),
        SocketState::Open,
        "a reset does not close the async socket"
    );
    socket.close();
    assert_no_more(&rx, "completions");
}

/// C6, C9: close from inside a notify callback returns; a pending receive completes ABANDONED.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn close_from_inside_a_notify_callback_returns_and_abandons_the_rest() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let socket = Arc::new(socket);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    socket
        .receive(vec![vec![0u8; 4]], move |r, n, _| {
            let _ = t.send(format!("receive {r:?} {n}"));
        })
        .expect("receive accepted");
    let me = Arc::clone(&socket);
    socket
        .notify_io(NotifyType::Out, move |r| {
            let _ = tx.send(format!("notify {r:?}"));
            me.close();
            let _ = tx.send(format!("close returned {:?}", me.state()));
        })
        .expect("notify accepted");
    let got = wait_for_n(&rx, 3, "callbacks around a close from a notify callback");
    assert_eq!(
        got,
        ["notify Out", "receive Abandoned 0", "close returned Closed"]
    );
    assert_no_more(&rx, "callbacks");
}

/// C7, C8: 1500 (Windows: 1000) one-to-three-byte buffers in one send (more than one system
/// call's worth and more than IOV_MAX) arrive complete and in order; a receive into 100
/// one-byte buffers fills them in order.
#[test]
fn sends_and_receives_with_many_buffers_keep_byte_order() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    // Windows has no IOV_MAX, but Wine refuses a WSASend of more than 1024 buffers
    // (WSAEMSGSIZE, 10040), and the seed hands every buffer to one WSASend: 1000 there.
    let count = if cfg!(windows) { 1000 } else { 1500 };
    let bufs: Vec<Vec<u8>> = (0..count)
        .map(|i| vec![(i % 251) as u8; 1 + i % 3])
        .collect();
    let expected: Vec<u8> = bufs.iter().flatten().copied().collect();
    let (r, back) = send_and_wait(&socket, bufs.clone());
    assert_eq!(r, SendResult::Ok);
    assert_eq!(back, bufs);
    assert_same_bytes(
        &raw_read_exact(&peer, expected.len()),
        &expected,
        &format!("{count} buffers"),
    );

    let data: Vec<u8> = (0..100u8).collect();
    raw_send(&peer, &data);
    if !cfg!(windows) {
        // (No notify on Windows, 04_002: the loop below takes the bytes as they come.)
        let rx = super::notify::notify(&socket, NotifyType::In);
        assert_eq!(wait_for(&rx, "readable"), NotifyResult::In);
    }
    let mut got = Vec::new();
    while got.len() < 100 {
        let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 1]; 100 - got.len()]);
        assert_eq!(r, ReceiveResult::Ok);
        assert!(n as usize <= bufs.len());
        for (i, b) in bufs.iter().enumerate().skip(n as usize) {
            assert_eq!(
                b,
                &[0u8],
                "buffer {i} beyond the {n} bytes received is untouched"
            );
        }
        got.extend_from_slice(&filled(&bufs, n));
    }
    assert_eq!(got, data);
}

/// C13: notify Out while a 64 MiB send is back-pressured waits until the
/// socket is writable again, then is delivered once; the send completes OK.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn notify_out_waits_for_a_back_pressured_socket_to_drain() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (stx, srx) = mpsc::channel();
    socket
        .send(vec![vec![0x33u8; 64 * MIB]], move |r, _| {
            let _ = stx.send(r);
        })
        .expect("send accepted");
    let nrx = super::notify::notify(&socket, NotifyType::Out);
    assert_silent_for(
        &nrx,
        Duration::from_millis(100),
        "notify Out while back-pressured",
    );
    let reader = thread::spawn(move || raw_read_exact(&peer, 64 * MIB));
    assert_eq!(
        wait_for(&nrx, "notify Out after the drain"),
        NotifyResult::Out
    );
    assert_eq!(wait_for(&srx, "the 64 MiB send"), SendResult::Ok);
    let data = reader.join().expect("reader");
    assert!(data.len() == 64 * MIB && data.iter().all(|&b| b == 0x33));
    assert_no_more(&nrx, "notify Out");
}

/// `open` makes a blocking descriptor non-blocking, so a send the peer does not
/// read never blocks the submitting call.
#[test]
#[cfg(target_os = "linux")] // fcntl(2) on the raw fd
fn open_makes_a_blocking_socket_non_blocking() {
    let engine = engine();
    let (client, _peer) = transport_pair();
    let fd = client.underlying_socket().expect("socket");
    // SAFETY: plain fcntl calls on a descriptor the transport keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0);
    // SAFETY: as above.
    let set = unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) };
    assert_eq!(set, 0);
    let socket = open_on(&engine, client);
    // SAFETY: as above; the open async socket owns the descriptor now and keeps it open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert_ne!(flags & libc::O_NONBLOCK, 0, "open left the socket blocking");
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    socket
        .send(vec![vec![1u8; 64 * MIB]], move |r, _| {
            let _ = tx.send(r);
        })
        .expect("send accepted");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the submitting call blocked"
    );
    socket.close();
    assert_eq!(rx.try_recv(), Ok(SendResult::Abandoned));
}
