//! Bytes under pressure: large sends, concurrent senders, multi-buffer receives, the peer
//! closing with data queued.

use super::*;

/// 64 MiB in four buffers while the peer reads slowly:
/// exactly one SEND_OK, and every byte arrives intact and in order (C7).
#[test]
fn large_send_64mib_to_a_slow_reader_completes_once_ok_and_intact() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let payload = pattern(64 * MIB, 7);
    let bufs: Vec<Vec<u8>> = payload.chunks(16 * MIB).map(<[u8]>::to_vec).collect();
    let ids = super::arguments::identity(&bufs);
    let (tx, rx) = mpsc::channel();
    socket
        .send(bufs, move |r, bufs| {
            let _ = tx.send((r, bufs));
        })
        .expect("send accepted");

    let (dtx, drx) = mpsc::channel();
    let reader = thread::spawn(move || {
        // 256 slow 4 KiB reads with 1 ms pauses, then full speed.
        let data = raw_read_exact_paced(&peer, 64 * MIB, 256);
        let _ = dtx.send(data);
        peer
    });
    let (r, back) = wait_for(&rx, "the 64 MiB send completion");
    assert_eq!(r, SendResult::Ok);
    assert_eq!(
        super::arguments::identity(&back),
        ids,
        "the four buffers handed back"
    );
    let data = wait_for(&drx, "the reader to get 64 MiB");
    assert_same_bytes(&data, &payload, "64 MiB stream");
    let _peer = reader.join().expect("reader thread");
    assert_no_more(&rx, "the 64 MiB send");
}

/// C7, C14: 4 threads × 250 sends on one socket, each payload 1000
/// copies of a distinct u32 tag: every payload is contiguous in the stream, each thread's
/// payloads appear in its call order, and completions arrive in stream order.
#[test]
fn concurrent_sends_from_4_threads_never_interleave() {
    const THREADS: u32 = 4;
    const PER_THREAD: u32 = 250;
    const COPIES: usize = 1000;
    const PAYLOAD: usize = 4 * COPIES;
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let completed = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let total = (THREADS * PER_THREAD) as usize * PAYLOAD;
    let (stream, results) = thread::scope(|s| {
        // Each submitting thread lives until every send has completed (Wine cancels I/O
        // still pending when the thread that started it exits; see sys/windows/mod.rs):
        // it waits for its `release` sender to go, which happens however this scope ends.
        let mut releases = Vec::new();
        for t in 0..THREADS {
            let (socket, tx, completed) = (&socket, tx.clone(), Arc::clone(&completed));
            let (release, released) = mpsc::channel::<()>();
            releases.push(release);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let tag = (t << 16) | i;
                    let (tx, completed) = (tx.clone(), Arc::clone(&completed));
                    socket
                        .send(vec![tag.to_le_bytes().repeat(COPIES)], move |r, bufs| {
                            completed.lock().unwrap().push(tag);
                            let _ = tx.send((tag, r, bufs[0].len()));
                        })
                        .expect("send accepted");
                }
                let _ = released.recv();
            });
        }
        drop(tx);
        let stream = raw_read_exact(&peer, total);
        let results = wait_for_n(&rx, (THREADS * PER_THREAD) as usize, "send completions");
        drop(releases);
        (stream, results)
    });
    assert_no_more(&rx, "send completions");
    for (tag, r, len) in &results {
        assert_eq!((*r, *len), (SendResult::Ok, PAYLOAD), "send {tag:#x}");
    }

    let mut stream_tags = Vec::new();
    for (k, chunk) in stream.chunks_exact(PAYLOAD).enumerate() {
        let tag = u32::from_le_bytes(chunk[..4].try_into().unwrap());
        let intact = chunk
            .chunks_exact(4)
            .all(|w| u32::from_le_bytes(w.try_into().unwrap()) == tag);
        assert!(
            intact,
            "payload #{k} (tag {tag:#x}) is interleaved with another"
        );
        stream_tags.push(tag);
    }
    let distinct: HashSet<u32> = stream_tags.iter().copied().collect();
    assert_eq!(distinct.len(), stream_tags.len(), "a payload appears twice");
    for t in 0..THREADS {
        let seq: Vec<u32> = stream_tags
            .iter()
            .filter(|tag| *tag >> 16 == t)
            .map(|tag| tag & 0xffff)
            .collect();
        assert_eq!(
            seq,
            (0..PER_THREAD).collect::<Vec<_>>(),
            "thread {t}: call order"
        );
    }
    assert_eq!(
        *completed.lock().unwrap(),
        stream_tags,
        "C14: send completions run in submission (= stream) order"
    );
}

