//! Helpers of the async-layer test files (`futures.rs`, `listener.rs`, `stream.rs`, `hyper.rs`):
//! future sockets on loopback pairs, bounded waits, executors, wakers. The engine, the
//! transport pair and the `WAIT` bound are the shared ones of `common/`.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../common/mod.rs"]
mod base;
pub use base::{engine, transport_pair, WAIT};

use asock::future::Socket;
use asock::{ExecutionEngine, ReceiveResult};

/// How long "not yet" checks watch.
pub const QUIET: Duration = Duration::from_millis(150);
pub const MIB: usize = 1 << 20;

// =============================================================================================
// Helpers
// =============================================================================================

/// Two opened future sockets connected to each other.
pub fn pair(engine: &ExecutionEngine) -> (Socket, Socket) {
    let (c, s) = transport_pair();
    (
        Socket::open_on(engine, c).expect("open client"),
        Socket::open_on(engine, s).expect("open server"),
    )
}

/// `n` bytes of a pattern that differs per `seed` and never repeats with a short period.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Receives until exactly `n` bytes arrived (receives of at most 64 KiB).
pub async fn receive_exact(socket: &Socket, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let want = (n - got.len()).min(64 * 1024);
        let (r, k, bufs) = socket
            .receive(vec![vec![0u8; want]])
            .await
            .expect("receive accepted");
        assert_eq!(
            r,
            ReceiveResult::Ok,
            "receive after {} of {n} bytes",
            got.len()
        );
        assert!(k > 0 && k <= want);
        got.extend_from_slice(&bufs[0][..k]);
    }
    got
}

/// Runs `f` on a helper thread and waits at most [`WAIT`] for it, re-raising its panic.
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(WAIT * 3) {
        Ok(()) => handle.join().expect("the test thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => unreachable!("the thread ended without reporting"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: timed out after {:?}", WAIT * 3),
    }
}

/// Runs the async test `test` under tokio multi-thread (2 workers, inside a spawned task),
/// tokio current-thread, and `futures::executor::block_on`, each with a fresh engine and
/// bounded in time.
pub fn on_each_executor<F, Fut>(test: F)
where
    F: Fn(ExecutionEngine) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let t = test.clone();
    bounded("tokio multi-thread", move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move { tokio::spawn(t(engine())).await })
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    });
    let t = test.clone();
    bounded("tokio current-thread", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(t(engine()));
    });
    bounded("futures block_on", move || {
        futures::executor::block_on(test(engine()));
    });
}

/// Waits (bounded, polling every millisecond) until `cond` holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker::default());
    (Arc::clone(&count), Waker::from(count))
}

/// Polls `fut` once with `waker`.
pub fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------------------------------
// A buffer that records its use and its drop
