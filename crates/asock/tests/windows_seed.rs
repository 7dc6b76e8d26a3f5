//! The Windows backend against its seed, `async_socket_win32_requirements.md`: every one of the
//! 91 `SRS_ASYNC_SOCKET_WIN32_*` requirements is named by a test that proves it (in the test's
//! name or in a comment next to the assertion; `scripts/check-seed-ids.sh` counts them), plus
//! c-pal's three Windows integration scenarios (cpal-notes §6.1) and the contract rows the seed
//! leaves open (ordering, close from a callback, close without blocking).
//!
//! Success paths run on real loopback sockets under the real thread pool. Failure paths use the
//! backend's fault-injection layer (cargo feature `fault-injection`): it logs every OS call the
//! backend makes, with its arguments, and makes a chosen call fail with a chosen error. That
//! layer is process-wide, so every test here takes the `SERIAL` lock first.
//!
//! Requirements about NULL handles or NULL callbacks cannot be expressed in the Rust API (a
//! reference or a closure is never NULL); their tests prove that by the signatures (a function
//! pointer coercion that would not compile otherwise) and test the nearest runtime case.
#![cfg(all(windows, feature = "fault-injection"))]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use asock::fault::{self, Call, CallKind, Fault, Outcome};
use asock::transport::SocketTransport;
use asock::{
    AsyncSocket, CreateError, ExecutionEngine, ExecutionEngineParameters, NotifyResult, NotifyType,
    OpenErrorKind, OpenResult, RawBuf, ReceiveResult, SendResult, SendSyncResult, SocketState,
    SubmitErrorKind, Transport,
};

// ----- Windows constants the tests use (values from winerror.h / winsock2.h) -----------------

const NO_ERROR: u32 = 0;
const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
const ERROR_NETNAME_DELETED: u32 = 64;
const ERROR_OPERATION_ABORTED: u32 = 995;
const ERROR_CONNECTION_ABORTED: u32 = 1236;
const ERROR_INVALID_PARAMETER: u32 = 87;
const WSA_IO_PENDING: u32 = 997;
const WSAECONNRESET: u32 = 10054;
const WSAENOBUFS: u32 = 10055;
const WSAENOTSOCK: u32 = 10038;

#[link(name = "ws2_32")]
extern "system" {
    fn closesocket(s: usize) -> i32;
}

#[link(name = "kernel32")]
extern "system" {
    fn GetModuleHandleA(name: *const u8) -> *mut std::ffi::c_void;
    fn GetProcAddress(module: *mut std::ffi::c_void, name: *const u8) -> *mut std::ffi::c_void;
}

/// Whether this process runs under Wine (ntdll exports `wine_get_version`).
fn under_wine() -> bool {
    // SAFETY: both names are NUL-terminated; the calls only look symbols up.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
    }
}

// ----- helpers ----------------------------------------------------------------------------------

/// Bound of every wait for something that should happen promptly on loopback.
const WAIT: Duration = Duration::from_secs(10);

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the process-wide fault layer for one test: clean at start, reset at the end.
struct Serial(#[allow(dead_code)] MutexGuard<'static, ()>);

fn serial() -> Serial {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fault::reset();
    Serial(guard)
}

impl Drop for Serial {
    fn drop(&mut self) {
        fault::reset();
    }
}

fn engine() -> ExecutionEngine {
    ExecutionEngine::new(None).expect("an engine with the default parameters")
}

fn engine_with(min: u32, max: u32) -> ExecutionEngine {
    ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: min,
        max_thread_count: max,
    }))
    .expect("an engine")
}

/// A connected pair of transports on 127.0.0.1 (client, accepted), kernel-chosen port.
fn transports() -> (SocketTransport, SocketTransport) {
    let mut listener = SocketTransport::server();
    listener
        .listen_on("127.0.0.1:0".parse().unwrap(), 16)
        .expect("listen");
    let port = listener.local_port().expect("port");
    let mut client = SocketTransport::client();
    client.connect("127.0.0.1", port, WAIT).expect("connect");
    let server = listener
        .accept(WAIT)
        .expect("accept")
        .expect("a pending client");
    (client, server)
}

/// Two open async sockets connected to each other (client, server).
fn open_pair(engine: &ExecutionEngine) -> (AsyncSocket, AsyncSocket) {
    let (c, s) = transports();
    let a = AsyncSocket::new(engine).expect("create");
    let b = AsyncSocket::new(engine).expect("create");
    a.open(c).expect("open client");
    b.open(s).expect("open server");
    (a, b)
}

/// The calls logged so far.
fn calls() -> Vec<Call> {
    fault::calls().into_iter().map(|r| r.call).collect()
}

fn count(calls: &[Call], kind: CallKind) -> usize {
    calls.iter().filter(|c| c.kind() == kind).count()
}

