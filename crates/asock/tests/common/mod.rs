//! Shared helpers of the async socket integration tests: engines, connected loopback pairs on
//! kernel-chosen ports, and waits that are always bounded and fail the test with a clear message.
//!
//! Nothing here sleeps to let something happen: every wait is a `recv_timeout` on a channel fed
//! by a completion callback (or a bounded `poll(2)` inside the transport).
#![allow(dead_code)]

use std::fmt::Debug;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use asock::transport::{SocketTransport, TransportError, TransportReceiveError};
use asock::{AsyncSocket, ExecutionEngine, ExecutionEngineParameters, ReceiveResult, SendResult};

/// Bound of every wait for something that should happen promptly on loopback: the one bound of
/// every integration test suite (the async-layer and Windows seed helpers and the transport
/// tests take it from here). Generous, because it only ever runs out when something hangs, and
/// the suites also run under sanitizers, valgrind and Wine.
pub const WAIT: Duration = Duration::from_secs(20);

/// An engine with the default parameters (4 threads, no maximum).
pub fn engine() -> ExecutionEngine {
    ExecutionEngine::new(None).expect("an engine with the default parameters")
}

/// An engine with exactly `min_thread_count` threads started (no maximum).
pub fn engine_with_threads(threads: u32) -> ExecutionEngine {
    ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: threads,
        max_thread_count: 0,
    }))
    .expect("an engine")
}

/// A listening server transport on a loopback address, port chosen by the kernel.
pub struct Listener {
    server: SocketTransport,
    host: &'static str,
    port: u16,
}

impl Listener {
    /// Listens on `addr` (port 0) and remembers the `host` text clients connect to.
    pub fn on(addr: SocketAddr, host: &'static str) -> Result<Self, TransportError> {
        let mut server = SocketTransport::server();
        server.listen_on(addr, 128)?;
        let port = server
            .local_port()
            .expect("a listening transport has a local port");
        assert_ne!(port, 0, "the kernel chose a port");
        Ok(Listener { server, host, port })
    }

    /// Listens on 127.0.0.1, kernel-chosen port.
    pub fn v4() -> Self {
        Self::on("127.0.0.1:0".parse().expect("address"), "127.0.0.1").expect("listen on 127.0.0.1")
    }

    /// The listening server transport itself.
    pub fn into_server(self) -> SocketTransport {
        self.server
    }

    /// The port the kernel chose.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Accepts one connection (made by the test), within [`WAIT`].
    pub fn accept(&self) -> SocketTransport {
        self.server
            .accept(WAIT)
            .unwrap_or_else(|e| panic!("accept on port {}: {e}", self.port))
            .unwrap_or_else(|| panic!("no connection accepted within {WAIT:?}"))
    }

    /// Connects a new client and accepts it: `(client, accepted)`, both connected.
    pub fn connect_pair(&self) -> (SocketTransport, SocketTransport) {
        let mut client = SocketTransport::client();
        client
            .connect(self.host, self.port, WAIT)
            .unwrap_or_else(|e| panic!("connect to {}:{}: {e}", self.host, self.port));
        let accepted = self.accept();
        assert!(client.is_valid_socket() && accepted.is_valid_socket());
        (client, accepted)
    }
}

/// A connected pair of transports on 127.0.0.1: `(client, accepted)`.
pub fn transport_pair() -> (SocketTransport, SocketTransport) {
    Listener::v4().connect_pair()
}

/// A new async socket on `engine`, opened on `transport`.
pub fn open_on(engine: &ExecutionEngine, transport: SocketTransport) -> AsyncSocket {
    let socket = AsyncSocket::new(engine).expect("create an async socket");
    socket.open(transport).expect("open the async socket");
    socket
}

/// Two opened async sockets connected to each other: `(client side, accepted side)`.
pub fn socket_pair(engine: &ExecutionEngine) -> (AsyncSocket, AsyncSocket) {
    let (client, accepted) = transport_pair();
    (open_on(engine, client), open_on(engine, accepted))
}

/// An opened async socket and the plain (synchronous) transport at the other end.
pub fn socket_and_raw_peer(engine: &ExecutionEngine) -> (AsyncSocket, SocketTransport) {
    let (client, accepted) = transport_pair();
    (open_on(engine, client), accepted)
}

