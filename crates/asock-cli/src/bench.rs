//! `asock bench`: the benchmark scenarios of SPEC.md, every system in one process, interleaved
//! over rounds. Every round trip is counted and its content checked, every streamed byte is
//! checked against the pattern it was sent with, so no figure can come from work not done.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use asock::{
    AsyncSocket, BackendChoice, ExecutionEngine, ExecutionEngineParameters, ReceiveResult,
    SendResult, SocketTransport,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::Args;
use crate::report::{self, Report, ScenarioReport};

/// Ping-pong message size.
const MSG: usize = 64;
/// P2: buffers per send and their size.
const STREAM_BUFS: usize = 16;
const STREAM_BUF: usize = 64 * 1024;
/// P2: receive buffer size.
const STREAM_RECV: usize = 256 * 1024;

/// What one run of one system measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The scenario's figure (round trips/s, GB/s, bytes per socket).
    pub value: f64,
    /// Round trips, bytes or sockets the figure is made of.
    pub work: u64,
    pub seconds: f64,
}

#[derive(Clone)]
struct Ctx {
    duration: Duration,
    connections: usize,
    idle_sockets: usize,
    engine: ExecutionEngine,
    /// `--backend both`: the io_uring engine of the "asock (uring)" systems.
    uring: Option<ExecutionEngine>,
    tokio_mt: Arc<tokio::runtime::Runtime>,
    tokio_ct: Arc<tokio::runtime::Runtime>,
}

impl Ctx {
    /// The same context with the io_uring engine as `engine`.
    fn on_uring(&self) -> Result<Ctx, String> {
        let engine = self.uring.clone().ok_or("no io_uring engine")?;
        Ok(Ctx {
            engine,
            ..self.clone()
        })
    }
}

type RunFn = fn(&Ctx) -> Result<Sample, String>;

