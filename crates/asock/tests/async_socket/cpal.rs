//! c-pal's Linux integration scenarios, translated and made to check results, byte counts
//! and content.

use super::*;

/// c-pal `connect_no_send_succeeds`: a receive pending on each end completes ABANDONED exactly
/// once when the sockets are closed, before `close` returns (C5, C9).
#[test]
fn connect_no_send_pending_receives_complete_abandoned_once_at_close() {
    let engine = engine();
    let (client, server) = socket_pair(&engine);
    let (tx, rx) = mpsc::channel();
    for (name, socket) in [("client", &client), ("server", &server)] {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0xEEu8; 2]], move |r, n, bufs| {
                let _ = tx.send((name, r, n, bufs));
            })
            .expect("receive accepted");
    }
    drop(tx);

    client.close();
    assert_eq!(client.state(), SocketState::Closed);
    // close returns only after the pending completion ran: it is already in the channel.
    let mut got: Vec<_> = rx.try_iter().collect();
    assert!(
        got.iter().any(|(name, ..)| *name == "client"),
        "the client's receive had not completed when close returned: {got:?}"
    );
    server.close();
    assert_eq!(server.state(), SocketState::Closed);
    got.extend(rx.try_iter());
    got.sort_by_key(|(name, ..)| *name);
    assert_eq!(got.len(), 2, "one completion per receive: {got:?}");
    for (name, r, n, bufs) in got {
        // The server may see the client's FIN first: ABANDONED either way, 0 bytes (on
        // Windows a receive aborted by the close may be ERROR instead: 01_070).
        assert!(receive_abandoned(r, n), "{name}: {r:?} with {n} bytes");
        assert_eq!(
            bufs,
            vec![vec![0xEEu8; 2]],
            "{name}: buffer handed back untouched"
        );
    }
    drop((client, server));
    assert_no_more(&rx, "receives completed at close");
}

/// c-pal `send_and_receive_1_byte_succeeds` (which sends 2 bytes): SEND_OK, RECEIVE_OK, and
/// the received bytes equal the sent ones.
#[test]
fn send_and_receive_1_byte_delivers_the_bytes() {
    let engine = engine();
    let (client, server) = socket_pair(&engine);
    let (stx, srx) = mpsc::channel();
    server
        .send(vec![vec![0x42u8, 0x43]], move |r, bufs| {
            let _ = stx.send((r, bufs));
        })
        .expect("send accepted");
    let (rtx, rrx) = mpsc::channel();
    client
        .receive(vec![vec![0u8; 2]], move |r, n, bufs| {
            let _ = rtx.send((r, n, bufs));
        })
        .expect("receive accepted");

    let (sr, sbufs) = wait_for(&srx, "the send completion");
    assert_eq!(sr, SendResult::Ok);
    assert_eq!(sbufs, vec![vec![0x42u8, 0x43]], "send buffers handed back");
    let (rr, n, rbufs) = wait_for(&rrx, "the receive completion");
    assert_eq!(rr, ReceiveResult::Ok);
    assert!((1..=2).contains(&n), "received {n} bytes");
    let mut got = filled(&rbufs, n);
    if got.len() < 2 {
        got.extend(receive_exactly(&client, 2 - got.len(), 2));
    }
    assert_eq!(got, [0x42, 0x43]);
    assert_no_more(&srx, "send completion");
    assert_no_more(&rrx, "receive completion");
}

