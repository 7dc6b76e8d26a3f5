//! Load: 10,000 concurrent loopback connections, every one exchanging messages at the same time,
//! with the memory each connection costs printed.
//!
//! Both ends are async sockets: the accepted ends (echo servers) in this process, the client
//! ends in a child process (this test binary again, `ASOCK_LOAD_CHILD=<port>`), so each process
//! needs about 10,100 file descriptors rather than 20,100 (machines often cap the hard
//! `RLIMIT_NOFILE` at 20,000). Each process raises its limit (as root the hard limit too) and
//! the test skips, saying why, only if it cannot. `ASOCK_LOAD_CONNECTIONS` changes the count.

mod common;

use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asock::transport::SocketTransport;
use asock::{AsyncSocket, ReceiveResult, SendResult};
use common::*;

const ROUNDS: u32 = 3;
const MSG: usize = 64;

/// Raises the soft and, if needed, the hard `RLIMIT_NOFILE` to `wanted`; the error says why not.
fn raise_nofile(wanted: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid, writable struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    let (cur, max) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    if cur >= wanted {
        return Ok(());
    }
    let raised = libc::rlimit {
        rlim_cur: wanted as libc::rlim_t,
        rlim_max: max.max(wanted) as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one valid `rlimit`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "RLIMIT_NOFILE is {cur} (hard {max}) and raising it to {wanted} failed: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Resident memory of the process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no memory-safety preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Heap bytes in use (glibc's allocator statistics).
fn heap() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.uordblks as u64
}

fn message(conn: u32, round: u32) -> Vec<u8> {
    let mut m = vec![0u8; MSG];
    m[..4].copy_from_slice(&conn.to_le_bytes());
    m[4..8].copy_from_slice(&round.to_le_bytes());
    for (i, b) in m[8..].iter_mut().enumerate() {
        *b = (conn as u8).wrapping_mul(31).wrapping_add(round as u8) ^ i as u8;
    }
    m
}

/// The server side: receives and sends back what arrived, until the socket is closed.
fn echo(s: Arc<AsyncSocket>, errors: Arc<AtomicUsize>) {
    let me = Arc::clone(&s);
    let r = s.receive(vec![vec![0u8; MSG]], move |r, n, mut bufs| {
        if r != ReceiveResult::Ok {
            return;
        }
        let mut b = bufs.pop().expect("one buffer");
        b.truncate(n as usize);
        let e = Arc::clone(&errors);
        if me
            .send(vec![b], move |r, _| {
                if r != SendResult::Ok {
                    e.fetch_add(1, SeqCst);
                }
            })
            .is_err()
        {
            errors.fetch_add(1, SeqCst);
        }
        echo(me, errors);
    });
    // Refused only once the socket is closing: the end of this connection.
    drop(r);
}

/// The client side: one round trip per round; reports its index once all rounds came back
/// intact, or an error.
fn client(s: Arc<AsyncSocket>, conn: u32, round: u32, done: Sender<Result<u32, String>>) {
    if round == ROUNDS {
        let _ = done.send(Ok(conn));
        return;
    }
    let d = done.clone();
    if let Err(e) = s.send(vec![message(conn, round)], move |r, _| {
        if r != SendResult::Ok {
            let _ = d.send(Err(format!("connection {conn}: send {r:?}")));
        }
    }) {
        let _ = done.send(Err(format!("connection {conn}: send refused: {e}")));
        return;
    }
    read_reply(s, conn, round, Vec::with_capacity(MSG), done);
}

fn read_reply(
    s: Arc<AsyncSocket>,
    conn: u32,
    round: u32,
    mut got: Vec<u8>,
    done: Sender<Result<u32, String>>,
) {
    let me = Arc::clone(&s);
    let d = done.clone();
    let r = s.receive(vec![vec![0u8; MSG - got.len()]], move |r, n, bufs| {
        if r != ReceiveResult::Ok {
            let _ = d.send(Err(format!("connection {conn}: receive {r:?}")));
            return;
        }
        got.extend_from_slice(&bufs[0][..n as usize]);
        if got.len() < MSG {
            return read_reply(me, conn, round, got, d);
        }
        if got != message(conn, round) {
            let _ = d.send(Err(format!(
                "connection {conn}: round {round} came back wrong"
            )));
            return;
        }
        client(me, conn, round + 1, d);
    });
    if let Err(e) = r {
        let _ = done.send(Err(format!("connection {conn}: receive refused: {e}")));
    }
}

fn connections() -> u32 {
    std::env::var("ASOCK_LOAD_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// The child: connects every client, then runs all their rounds at once; prints one line.
fn child(port: u16) {
    let n = connections();
    raise_nofile(u64::from(n) + 256).expect("the parent checked the limit");
    let engine = engine();
    let (rss0, heap0) = (rss(), heap());
    let mut clients = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut c = SocketTransport::client();
        c.connect("127.0.0.1", port, WAIT)
            .unwrap_or_else(|e| panic!("connect {i}: {e}"));
        clients.push(Arc::new(open_on(&engine, c)));
    }
    let (rss1, heap1) = (rss(), heap());
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    for (i, c) in clients.iter().enumerate() {
        client(Arc::clone(c), i as u32, 0, tx.clone());
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut finished = vec![false; n as usize];
    for k in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(i)) => {
                assert!(!finished[i as usize], "connection {i} finished twice");
                finished[i as usize] = true;
            }
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("only {k} of {n} connections finished their {ROUNDS} rounds: {e}"),
        }
    }
    let exchanged = t0.elapsed();
    let per = |a: u64, b: u64| a.saturating_sub(b) / u64::from(n);
    println!(
        "load-child: ok: {n} clients, {} round trips of {MSG} B in {exchanged:.2?} ({:.0}/s); \
         client side per connection: {} B RSS, {} B heap",
        n * ROUNDS,
        f64::from(n * ROUNDS) / exchanged.as_secs_f64(),
        per(rss1, rss0),
        per(heap1, heap0),
    );
    for c in &clients {
        c.close();
    }
}

