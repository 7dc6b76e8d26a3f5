//! The `asock` command end to end: its argument handling (help, version, unknown options, bad
//! values, output paths checked before a run), the echo server and client over loopback, and a
//! `--quick` bench run whose table, JSON and SVG are checked.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn asock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asock"))
}

fn run(args: &[&str]) -> Output {
    asock().args(args).output().expect("asock runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_command_has_help_naming_its_options() {
    for (args, needles) in [
        (
            vec!["--help"],
            vec!["echo-server", "echo-client", "bench", "--version"],
        ),
        (
            vec!["bench", "--help"],
            vec![
                "--quick",
                "--scenario",
                "--rounds",
                "--duration",
                "--connections",
                "--http-connections",
                "--idle-sockets",
                "--only",
                "--backend",
                "--json",
                "--svg",
                "P5",
            ],
        ),
        (vec!["bench", "-h"], vec!["Usage: asock bench", "--quick"]),
        (vec!["help", "bench"], vec!["Usage: asock bench"]),
        (
            vec!["echo-server", "-h"],
            vec!["--listen", "--max-connections"],
        ),
        (
            vec!["echo-client", "--help"],
            vec!["<ADDR>", "--messages", "--size", "--timeout"],
        ),
    ] {
        let out = run(&args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        for n in needles {
            assert!(stdout.contains(n), "{args:?} help lacks {n}: {stdout}");
        }
        // Help is all it does: no benchmark, no server.
        assert!(
            !stdout.contains("asock bench: asock "),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn version_is_printed_at_every_level() {
    for args in [vec!["--version"], vec!["-V"], vec!["bench", "--version"]] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with("asock") && stdout.contains(env!("CARGO_PKG_VERSION")),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn unknown_options_and_bad_values_are_refused_before_anything_runs() {
    for (args, says) in [
        (vec!["bench", "--bogus"], "unexpected argument '--bogus'"),
        (vec!["bench", "--nonsense", "1"], "unexpected argument"),
        (vec!["bench", "--rounds", "x"], "--rounds"),
        (vec!["bench", "--rounds", "0"], "--rounds"),
        (vec!["bench", "--duration", "0"], "--duration"),
        (vec!["bench", "--duration", "soon"], "--duration"),
        (vec!["bench", "--scenario", "P9"], "--scenario"),
        (vec!["bench", "--backend", "kqueue"], "--backend"),
        (vec!["bench", "--connections", "1"], "--connections"),
        (vec!["bench", "--connections=-3"], "--connections"),
        (vec!["bench", "--only", "nosuch"], "no such system"),
        (vec!["bench", "--quick", "extra"], "unexpected argument"),
        (vec!["echo-client"], "<ADDR>"),
        (vec!["echo-client", "localhost"], "HOST:PORT"),
        (vec!["echo-client", "127.0.0.1:99999"], "port"),
        (vec!["echo-client", "127.0.0.1:1", "--size", "0"], "--size"),
        (vec!["echo-server", "--listen", "nope"], "--listen"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let started = Instant::now();
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            text(&out.stdout)
        );
        // Refused at once: far from even one benchmark run.
        assert!(started.elapsed() < Duration::from_secs(20), "{args:?}");
    }
}

#[test]
fn an_unwritable_output_path_fails_before_the_run() {
    let missing = std::env::temp_dir().join(format!("asock-no-such-dir-{}", std::process::id()));
    for flag in ["--json", "--svg"] {
        let path = missing.join("out.file");
        let out = asock()
            .args(["bench", "--quick", flag])
            .arg(&path)
            .output()
            .expect("runs");
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.starts_with("asock: ")
                && stderr.contains(flag)
                && stderr.contains("cannot write"),
            "{stderr}"
        );
        // No round ran: no progress line, no table.
        assert!(!stderr.contains("round 1"), "{stderr}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
    assert!(!missing.exists());
}

/// "15.87ms", "9.4µs", "1.20s", "800ns" as seconds.
fn seconds(s: &str) -> f64 {
    let s = s.trim_end_matches([',', ';']);
    for (unit, scale) in [("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)] {
        if let Some(v) = s.strip_suffix(unit) {
            return v.parse::<f64>().expect("a number") * scale;
        }
    }
    panic!("not a duration: {s}");
}

#[test]
fn echo_client_gets_every_message_back_from_echo_server() {
    let mut server = asock()
        .args([
            "echo-server",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    // "echo server on 127.0.0.1:PORT (...)"
    let addr = first
        .split_whitespace()
        .nth(3)
        .expect("the address")
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    let out = run(&["echo-client", &addr, "--messages", "20", "--size", "300000"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {stdout} {}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("20 messages of 300000 B echoed and checked"),
        "{stdout}"
    );
    // Every statistic comes from the same per-round-trip times: min <= mean <= worst.
    let stat = |name: &str| {
        let at = stdout.find(&format!("{name} ")).expect(name) + name.len() + 1;
        seconds(stdout[at..].split_whitespace().next().expect("a value"))
    };
    let (min, mean, p50, worst) = (stat("min"), stat("mean"), stat("p50"), stat("worst"));
    assert!(
        min <= mean && mean <= worst && min <= p50 && p50 <= worst,
        "{stdout}"
    );
    // The server logs the client's close as such, then leaves by itself.
    let log: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        log.iter().any(|l| l == "connection 1: peer closed"),
        "{log:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.try_wait().expect("wait") {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after its connection ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn echo_client_reports_a_refused_connection() {
    // A port that was free a moment ago: nobody listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = run(&["echo-client", &format!("127.0.0.1:{port}")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("asock: connect"), "{stderr}");
}

#[test]
fn a_quick_bench_writes_a_table_json_and_svg_of_checked_work() {
    let dir = std::env::temp_dir().join(format!("asock-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (json, svg) = (dir.join("b.json"), dir.join("b.svg"));
    let out = asock()
        .args(["bench", "--quick", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("bench runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout} {stderr}");
    // stderr is not a terminal here: one plain progress line per round.
    assert!(stderr.contains("round 1/1 done"), "{stderr}");
    for needle in [
        "P1",
        "P2",
        "P3",
        "P4",
        "P5",
        "min-max",
        "CPU µs/op",
        "allocs/op",
        "asock",
        "asock async",
        "tokio-mt(2)",
        "compio",
        "monoio",
        "compio-x2",
        "monoio-x2",
        "one-thread limit",
        "asock spawn",
        "asock tokio-tasks",
        "x tokio-mt(2)",
    ] {
        assert!(stdout.contains(needle), "table lacks {needle}: {stdout}");
    }

    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid JSON");
    let meta = &j["meta"];
    for key in [
        "asock_version",
        "date",
        "kernel",
        "cpu_model",
        "backend",
        "cpu_time",
    ] {
        assert!(
            meta[key].as_str().is_some_and(|s| !s.is_empty()),
            "meta.{key}: {meta}"
        );
    }
    assert!(meta["date"].as_str().unwrap().ends_with('Z'), "{meta}");
    assert!(meta["cpu_count"].as_u64().unwrap() >= 1);
    assert_eq!(meta["rounds"], 1);
    let command: Vec<&str> = meta["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        command.contains(&"bench") && command.contains(&"--quick"),
        "{command:?}"
    );
    let drivers = meta["peer_drivers"].as_array().expect("peer drivers");
    assert_eq!(drivers.len(), 2, "{meta}");

    let scenarios = j["scenarios"].as_array().expect("scenarios");
    let ids: Vec<&str> = scenarios.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, ["P1", "P2", "P3", "P4", "P5"]);
    for s in scenarios {
        let id = s["id"].as_str().unwrap();
        let timed = id != "P4";
        let references: Vec<&str> = s["references"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .collect();
        assert!(references.contains(&"tokio-mt(2)"), "{id}: {references:?}");
        let systems = s["systems"].as_array().expect("systems");
        let names: Vec<&str> = systems.iter().filter_map(|y| y["name"].as_str()).collect();
        for y in systems {
            let name = y["name"].as_str().unwrap();
            let samples = y["samples"].as_array().expect("samples");
            assert_eq!(samples.len(), 1, "{id} {name}: one round, one sample");
            for x in samples {
                // Every figure comes from checked work.
                assert!(x["work"].as_u64().unwrap() > 0, "{id} {name}: {x}");
                assert!(x["value"].as_f64().unwrap() > 0.0, "{id} {name}: {x}");
                if timed {
                    assert!(x["ops"].as_f64().unwrap() > 0.0, "{id} {name}: {x}");
                    assert!(x["seconds"].as_f64().unwrap() > 0.3, "{id} {name}: {x}");
                    assert!(x["cpu_seconds"].as_f64().unwrap() > 0.0, "{id} {name}: {x}");
                }
            }
            assert_eq!(y["cpu_us_per_op"].is_f64(), timed, "{id} {name}: {y}");
            assert!(y["median"].as_f64().unwrap() <= y["max"].as_f64().unwrap());
            assert!(y["min"].as_f64().unwrap() <= y["median"].as_f64().unwrap());
            // Ratios to every reference but never to itself.
            let ratios = y["ratios"].as_object().expect("ratios");
            assert!(!ratios.contains_key(name), "{id} {name}: a ratio to itself");
            for r in &references {
                if r != &name {
                    let ratio = &ratios[*r];
                    assert!(ratio["median"].as_f64().unwrap() > 0.0, "{id} {name} x {r}");
                    assert_eq!(ratio["per_round"].as_array().unwrap().len(), 1);
                }
            }
            if id == "P5" {
                assert!(y["server_errors"].is_u64(), "{y}");
            }
        }
        let expected: &[&str] = match id {
            "P1" => &[
                "asock",
                "asock async",
                "tokio-mt(2)",
                "tokio-ct",
                "compio",
                "monoio",
                "one-thread limit",
            ],
            "P3" => &["asock", "tokio-mt(2)", "compio-x2", "monoio-x2"],
            "P5" => &["asock spawn", "asock tokio-tasks", "tokio-mt(2)"],
            _ => &["asock", "tokio-mt(2)"],
        };
        for e in expected {
            assert!(names.contains(e), "{id} lacks {e}: {names:?}");
        }
    }

    let s = std::fs::read_to_string(&svg).expect("svg written");
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    assert!(
        s.contains("command: ") && s.contains("asock backend"),
        "no caption"
    );
    // Every asock variant is drawn highlighted, and every bar carries its value.
    let highlighted = s.matches("fill=\"#2b6cb0\"").count();
    let asock_rows = scenarios
        .iter()
        .flat_map(|s| s["systems"].as_array().unwrap())
        .filter(|y| y["name"].as_str().unwrap().starts_with("asock"))
        .count();
    assert_eq!(highlighted, asock_rows, "{s}");
    assert!(s.contains("round trips/s)"), "bars carry their values");
    let _ = std::fs::remove_dir_all(&dir);
}
