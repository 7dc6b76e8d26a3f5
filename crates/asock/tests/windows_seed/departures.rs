//! One test for each place where the backend departs from the seed (`docs/windows.md` lists
//! them): each shows, on the real thread pool, what the seed's behaviour would do there (wait
//! forever, or return while a completion is still to run), and that the backend does not.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use asock::fault::{self, Call, CallKind, Fault, Outcome};
use asock::{AsyncSocket, SendResult, SocketState};

use crate::common::*;

/// 01_022 while CLOSING: a second close waits until CLOSED.
#[test]
fn a_second_close_waits_because_a_completion_is_still_to_run() {
    let _s = serial();
    let engine = engine();
    let (_a, b) = socket_pair(&engine);
    let b = Arc::new(b);
    let ran = Arc::new(AtomicBool::new(false));
    {
        let ran = Arc::clone(&ran);
        b.receive(vec![vec![0u8; 1]], move |_, n, _| {
            assert_eq!(n, 0);
            ran.store(true, SeqCst);
        })
        .unwrap();
    }
    // Hold the aborted receive's completion (0 bytes) in on_io_complete.
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    {
        let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
        fault::on_call(CallKind::OnIoComplete, move |c| {
            if matches!(c, Call::OnIoComplete { bytes: 0, .. }) {
                entered.wait();
                release.wait();
            }
        });
    }
    let first_closer = {
        let b = Arc::clone(&b);
        thread::spawn(move || b.close())
    };
    entered.wait();
    assert_eq!(b.state(), SocketState::Closing);
    let (tx, rx) = mpsc::channel();
    let second_closer = {
        let (b, ran) = (Arc::clone(&b), Arc::clone(&ran));
        thread::spawn(move || {
            b.close();
            tx.send((b.state(), ran.load(SeqCst))).unwrap();
        })
    };
    // The seed's close returns here (01_022: the socket is not OPEN), while a completion of
    // the socket is still to run: a caller who frees what the callback uses once close has
    // returned would have it used after the free. This close waits instead.
    thread::sleep(Duration::from_millis(200));
    assert!(rx.try_recv().is_err(), "the second close waits");
    assert!(!ran.load(SeqCst), "the completion is still to run");
    release.wait();
    assert_eq!(
        recv(&rx, "the second close"),
        (SocketState::Closed, true),
        "it returned once CLOSED, after the completion ran"
    );
    first_closer.join().unwrap();
    second_closer.join().unwrap();
}

/// 01_040 from inside one of the socket's own callbacks: the callback disassociates itself
/// first.
#[test]
fn the_seed_wait_made_inside_a_callback_would_wait_for_that_callback() {
    let _s = serial();
    let engine = engine();
    let (a, b) = socket_pair(&engine);
    fault::record(true);
    let (tx, rx) = mpsc::channel();
    let io = Arc::new(Mutex::new(0usize));
    {
        let io = Arc::clone(&io);
        b.receive(vec![vec![0u8; 1]], move |_, _, _| {
            // The very call the seed's close makes (WaitForThreadpoolIoCallbacks on the
            // socket's PTP_IO), made from another thread while this callback runs, does not
            // return until the callback has: made on this thread, it would never return.
            let io = *io.lock().unwrap();
            let (wtx, wrx) = mpsc::channel();
            let waiter = thread::spawn(move || {
                // SAFETY: `io` is the socket's live PTP_IO; the socket is closed only after
                // this thread has been joined.
                unsafe { WaitForThreadpoolIoCallbacks(io, 0) };
                wtx.send(Instant::now()).unwrap();
            });
            let blocked = wrx.recv_timeout(Duration::from_millis(300)).is_err();
            let left = Instant::now();
            tx.send((blocked, left, waiter, wrx)).unwrap();
        })
        .unwrap();
    }
    *io.lock().unwrap() = io_of(&calls());
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    let (blocked, left, waiter, wrx) = recv(&rx, "the callback");
    assert!(
        blocked,
        "WaitForThreadpoolIoCallbacks waited for the running callback"
    );
    let returned = recv(&wrx, "the wait, once the callback returned");
    assert!(returned >= left);
    waiter.join().unwrap();
    // The backend's close from inside a callback disassociates the callback first, then makes
    // the seed's wait, on the callback's thread, and returns.
    let b = Arc::new(b);
    let b2 = Arc::clone(&b);
    let (tx, rx) = mpsc::channel();
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        b2.close();
        tx.send(b2.state()).unwrap();
    })
    .unwrap();
    take_calls();
    assert_eq!(sent(&a, &[2]), SendResult::Ok);
    assert_eq!(recv(&rx, "the close inside"), SocketState::Closed);
    let records = records();
    let at = |k: CallKind| {
        records
            .iter()
            .position(|r| r.call.kind() == k)
            .unwrap_or_else(|| panic!("no {k:?}"))
    };
    let (d, w) = (
        at(CallKind::DisassociateCurrentThreadFromCallback),
        at(CallKind::WaitForThreadpoolIoCallbacks),
    );
    assert!(d < w);
    assert_eq!(records[d].thread, records[w].thread);
}

