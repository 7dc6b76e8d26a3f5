//! Loom models of the Linux socket core: the real `socket.rs` (its lock, queues, runner
//! protocol and close), `delivery.rs` and `pool.rs` (a one-worker engine: its queue, its
//! sleeping/wake-up handshake, user code and shutdown) on loom's threads, with the epoll
//! driver's I/O steps over the in-memory kernel of [`super::kernel`] and the model event source
//! of [`super::source`]. The core is the one both drivers run on.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p asock --release --lib loom_`; the preemption
//! bound is `LOOM_MAX_PREEMPTIONS` (3 when unset). Each model prints how many interleavings it
//! explored. What every model checks, in every interleaving:
//! * each accepted operation completes exactly once, on an engine worker (never on the
//!   submitting thread), and a rejected one never completes;
//! * `close` returns in CLOSED only after every accepted operation has completed;
//! * no system call is made on the descriptor once close has closed it (the fake kernel checks
//!   the descriptor's identity at every call), and close removes the engine registration;
//! * no deadlock (loom fails a model in which every thread is blocked).
//!
//! Loom keeps a thread's closure until the end of the execution, so the threads of a model
//! drop the socket handles they captured explicitly (the final checks count references).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};

use loom::thread;
use socket2::{Domain, Socket, Type};

use super::kernel as fake;
use super::source::Source;
use crate::sys::linux::epoll::Epoll;
use crate::sys::linux::pool::Pool;
use crate::transport::SocketTransport;
use crate::{
    AsyncSocket, BackendChoice, ExecutionEngine, ExecutionEngineParameters, NotifyType,
    OpenErrorKind, SocketState, SubmitErrorKind,
};

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

/// An engine with one worker on the epoll backend, whose engine is the model's.
fn model_engine() -> ExecutionEngine {
    ExecutionEngine::with_backend(
        Some(ExecutionEngineParameters {
            min_thread_count: 1,
            max_thread_count: 0,
        }),
        BackendChoice::Epoll,
    )
    .expect("engine")
}

/// The model's view of an [`ExecutionEngine`]: its pool and its one shard's event source.
trait Model {
    fn pool(&self) -> &Arc<Pool<Epoll>>;
    fn model(&self) -> &Source {
        &self.pool().driver(0).model
    }
}

impl Model for ExecutionEngine {
    fn pool(&self) -> &Arc<Pool<Epoll>> {
        match &**self.sys() {
            crate::sys::linux::Engine::Epoll(p) => p,
            _ => panic!("the loom model runs on the epoll driver"),
        }
    }
}

/// Runs `f` under loom and prints how many interleavings were explored.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    let bound = builder.preemption_bound;
    let iterations = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&iterations);
    builder.check(move || {
        counted.fetch_add(1, SeqCst);
        f()
    });
    println!(
        "loom model {name}: {} interleavings explored (preemption bound {bound:?})",
        iterations.load(SeqCst)
    );
}

/// What happened to the operations of one model run.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    completed: AtomicUsize,
    /// Completion results, in the order they ran.
    log: StdMutex<Vec<String>>,
    /// Contract violations seen inside callbacks (a panic there would be contained).
    errors: StdMutex<Vec<String>>,
}

