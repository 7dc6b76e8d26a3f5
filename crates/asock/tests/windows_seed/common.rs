//! What every module of the seed tests uses: Windows constants, the lock on the process-wide
//! fault layer, engines, loopback pairs, the call log, bounded waits and submissions whose
//! completions go to channels.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use asock::fault::{self, Call, CallKind, Record};
use asock::transport::SocketTransport;
use asock::{
    AsyncSocket, ExecutionEngine, ExecutionEngineParameters, ReceiveResult, SendResult,
    SendSyncResult, SubmitErrorKind,
};

// ----- Windows constants (values from winerror.h / winsock2.h) ---------------------------------

pub const NO_ERROR: u32 = 0;
pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
pub const ERROR_NETNAME_DELETED: u32 = 64;
pub const ERROR_INVALID_PARAMETER: u32 = 87;
pub const ERROR_HANDLES_CLOSED: u32 = 676;
pub const ERROR_OPERATION_ABORTED: u32 = 995;
pub const ERROR_CONNECTION_ABORTED: u32 = 1236;
pub const WSA_IO_PENDING: u32 = 997;
pub const WSAENOTSOCK: u32 = 10038;
pub const WSAECONNRESET: u32 = 10054;
pub const WSAENOBUFS: u32 = 10055;
pub const WSAENOTCONN: u32 = 10057;

#[link(name = "ws2_32")]
extern "system" {
    pub fn closesocket(s: usize) -> i32;
}

#[link(name = "kernel32")]
extern "system" {
    fn GetModuleHandleA(name: *const u8) -> *mut std::ffi::c_void;
    fn GetProcAddress(module: *mut std::ffi::c_void, name: *const u8) -> *mut std::ffi::c_void;
    pub fn WaitForThreadpoolIoCallbacks(io: usize, cancel_pending: i32);
}

/// Whether this process runs under Wine (ntdll exports `wine_get_version`).
pub fn under_wine() -> bool {
    // SAFETY: both names are NUL-terminated; the calls only look symbols up.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
    }
}

// ----- the fault layer, engines, sockets ---------------------------------------------------------

// The engine, the connected pairs and the `WAIT` bound are those of every integration suite.
#[path = "../common/mod.rs"]
mod shared;
pub use shared::{engine, open_on, socket_pair, transport_pair, WAIT};

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the process-wide fault layer for one test: clean at start, reset at the end.
pub struct Serial(#[allow(dead_code)] MutexGuard<'static, ()>);

pub fn serial() -> Serial {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fault::reset();
    Serial(guard)
}

impl Drop for Serial {
    fn drop(&mut self) {
        fault::reset();
    }
}

pub fn engine_with(min: u32, max: u32) -> ExecutionEngine {
    ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: min,
        max_thread_count: max,
    }))
    .expect("an engine")
}

/// A listening transport on 127.0.0.1 with a kernel-chosen port, and that port.
pub fn listener() -> (SocketTransport, u16) {
    let mut listener = SocketTransport::server();
    listener
        .listen_on("127.0.0.1:0".parse().unwrap(), 16)
        .expect("listen");
    let port = listener.local_port().expect("port");
    (listener, port)
}

/// Makes `transport`'s socket reset the connection when it is closed (`SO_LINGER` 0).
pub fn reset_on_close(transport: &SocketTransport) {
    let raw = transport.underlying_socket().expect("a socket");
    // SAFETY: `raw` is the transport's open socket, borrowed for this call only.
    let borrowed = unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(raw) };
    asock::socket2::SockRef::from(&borrowed)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}

// ----- the call log --------------------------------------------------------------------------

/// The calls logged so far.
pub fn calls() -> Vec<Call> {
    fault::calls().into_iter().map(|r| r.call).collect()
}

/// The calls logged so far, with their threads.
pub fn records() -> Vec<Record> {
    fault::calls()
}

/// Takes the log (and empties it).
pub fn take_calls() -> Vec<Call> {
    fault::take_calls().into_iter().map(|r| r.call).collect()
}

pub fn count(calls: &[Call], kind: CallKind) -> usize {
    calls.iter().filter(|c| c.kind() == kind).count()
}

