//! The run's details: versions, date, machine, backend, command line.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Serialize, Debug)]
pub struct Meta {
    /// Version of the asock library.
    pub asock_version: &'static str,
    /// When the run ended, UTC (RFC 3339).
    pub date: String,
    /// The command line, one element per argument.
    pub command: Vec<String>,
    /// `uname`: system, release, version, machine.
    pub kernel: String,
    pub cpu_model: String,
    pub cpu_count: usize,
    /// asock's engine backend(s).
    pub backend: String,
    /// The driver each peer runtime uses here (io_uring, or the fallback it took).
    pub peer_drivers: Vec<PeerDriver>,
    pub rounds: usize,
    /// Length of each system's timed run, seconds.
    pub seconds_per_run: f64,
    pub total_seconds: f64,
    /// How CPU time per operation is measured.
    pub cpu_time: &'static str,
    /// CPU the idle process used (all engines and runtimes made), percent of one core.
    pub idle_cpu_percent: f64,
}

#[derive(Serialize, Debug)]
pub struct PeerDriver {
    pub runtime: String,
    pub driver: String,
}

pub const CPU_TIME: &str = "process CPU time (user + system, all threads, getrusage RUSAGE_SELF) over each system's timed window, divided by its operations; the other systems' threads are idle meanwhile";

impl Meta {
    pub fn collect(
        backend: &str,
        rounds: usize,
        seconds_per_run: f64,
        total_seconds: f64,
        idle_cpu_percent: f64,
        peer_drivers: Vec<(String, String)>,
    ) -> Meta {
        Meta {
            asock_version: env!("ASOCK_VERSION"),
            date: utc_now(),
            command: std::env::args().collect(),
            kernel: kernel(),
            cpu_model: cpu_model(),
            cpu_count: std::thread::available_parallelism().map_or(0, |n| n.get()),
            backend: backend.to_string(),
            peer_drivers: peer_drivers
                .into_iter()
                .map(|(runtime, driver)| PeerDriver { runtime, driver })
                .collect(),
            rounds,
            seconds_per_run,
            total_seconds,
            cpu_time: CPU_TIME,
            idle_cpu_percent,
        }
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn kernel() -> String {
    // SAFETY: an all-zero utsname is a valid value of this plain C struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes into the live local `u`.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine)
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rfc3339_utc() {
        let d = super::utc_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.ends_with('Z') && d.as_bytes()[10] == b'T', "{d}");
        assert!(d.as_str() > "2024-01-01", "{d}");
    }
}