impl Tally {
    fn completed(&self, what: String, on_worker: bool) {
        if !on_worker {
            self.errors
                .lock()
                .unwrap()
                .push(format!("{what} ran off the engine's workers"));
        }
        self.log.lock().unwrap().push(what);
        self.completed.fetch_add(1, SeqCst);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Every accepted operation completed exactly once (each callback is `FnOnce` and counted
    /// once, so equal counts mean none was lost), with no violation recorded.
    fn assert_balanced(&self) {
        let errors = self.errors.lock().unwrap();
        assert!(errors.is_empty(), "violations: {errors:?}");
        assert_eq!(
            self.accepted.load(SeqCst),
            self.completed.load(SeqCst),
            "accepted vs completed; completions: {:?}",
            self.log()
        );
    }
}

/// One engine with one worker, one async socket opened on a fake-kernel socket.
struct World {
    engine: ExecutionEngine,
    sock: Arc<AsyncSocket>,
    fd: RawFd,
    tally: Arc<Tally>,
}

/// A real descriptor (kept open by its transport, so the fake kernel can tell it apart from any
/// later one), installed in the fake kernel with `room` bytes of send buffer.
fn fake_transport(room: usize) -> (SocketTransport, RawFd) {
    let (a, _b) = Socket::pair(Domain::UNIX, Type::STREAM, None).expect("socketpair");
    let fd = a.as_raw_fd();
    fake::install(fd, room);
    (SocketTransport::from_socket(a), fd)
}

fn world(room: usize) -> World {
    let engine = model_engine();
    let (transport, fd) = fake_transport(room);
    let sock = AsyncSocket::new(&engine).expect("socket");
    sock.open(transport).expect("open");
    World {
        engine,
        sock: Arc::new(sock),
        fd,
        tally: Arc::default(),
    }
}

impl World {
    fn handle(&self) -> Handle {
        Handle {
            sock: Arc::clone(&self.sock),
            tally: Arc::clone(&self.tally),
            engine: self.engine.clone(),
        }
    }
}

/// What a thread of the model needs to submit operations.
#[derive(Clone)]
struct Handle {
    sock: Arc<AsyncSocket>,
    tally: Arc<Tally>,
    engine: ExecutionEngine,
}

impl Handle {
    fn on_worker(&self) -> impl Fn() -> bool + Send + 'static {
        let pool = Arc::clone(self.engine.pool());
        move || pool.is_current_worker()
    }

    /// Submits a send of `data`; true when accepted. A rejection must be NOT_OPEN.
    fn send(&self, label: &'static str, data: &[u8]) -> bool {
        let (tally, on_worker) = (Arc::clone(&self.tally), self.on_worker());
        let r = self.sock.send(vec![data.to_vec()], move |r, _| {
            tally.completed(format!("{label} {r:?}"), on_worker())
        });
        self.accepted(r.map_err(|e| e.into_parts().0))
    }

    /// Submits a receive of up to `len` bytes; true when accepted.
    fn receive(&self, label: &'static str, len: usize) -> bool {
        let (tally, on_worker) = (Arc::clone(&self.tally), self.on_worker());
        let r = self.sock.receive(vec![vec![0u8; len]], move |r, n, bufs| {
            let got = String::from_utf8_lossy(&bufs[0][..n as usize]).into_owned();
            tally.completed(format!("{label} {r:?} {got}"), on_worker())
        });
        self.accepted(r.map_err(|e| e.into_parts().0))
    }

    /// Submits a readiness notification; true when accepted.
    fn notify(&self, label: &'static str, io_type: NotifyType) -> bool {
        let (tally, on_worker) = (Arc::clone(&self.tally), self.on_worker());
        let r = self.sock.notify_io(io_type, move |r| {
            tally.completed(format!("{label} {r:?}"), on_worker())
        });
        self.accepted(r.map_err(|e| e.into_parts().0))
    }

    fn accepted(&self, r: Result<(), SubmitErrorKind>) -> bool {
        match r {
            Ok(()) => {
                self.tally.accepted.fetch_add(1, SeqCst);
                true
            }
            Err(SubmitErrorKind::NotOpen) => false,
            Err(other) => panic!("a submission was rejected with {other:?}, not NotOpen"),
        }
    }

    /// Closes and checks that close returned in CLOSED after every accepted operation ran.
    /// Valid while no other thread can re-open the socket.
    fn close_and_check(self) {
        self.sock.close();
        assert_eq!(self.sock.state(), SocketState::Closed, "close returned");
        // Nothing can be accepted once close has begun, so the final count is the one that
        // must have completed by now.
        let done = self.tally.completed.load(SeqCst);
        let accepted = self.tally.accepted.load(SeqCst);
        assert!(
            done >= accepted,
            "close returned with {done} of {accepted} accepted operations completed"
        );
    }
}

/// Waits until `engine` is the last reference to the engine: a callback that holds the socket
/// (and so the engine) may still be returning on the worker after the close it did.
fn settle(engine: &ExecutionEngine) {
    for _ in 0..20 {
        if engine.ref_count() == 1 {
            return;
        }
        thread::yield_now();
    }
    panic!(
        "{} references to the engine remain after everything was dropped (an operation that \
         never completed still holds its socket?)",
        engine.ref_count() - 1
    );
}

/// The end of every model: drop the socket (an implicit close) and the engine (joins the
/// worker), then check the balance and that nothing is left registered.
fn finish(w: World, fds: &[RawFd]) {
    let World {
        engine,
        sock,
        tally,
        ..
    } = w;
    let refs = Arc::strong_count(&sock);
    assert_eq!(
        refs,
        1,
        "{refs} references to the socket at the end: {:?}",
        tally.log()
    );
    drop(sock);
    settle(&engine);
    for &fd in fds {
        assert!(
            !engine.model().is_registered(fd),
            "descriptor {fd} is still registered after close"
        );
    }
    drop(engine);
    tally.assert_balanced();
}

/// Close on one thread while another submits a send, a receive and a notify, and the peer
/// delivers data and drains the send buffer (each announced by an edge).
#[test]
fn loom_close_races_send_receive_and_notify() {
    model("close_races_send_receive_and_notify", || {
        let w = world(2);
        let (h1, h2) = (w.handle(), w.handle());
        let submitter = thread::spawn(move || {
            h1.send("send", b"abcd");
            h1.receive("recv", 4);
            h1.notify("notify", NotifyType::In);
            drop(h1);
        });
        let closer = thread::spawn(move || h2.close_and_check());
        fake::peer_write(w.fd, b"xy");
        w.engine.model().fire(w.fd, IN);
        submitter.join().unwrap();
        closer.join().unwrap();
        // Once closed, the descriptor is gone: the peer's reads see at most what was written.
        let log = w.tally.log();
        if log.iter().any(|l| l == "send Ok") {
            panic!("a 4-byte send into 2 bytes of room, never drained, completed Ok: {log:?}");
        }
        finish(w, &[]);
    });
}

/// Sends queue behind one another under back-pressure: they complete in order, a send is Ok
/// only when all its bytes were written, and the peer sees the bytes in submission order.
#[test]
fn loom_sends_keep_order_under_back_pressure() {
    model("sends_keep_order_under_back_pressure", || {
        let w = world(2);
        let h = w.handle();
        let submitter = thread::spawn(move || {
            assert!(h.send("s1", b"abc"));
            assert!(h.send("s2", b"de"));
            drop(h);
        });
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.extend(fake::peer_read(w.fd));
            w.engine.model().fire(w.fd, OUT);
        }
        submitter.join().unwrap();
        let fd = w.fd;
        let tally = Arc::clone(&w.tally);
        w.sock.close();
        seen.extend(fake::peer_read(fd));
        assert!(
            b"abcde".starts_with(&seen),
            "peer saw {:?}",
            String::from_utf8_lossy(&seen)
        );
        let log = tally.log();
        let ok = |l: &str| log.iter().any(|x| x == l);
        assert!(!ok("s2 Ok") || ok("s1 Ok"), "s2 Ok without s1 Ok: {log:?}");
        if ok("s1 Ok") {
            assert!(seen.len() >= 3, "s1 Ok with {seen:?} written");
        }
        if ok("s2 Ok") {
            assert_eq!(seen, b"abcde");
        }
        let order: Vec<_> = log.iter().map(|l| &l[..2]).collect();
        assert_eq!(order, ["s1", "s2"], "completion order");
        finish(w, &[fd]);
    });
}