struct Scenario {
    id: &'static str,
    title: String,
    unit: &'static str,
    /// Higher is better (throughput) or lower (memory).
    higher_is_better: bool,
    systems: Vec<(&'static str, RunFn)>,
    /// Names of the systems ratios are taken against.
    references: Vec<&'static str>,
}

pub fn run(args: Args) -> Result<(), String> {
    args.only(&[
        "quick",
        "scenario",
        "rounds",
        "duration",
        "connections",
        "backend",
        "json",
        "svg",
        "idle-sockets",
        "only",
    ])?;
    // --only NAME[,NAME]: run just these systems (for profiling one of them).
    let only: Option<Vec<String>> = args
        .value("only")
        .map(|v| v.split(',').map(|x| x.trim().to_string()).collect());
    let quick = args.flag("quick");
    let rounds: usize = args.number("rounds", if quick { 1 } else { 5 })?;
    let secs: f64 = args.number("duration", if quick { 0.4 } else { 1.0 })?;
    let connections: usize = args.number("connections", 256)?;
    let idle_sockets: usize = args.number("idle-sockets", if quick { 500 } else { 2000 })?;
    // --backend epoll|uring|auto picks the asock engine's backend; `both` runs every asock system
    // on epoll and on io_uring side by side.
    let backend_arg = args.value("backend").unwrap_or("auto");
    let both = backend_arg == "both";
    let choice = if both {
        BackendChoice::Epoll
    } else {
        BackendChoice::parse(backend_arg)
            .ok_or_else(|| format!("--backend {backend_arg}: choose epoll, uring, auto or both"))?
    };
    if rounds == 0 || secs <= 0.0 || connections == 0 || idle_sockets == 0 {
        return Err(
            "--rounds, --duration, --connections and --idle-sockets must be positive".into(),
        );
    }
    let wanted: Vec<String> = args
        .value("scenario")
        .unwrap_or("P1,P2,P3,P4")
        .split(',')
        .map(|s| s.trim().to_uppercase())
        .collect();
    raise_fd_limit(4 * connections.max(idle_sockets) + 256)?;

    let engine_params = ExecutionEngineParameters {
        min_thread_count: 2,
        max_thread_count: 0,
    };
    let ctx = Ctx {
        duration: Duration::from_secs_f64(secs),
        connections,
        idle_sockets,
        engine: ExecutionEngine::with_backend(Some(engine_params), choice)
            .map_err(|e| format!("--backend {backend_arg}: {e}"))?,
        uring: if both {
            Some(
                ExecutionEngine::with_backend(Some(engine_params), BackendChoice::Uring)
                    .map_err(|e| format!("--backend both: io_uring: {e}"))?,
            )
        } else {
            None
        },
        tokio_mt: Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
        ),
        tokio_ct: Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
        ),
    };
    let backend = match &ctx.uring {
        Some(u) => format!("{} and {}", ctx.engine.backend(), u.backend()),
        None => ctx.engine.backend().to_string(),
    };

    let mut all = scenarios(connections, both);
    if let Some(only) = &only {
        for s in &mut all {
            s.systems.retain(|(name, _)| only.iter().any(|o| o == name));
        }
        all.retain(|s| !s.systems.is_empty());
    }
    let chosen: Vec<&Scenario> = all
        .iter()
        .filter(|s| wanted.iter().any(|w| w == s.id))
        .collect();
    if chosen.is_empty() {
        return Err("--scenario: choose among P1, P2, P3, P4".into());
    }
    let runs: usize = chosen.iter().map(|s| s.systems.len()).sum::<usize>() * rounds;
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").map_err(|e| e.to_string())?,
    );
    let mut samples: Vec<Vec<Vec<Sample>>> = chosen
        .iter()
        .map(|s| vec![Vec::new(); s.systems.len()])
        .collect();
    let started = Instant::now();
    for round in 0..rounds {
        for (si, s) in chosen.iter().enumerate() {
            for (yi, (name, f)) in s.systems.iter().enumerate() {
                bar.set_message(format!("round {}/{rounds}: {} {name}", round + 1, s.id));
                let sample = f(&ctx).map_err(|e| format!("{} {name}: {e}", s.id))?;
                samples[si][yi].push(sample);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();

    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        rounds,
        seconds_per_run: secs,
        total_seconds: started.elapsed().as_secs_f64(),
        backend,
        scenarios: chosen
            .iter()
            .zip(samples)
            .map(|(s, per_system)| {
                ScenarioReport::new(
                    s.id,
                    &s.title,
                    s.unit,
                    s.higher_is_better,
                    &s.references,
                    &s.systems.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                    per_system,
                )
            })
            .collect(),
    };
    print!("{}", report::table(&report));
    if let Some(path) = args.value("json") {
        std::fs::write(path, report::json(&report)).map_err(|e| format!("--json {path}: {e}"))?;
        eprintln!("wrote {path}");
    }
    if let Some(path) = args.value("svg") {
        std::fs::write(path, report::svg(&report)).map_err(|e| format!("--svg {path}: {e}"))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}

fn scenarios(connections: usize, both: bool) -> Vec<Scenario> {
    let mut all = vec![
        Scenario {
            id: "P1",
            title: format!("ping-pong, 1 connection, {MSG} B each way"),
            unit: "round trips/s",
            higher_is_better: true,
            systems: vec![
                ("asock", p1_asock as RunFn),
                ("asock async", p1_asock_async),
                ("tokio-mt(2)", p1_tokio_mt),
                ("tokio-ct", p1_tokio_ct),
                ("std threads", p1_std_threads),
                ("one-thread limit", p1_limit),
            ],
            references: vec!["tokio-mt(2)", "one-thread limit"],
        },
        Scenario {
            id: "P2",
            title: format!("streaming, 1 connection, {STREAM_BUFS} x {} KiB per send", STREAM_BUF / 1024),
            unit: "GB/s",
            higher_is_better: true,
            systems: vec![
                ("asock", p2_asock as RunFn),
                ("tokio-mt(2)", p2_tokio),
                ("std threads", p2_std),
            ],
            references: vec!["tokio-mt(2)", "std threads"],
        },
        Scenario {
            id: "P3",
            title: format!("{connections} connections, ping-pong {MSG} B each, all at once"),
            unit: "round trips/s",
            higher_is_better: true,
            systems: vec![("asock", p3_asock as RunFn), ("tokio-mt(2)", p3_tokio)],
            references: vec!["tokio-mt(2)"],
        },
        Scenario {
            id: "P4",
            title: "idle open sockets, one pending 64 B receive each: user-space heap (kernel socket memory is the same for both)".into(),
            unit: "heap bytes/socket",
            higher_is_better: false,
            systems: vec![("asock", p4_asock as RunFn), ("tokio-mt(2)", p4_tokio)],
            references: vec!["tokio-mt(2)"],
        },
    ];
    if both {
        // The asock systems of P1-P3 once per Linux backend: "asock (epoll)" runs on the main
        // engine (epoll), "asock (uring)" beside it on the io_uring engine.
        for s in &mut all {
            let uring: Option<RunFn> = match s.id {
                "P1" => Some(p1_asock_uring),
                "P2" => Some(p2_asock_uring),
                "P3" => Some(p3_asock_uring),
                _ => None,
            };
            if let Some(f) = uring {
                let at = s
                    .systems
                    .iter()
                    .position(|(n, _)| *n == "asock")
                    .unwrap_or(0);
                s.systems[at].0 = "asock (epoll)";
                s.systems.insert(at + 1, ("asock (uring)", f));
            }
        }
    }
    all
}

fn p1_asock_uring(ctx: &Ctx) -> Result<Sample, String> {
    p1_asock(&ctx.on_uring()?)
}

fn p2_asock_uring(ctx: &Ctx) -> Result<Sample, String> {
    p2_asock(&ctx.on_uring()?)
}

fn p3_asock_uring(ctx: &Ctx) -> Result<Sample, String> {
    p3_asock(&ctx.on_uring()?)
}

fn raise_fd_limit(want: usize) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err("getrlimit failed".into());
    }
    if (lim.rlim_cur as usize) < want {
        lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
        // SAFETY: setrlimit reads a live local rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// connections

fn transport_pair() -> Result<(SocketTransport, SocketTransport), String> {
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().expect("address"), 8)
        .map_err(|e| e.to_string())?;
    transport_pair_on(&l)
}

fn transport_pair_on(l: &SocketTransport) -> Result<(SocketTransport, SocketTransport), String> {
    let port = l.local_port().ok_or("listener has no port")?;
    let mut c = SocketTransport::client();
    c.connect("127.0.0.1", port, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let s = l
        .accept(Duration::from_secs(5))
        .map_err(|e| e.to_string())?
        .ok_or("no connection accepted")?;
    Ok((c, s))
}

fn std_pair() -> Result<(TcpStream, TcpStream), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let c = TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let (s, _) = l.accept().map_err(|e| e.to_string())?;
    c.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok((c, s))
}

/// The message a client sends for its round trip `n`: the counter, then a filler.
fn message(n: u64) -> [u8; MSG] {
    let mut m = [0x5Au8; MSG];
    m[..8].copy_from_slice(&n.to_le_bytes());
    m
}

// ---------------------------------------------------------------------------------------------
// P1 / P3: ping-pong on asock

struct PingState {
    round_trips: AtomicU64,
    bad: AtomicU64,
    stop: AtomicBool,
    stopped: AtomicUsize,
    connections: usize,
    done: Mutex<Option<mpsc::Sender<()>>>,
}

/// Reads exactly one message (possibly in pieces) and passes it on.
fn read_msg<F>(sock: Arc<AsyncSocket>, have: Vec<u8>, then: F)
where
    F: FnOnce(Arc<AsyncSocket>, Option<Vec<u8>>) + Send + 'static,
{
    let s = Arc::clone(&sock);
    let want = MSG - have.len();
    let posted = sock.receive(vec![vec![0u8; want]], move |r, n, mut b| {
        if r != ReceiveResult::Ok {
            then(s, None);
            return;
        }
        let mut have = have;
        have.extend_from_slice(&b.pop().expect("one buffer")[..n as usize]);
        if have.len() < MSG {
            read_msg(s, have, then);
        } else {
            then(s, Some(have));
        }
    });
    if let Err(e) = posted {
        let (_, bufs) = e.into_parts();
        drop(bufs);
    }
}

fn echo(s: Arc<AsyncSocket>) {
    read_msg(s, Vec::with_capacity(MSG), |s, m| {
        if let Some(m) = m {
            if s.send(vec![m], |_r: SendResult, _b| {}).is_ok() {
                echo(s);
            }
        }
    });
}

fn ping(s: Arc<AsyncSocket>, st: Arc<PingState>, n: u64) {
    let expect = message(n);
    if s.send(vec![expect.to_vec()], |_r, _b| {}).is_err() {
        st.bad.fetch_add(1, Relaxed);
    }
    read_msg(s, Vec::with_capacity(MSG), move |s, m| {
        match m {
            Some(m) if m[..] == expect[..] => {
                st.round_trips.fetch_add(1, Relaxed);
            }
            _ => {
                st.bad.fetch_add(1, Relaxed);
            }
        }
        if st.stop.load(Relaxed) {
            if st.stopped.fetch_add(1, AcqRel) + 1 == st.connections {
                if let Some(tx) = st.done.lock().expect("lock").take() {
                    let _ = tx.send(());
                }
            }
            return;
        }
        ping(s, st, n + 1);
    });
}

fn asock_pingpong(ctx: &Ctx, connections: usize) -> Result<Sample, String> {
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().expect("address"), 1024)
        .map_err(|e| e.to_string())?;
    let mut sockets = Vec::with_capacity(2 * connections);
    for _ in 0..connections {
        let (c, s) = transport_pair_on(&l)?;
        let (a, b) = (
            Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
            Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
        );
        a.open(c).map_err(|e| e.to_string())?;
        b.open(s).map_err(|e| e.to_string())?;
        sockets.push((a, b));
    }
    let (tx, rx) = mpsc::channel();
    let st = Arc::new(PingState {
        round_trips: AtomicU64::new(0),
        bad: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stopped: AtomicUsize::new(0),
        connections,
        done: Mutex::new(Some(tx)),
    });
    for (_, server) in &sockets {
        echo(Arc::clone(server));
    }
    let start = Instant::now();
    for (client, _) in &sockets {
        ping(Arc::clone(client), Arc::clone(&st), 0);
    }
    std::thread::sleep(ctx.duration);
    st.stop.store(true, Relaxed);
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the ping-pong did not stop within 10 s")?;
    let seconds = start.elapsed().as_secs_f64();
    for (a, b) in &sockets {
        a.close();
        b.close();
    }
    let bad = st.bad.load(Relaxed);
    if bad > 0 {
        return Err(format!("{bad} round trips failed or came back wrong"));
    }
    let n = st.round_trips.load(Relaxed);
    Ok(Sample {
        value: n as f64 / seconds,
        work: n,
        seconds,
    })
}

