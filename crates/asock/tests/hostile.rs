//! A hostile or careless caller must not hang the engine or lose an operation: user code that
//! panics where the library calls it (a custom transport, a buffer type), buffers that change
//! their mind, huge buffer lists, a transport that calls back into its own socket, and a send
//! queue that grows because the peer does not read. Every wait is bounded: a hang fails the test.
#![cfg(target_os = "linux")] // custom transports exist on Linux only (Windows refuses them)

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Duration;

use asock::socket2::Socket;
use asock::{
    AsyncSocket, ExecutionEngine, IoBuf, IoBufMut, NotifyType, ReceiveResult, SendResult,
    SocketState, SubmitErrorKind, Transport,
};
use common::*;

/// Runs `f` on its own thread and fails the test if it has not returned within `limit` (the
/// blocked thread is left behind; the failure ends the test).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => panic!("{what}: still blocked after {limit:?} (hang)"),
    }
}

const LIMIT: Duration = Duration::from_secs(30);

/// What a [`Hostile`] transport does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    /// Pass through to the socket.
    Pass,
    /// Panic.
    Panic,
    /// Answer WouldBlock once, then panic (so the panic happens on an engine worker).
    BlockThenPanic,
}

struct Hostile {
    send: Act,
    recv: Act,
    blocked: AtomicBool,
}

impl Hostile {
    fn new(send: Act, recv: Act) -> Self {
        Hostile {
            send,
            recv,
            blocked: AtomicBool::new(false),
        }
    }

    fn act(&self, act: Act) -> Option<io::Result<usize>> {
        match act {
            Act::Pass => None,
            Act::Panic => panic!("a hostile transport panics"),
            Act::BlockThenPanic => {
                if !self.blocked.swap(true, SeqCst) {
                    return Some(Err(io::ErrorKind::WouldBlock.into()));
                }
                panic!("a hostile transport panics on the retry")
            }
        }
    }
}

impl Transport for Hostile {
    fn send(&self, socket: &Socket, buf: &[u8]) -> io::Result<usize> {
        if let Some(r) = self.act(self.send) {
            return r;
        }
        let mut s: &Socket = socket;
        s.write(buf)
    }
    fn recv(&self, socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = self.act(self.recv) {
            return r;
        }
        let mut s: &Socket = socket;
        s.read(buf)
    }
}

fn hostile_socket(
    engine: &ExecutionEngine,
    send: Act,
    recv: Act,
) -> (AsyncSocket, asock::SocketTransport) {
    let (client, peer) = transport_pair();
    let socket = AsyncSocket::with_transport(engine, Hostile::new(send, recv)).expect("create");
    socket.open(client).expect("open");
    (socket, peer)
}

