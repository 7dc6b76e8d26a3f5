//! Helpers of the C ABI tests (`c_api.rs`, `c_headers.rs`): where the headers, the C sources
//! and the libraries this `cargo test` built are, and how to compile, link and run C programs
//! against them, bounded in time.
#![allow(dead_code)] // each test crate uses its own part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Libraries the Rust standard library needs when linking the static library
/// (`rustc --print native-static-libs`).
pub const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// Every header, as included by a C caller.
pub const HEADERS: &[&str] = &[
    "c_pal/socket_handle.h",
    "c_pal/platform.h",
    "c_pal/execution_engine.h",
    "c_pal/execution_engine_linux.h",
    "c_pal/execution_engine_win32.h",
    "c_pal/socket_transport.h",
    "c_pal/async_socket.h",
];

/// The prefixes of the functions the library exports.
pub const EXPORT_PREFIXES: &[&str] = &[
    "async_socket_",
    "socket_transport_",
    "execution_engine_",
    "platform_",
    "MU_",
];

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn include_dir() -> PathBuf {
    crate_dir().join("include")
}

pub fn c_dir() -> PathBuf {
    crate_dir().join("tests").join("c")
}

/// `target/<profile>/deps`: where this test executable and the libraries it was built with live.
pub fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("deps dir").to_path_buf()
}

pub fn static_lib() -> PathBuf {
    let lib = deps_dir().join("libasock_capi.a");
    assert!(lib.exists(), "{} is missing", lib.display());
    lib
}

pub fn shared_lib() -> PathBuf {
    let lib = deps_dir().join("libasock_capi.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    lib
}

pub fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("asock-capi-c");
    std::fs::create_dir_all(&dir).expect("create the output dir");
    dir
}

pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

pub fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

pub fn valgrind() -> bool {
    std::env::var("ASOCK_CAPI_VALGRIND").is_ok_and(|v| v == "1")
}

/// Whether a missing tool is a failure rather than a skip (`scripts/test-capi.sh` sets it).
pub fn strict() -> bool {
    std::env::var("ASOCK_CAPI_STRICT").is_ok_and(|v| v == "1")
}

pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the C++ compiler is there; without it, a notice (or, when strict, a failure).
pub fn have_cxx() -> bool {
    if have(&cxx()) {
        return true;
    }
    assert!(!strict(), "no C++ compiler ({})", cxx());
    eprintln!(
        "skipped: no C++ compiler ({}); scripts/test-capi.sh installs one",
        cxx()
    );
    false
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command to completion and fails the test with its output if it fails.
pub fn must(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// How a program is linked with the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `libasock_capi.a` and the native libraries of the Rust standard library.
    Static,
    /// `-lasock_capi` against `libasock_capi.so`, found at run time through an rpath.
    Shared,
}

/// Adds the link line of `link` to `cmd`.
pub fn link_args(cmd: &mut Command, link: Link) {
    match link {
        Link::Static => {
            cmd.arg(static_lib()).args(NATIVE_LIBS);
        }
        Link::Shared => {
            let deps = shared_lib().parent().expect("deps").to_path_buf();
            cmd.arg(format!("-L{}", deps.display()))
                .arg(format!("-Wl,-rpath,{}", deps.display()))
                .arg("-lasock_capi");
        }
    }
}

/// Compiles the C source `src` with `compiler` and `flags` (after the include path), links it
/// as `link` says, and returns the executable `out_dir()/exe_name`.
pub fn build(compiler: &str, flags: &[&str], src: &Path, link: Link, exe_name: &str) -> PathBuf {
    let exe = out_dir().join(exe_name);
    let mut cmd = Command::new(compiler);
    // `-x none` ends any `-x LANG` of the flags before the libraries.
    cmd.args(flags)
        .arg("-I")
        .arg(include_dir())
        .arg(src)
        .args(["-x", "none"]);
    link_args(&mut cmd, link);
    cmd.arg("-o").arg(&exe);
    must(&mut cmd, &format!("building {}", src.display()));
    exe
}

/// Runs a program (under valgrind when asked), bounded in time; returns its output. Its output
/// must stay small (it is read once the program has ended).
pub fn run_program(exe: &Path, args: &[&str], under_valgrind: bool) -> Output {
    let mut cmd = if under_valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "-q",
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,possible",
        ])
        .arg(exe);
        if std::env::var_os("ASOCK_TEST_TIMEOUT_SCALE").is_none() {
            c.env("ASOCK_TEST_TIMEOUT_SCALE", "5");
        }
        c
    } else {
        Command::new(exe)
    };
    cmd.args(args);
    let limit = Duration::from_secs(if under_valgrind { 900 } else { 300 });
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{} did not finish within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                exe.display(),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("wait_with_output")
}

/// Compiles `source` (given on stdin) with `compiler` and `flags` into an object file that is
/// thrown away: the compiler's whole front and middle end runs (attribute errors included), no
/// link. Returns the compiler's output; the caller checks its status.
pub fn compile_source(compiler: &str, flags: &[&str], source: &str) -> Output {
    let mut child = Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(include_dir())
        .arg("-I")
        .arg(c_dir())
        .args(["-c", "-o", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(source.as_bytes())
        .expect("write source");
    child.wait_with_output().expect("wait")
}

/// [`compile_source`] that must succeed, without a single diagnostic.
pub fn must_compile(compiler: &str, flags: &[&str], source: &str, what: &str) {
    let out = compile_source(compiler, flags, source);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{what} ({compiler} {flags:?}) failed:\n{source}\n--- stderr\n{}",
        text(&out.stderr)
    );
}