fn p1_asock(ctx: &Ctx) -> Result<Sample, String> {
    asock_pingpong(ctx, 1)
}

fn p3_asock(ctx: &Ctx) -> Result<Sample, String> {
    asock_pingpong(ctx, ctx.connections)
}

/// P1 through `asock::future`: the same ping-pong with `.await` on owned buffers, the client
/// and the echo as tasks on the engine's workers (`asock::future::spawn`), where a completion
/// wakes its task on the same worker. (The same tasks on tokio pay a hand-off to a tokio thread
/// for every completion and one back for every send.)
fn p1_asock_async(ctx: &Ctx) -> Result<Sample, String> {
    use asock::future::Socket;
    /// Receives until `buf` (of `MSG` bytes) is full; `None` once the connection ends.
    async fn read_msg(s: &Socket, buf: Vec<u8>) -> Option<Vec<u8>> {
        let (r, n, mut bufs) = s.receive(vec![buf]).await.ok()?;
        let mut m = bufs.pop()?;
        if r != ReceiveResult::Ok {
            return None;
        }
        m.truncate(n);
        while m.len() < MSG {
            let (r, k, b) = s.receive(vec![vec![0u8; MSG - m.len()]]).await.ok()?;
            if r != ReceiveResult::Ok {
                return None;
            }
            m.extend_from_slice(&b[0][..k]);
        }
        Some(m)
    }
    let (c, s) = transport_pair()?;
    let client = Socket::open_on(&ctx.engine, c).map_err(|e| e.to_string())?;
    let server = Socket::open_on(&ctx.engine, s).map_err(|e| e.to_string())?;
    let dur = ctx.duration;
    let engine = ctx.engine.clone();
    ctx.tokio_mt.block_on(async move {
        let echo = asock::future::spawn(&engine, async move {
            // Echo at once and receive the next message without waiting for the send's
            // completion; the previous send (long done) hands its buffer back for the receive.
            let mut buf = vec![0u8; MSG];
            let mut last = None;
            while let Some(m) = read_msg(&server, buf).await {
                let sent = server.send(vec![m]);
                buf = match last.replace(sent) {
                    None => vec![0u8; MSG],
                    Some(prev) => match prev.await {
                        Ok((SendResult::Ok, mut back)) => back.pop().expect("one buffer"),
                        _ => break,
                    },
                };
                buf.resize(MSG, 0);
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let start = Instant::now();
        let pinger = asock::future::spawn(&engine, async move {
            let mut n = 0u64;
            let mut buf = vec![0u8; MSG];
            while !st.load(Relaxed) {
                let m = message(n);
                // Send and receive at once: the echo may arrive before the send's completion.
                let sent = client.send(vec![m.to_vec()]);
                let got = read_msg(&client, buf)
                    .await
                    .ok_or("the echo did not come")?;
                if !matches!(sent.await, Ok((SendResult::Ok, _))) {
                    return Err("a send failed".to_string());
                }
                if got[..] != m[..] {
                    return Err("echo differs".to_string());
                }
                buf = got;
                n += 1;
            }
            client.close().await;
            Ok::<u64, String>(n)
        });
        tokio::time::sleep(dur).await;
        stop.store(true, Relaxed);
        let n = pinger.await?;
        let seconds = start.elapsed().as_secs_f64();
        echo.await;
        Ok(Sample {
            value: n as f64 / seconds,
            work: n,
            seconds,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// P1 / P3: ping-pong on tokio

fn tokio_pingpong(
    rt: &tokio::runtime::Runtime,
    connections: usize,
    dur: Duration,
) -> Result<Sample, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..connections {
            let c = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let (s, _) = l.accept().await.map_err(|e| e.to_string())?;
            c.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            servers.push(s);
            clients.push(c);
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for mut s in servers {
            tokio::spawn(async move {
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
        for mut c in clients {
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; MSG];
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    let m = message(n);
                    c.write_all(&m).await.map_err(|e| e.to_string())?;
                    c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                    if buf != m {
                        return Err("echo differs".to_string());
                    }
                    n += 1;
                }
                Ok::<u64, String>(n)
            }));
        }
        tokio::time::sleep(dur).await;
        stop.store(true, Relaxed);
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(Sample {
            value: total as f64 / seconds,
            work: total,
            seconds,
        })
    })
}

fn p1_tokio_mt(ctx: &Ctx) -> Result<Sample, String> {
    tokio_pingpong(&ctx.tokio_mt, 1, ctx.duration)
}

fn p1_tokio_ct(ctx: &Ctx) -> Result<Sample, String> {
    tokio_pingpong(&ctx.tokio_ct, 1, ctx.duration)
}

fn p3_tokio(ctx: &Ctx) -> Result<Sample, String> {
    tokio_pingpong(&ctx.tokio_mt, ctx.connections, ctx.duration)
}

// ---------------------------------------------------------------------------------------------
// P1: blocking baselines

fn p1_std_threads(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pair()?;
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; MSG];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    let client = std::thread::spawn(move || -> Result<u64, String> {
        let mut buf = [0u8; MSG];
        let mut n = 0u64;
        while !st.load(Relaxed) {
            let m = message(n);
            c.write_all(&m).map_err(|e| e.to_string())?;
            c.read_exact(&mut buf).map_err(|e| e.to_string())?;
            if buf != m {
                return Err("echo differs".into());
            }
            n += 1;
        }
        Ok(n)
    });
    let start = Instant::now();
    std::thread::sleep(ctx.duration);
    stop.store(true, Relaxed);
    let n = client.join().map_err(|_| "client thread panicked")??;
    let seconds = start.elapsed().as_secs_f64();
    let _ = server.join();
    Ok(Sample {
        value: n as f64 / seconds,
        work: n,
        seconds,
    })
}

fn p1_limit(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pair()?;
    let mut buf = [0u8; MSG];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ctx.duration {
        let m = message(n);
        c.write_all(&m).map_err(|e| e.to_string())?;
        s.read_exact(&mut buf).map_err(|e| e.to_string())?;
        s.write_all(&buf).map_err(|e| e.to_string())?;
        c.read_exact(&mut buf).map_err(|e| e.to_string())?;
        if buf != m {
            return Err("echo differs".into());
        }
        n += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Sample {
        value: n as f64 / seconds,
        work: n,
        seconds,
    })
}

// ---------------------------------------------------------------------------------------------
// P2: streaming

/// The stream's content: the byte at stream offset `o` is `o % 256`.
fn pattern() -> &'static [u8] {
    static P: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        (0..STREAM_BUFS * STREAM_BUF + 256)
            .map(|i| i as u8)
            .collect()
    })
}