/// A receive posted while a 64 MiB send is back-pressured on the
/// same socket completes as soon as data arrives (full duplex); the send stays pending and
/// is abandoned at close.
#[test]
fn receive_completes_while_a_large_send_is_back_pressured() {
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let (btx, brx) = mpsc::channel();
    a.send(vec![vec![0x5Au8; 64 * MIB]], move |r, bufs| {
        let _ = btx.send((r, bufs[0].len()));
    })
    .expect("big send accepted");
    let (rtx, rrx) = mpsc::channel();
    a.receive(vec![vec![0u8; 16]], move |r, n, bufs| {
        let _ = rtx.send((r, filled(&bufs, n)));
    })
    .expect("receive accepted");

    let (r, _) = send_and_wait(&b, vec![b"duplex!".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    let (r, data) = wait_for(&rrx, "the receive behind a back-pressured send");
    assert_eq!((r, data.as_slice()), (ReceiveResult::Ok, &b"duplex!"[..]));
    assert_eq!(
        brx.try_recv(),
        Err(TryRecvError::Empty),
        "b never read: the send is pending"
    );

    a.close();
    assert_eq!(
        brx.try_recv(),
        Ok((SEND_ABANDONED_OR_ERROR_ON_WINDOWS, 64 * MIB))
    );
    assert_no_more(&brx, "the big send");
}

/// C8: a multi-buffer receive with exactly its total available
/// fills every buffer, in order.
#[test]
fn multi_buffer_receive_with_exact_total_fills_all_buffers_in_order() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    for (data, sizes) in [
        (&b"abcdef"[..], [2usize, 2, 2]),
        (&b"123456"[..], [1, 3, 2]),
    ] {
        let bufs = sizes.iter().map(|&n| vec![0u8; n]).collect();
        let (r, n, bufs) = if cfg!(windows) {
            // No notify on Windows (04_002): the receive is posted first and the 6 bytes, one
            // loopback segment, complete it.
            let (tx, rx) = mpsc::channel();
            socket
                .receive(bufs, move |r, n, bufs| {
                    let _ = tx.send((r, n, bufs));
                })
                .expect("receive accepted");
            raw_send(&peer, data);
            let out = wait_for(&rx, "a receive completion");
            assert_no_more(&rx, "the receive completion");
            out
        } else {
            raw_send(&peer, data);
            let (tx, rx) = mpsc::channel();
            socket
                .notify_io(NotifyType::In, move |r| {
                    let _ = tx.send(r);
                })
                .expect("notify accepted");
            assert_eq!(wait_for(&rx, "readable"), NotifyResult::In);
            receive_and_wait(&socket, bufs)
        };
        assert_eq!((r, n), (ReceiveResult::Ok, 6), "receive of {sizes:?}");
        let mut at = 0;
        for (i, b) in bufs.iter().enumerate() {
            assert_eq!(b[..], data[at..at + sizes[i]], "buffer {i} of {sizes:?}");
            at += sizes[i];
        }
    }
}

/// C8: the peer sends 1000 bytes and closes before any receive is
/// posted: the first receive gets the 1000 bytes (OK), every later one ABANDONED with 0 bytes.
#[test]
fn peer_sends_then_closes_receive_gets_data_then_abandoned() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let payload = pattern(1000, 3);
    raw_send(&peer, &payload);
    drop(peer);
    let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 64 * 1024]]);
    assert_eq!(r, ReceiveResult::Ok);
    assert_eq!(
        filled(&bufs, n),
        payload,
        "all data before the end of stream"
    );
    for k in 0..2 {
        let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 16]]);
        assert_eq!(
            (r, n),
            (ReceiveResult::Abandoned, 0),
            "receive #{k} after the data"
        );
    }
}

/// Waits (bounded) until `fd` reports `POLLRDHUP`: the peer's end of stream has arrived.
#[cfg(target_os = "linux")] // a raw fd and poll(2)
fn wait_for_peer_close(fd: std::os::fd::RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the descriptor stays open (owned by the open async socket).
    let rc = unsafe { libc::poll(&mut p, 1, WAIT.as_millis() as libc::c_int) };
    assert_eq!(rc, 1, "the peer's FIN did not arrive within {WAIT:?}");
    assert_ne!(p.revents & libc::POLLRDHUP, 0);
}

