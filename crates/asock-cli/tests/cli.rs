//! The `asock` command end to end: echo server and client over loopback, and a short bench run
//! whose JSON and SVG outputs are checked.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn asock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asock"))
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
    let out = asock()
        .args(["echo-client", &addr, "--messages", "20", "--size", "3000"])
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("20 messages of 3000 B echoed and checked"),
        "{stdout}"
    );
    // The server leaves by itself once its one connection is gone.
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
    let out = asock()
        .args(["echo-client", &format!("127.0.0.1:{port}")])
        .output()
        .expect("client runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect"));
}

#[test]
fn bench_writes_a_table_json_and_svg_with_checked_work() {
    let dir = std::env::temp_dir().join(format!("asock-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (json, svg) = (dir.join("b.json"), dir.join("b.svg"));
    let out = asock()
        .args([
            "bench",
            "--scenario",
            "P1,P4",
            "--rounds",
            "1",
            "--duration",
            "0.2",
        ])
        .args(["--idle-sockets", "50", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in ["P1", "P4", "asock", "tokio-mt(2)", "one-thread limit"] {
        assert!(stdout.contains(needle), "table lacks {needle}: {stdout}");
    }
    let j = std::fs::read_to_string(&json).expect("json written");
    assert!(
        j.starts_with("{\"command\":") && j.trim_end().ends_with('}'),
        "{j}"
    );
    assert!(
        j.contains("\"id\":\"P1\"") && j.contains("\"samples\":[{\"value\":"),
        "{j}"
    );
    // Every P1 sample counted real round trips.
    assert!(
        !j.contains("\"work\":0,"),
        "a system reported a figure for no work: {j}"
    );
    let s = std::fs::read_to_string(&svg).expect("svg written");
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_give_a_clear_error() {
    for args in [
        vec!["bench", "--rounds", "x"],
        vec!["bench", "--scenario", "P9"],
        vec!["bench", "--nonsense", "1"],
        vec!["echo-client"],
        vec!["frobnicate"],
    ] {
        let out = asock().args(&args).output().expect("runs");
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("asock: "),
            "{args:?}"
        );
    }
}
