//! Integration tests of `asock::future`: the futures over the callback API, under tokio
//! (multi-thread and current-thread) and `futures::executor::block_on`; dropping futures at
//! every point with buffers that record their drop; tasks on the engine (`spawn`). The
//! listener and connect are in `listener.rs`, `SocketStream` in `stream.rs`.
//!
//! Loopback only, ports chosen by the kernel, every wait bounded (`WAIT`), results, byte counts
//! and content asserted.
#![cfg(target_os = "linux")]

mod async_common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use asock::future::Socket;
use asock::{
    ExecutionEngine, IoBuf, IoBufMut, NotifyResult, NotifyType, ReceiveResult, SendResult,
    SocketState, SubmitErrorKind,
};
use async_common::*;

/// What a [`Tracked`] buffer recorded when it was dropped.
#[derive(Debug, Clone)]
struct DropRecord {
    thread: ThreadId,
    thread_name: Option<String>,
    at: Instant,
    /// When the library last asked for its bytes (`as_bytes` / `as_bytes_mut`).
    last_use: Option<Instant>,
    uses: usize,
    content: Vec<u8>,
}

#[derive(Default)]
struct DropLog {
    drops: Mutex<Vec<(usize, DropRecord)>>,
    uses: AtomicUsize,
}

impl DropLog {
    fn records(&self) -> Vec<(usize, DropRecord)> {
        self.drops.lock().unwrap().clone()
    }
    fn dropped(&self, id: usize) -> Vec<DropRecord> {
        self.records()
            .into_iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, r)| r)
            .collect()
    }
    /// Waits (bounded) for buffer `id` to be dropped and returns its only record.
    fn wait_dropped(&self, id: usize, what: &str) -> DropRecord {
        wait_until(what, || !self.dropped(id).is_empty());
        let records = self.dropped(id);
        assert_eq!(records.len(), 1, "{what}: buffer {id} dropped exactly once");
        records.into_iter().next().unwrap()
    }
}

/// A buffer that records each use by the library and its drop (time, thread, content) in a
/// shared log.
struct Tracked {
    id: usize,
    data: Vec<u8>,
    log: Arc<DropLog>,
    last_use: Mutex<Option<Instant>>,
    uses: AtomicUsize,
}

impl Tracked {
    fn new(id: usize, data: Vec<u8>, log: &Arc<DropLog>) -> Self {
        Self {
            id,
            data,
            log: Arc::clone(log),
            last_use: Mutex::new(None),
            uses: AtomicUsize::new(0),
        }
    }
    fn used(&self) {
        *self.last_use.lock().unwrap() = Some(Instant::now());
        self.uses.fetch_add(1, SeqCst);
        self.log.uses.fetch_add(1, SeqCst);
    }
}

impl IoBuf for Tracked {
    fn as_bytes(&self) -> &[u8] {
        self.used();
        &self.data
    }
}

impl IoBufMut for Tracked {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.used();
        &mut self.data
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let current = thread::current();
        let record = DropRecord {
            thread: current.id(),
            thread_name: current.name().map(str::to_owned),
            at: Instant::now(),
            last_use: *self.last_use.lock().unwrap(),
            uses: self.uses.load(SeqCst),
            content: std::mem::take(&mut self.data),
        };
        self.log.drops.lock().unwrap().push((self.id, record));
    }
}

fn on_worker(record: &DropRecord) -> bool {
    record
        .thread_name
        .as_deref()
        .is_some_and(|n| n.starts_with("asock-worker"))
}

// =============================================================================================
// A. The callback API's loopback scenarios, through the futures, on every executor
// =============================================================================================

#[test]
fn round_trip_delivers_the_bytes_and_hands_the_buffers_back() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        let (r, back) = a.send(vec![b"hello".to_vec()]).await.expect("send");
        assert_eq!(r, SendResult::Ok);
        assert_eq!(back, [b"hello".to_vec()]);
        let (r, n, bufs) = b.receive(vec![vec![0u8; 16]]).await.expect("receive");
        assert_eq!((r, n, &bufs[0][..n]), (ReceiveResult::Ok, 5, &b"hello"[..]));
        assert_eq!(bufs[0].len(), 16, "the receive buffer comes back whole");

        let (r, _) = b.send(vec![b"world!".to_vec()]).await.expect("send back");
        assert_eq!(r, SendResult::Ok);
        assert_eq!(receive_exact(&a, 6).await, b"world!");
    });
}

