//! Throw-away ping-pong comparison (benchmark P1 in spirit): one loopback connection, 64 bytes
//! each way, both ends in this process. Systems run interleaved over several rounds in one
//! invocation and the median round trips per second is reported for each, with ratios.
//!
//! `cargo run --release -p asock --example pingpong -- [seconds-per-run] [rounds]`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use asock::{
    AsyncSocket, ExecutionEngine, ExecutionEngineParameters, ReceiveResult, SendResult,
    SocketTransport,
};

const MSG: usize = 64;

fn pair() -> (SocketTransport, SocketTransport) {
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().unwrap(), 8).unwrap();
    let mut c = SocketTransport::client();
    c.connect("127.0.0.1", l.local_port().unwrap(), Duration::from_secs(5))
        .unwrap();
    let s = l.accept(Duration::from_secs(5)).unwrap().unwrap();
    (c, s)
}

/// Reads exactly MSG bytes (possibly in pieces), then calls `then` with the message.
fn read_msg<F>(sock: Arc<AsyncSocket>, have: Vec<u8>, then: F)
where
    F: FnOnce(Arc<AsyncSocket>, Vec<u8>) + Send + 'static,
{
    let s = Arc::clone(&sock);
    let want = MSG - have.len();
    let _ = sock.receive(vec![vec![0u8; want]], move |r, n, mut b| {
        if r != ReceiveResult::Ok {
            return;
        }
        let mut have = have;
        have.extend_from_slice(&b.pop().unwrap()[..n as usize]);
        if have.len() < MSG {
            read_msg(s, have, then);
        } else {
            then(s, have);
        }
    });
}

/// Server side: echo every message.
fn echo(s: Arc<AsyncSocket>) {
    read_msg(s, Vec::with_capacity(MSG), |s, m| {
        let _ = s.send(vec![m], |_r: SendResult, _b| {});
        echo(s);
    });
}

struct Client {
    count: AtomicU64,
    stop: AtomicBool,
    done: std::sync::Mutex<Option<mpsc::Sender<()>>>,
}

/// Client side: send, wait for the echo, count, repeat until stopped.
fn ping(s: Arc<AsyncSocket>, c: Arc<Client>) {
    let _ = s.send(vec![vec![0xABu8; MSG]], |_r, _b| {});
    read_msg(s, Vec::with_capacity(MSG), move |s, m| {
        assert!(m.iter().all(|&b| b == 0xAB), "echo content");
        c.count.fetch_add(1, Ordering::Relaxed);
        if c.stop.load(Ordering::Relaxed) {
            if let Some(tx) = c.done.lock().unwrap().take() {
                let _ = tx.send(());
            }
            return;
        }
        ping(s, c);
    });
}

fn asock_run(engine: &ExecutionEngine, dur: Duration) -> f64 {
    let (c, s) = pair();
    let client = Arc::new(AsyncSocket::new(engine).unwrap());
    let server = Arc::new(AsyncSocket::new(engine).unwrap());
    client.open(c).unwrap();
    server.open(s).unwrap();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let state = Arc::new(Client {
        count: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        done: std::sync::Mutex::new(Some(done_tx)),
    });
    echo(Arc::clone(&server));
    let start = Instant::now();
    ping(Arc::clone(&client), Arc::clone(&state));
    std::thread::sleep(dur);
    state.stop.store(true, Ordering::Relaxed);
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("ping-pong stopped");
    let rate = state.count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    client.close();
    server.close();
    rate
}

fn tokio_run(rt: &tokio::runtime::Runtime, dur: Duration) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = [0u8; MSG];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
        let client = tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let msg = [0xABu8; MSG];
            let mut buf = [0u8; MSG];
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < dur {
                c.write_all(&msg).await.unwrap();
                c.read_exact(&mut buf).await.unwrap();
                assert_eq!(buf[0], 0xAB);
                n += 1;
            }
            n as f64 / start.elapsed().as_secs_f64()
        });
        let rate = client.await.unwrap();
        server.await.unwrap();
        rate
    })
}

/// The limit: one thread drives both ends with blocking calls (no wake-ups at all).
fn limit_run(dur: Duration) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.set_nodelay(true).unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [0xABu8; MSG];
    let mut buf = [0u8; MSG];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        c.write_all(&msg).unwrap();
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        c.read_exact(&mut buf).unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let secs: f64 = std::env::args().nth(1).map_or(2.0, |s| s.parse().unwrap());
    let rounds: usize = std::env::args().nth(2).map_or(5, |s| s.parse().unwrap());
    let dur = Duration::from_secs_f64(secs);
    let engine = ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: 2,
        max_thread_count: 0,
    }))
    .unwrap();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let names = [
        "asock (callbacks, 2 workers)",
        "tokio multi-thread (2)",
        "tokio current-thread",
        "one-thread limit",
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    // PINGPONG_ONLY=asock (or tokio-mt, tokio-ct, limit) runs one system, for profiling.
    let only = std::env::var("PINGPONG_ONLY").ok();
    let on = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for round in 0..rounds {
        let mut run = |i: usize, key: &str, f: &dyn Fn() -> f64| {
            results[i].push(if on(key) { f() } else { f64::NAN });
        };
        run(0, "asock", &|| asock_run(&engine, dur));
        run(1, "tokio-mt", &|| tokio_run(&mt, dur));
        run(2, "tokio-ct", &|| tokio_run(&ct, dur));
        run(3, "limit", &|| limit_run(dur));
        eprintln!(
            "round {}: {}",
            round + 1,
            results
                .iter()
                .map(|r| format!("{:.0}", r[round]))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    let med: Vec<f64> = results.iter_mut().map(|r| median(r)).collect();
    println!("ping-pong, 1 connection, {MSG} B each way, {rounds} rounds of {secs} s, median round trips/s:");
    for (i, name) in names.iter().enumerate() {
        println!(
            "  {name:<30} {:>10.0}   x{:.2} tokio-mt   x{:.2} limit",
            med[i],
            med[i] / med[1],
            med[i] / med[3]
        );
    }
}
