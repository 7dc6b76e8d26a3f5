//! The engine (C11) and where completions run (C6).

#[cfg(not(windows))] // custom transports fail on Windows (04_001)
use super::custom::{Script, Scripted, Then};
use super::*;

/// A callback that sleeps 1 s on one socket does not keep another
/// socket on the same 2-thread engine from completing a round trip meanwhile.
#[test]
fn slow_callback_on_one_socket_does_not_stall_another() {
    let engine = engine_with_threads(2);
    let (a1, b1) = socket_pair(&engine);
    let (a2, b2) = socket_pair(&engine);
    round_trip_while_a_callback_sleeps(&a1, &b1, &a2, &b2);
}

/// C11: engine parameters: {5,3} rejected; {3,3} and {0,0} accepted ({0,0} runs
/// one thread and works); None gives the defaults 4 / 0.
#[test]
fn engine_parameters_are_validated() {
    let p = |min_thread_count, max_thread_count| ExecutionEngineParameters {
        min_thread_count,
        max_thread_count,
    };
    assert!(matches!(
        ExecutionEngine::new(Some(p(5, 3))),
        Err(CreateError::InvalidParameters)
    ));
    let equal = ExecutionEngine::new(Some(p(3, 3))).expect("{3,3}");
    assert_eq!(equal.thread_count(), 3);

    let zero = ExecutionEngine::new(Some(p(0, 0))).expect("{0,0}");
    assert_eq!(zero.parameters(), p(0, 0));
    assert!(zero.thread_count() >= 1, "{{0,0}} still runs completions");
    let (a, b) = socket_pair(&zero);
    let (r, _) = send_and_wait(&a, vec![b"on {0,0}".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 8, 16), b"on {0,0}");

    let default = ExecutionEngine::new(None).expect("defaults");
    assert_eq!((DEFAULT_MIN_THREAD_COUNT, DEFAULT_MAX_THREAD_COUNT), (4, 0));
    assert_eq!(default.parameters(), p(4, 0));
    assert_eq!(default.parameters(), ExecutionEngineParameters::default());
    assert_eq!(default.thread_count(), 4);
}

/// C11: every async socket holds a reference on its engine from creation to drop.
#[test]
fn async_sockets_hold_an_engine_reference_until_dropped() {
    let engine = engine();
    assert_eq!(engine.ref_count(), 1);
    let plain = AsyncSocket::new(&engine).expect("create");
    assert_eq!(engine.ref_count(), 2);
    assert_eq!(plain.engine().ref_count(), 2);
    #[cfg(not(windows))]
    let (script, _calls) = Script::new(0, Then::PassThrough, 0, Then::PassThrough);
    #[cfg(not(windows))]
    let custom = AsyncSocket::with_transport(&engine, Scripted(script)).expect("create");
    // No custom transports on Windows (04_001): a second plain socket plays the part.
    #[cfg(windows)]
    let custom = AsyncSocket::new(&engine).expect("create");
    assert_eq!(engine.ref_count(), 3);
    let (client, _peer) = transport_pair();
    custom.open(client).expect("open");
    assert_eq!(engine.ref_count(), 3, "open takes no extra reference");
    let clone = engine.clone();
    assert_eq!(engine.ref_count(), 4);
    drop(clone);
    drop(plain);
    assert_eq!(engine.ref_count(), 2);
    drop(custom);
    assert_eq!(engine.ref_count(), 1);
}