/// Index of the first call of `kind` (panics with the log when there is none).
pub fn first(calls: &[Call], kind: CallKind) -> usize {
    calls
        .iter()
        .position(|c| c.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind:?} call in {calls:#?}"))
}

pub fn last(calls: &[Call], kind: CallKind) -> usize {
    calls
        .iter()
        .rposition(|c| c.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind:?} call in {calls:#?}"))
}

pub fn kinds(calls: &[Call]) -> Vec<CallKind> {
    calls.iter().map(Call::kind).collect()
}

/// The seed's close in the log, in its order: `closesocket` (01_021),
/// `WaitForThreadpoolIoCallbacks` (01_040), `CloseThreadpoolIo` (01_059),
/// `DestroyThreadpoolEnvironment` (01_042).
pub fn assert_seed_close_order(log: &[Call]) {
    let order = [
        first(log, CallKind::Closesocket),
        first(log, CallKind::WaitForThreadpoolIoCallbacks),
        first(log, CallKind::CloseThreadpoolIo),
        first(log, CallKind::DestroyThreadpoolEnvironment),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{log:#?}");
}

/// The `PTP_IO` the log shows (the first `StartThreadpoolIo`'s).
pub fn io_of(calls: &[Call]) -> usize {
    calls
        .iter()
        .find_map(|c| match c {
            Call::StartThreadpoolIo { io } => Some(*io),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no StartThreadpoolIo in {calls:#?}"))
}

/// Whether the log shows a completion for `overlapped`.
pub fn completed(calls: &[Call], overlapped: usize) -> bool {
    calls
        .iter()
        .any(|c| matches!(c, Call::OnIoComplete { overlapped: o, .. } if *o == overlapped))
}

// ----- bounded waits ---------------------------------------------------------------------------

/// Waits (bounded) until `cond` holds.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Waits (bounded) until no I/O context is left (a context is freed just after its callback
/// returned, so right after a completion one may still be there).
pub fn no_contexts_left(what: &str) {
    wait_until(what, || fault::live_io_contexts() == 0);
}

pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("{what} did not happen within {WAIT:?}: {e}"))
}

/// Asserts nothing more arrives within a short while.
pub fn assert_quiet<T: std::fmt::Debug>(rx: &Receiver<T>, what: &str) {
    if let Ok(x) = rx.recv_timeout(Duration::from_millis(100)) {
        panic!("{what}: unexpected extra completion {x:?}");
    }
}

// ----- submissions -------------------------------------------------------------------------------

pub type SendDone = (SendResult, Vec<Vec<u8>>, ThreadId);
pub type RecvDone = (ReceiveResult, u32, Vec<Vec<u8>>, ThreadId);

/// Submits a send whose completion goes to the returned channel.
pub fn send(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> Receiver<SendDone> {
    let (tx, rx) = mpsc::channel();
    socket
        .send(bufs, move |r, bufs| {
            let _ = tx.send((r, bufs, thread::current().id()));
        })
        .expect("send accepted");
    rx
}

/// Submits a receive whose completion goes to the returned channel.
pub fn receive(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> Receiver<RecvDone> {
    let (tx, rx) = mpsc::channel();
    socket
        .receive(bufs, move |r, n, bufs| {
            let _ = tx.send((r, n, bufs, thread::current().id()));
        })
        .expect("receive accepted");
    rx
}

/// Sends and waits for the completion's result.
pub fn sent(socket: &AsyncSocket, bytes: &[u8]) -> SendResult {
    recv(&send(socket, vec![bytes.to_vec()]), "a send").0
}

/// The send's synchronous error kind, and the buffers handed back; checks that nothing is
/// called back.
pub fn send_err(
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

/// The receive's synchronous error kind, and the buffers handed back; checks that nothing is
/// called back.
pub fn recv_err(socket: &AsyncSocket, bufs: Vec<Vec<u8>>) -> (SubmitErrorKind, Vec<Vec<u8>>) {
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

pub fn is_invalid(kind: &SubmitErrorKind, what: &str) -> bool {
    matches!(kind, SubmitErrorKind::InvalidArgument(why) if why.contains(what))
}

pub fn os_error(kind: &SubmitErrorKind) -> Option<i32> {
    match kind {
        SubmitErrorKind::Io(e) => e.raw_os_error(),
        _ => None,
    }
}

/// Reads exactly `n` bytes arriving on `socket` (receives of up to `n` bytes until done).
pub fn read_exactly(socket: &AsyncSocket, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let (r, k, bufs, _) = recv(&receive(socket, vec![vec![0; n - got.len()]]), "a receive");
        assert_eq!(r, ReceiveResult::Ok, "after {} of {n} bytes", got.len());
        got.extend_from_slice(&bufs[0][..k as usize]);
    }
    got
}

/// The `(buf, len)` pairs of `bufs`, as the log shows WSABUFs.
pub fn wsabufs_of(bufs: &[Vec<u8>]) -> Vec<(usize, u32)> {
    bufs.iter()
        .map(|b| (b.as_ptr() as usize, b.len() as u32))
        .collect()
}