/// Whether `data`, found at stream offset `offset`, is what was sent there.
fn stream_ok(offset: u64, data: &[u8]) -> bool {
    let start = (offset % 256) as usize;
    data.chunks(STREAM_RECV)
        .all(|chunk| chunk == &pattern()[start..start + chunk.len()])
}

struct StreamState {
    received: AtomicU64,
    bad: AtomicBool,
    stop: AtomicBool,
    sender_done: Mutex<Option<mpsc::Sender<()>>>,
}

fn stream_send(s: Arc<AsyncSocket>, st: Arc<StreamState>, bufs: Vec<Vec<u8>>) {
    let s2 = Arc::clone(&s);
    let r = s.send(bufs, move |r, bufs| {
        if r == SendResult::Ok && !st.stop.load(Relaxed) {
            stream_send(s2, st, bufs);
        } else if let Some(tx) = st.sender_done.lock().expect("lock").take() {
            let _ = tx.send(());
        }
    });
    if r.is_err() {
        // Closed under us: the run is over anyway.
    }
}

fn stream_recv(s: Arc<AsyncSocket>, st: Arc<StreamState>, buf: Vec<u8>) {
    let s2 = Arc::clone(&s);
    let _ = s.receive(vec![buf], move |r, n, mut bufs| {
        if r != ReceiveResult::Ok {
            return;
        }
        let buf = bufs.pop().expect("one buffer");
        let offset = st.received.fetch_add(u64::from(n), Relaxed);
        if !stream_ok(offset, &buf[..n as usize]) {
            st.bad.store(true, Relaxed);
        }
        stream_recv(s2, st, buf);
    });
}