#[test]
fn multi_buffer_send_fills_a_multi_buffer_receive_in_order() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        let parts: Vec<Vec<u8>> = vec![b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()];
        let (r, back) = a.send(parts.clone()).await.expect("send");
        assert_eq!((r, back), (SendResult::Ok, parts));
        // Receive exactly 6 bytes into 3 + 3 byte buffers (possibly over several receives).
        let mut got = Vec::new();
        while got.len() < 6 {
            let (r, n, bufs) = b.receive(vec![[0u8; 3], [0u8; 3]]).await.expect("receive");
            assert_eq!(r, ReceiveResult::Ok);
            assert!(n >= 1 && n <= 6 - got.len());
            got.extend(bufs.concat().into_iter().take(n));
        }
        assert_eq!(got, b"abcdef");
    });
}

#[test]
fn a_thousand_ping_pongs_arrive_in_order_with_their_content() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        for i in 0u32..1000 {
            let mut msg = pattern(64, u64::from(i));
            msg[..4].copy_from_slice(&i.to_le_bytes());
            let (r, _) = a.send(vec![msg.clone()]).await.expect("ping");
            assert_eq!(r, SendResult::Ok);
            let echoed = receive_exact(&b, 64).await;
            let (r, _) = b.send(vec![echoed]).await.expect("pong");
            assert_eq!(r, SendResult::Ok);
            assert_eq!(receive_exact(&a, 64).await, msg, "round trip {i}");
        }
    });
}

#[test]
fn an_8mib_send_completes_once_while_the_peer_receives_concurrently() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        let payload = pattern(8 * MIB, 3);
        let bufs: Vec<Vec<u8>> = payload.chunks(MIB).map(<[u8]>::to_vec).collect();
        let send = a.send(bufs);
        let (sent, received) = futures::join!(send, receive_exact(&b, 8 * MIB));
        let (r, back) = sent.expect("send");
        assert_eq!(r, SendResult::Ok);
        assert_eq!(back.concat(), payload, "buffers handed back unchanged");
        assert!(received == payload, "8 MiB arrived intact and in order");
    });
}

#[test]
fn two_sends_go_out_in_call_order_whatever_order_they_are_awaited_in() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        let first = a.send(vec![b"first,".to_vec()]);
        let second = a.send(vec![b"second".to_vec()]);
        assert_eq!(second.await.expect("second").0, SendResult::Ok);
        assert_eq!(first.await.expect("first").0, SendResult::Ok);
        assert_eq!(receive_exact(&b, 12).await, b"first,second");
    });
}

#[test]
fn peer_close_gives_the_data_then_abandoned() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        let (r, _) = a.send(vec![b"last words".to_vec()]).await.expect("send");
        assert_eq!(r, SendResult::Ok);
        a.close().await;
        assert_eq!(a.state(), SocketState::Closed);
        assert_eq!(receive_exact(&b, 10).await, b"last words");
        let (r, n, bufs) = b.receive(vec![vec![0u8; 8]]).await.expect("receive");
        assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
        assert_eq!(bufs, [vec![0u8; 8]], "untouched buffer handed back");
    });
}

#[test]
fn close_with_pending_operations_abandons_each_once() {
    on_each_executor(|engine| async move {
        let (a, _b) = pair(&engine);
        let receive = a.receive(vec![vec![0u8; 16]]);
        // Larger than the socket buffers: stays pending while the peer does not read.
        let send = a.send(vec![vec![0x5Au8; 64 * MIB]]);
        let notify = a.notify(NotifyType::In);
        a.close().await;
        assert_eq!(a.state(), SocketState::Closed);
        let (r, n, bufs) = receive.await.expect("receive");
        assert_eq!((r, n, bufs[0].len()), (ReceiveResult::Abandoned, 0, 16));
        let (r, bufs) = send.await.expect("send");
        assert_eq!((r, bufs[0].len()), (SendResult::Abandoned, 64 * MIB));
        assert_eq!(notify.await.expect("notify"), NotifyResult::Abandoned);
        // Closed: new operations are rejected with their buffers.
        let err = a.send(vec![b"x".to_vec()]).await.expect_err("not open");
        assert!(matches!(err.kind(), SubmitErrorKind::NotOpen));
        assert_eq!(err.into_inner(), [b"x".to_vec()]);
        a.close().await; // closing a CLOSED socket resolves too
    });
}

