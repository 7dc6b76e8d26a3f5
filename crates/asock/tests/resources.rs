//! Resource checks: nothing survives closing and dropping everything (file descriptors in
//! `/proc/self/fd`, threads in `/proc/self/task`), and running out of file descriptors makes
//! `accept`, `connect` and engine creation fail with errors while everything already open keeps
//! working.
//!
//! The tests of this binary take a common lock: each counts the process's descriptors and
//! threads, which another test running at the same time would disturb. The descriptor
//! exhaustion runs in a child process (this binary again, with `ASOCK_EMFILE_CHILD=1`), so the
//! lowered limit affects nothing else.

mod common;

use std::io;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use asock::transport::{AcceptError, SocketTransport, TransportError};
use asock::{
    AsyncSocket, CreateError, ExecutionEngine, ExecutionEngineParameters, NotifyType,
    ReceiveResult, SendResult,
};
use common::*;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .count()
}

fn fds() -> usize {
    count("/proc/self/fd")
}

fn threads() -> usize {
    count("/proc/self/task")
}

/// Waits (bounded) until `f()` is at most `limit`: a worker that stops itself after the last
/// engine reference was dropped on it exits just after.
fn settles(what: &str, limit: usize, f: fn() -> usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = f();
        if now <= limit {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {now} after closing and dropping everything, {limit} before"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One round of everything that allocates descriptors and threads: an engine, connected
/// pairs, data both ways, pending operations abandoned by close and by drop, a custom
/// transport, a re-open, `close_with`, and an engine whose last reference goes away on one of
/// its own workers.
fn one_round(round: usize) {
    let engine = engine_with_threads(2);
    let listener = Listener::v4();
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let (c, a) = listener.connect_pair();
        sockets.push((open_on(&engine, c), open_on(&engine, a)));
    }
    for (i, (a, b)) in sockets.iter().enumerate() {
        let (r, _) = send_and_wait(a, vec![vec![i as u8; 100]]);
        assert_eq!(r, SendResult::Ok, "round {round}");
        assert_eq!(receive_exactly(b, 100, 64), vec![i as u8; 100]);
    }
    let (tx, rx) = mpsc::channel();
    for (a, b) in &sockets {
        let t = tx.clone();
        a.receive(vec![vec![0u8; 8]], move |r, _, _| {
            let _ = t.send(r);
        })
        .expect("receive accepted");
        let t = tx.clone();
        b.notify_io(NotifyType::In, move |_| {
            let _ = t.send(ReceiveResult::Abandoned);
        })
        .expect("notify accepted");
    }
    drop(tx);
    // Half closed, half dropped with their operations pending.
    let (closed, dropped): (Vec<_>, Vec<_>) = sockets
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    for (_, (a, b)) in closed {
        a.close();
        b.close_with(|| {});
    }
    drop(dropped);
    let got = wait_for_n(&rx, 8, "abandoned completions");
    assert!(
        got.iter().all(|r| *r == ReceiveResult::Abandoned),
        "{got:?}"
    );
    // Re-open a closed socket on a new connection, then drop it open.
    let s = AsyncSocket::new(&engine).expect("socket");
    let (c, _peer) = listener.connect_pair();
    s.open(c).expect("open");
    s.close();
    let (c, _peer2) = listener.connect_pair();
    s.open(c).expect("re-open");
    drop(s);
    // The last engine reference dropped on one of its own workers.
    let (a, _pa) = socket_and_raw_peer(&engine);
    let (tx, rx) = mpsc::channel();
    let holder = Arc::new(Mutex::new(Some(engine)));
    let h = Arc::clone(&holder);
    a.notify_io(NotifyType::Out, move |_| {
        drop(h.lock().unwrap().take());
        let _ = tx.send(());
    })
    .expect("notify accepted");
    wait_for(&rx, "the notify that drops the engine");
    drop(a);
    drop(holder);
}

#[test]
fn no_descriptor_or_thread_survives_closing_and_dropping_everything() {
    let _serial = serial();
    // Warm up what the standard library and the test harness allocate once.
    one_round(0);
    let (fd0, th0) = (fds(), threads());
    for round in 1..=20 {
        one_round(round);
    }
    settles("threads", th0, threads);
    settles("file descriptors", fd0, fds);
    println!(
        "resources: 20 rounds (engines, 10 sockets, I/O, close/drop/close_with, re-open): \
         {} descriptors and {} threads before and after",
        fd0, th0
    );
}

fn nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid, writable struct passed.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

fn set_soft_nofile(soft: u64) {
    let (_, hard) = nofile();
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one valid `rlimit`.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// The highest open descriptor number + 1 (the soft limit bounds descriptor numbers).
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The child's side: lower the limit to just above what is open, then exhaust it.
fn out_of_descriptors_child() {
    let engine = engine_with_threads(2);
    let mut server = SocketTransport::server();
    server
        .listen_on("127.0.0.1:0".parse().expect("address"), 128)
        .expect("listen");
    let port = server.local_port().expect("a port");
    let (a, b) = socket_pair(&engine);
    set_soft_nofile(highest_fd() + 8);
    // Fill every free descriptor number below the limit.
    let mut held: Vec<Box<dyn std::any::Any>> = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(Box::new(f)),
            Err(e) if is_out_of_fds(&e) => break,
            Err(e) => panic!("open /dev/null: {e}"),
        }
        assert!(held.len() < 100_000, "the limit did not hold");
    }
    // No descriptor left: a client transport cannot connect.
    let mut client = SocketTransport::client();
    let connect_failed = match client.connect("127.0.0.1", port, WAIT) {
        Err(TransportError::Io(e)) => {
            assert!(is_out_of_fds(&e), "{e:?}");
            true
        }
        other => panic!("connect without descriptors: {other:?}"),
    };
    // One descriptor for one more client: its connection waits in the backlog, but accepting
    // it needs a descriptor.
    held.pop();
    let mut client = SocketTransport::client();
    client.connect("127.0.0.1", port, WAIT).expect("connect");
    held.push(Box::new(client));
    let accept_failed = match server.accept(WAIT) {
        Err(AcceptError::PortExhaustion(e)) => {
            assert!(is_out_of_fds(&e), "{e:?}");
            true
        }
        Err(e) => panic!("accept failed with {e:?}, not EMFILE"),
        Ok(t) => panic!("accept without descriptors succeeded: {t:?}"),
    };
    // An engine needs descriptors (epoll, eventfd): creating one fails cleanly.
    match ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: 1,
        max_thread_count: 0,
    })) {
        Err(CreateError::Io(e)) => assert!(is_out_of_fds(&e), "{e:?}"),
        other => panic!("engine creation without descriptors: {other:?}"),
    }
    // What was open keeps working.
    let (r, _) = send_and_wait(&a, vec![b"still works".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 11, 64), b"still works");
    // Descriptors come back: everything works again.
    drop(held);
    let (c, s) = socket_pair(&engine);
    let (r, _) = send_and_wait(&c, vec![b"again".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&s, 5, 64), b"again");
    println!(
        "child: accept failed cleanly: {accept_failed}, connect failed cleanly: \
         {connect_failed}, engine creation failed cleanly, open sockets kept working"
    );
}

#[test]
fn out_of_file_descriptors_fails_cleanly_and_open_sockets_keep_working() {
    if std::env::var_os("ASOCK_EMFILE_CHILD").is_some() {
        out_of_descriptors_child();
        return;
    }
    let _serial = serial();
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "out_of_file_descriptors_fails_cleanly_and_open_sockets_keep_working",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ASOCK_EMFILE_CHILD", "1")
        .output()
        .expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(
        text.contains("engine creation failed cleanly") && text.contains("1 passed"),
        "the child did not run its checks:\n{text}"
    );
    for line in text
        .lines()
        .filter_map(|l| l.find("child:").map(|i| &l[i..]))
    {
        println!("{line}");
    }
}