fn p2_asock(ctx: &Ctx) -> Result<Sample, String> {
    let (c, s) = transport_pair()?;
    let (tx_sock, rx_sock) = (
        Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
        Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
    );
    tx_sock.open(c).map_err(|e| e.to_string())?;
    rx_sock.open(s).map_err(|e| e.to_string())?;
    let (done_tx, done_rx) = mpsc::channel();
    let st = Arc::new(StreamState {
        received: AtomicU64::new(0),
        bad: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        sender_done: Mutex::new(Some(done_tx)),
    });
    stream_recv(
        Arc::clone(&rx_sock),
        Arc::clone(&st),
        vec![0u8; STREAM_RECV],
    );
    let bufs: Vec<Vec<u8>> = (0..STREAM_BUFS)
        .map(|_| pattern()[..STREAM_BUF].to_vec())
        .collect();
    let start = Instant::now();
    stream_send(Arc::clone(&tx_sock), Arc::clone(&st), bufs);
    std::thread::sleep(ctx.duration);
    let bytes = st.received.load(Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    st.stop.store(true, Relaxed);
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the sender did not stop within 10 s")?;
    tx_sock.close();
    rx_sock.close();
    if st.bad.load(Relaxed) {
        return Err("streamed bytes arrived wrong".into());
    }
    Ok(Sample {
        value: bytes as f64 / seconds / 1e9,
        work: bytes,
        seconds,
    })
}

fn p2_tokio(ctx: &Ctx) -> Result<Sample, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dur = ctx.duration;
    ctx.tokio_mt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let mut c = tokio::net::TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let (mut s, _) = l.accept().await.map_err(|e| e.to_string())?;
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let writer = tokio::spawn(async move {
            let chunk = pattern()[..STREAM_BUFS * STREAM_BUF].to_vec();
            while !st.load(Relaxed) {
                if c.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let rc = Arc::clone(&received);
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; STREAM_RECV];
            let mut ok = true;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let offset = rc.fetch_add(n as u64, Relaxed);
                        ok &= stream_ok(offset, &buf[..n]);
                    }
                }
            }
            ok
        });
        let start = Instant::now();
        tokio::time::sleep(dur).await;
        let bytes = received.load(Relaxed);
        let seconds = start.elapsed().as_secs_f64();
        stop.store(true, Relaxed);
        writer.await.map_err(|e| e.to_string())?;
        if !reader.await.map_err(|e| e.to_string())? {
            return Err("streamed bytes arrived wrong".to_string());
        }
        Ok(Sample {
            value: bytes as f64 / seconds / 1e9,
            work: bytes,
            seconds,
        })
    })
}