/// The engine still runs completions for another socket (its worker survived).
fn assert_engine_alive(engine: &ExecutionEngine) {
    let (a, b) = socket_pair(engine);
    let (r, _) = send_and_wait(&a, vec![b"still alive".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    let (r, n, bufs) = receive_and_wait(&b, vec![vec![0u8; 32]]);
    assert_eq!(
        (r, filled(&bufs, n)),
        (ReceiveResult::Ok, b"still alive".to_vec())
    );
}

type Results = mpsc::Receiver<String>;

fn post_receive(socket: &AsyncSocket, tx: &mpsc::Sender<String>, tag: &'static str) {
    let tx = tx.clone();
    socket
        .receive(vec![vec![0u8; 16]], move |r, n, _| {
            let _ = tx.send(format!("{tag} {r:?} {n}"));
        })
        .expect("receive accepted");
}

fn post_send(socket: &AsyncSocket, tx: &mpsc::Sender<String>, tag: &'static str) {
    let tx = tx.clone();
    socket
        .send(vec![b"payload".to_vec()], move |r, _| {
            let _ = tx.send(format!("{tag} {r:?}"));
        })
        .expect("send accepted");
}

fn sorted(rx: &Results, n: usize, what: &str) -> Vec<String> {
    let mut got = wait_for_n(rx, n, what);
    got.sort();
    got
}

/// A custom `send` that panics on the submitting thread (the fast path): that send completes
/// once with ERROR, the receive pending beside it is abandoned as on a reset, later submissions
/// are refused as NOT_OPEN, close and drop return, and the engine's only worker survives.
#[test]
fn a_transport_send_panicking_on_the_caller_fails_that_send_and_the_socket_but_nothing_hangs() {
    within(LIMIT, "panicking custom send", || {
        let engine = engine_with_threads(1);
        let (socket, _peer) = hostile_socket(&engine, Act::Panic, Act::Pass);
        let (tx, rx) = mpsc::channel();
        post_receive(&socket, &tx, "receive");
        post_send(&socket, &tx, "send");
        assert_eq!(
            sorted(&rx, 2, "the two completions"),
            ["receive Abandoned 0", "send Error"]
        );
        let refused = socket.send(vec![b"x".to_vec()], |_, _| {}).unwrap_err();
        assert!(
            matches!(refused.kind(), SubmitErrorKind::NotOpen),
            "{:?}",
            refused.kind()
        );
        socket.close();
        assert_eq!(socket.state(), SocketState::Closed);
        drop((socket, tx));
        assert_no_more(&rx, "completions of the broken socket");
        assert_engine_alive(&engine);
    });
}

/// The same panic on an engine worker (the transport first says WouldBlock, the retry after
/// the next readiness panics): the worker survives and keeps serving the engine's other sockets.
#[test]
fn a_transport_send_panicking_on_a_worker_leaves_the_worker_alive() {
    within(LIMIT, "custom send panicking on a worker", || {
        let engine = engine_with_threads(1);
        let (socket, peer) = hostile_socket(&engine, Act::BlockThenPanic, Act::Pass);
        let (tx, rx) = mpsc::channel();
        post_send(&socket, &tx, "send");
        // A readiness edge (the peer writes), so the queued send is tried again on the worker.
        raw_send(&peer, b"edge");
        assert_eq!(wait_for(&rx, "the send completion"), "send Error");
        let refused = socket
            .receive(vec![vec![0u8; 4]], |_, _, _| {})
            .unwrap_err();
        assert!(matches!(refused.kind(), SubmitErrorKind::NotOpen));
        assert_engine_alive(&engine);
        drop((socket, tx));
        assert_no_more(&rx, "the send's completion");
    });
}

/// A custom `recv` that panics: that receive completes once with ERROR, the next queued one
/// is abandoned as on a reset, close returns and the worker survives.
#[test]
fn a_transport_recv_panicking_fails_that_receive_and_abandons_the_next() {
    within(LIMIT, "panicking custom recv", || {
        let engine = engine_with_threads(1);
        let (socket, peer) = hostile_socket(&engine, Act::Pass, Act::Panic);
        let (tx, rx) = mpsc::channel();
        post_receive(&socket, &tx, "first");
        // io_uring tries a receive at once (the socket may be readable); epoll waits for data.
        let t = tx.clone();
        let second = socket.receive(vec![vec![0u8; 16]], move |r, n, _| {
            let _ = t.send(format!("second {r:?} {n}"));
        });
        raw_send(&peer, b"data");
        match second {
            Ok(()) => assert_eq!(
                wait_for_n(&rx, 2, "both receives"),
                ["first Error 0", "second Abandoned 0"]
            ),
            Err(e) => {
                assert!(
                    matches!(e.kind(), SubmitErrorKind::NotOpen),
                    "{:?}",
                    e.kind()
                );
                assert_eq!(wait_for(&rx, "the first receive"), "first Error 0");
            }
        }
        socket.close();
        drop(tx);
        assert_no_more(&rx, "receive completions");
        assert_engine_alive(&engine);
    });
}

/// A buffer type whose `as_bytes` panics: the library asks each buffer for its bytes once, at
/// submission, so the panic is caught there: the call is refused as an argument error, the
/// buffers come back, nothing is called, and the socket keeps working.
#[test]
fn a_buffer_that_panics_when_asked_for_its_bytes_is_refused_and_handed_back() {
    struct Bomb(u8);
    impl IoBuf for Bomb {
        fn as_bytes(&self) -> &[u8] {
            panic!("a hostile buffer panics")
        }
    }
    impl IoBufMut for Bomb {
        fn as_bytes_mut(&mut self) -> &mut [u8] {
            panic!("a hostile buffer panics")
        }
    }
    within(LIMIT, "panicking buffers", || {
        let engine = engine_with_threads(1);
        let (a, b) = socket_pair(&engine);
        let err = a
            .send(vec![Bomb(1), Bomb(2)], |_, _| panic!("never called"))
            .unwrap_err();
        assert!(
            matches!(err.kind(), SubmitErrorKind::InvalidArgument(why) if why.contains("panicked"))
        );
        assert_eq!(
            err.into_inner().iter().map(|b| b.0).collect::<Vec<_>>(),
            [1, 2]
        );
        let err = b
            .receive(vec![Bomb(3)], |_, _, _| panic!("never called"))
            .unwrap_err();
        assert!(matches!(err.kind(), SubmitErrorKind::InvalidArgument(_)));
        assert_eq!(err.into_inner()[0].0, 3);
        assert_eq!(a.pending_send_bytes(), 0);
        let (r, _) = send_and_wait(&a, vec![b"fine".to_vec()]);
        assert_eq!(r, SendResult::Ok);
        let (r, n, bufs) = receive_and_wait(&b, vec![vec![0u8; 8]]);
        assert_eq!((r, filled(&bufs, n)), (ReceiveResult::Ok, b"fine".to_vec()));
    });
}

/// Counts every call of `as_bytes` / `as_bytes_mut` over all buffers of a test.
#[derive(Default)]
struct Calls(AtomicUsize);

/// A one-byte (or larger) buffer that counts how often it is asked for its bytes, and, when
/// `shrink` is set, reports a shorter slice on every call after the first.
struct Counted {
    bytes: Vec<u8>,
    calls: Arc<Calls>,
    asked: AtomicUsize,
    shrink: bool,
}

impl Counted {
    fn new(bytes: Vec<u8>, calls: &Arc<Calls>, shrink: bool) -> Self {
        Counted {
            bytes,
            calls: Arc::clone(calls),
            asked: AtomicUsize::new(0),
            shrink,
        }
    }
}

impl IoBuf for Counted {
    fn as_bytes(&self) -> &[u8] {
        self.calls.0.fetch_add(1, SeqCst);
        let first = self.asked.fetch_add(1, SeqCst) == 0;
        if self.shrink && !first {
            &self.bytes[..self.bytes.len().min(3)]
        } else {
            &self.bytes
        }
    }
}

impl IoBufMut for Counted {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.calls.0.fetch_add(1, SeqCst);
        &mut self.bytes
    }
}

/// A send of 400,000 one-byte buffers costs time linear in the count: each buffer is asked for
/// its bytes exactly once (before, every `sendmsg` walked the list from its start: 5.5 s for
/// this send, 86 s for four times as many, holding a worker and the socket). Every byte arrives,
/// in order.
#[test]
fn a_send_of_400_000_one_byte_buffers_asks_each_buffer_once_and_delivers_every_byte() {
    const N: usize = 400_000;
    within(LIMIT, "a send of 400,000 buffers", || {
        let engine = engine_with_threads(2);
        let (socket, peer) = socket_and_raw_peer(&engine);
        let calls = Arc::new(Calls::default());
        let data = pattern(N, 7);
        let bufs: Vec<Counted> = data
            .iter()
            .map(|&b| Counted::new(vec![b], &calls, false))
            .collect();
        let (tx, rx) = mpsc::channel();
        socket
            .send(bufs, move |r, bufs| {
                let _ = tx.send((r, bufs.len()));
            })
            .expect("send accepted");
        let got = raw_read_exact(&peer, N);
        assert_same_bytes(&got, &data, "the 400,000 one-byte buffers");
        assert_eq!(wait_for(&rx, "the send completion"), (SendResult::Ok, N));
        assert_eq!(calls.0.load(SeqCst), N, "as_bytes calls for {N} buffers");
    });
}

/// The same for a receive into 100,000 one-byte buffers: each is asked once
/// (`as_bytes_mut`), whatever number of reads fill them.
#[test]
fn a_receive_into_100_000_one_byte_buffers_asks_each_buffer_once() {
    const N: usize = 100_000;
    within(LIMIT, "a receive into 100,000 buffers", || {
        let engine = engine_with_threads(2);
        let (socket, peer) = socket_and_raw_peer(&engine);
        let calls = Arc::new(Calls::default());
        let bufs: Vec<Counted> = (0..N)
            .map(|_| Counted::new(vec![0], &calls, false))
            .collect();
        let (tx, rx) = mpsc::channel();
        socket
            .receive(bufs, move |r, n, bufs| {
                let _ = tx.send((
                    r,
                    n,
                    bufs.into_iter().map(|b| b.bytes[0]).collect::<Vec<_>>(),
                ));
            })
            .expect("receive accepted");
        let data = pattern(1000, 3);
        raw_send(&peer, &data);
        let (r, n, bytes) = wait_for(&rx, "the receive completion");
        assert_eq!(r, ReceiveResult::Ok);
        assert!(n >= 1 && n as usize <= data.len(), "{n} bytes");
        assert_eq!(&bytes[..n as usize], &data[..n as usize]);
        assert_eq!(calls.0.load(SeqCst), N, "buffer calls for {N} buffers");
    });
}

/// A buffer that reports fewer bytes on later calls cannot make the library spin (before, the
/// epoll backend looped forever on a 0-iovec `sendmsg` with the socket locked): the library
/// sends the bytes the buffer showed when the send was submitted, once, and completes once.
#[test]
fn a_buffer_that_shrinks_after_submission_cannot_make_a_send_spin() {
    within(LIMIT, "a send of shrinking buffers", || {
        let engine = engine_with_threads(1);
        let (socket, peer) = socket_and_raw_peer(&engine);
        let calls = Arc::new(Calls::default());
        let data = pattern(3000, 1);
        let bufs: Vec<Counted> = data
            .chunks(100)
            .map(|c| Counted::new(c.to_vec(), &calls, true))
            .collect();
        let (tx, rx) = mpsc::channel();
        socket
            .send(bufs, move |r, _| {
                let _ = tx.send(r);
            })
            .expect("send accepted");
        assert_eq!(wait_for(&rx, "the send completion"), SendResult::Ok);
        assert_same_bytes(
            &raw_read_exact(&peer, data.len()),
            &data,
            "the bytes first shown",
        );
        assert_no_more(&rx, "the send completion");
        assert_engine_alive(&engine);
    });
}

/// A custom transport that calls back into its own socket from inside `send`: each nested call
/// is refused with an error instead of waiting for the lock its own thread holds (the header
/// forbids it; a hang would be the worst answer). The outer send completes normally.
#[test]
fn a_transport_calling_back_into_its_own_socket_gets_errors_not_a_deadlock() {
    struct Reentrant {
        me: Arc<OnceLock<Weak<AsyncSocket>>>,
        seen: Mutex<mpsc::Sender<String>>,
        close_inside: bool,
    }
    impl Transport for Reentrant {
        fn send(&self, socket: &Socket, buf: &[u8]) -> io::Result<usize> {
            if let Some(me) = self.me.get().and_then(Weak::upgrade) {
                let tx = self.seen.lock().unwrap().clone();
                let kind = |k: &SubmitErrorKind| match k {
                    SubmitErrorKind::Io(e) => format!("{:?}", e.kind()),
                    other => format!("{other:?}"),
                };
                let s = me
                    .send(vec![b"nested".to_vec()], |_, _| {})
                    .map_err(|e| kind(e.kind()));
                let r = me
                    .receive(vec![vec![0u8; 4]], |_, _, _| {})
                    .map_err(|e| kind(e.kind()));
                let n = me
                    .notify_io(NotifyType::Out, |_| {})
                    .map_err(|e| kind(e.kind()));
                let _ = tx.send(format!(
                    "send {s:?}, receive {r:?}, notify {n:?}, state {:?}",
                    me.state()
                ));
                if self.close_inside {
                    me.close();
                    let _ = tx.send("close returned".into());
                }
            }
            let mut s: &Socket = socket;
            s.write(buf)
        }
        fn recv(&self, socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
            let mut s: &Socket = socket;
            s.read(buf)
        }
    }
    for close_inside in [false, true] {
        within(LIMIT, "a re-entrant transport", move || {
            let engine = engine_with_threads(1);
            let (client, peer) = transport_pair();
            let me = Arc::new(OnceLock::new());
            let (seen_tx, seen) = mpsc::channel();
            let transport = Reentrant {
                me: Arc::clone(&me),
                seen: Mutex::new(seen_tx),
                close_inside,
            };
            let socket = Arc::new(AsyncSocket::with_transport(&engine, transport).expect("create"));
            me.set(Arc::downgrade(&socket)).expect("set once");
            socket.open(client).expect("open");
            let (tx, rx) = mpsc::channel();
            socket
                .send(vec![b"outer".to_vec()], move |r, _| {
                    let _ = tx.send(r);
                })
                .expect("send accepted");
            let refused = "Err(\"Deadlock\")";
            assert_eq!(
                wait_for(&seen, "the nested calls"),
                format!("send {refused}, receive {refused}, notify {refused}, state Open")
            );
            let outer = wait_for(&rx, "the outer send");
            if close_inside {
                assert_eq!(wait_for(&seen, "the nested close"), "close returned");
                // The close was deferred until the transport returned; the outer send either
                // finished first or was abandoned by it.
                assert!(
                    matches!(outer, SendResult::Ok | SendResult::Abandoned),
                    "{outer:?}"
                );
                let deadline = std::time::Instant::now() + WAIT;
                while socket.state() != SocketState::Closed {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the deferred close never ran"
                    );
                    thread::sleep(Duration::from_millis(1));
                }
            } else {
                assert_eq!(outer, SendResult::Ok);
                assert_eq!(raw_read_exact(&peer, 5), b"outer");
            }
        });
    }
}