/// C11: the last engine reference dropped from inside a completion
/// callback (along with both sockets, one of them the callback's own) does not deadlock.
#[test]
fn dropping_the_last_engine_reference_inside_a_callback_does_not_deadlock() {
    #[derive(Debug, PartialEq)]
    enum Last {
        Sent(SendResult),
        /// The receive result and bytes, and the engine's reference count the callback saw.
        DroppedEverything(ReceiveResult, Vec<u8>, Option<usize>),
    }
    type Everything = (ExecutionEngine, AsyncSocket, AsyncSocket);
    let holder: Arc<Mutex<Option<Everything>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    {
        let engine = engine();
        let (a, b) = socket_pair(&engine);
        assert_eq!(engine.ref_count(), 3);
        let (h, t) = (Arc::clone(&holder), tx.clone());
        b.receive(vec![vec![0u8; 4]], move |r, n, bufs| {
            let everything = h.lock().unwrap().take();
            let refs = everything.as_ref().map(|(e, ..)| e.ref_count());
            // The engine handle, then socket a, then b (this callback's own socket), whose
            // drop releases the last engine reference on this worker thread.
            drop(everything);
            let _ = t.send(Last::DroppedEverything(r, filled(&bufs, n), refs));
        })
        .expect("receive accepted");
        // Hand everything over before the data is sent, so the callback finds it.
        let mut slot = holder.lock().unwrap();
        *slot = Some((engine, a, b));
        let (_, a, _) = slot.as_ref().unwrap();
        let t = tx.clone();
        a.send(vec![b"last".to_vec()], move |r, _| {
            let _ = t.send(Last::Sent(r));
        })
        .expect("send accepted");
    }
    drop(tx);
    let got = wait_for_n(&rx, 2, "the send completion and the dropping callback");
    assert!(got.contains(&Last::Sent(SendResult::Ok)), "{got:?}");
    assert!(
        got.contains(&Last::DroppedEverything(
            ReceiveResult::Ok,
            b"last".to_vec(),
            Some(3)
        )),
        "the callback received the data and held the engine and both sockets: {got:?}"
    );
    assert_no_more(&rx, "callbacks");
    assert!(holder.lock().unwrap().is_none());
}

// Debian's clippy (Windows build, -Zbuild-std) claims this `const` initializer is not `const`.
#[allow(clippy::missing_const_for_thread_local)]
mod submitting_flag {
    use std::cell::Cell;
    thread_local! {
        /// Set on a thread while it is inside a submitting call of the test.
        pub static SUBMITTING: Cell<bool> = const { Cell::new(false) };
    }
}
use submitting_flag::SUBMITTING;

fn submitting<R>(f: impl FnOnce() -> R) -> R {
    SUBMITTING.with(|s| s.set(true));
    let r = f();
    SUBMITTING.with(|s| s.set(false));
    r
}

#[derive(Debug)]
pub(super) struct Where {
    pub(super) what: &'static str,
    pub(super) id: ThreadId,
    pub(super) name: Option<String>,
    pub(super) inside_submit: bool,
}

fn here(what: &'static str) -> Where {
    Where {
        what,
        id: thread::current().id(),
        name: thread::current().name().map(str::to_owned),
        inside_submit: SUBMITTING.with(Cell::get),
    }
}

/// C6: send, receive and notify completions run on engine workers ("asock-worker-*"; on
/// Windows unnamed pool threads, and no notify: 04_002), never on the submitting (test)
/// thread, never inside the submitting call.
#[test]
fn completions_run_on_engine_workers_never_on_the_submitting_thread() {
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    let main = thread::current().id();
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    submitting(|| {
        b.receive(vec![vec![0u8; 4]], move |_, _, _| {
            let _ = t.send(here("receive"));
        })
    })
    .expect("receive accepted");
    let t = tx.clone();
    submitting(|| {
        a.send(vec![b"c6".to_vec()], move |_, _| {
            let _ = t.send(here("send"));
        })
    })
    .expect("send accepted");
    if !cfg!(windows) {
        let t = tx.clone();
        submitting(|| {
            a.notify_io(NotifyType::Out, move |_| {
                let _ = t.send(here("notify"));
            })
        })
        .expect("notify accepted");
    }
    drop(tx);
    let expected: &[&str] = if cfg!(windows) {
        &["receive", "send"]
    } else {
        &["notify", "receive", "send"]
    };
    let seen = wait_for_n(&rx, expected.len(), "the completions");
    for w in &seen {
        assert_ne!(w.id, main, "{} completed on the submitting thread", w.what);
        assert!(
            !w.inside_submit,
            "{} completed inside its submitting call",
            w.what
        );
        assert!(on_engine_worker(w, main), "{} ran on {w:?}", w.what);
    }
    let mut whats: Vec<_> = seen.iter().map(|w| w.what).collect();
    whats.sort();
    assert_eq!(whats, expected);
    assert_no_more(&rx, "completions");
}