/// C8, made deterministic: the peer's data *and* its end of stream
/// have both arrived, and the engine has seen the socket's readiness (a notify In completed),
/// before the first receive is posted. That receive gets the 1000 bytes, every later one
/// ABANDONED with 0 bytes.
#[test]
#[cfg(target_os = "linux")] // a raw fd, POLLRDHUP and notify_io
fn peer_sends_then_closes_with_fin_already_seen_receive_gets_data_then_abandoned() {
    let engine = engine();
    let (client, peer) = transport_pair();
    let fd = client
        .underlying_socket()
        .expect("a connected transport has a socket");
    let socket = open_on(&engine, client);
    let payload = pattern(1000, 5);
    raw_send(&peer, &payload);
    drop(peer);
    wait_for_peer_close(fd);
    let rx = super::notify::notify(&socket, NotifyType::In);
    assert_eq!(wait_for(&rx, "notify In"), NotifyResult::In);
    let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 64 * 1024]]);
    assert_eq!(r, ReceiveResult::Ok);
    assert_eq!(
        filled(&bufs, n),
        payload,
        "all data before the end of stream"
    );
    for k in 0..2 {
        let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 16]]);
        assert_eq!(
            (r, n),
            (ReceiveResult::Abandoned, 0),
            "receive #{k} after the data"
        );
    }
}

/// C8, on the library's fallback path for kernels without
/// `TCP_INQ` (Linux < 4.18; also every non-TCP socket given through `from_socket`): the test
/// switches `TCP_INQ` off again after `open`, so reads report no queue length. The peer's data
/// and end of stream have both arrived before the first receive: it gets the 1000 bytes, every
/// later receive must complete ABANDONED with 0 bytes.
#[test]
#[cfg(target_os = "linux")] // TCP_INQ is a Linux socket option (and the test uses notify_io)
fn peer_sends_then_closes_without_tcp_inq_receive_gets_data_then_abandoned() {
    const TCP_INQ: libc::c_int = 36;
    let engine = engine();
    let (client, peer) = transport_pair();
    let fd = client
        .underlying_socket()
        .expect("a connected transport has a socket");
    let socket = open_on(&engine, client);
    let zero: libc::c_int = 0;
    // SAFETY: setsockopt reads one live c_int of the given size; the descriptor stays open
    // (owned by the open async socket).
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_INQ,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "TCP_INQ off: {}", io::Error::last_os_error());
    let payload = pattern(1000, 6);
    raw_send(&peer, &payload);
    drop(peer);
    wait_for_peer_close(fd);
    let rx = super::notify::notify(&socket, NotifyType::In);
    assert_eq!(wait_for(&rx, "notify In"), NotifyResult::In);
    let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 64 * 1024]]);
    assert_eq!(r, ReceiveResult::Ok);
    assert_eq!(
        filled(&bufs, n),
        payload,
        "all data before the end of stream"
    );
    let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 16]]);
    assert_eq!(
        (r, n),
        (ReceiveResult::Abandoned, 0),
        "the receive after the data"
    );
}

/// C8, with the receives posted while the peer is still sending 256 KiB and then
/// closes: all bytes arrive in order (OK), then ABANDONED.
#[test]
fn peer_sends_256kib_then_closes_while_receiving_data_then_abandoned() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let payload = pattern(256 * 1024, 9);
    let expected = payload.clone();
    let sender = thread::spawn(move || {
        raw_send(&peer, &payload);
        drop(peer);
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "got {} bytes, no end of stream",
            got.len()
        );
        let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 16 * 1024], vec![0u8; 7]]);
        match r {
            ReceiveResult::Ok => {
                assert!(n > 0, "OK with 0 bytes");
                got.extend_from_slice(&filled(&bufs, n));
            }
            ReceiveResult::Abandoned => {
                assert_eq!(n, 0);
                break;
            }
            ReceiveResult::Error => panic!("receive error after {} bytes", got.len()),
        }
    }
    sender.join().expect("sender thread");
    assert_same_bytes(&got, &expected, "data before the peer's close");
    let (r, n, _) = receive_and_wait(&socket, vec![vec![0u8; 16]]);
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
}
