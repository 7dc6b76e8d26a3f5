//! `async_socket_open_async`.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use asock::fault::{self, Call, CallKind, Outcome};
use asock::transport::SocketTransport;
use asock::{AsyncSocket, OpenErrorKind, OpenResult, ReceiveResult, SocketState, SubmitErrorKind};

use crate::common::*;

#[test]
fn open_sets_up_the_thread_pool_io_then_calls_back_ok_01_023_01_016_01_036_01_058_01_094_01_014_01_017(
) {
    let _s = serial();
    let engine = engine();
    let pool = engine.threadpool() as usize;
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (c, _peer) = transport_pair();
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
}

fn on_open_without_context(r: OpenResult) {
    assert_eq!(r, OpenResult::Ok);
    OPENED_WITHOUT_CONTEXT.store(true, SeqCst);
}
static OPENED_WITHOUT_CONTEXT: AtomicBool = AtomicBool::new(false);

#[test]
fn open_async_takes_a_plain_function_and_open_no_callback() {
    let _s = serial();
    let engine = engine();
    // A callback that captures nothing (the Rust form of a NULL context; the C ABI's tests
    // pass the NULL itself).
    let (c, _p) = transport_pair();
    AsyncSocket::new(&engine)
        .unwrap()
        .open_async(c, on_open_without_context)
        .expect("open with a plain function");
    assert!(OPENED_WITHOUT_CONTEXT.load(SeqCst));
    // `open` is the form without a callback.
    let (c, _p) = transport_pair();
    AsyncSocket::new(&engine).unwrap().open(c).expect("open");
}

#[test]
fn open_of_a_transport_without_a_socket_is_refused_and_hands_it_back() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // The Rust form of a NULL transport (the C ABI's tests pass the NULL itself): one that
    // holds no socket. Open fails, hands it back, calls nothing and makes no OS call.
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
    let (c, _peer) = transport_pair();
    socket.open(c).expect("a real transport opens");
}

#[test]
fn open_when_open_or_opening_fails_01_015() {
    let _s = serial();
    let engine = engine();
    let socket = AsyncSocket::new(&engine).unwrap();
    let (c, _p1) = transport_pair();
    socket.open(c).unwrap();
    // SRS_ASYNC_SOCKET_WIN32_01_015: already OPEN.
    let (c2, _p2) = transport_pair();
    let err = socket.open(c2).expect_err("already open");
    assert!(matches!(err.kind(), OpenErrorKind::NotClosed), "{err:?}");
    assert!(err.into_transport().is_valid_socket(), "handed back usable");

    // SRS_ASYNC_SOCKET_WIN32_01_015: OPENING: a second open while the first one is creating
    // the thread-pool I/O fails at once.
    let socket = Arc::new(AsyncSocket::new(&engine).unwrap());
    let (c3, _p3) = transport_pair();
    let (c4, _p4) = transport_pair();
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
    let (c, peer) = transport_pair();
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
    assert_eq!(
        kinds(&calls()),
        [
            CallKind::InitializeThreadpoolEnvironment,
            CallKind::SetThreadpoolCallbackPool,
            CallKind::CreateThreadpoolIo,
            CallKind::DestroyThreadpoolEnvironment,
        ]
    );
    // The transport comes back usable (the caller still owns the socket: nothing closed it),
    // and the async socket, which was never opened, can be opened.
    let t = err.into_transport();
    t.send(&[std::io::IoSlice::new(b"ok")], 0)
        .expect("still connected");
    socket.open(t).expect("a second open succeeds");
    assert_eq!(read_exactly(&open_on(&engine, peer), 2), b"ok");
}

#[test]
fn a_socket_opened_and_closed_cannot_be_opened_again() {
    let _s = serial();
    let engine = engine();
    let (c, peer) = transport_pair();
    let socket = open_on(&engine, c);
    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    // The seed's design section: the async socket owns the transport and closes it, which
    // cannot be undone, so a closed async socket cannot be re-opened; the new transport is
    // handed back untouched, and no OS call is made.
    let (c2, peer2) = transport_pair();
    fault::record(true);
    let err = socket.open(c2).expect_err("no re-open");
    assert!(matches!(err.kind(), OpenErrorKind::NotClosed), "{err:?}");
    assert!(calls().is_empty(), "{:?}", calls());
    assert_eq!(socket.state(), SocketState::Closed);
    let c2 = err.into_transport();
    c2.send(&[std::io::IoSlice::new(b"mine")], 0)
        .expect("the transport is still the caller's");
    assert_eq!(read_exactly(&open_on(&engine, peer2), 4), b"mine");
    // The first transport was closed by the close: its peer reads the end of the stream.
    let (r, n, _, _) = recv(&receive(&open_on(&engine, peer), vec![vec![0u8; 1]]), "eof");
    assert_eq!((r, n), (ReceiveResult::Abandoned, 0));
}

#[test]
fn open_takes_a_listening_transport_like_any_other() {
    let _s = serial();
    let engine = engine();
    let (listener, port) = listener();
    let handle = listener.underlying_socket().unwrap() as usize;
    let socket = AsyncSocket::new(&engine).unwrap();
    fault::record(true);
    // The seed opens any transport it is given (01_058: the thread-pool I/O on its socket),
    // a listening one too.
    socket
        .open(listener)
        .expect("the seed opens a listening transport");
    assert_eq!(socket.state(), SocketState::Open);
    assert!(calls()
        .iter()
        .any(|c| matches!(c, Call::CreateThreadpoolIo { handle: h, .. } if *h == handle)));
    // A receive on it: Windows fails WSARecv on a listening socket (WSAENOTCONN), which the
    // seed reports as an error; Wine leaves it pending, and the close then ends it.
    let (tx, rx) = mpsc::channel();
    let submitted = socket.receive(vec![vec![0u8; 4]], move |r, n, _| {
        let _ = tx.send((r, n));
    });
    match submitted {
        Err(e) => {
            assert!(
                matches!(e.kind(), SubmitErrorKind::Io(io) if io.raw_os_error() == Some(WSAENOTCONN as i32)),
                "{e:?}"
            );
            assert!(!under_wine(), "Wine leaves a receive on a listener pending");
        }
        Ok(()) => {
            assert!(
                under_wine(),
                "Windows fails a receive on a listening socket"
            );
            thread::sleep(Duration::from_millis(50));
            assert!(rx.try_recv().is_err(), "pending");
        }
    }
    socket.close();
    if under_wine() {
        let (r, n) = rx.try_recv().expect("completed before close returned");
        assert_eq!((r, n), (ReceiveResult::Error, 0));
    }
    // The close closed the listening socket: nothing accepts on the port any more.
    let mut client = SocketTransport::client();
    assert!(
        client.connect("127.0.0.1", port, WAIT).is_err(),
        "the listener was closed"
    );
}