/// A close on a pool thread whose pool has no thread to lend (01_040 not waited for): it
/// returns CLOSING, and the close ends once the last completion has run.
#[test]
fn a_close_on_a_full_pool_would_wait_for_completions_that_need_its_own_thread() {
    let _s = serial();
    // One thread at most.
    let engine = engine_with(1, 1);
    let (a, b) = socket_pair(&engine);
    let (c, d) = socket_pair(&engine);
    let (b, d) = (Arc::new(b), Arc::new(d));
    let (tx, rx) = mpsc::channel();
    // b's callback closes b itself (its second receive still pending) and d (whose receive is
    // pending too): a close from one of b's own callbacks, and one from a callback of another
    // socket.
    {
        let (b2, d2, tx) = (Arc::clone(&b), Arc::clone(&d), tx.clone());
        b.receive(vec![vec![0u8; 1]], move |_, _, _| {
            b2.close();
            let b_state = b2.state();
            d2.close();
            tx.send((
                "closes returned",
                thread::current().id(),
                b_state,
                d2.state(),
            ))
            .unwrap();
        })
        .unwrap();
    }
    for socket in [&b, &d] {
        let tx = tx.clone();
        socket
            .receive(vec![vec![0u8; 1]], move |_, n, _| {
                assert_eq!(n, 0);
                let id = thread::current().id();
                tx.send(("aborted", id, SocketState::Closing, SocketState::Closing))
                    .unwrap();
            })
            .unwrap();
    }
    fault::record(true);
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    let (what, closer, b_state, d_state) = recv(&rx, "the closing callback");
    assert_eq!(what, "closes returned");
    // Both closes returned with their sockets CLOSING (CallbackMayRunLong said FALSE) ...
    assert_eq!(
        (b_state, d_state),
        (SocketState::Closing, SocketState::Closing)
    );
    // ... and the completions they would have waited for (the seed's
    // WaitForThreadpoolIoCallbacks) ran afterwards, on that same thread, the pool's only one:
    // waiting for them in the callback would have waited forever.
    for _ in 0..2 {
        let (what, on, ..) = recv(&rx, "an aborted receive");
        assert_eq!((what, on), ("aborted", closer));
    }
    wait_until("both closed", || {
        b.state() == SocketState::Closed && d.state() == SocketState::Closed
    });
    let records = records();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.call.kind() == CallKind::CallbackMayRunLong)
            .count(),
        1,
        "asked once per callback"
    );
    let closed_at = records
        .iter()
        .position(|r| r.call.kind() == CallKind::Closesocket)
        .unwrap();
    let aborted: Vec<_> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.call, Call::OnIoComplete { bytes: 0, .. }))
        .collect();
    assert_eq!(aborted.len(), 2);
    for (at, r) in aborted {
        assert!(at > closed_at);
        assert_eq!(r.thread, closer);
    }
    // Each close still made the seed's calls in the seed's order (the last ones from an
    // engine job, once everything had run).
    let calls: Vec<Call> = records.into_iter().map(|r| r.call).collect();
    assert_eq!(count(&calls, CallKind::WaitForThreadpoolIoCallbacks), 2);
    assert!(
        last(&calls, CallKind::Closesocket) < first(&calls, CallKind::WaitForThreadpoolIoCallbacks)
    );
    drop(c);
}