/// Waits at most [`WAIT`] for the next message; fails the test naming `what` otherwise.
pub fn wait_for<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("timed out after {WAIT:?} waiting for {what}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("waiting for {what}: every sender is gone (a callback was dropped uncalled?)")
        }
    }
}

/// Waits for `n` messages, each within [`WAIT`] of the previous one.
pub fn wait_for_n<T>(rx: &Receiver<T>, n: usize, what: &str) -> Vec<T> {
    (0..n)
        .map(|i| wait_for(rx, &format!("{what} ({} of {n})", i + 1)))
        .collect()
}

/// Asserts that every sender of `rx` goes away (within [`WAIT`]) with no further message: the
/// callbacks that held them were dropped without being called, or ran exactly once already.
pub fn assert_no_more<T: Debug>(rx: &Receiver<T>, what: &str) {
    match rx.recv_timeout(WAIT) {
        Err(RecvTimeoutError::Disconnected) => {}
        Ok(v) => panic!("{what}: unexpected extra message {v:?}"),
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: a callback is still alive after {WAIT:?} (never completed?)")
        }
    }
}

/// Asserts that nothing arrives on `rx` during `period` (used for "not yet" checks only).
pub fn assert_silent_for<T: Debug>(rx: &Receiver<T>, period: Duration, what: &str) {
    match rx.recv_timeout(period) {
        Err(RecvTimeoutError::Timeout) => {}
        Ok(v) => panic!("{what}: expected nothing yet, got {v:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the callback was dropped"),
    }
}

/// Sends `bufs` on `socket` and waits for the completion: `(result, buffers handed back)`.
pub fn send_and_wait(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> (SendResult, Vec<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    socket
        .send(bufs, move |r, bufs| {
            let _ = tx.send((r, bufs));
        })
        .expect("send accepted");
    let out = wait_for(&rx, "a send completion");
    assert_no_more(&rx, "the send completion");
    out
}

/// What a receive completion reports.
pub type Received = (ReceiveResult, u32, Vec<Vec<u8>>);

/// Posts one receive into `bufs` and waits for its completion.
pub fn receive_and_wait(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> Received {
    let (tx, rx) = mpsc::channel();
    socket
        .receive(bufs, move |r, n, bufs| {
            let _ = tx.send((r, n, bufs));
        })
        .expect("receive accepted");
    let out = wait_for(&rx, "a receive completion");
    assert_no_more(&rx, "the receive completion");
    out
}

/// The first `n` bytes of the concatenation of `bufs` (what a receive of `n` bytes filled).
pub fn filled(bufs: &[Vec<u8>], n: u32) -> Vec<u8> {
    let n = n as usize;
    let all: Vec<u8> = bufs.iter().flatten().copied().collect();
    assert!(
        n <= all.len(),
        "{n} bytes reported for {} bytes of buffers",
        all.len()
    );
    all[..n].to_vec()
}

/// Receives with `chunk`-byte buffers until exactly `n` bytes arrived (each completion OK).
pub fn receive_exactly(socket: &AsyncSocket, n: usize, chunk: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    let deadline = Instant::now() + WAIT;
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "receive_exactly({n}): only {} bytes in time",
            got.len()
        );
        let want = chunk.min(n - got.len());
        let (r, k, bufs) = receive_and_wait(socket, vec![vec![0u8; want]]);
        assert_eq!(
            r,
            ReceiveResult::Ok,
            "receive after {} of {n} bytes",
            got.len()
        );
        assert!(
            k >= 1 && k as usize <= want,
            "a receive of {want} bytes reported {k}"
        );
        got.extend_from_slice(&filled(&bufs, k));
    }
    got
}

/// Sends every byte of `data` on a plain transport.
pub fn raw_send(transport: &SocketTransport, data: &[u8]) {
    let sent = transport
        .send(&[IoSlice::new(data)], 0)
        .unwrap_or_else(|e| panic!("transport send of {} bytes: {e}", data.len()));
    assert_eq!(sent, data.len());
}