/// Receives complete in order, each with at least one byte unless abandoned, and together they
/// deliver a prefix of what the peer sent, while data arrives concurrently.
#[test]
fn loom_receives_complete_in_order_as_data_arrives() {
    model("receives_complete_in_order_as_data_arrives", || {
        let w = world(8);
        let h = w.handle();
        let submitter = thread::spawn(move || {
            assert!(h.receive("r1", 2));
            assert!(h.receive("r2", 2));
            drop(h);
        });
        fake::peer_write(w.fd, b"abc");
        w.engine.model().fire(w.fd, IN);
        submitter.join().unwrap();
        w.sock.close();
        let log = w.tally.log();
        let order: Vec<_> = log.iter().map(|l| &l[..2]).collect();
        assert_eq!(order, ["r1", "r2"], "completion order: {log:?}");
        let mut data = String::new();
        for l in &log {
            let mut parts = l.splitn(3, ' ');
            let (_, result, got) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            match result {
                Some("Ok") => {
                    assert!(
                        !got.is_empty(),
                        "a receive completed Ok with 0 bytes: {log:?}"
                    );
                    data.push_str(got);
                }
                Some("Abandoned") => assert!(got.is_empty()),
                other => panic!("unexpected receive result {other:?}: {log:?}"),
            }
        }
        assert!("abc".starts_with(&data), "received {data:?}: {log:?}");
        let fd = w.fd;
        finish(w, &[fd]);
    });
}