/// The `CancelIoEx` of the sends still in the kernel before `closesocket`.
#[test]
fn without_cancelling_a_pending_send_the_close_waits_for_the_peer_under_wine() {
    let _s = serial();
    let engine = engine();
    let (c, peer) = transport_pair();
    let a = Arc::new(open_on(&engine, c));
    // 64 MiB to a peer that does not read: part written, the rest pending.
    let big = send(&a, vec![vec![0x5Au8; 64 << 20]]);
    thread::sleep(Duration::from_millis(200));
    // The seed's close: no CancelIoEx.
    fault::inject(Fault {
        call: CallKind::CancelIoEx,
        outcome: Outcome::Fail(0),
        times: 100,
    });
    let (tx, rx) = mpsc::channel();
    let closer = {
        let a = Arc::clone(&a);
        thread::spawn(move || {
            a.close();
            tx.send(()).unwrap();
        })
    };
    if under_wine() {
        // Wine leaves the send pending after closesocket until the peer reads: the seed's close
        // waits for as long as the peer does not read (here: it never would).
        assert!(
            big.recv_timeout(Duration::from_secs(2)).is_err(),
            "still pending"
        );
        assert!(rx.try_recv().is_err(), "the close waits for it");
        let mut buf = vec![0u8; 1 << 20];
        let deadline = Instant::now() + WAIT;
        let done = loop {
            let _ = peer.receive_timeout(
                &mut [std::io::IoSliceMut::new(&mut buf)],
                0,
                Duration::from_millis(50),
            );
            if let Ok(done) = big.try_recv() {
                break done;
            }
            assert!(Instant::now() < deadline, "the send never ended");
        };
        assert_eq!(done.0, SendResult::Error);
    } else {
        // Windows aborts it at closesocket.
        assert_eq!(recv(&big, "the aborted send").0, SendResult::Error);
    }
    recv(&rx, "the close");
    closer.join().unwrap();
    // With the cancel, the close returns at once under Wine too, the send ERROR.
    fault::reset();
    fault::record(true);
    let (c, _peer) = transport_pair();
    let a = open_on(&engine, c);
    let big = send(&a, vec![vec![0x5Au8; 64 << 20]]);
    thread::sleep(Duration::from_millis(200));
    let a = Arc::new(a);
    let (tx, rx) = mpsc::channel();
    {
        let a = Arc::clone(&a);
        thread::spawn(move || {
            a.close();
            tx.send(()).unwrap();
        });
    }
    recv(&rx, "the close, with the peer still not reading");
    assert_eq!(
        big.try_recv().expect("ended before close returned").0,
        SendResult::Error
    );
    let log = calls();
    assert!(first(&log, CallKind::CancelIoEx) < first(&log, CallKind::Closesocket));
}