#[test]
fn ten_thousand_concurrent_connections_exchange_messages() {
    if let Some(port) = std::env::var("ASOCK_LOAD_CHILD")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        child(port);
        return;
    }
    let n = connections();
    if let Err(why) = raise_nofile(u64::from(n) + 256) {
        println!("load: skipped: {why}");
        return;
    }
    let engine = engine();
    let mut server = SocketTransport::server();
    server
        .listen_on("127.0.0.1:0".parse().expect("address"), 4096)
        .expect("listen");
    let port = server.local_port().expect("port");
    let (rss0, heap0) = (rss(), heap());
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "ten_thousand_concurrent_connections_exchange_messages",
            "--nocapture",
        ])
        .env("ASOCK_LOAD_CHILD", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let errors = Arc::new(AtomicUsize::new(0));
    let mut servers = Vec::with_capacity(n as usize);
    for i in 0..n {
        let a = server
            .accept(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("accept {i}: {e}"))
            .unwrap_or_else(|| panic!("connection {i} not made within 60 s"));
        let s = Arc::new(open_on(&engine, a));
        echo(Arc::clone(&s), Arc::clone(&errors));
        servers.push(s);
    }
    let accepted = start.elapsed();
    // Every server socket now holds one pending receive.
    let (rss1, heap1) = (rss(), heap());
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the client process") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client process did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    use std::io::Read;
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut text);
    assert!(status.success(), "the client process failed:\n{text}");
    let line = text
        .lines()
        .find_map(|l| l.find("load-child: ok").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("the client process did not report:\n{text}"));
    assert_eq!(errors.load(SeqCst), 0, "echo errors");
    let per = |a: u64, b: u64| a.saturating_sub(b) / u64::from(n);
    println!(
        "load: {n} concurrent connections (client ends in a child process), all accepted and \
         opened in {accepted:.2?}; server side per connection (async socket, transport, \
         registration, a pending receive): {} B RSS, {} B heap",
        per(rss1, rss0),
        per(heap1, heap0)
    );
    println!("{line}");
    for s in &servers {
        s.close();
    }
}