#[test]
fn rejected_submissions_resolve_to_the_error_with_the_buffers() {
    on_each_executor(|engine| async move {
        let (a, _b) = pair(&engine);
        let err = a.send(Vec::<Vec<u8>>::new()).await.expect_err("no buffers");
        assert!(matches!(err.kind(), SubmitErrorKind::InvalidArgument(_)));
        let err = a
            .receive(vec![vec![1u8; 4], Vec::new()])
            .await
            .expect_err("an empty buffer");
        assert!(matches!(err.kind(), SubmitErrorKind::InvalidArgument(_)));
        assert_eq!(err.into_inner(), [vec![1u8; 4], Vec::new()]);
        let never = Socket::new(&engine).expect("socket");
        let err = never.receive(vec![vec![0u8; 4]]).await.expect_err("closed");
        assert!(matches!(err.kind(), SubmitErrorKind::NotOpen));
        let err = never.notify(NotifyType::In).await.expect_err("closed");
        assert!(matches!(err.kind(), SubmitErrorKind::NotOpen));
    });
}

#[test]
fn notify_reports_writable_at_once_and_readable_when_data_arrives() {
    on_each_executor(|engine| async move {
        let (a, b) = pair(&engine);
        assert_eq!(a.notify(NotifyType::Out).await.unwrap(), NotifyResult::Out);
        let readable = b.notify(NotifyType::In);
        a.send(vec![b"!".to_vec()]).await.unwrap();
        assert_eq!(readable.await.unwrap(), NotifyResult::In);
        assert_eq!(receive_exact(&b, 1).await, b"!", "notify read nothing");
    });
}

#[test]
fn dropping_the_socket_abandons_its_pending_futures_without_blocking() {
    on_each_executor(|engine| async move {
        let (a, _b) = pair(&engine);
        let receive = a.receive(vec![vec![0u8; 16]]);
        let send = a.send(vec![vec![7u8; 64 * MIB]]);
        drop(a); // closes on an engine thread
        let (r, n, _) = receive.await.expect("receive");
        assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
        let (r, bufs) = send.await.expect("send");
        assert_eq!((r, bufs[0].len()), (SendResult::Abandoned, 64 * MIB));
    });
}

#[test]
fn a_socket_closed_by_its_future_can_be_opened_again() {
    on_each_executor(|engine| async move {
        let (a, _b) = pair(&engine);
        a.close().await;
        let (c, d) = transport_pair();
        a.open(c).expect("reopen");
        let d = Socket::open_on(&engine, d).expect("open");
        a.send(vec![b"again".to_vec()]).await.unwrap();
        assert_eq!(receive_exact(&d, 5).await, b"again");
    });
}
// =============================================================================================
// B. Dropping futures at every point: no buffer freed early, no operation completing twice
// =============================================================================================

/// A receive future dropped before its completion: the operation keeps its buffer (the data
/// arriving later is still written into it), drops it on an engine thread after the
/// completion, and the received bytes are lost — exactly once: the next receive gets the next
/// bytes.
#[test]
fn a_receive_dropped_before_completion_keeps_its_buffer_until_the_data_arrives() {
    let engine = engine();
    let (a, b) = pair(&engine);
    let log = Arc::new(DropLog::default());
    let (wakes, waker) = counting_waker();
    let mut fut = b.receive(vec![Tracked::new(1, vec![0u8; 16], &log)]);
    assert!(poll_once(&mut fut, &waker).is_pending());
    drop(fut);
    thread::sleep(QUIET);
    assert!(log.records().is_empty(), "buffer freed before completion");

    futures::executor::block_on(a.send(vec![b"abc".to_vec()])).unwrap();
    let record = log.wait_dropped(1, "the dropped receive's buffer");
    assert!(on_worker(&record), "dropped by the completion: {record:?}");
    assert_eq!(
        &record.content[..3],
        b"abc",
        "the data was received into it"
    );
    assert!(record.last_use.is_some_and(|t| t <= record.at));
    assert_eq!(wakes.0.load(SeqCst), 0, "a dropped future is not woken");

    futures::executor::block_on(a.send(vec![b"def".to_vec()])).unwrap();
    let next = futures::executor::block_on(receive_exact(&b, 3));
    assert_eq!(
        next, b"def",
        "abc was consumed once, by the dropped receive"
    );
    thread::sleep(QUIET);
    assert_eq!(log.records().len(), 1, "no second completion");
}

