//! The command line, by clap: every subcommand, its options, their defaults and their checks.
//! A bad value or an unknown option stops the command before it does anything.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// asock: completion-style socket I/O on a shared pool of threads. This command runs a
/// loopback echo server and client over asock, and the benchmark of asock against tokio,
/// compio, monoio and hyper on tokio.
#[derive(Parser, Debug)]
#[command(
    name = "asock",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
#[command(
    after_help = "Run `asock help COMMAND` or `asock COMMAND --help` for each command's options."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Echo every byte back on each connection, until Ctrl-C (or --max-connections)
    #[command(
        after_help = "Example:\n  asock echo-server --listen 127.0.0.1:7878\n  \
                            asock echo-client 127.0.0.1:7878 --messages 100 --size 4096   (in another terminal)"
    )]
    EchoServer(EchoServerArgs),
    /// Send messages to an echo server and check every echo; print the round-trip times
    #[command(
        after_help = "Example:\n  asock echo-client 127.0.0.1:7878 --messages 100 --size 4096\n\n\
                            It prints the round trip's min, mean, p50, p90, p99 and worst, each from one \
                            measurement per message (send to last echoed byte)."
    )]
    EchoClient(EchoClientArgs),
    /// Run the benchmark: every system in one process, interleaved over rounds
    #[command(long_about = BENCH_ABOUT, after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
}

const BENCH_ABOUT: &str = "\
Run the benchmark: every system of each scenario in the same process, interleaved over rounds \
(round 1 runs every system once, then round 2, ...), every round trip, request and streamed \
byte checked.

  P1  ping-pong, 1 connection, 64 B each way         round trips/s
  P2  streaming, 1 connection, 16 x 64 KiB per send   GB/s
  P3  N connections ping-pong at once (--connections) round trips/s
  P4  idle sockets with a pending receive             heap bytes per socket
  P5  hyper HTTP/1.1 keep-alive hello server          requests/s

The table gives each system's median over the rounds, its spread (min-max), the process CPU \
time per operation and the heap allocations per operation during the system's timed window, \
and ratios to the reference systems as the median of the per-round ratios.";

#[derive(Args, Debug)]
pub struct EchoServerArgs {
    /// Address to listen on; with port 0 the kernel picks one (the first line printed names it)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Stop accepting after N connections and exit once they have all closed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
}

const BENCH_EXAMPLES: &str = "\
Examples:
  asock bench                                   every scenario, 5 rounds of 1 s per system
  asock bench --quick                           a ten-second smoke run
  asock bench --scenario P1,P3 --rounds 9 --json run.json --svg run.svg
  asock bench --backend both --only 'asock (epoll),asock (uring),tokio-mt(2)'";

/// A `host:port` (IPv6 in brackets: `[::1]:7878`).
#[derive(Clone, Debug)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

fn host_port(s: &str) -> Result<HostPort, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| "expected HOST:PORT, e.g. 127.0.0.1:7878".to_string())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host is missing (HOST:PORT)".into());
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{port:?} is not a port number (0-65535)"))?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

#[derive(Args, Debug)]
pub struct EchoClientArgs {
    /// The echo server's HOST:PORT
    #[arg(value_name = "ADDR", value_parser = host_port)]
    pub addr: HostPort,
    /// How many messages to send, one at a time
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub messages: u64,
    /// Bytes per message (at most 1 GiB)
    #[arg(long, value_name = "BYTES", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub size: u64,
    /// Seconds to wait for the connection and for each echo
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = positive_seconds)]
    pub timeout: f64,
}

/// The benchmark scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScenarioId {
    #[value(name = "P1")]
    P1,
    #[value(name = "P2")]
    P2,
    #[value(name = "P3")]
    P3,
    #[value(name = "P4")]
    P4,
    #[value(name = "P5")]
    P5,
}

impl std::fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ScenarioId {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioId::P1 => "P1",
            ScenarioId::P2 => "P2",
            ScenarioId::P3 => "P3",
            ScenarioId::P4 => "P4",
            ScenarioId::P5 => "P5",
        }
    }
}

/// The backend of asock's engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Whatever asock picks by default (io_uring where the kernel allows it, else epoll; or ASOCK_BACKEND)
    Auto,
    /// epoll readiness
    Epoll,
    /// io_uring completions
    Uring,
    /// Every asock system twice, on epoll and on io_uring, side by side
    Both,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A smoke run of about ten seconds: 1 round of 0.4 s per system, 500 idle sockets
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run, comma-separated
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        ignore_case = true,
        default_value = "P1,P2,P3,P4,P5"
    )]
    pub scenario: Vec<ScenarioId>,
    /// Rounds; each runs every system once [default: 5, 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub rounds: Option<u64>,
    /// Seconds each system runs per round [default: 1, 0.4 with --quick]
    #[arg(long, value_name = "SECS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// P3: connections, all ping-ponging at once
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(2..=20_000))]
    pub connections: u64,
    /// P5: keep-alive connections of the load client
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub http_connections: u64,
    /// P4: idle sockets per system [default: 2000, 500 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=50_000))]
    pub idle_sockets: Option<u64>,
    /// Run only these systems (comma-separated names as the table prints them)
    #[arg(long, value_name = "SYSTEM,..", value_delimiter = ',')]
    pub only: Vec<String>,
    /// The backend of asock's engine
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Write the run's details and every raw sample as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw the ratios as an SVG chart in FILE
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err("must be above 0 and at most 3600 seconds".into())
    }
}

/// Fails unless a file can be written at `path`: opened for appending (an existing file is left
/// as it is) or created and removed again.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), String> {
    let existed = path.exists();
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("{flag} {}: cannot write there: {e}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A clap error for a value found bad after parsing (printed, with usage, as clap does).
pub fn usage_error(subcommand: &str, message: String) -> ! {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let mut cmd = cli.find_subcommand(subcommand).cloned().unwrap_or(cli);
    cmd.error(clap::error::ErrorKind::InvalidValue, message)
        .exit()
}