/// A completion closes its own socket while another thread closes it too and a send is
/// pending: neither close deadlocks, the outside close returns in CLOSED after everything ran,
/// and a close from inside the callback that returns in CLOSED has delivered the pending send
/// first.
#[test]
fn loom_close_from_inside_a_completion_races_an_outside_close() {
    model(
        "close_from_inside_a_completion_races_an_outside_close",
        || {
            let w = world(0);
            let h = w.handle();
            assert!(h.send("send", b"ab"), "a send into a full buffer is queued");
            let (me, tally) = (Arc::clone(&h.sock), Arc::clone(&h.tally));
            let nested_ok = Arc::new(AtomicBool::new(true));
            let flag = Arc::clone(&nested_ok);
            let on_worker = h.on_worker();
            let r = h.sock.receive(vec![vec![0u8; 1]], move |r, _, _| {
                me.close();
                // Closing from inside one of its own completions cannot wait for that completion.
                // If it returns in CLOSED, it did the closing itself (the outside close cannot end
                // while this callback runs), so the pending send must have completed already.
                if me.state() == SocketState::Closed {
                    let send_done = tally.log().iter().any(|l| l.starts_with("send"));
                    flag.store(send_done, SeqCst);
                }
                tally.completed(format!("recv {r:?}"), on_worker());
            });
            assert!(h.accepted(r.map_err(|e| e.into_parts().0)));
            let h2 = w.handle();
            let closer = thread::spawn(move || h2.close_and_check());
            fake::peer_write(w.fd, b"z");
            w.engine.model().fire(w.fd, IN);
            closer.join().unwrap();
            assert!(
                nested_ok.load(SeqCst),
                "a close from inside a completion returned in CLOSED before the pending send \
             completed: {:?}",
                w.tally.log()
            );
            drop(h);
            finish(w, &[]);
        },
    );
}

/// Two threads close at once with a receive and a notify pending: both return in CLOSED, and
/// only after both completions ran.
#[test]
fn loom_two_concurrent_closes_both_return_closed() {
    model("two_concurrent_closes_both_return_closed", || {
        let w = world(0);
        let h = w.handle();
        assert!(h.receive("recv", 1));
        assert!(h.notify("notify", NotifyType::Out));
        let (h1, h2) = (w.handle(), w.handle());
        let c1 = thread::spawn(move || h1.close_and_check());
        let c2 = thread::spawn(move || h2.close_and_check());
        c1.join().unwrap();
        c2.join().unwrap();
        assert_eq!(w.tally.completed.load(SeqCst), 2);
        drop(h);
        finish(w, &[]);
    });
}

/// Dropping the socket (an implicit close) while its completion is being produced and
/// delivered on the worker: the drop returns only after the receive completed exactly once.
#[test]
fn loom_drop_races_a_completion() {
    model("drop_races_a_completion", || {
        let w = world(4);
        let h = w.handle();
        assert!(h.receive("recv", 2));
        drop(h);
        let (engine, fd) = (w.engine.clone(), w.fd);
        let peer = thread::spawn(move || {
            fake::peer_write(fd, b"hi");
            engine.model().fire(fd, IN);
        });
        let World {
            engine,
            sock,
            tally,
            ..
        } = w;
        let sock = Arc::try_unwrap(sock).expect("the only reference");
        drop(sock);
        assert_eq!(
            tally.completed.load(SeqCst),
            1,
            "drop returned before the receive completed: {:?}",
            tally.log()
        );
        peer.join().unwrap();
        assert!(!engine.model().is_registered(fd));
        drop(engine);
        tally.assert_balanced();
    });
}