fn p2_std(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pair()?;
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let chunk = pattern()[..STREAM_BUFS * STREAM_BUF].to_vec();
        while !st.load(Relaxed) {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let received = Arc::new(AtomicU64::new(0));
    let rc = Arc::clone(&received);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; STREAM_RECV];
        let mut ok = true;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let offset = rc.fetch_add(n as u64, Relaxed);
                    ok &= stream_ok(offset, &buf[..n]);
                }
            }
        }
        ok
    });
    let start = Instant::now();
    std::thread::sleep(ctx.duration);
    let bytes = received.load(Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    let _ = writer.join();
    if !reader.join().map_err(|_| "reader panicked")? {
        return Err("streamed bytes arrived wrong".into());
    }
    Ok(Sample {
        value: bytes as f64 / seconds / 1e9,
        work: bytes,
        seconds,
    })
}

// ---------------------------------------------------------------------------------------------
// P4: memory per idle socket

fn p4_asock(ctx: &Ctx) -> Result<Sample, String> {
    let n = ctx.idle_sockets;
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().expect("address"), 1024)
        .map_err(|e| e.to_string())?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        pairs.push(transport_pair_on(&l)?);
    }
    let before = crate::heap_bytes();
    let mut sockets = Vec::with_capacity(n);
    let pending = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    for (c, s) in pairs {
        let a = AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?;
        a.open(s).map_err(|e| e.to_string())?;
        let p = Arc::clone(&pending);
        a.receive(vec![vec![0u8; MSG]], move |_r, _n, _b| {
            p.fetch_sub(1, Relaxed);
        })
        .map_err(|e| e.to_string())?;
        pending.fetch_add(1, Relaxed);
        sockets.push(a);
        clients.push(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = crate::heap_bytes();
    let open = sockets
        .iter()
        .filter(|s| s.state() == asock::SocketState::Open)
        .count();
    drop(sockets); // closes: every pending receive completes ABANDONED
    if open != n || pending.load(Relaxed) != 0 {
        return Err(format!(
            "{open} of {n} sockets stayed open; {} receives never completed",
            pending.load(Relaxed)
        ));
    }
    drop(clients);
    Ok(Sample {
        value: (after - before) as f64 / n as f64,
        work: n as u64,
        seconds: 0.0,
    })
}

fn p4_tokio(ctx: &Ctx) -> Result<Sample, String> {
    use tokio::io::AsyncReadExt;
    let n = ctx.idle_sockets;
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        let (s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        pairs.push((c, s));
    }
    let before = crate::heap_bytes();
    let polled = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    {
        let _guard = ctx.tokio_mt.enter();
        for (c, s) in pairs {
            let s = tokio::net::TcpStream::from_std(s).map_err(|e| e.to_string())?;
            let p = Arc::clone(&polled);
            tasks.push(ctx.tokio_mt.spawn(async move {
                let mut s = s;
                let mut buf = [0u8; MSG];
                p.fetch_add(1, Relaxed);
                let _ = s.read(&mut buf).await;
            }));
            clients.push(c);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while polled.load(Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = crate::heap_bytes();
    let waiting = polled.load(Relaxed);
    drop(clients); // each read returns 0: the tasks end
    ctx.tokio_mt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    if waiting != n {
        return Err(format!("only {waiting} of {n} tasks started"));
    }
    Ok(Sample {
        value: (after - before) as f64 / n as f64,
        work: n as u64,
        seconds: 0.0,
    })
}