/// The send queue of a socket whose peer does not read grows without bound (as in c-pal), but
/// the caller can see it: `pending_send_bytes` counts what was accepted and has not completed,
/// and falls back to 0 once the peer has read everything.
#[test]
fn pending_send_bytes_shows_what_a_slow_reader_leaves_queued() {
    const SENDS: usize = 1024;
    const SIZE: usize = 64 * 1024;
    within(LIMIT, "a queue for a slow reader", || {
        let engine = engine_with_threads(2);
        let (socket, peer) = socket_and_raw_peer(&engine);
        assert_eq!(socket.pending_send_bytes(), 0);
        let (tx, rx) = mpsc::channel();
        for i in 0..SENDS {
            let tx = tx.clone();
            socket
                .send(vec![vec![i as u8; SIZE]], move |r, _| {
                    let _ = tx.send(r);
                })
                .expect("send accepted");
        }
        let total = (SENDS * SIZE) as u64;
        let queued = socket.pending_send_bytes();
        // The kernel's buffers hold a few MiB at most; the rest waits in the socket's queue.
        assert!(
            queued > total / 2 && queued <= total,
            "{queued} of {total} bytes pending"
        );
        let got = raw_read_exact(&peer, SENDS * SIZE);
        assert!(got
            .chunks(SIZE)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
        let results = wait_for_n(&rx, SENDS, "the send completions");
        assert!(results.iter().all(|r| *r == SendResult::Ok));
        assert_eq!(socket.pending_send_bytes(), 0);
    });
}