/// c-pal `receive_and_send_2_buffers_succeeds`: a 2+1-byte send received into 1+2-byte
/// buffers; the buffers fill in order (C8), possibly over two receives.
#[test]
fn receive_and_send_2_buffers_fills_receive_buffers_in_order() {
    let engine = engine();
    let (client, server) = socket_pair(&engine);
    let (sr, sbufs) = send_and_wait(&server, vec![vec![1u8, 2], vec![3u8]]);
    assert_eq!(sr, SendResult::Ok);
    assert_eq!(sbufs, vec![vec![1u8, 2], vec![3u8]]);

    let mut stream = Vec::new();
    for attempt in 0..3 {
        if stream.len() == 3 {
            break;
        }
        let (r, n, bufs) = receive_and_wait(&client, vec![vec![0u8; 1], vec![0u8; 2]]);
        assert_eq!(r, ReceiveResult::Ok, "receive #{attempt}");
        assert!((1..=3).contains(&n), "receive #{attempt}: {n} bytes");
        assert_eq!(bufs.len(), 2);
        assert_eq!(bufs[0].len(), 1);
        assert_eq!(bufs[1].len(), 2);
        // Filled in order: the first buffer first, then the second from its start.
        let expected = &[1u8, 2, 3][stream.len()..stream.len() + n as usize];
        assert_eq!(bufs[0][0], expected[0], "receive #{attempt}: first buffer");
        for (i, b) in expected[1..].iter().enumerate() {
            assert_eq!(bufs[1][i], *b, "receive #{attempt}: second buffer byte {i}");
        }
        stream.extend_from_slice(&filled(&bufs, n));
    }
    assert_eq!(stream, [1, 2, 3]);
}

/// c-pal `when_server_socket_is_closed_receive_errors_on_client_side`: the peer's transport is
/// dropped (closed), then a receive completes ABANDONED with 0 bytes (C8).
#[test]
fn when_server_socket_is_closed_receive_errors_on_client_side() {
    let engine = engine();
    let (client, peer) = socket_and_raw_peer(&engine);
    drop(peer);
    let (r, n, bufs) = receive_and_wait(&client, vec![vec![0x77u8; 1]]);
    assert_eq!(r, ReceiveResult::Abandoned);
    assert_eq!(n, 0);
    assert_eq!(bufs, vec![vec![0x77u8]], "buffer handed back untouched");
}