/// Index of the first call of `kind` (panics with the log when there is none).
fn first(calls: &[Call], kind: CallKind) -> usize {
    calls
        .iter()
        .position(|c| c.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind:?} call in {calls:#?}"))
}

fn last(calls: &[Call], kind: CallKind) -> usize {
    calls
        .iter()
        .rposition(|c| c.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind:?} call in {calls:#?}"))
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("{what} did not happen within {WAIT:?}: {e}"))
}

/// Asserts nothing more arrives within a short while.
fn assert_quiet<T: std::fmt::Debug>(rx: &Receiver<T>, what: &str) {
    if let Ok(x) = rx.recv_timeout(Duration::from_millis(100)) {
        panic!("{what}: unexpected extra completion {x:?}");
    }
}

type SendDone = (SendResult, Vec<Vec<u8>>, ThreadId);
type RecvDone = (ReceiveResult, u32, Vec<Vec<u8>>, ThreadId);

/// Submits a send whose completion goes to the returned channel.
fn send(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> Receiver<SendDone> {
    let (tx, rx) = mpsc::channel();
    socket
        .send(bufs, move |r, bufs| {
            let _ = tx.send((r, bufs, thread::current().id()));
        })
        .expect("send accepted");
    rx
}

/// Submits a receive whose completion goes to the returned channel.
fn receive(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> Receiver<RecvDone> {
    let (tx, rx) = mpsc::channel();
    socket
        .receive(bufs, move |r, n, bufs| {
            let _ = tx.send((r, n, bufs, thread::current().id()));
        })
        .expect("receive accepted");
    rx
}

/// The send's synchronous error kind, and the buffers handed back.
fn send_err(
    socket: &AsyncSocket,
    bufs: Vec<Vec<u8>>,
) -> (SubmitErrorKind, SendSyncResult, Vec<Vec<u8>>) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let err = socket
        .send(bufs, move |_, _| flag.store(true, SeqCst))
        .expect_err("the send is rejected");
    let sync = err.send_sync_result();
    let (kind, bufs) = err.into_parts();
    thread::sleep(Duration::from_millis(20));
    assert!(!called.load(SeqCst), "a rejected send never calls back");
    (kind, sync, bufs)
}

fn recv_err(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> (SubmitErrorKind, Vec<Vec<u8>>) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let err = socket
        .receive(bufs, move |_, _, _| flag.store(true, SeqCst))
        .expect_err("the receive is rejected");
    let (kind, bufs) = err.into_parts();
    thread::sleep(Duration::from_millis(20));
    assert!(!called.load(SeqCst), "a rejected receive never calls back");
    (kind, bufs)
}

fn is_invalid(kind: &SubmitErrorKind, what: &str) -> bool {
    matches!(kind, SubmitErrorKind::InvalidArgument(why) if why.contains(what))
}

fn os_error(kind: &SubmitErrorKind) -> Option<i32> {
    match kind {
        SubmitErrorKind::Io(e) => e.raw_os_error(),
        _ => None,
    }
}

/// Reads exactly `n` bytes arriving on `socket` (receives of up to `n` bytes until done).
fn read_exactly(socket: &AsyncSocket, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let (r, k, bufs, _) = recv(&receive(socket, vec![vec![0; n - got.len()]]), "a receive");
        assert_eq!(r, ReceiveResult::Ok, "after {} of {n} bytes", got.len());
        got.extend_from_slice(&bufs[0][..k as usize]);
    }
    got
}

/// The `(buf, len)` pairs of `bufs`, as the log shows WSABUFs.
fn wsabufs_of(bufs: &[Vec<u8>]) -> Vec<(usize, u32)> {
    bufs.iter()
        .map(|b| (b.as_ptr() as usize, b.len() as u32))
        .collect()
}

// =============================================================================================
// async_socket_create_with_transport
// =============================================================================================

struct NeverUsed;

impl Transport for NeverUsed {
    fn send(&self, _: &asock::socket2::Socket, _: &[u8]) -> std::io::Result<usize> {
        unreachable!("create_with_transport fails on Windows")
    }
    fn recv(&self, _: &asock::socket2::Socket, _: &mut [u8]) -> std::io::Result<usize> {
        unreachable!("create_with_transport fails on Windows")
    }
}

#[test]
fn create_with_transport_fails_04_001() {
    let _s = serial();
    let engine = engine();
    let refs = engine.ref_count();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_04_001: fails (NULL in C, an error here), takes nothing.
    let result = AsyncSocket::with_transport(&engine, NeverUsed);
    assert!(
        matches!(result, Err(CreateError::Unsupported)),
        "{result:?}"
    );
    assert_eq!(engine.ref_count(), refs, "no engine reference is kept");
    assert!(calls().is_empty(), "no OS call: {:?}", calls());
}

// =============================================================================================
// async_socket_create
// =============================================================================================

#[test]
fn create_returns_a_closed_socket_holding_the_engine_and_its_pool_01_001_42_004_01_035() {
    let _s = serial();
    let engine = engine();
    assert_eq!(engine.ref_count(), 1);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_001: a new async socket.
    let socket = AsyncSocket::new(&engine).expect("created");
    assert_eq!(socket.state(), SocketState::Closed);
    // SRS_ASYNC_SOCKET_WIN32_42_004: one more reference on the engine.
    assert_eq!(engine.ref_count(), 2);
    let other = AsyncSocket::new(&engine).expect("created");
    assert_eq!(engine.ref_count(), 3);
    // SRS_ASYNC_SOCKET_WIN32_01_035: the pool comes from execution_engine_win32_get_threadpool.
    let pool = engine.threadpool() as usize;
    assert_ne!(pool, 0);
    assert_eq!(
        calls(),
        vec![Call::GetThreadpool { pool }, Call::GetThreadpool { pool }],
        "create asks the engine for its pool and makes no OS call"
    );
    drop((socket, other));
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn create_requires_an_engine_01_002() {
    let _s = serial();
    // SRS_ASYNC_SOCKET_WIN32_01_002: a NULL engine cannot be passed: `AsyncSocket::new` takes
    // `&ExecutionEngine`, a reference, which is never NULL (this coercion would not compile
    // for an `Option` / pointer parameter).
    let create: fn(&ExecutionEngine) -> Result<AsyncSocket, CreateError> = AsyncSocket::new;
    let engine = engine();
    assert!(create(&engine).is_ok());
}

#[test]
fn create_fails_when_there_is_no_pool_01_003() {
    let _s = serial();
    // SRS_ASYNC_SOCKET_WIN32_01_003: the only resource create needs is the engine's pool; an
    // engine without one cannot exist: CreateThreadpool failing fails the engine...
    fault::record(true);
    fault::inject_once(
        CallKind::CreateThreadpool,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let e = ExecutionEngine::new(None).expect_err("no pool, no engine");
    assert!(
        matches!(&e, CreateError::Io(io) if io.raw_os_error() == Some(ERROR_NOT_ENOUGH_MEMORY as i32)),
        "{e:?}"
    );
    // ... and so does SetThreadpoolThreadMinimum failing, which closes the pool first.
    fault::take_calls();
    fault::inject_once(
        CallKind::SetThreadpoolThreadMinimum,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    assert!(ExecutionEngine::new(None).is_err());
    let log = calls();
    let pool = match log[0] {
        Call::CreateThreadpool => match log[1] {
            Call::SetThreadpoolThreadMinimum { pool, min: 4 } => pool,
            ref other => panic!("{other:?}"),
        },
        ref other => panic!("{other:?}"),
    };
    assert_eq!(log[2], Call::CloseThreadpool { pool });
    // With an engine, create returns a socket or an error, never a half-made socket.
    let engine = engine();
    let result: Result<AsyncSocket, CreateError> = AsyncSocket::new(&engine);
    assert!(result.is_ok());
}

#[test]
fn engine_pool_is_created_with_the_parameters_and_closed_at_the_last_reference() {
    let _s = serial();
    fault::record(true);
    let engine = engine_with(2, 3);
    let pool = engine.threadpool() as usize;
    let log = calls();
    assert_eq!(
        &log[..3],
        &[
            Call::CreateThreadpool,
            Call::SetThreadpoolThreadMinimum { pool, min: 2 },
            Call::SetThreadpoolThreadMaximum { pool, max: 3 },
        ]
    );
    let socket = AsyncSocket::new(&engine).unwrap();
    drop(engine);
    assert_eq!(
        count(&calls(), CallKind::CloseThreadpool),
        0,
        "the socket holds the engine"
    );
    drop(socket);
    assert_eq!(calls().last(), Some(&Call::CloseThreadpool { pool }));
    // max 0: no maximum is set.
    fault::take_calls();
    let engine = engine_with(1, 0);
    assert_eq!(count(&calls(), CallKind::SetThreadpoolThreadMaximum), 0);
    assert_eq!(engine.thread_count(), 1);
}

// =============================================================================================
// async_socket_destroy
// =============================================================================================

#[test]
fn destroy_of_nothing_returns_01_004() {
    let _s = serial();
    let engine = engine();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_004: the Rust form of a NULL handle is no socket at all.
    let nothing: Option<AsyncSocket> = None;
    drop(nothing);
    // A socket that was never opened has nothing to close: dropping it makes no OS call.
    let never_opened = AsyncSocket::new(&engine).unwrap();
    fault::take_calls();
    drop(never_opened);
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn destroy_of_an_open_socket_closes_it_releases_the_engine_and_frees_everything_01_006_42_005_01_005(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    assert_eq!(engine.ref_count(), 3);
    let pending = receive(&b, vec![vec![0u8; 4]]);
    fault::record(true);
    drop(b);
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_006: an implicit close, with every step of close.
    let order = [
        first(&log, CallKind::Closesocket),
        first(&log, CallKind::WaitForThreadpoolIoCallbacks),
        first(&log, CallKind::CloseThreadpoolIo),
        first(&log, CallKind::DestroyThreadpoolEnvironment),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{log:#?}");
    // The pending receive completed exactly once, before drop returned.
    let (r, n, _, _) = pending.try_recv().expect("completed before drop returned");
    println!("receive pending at drop: {r:?} {n}");
    assert_quiet(&pending, "receive");
    // SRS_ASYNC_SOCKET_WIN32_42_005: the engine reference is released.
    assert_eq!(engine.ref_count(), 2);
    // SRS_ASYNC_SOCKET_WIN32_01_005: every resource is freed: no I/O context is left, the
    // thread-pool I/O and the environment are closed, and the socket is closed (the peer reads
    // the end of the stream).
    assert_eq!(fault::live_io_contexts(), 0);
    let (r, n, _, _) = recv(&receive(&a, vec![vec![0u8; 4]]), "peer sees the close");
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
    drop(a);
    assert_eq!(engine.ref_count(), 1);
}

#[test]
fn destroy_waits_while_the_socket_is_closing_01_093() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let b = Arc::new(b);
    // Two receives on b: the first completes with a byte; its callback closes b from inside.
    // The pool is told no thread is to spare (CallbackMayRunLong answers FALSE), so that close
    // cannot wait for the second receive and leaves b CLOSING; the second receive's completion
    // is held back by a hook until the test lets it go.
    let (in_cb_tx, in_cb_rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        assert_eq!((r, n), (ReceiveResult::Ok, 1));
        b2.close();
        let _ = in_cb_tx.send(b2.state());
    })
    .unwrap();
    let second = receive(&b, vec![vec![0u8; 1]]);
    let release = Arc::new(Barrier::new(2));
    let completions = Arc::new(AtomicUsize::new(0));
    {
        let release = Arc::clone(&release);
        let completions = Arc::clone(&completions);
        fault::on_call(CallKind::OnIoComplete, move |call| {
            // Hold the aborted receive (the only completion with 0 bytes), once.
            if matches!(call, Call::OnIoComplete { bytes: 0, .. })
                && completions.fetch_add(1, SeqCst) == 0
            {
                release.wait();
            }
        });
    }
    fault::inject_once(CallKind::CallbackMayRunLong, Outcome::Fail(0));
    fault::record(true);
    recv(&send(&a, vec![vec![7]]), "send");
    assert_eq!(recv(&in_cb_rx, "the first callback"), SocketState::Closing);
    assert_eq!(b.state(), SocketState::Closing);

    // The callback's clone of `b` goes with its closure, right after it returned.
    wait_until("the callback released b", || Arc::strong_count(&b) == 1);
    // SRS_ASYNC_SOCKET_WIN32_01_093: destroy waits while CLOSING.
    let dropped = Arc::new(AtomicBool::new(false));
    let dropper = {
        let dropped = Arc::clone(&dropped);
        thread::spawn(move || {
            let b = Arc::try_unwrap(b).expect("the callback released its reference");
            drop(b);
            dropped.store(true, SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(200));
    assert!(
        !dropped.load(SeqCst),
        "destroy returned while the socket was CLOSING"
    );
    assert!(
        second.try_recv().is_err(),
        "the second receive is still held"
    );
    release.wait();
    dropper.join().unwrap();
    assert!(dropped.load(SeqCst));
    // By the time destroy returned, the held completion was delivered and the close finished.
    let (r, n, _, _) = second
        .try_recv()
        .expect("delivered before destroy returned");
    assert_eq!(n, 0, "{r:?}");
    let log = calls();
    assert!(first(&log, CallKind::CloseThreadpoolIo) > last(&log, CallKind::OnIoComplete));
    assert_eq!(
        count(&log, CallKind::WaitForThreadpoolIoCallbacks),
        0,
        "nobody could wait"
    );
    drop(a);
}

// =============================================================================================
// async_socket_open_async
// =============================================================================================

#[test]
fn open_needs_a_socket_an_async_socket_and_a_callback_01_007_01_034_01_008() {
    let _s = serial();
    let engine = engine();
    // SRS_ASYNC_SOCKET_WIN32_01_007: the async socket is `&self`, never NULL.
    let open: fn(&AsyncSocket, SocketTransport) -> Result<(), asock::OpenError> = AsyncSocket::open;
    // SRS_ASYNC_SOCKET_WIN32_01_008: `open_async` takes the callback by value (a closure is
    // never NULL); `open` is the form without one.
    fn takes_callback(s: &AsyncSocket, t: SocketTransport) -> Result<(), asock::OpenError> {
        s.open_async(t, |_r: OpenResult| {})
    }
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_034: the Rust form of a NULL transport is one that holds no
    // socket: open fails, hands it back, calls nothing and makes no OS call.
    let called = AtomicBool::new(false);
    let err = socket
        .open_async(SocketTransport::client(), |_| called.store(true, SeqCst))
        .expect_err("no socket");
    assert!(
        matches!(err.kind(), OpenErrorKind::InvalidTransport),
        "{err:?}"
    );
    assert!(!err.into_transport().is_valid_socket());
    assert!(!called.load(SeqCst));
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(socket.state(), SocketState::Closed);
    let (c, _peer) = transports();
    open(&socket, c).expect("the signature-checked open works");
    socket.close();
    let (c, _peer) = transports();
    takes_callback(&socket, c).expect("open_async works");
}

fn on_open_without_context(r: OpenResult) {
    assert_eq!(r, OpenResult::Ok);
    OPENED_WITHOUT_CONTEXT.store(true, SeqCst);
}
static OPENED_WITHOUT_CONTEXT: AtomicBool = AtomicBool::new(false);

#[test]
fn open_sets_up_the_thread_pool_io_then_calls_back_ok_01_023_01_016_01_036_01_058_01_094_01_014_01_017_01_009(
) {
    let _s = serial();
    let engine = engine();
    let pool = engine.threadpool() as usize;
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (c, _peer) = transports();
    let handle = c.underlying_socket().unwrap() as usize;
    // Watch the state while the thread-pool I/O is being created.
    let during = Arc::new(Mutex::new(None));
    {
        let socket = Arc::clone(&socket);
        let during = Arc::clone(&during);
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            *during.lock().unwrap() = Some(socket.state());
        });
    }
    fault::record(true);
    let me = thread::current().id();
    let (tx, rx) = mpsc::channel();
    let result = socket.open_async(c, move |r| {
        tx.send((r, thread::current().id())).unwrap();
    });
    // SRS_ASYNC_SOCKET_WIN32_01_014: success.
    assert!(result.is_ok(), "{result:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_017: OPEN_OK, on the calling thread, before open returned.
    assert_eq!(
        rx.try_recv().expect("called before open returned"),
        (OpenResult::Ok, me)
    );
    // SRS_ASYNC_SOCKET_WIN32_01_023: OPENING while the platform setup runs.
    assert_eq!(*during.lock().unwrap(), Some(SocketState::Opening));
    // SRS_ASYNC_SOCKET_WIN32_01_094: then OPEN.
    assert_eq!(socket.state(), SocketState::Open);
    let log = calls();
    let env = match log[..] {
        [Call::InitializeThreadpoolEnvironment { env }, ..] => env,
        ref other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_016
    assert_eq!(log[0], Call::InitializeThreadpoolEnvironment { env });
    // SRS_ASYNC_SOCKET_WIN32_01_036: the environment is bound to the engine's pool.
    assert_eq!(log[1], Call::SetThreadpoolCallbackPool { env, pool });
    // SRS_ASYNC_SOCKET_WIN32_01_058: CreateThreadpoolIo(the transport's socket, on_io_complete,
    // the environment bound to the engine's pool).
    match &log[2] {
        Call::CreateThreadpoolIo {
            handle: h,
            callback,
            env: e,
            env_pool,
            ..
        } => {
            assert_eq!(*h, handle);
            assert_ne!(*callback, 0);
            assert_eq!(*e, env);
            assert_eq!(*env_pool, pool);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.len(), 3, "{log:#?}");
    // SRS_ASYNC_SOCKET_WIN32_01_009: the context may be NULL: a callback that captures
    // nothing (a plain function) works.
    socket.close();
    let (c, _peer) = transports();
    socket
        .open_async(c, on_open_without_context)
        .expect("open with a plain function");
    assert!(OPENED_WITHOUT_CONTEXT.load(SeqCst));
}

#[test]
fn open_when_open_or_opening_fails_01_015() {
    let _s = serial();
    let engine = engine();
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (c, _p1) = transports();
    socket.open(c).unwrap();
    // SRS_ASYNC_SOCKET_WIN32_01_015: already OPEN.
    let (c2, _p2) = transports();
    let err = socket.open(c2).expect_err("already open");
    assert!(matches!(err.kind(), OpenErrorKind::NotClosed), "{err:?}");
    assert!(err.into_transport().is_valid_socket(), "handed back usable");
    socket.close();

    // SRS_ASYNC_SOCKET_WIN32_01_015: OPENING: a second open while the first one is creating
    // the thread-pool I/O fails at once.
    let (c3, _p3) = transports();
    let (c4, _p4) = transports();
    let second: Arc<Mutex<Option<SocketTransport>>> = Arc::new(Mutex::new(Some(c4)));
    let verdict = Arc::new(Mutex::new(None));
    {
        let socket = Arc::clone(&socket);
        let second = Arc::clone(&second);
        let verdict = Arc::clone(&verdict);
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            if let Some(t) = second.lock().unwrap().take() {
                let r = socket
                    .open(t)
                    .map_err(|e| (format!("{:?}", e.kind()), e.into_transport()));
                *verdict.lock().unwrap() = Some((socket.state(), r));
            }
        });
    }
    socket.open(c3).expect("the first open");
    let (state, r) = verdict.lock().unwrap().take().expect("the hook ran");
    assert_eq!(state, SocketState::Opening);
    let (kind, back) = r.expect_err("opening");
    assert_eq!(kind, "NotClosed");
    assert!(back.is_valid_socket());
}

#[test]
fn open_fails_when_create_threadpool_io_fails_and_hands_the_transport_back_01_039() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    let (c, peer) = transports();
    fault::record(true);
    fault::inject_once(
        CallKind::CreateThreadpoolIo,
        Outcome::Fail(ERROR_INVALID_PARAMETER),
    );
    let called = AtomicBool::new(false);
    // SRS_ASYNC_SOCKET_WIN32_01_039: fails, no callback, state back to CLOSED.
    let err = socket
        .open_async(c, |_| called.store(true, SeqCst))
        .expect_err("CreateThreadpoolIo failed");
    assert!(
        matches!(err.kind(), OpenErrorKind::Io(e) if e.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32)),
        "{err:?}"
    );
    assert!(!called.load(SeqCst));
    assert_eq!(socket.state(), SocketState::Closed);
    let log = calls();
    assert_eq!(
        log.iter().map(Call::kind).collect::<Vec<_>>(),
        [
            CallKind::InitializeThreadpoolEnvironment,
            CallKind::SetThreadpoolCallbackPool,
            CallKind::CreateThreadpoolIo,
            CallKind::DestroyThreadpoolEnvironment,
        ]
    );
    assert_eq!(
        count(&log, CallKind::Closesocket),
        0,
        "the caller still owns the socket"
    );
    // The transport comes back usable, and the async socket can be opened again.
    let t = err.into_transport();
    t.send(&[std::io::IoSlice::new(b"ok")], 0)
        .expect("still connected");
    socket.open(t).expect("a second open succeeds");
    let got = read_exactly(
        &{
            let p = AsyncSocket::new(&engine).unwrap();
            p.open(peer).unwrap();
            p
        },
        2,
    );
    assert_eq!(got, b"ok");
}

// =============================================================================================
// async_socket_close
// =============================================================================================

#[test]
fn close_needs_no_handle_and_returns_when_not_open_01_018_01_022() {
    let _s = serial();
    let engine = engine();
    // SRS_ASYNC_SOCKET_WIN32_01_018: close is a method of `&AsyncSocket`: no NULL handle.
    let close: fn(&AsyncSocket) = AsyncSocket::close;
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_022: not OPEN (never opened): returns, does nothing.
    close(&socket);
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(socket.state(), SocketState::Closed);
    let (c, _p) = transports();
    socket.open(c).unwrap();
    socket.close();
    fault::take_calls();
    // Closed already: returns, does nothing.
    socket.close();
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn close_moves_to_closing_closes_the_socket_waits_and_releases_01_019_01_021_01_040_01_059_01_042()
{
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let b = Arc::new(b);
    let during = Arc::new(Mutex::new(None));
    {
        let b = Arc::clone(&b);
        let during = Arc::clone(&during);
        fault::on_call(CallKind::Closesocket, move |_| {
            *during.lock().unwrap() = Some(b.state());
        });
    }
    let pending = receive(&b, vec![vec![0u8; 8]]);
    fault::record(true);
    b.close();
    // SRS_ASYNC_SOCKET_WIN32_01_019: CLOSING while it closes.
    assert_eq!(*during.lock().unwrap(), Some(SocketState::Closing));
    assert_eq!(b.state(), SocketState::Closed);
    let log = calls();
    let io = match log
        .iter()
        .find(|c| c.kind() == CallKind::WaitForThreadpoolIoCallbacks)
    {
        // SRS_ASYNC_SOCKET_WIN32_01_040: WaitForThreadpoolIoCallbacks(io, FALSE).
        Some(Call::WaitForThreadpoolIoCallbacks { io, cancel_pending }) => {
            assert!(!cancel_pending);
            *io
        }
        other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_021: the socket is closed first (which aborts the receive).
    let close_at = first(&log, CallKind::Closesocket);
    assert!(close_at < first(&log, CallKind::WaitForThreadpoolIoCallbacks));
    // SRS_ASYNC_SOCKET_WIN32_01_059: then CloseThreadpoolIo of the same PTP_IO.
    let at = log
        .iter()
        .position(|c| *c == Call::CloseThreadpoolIo { io })
        .expect("CloseThreadpoolIo(io)");
    assert!(at > first(&log, CallKind::WaitForThreadpoolIoCallbacks));
    // SRS_ASYNC_SOCKET_WIN32_01_042: and the environment is destroyed.
    assert!(first(&log, CallKind::DestroyThreadpoolEnvironment) > at);
    // The pending receive completed once, before close returned.
    let (r, n, _, _) = pending.try_recv().expect("completed before close returned");
    assert_eq!(n, 0);
    assert_ne!(r, ReceiveResult::Ok);
    // The socket is really closed: the peer reads the end of the stream.
    let (r, n, _, _) = recv(&receive(&a, vec![vec![0u8; 1]]), "peer");
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
}

#[test]
fn close_waits_for_executing_sends_and_receives_01_020() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let a = Arc::new(a);
    // Hold a WSASend in place; close from another thread meanwhile.
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    {
        let entered = Arc::clone(&entered);
        let release = Arc::clone(&release);
        let once = AtomicBool::new(false);
        fault::on_call(CallKind::WsaSend, move |_| {
            if !once.swap(true, SeqCst) {
                entered.wait();
                release.wait();
            }
        });
    }
    fault::record(true);
    let sender = {
        let a = Arc::clone(&a);
        thread::spawn(move || recv(&send(&a, vec![b"held".to_vec()]), "held send"))
    };
    entered.wait();
    let closed = Arc::new(AtomicBool::new(false));
    let closer = {
        let a = Arc::clone(&a);
        let closed = Arc::clone(&closed);
        thread::spawn(move || {
            a.close();
            closed.store(true, SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(150));
    // SRS_ASYNC_SOCKET_WIN32_01_020: close waits for the executing send: the socket is not
    // closed while WSASend runs.
    assert!(!closed.load(SeqCst));
    assert_eq!(count(&calls(), CallKind::Closesocket), 0);
    release.wait();
    closer.join().unwrap();
    let (r, _, _) = sender.join().unwrap();
    let log = calls();
    assert!(first(&log, CallKind::WsaSend) < first(&log, CallKind::Closesocket));
    println!("send held across close: {r:?}");
    // Same for a receive.
    let b = Arc::new(b);
    fault::reset();
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    {
        let entered = Arc::clone(&entered);
        let release = Arc::clone(&release);
        let once = AtomicBool::new(false);
        fault::on_call(CallKind::WsaRecv, move |_| {
            if !once.swap(true, SeqCst) {
                entered.wait();
                release.wait();
            }
        });
    }
    fault::record(true);
    let receiver = {
        let b = Arc::clone(&b);
        thread::spawn(move || recv(&receive(&b, vec![vec![0u8; 4]]), "held receive"))
    };
    entered.wait();
    let closer = {
        let b = Arc::clone(&b);
        thread::spawn(move || b.close())
    };
    thread::sleep(Duration::from_millis(150));
    assert_eq!(count(&calls(), CallKind::Closesocket), 0);
    release.wait();
    closer.join().unwrap();
    receiver.join().unwrap();
    let log = calls();
    assert!(first(&log, CallKind::WsaRecv) < first(&log, CallKind::Closesocket));
}

// =============================================================================================
// async_socket_send_async: arguments and state
// =============================================================================================

#[test]
fn send_argument_errors_01_024_01_025_01_085_01_089_01_090_01_101_01_026() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = open_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_024 / 01_025 / 01_026: the socket is `&self`, the buffers a
    // `Vec` (or a slice), the callback a closure: none can be NULL.
    type SendFn = fn(
        &AsyncSocket,
        Vec<Vec<u8>>,
        fn(SendResult, Vec<Vec<u8>>),
    ) -> Result<(), asock::SubmitError<Vec<Vec<u8>>>>;
    let send_fn: SendFn = |s, b, f| s.send(b, f);
    let _ = send_fn;
    // SRS_ASYNC_SOCKET_WIN32_01_085: 0 buffers.
    let (kind, sync, bufs) = send_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    assert!(bufs.is_empty());
    // SRS_ASYNC_SOCKET_WIN32_01_090: a buffer of length 0.
    let (kind, sync, bufs) = send_err(&a, vec![vec![1], vec![]]);
    assert!(is_invalid(&kind, "zero length"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    assert_eq!(bufs, vec![vec![1], vec![]], "handed back");
    // SRS_ASYNC_SOCKET_WIN32_01_089: a buffer with no memory (the raw API's NULL pointer).
    let byte = Box::leak(Box::new(1u8)) as *mut u8;
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.send_raw(
            &[RawBuf::new(byte, 1), RawBuf::new(std::ptr::null_mut(), 1)],
            |_| panic!("never called"),
        )
    }
    .expect_err("NULL buffer");
    assert!(is_invalid(err.kind(), "no memory"), "{err:?}");
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    // SRS_ASYNC_SOCKET_WIN32_01_025 (nearest runtime case): an empty descriptor list.
    // SAFETY: rejected before any pointer is used.
    let err = unsafe { a.send_raw(&[], |_| panic!("never called")) }.expect_err("no buffers");
    assert!(is_invalid(err.kind(), "no buffers"), "{err:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_101: the lengths add up to more than UINT32_MAX.
    let half = u32::MAX as usize / 2 + 1;
    // SAFETY: rejected before any pointer is used (the lengths are never read through).
    let err = unsafe {
        a.send_raw(&[RawBuf::new(byte, half), RawBuf::new(byte, half)], |_| {
            panic!("never called")
        })
    }
    .expect_err("too long");
    assert!(is_invalid(err.kind(), "u32::MAX"), "{err:?}");
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    // Argument errors come before the state and before any OS call.
    assert!(calls().is_empty(), "{:?}", calls());
    a.close();
    let (kind, sync, _) = send_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
}

fn on_send_without_context(r: SendResult, bufs: Vec<Vec<u8>>) {
    assert_eq!(r, SendResult::Ok);
    assert_eq!(bufs, vec![b"ctx".to_vec()]);
    SENT_WITHOUT_CONTEXT.store(true, SeqCst);
}
static SENT_WITHOUT_CONTEXT: AtomicBool = AtomicBool::new(false);

#[test]
fn send_callback_context_may_be_null_01_027() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_027: a callback with no context (a plain function).
    a.send(vec![b"ctx".to_vec()], on_send_without_context)
        .expect("accepted");
    assert_eq!(read_exactly(&b, 3), b"ctx");
    wait_until("the send callback", || SENT_WITHOUT_CONTEXT.load(SeqCst));
}

#[test]
fn send_when_not_open_is_not_open_01_097() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_097: never opened...
    let (kind, sync, bufs) = send_err(&socket, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert_eq!(bufs, vec![b"x".to_vec()]);
    // ... and closed.
    let (c, _p) = transports();
    socket.open(c).unwrap();
    socket.close();
    fault::take_calls();
    let (kind, sync, _) = send_err(&socket, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn send_context_exceeding_u32_max_is_an_error_01_103() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = open_pair(&engine);
    fault::record(true);
    // 2^28 one-byte buffers: 256 MiB in total (a valid total), but 2^28 WSABUFs of 16 bytes
    // alone are 2^32 bytes: the context would exceed UINT32_MAX.
    let count = 1usize << 28;
    let bufs: Vec<[u8; 1]> = vec![[0u8]; count];
    let err = a
        .send(bufs, |_, _| panic!("never called"))
        .expect_err("context too large");
    // SRS_ASYNC_SOCKET_WIN32_01_103
    assert!(is_invalid(err.kind(), "u32::MAX"), "{err:?}");
    assert_eq!(err.send_sync_result(), SendSyncResult::Error);
    assert_eq!(err.into_inner().len(), count, "handed back");
    assert!(calls().is_empty(), "no event, no I/O: {:?}", calls());
    assert_eq!(fault::live_io_contexts(), 0);
}

// =============================================================================================
// async_socket_send_async: the call sequence
// =============================================================================================

#[test]
fn send_builds_a_context_and_starts_an_overlapped_wsasend_01_028_01_050_01_056_01_057_01_060_01_061_01_045(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    let bufs = vec![b"he".to_vec(), b"llo".to_vec(), b" world".to_vec()];
    let expected = wsabufs_of(&bufs);
    let me = thread::current().id();
    // SRS_ASYNC_SOCKET_WIN32_01_045: accepted.
    let done = send(&a, bufs);
    let (r, back, on) = recv(&done, "the send");
    assert_eq!(r, SendResult::Ok);
    assert_ne!(on, me, "completed on a pool thread");
    // SRS_ASYNC_SOCKET_WIN32_01_028: the context kept the payload and the callback, which
    // gets the very same buffers back.
    assert_eq!(
        back,
        vec![b"he".to_vec(), b"llo".to_vec(), b" world".to_vec()]
    );
    assert_eq!(wsabufs_of(&back), expected, "the same memory, never copied");
    assert_eq!(read_exactly(&b, 11), b"hello world");
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_057: an event is created (auto-reset, not signalled)...
    assert_eq!(
        log[0],
        Call::CreateEvent {
            manual_reset: false,
            initial_state: false,
        }
    );
    // SRS_ASYNC_SOCKET_WIN32_01_060: StartThreadpoolIo before the send.
    assert!(
        matches!(log[1], Call::StartThreadpoolIo { io } if io != 0),
        "{log:#?}"
    );
    match &log[2] {
        Call::WsaSend {
            buffers,
            bytes_sent_null,
            flags,
            overlapped,
            event,
            routine_null,
            ..
        } => {
            // SRS_ASYNC_SOCKET_WIN32_01_050: one WSABUF per buffer...
            assert_eq!(buffers.len(), 3);
            // SRS_ASYNC_SOCKET_WIN32_01_056: ... pointing at the payload's memory and length.
            assert_eq!(*buffers, expected);
            // SRS_ASYNC_SOCKET_WIN32_01_061: the OVERLAPPED carries the event just created
            // (01_057: stored in the context), flags 0, no byte count, no completion routine.
            assert_ne!(*event, 0);
            assert_ne!(*overlapped, 0);
            assert_eq!(*flags, 0);
            assert!(*bytes_sent_null);
            assert!(*routine_null);
            // The event stored in the context is the one on_io_complete closes.
            assert!(log.contains(&Call::CloseHandle { handle: *event }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn send_that_completes_pending_is_not_an_error_01_053() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    // Real pending: 32 MiB to a peer that is not reading yet.
    let big: Vec<u8> = (0u32..32 << 20).map(|i| (i % 251) as u8).collect();
    let done = send(&a, vec![big.clone()]);
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_053: WSAGetLastError says WSA_IO_PENDING: accepted.
    assert!(
        log.contains(&Call::WsaGetLastError {
            error: WSA_IO_PENDING as i32
        }),
        "the large send went pending: {log:#?}"
    );
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 0);
    assert_eq!(read_exactly(&b, big.len()), big);
    assert_eq!(recv(&done, "the large send").0, SendResult::Ok);
    // Injected: a send that completed at once but reports WSA_IO_PENDING is accepted and
    // completes through the pool.
    fault::inject_once(CallKind::WsaSend, Outcome::FailAfterCall(WSA_IO_PENDING));
    let done = send(&a, vec![b"p".to_vec()]);
    assert_eq!(recv(&done, "send").0, SendResult::Ok);
    assert_eq!(read_exactly(&b, 1), b"p");
}

#[test]
fn send_failing_with_a_reset_is_not_open_after_cancelling_the_io_01_062_01_100_42_002() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = open_pair(&engine);
    fault::record(true);
    fault::inject_once(CallKind::WsaSend, Outcome::Fail(WSAECONNRESET));
    let (kind, sync, bufs) = send_err(&a, vec![b"x".to_vec()]);
    // SRS_ASYNC_SOCKET_WIN32_42_002
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(sync, SendSyncResult::NotOpen);
    assert_eq!(bufs, vec![b"x".to_vec()]);
    let log = calls();
    let send_at = first(&log, CallKind::WsaSend);
    // SRS_ASYNC_SOCKET_WIN32_01_062: WSAGetLastError after the failure.
    assert_eq!(
        log[send_at + 1],
        Call::WsaGetLastError {
            error: WSAECONNRESET as i32
        }
    );
    // SRS_ASYNC_SOCKET_WIN32_01_100: CancelThreadpoolIo for the started I/O.
    let io = match log[send_at - 1] {
        Call::StartThreadpoolIo { io } => io,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(log[send_at + 2], Call::CancelThreadpoolIo { io });
    assert_eq!(fault::live_io_contexts(), 0, "the context is freed");
    assert_eq!(a.state(), SocketState::Open, "nothing else changed");
}

#[test]
fn send_failing_otherwise_is_an_error_after_cancelling_the_io_01_100_01_106_01_029() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_100 / 01_029: another WSA error.
    fault::inject_once(CallKind::WsaSend, Outcome::Fail(WSAENOBUFS));
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert_eq!(os_error(&kind), Some(WSAENOBUFS as i32), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    let log = fault::take_calls()
        .into_iter()
        .map(|r| r.call)
        .collect::<Vec<_>>();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert!(first(&log, CallKind::WsaGetLastError) < first(&log, CallKind::CancelThreadpoolIo));
    // SRS_ASYNC_SOCKET_WIN32_01_106: a failure of any other kind (WSASend returning neither 0
    // nor SOCKET_ERROR): CancelThreadpoolIo and ERROR.
    fault::inject_once(CallKind::WsaSend, Outcome::Return(1));
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert!(matches!(kind, SubmitErrorKind::Io(_)), "{kind:?}");
    assert_eq!(sync, SendSyncResult::Error);
    let log = fault::take_calls()
        .into_iter()
        .map(|r| r.call)
        .collect::<Vec<_>>();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert_eq!(count(&log, CallKind::WsaGetLastError), 0);
    // SRS_ASYNC_SOCKET_WIN32_01_029: any error: CreateEvent failing.
    fault::inject_once(
        CallKind::CreateEvent,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let (kind, sync, _) = send_err(&a, vec![b"x".to_vec()]);
    assert_eq!(
        os_error(&kind),
        Some(ERROR_NOT_ENOUGH_MEMORY as i32),
        "{kind:?}"
    );
    assert_eq!(sync, SendSyncResult::Error);
    let log = fault::take_calls()
        .into_iter()
        .map(|r| r.call)
        .collect::<Vec<_>>();
    assert_eq!(
        log.iter().map(Call::kind).collect::<Vec<_>>(),
        [CallKind::CreateEvent]
    );
    assert_eq!(fault::live_io_contexts(), 0);
    // None of these left anything behind: the socket still works.
    let done = send(&a, vec![b"fine".to_vec()]);
    assert_eq!(recv(&done, "send").0, SendResult::Ok);
    assert_eq!(read_exactly(&b, 4), b"fine");
}

// =============================================================================================
// async_socket_receive_async
// =============================================================================================

#[test]
fn receive_argument_errors_01_073_01_074_01_086_01_091_01_092_01_096_01_075() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = open_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_073 / 01_074 / 01_075: `&self`, a `Vec` / slice, a closure:
    // none can be NULL.
    type RecvFn = fn(
        &AsyncSocket,
        Vec<Vec<u8>>,
        fn(ReceiveResult, u32, Vec<Vec<u8>>),
    ) -> Result<(), asock::SubmitError<Vec<Vec<u8>>>>;
    let recv_fn: RecvFn = |s, b, f| s.receive(b, f);
    let _ = recv_fn;
    // SRS_ASYNC_SOCKET_WIN32_01_086: 0 buffers.
    let (kind, _) = recv_err(&a, vec![]);
    assert!(is_invalid(&kind, "no buffers"), "{kind:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_092: a buffer of length 0.
    let (kind, bufs) = recv_err(&a, vec![vec![0; 2], vec![]]);
    assert!(is_invalid(&kind, "zero length"), "{kind:?}");
    assert_eq!(bufs, vec![vec![0; 2], vec![]]);
    let byte = Box::leak(Box::new(0u8)) as *mut u8;
    // SRS_ASYNC_SOCKET_WIN32_01_091: a buffer with no memory.
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.receive_raw(&[RawBuf::new(std::ptr::null_mut(), 4)], |_, _| {
            panic!("never called")
        })
    }
    .expect_err("NULL buffer");
    assert!(is_invalid(err.kind(), "no memory"), "{err:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_074 (nearest runtime case): an empty descriptor list.
    // SAFETY: rejected before any pointer is used.
    let err = unsafe { a.receive_raw(&[], |_, _| panic!("never called")) }.expect_err("none");
    assert!(is_invalid(err.kind(), "no buffers"), "{err:?}");
    // SRS_ASYNC_SOCKET_WIN32_01_096: more than UINT32_MAX bytes in total.
    let half = u32::MAX as usize / 2 + 1;
    // SAFETY: rejected before any pointer is used.
    let err = unsafe {
        a.receive_raw(
            &[RawBuf::new(byte, half), RawBuf::new(byte, half)],
            |_, _| panic!("never called"),
        )
    }
    .expect_err("too long");
    assert!(is_invalid(err.kind(), "u32::MAX"), "{err:?}");
    assert!(calls().is_empty(), "{:?}", calls());
}

fn on_receive_without_context(r: ReceiveResult, n: u32, bufs: Vec<Vec<u8>>) {
    assert_eq!((r, n), (ReceiveResult::Ok, 2));
    assert_eq!(bufs, vec![b"hi".to_vec()]);
    RECEIVED_WITHOUT_CONTEXT.store(true, SeqCst);
}
static RECEIVED_WITHOUT_CONTEXT: AtomicBool = AtomicBool::new(false);

#[test]
fn receive_callback_context_may_be_null_01_076() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_076
    b.receive(vec![vec![0u8; 2]], on_receive_without_context)
        .expect("accepted");
    assert_eq!(
        recv(&send(&a, vec![b"hi".to_vec()]), "send").0,
        SendResult::Ok
    );
    wait_until("the receive callback", || {
        RECEIVED_WITHOUT_CONTEXT.load(SeqCst)
    });
}

#[test]
fn receive_when_not_open_fails_01_098() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_098
    let (kind, bufs) = recv_err(&socket, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert_eq!(bufs, vec![vec![0u8; 2]]);
    let (c, _p) = transports();
    socket.open(c).unwrap();
    socket.close();
    fault::take_calls();
    let (kind, _) = recv_err(&socket, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::NotOpen), "{kind:?}");
    assert!(calls().is_empty(), "{:?}", calls());
}

#[test]
fn receive_builds_a_context_and_starts_an_overlapped_wsarecv_01_077_01_078_01_079_01_080_01_081_01_082_01_054_01_055_01_083(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    let bufs = vec![vec![0u8; 1], vec![0u8; 2], vec![0u8; 3]];
    let expected = wsabufs_of(&bufs);
    // SRS_ASYNC_SOCKET_WIN32_01_083: accepted (nothing to read yet: it goes pending).
    let done = receive(&b, bufs);
    let log = calls();
    assert!(matches!(
        log[0],
        // SRS_ASYNC_SOCKET_WIN32_01_080: an event for the OVERLAPPED.
        Call::CreateEvent {
            manual_reset: false,
            initial_state: false
        }
    ));
    // SRS_ASYNC_SOCKET_WIN32_01_081
    assert!(matches!(log[1], Call::StartThreadpoolIo { .. }), "{log:#?}");
    let (overlapped, event) = match &log[2] {
        Call::WsaRecv {
            buffers,
            bytes_received_null,
            flags,
            overlapped,
            event,
            routine_null,
            ..
        } => {
            // SRS_ASYNC_SOCKET_WIN32_01_078: one WSABUF per buffer...
            assert_eq!(buffers.len(), 3);
            // SRS_ASYNC_SOCKET_WIN32_01_079: ... pointing at the payload.
            assert_eq!(*buffers, expected);
            // SRS_ASYNC_SOCKET_WIN32_01_082: OVERLAPPED with the event, flags 0, no count.
            assert_ne!(*event, 0);
            assert_eq!(*flags, 0);
            assert!(*bytes_received_null);
            assert!(*routine_null);
            (*overlapped, *event)
        }
        other => panic!("{other:?}"),
    };
    // SRS_ASYNC_SOCKET_WIN32_01_054 / 01_055: SOCKET_ERROR, WSAGetLastError, IO_PENDING is not
    // an error.
    assert_eq!(
        log[3],
        Call::WsaGetLastError {
            error: WSA_IO_PENDING as i32
        }
    );
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(
        recv(&send(&a, vec![b"abcdef".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (r, n, back, _) = recv(&done, "the receive");
    // SRS_ASYNC_SOCKET_WIN32_01_077: the context kept the payload and the callback.
    assert_eq!((r, n), (ReceiveResult::Ok, 6));
    assert_eq!(back, vec![b"a".to_vec(), b"bc".to_vec(), b"def".to_vec()]);
    assert_eq!(wsabufs_of(&back), expected);
    let log = calls();
    assert!(log.contains(&Call::OnIoComplete {
        overlapped,
        io_result: NO_ERROR,
        bytes: 6
    }));
    assert!(log.contains(&Call::CloseHandle { handle: event }));
}

#[test]
fn receive_failing_is_an_error_after_cancelling_the_io_01_054_01_099_01_105_01_084() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_054 / 01_099: SOCKET_ERROR with another error: WSAGetLastError,
    // then CancelThreadpoolIo, then an error.
    fault::inject_once(CallKind::WsaRecv, Outcome::Fail(WSAECONNRESET));
    let (kind, bufs) = recv_err(&b, vec![vec![0u8; 2]]);
    assert_eq!(os_error(&kind), Some(WSAECONNRESET as i32), "{kind:?}");
    assert_eq!(bufs, vec![vec![0u8; 2]]);
    let log = fault::take_calls()
        .into_iter()
        .map(|r| r.call)
        .collect::<Vec<_>>();
    let at = first(&log, CallKind::WsaRecv);
    assert_eq!(
        log[at + 1],
        Call::WsaGetLastError {
            error: WSAECONNRESET as i32
        }
    );
    assert!(matches!(log[at + 2], Call::CancelThreadpoolIo { .. }));
    // SRS_ASYNC_SOCKET_WIN32_01_105: a failure of any other kind: CancelThreadpoolIo, error.
    fault::inject_once(CallKind::WsaRecv, Outcome::Return(7));
    let (kind, _) = recv_err(&b, vec![vec![0u8; 2]]);
    assert!(matches!(kind, SubmitErrorKind::Io(_)), "{kind:?}");
    let log = fault::take_calls()
        .into_iter()
        .map(|r| r.call)
        .collect::<Vec<_>>();
    assert_eq!(count(&log, CallKind::CancelThreadpoolIo), 1);
    assert_eq!(count(&log, CallKind::WsaGetLastError), 0);
    // SRS_ASYNC_SOCKET_WIN32_01_084: any error: CreateEvent failing.
    fault::inject_once(
        CallKind::CreateEvent,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let (kind, _) = recv_err(&b, vec![vec![0u8; 2]]);
    assert_eq!(
        os_error(&kind),
        Some(ERROR_NOT_ENOUGH_MEMORY as i32),
        "{kind:?}"
    );
    assert_eq!(fault::live_io_contexts(), 0);
    // A receive whose WSARecv completed at once is accepted too (01_083), and the socket
    // still works after all the failures.
    assert_eq!(
        recv(&send(&a, vec![b"zz".to_vec()]), "send").0,
        SendResult::Ok
    );
    // Give the bytes time to land, so that this WSARecv can complete at once.
    thread::sleep(Duration::from_millis(20));
    let (r, n, bufs, _) = recv(&receive(&b, vec![vec![0u8; 2]]), "receive");
    assert_eq!((r, n, bufs), (ReceiveResult::Ok, 2, vec![b"zz".to_vec()]));
}

// =============================================================================================
// on_io_complete
// =============================================================================================

#[test]
fn on_io_complete_with_null_overlapped_returns_01_063() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let pending = receive(&b, vec![vec![0u8; 1]]);
    let live = fault::live_io_contexts();
    fault::record(true);
    // SRS_ASYNC_SOCKET_WIN32_01_063
    fault::call_on_io_complete_with_null_overlapped(NO_ERROR, 1);
    fault::call_on_io_complete_with_null_overlapped(ERROR_NETNAME_DELETED, 0);
    assert_eq!(
        calls(),
        vec![
            Call::OnIoComplete {
                overlapped: 0,
                io_result: NO_ERROR,
                bytes: 1
            },
            Call::OnIoComplete {
                overlapped: 0,
                io_result: ERROR_NETNAME_DELETED,
                bytes: 0
            },
        ],
        "nothing closed, nothing freed, nothing delivered"
    );
    assert_eq!(fault::live_io_contexts(), live);
    assert!(pending.try_recv().is_err());
    // The real completion still arrives afterwards.
    assert_eq!(
        recv(&send(&a, vec![b"!".to_vec()]), "send").0,
        SendResult::Ok
    );
    assert_eq!(recv(&pending, "receive").1, 1);
}

#[test]
fn on_io_complete_finds_the_context_from_the_overlapped_closes_the_event_and_frees_it_01_064_01_068_01_072(
) {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    let r1 = receive(&b, vec![vec![0u8; 3]]);
    let r2 = receive(&b, vec![vec![0u8; 3]]);
    assert_eq!(fault::live_io_contexts(), 2);
    assert_eq!(
        recv(&send(&a, vec![b"abc".to_vec()]), "send").0,
        SendResult::Ok
    );
    assert_eq!(
        recv(&send(&a, vec![b"def".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (_, n1, b1, _) = recv(&r1, "first receive");
    let (_, n2, b2, _) = recv(&r2, "second receive");
    assert_eq!((n1, n2), (3, 3));
    assert_eq!((b1, b2), (vec![b"abc".to_vec()], vec![b"def".to_vec()]));
    let log = calls();
    // SRS_ASYNC_SOCKET_WIN32_01_064: each completion names its OVERLAPPED, which is how the
    // right context (and callback) was found: each OVERLAPPED was handed to exactly one I/O.
    // (Addresses and handle values are reused once freed, so each I/O is matched with the
    // first completion and the first CloseHandle that follow it.)
    let mut started = 0;
    for (at, c) in log.iter().enumerate() {
        let (overlapped, event) = match c {
            Call::WsaRecv {
                overlapped, event, ..
            }
            | Call::WsaSend {
                overlapped, event, ..
            } => (*overlapped, *event),
            _ => continue,
        };
        started += 1;
        let done_at = at
            + log[at..]
                .iter()
                .position(
                    |c| matches!(c, Call::OnIoComplete { overlapped: o, .. } if *o == overlapped),
                )
                .expect("a completion for every started I/O");
        // SRS_ASYNC_SOCKET_WIN32_01_068: the completion closes that I/O's event.
        assert!(
            log[done_at..].contains(&Call::CloseHandle { handle: event }),
            "the event of the I/O at {at} is closed after its completion: {log:#?}"
        );
    }
    assert_eq!(started, 4);
    // SRS_ASYNC_SOCKET_WIN32_01_072: the contexts are freed.
    wait_until("contexts freed", || fault::live_io_contexts() == 0);
}

#[test]
fn send_completion_maps_the_io_result_01_065_01_066_01_067_01_102() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_065 / 01_066: NO_ERROR, every byte: OK.
    assert_eq!(
        recv(&send(&a, vec![b"12345".to_vec()]), "send").0,
        SendResult::Ok
    );
    assert_eq!(read_exactly(&b, 5), b"12345");
    // SRS_ASYNC_SOCKET_WIN32_01_067: any error is ERROR (also the codes that make a receive
    // ABANDONED: a send is never ABANDONED on Windows).
    for code in [
        ERROR_OPERATION_ABORTED,
        ERROR_NETNAME_DELETED,
        ERROR_CONNECTION_ABORTED,
    ] {
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: Some(code),
                bytes: Some(0),
            },
        );
        let (r, bufs, _) = recv(&send(&a, vec![b"ab".to_vec()]), "send");
        assert_eq!(r, SendResult::Error, "io_result {code}");
        assert_eq!(bufs, vec![b"ab".to_vec()]);
        read_exactly(&b, 2);
    }
    // SRS_ASYNC_SOCKET_WIN32_01_102: NO_ERROR but fewer, or more, bytes than the total: ERROR.
    for bytes in [4usize, 6] {
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: None,
                bytes: Some(bytes),
            },
        );
        let (r, _, _) = recv(&send(&a, vec![b"abc".to_vec(), b"de".to_vec()]), "send");
        assert_eq!(r, SendResult::Error, "{bytes} of 5 bytes");
        read_exactly(&b, 5);
    }
    assert_eq!(fault::live_io_contexts(), 0);
}

#[test]
fn receive_completion_maps_the_io_result_01_071_01_069_42_001_01_070_01_095_42_003() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    // SRS_ASYNC_SOCKET_WIN32_01_071 / 01_069: NO_ERROR: OK with the byte count.
    let r = receive(&b, vec![vec![0u8; 8]]);
    assert_eq!(
        recv(&send(&a, vec![b"four".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (res, n, bufs, _) = recv(&r, "receive");
    assert_eq!((res, n), (ReceiveResult::Ok, 4));
    assert_eq!(&bufs[0][..4], b"four");
    // SRS_ASYNC_SOCKET_WIN32_42_001: ERROR_NETNAME_DELETED / ERROR_CONNECTION_ABORTED:
    // ABANDONED with 0 bytes (whatever arrived).
    // SRS_ASYNC_SOCKET_WIN32_01_070: any other error: ERROR with 0 bytes.
    for (code, want) in [
        (ERROR_NETNAME_DELETED, ReceiveResult::Abandoned),
        (ERROR_CONNECTION_ABORTED, ReceiveResult::Abandoned),
        (ERROR_OPERATION_ABORTED, ReceiveResult::Error),
        (WSAENOBUFS, ReceiveResult::Error),
    ] {
        // (The data is sent first, so that the next completion is the receive's.)
        assert_eq!(
            recv(&send(&a, vec![b"xy".to_vec()]), "send").0,
            SendResult::Ok
        );
        fault::inject_once(
            CallKind::OnIoComplete,
            Outcome::Completion {
                io_result: Some(code),
                bytes: None,
            },
        );
        let r = receive(&b, vec![vec![0u8; 8]]);
        let (res, n, _, _) = recv(&r, "receive");
        assert_eq!((res, n), (want, 0), "io_result {code}");
    }
    // SRS_ASYNC_SOCKET_WIN32_01_095: NO_ERROR but more bytes than the buffers hold: ERROR with
    // that count.
    assert_eq!(
        recv(&send(&a, vec![b"z".to_vec()]), "send").0,
        SendResult::Ok
    );
    fault::inject_once(
        CallKind::OnIoComplete,
        Outcome::Completion {
            io_result: None,
            bytes: Some(9),
        },
    );
    let r = receive(&b, vec![vec![0u8; 3], vec![0u8; 5]]);
    let (res, n, _, _) = recv(&r, "receive");
    assert_eq!((res, n), (ReceiveResult::Error, 9));
    // Exactly the total is fine.
    let r = receive(&b, vec![vec![0u8; 3], vec![0u8; 5]]);
    assert_eq!(
        recv(&send(&a, vec![b"12345678".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (res, n, bufs, _) = recv(&r, "receive");
    assert_eq!((res, n), (ReceiveResult::Ok, 8));
    assert_eq!(bufs, vec![b"123".to_vec(), b"45678".to_vec()]);
    // SRS_ASYNC_SOCKET_WIN32_42_003: NO_ERROR with 0 bytes (the peer closed): ABANDONED, 0.
    fault::record(true);
    let r = receive(&b, vec![vec![0u8; 8]]);
    a.close();
    let (res, n, _, _) = recv(&r, "receive after the peer closed");
    assert_eq!((res, n), (ReceiveResult::Abandoned, 0));
    assert!(calls().iter().any(|c| matches!(
        c,
        Call::OnIoComplete {
            io_result: NO_ERROR,
            bytes: 0,
            overlapped
        } if *overlapped != 0
    )));
    assert_eq!(fault::live_io_contexts(), 0);
}

// =============================================================================================
// async_socket_notify_io_async
// =============================================================================================

#[test]
fn notify_io_fails_04_002() {
    let _s = serial();
    let engine = engine();
    let (a, _b) = open_pair(&engine);
    fault::record(true);
    for io_type in [NotifyType::In, NotifyType::Out] {
        let called = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&called);
        // SRS_ASYNC_SOCKET_WIN32_04_002
        let err = a
            .notify_io(io_type, move |_r: NotifyResult| flag.store(true, SeqCst))
            .expect_err("not on Windows");
        assert!(
            matches!(err.kind(), SubmitErrorKind::Unsupported),
            "{err:?}"
        );
        assert!(!called.load(SeqCst));
    }
    assert!(calls().is_empty());
}

// =============================================================================================
// c-pal's Windows integration tests (cpal-notes §6.1), without the double close
// =============================================================================================

#[test]
fn cpal_send_and_receive_1_byte_succeeds() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (client, server) = open_pair(&engine);
    // The server sends one buffer of 2 bytes; the client posts its receive afterwards.
    let sent = send(&server, vec![vec![0x42, 0x43]]);
    let got = receive(&client, vec![vec![0u8; 2]]);
    assert_eq!(recv(&sent, "send callback").0, SendResult::Ok);
    let (r, n, bufs, _) = recv(&got, "receive callback");
    assert_eq!((r, n), (ReceiveResult::Ok, 2));
    assert_eq!(bufs, vec![vec![0x42, 0x43]]);
    client.close();
    server.close();
}

#[test]
fn cpal_receive_and_send_2_buffers_succeeds() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (client, server) = open_pair(&engine);
    // The client posts a receive with two buffers (1 + 2 bytes) before the server sends two
    // buffers (2 + 1 bytes).
    let got = receive(&client, vec![vec![0u8; 1], vec![0u8; 2]]);
    let sent = send(&server, vec![vec![0x42, 0x43], vec![0x44]]);
    assert_eq!(recv(&sent, "send callback").0, SendResult::Ok);
    let (r, n, bufs, _) = recv(&got, "receive callback");
    assert_eq!(r, ReceiveResult::Ok);
    let mut all: Vec<u8> = bufs.concat()[..n as usize].to_vec();
    while all.len() < 3 {
        all.extend(read_exactly(&client, 3 - all.len()));
    }
    assert_eq!(all, [0x42, 0x43, 0x44]);
    client.close();
    server.close();
}

#[test]
fn cpal_when_server_socket_is_closed_receive_errors_on_client_side() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (c, _server) = transports();
    let raw = c.underlying_socket().unwrap() as usize;
    let client = AsyncSocket::new(&engine).unwrap();
    client.open(c).unwrap();
    fault::record(true);
    let got = receive(&client, vec![vec![0u8; 1]]);
    // The test closes the client's own socket underneath the async socket.
    // SAFETY: `raw` is the client's socket; the async socket's own closesocket at close is
    // intercepted below, so the handle is closed exactly once.
    assert_eq!(unsafe { closesocket(raw) }, 0);
    let (r, n, _, _) = recv(&got, "receive callback");
    let io_result = calls()
        .iter()
        .find_map(|c| match c {
            Call::OnIoComplete {
                io_result,
                overlapped,
                ..
            } if *overlapped != 0 => Some(*io_result),
            _ => None,
        })
        .expect("the receive completed through the pool");
    assert_eq!(n, 0);
    if io_result == ERROR_NETNAME_DELETED || io_result == ERROR_CONNECTION_ABORTED {
        // Windows: c-pal's assertion (42_001).
        assert_eq!(r, ReceiveResult::Abandoned);
    } else {
        // Wine completes the aborted receive with STATUS_HANDLES_CLOSED (io_result 676,
        // ERROR_HANDLES_CLOSED), which the seed maps to ERROR (01_070).
        assert!(under_wine(), "io_result {io_result} on Windows");
        assert_eq!(r, ReceiveResult::Error, "io_result {io_result}");
        println!("under Wine: io_result {io_result} -> {r:?} (Windows: ERROR_NETNAME_DELETED -> Abandoned)");
    }
    // No double close: the async socket's closesocket meets a closed handle.
    fault::inject_once(CallKind::Closesocket, Outcome::Fail(WSAENOTSOCK));
    client.close();
    assert_eq!(client.state(), SocketState::Closed);
    assert_quiet(&got, "receive");
}

// =============================================================================================
// What the seed leaves open: the contract (SPEC C1-C15)
// =============================================================================================

#[test]
fn completions_run_on_pool_threads_never_inside_the_submitting_call() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let me = thread::current().id();
    // Even a send that WSASend completes at once is delivered through the pool: on another
    // thread, so never on the submitting call's stack.
    for _ in 0..20 {
        let (r, _, on) = recv(&send(&a, vec![b"x".to_vec()]), "send");
        assert_eq!(r, SendResult::Ok);
        assert_ne!(on, me);
        let (r, n, _, on) = recv(&receive(&b, vec![vec![0u8; 1]]), "receive");
        assert_eq!((r, n), (ReceiveResult::Ok, 1));
        assert_ne!(on, me);
    }
}

#[test]
fn receives_and_sends_complete_in_submission_order() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (a, b) = open_pair(&engine);
    let (tx, rx) = mpsc::channel();
    const N: usize = 200;
    for i in 0..N {
        let tx = tx.clone();
        b.receive(vec![vec![0u8; 1]], move |r, n, bufs| {
            tx.send((i, r, n, bufs[0][0])).unwrap();
        })
        .unwrap();
    }
    let (stx, srx) = mpsc::channel();
    for i in 0..N {
        let stx = stx.clone();
        a.send(vec![vec![i as u8]], move |r, _| stx.send((i, r)).unwrap())
            .unwrap();
    }
    for i in 0..N {
        let (j, r) = recv(&srx, "send");
        assert_eq!((j, r), (i, SendResult::Ok), "sends complete in order");
    }
    for i in 0..N {
        let (j, r, n, byte) = recv(&rx, "receive");
        assert_eq!(
            (j, r, n),
            (i, ReceiveResult::Ok, 1),
            "receives complete in order"
        );
        assert_eq!(byte, i as u8, "and the bytes fill them in order");
    }
}

#[test]
fn concurrent_sends_never_interleave_and_every_byte_arrives() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let a = Arc::new(a);
    const THREADS: usize = 4;
    const PER: usize = 50;
    const LEN: usize = 3000;
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let a = Arc::clone(&a);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                for k in 0..PER {
                    let tag = (t * PER + k) as u16;
                    let mut msg = vec![0u8; LEN];
                    for chunk in msg.chunks_mut(2) {
                        chunk.copy_from_slice(&tag.to_le_bytes());
                    }
                    let done = Arc::clone(&done);
                    a.send(vec![msg], move |r, _| {
                        assert_eq!(r, SendResult::Ok);
                        done.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = read_exactly(&b, THREADS * PER * LEN);
    let mut seen = HashSet::new();
    for msg in all.chunks(LEN) {
        let tag = u16::from_le_bytes([msg[0], msg[1]]);
        assert!(
            msg.chunks(2)
                .all(|c| u16::from_le_bytes([c[0], c[1]]) == tag),
            "a message was interleaved with another"
        );
        assert!(seen.insert(tag), "message {tag} twice");
    }
    assert_eq!(seen.len(), THREADS * PER);
    wait_until("all send callbacks", || done.load(SeqCst) == THREADS * PER);
}

#[test]
fn a_receive_completes_behind_a_back_pressured_send_and_close_ends_both() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    // 64 MiB to a peer that never reads: the send stays pending (full duplex, C8/C9).
    let big = send(&a, vec![vec![0x5Au8; 64 << 20]]);
    let got = receive(&a, vec![vec![0u8; 16]]);
    assert_eq!(
        recv(&send(&b, vec![b"duplex!".to_vec()]), "send").0,
        SendResult::Ok
    );
    let (r, n, bufs, _) = recv(&got, "the receive behind the pending send");
    assert_eq!(
        (r, &bufs[0][..n as usize]),
        (ReceiveResult::Ok, &b"duplex!"[..])
    );
    assert!(big.try_recv().is_err(), "the big send is still pending");
    let pending = receive(&a, vec![vec![0u8; 16]]);
    fault::record(true);
    a.close();
    // Both completed exactly once before close returned: the send with ERROR (01_067: a send
    // ended by close is an error on Windows, never ABANDONED), the receive with 0 bytes.
    let (r, bufs, _) = big
        .try_recv()
        .expect("the send completed before close returned");
    assert_eq!(r, SendResult::Error);
    assert_eq!(bufs[0].len(), 64 << 20, "its buffer is handed back");
    let (r, n, _, _) = pending
        .try_recv()
        .expect("the receive completed before close returned");
    assert_eq!(n, 0);
    assert_ne!(r, ReceiveResult::Ok);
    assert_quiet(&big, "send");
    assert_quiet(&pending, "receive");
    // The pending send was cancelled just before closesocket (see `begin_close`), the receive
    // was left to closesocket.
    let log = calls();
    assert_eq!(count(&log, CallKind::CancelIoEx), 1, "{log:#?}");
    assert!(first(&log, CallKind::CancelIoEx) < first(&log, CallKind::Closesocket));
    drop(b);
}

#[test]
fn close_from_inside_a_receive_callback_does_not_deadlock_and_completes_the_rest() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    let tx1 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx1.send(format!("first {r:?} {n}")).unwrap();
        b2.close();
        // The close ran to the end from inside: the second receive was delivered (nested, on
        // this thread) before close returned here.
        tx1.send(format!("closed {:?}", b2.state())).unwrap();
    })
    .unwrap();
    let tx2 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx2.send(format!("second {} {n}", r == ReceiveResult::Ok))
            .unwrap();
    })
    .unwrap();
    fault::record(true);
    recv(&send(&a, vec![vec![1]]), "send");
    assert_eq!(recv(&rx, "first"), "first Ok 1");
    assert_eq!(recv(&rx, "second"), "second false 0");
    assert_eq!(recv(&rx, "close returned"), "closed Closed");
    assert_eq!(b.state(), SocketState::Closed);
    let log = calls();
    assert_eq!(count(&log, CallKind::CallbackMayRunLong), 1);
    assert_eq!(
        count(&log, CallKind::WaitForThreadpoolIoCallbacks),
        0,
        "a callback cannot wait for its own pool I/O"
    );
    assert_eq!(count(&log, CallKind::CloseThreadpoolIo), 1);
    // Close from a callback with nothing else pending: no need to ask the pool.
    let (a, c) = open_pair(&engine);
    let c = Arc::new(c);
    let c2 = Arc::clone(&c);
    let (tx, rx) = mpsc::channel();
    c.receive(vec![vec![0u8; 1]], move |_, _, _| {
        c2.close();
        tx.send(c2.state()).unwrap();
    })
    .unwrap();
    fault::take_calls();
    recv(&send(&a, vec![vec![1]]), "send");
    assert_eq!(recv(&rx, "closed inside"), SocketState::Closed);
    assert_eq!(count(&calls(), CallKind::CallbackMayRunLong), 0);
}

#[test]
fn close_from_inside_a_callback_on_a_one_thread_pool_finishes_with_the_last_completion() {
    let _s = serial();
    // One thread at most: the pool cannot lend another while the callback waits, so the close
    // made inside the callback must not wait.
    let engine = engine_with(1, 1);
    let (a, b) = open_pair(&engine);
    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    let tx1 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        b2.close();
        tx1.send(format!("inside {:?}", b2.state())).unwrap();
    })
    .unwrap();
    let tx2 = tx.clone();
    b.receive(vec![vec![0u8; 1]], move |r, n, _| {
        tx2.send(format!("second {} {n}", r == ReceiveResult::Ok))
            .unwrap();
    })
    .unwrap();
    recv(&send(&a, vec![vec![1]]), "send");
    let first = recv(&rx, "first callback");
    let second = recv(&rx, "second callback");
    println!("{first} / {second}");
    assert!(
        first == "inside Closing" || first == "inside Closed",
        "{first}"
    );
    assert_eq!(second, "second false 0");
    wait_until("closed", || b.state() == SocketState::Closed);
    // The socket can be opened again afterwards.
    let (c, _p) = transports();
    b.open(c).expect("reopen");
    assert_eq!(b.state(), SocketState::Open);
}

#[test]
fn close_from_a_callback_of_another_socket_waits_normally() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let (c, d) = open_pair(&engine);
    let d = Arc::new(d);
    let pending = receive(&d, vec![vec![0u8; 1]]);
    let d2 = Arc::clone(&d);
    let (tx, rx) = mpsc::channel();
    b.receive(vec![vec![0u8; 1]], move |_, _, _| {
        d2.close();
        tx.send(d2.state()).unwrap();
    })
    .unwrap();
    fault::record(true);
    recv(&send(&a, vec![vec![1]]), "send");
    assert_eq!(recv(&rx, "closed from b's callback"), SocketState::Closed);
    assert_eq!(recv(&pending, "d's receive").1, 0);
    let log = calls();
    assert_eq!(count(&log, CallKind::WaitForThreadpoolIoCallbacks), 1);
    assert_eq!(count(&log, CallKind::CallbackMayRunLong), 1);
    drop(c);
}

#[test]
fn close_with_does_not_block_and_reports_closed_on_the_pool() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    let pending = receive(&b, vec![vec![0u8; 1]]);
    let me = thread::current().id();
    let (tx, rx) = mpsc::channel();
    fault::record(true);
    b.close_with(move || tx.send(thread::current().id()).unwrap());
    let on = recv(&rx, "on_closed");
    assert_ne!(on, me);
    assert_eq!(b.state(), SocketState::Closed);
    assert_eq!(recv(&pending, "receive").1, 0);
    let log = calls();
    assert_eq!(count(&log, CallKind::Closesocket), 1);
    assert_eq!(count(&log, CallKind::CloseThreadpoolIo), 1);
    // On a closed socket, on_closed still runs (on the pool).
    let (tx, rx) = mpsc::channel();
    b.close_with(move || tx.send(()).unwrap());
    recv(&rx, "on_closed of a closed socket");
    drop(a);
}

#[test]
fn close_with_while_opening_closes_once_the_open_succeeded() {
    let _s = serial();
    let engine = engine();
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (tx, rx) = mpsc::channel();
    {
        let socket = Arc::clone(&socket);
        let tx = Mutex::new(Some(tx));
        fault::on_call(CallKind::CreateThreadpoolIo, move |_| {
            assert_eq!(socket.state(), SocketState::Opening);
            if let Some(tx) = tx.lock().unwrap().take() {
                socket.close_with(move || tx.send(()).unwrap());
            }
        });
    }
    fault::record(true);
    let (c, _p) = transports();
    socket.open(c).expect("the open itself succeeds");
    recv(&rx, "on_closed");
    assert_eq!(socket.state(), SocketState::Closed);
    let log = calls();
    assert_eq!(count(&log, CallKind::Closesocket), 1);
    assert_eq!(count(&log, CallKind::CloseThreadpoolIo), 1);
}

#[test]
fn engine_jobs_run_on_a_thread_of_their_own_when_the_pool_refuses_them() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    fault::record(true);
    fault::inject_once(
        CallKind::TrySubmitThreadpoolCallback,
        Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
    );
    let (tx, rx) = mpsc::channel();
    b.close_with(move || {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    });
    assert_eq!(recv(&rx, "on_closed").as_deref(), Some("asock-job"));
    assert_eq!(count(&calls(), CallKind::TrySubmitThreadpoolCallback), 1);
    drop(a);
}

#[test]
fn a_socket_can_be_reopened_after_close() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    for round in 0..3u8 {
        let (c, s) = transports();
        let peer = AsyncSocket::new(&engine).unwrap();
        peer.open(s).unwrap();
        socket.open(c).expect("open");
        assert_eq!(
            recv(&send(&socket, vec![vec![round]]), "send").0,
            SendResult::Ok
        );
        assert_eq!(read_exactly(&peer, 1), [round]);
        socket.close();
        assert_eq!(socket.state(), SocketState::Closed);
    }
}

#[test]
fn dropping_the_last_engine_reference_inside_a_callback_does_not_deadlock() {
    let _s = serial();
    fault::record(true);
    let engine = engine();
    let pool = engine.threadpool() as usize;
    let (a, b) = open_pair(&engine);
    drop(engine);
    let holder = Arc::new(Mutex::new(Some(b)));
    let h2 = Arc::clone(&holder);
    let (tx, rx) = mpsc::channel();
    holder
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .receive(vec![vec![0u8; 1]], move |_, _, _| {
            // Drops b (closing it from inside its own callback), and with a the last engine
            // reference goes away on this pool thread.
            let b = h2.lock().unwrap().take();
            drop(b);
            tx.send(()).unwrap();
        })
        .unwrap();
    let sent = send(&a, vec![vec![1]]);
    recv(&sent, "send");
    drop(a);
    recv(&rx, "the callback returned");
    wait_until("the pool closed", || {
        calls().contains(&Call::CloseThreadpool { pool })
    });
}

#[test]
fn a_panicking_callback_is_contained() {
    let _s = serial();
    let engine = engine();
    let (a, b) = open_pair(&engine);
    b.receive(vec![vec![0u8; 1]], |_, _, _| panic!("on purpose"))
        .unwrap();
    recv(&send(&a, vec![vec![1]]), "send");
    // The pool and the socket keep working.
    let r = receive(&b, vec![vec![0u8; 1]]);
    recv(&send(&a, vec![vec![2]]), "send");
    assert_eq!(recv(&r, "receive").2, vec![vec![2]]);
}

#[test]
fn faults_are_armed_per_call_kind_and_count() {
    let _s = serial();
    // The injection layer itself: a fault for 2 calls fails exactly 2.
    fault::inject(Fault {
        call: CallKind::CreateThreadpool,
        outcome: Outcome::Fail(ERROR_NOT_ENOUGH_MEMORY),
        times: 2,
    });
    assert!(ExecutionEngine::new(None).is_err());
    assert!(ExecutionEngine::new(None).is_err());
    assert!(ExecutionEngine::new(None).is_ok());
}
