//! What every system's run shares: the timed window (wall clock, process CPU, allocations),
//! the sample it yields, the checked 64 B message, and the way connections are made and a
//! group of runtime threads is started together.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Ping-pong message size.
pub const MSG: usize = 64;

/// What one run of one system measured.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// The scenario's figure (round trips/s, GB/s, bytes per socket, requests/s).
    pub value: f64,
    /// Round trips, bytes, sockets or requests the figure is made of (every one checked).
    pub work: u64,
    /// The operations CPU time and allocations are divided by: round trips, MiB streamed or
    /// requests (0 where the scenario has none, P4).
    pub ops: f64,
    /// Length of the timed window.
    pub seconds: f64,
    /// Process CPU time (user + system, all threads) during the timed window.
    pub cpu_seconds: f64,
    /// Heap allocations of the whole process during the timed window.
    pub allocations: u64,
    /// Errors the servers reported (P5); the run fails instead on any error of the checked
    /// work itself.
    pub server_errors: u64,
    /// The first of those errors, as the server reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_server_error: Option<String>,
    /// P5: CPU time of the load client's own thread in the window (part of `cpu_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cpu_seconds: Option<f64>,
}

impl Sample {
    /// `round_trips` checked round trips in the window `m`.
    pub fn round_trips(round_trips: u64, m: Measured) -> Sample {
        Sample::per_second(round_trips, round_trips as f64, m)
    }

    /// `bytes` checked streamed bytes in the window `m`, in GB/s.
    pub fn streamed(bytes: u64, m: Measured) -> Sample {
        let mut s = Sample::per_second(bytes, bytes as f64 / (1024.0 * 1024.0), m);
        s.value /= 1e9;
        s
    }

    fn per_second(work: u64, ops: f64, m: Measured) -> Sample {
        Sample {
            value: work as f64 / m.seconds,
            work,
            ops,
            seconds: m.seconds,
            cpu_seconds: m.cpu_seconds,
            allocations: m.allocations,
            server_errors: 0,
            first_server_error: None,
            client_cpu_seconds: None,
        }
    }

    /// The same sample with the servers' errors: how many, and the first.
    pub fn with_server_errors(self, server_errors: u64, first: Option<String>) -> Sample {
        Sample {
            server_errors,
            first_server_error: first,
            ..self
        }
    }

    /// P4: heap bytes per socket, no timed work.
    pub fn per_socket(bytes_per_socket: f64, sockets: u64) -> Sample {
        Sample {
            value: bytes_per_socket,
            work: sockets,
            ops: 0.0,
            seconds: 0.0,
            cpu_seconds: 0.0,
            allocations: 0,
            server_errors: 0,
            first_server_error: None,
            client_cpu_seconds: None,
        }
    }
}

/// The timed window of one system's run. Every system starts it at the same point: every
/// connection is open and every server side is waiting, right before the first client sends;
/// a ping-pong window ends when every client has finished its last round trip after the stop.
pub struct Window {
    start: Instant,
    cpu: f64,
    allocations: u64,
}

/// What a window measured.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub allocations: u64,
}

impl Window {
    pub fn start() -> Window {
        Window {
            cpu: process_cpu_seconds(),
            allocations: crate::allocations(),
            start: Instant::now(),
        }
    }

    pub fn finish(&self) -> Measured {
        let seconds = self.start.elapsed().as_secs_f64();
        Measured {
            seconds,
            cpu_seconds: process_cpu_seconds() - self.cpu,
            allocations: crate::allocations() - self.allocations,
        }
    }
}

/// User + system CPU time of the whole process (every thread), from `getrusage(RUSAGE_SELF)`.
pub fn process_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread (`getrusage(RUSAGE_THREAD)`).
pub fn thread_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_THREAD)
}

fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the live local `ru`.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// The message a client sends for its round trip `n`: the counter, then a filler.
pub fn message(n: u64) -> [u8; MSG] {
    let mut m = [0x5Au8; MSG];
    m[..8].copy_from_slice(&n.to_le_bytes());
    m
}

/// `n` connected loopback pairs (client, server) of blocking std sockets with `TCP_NODELAY`.
pub fn std_pairs(n: usize) -> Result<Vec<(TcpStream, TcpStream)>, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        let (s, _) = l.accept().map_err(|e| e.to_string())?;
        c.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        pairs.push((c, s));
    }
    Ok(pairs)
}

/// Starts a group of threads together: each signals it is ready, the timed window starts, then
/// all are let go at once; each reports its round trips as soon as its clients are done.
pub struct Gate {
    ready: Barrier,
    go: Barrier,
}

/// One thread's side of a [`Gate`]. A thread that ends without passing it or reporting (an
/// error during its setup, a panic) does both on dropping it, so nobody waits forever.
pub struct GatePass {
    gate: Arc<Gate>,
    passed: bool,
    result: Option<mpsc::Sender<Result<u64, String>>>,
}

impl GatePass {
    /// Ready; returns once every thread is ready and the window has started.
    pub fn pass(&mut self) {
        if !self.passed {
            self.passed = true;
            self.gate.ready.wait();
            self.gate.go.wait();
        }
    }

    /// Reports this thread's round trips (or its error); the window ends with the last report,
    /// before any runtime is torn down.
    pub fn report(mut self, result: Result<u64, String>) {
        self.pass();
        if let Some(tx) = self.result.take() {
            let _ = tx.send(result);
        }
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        self.pass();
        if let Some(tx) = self.result.take() {
            let _ = tx.send(Err("a runtime thread ended without a result".into()));
        }
    }
}

/// Runs `body` on `threads` threads, each with its share of `items` (connections, addresses);
/// the window runs from the moment all are ready until all have reported the round trips (or
/// requests) they made; their clients stop when `stop` is set, after `duration`.
pub fn on_threads<T, F>(
    items: Vec<T>,
    threads: usize,
    duration: Duration,
    body: F,
) -> Result<Sample, String>
where
    T: Send + 'static,
    F: Fn(Vec<T>, GatePass, Arc<AtomicBool>) + Send + Sync + 'static,
{
    let gate = Arc::new(Gate {
        ready: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let body = Arc::new(body);
    let (tx, rx) = mpsc::channel();
    let per = items.len().div_ceil(threads);
    let mut items = items.into_iter();
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let share: Vec<T> = items.by_ref().take(per).collect();
        let pass = GatePass {
            gate: Arc::clone(&gate),
            passed: false,
            result: Some(tx.clone()),
        };
        let (body, stop) = (Arc::clone(&body), Arc::clone(&stop));
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-rt-{i}"))
                .spawn(move || body(share, pass, stop))
                .map_err(|e| e.to_string())?,
        );
    }
    drop(tx);
    gate.ready.wait();
    let window = Window::start();
    gate.go.wait();
    std::thread::sleep(duration);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut failed = None;
    for _ in 0..threads {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => failed = Some(e),
            Err(_) => {
                failed = Some("the clients did not stop within 10 s".into());
                break;
            }
        }
    }
    let m = window.finish();
    if let Some(e) = failed {
        return Err(e);
    }
    for h in handles {
        h.join().map_err(|_| "a runtime thread panicked")?;
    }
    Ok(Sample::round_trips(total, m))
}

/// Raises the soft limit of open files to `want` (at most the hard limit).
pub fn raise_fd_limit(want: usize) -> Result<(), String> {
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