/// A send future dropped before its completion: the operation keeps reading the buffer after
/// the future is gone, every byte arrives intact, and the buffer is dropped only after its
/// last use, on an engine thread.
#[test]
fn a_send_dropped_before_completion_keeps_its_buffer_until_every_byte_is_written() {
    let engine = engine();
    let (a, b) = pair(&engine);
    let log = Arc::new(DropLog::default());
    let payload = pattern(32 * MIB, 11);
    let (wakes, waker) = counting_waker();
    let mut fut = a.send(vec![Tracked::new(1, payload.clone(), &log)]);
    assert!(
        poll_once(&mut fut, &waker).is_pending(),
        "32 MiB do not fit"
    );
    drop(fut);
    let uses_at_drop = log.uses.load(SeqCst);
    thread::sleep(QUIET);
    assert!(log.records().is_empty(), "buffer freed before completion");

    let got = bounded("receive 32 MiB", move || {
        let data = futures::executor::block_on(receive_exact(&b, 32 * MIB));
        (data, b)
    });
    assert!(got.0 == payload, "every byte arrived intact");
    let record = log.wait_dropped(1, "the dropped send's buffer");
    assert!(on_worker(&record), "dropped by the completion: {record:?}");
    // The library asks a buffer for its bytes once, at submission, and keeps writing from
    // there: the bytes that arrived after the drop were read from the buffer the dropped
    // future had handed over, which was not freed until the send completed.
    assert_eq!(
        (uses_at_drop, record.uses),
        (1, 1),
        "asked for its bytes once"
    );
    assert!(record.last_use.is_some_and(|t| t <= record.at));
    assert_eq!(record.content, payload, "the buffer was never changed");
    assert_eq!(wakes.0.load(SeqCst), 0);
}

/// A future whose operation completed but which was never polled again: the value waits in
/// the future; dropping it drops the buffers then, on the dropping thread, once.
#[test]
fn a_future_dropped_after_completion_but_before_its_poll_drops_the_buffers_then() {
    let engine = engine();
    let (a, b) = pair(&engine);
    let log = Arc::new(DropLog::default());
    let (wakes, waker) = counting_waker();
    let mut fut = b.receive(vec![Tracked::new(1, vec![0u8; 8], &log)]);
    assert!(poll_once(&mut fut, &waker).is_pending());
    futures::executor::block_on(a.send(vec![b"xyz".to_vec()])).unwrap();
    wait_until("the completion to wake the task", || {
        wakes.0.load(SeqCst) == 1
    });
    thread::sleep(QUIET);
    assert!(log.records().is_empty(), "the value waits in the future");
    drop(fut);
    let records = log.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1.thread, thread::current().id());
    assert_eq!(&records[0].1.content[..3], b"xyz");
    assert_eq!(wakes.0.load(SeqCst), 1, "woken exactly once");
}

/// A future polled to completion wakes its task once and hands the buffers back; the caller
/// drops them.
#[test]
fn a_future_polled_to_completion_wakes_once_and_hands_the_buffers_back() {
    let engine = engine();
    let (a, b) = pair(&engine);
    let log = Arc::new(DropLog::default());
    let (wakes, waker) = counting_waker();
    let mut recv = b.receive(vec![Tracked::new(1, vec![0u8; 8], &log)]);
    assert!(poll_once(&mut recv, &waker).is_pending());
    let mut send = a.send(vec![Tracked::new(2, b"12345".to_vec(), &log)]);
    wait_until("the receive completion", || wakes.0.load(SeqCst) == 1);
    // The send's completion may be delivered a little later, on another worker.
    let (send_wakes, send_waker) = counting_waker();
    let mut sent = None;
    wait_until("the send completion", || {
        match poll_once(&mut send, &send_waker) {
            Poll::Ready(out) => {
                sent = Some(out);
                true
            }
            Poll::Pending => false,
        }
    });
    let (r, bufs) = sent.unwrap().expect("send accepted");
    assert!(send_wakes.0.load(SeqCst) <= 1);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(bufs[0].data, b"12345");
    let Poll::Ready(Ok((r, n, back))) = poll_once(&mut recv, &waker) else {
        panic!("the receive completed")
    };
    assert_eq!(
        (r, n, &back[0].data[..n]),
        (ReceiveResult::Ok, 5, &b"12345"[..])
    );
    assert!(log.records().is_empty(), "handed back, not dropped");
    drop((bufs, back, send, recv));
    let records = log.records();
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|(_, r)| r.thread == thread::current().id()));
    thread::sleep(QUIET);
    assert_eq!(wakes.0.load(SeqCst), 1, "one wake for the receive");
}