enum ChainEnd {
    Done(Vec<u8>),
    Failed(String),
}

/// Posts a receive whose callback posts the next one, `left` in all; `test_thread` is the
/// test's own thread, which posted the first.
fn post_chained(
    socket: Arc<AsyncSocket>,
    left: usize,
    mut got: Vec<u8>,
    tx: Sender<ChainEnd>,
    test_thread: ThreadId,
) {
    let err_tx = tx.clone();
    let s = Arc::clone(&socket);
    let submitted = submitting(|| {
        s.receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            let w = here("chained receive");
            let worker = on_engine_worker(&w, test_thread);
            if r != ReceiveResult::Ok || n != 1 || w.inside_submit || !worker {
                let _ = tx.send(ChainEnd::Failed(format!(
                    "receive #{}: {r:?} {n} bytes, {w:?}",
                    got.len()
                )));
                return;
            }
            got.push(bufs[0][0]);
            if left == 1 {
                let _ = tx.send(ChainEnd::Done(got));
            } else {
                post_chained(socket, left - 1, got, tx, test_thread);
            }
        })
    });
    if let Err(e) = submitted {
        let _ = err_tx.send(ChainEnd::Failed(format!("chained submit: {e}")));
    }
}

/// C6: a callback that submits the next receive, 100 times: each completes on a worker, not
/// inside the submitting call, and the bytes arrive in order.
#[test]
fn a_callback_can_chain_100_receives() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let socket = Arc::new(socket);
    let (tx, rx) = mpsc::channel();
    post_chained(
        Arc::clone(&socket),
        100,
        Vec::new(),
        tx,
        thread::current().id(),
    );
    let data: Vec<u8> = (0..100u8).collect();
    raw_send(&peer, &data);
    match wait_for(&rx, "100 chained receives") {
        ChainEnd::Done(got) => assert_eq!(got, data),
        ChainEnd::Failed(why) => panic!("{why}"),
    }
}

/// Posts send `k` whose callback posts send `k + 1`, up to 99; `test_thread` is the test's
/// own thread, which posted the first.
fn post_chained_send(socket: Arc<AsyncSocket>, k: u8, tx: Sender<ChainEnd>, test_thread: ThreadId) {
    let err_tx = tx.clone();
    let s = Arc::clone(&socket);
    let submitted = submitting(|| {
        s.send(vec![vec![k]], move |r, _| {
            let w = here("chained send");
            let worker = on_engine_worker(&w, test_thread);
            if r != SendResult::Ok || w.inside_submit || !worker {
                let _ = tx.send(ChainEnd::Failed(format!("send #{k}: {r:?}, {w:?}")));
            } else if k == 99 {
                let _ = tx.send(ChainEnd::Done(Vec::new()));
            } else {
                post_chained_send(socket, k + 1, tx, test_thread);
            }
        })
    });
    if let Err(e) = submitted {
        let _ = err_tx.send(ChainEnd::Failed(format!("chained send submit: {e}")));
    }
}

/// C6, C14: a send callback that submits the next send, 100 times: each completes on a worker,
/// not inside its submitting call, and the peer reads the 100 bytes in order.
#[test]
fn a_callback_can_chain_100_sends() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    post_chained_send(Arc::new(socket), 0, tx, thread::current().id());
    if let ChainEnd::Failed(why) = wait_for(&rx, "100 chained sends") {
        panic!("{why}");
    }
    assert_eq!(raw_read_exact(&peer, 100), (0..100u8).collect::<Vec<_>>());
}