/// Completions wait for their turn in the socket's FIFOs, not on a pool thread.
#[test]
fn a_completion_waiting_for_its_turn_on_a_pool_thread_would_starve_other_sockets() {
    let _s = serial();
    // Two threads at most.
    let engine = engine_with(2, 2);
    let (a, s) = socket_pair(&engine);
    let (xp, x) = socket_pair(&engine);
    let (tx, rx) = mpsc::channel();
    let (xtx, xrx) = mpsc::channel::<()>();
    fault::record(true);
    // S's first receive waits (in its callback) for X's receive to complete; S's second
    // receive completes meanwhile.
    {
        let tx = tx.clone();
        s.receive(vec![vec![0u8; 1]], move |_, _, _| {
            tx.send("R1 in").unwrap();
            let got = xrx.recv_timeout(WAIT).is_ok();
            tx.send(if got { "R1 out" } else { "R1 starved" }).unwrap();
        })
        .unwrap();
    }
    {
        let tx = tx.clone();
        s.receive(vec![vec![0u8; 1]], move |_, _, _| tx.send("R2").unwrap())
            .unwrap();
    }
    {
        let tx = tx.clone();
        x.receive(vec![vec![0u8; 1]], move |_, _, _| {
            tx.send("X").unwrap();
            xtx.send(()).unwrap();
        })
        .unwrap();
    }
    // R1, R2 (S's), then RX (X's).
    let receives: Vec<usize> = calls()
        .iter()
        .filter_map(|c| match c {
            Call::WsaRecv { overlapped, .. } => Some(*overlapped),
            _ => None,
        })
        .collect();
    assert_eq!(receives.len(), 3);
    let completion_of = |overlapped: usize| {
        records()
            .into_iter()
            .find(|r| matches!(r.call, Call::OnIoComplete { overlapped: o, .. } if o == overlapped))
    };
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    assert_eq!(recv(&rx, "R1"), "R1 in");
    assert_eq!(sent(&a, &[2]), SendResult::Ok);
    // R2's completion reaches on_io_complete on the other thread, is stored, and that thread
    // goes back to the pool.
    wait_until("R2's completion", || completion_of(receives[1]).is_some());
    assert_eq!(sent(&xp, &[3]), SendResult::Ok);
    assert_eq!(recv(&rx, "X"), "X");
    assert_eq!(recv(&rx, "R1 done"), "R1 out");
    assert_eq!(recv(&rx, "R2"), "R2", "R2 delivered after R1, in order");
    // X's completion ran on the very thread that had R2's: had that thread waited in R2's
    // on_io_complete for R1 to be delivered (the seed calls each callback from its own
    // on_io_complete; in order, that means waiting), X would have had no thread, and R1 would
    // have waited for X forever.
    let [r1, r2, x] = [0, 1, 2].map(|i| completion_of(receives[i]).expect("completed").thread);
    assert_ne!(r1, r2, "R2 came while R1's callback held its thread");
    assert_eq!(r2, x, "X ran on the thread that had R2");
}

/// 01_093 from inside the socket's own callback while CLOSING: the drop returns.
#[test]
fn a_drop_inside_the_socket_own_callback_would_wait_for_its_own_thread() {
    let _s = serial();
    // One thread at most.
    let engine = engine_with(1, 1);
    let (a, b) = socket_pair(&engine);
    let holder: Arc<Mutex<Option<AsyncSocket>>> = Arc::new(Mutex::new(Some(b)));
    let (tx, rx) = mpsc::channel();
    {
        let (h, tx1) = (Arc::clone(&holder), tx.clone());
        let guard = holder.lock().unwrap();
        let b = guard.as_ref().unwrap();
        b.receive(vec![vec![0u8; 1]], move |_, _, _| {
            // The pool has no thread to lend: this close leaves b CLOSING.
            let g = h.lock().unwrap();
            let b = g.as_ref().unwrap();
            b.close();
            tx1.send(("closed", b.state(), 0)).unwrap();
        })
        .unwrap();
        let h = Arc::clone(&holder);
        b.receive(vec![vec![0u8; 1]], move |_, n, _| {
            assert_eq!(n, 0);
            // Still CLOSING: the close ends only once this callback has returned. Dropping b
            // here (the seed's destroy waits while CLOSING) would wait for that.
            let b = h.lock().unwrap().take().unwrap();
            let state = b.state();
            drop(b);
            tx.send(("dropped", state, fault::calls().len())).unwrap();
        })
        .unwrap();
    }
    fault::record(true);
    assert_eq!(sent(&a, &[1]), SendResult::Ok);
    assert_eq!(recv(&rx, "the close").1, SocketState::Closing);
    let (what, state, at) = recv(&rx, "the drop");
    assert_eq!((what, state), ("dropped", SocketState::Closing));
    // The rest of the close (the seed's wait, CloseThreadpoolIo) ran after the drop had
    // returned, on the pool's only thread: the one the drop would have blocked.
    wait_until("the close ended", || {
        count(&calls(), CallKind::CloseThreadpoolIo) == 1
    });
    let records = records();
    let dropper = records
        .iter()
        .rev()
        .find(|r| matches!(r.call, Call::OnIoComplete { bytes: 0, .. }))
        .unwrap()
        .thread;
    let closed = records
        .iter()
        .position(|r| r.call.kind() == CallKind::CloseThreadpoolIo)
        .unwrap();
    assert!(closed >= at, "after the drop returned");
    assert_eq!(records[closed].thread, dropper);
    no_contexts_left("every context freed");
}
