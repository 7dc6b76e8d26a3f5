//! `asock bench`: the benchmark scenarios, every system in one process, interleaved over
//! rounds (round 1 runs every system once, then round 2, ...), so each round compares systems
//! under the same conditions. Every round trip and response is counted and its content checked,
//! every streamed byte is checked against the pattern it was sent with, so no figure can come
//! from work not done.
//!
//! CPU per operation is the process's CPU time (user + system of all its threads, from
//! `getrusage(RUSAGE_SELF)`) over a system's timed window, divided by the operations done in
//! it. Systems run one after another, and the other systems' threads (tokio's workers, asock's
//! engines) are idle meanwhile; the run measures the idle process once at its start and prints
//! it, so a busy idle process would show.

mod asock_pp;
#[cfg(target_os = "linux")]
mod compio;
mod http;
mod idle;
pub mod measure;
#[cfg(target_os = "linux")]
mod monoio;
mod progress;
#[cfg(target_os = "linux")]
mod rent;
mod stream;
mod tokio_pp;

use std::sync::Arc;
use std::time::Duration;

use asock::{BackendChoice, ExecutionEngine, ExecutionEngineParameters};

use crate::args::{self, BackendArg, BenchArgs, ScenarioId};
use crate::report::{self, Meta, Report, ScenarioReport};
pub use measure::Sample;