/// `close_with` closes on a worker and calls back once CLOSED, racing a drop on the caller's
/// thread: the pending receive completes once, before the callback.
#[test]
fn loom_close_with_races_drop() {
    model("close_with_races_drop", || {
        let w = world(4);
        let h = w.handle();
        assert!(h.receive("recv", 2));
        let tally = Arc::clone(&w.tally);
        let closed_ok = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&closed_ok);
        drop(h);
        w.sock.close_with(move || {
            // Once CLOSED, the pending receive has completed.
            let ok = tally.completed.load(SeqCst) == 1;
            seen.fetch_add(if ok { 1 } else { 100 }, SeqCst);
        });
        let World {
            engine,
            sock,
            tally,
            fd,
        } = w;
        drop(sock);
        assert!(!engine.model().is_registered(fd));
        // The last engine reference joins the worker, after it ran the close job.
        drop(engine);
        assert_eq!(
            closed_ok.load(SeqCst),
            1,
            "close_with's callback: {:?}",
            tally.log()
        );
        tally.assert_balanced();
    });
}

/// An open on one thread races a close on another: the open either fails with NOT_CLOSED and
/// hands its transport back untouched, or succeeds once the socket is CLOSED, and then what it
/// submits completes exactly once, too.
#[test]
fn loom_reopen_races_close() {
    model("reopen_races_close", || {
        let w = world(4);
        let h = w.handle();
        assert!(h.receive("recv1", 1));
        let (t2, fd2) = fake_transport(4);
        let h1 = w.handle();
        let closer = thread::spawn(move || {
            h1.sock.close();
            // Another thread may open again as soon as the socket is CLOSED, so only the first
            // receive must have completed by now.
            assert!(h1.tally.log().iter().any(|l| l.starts_with("recv1")));
            drop(h1);
        });
        let h2 = w.handle();
        let opener = thread::spawn(move || match h2.sock.open(t2) {
            Ok(()) => {
                assert!(h2.receive("recv2", 1), "a receive on the re-opened socket");
                drop(h2);
                true
            }
            Err(e) => {
                assert!(matches!(e.kind(), OpenErrorKind::NotClosed), "{e:?}");
                let t = e.into_transport();
                assert_eq!(t.underlying_socket(), Some(fd2), "the transport came back");
                false
            }
        });
        closer.join().unwrap();
        let reopened = opener.join().unwrap();
        assert_eq!(reopened, h.sock.state() == SocketState::Open);
        drop(h);
        let fd1 = w.fd;
        finish(w, &[fd1, fd2]);
    });
}

/// An open that the OS refuses hands the transport back, leaves the socket CLOSED and
/// registers nothing; the socket then opens normally.
#[test]
fn loom_failed_open_hands_the_transport_back() {
    model("failed_open_hands_the_transport_back", || {
        let engine = model_engine();
        let sock = AsyncSocket::new(&engine).expect("socket");
        let (t, fd) = fake_transport(1);
        fake::with(fd, |s| s.fail_open = true);
        let e = sock.open(t).expect_err("the fake kernel refuses");
        assert!(matches!(e.kind(), OpenErrorKind::Io(_)));
        assert_eq!(sock.state(), SocketState::Closed);
        assert!(!engine.model().is_registered(fd));
        let t = e.into_transport();
        fake::with(fd, |s| s.fail_open = false);
        sock.open(t).expect("open after the refusal");
        assert_eq!(sock.state(), SocketState::Open);
        drop(sock);
        assert!(!engine.model().is_registered(fd));
    });
}

/// The peer resets the connection while a send and a receive are pending and the socket is
/// being closed: both complete exactly once, ABANDONED (by the reset or by the close).
#[test]
fn loom_peer_reset_races_close() {
    model("peer_reset_races_close", || {
        let w = world(0);
        let h = w.handle();
        assert!(h.send("send", b"ab"));
        assert!(h.receive("recv", 1));
        let (engine, fd) = (w.engine.clone(), w.fd);
        let peer = thread::spawn(move || {
            fake::peer_reset(fd);
            let all = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP;
            engine.model().fire(fd, all as u32);
        });
        h.close_and_check();
        peer.join().unwrap();
        let mut log = w.tally.log();
        log.sort();
        assert_eq!(log, ["recv Abandoned ", "send Abandoned"]);
        finish(w, &[fd]);
    });
}