/// Futures dropped while the close runs (before it, during it, after it): each pending
/// operation completes once, `Abandoned`, and its buffers are dropped once, by the
/// completion on an engine thread; the close completes even though its future was dropped.
#[test]
fn futures_dropped_while_close_runs_free_their_buffers_once_after_abandonment() {
    for round in 0..20 {
        let engine = engine();
        let (a, _b) = pair(&engine);
        let log = Arc::new(DropLog::default());
        let (wakes, waker) = counting_waker();
        let mut recv = a.receive(vec![Tracked::new(1, vec![0u8; 16], &log)]);
        let mut send = a.send(vec![Tracked::new(2, vec![0xA5; 16 * MIB], &log)]);
        let mut notify = a.notify(NotifyType::In);
        assert!(poll_once(&mut recv, &waker).is_pending());
        assert!(poll_once(&mut send, &waker).is_pending());
        assert!(poll_once(&mut notify, &waker).is_pending());
        match round % 3 {
            0 => {
                // Dropped before the close starts.
                drop((recv, send, notify));
                drop(a.close());
            }
            1 => {
                // Dropped right after it started, racing with it; the close future too.
                let close = a.close();
                drop((recv, send, notify, close));
            }
            _ => {
                // Dropped after the close finished: values wait in them, dropped here.
                let mut close = a.close();
                wait_until("the close", || poll_once(&mut close, &waker).is_ready());
                drop((recv, send, notify));
            }
        }
        wait_until("CLOSED", || a.state() == SocketState::Closed);
        let r1 = log.wait_dropped(1, "the receive buffer");
        let r2 = log.wait_dropped(2, "the send buffer");
        assert_eq!(r2.content.len(), 16 * MIB);
        for r in [&r1, &r2] {
            match round % 3 {
                // Detached before their completion: the completion drops them.
                0 => assert!(on_worker(r), "round {round}: {r:?}"),
                // Dropped while the close ran: by whichever came second.
                1 => assert!(on_worker(r) || r.thread == thread::current().id()),
                // Completed before the futures were dropped: dropped with them.
                _ => assert_eq!(r.thread, thread::current().id()),
            }
            assert!(r.last_use.is_none_or(|t| t <= r.at));
        }
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            log.records().len(),
            2,
            "round {round}: each buffer dropped once"
        );
        let woken = wakes.0.load(SeqCst);
        assert!(
            woken <= 4,
            "round {round}: at most one wake per operation, got {woken}"
        );
    }
}