/// What every system's run gets.
#[derive(Clone)]
pub struct Ctx {
    pub duration: Duration,
    pub connections: usize,
    pub http_connections: usize,
    pub idle_sockets: usize,
    /// asock's engine (2 worker threads).
    pub engine: ExecutionEngine,
    /// `--backend both`: the io_uring engine of the "(uring)" systems.
    uring: Option<ExecutionEngine>,
    pub tokio_mt: Arc<tokio::runtime::Runtime>,
    pub tokio_ct: Arc<tokio::runtime::Runtime>,
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

pub struct System {
    pub name: String,
    run: RunFn,
    /// Runs on the io_uring engine (`--backend both`).
    on_uring: bool,
}

pub struct Scenario {
    pub id: ScenarioId,
    pub title: String,
    pub unit: &'static str,
    /// What CPU time and allocations are counted per ("round trip", "MiB", "request").
    pub op: &'static str,
    /// Higher is better (throughput) or lower (memory).
    pub higher_is_better: bool,
    pub systems: Vec<System>,
    /// Names of the systems ratios are taken against.
    pub references: Vec<String>,
    /// The scenario counts its servers' errors (P5).
    pub server_errors: bool,
}

/// An asock system (twinned on io_uring with `--backend both`) or another one.
enum Sys {
    Asock(&'static str, RunFn),
    Peer(&'static str, RunFn),
}

fn scenario(
    id: ScenarioId,
    title: String,
    unit: &'static str,
    op: &'static str,
    systems: Vec<Sys>,
    references: &[&str],
    both: bool,
) -> Scenario {
    let mut out = Vec::new();
    for s in systems {
        match s {
            Sys::Asock(name, run) if both => {
                for (backend, on_uring) in [("epoll", false), ("uring", true)] {
                    out.push(System {
                        name: format!("{name} ({backend})"),
                        run,
                        on_uring,
                    });
                }
            }
            Sys::Asock(name, run) | Sys::Peer(name, run) => out.push(System {
                name: name.to_string(),
                run,
                on_uring: false,
            }),
        }
    }
    Scenario {
        id,
        title,
        unit,
        op,
        higher_is_better: id != ScenarioId::P4,
        systems: out,
        references: references.iter().map(|r| r.to_string()).collect(),
        server_errors: id == ScenarioId::P5,
    }
}

/// Every scenario with its systems (`both`: asock's on epoll and on io_uring).
pub fn scenarios(connections: usize, http_connections: usize, both: bool) -> Vec<Scenario> {
    use Sys::{Asock, Peer};
    let mut p1 = vec![
        Asock("asock", asock_pp::p1 as RunFn),
        Asock("asock async", asock_pp::p1_async),
        Peer("tokio-mt(2)", tokio_pp::p1_mt),
        Peer("tokio-ct", tokio_pp::p1_ct),
    ];
    let mut p3 = vec![
        Asock("asock", asock_pp::p3 as RunFn),
        Peer("tokio-mt(2)", tokio_pp::p3),
    ];
    #[cfg(target_os = "linux")]
    {
        p1.push(Peer("compio", compio::p1));
        p1.push(Peer("monoio", monoio::p1));
        p3.push(Peer("compio-x2", compio::p3));
        p3.push(Peer("monoio-x2", monoio::p3));
    }
    p1.push(Peer("std threads", tokio_pp::p1_std_threads));
    p1.push(Peer("one-thread limit", tokio_pp::p1_limit));
    let msg = measure::MSG;
    vec![
        scenario(
            ScenarioId::P1,
            format!("ping-pong, 1 connection, {msg} B each way"),
            "round trips/s",
            "round trip",
            p1,
            &["tokio-mt(2)", "one-thread limit"],
            both,
        ),
        scenario(
            ScenarioId::P2,
            format!(
                "streaming, 1 connection, {} x {} KiB per send",
                stream::STREAM_BUFS,
                stream::STREAM_BUF / 1024
            ),
            "GB/s",
            "MiB",
            vec![
                Asock("asock", stream::asock),
                Peer("tokio-mt(2)", stream::tokio),
                Peer("std threads", stream::std_threads),
            ],
            &["tokio-mt(2)", "std threads"],
            both,
        ),
        scenario(
            ScenarioId::P3,
            format!("{connections} connections, ping-pong {msg} B each, all at once (compio and monoio: 2 runtimes, half the connections each)"),
            "round trips/s",
            "round trip",
            p3,
            &["tokio-mt(2)"],
            both,
        ),
        scenario(
            ScenarioId::P4,
            "idle open sockets, one pending 64 B receive each: user-space heap (kernel socket memory is the same for all)".into(),
            "heap bytes/socket",
            "-",
            vec![Asock("asock", idle::asock), Peer("tokio-mt(2)", idle::tokio)],
            &["tokio-mt(2)"],
            both,
        ),
        scenario(
            ScenarioId::P5,
            format!("hyper HTTP/1.1 keep-alive hello server, {http_connections} connections, load client in the process (tokio-mt(2): hyper on tokio's TcpStream)"),
            "requests/s",
            "request",
            vec![
                Asock("asock spawn", http::engine_tasks),
                Asock("asock tokio-tasks", http::tokio_tasks),
                Peer("tokio-mt(2)", http::tokio),
            ],
            &["tokio-mt(2)"],
            both,
        ),
    ]
}

fn engine(choice: BackendChoice, flag: &str) -> Result<ExecutionEngine, String> {
    let params = ExecutionEngineParameters {
        min_thread_count: 2,
        max_thread_count: 0,
    };
    ExecutionEngine::with_backend(Some(params), choice)
        .map_err(|e| format!("--backend {flag}: {e}"))
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let quick = args.quick;
    let rounds = args.rounds.unwrap_or(if quick { 1 } else { 5 }) as usize;
    let secs = args.duration.unwrap_or(if quick { 0.4 } else { 1.0 });
    let connections = args.connections as usize;
    let http_connections = args.http_connections as usize;
    let idle_sockets = args.idle_sockets.unwrap_or(if quick { 500 } else { 2000 }) as usize;
    let both = args.backend == BackendArg::Both;

    let mut chosen: Vec<Scenario> = scenarios(connections, http_connections, both)
        .into_iter()
        .filter(|s| args.scenario.contains(&s.id))
        .collect();
    if !args.only.is_empty() {
        let known: Vec<String> = chosen
            .iter()
            .flat_map(|s| s.systems.iter().map(|y| y.name.clone()))
            .collect();
        if let Some(bad) = args.only.iter().find(|o| !known.contains(o)) {
            let mut names: Vec<&String> = known.iter().collect();
            names.sort();
            names.dedup();
            let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            args::usage_error(
                "bench",
                format!(
                    "invalid value '{bad}' for '--only <SYSTEM,..>': no such system in the chosen scenarios\n  [systems: {}]",
                    names.join(", ")
                ),
            );
        }
        for s in &mut chosen {
            s.systems.retain(|y| args.only.contains(&y.name));
        }
        chosen.retain(|s| !s.systems.is_empty());
    }
    for (flag, path) in [("--json", &args.json), ("--svg", &args.svg)] {
        if let Some(path) = path {
            args::check_writable(flag, path)?;
        }
    }
    measure::raise_fd_limit(4 * connections.max(idle_sockets).max(http_connections) + 256)?;

    let backend_flag = format!("{:?}", args.backend).to_lowercase();
    let choice = match args.backend {
        BackendArg::Auto => BackendChoice::Auto,
        BackendArg::Epoll | BackendArg::Both => BackendChoice::Epoll,
        BackendArg::Uring => BackendChoice::Uring,
    };
    let ctx = Ctx {
        duration: Duration::from_secs_f64(secs),
        connections,
        http_connections,
        idle_sockets,
        engine: engine(choice, &backend_flag)?,
        uring: if both {
            Some(engine(BackendChoice::Uring, "both")?)
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
    let idle_cpu_percent = idle_cpu_percent();

    let runs_per_round: usize = chosen.iter().map(|s| s.systems.len()).sum();
    let progress = progress::Progress::new(rounds, runs_per_round);
    let mut samples: Vec<Vec<Vec<Sample>>> = chosen
        .iter()
        .map(|s| vec![Vec::new(); s.systems.len()])
        .collect();
    for round in 1..=rounds {
        for (si, s) in chosen.iter().enumerate() {
            for (yi, y) in s.systems.iter().enumerate() {
                progress.start(round, s.id.name(), &y.name);
                let sample = if y.on_uring {
                    (y.run)(&ctx.on_uring()?)
                } else {
                    (y.run)(&ctx)
                };
                let sample = sample.map_err(|e| {
                    progress.finish();
                    format!("{} {}: {e}", s.id.name(), y.name)
                })?;
                samples[si][yi].push(sample);
                progress.run_done();
            }
        }
        progress.round_done(round);
    }
    progress.finish();

    let report = Report {
        meta: Meta::collect(
            &backend,
            rounds,
            secs,
            progress.elapsed().as_secs_f64(),
            idle_cpu_percent,
            peer_drivers(),
        ),
        scenarios: chosen
            .iter()
            .zip(samples)
            .map(|(s, per_system)| ScenarioReport::new(s, per_system))
            .collect(),
    };
    print!("{}", report::table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("--json {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report::svg(&report))
            .map_err(|e| format!("--svg {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The process's CPU use while nothing runs (every engine and runtime made, all idle), in
/// percent of one core over 200 ms.
fn idle_cpu_percent() -> f64 {
    let w = measure::Window::start();
    std::thread::sleep(Duration::from_millis(200));
    let m = w.finish();
    100.0 * m.cpu_seconds / m.seconds
}

/// The driver each peer runtime uses on this machine.
fn peer_drivers() -> Vec<(String, String)> {
    #[cfg(target_os = "linux")]
    {
        vec![
            ("compio".into(), compio::driver()),
            ("monoio".into(), monoio::driver()),
        ]
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}
