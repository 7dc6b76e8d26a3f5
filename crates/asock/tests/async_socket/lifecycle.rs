//! Re-open, panicking callbacks, long queues, every owned buffer type.

use super::*;

/// C1, C6: from inside a receive callback, close the socket, open it again on a new transport
/// and post a receive there: it works like a fresh open.
#[test]
#[cfg(not(windows))] // no re-open on Windows: the seed forbids it (windows_seed tests that)
fn reopen_from_inside_a_callback_after_close_works() {
    let engine = engine();
    let listener = Listener::v4();
    let (c1, p1) = listener.connect_pair();
    let (c2, p2) = listener.connect_pair();
    let socket = Arc::new(open_on(&engine, c1));
    let spare = Arc::new(Mutex::new(Some(c2)));
    let (tx, rx) = mpsc::channel();
    let (me, t) = (Arc::clone(&socket), tx.clone());
    socket
        .receive(vec![vec![0u8; 1]], move |r, n, _| {
            me.close();
            let closed = me.state();
            let transport = spare.lock().unwrap().take().expect("the spare transport");
            let opened = me.open(transport).map_err(|e| format!("{:?}", e.kind()));
            let t2 = t.clone();
            let submitted = me.receive(vec![vec![0u8; 8]], move |r, n, bufs| {
                let _ = t2.send(format!("second {r:?} {:?}", filled(&bufs, n)));
            });
            let _ = t.send(format!(
                "first {r:?} {n}, {closed:?}, open {opened:?}, submit {}",
                submitted.is_ok()
            ));
        })
        .expect("receive accepted");
    drop(tx);
    raw_send(&p1, b"1");
    assert_eq!(
        wait_for(&rx, "the re-opening callback"),
        "first Ok 1, Closed, open Ok(()), submit true"
    );
    raw_expect_eof(&p1);
    assert_eq!(socket.state(), SocketState::Open);
    raw_send(&p2, b"22");
    assert_eq!(
        wait_for(&rx, "the receive on the new transport"),
        "second Ok [50, 50]"
    );
    let (r, _) = send_and_wait(&socket, vec![b"on two".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(raw_read_exact(&p2, 6), b"on two");
    assert_no_more(&rx, "callbacks");
}

/// C5, C9, C15: an ABANDONED callback that panics during close does not stop close: the other
/// pending operations still complete, close returns, the socket is CLOSED, the engine works.
#[test]
fn a_panicking_abandoned_callback_does_not_stop_close() {
    let engine = engine_with_threads(1);
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0u8; 1]], move |r, n, _| {
                let _ = tx.send((i, r, n));
                if i == 1 {
                    panic!("deliberate panic in an abandoned callback (test)");
                }
            })
            .expect("receive accepted");
    }
    drop(tx);
    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    let got: Vec<_> = rx.try_iter().collect();
    assert!(
        got.len() == 3
            && got
                .iter()
                .enumerate()
                .all(|(k, &(i, r, n))| i == k && receive_abandoned(r, n)),
        "each abandoned in submission order before close returned: {got:?}"
    );
    assert_no_more(&rx, "abandoned receives");
    let (a, b) = socket_pair(&engine);
    let (r, _) = send_and_wait(&a, vec![b"alive".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 5, 8), b"alive");
}

/// C5, C9, C14: 10 000 pending receives are each completed exactly once, ABANDONED, in
/// submission order, before close returns.
#[test]
fn close_abandons_10000_pending_receives_once_each_in_order() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    for i in 0..10_000u32 {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0u8; 1]], move |r, n, _| {
                let _ = tx.send((i, r, n));
            })
            .expect("receive accepted");
    }
    drop(tx);
    socket.close();
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        got.len(),
        10_000,
        "completions delivered before close returned"
    );
    for (k, (i, r, n)) in got.into_iter().enumerate() {
        assert_eq!(i, k as u32, "completion #{k}");
        assert!(
            receive_abandoned(r, n),
            "completion #{k}: {r:?} with {n} bytes"
        );
    }
    assert_no_more(&rx, "abandoned receives");
}

/// The owned buffer types of `asock::buf`: `&'static str`, `String`, `&'static [u8]`,
/// `Box<[u8]>` and arrays for sends; `Box<[u8]>` and arrays for receives; each handed back.
#[test]
fn every_owned_buffer_type_sends_and_receives() {
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    a.send(vec!["str,", "str;"], move |r, bufs| {
        let _ = t.send(format!("{r:?} {bufs:?}"));
    })
    .expect("send &str");
    let t = tx.clone();
    a.send(vec![String::from("string;")], move |r, bufs| {
        let _ = t.send(format!("{r:?} {bufs:?}"));
    })
    .expect("send String");
    let t = tx.clone();
    a.send(vec![&b"slice;"[..]], move |r, bufs| {
        let _ = t.send(format!("{r:?} {}", bufs.len()));
    })
    .expect("send &[u8]");
    let t = tx.clone();
    a.send(
        vec![Box::from(&b"boxed;"[..])],
        move |r, bufs: Vec<Box<[u8]>>| {
            let _ = t.send(format!("{r:?} {:?}", bufs[0]));
        },
    )
    .expect("send Box<[u8]>");
    a.send(vec![*b"array"], move |r, bufs| {
        let _ = tx.send(format!("{r:?} {:?}", bufs[0]));
    })
    .expect("send [u8; N]");
    let sent = wait_for_n(&rx, 5, "five sends");
    assert_eq!(
        sent,
        [
            "Ok [\"str,\", \"str;\"]".to_string(),
            "Ok [\"string;\"]".to_string(),
            "Ok 1".to_string(),
            format!("Ok {:?}", b"boxed;"),
            format!("Ok {:?}", b"array"),
        ],
        "completions in submission order, buffers handed back"
    );
    let expected = b"str,str;string;slice;boxed;array";
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let (tx, rx) = mpsc::channel();
        let boxed: Box<[u8]> = vec![0u8; 4].into_boxed_slice();
        b.receive(vec![boxed], move |r, n, bufs| {
            let _ = tx.send((r, bufs[0][..n as usize].to_vec()));
        })
        .expect("receive Box<[u8]>");
        let (r, data) = wait_for(&rx, "a Box<[u8]> receive");
        assert_eq!(r, ReceiveResult::Ok);
        got.extend(data);
        if got.len() >= expected.len() {
            break;
        }
        let (tx, rx) = mpsc::channel();
        b.receive(vec![[0u8; 3]], move |r, n, bufs| {
            let _ = tx.send((r, bufs[0][..n as usize].to_vec()));
        })
        .expect("receive [u8; 3]");
        let (r, data) = wait_for(&rx, "an array receive");
        assert_eq!(r, ReceiveResult::Ok);
        got.extend(data);
    }
    assert_eq!(got, expected);
}