/// c-pal `multiple_sends_and_receives_succeeds`: three 4-byte sends, 4-byte receives until
/// 12 bytes arrived; every completion OK and the stream is the three payloads in order.
#[test]
fn multiple_sends_and_receives_deliver_12_bytes_in_order() {
    let engine = engine();
    let (client, server) = socket_pair(&engine);
    let payloads = [[1u8, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]];
    let (stx, srx) = mpsc::channel();
    let send = |i: usize| {
        let stx = stx.clone();
        server
            .send(vec![payloads[i].to_vec()], move |r, bufs| {
                let _ = stx.send((i, r, bufs));
            })
            .expect("send accepted");
    };
    let mut stream = Vec::new();
    let receive_into_stream = |stream: &mut Vec<u8>| {
        let (r, n, bufs) = receive_and_wait(&client, vec![vec![0u8; 4]]);
        assert_eq!(r, ReceiveResult::Ok);
        stream.extend_from_slice(&filled(&bufs, n));
    };

    send(0);
    receive_into_stream(&mut stream);
    while stream.len() < 4 {
        receive_into_stream(&mut stream);
    }
    send(1);
    send(2);
    receive_into_stream(&mut stream);
    while stream.len() < 8 {
        receive_into_stream(&mut stream);
    }
    for _ in 0..12 {
        if stream.len() == 12 {
            break;
        }
        receive_into_stream(&mut stream);
    }
    assert_eq!(stream, (1..=12).collect::<Vec<u8>>());

    drop(stx);
    let mut sends = wait_for_n(&srx, 3, "send completions");
    assert_no_more(&srx, "send completions");
    // C14: sends complete in submission order.
    assert_eq!(sends.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
    for (i, r, bufs) in sends.drain(..) {
        assert_eq!(r, SendResult::Ok, "send {i}");
        assert_eq!(
            bufs,
            vec![payloads[i].to_vec()],
            "send {i}: buffers handed back"
        );
    }
}

/// Raises the soft `RLIMIT_NOFILE` towards `wanted` (never above the hard limit) and returns
/// the soft limit in force.
#[cfg(unix)]
fn raise_open_file_limit(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid, writable struct passed.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    if lim.rlim_cur < wanted as libc::rlim_t {
        let raised = libc::rlimit {
            rlim_cur: (wanted as libc::rlim_t).min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one valid `rlimit`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        } else {
            eprintln!("setrlimit(RLIMIT_NOFILE): {}", io::Error::last_os_error());
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    let soft = lim.rlim_cur as u64;
    soft
}

/// Windows has no limit on open sockets like `RLIMIT_NOFILE`.
#[cfg(not(unix))]
fn raise_open_file_limit(wanted: u64) -> u64 {
    wanted
}

#[derive(Debug)]
enum PairEvent {
    Sent(usize, SendResult),
    Received(usize, ReceiveResult, Vec<u8>),
}

/// c-pal `scheduling_1000_sockets_items`: 1000 connected pairs (2000 async sockets on one
/// engine); each pair sends 4 bytes and posts an 8-byte receive; 1000 SEND_OK and 4000 bytes,
/// each receive getting exactly its own pair's 4 bytes; then everything closes.
#[test]
fn scheduling_1000_sockets_all_complete() {
    const PAIRS: usize = 1000;
    // 2 fds per pair, the listener, the engines and the tests running alongside.
    let limit = raise_open_file_limit(8192);
    let pairs = PAIRS.min((limit.saturating_sub(512) / 2) as usize);
    if pairs < PAIRS {
        eprintln!("RLIMIT_NOFILE is {limit}: running {pairs} pairs instead of {PAIRS}");
    }
    assert!(
        pairs >= 100,
        "RLIMIT_NOFILE {limit} leaves room for only {pairs} pairs"
    );

    let engine = engine();
    let listener = Listener::v4();
    let sockets: Vec<(AsyncSocket, AsyncSocket)> = (0..pairs)
        .map(|_| {
            let (c, a) = listener.connect_pair();
            (open_on(&engine, c), open_on(&engine, a))
        })
        .collect();
    assert_eq!(
        engine.ref_count(),
        1 + 2 * pairs,
        "every async socket holds the engine"
    );

    let (tx, rx) = mpsc::channel();
    for (i, (a, b)) in sockets.iter().enumerate() {
        let rtx = tx.clone();
        b.receive(vec![vec![0u8; 8]], move |r, n, bufs| {
            let _ = rtx.send(PairEvent::Received(i, r, filled(&bufs, n)));
        })
        .expect("receive accepted");
        let stx = tx.clone();
        a.send(vec![(i as u32).to_le_bytes().to_vec()], move |r, _| {
            let _ = stx.send(PairEvent::Sent(i, r));
        })
        .expect("send accepted");
    }
    drop(tx);

    let mut sent = HashSet::new();
    let mut received = HashSet::new();
    let mut bytes = 0usize;
    for ev in wait_for_n(&rx, 2 * pairs, "pair completions") {
        match ev {
            PairEvent::Sent(i, r) => {
                assert_eq!(r, SendResult::Ok, "pair {i} send");
                assert!(sent.insert(i), "pair {i}: two send completions");
            }
            PairEvent::Received(i, r, data) => {
                assert_eq!(r, ReceiveResult::Ok, "pair {i} receive");
                assert_eq!(data, (i as u32).to_le_bytes(), "pair {i}: its own 4 bytes");
                assert!(received.insert(i), "pair {i}: two receive completions");
                bytes += data.len();
            }
        }
    }
    assert_eq!(sent.len(), pairs);
    assert_eq!(received.len(), pairs);
    assert_eq!(bytes, 4 * pairs);

    for (a, b) in &sockets {
        a.close();
        b.close();
        assert_eq!(
            (a.state(), b.state()),
            (SocketState::Closed, SocketState::Closed)
        );
    }
    drop(sockets);
    assert_eq!(
        engine.ref_count(),
        1,
        "dropping the sockets released the engine"
    );
    assert_no_more(&rx, "pair completions");
}