/// An operation's future and its socket both dropped: the socket closes on an engine thread,
/// the operation completes there once and drops its buffers there.
#[test]
fn dropping_future_and_socket_together_frees_the_buffers_on_an_engine_thread() {
    let engine = engine();
    let (a, _b) = pair(&engine);
    let log = Arc::new(DropLog::default());
    let recv = a.receive(vec![Tracked::new(1, vec![0u8; 16], &log)]);
    let send = a.send(vec![Tracked::new(2, vec![1u8; 16 * MIB], &log)]);
    drop((recv, send));
    drop(a);
    for id in [1, 2] {
        let r = log.wait_dropped(id, "a buffer");
        assert!(on_worker(&r), "{r:?}");
    }
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_a_future_again_after_it_completed_panics() {
    let engine = engine();
    let (a, _b) = pair(&engine);
    let (_wakes, waker) = counting_waker();
    let mut close = a.close();
    wait_until("the close", || poll_once(&mut close, &waker).is_ready());
    let _ = poll_once(&mut close, &waker);
}

// =============================================================================================
// D. spawn: tasks on the engine's workers
// =============================================================================================

mod engine_tasks {
    use super::*;
    use asock::future::spawn;

    fn worker_name() -> String {
        thread::current().name().unwrap_or("").to_owned()
    }

    /// A future that wakes itself `n` times before it resolves (as a yield does).
    struct YieldTimes(u32);

    impl Future for YieldTimes {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn spawned_echo_and_pinger_run_on_engine_workers_for_a_thousand_round_trips() {
        let engine = engine();
        let (a, b) = pair(&engine);
        let echo = spawn(&engine, async move {
            let mut echoed = 0;
            loop {
                let (r, n, mut bufs) = b.receive(vec![vec![0u8; 256]]).await.unwrap();
                if r != ReceiveResult::Ok {
                    break (echoed, worker_name());
                }
                bufs[0].truncate(n);
                assert_eq!(b.send(bufs).await.unwrap().0, SendResult::Ok);
                echoed += n;
            }
        });
        let pinger = spawn(&engine, async move {
            for i in 0u32..1000 {
                let msg = pattern(64, u64::from(i));
                assert_eq!(a.send(vec![msg.clone()]).await.unwrap().0, SendResult::Ok);
                assert_eq!(receive_exact(&a, 64).await, msg, "round trip {i}");
            }
            a.close().await;
            worker_name()
        });
        let (pinger_thread, (echoed, echo_thread)) = bounded("the spawned tasks", move || {
            futures::executor::block_on(async { (pinger.await, echo.await) })
        });
        assert_eq!(echoed, 64_000);
        assert!(pinger_thread.starts_with("asock-worker"), "{pinger_thread}");
        assert!(echo_thread.starts_with("asock-worker"), "{echo_thread}");
    }

    #[test]
    fn a_hundred_connections_ping_pong_at_once_in_spawned_tasks() {
        let engine = engine();
        let mut handles = Vec::new();
        for c in 0u64..100 {
            let (a, b) = pair(&engine);
            handles.push(spawn(&engine, async move {
                let peer = spawn(a.engine(), async move {
                    while let Ok((ReceiveResult::Ok, n, mut bufs)) =
                        b.receive(vec![vec![0u8; 64]]).await
                    {
                        bufs[0].truncate(n);
                        b.send(bufs).await.unwrap();
                    }
                });
                for i in 0..20 {
                    let msg = pattern(48, c * 1000 + i);
                    a.send(vec![msg.clone()]).await.unwrap();
                    assert_eq!(receive_exact(&a, 48).await, msg);
                }
                a.close().await;
                peer.await;
                c
            }));
        }
        let done = bounded("100 connections", move || {
            futures::executor::block_on(futures::future::join_all(handles))
        });
        assert_eq!(done, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_task_woken_from_another_thread_runs_and_joins_with_its_output() {
        let engine = engine();
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let task = spawn(&engine, async move { rx.await.unwrap() * 2 });
        thread::sleep(QUIET);
        tx.send(21).unwrap();
        assert_eq!(
            bounded("join", move || futures::executor::block_on(task)),
            42
        );
    }

    #[test]
    fn a_task_that_keeps_waking_itself_yields_its_worker_and_finishes() {
        let engine = ExecutionEngine::new(Some(asock::ExecutionEngineParameters {
            min_thread_count: 1,
            max_thread_count: 1,
        }))
        .unwrap();
        // Two self-waking tasks on one worker both finish: neither starves the other.
        let a = spawn(&engine, YieldTimes(10_000));
        let b = spawn(&engine, YieldTimes(10_000));
        bounded("yielding tasks", move || {
            futures::executor::block_on(async { futures::join!(a, b) })
        });
    }

    #[test]
    fn a_detached_task_runs_to_its_end() {
        let engine = engine();
        let (a, b) = pair(&engine);
        let (tx, rx) = mpsc::channel();
        drop(spawn(&engine, async move {
            let got = receive_exact(&b, 5).await;
            tx.send(got).unwrap();
        }));
        futures::executor::block_on(a.send(vec![b"later".to_vec()])).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"later");
    }

    #[test]
    fn a_panicking_task_raises_its_panic_where_it_is_joined() {
        let engine = engine();
        let task = spawn(&engine, async {
            YieldTimes(3).await;
            panic!("boom in a task");
        });
        let caught = bounded("join", move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures::executor::block_on(task)
            }))
        });
        let payload = caught.expect_err("the task panicked");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a task"));
        // The engine still works.
        let ok = spawn(&engine, async { 7 });
        assert_eq!(bounded("join", move || futures::executor::block_on(ok)), 7);
    }
}