/// Reads exactly `n` bytes from a plain transport, within [`WAIT`] overall. When `slow_reads`
/// is non-zero, the first `slow_reads` reads are 4 KiB each with 1 ms pauses (a slow reader).
pub fn raw_read_exact_paced(transport: &SocketTransport, n: usize, slow_reads: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut chunk = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + WAIT;
    let mut reads = 0usize;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "read {} of {n} bytes within {WAIT:?}",
            out.len()
        );
        let slow = reads < slow_reads;
        if slow {
            std::thread::sleep(Duration::from_millis(1));
        }
        let cap = if slow { 4096 } else { chunk.len() }.min(n - out.len());
        match transport.receive_timeout(&mut [IoSliceMut::new(&mut chunk[..cap])], 0, left) {
            Ok(k) => out.extend_from_slice(&chunk[..k]),
            Err(e) => panic!("transport receive after {} of {n} bytes: {e}", out.len()),
        }
        reads += 1;
    }
    out
}

/// Reads exactly `n` bytes from a plain transport, within [`WAIT`].
pub fn raw_read_exact(transport: &SocketTransport, n: usize) -> Vec<u8> {
    raw_read_exact_paced(transport, n, 0)
}

/// Asserts that the next thing a plain transport sees is the end of the stream.
pub fn raw_expect_eof(transport: &SocketTransport) {
    let mut byte = [0u8; 1];
    match transport.receive_timeout(&mut [IoSliceMut::new(&mut byte)], 0, WAIT) {
        Err(TransportReceiveError::Shutdown) => {}
        other => panic!("expected the end of the stream, got {other:?}"),
    }
}

/// `len` bytes of a pattern that detects loss, duplication and reordering: a 251-byte cycle
/// (offset by `seed`) with the block number written in the first 8 bytes of every 4 KiB block.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let cycle: Vec<u8> = (0..251u32).map(|i| (i as u8).wrapping_add(seed)).collect();
    let mut out = Vec::with_capacity(len + cycle.len());
    while out.len() < len {
        out.extend_from_slice(&cycle);
    }
    out.truncate(len);
    for (block, chunk) in out.chunks_mut(4096).enumerate() {
        let tag = (block as u64).to_le_bytes();
        let k = chunk.len().min(8);
        chunk[..k].copy_from_slice(&tag[..k]);
    }
    out
}

/// Index of the first byte where `a` and `b` differ, for readable failure messages.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Asserts two large byte strings are equal without printing megabytes.
pub fn assert_same_bytes(got: &[u8], expected: &[u8], what: &str) {
    if got != expected {
        panic!(
            "{what}: {} bytes received, {} expected, first difference at byte {:?}",
            got.len(),
            expected.len(),
            first_difference(got, expected)
        );
    }
}

/// Posts a 1-byte receive on `slow_b` whose callback sleeps 1 s, wakes it from `slow_a`, and
/// while the callback sleeps makes one ping-pong round trip between `a` and `b`. Returns how
/// long after the slow callback started the round trip finished; fails if the round trip had to
/// wait for the callback. Afterwards the slow callback has completed with one byte.
pub fn round_trip_while_a_callback_sleeps(
    slow_a: &AsyncSocket,
    slow_b: &AsyncSocket,
    a: &AsyncSocket,
    b: &AsyncSocket,
) -> Duration {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;

    let slow_done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let flag = Arc::clone(&slow_done);
    slow_b
        .receive(vec![vec![0u8; 1]], move |r, n, _| {
            let _ = started_tx.send(Instant::now());
            std::thread::sleep(Duration::from_secs(1));
            flag.store(true, SeqCst);
            let _ = done_tx.send((r, n));
        })
        .expect("receive accepted");
    let (r, _) = send_and_wait(slow_a, vec![b"s".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    let started = wait_for(&started_rx, "the slow callback to start");

    let (r, _) = send_and_wait(a, vec![b"ping".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(b, 4, 8), b"ping");
    let (r, _) = send_and_wait(b, vec![b"pong".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(a, 4, 8), b"pong");
    let took = started.elapsed();
    assert!(
        !slow_done.load(SeqCst),
        "the round trip waited for the slow callback ({took:?} after it started)"
    );
    assert_eq!(
        wait_for(&done_rx, "the slow callback"),
        (ReceiveResult::Ok, 1)
    );
    took
}