/// C14: 50 one-byte receives submitted before the data: they complete in submission order,
/// receive i getting byte i.
#[test]
fn receives_complete_in_submission_order() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    for i in 0..50usize {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0u8; 1]], move |r, n, bufs| {
                let _ = tx.send((i, r, n, bufs[0][0]));
            })
            .expect("receive accepted");
    }
    drop(tx);
    let data: Vec<u8> = (100..150u8).collect();
    raw_send(&peer, &data);
    let got = wait_for_n(&rx, 50, "50 receives");
    for (k, (i, r, n, byte)) in got.into_iter().enumerate() {
        assert_eq!(
            (i, r, n, byte),
            (k, ReceiveResult::Ok, 1, 100 + k as u8),
            "completion #{k}"
        );
    }
    assert_no_more(&rx, "receives");

    // The same with the bytes trickling in one segment at a time from another thread.
    let (tx, rx) = mpsc::channel();
    for i in 0..100usize {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0u8; 1]], move |r, n, bufs| {
                let _ = tx.send((i, r, n, bufs[0][0]));
            })
            .expect("receive accepted");
    }
    drop(tx);
    let trickle = thread::spawn(move || {
        for b in 0..100u8 {
            raw_send(&peer, &[b]);
        }
        peer
    });
    let got = wait_for_n(&rx, 100, "100 trickled receives");
    for (k, (i, r, n, byte)) in got.into_iter().enumerate() {
        assert_eq!(
            (i, r, n, byte),
            (k, ReceiveResult::Ok, 1, k as u8),
            "trickled #{k}"
        );
    }
    let _peer = trickle.join().expect("trickle thread");
    assert_no_more(&rx, "trickled receives");
}

/// C15: a panicking callback is contained; the engine (a single worker) goes on completing
/// operations on the same socket and on another one.
#[test]
fn a_panicking_callback_does_not_kill_the_engine() {
    let engine = engine_with_threads(1);
    let (socket, peer) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    socket
        .receive(vec![vec![0u8; 1]], move |_, _, bufs| {
            let _ = tx.send(bufs[0][0]);
            panic!("deliberate panic in a completion callback (test)");
        })
        .expect("receive accepted");
    raw_send(&peer, b"p");
    assert_eq!(wait_for(&rx, "the panicking callback to run"), b'p');
    assert_no_more(&rx, "the panicking callback");

    raw_send(&peer, b"q");
    assert_eq!(receive_exactly(&socket, 1, 4), b"q");
    let (a, b) = socket_pair(&engine);
    let (r, _) = send_and_wait(&a, vec![b"alive".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 5, 8), b"alive");
}

/// The unsafe borrowed-memory API: `send_raw` from static memory and `receive_raw` into
/// leaked heap memory carry the bytes (C7, C8).
#[test]
fn send_raw_and_receive_raw_round_trip() {
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    static DATA: [u8; 9] = *b"raw bytes";
    let recv_mem = Box::into_raw(vec![0u8; 32].into_boxed_slice()) as *mut u8;
    let (rtx, rrx) = mpsc::channel();
    // SAFETY: `recv_mem` is a live 32-byte heap block not accessed until the completion has
    // run (and leaked if the test fails before).
    unsafe {
        b.receive_raw(
            &[RawBuf::new(recv_mem, 4), RawBuf::new(recv_mem.add(4), 28)],
            move |r, n| {
                let _ = rtx.send((r, n));
            },
        )
    }
    .expect("receive_raw accepted");
    let (stx, srx) = mpsc::channel();
    let parts = [
        RawBuf::new(DATA.as_ptr() as *mut u8, 3),
        RawBuf::new(DATA[3..].as_ptr() as *mut u8, 6),
    ];
    // SAFETY: DATA is static and only read by a send.
    unsafe {
        a.send_raw(&parts, move |r| {
            let _ = stx.send(r);
        })
    }
    .expect("send_raw accepted");
    assert_eq!(wait_for(&srx, "send_raw completion"), SendResult::Ok);
    let (r, n) = wait_for(&rrx, "receive_raw completion");
    assert_eq!(r, ReceiveResult::Ok);
    // SAFETY: the receive has completed: the library no longer touches the block.
    let mem = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(recv_mem, 32)) };
    let mut got = mem[..n as usize].to_vec();
    if got.len() < DATA.len() {
        got.extend(receive_exactly(&b, DATA.len() - got.len(), 16));
    }
    assert_eq!(got, DATA);
}
