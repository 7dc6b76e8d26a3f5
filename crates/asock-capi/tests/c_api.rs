//! Builds the C programs under `tests/c/` against the headers in `include/` and the static
//! library this very `cargo test` built (`target/<profile>/deps/libasock_capi.a`), runs them, and
//! checks that the headers and the Rust exports agree:
//!
//! * every header compiles on its own as C99 (`-std=c99 -Wall -Wextra -Werror -pedantic`) and
//!   as C++ (`g++ -x c++ -fsyntax-only`);
//! * `abi_check.c` assigns every exported function to a pointer of c-pal's exact type, links
//!   against the static and the shared library, and prints enum values and struct layouts, which
//!   must equal the Rust side's;
//! * the functions the headers declare are exactly the functions the shared library exports;
//! * the C test programs (c-pal's integration scenarios and more) pass.
//!
//! With `ASOCK_CAPI_VALGRIND=1` every C program runs under
//! `valgrind --error-exitcode=1 --leak-check=full` (waits scaled by `ASOCK_TEST_TIMEOUT_SCALE`,
//! 5 by default there), and a deliberately leaking program must be caught.
//!
//! Linux only (the native libraries of the link line are Linux's). On Windows the same C programs
//! (but test_custom_transport.c) run under Wine from `scripts/test-capi-windows.sh`.
//!
//! Needs a C compiler (`cc`, or `$CC`) and `nm`; the C++ header check needs `c++` (or `$CXX`)
//! and is skipped, with a notice, when there is none, unless `ASOCK_CAPI_STRICT=1`
//! (`scripts/test-capi.sh` installs it and sets that).
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use asock_capi::*;

/// Libraries the Rust standard library needs when linking the static library
/// (`rustc --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The C test programs (without `.c`).
const PROGRAMS: &[&str] = &[
    "test_engine",
    "test_transport",
    "test_async_socket",
    "test_invalid_args",
    "test_custom_transport",
];

/// Every header, as included by a C caller.
const HEADERS: &[&str] = &[
    "c_pal/socket_handle.h",
    "c_pal/platform.h",
    "c_pal/execution_engine.h",
    "c_pal/execution_engine_linux.h",
    "c_pal/execution_engine_win32.h",
    "c_pal/socket_transport.h",
    "c_pal/async_socket.h",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn include_dir() -> PathBuf {
    crate_dir().join("include")
}

fn c_dir() -> PathBuf {
    crate_dir().join("tests").join("c")
}

/// `target/<profile>/deps`: where this test executable and the library it was built with live.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("deps dir").to_path_buf()
}

fn static_lib() -> PathBuf {
    let lib = deps_dir().join("libasock_capi.a");
    assert!(lib.exists(), "{} is missing", lib.display());
    lib
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("asock-capi-c");
    std::fs::create_dir_all(&dir).expect("create the output dir");
    dir
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

fn valgrind() -> bool {
    std::env::var("ASOCK_CAPI_VALGRIND").is_ok_and(|v| v == "1")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command to completion and fails the test with its output if it fails.
fn must(cmd: &mut Command, what: &str) -> Output {
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

/// Compiles `tests/c/<name>.c` against the headers and the static library.
fn build_program(name: &str, std: &str) -> PathBuf {
    let exe = out_dir().join(name);
    let mut cmd = Command::new(cc());
    cmd.arg(format!("-std={std}"))
        .args(["-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(include_dir())
        .arg(c_dir().join(format!("{name}.c")))
        .arg(static_lib())
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(&exe);
    must(&mut cmd, &format!("compiling {name}.c"));
    exe
}

/// Runs a program (under valgrind when asked), bounded in time; returns its output.
fn run_program(exe: &Path, under_valgrind: bool) -> Output {
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

/// Builds and runs one C test program; it must exit 0.
fn run_c_tests(name: &str) {
    let exe = build_program(name, "c11");
    let out = run_program(&exe, valgrind());
    print!("{}", text(&out.stdout));
    eprint!("{}", text(&out.stderr));
    assert!(
        out.status.success(),
        "{name} failed ({}){}:\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        if valgrind() { " under valgrind" } else { "" },
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.ends_with("passed, 0 failed")),
        "{name} printed no summary line"
    );
}

#[test]
fn c_engine() {
    run_c_tests("test_engine");
}

#[test]
fn c_socket_transport_cpal_6_3() {
    run_c_tests("test_transport");
}

#[test]
fn c_async_socket_cpal_6_2_and_close() {
    run_c_tests("test_async_socket");
}

#[test]
fn c_invalid_arguments() {
    run_c_tests("test_invalid_args");
}

#[test]
fn c_custom_transport() {
    run_c_tests("test_custom_transport");
}

#[test]
fn every_program_is_listed() {
    let mut found: Vec<String> = std::fs::read_dir(c_dir())
        .expect("read tests/c")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("test_")
                .and(name.strip_suffix(".c"))
                .map(str::to_owned)
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = PROGRAMS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "tests/c/test_*.c and PROGRAMS differ");
}

#[test]
fn valgrind_catches_a_deliberate_leak() {
    if !valgrind() {
        return;
    }
    let exe = build_program("leak_canary", "c99");
    let out = run_program(&exe, true);
    assert!(
        !out.status.success(),
        "valgrind did not report the leak of leak_canary:\n{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("definitely lost"),
        "unexpected valgrind output:\n{}",
        text(&out.stderr)
    );
}

/// Compiles a source given on stdin with the given compiler and flags (syntax only).
fn syntax_check(compiler: &str, flags: &[&str], source: &str, what: &str) {
    let mut child = Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(include_dir())
        .args(["-fsyntax-only", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(source.as_bytes())
        .expect("write source");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{what} failed:\n{source}\n--- stderr\n{}",
        text(&out.stderr)
    );
}

#[test]
fn headers_compile_alone_as_c99_pedantic() {
    let flags = [
        "-x",
        "c",
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ];
    for h in HEADERS {
        // Alone, and twice (include guards).
        let source =
            format!("#include \"{h}\"\n#include \"{h}\"\nint main(void) {{ return 0; }}\n");
        syntax_check(&cc(), &flags, &source, &format!("C99 compile of {h}"));
    }
    let all: String = HEADERS
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    syntax_check(&cc(), &flags, &all, "C99 compile of every header");
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn headers_compile_alone_as_cpp() {
    if !have(&cxx()) {
        let strict = std::env::var("ASOCK_CAPI_STRICT").is_ok_and(|v| v == "1");
        assert!(!strict, "no C++ compiler ({})", cxx());
        eprintln!(
            "skipped: no C++ compiler ({}); scripts/test-capi.sh installs one",
            cxx()
        );
        return;
    }
    let flags = [
        "-x",
        "c++",
        "-std=c++11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ];
    for h in HEADERS {
        let source = format!("#include \"{h}\"\n#include \"{h}\"\nint main() {{ return 0; }}\n");
        syntax_check(&cxx(), &flags, &source, &format!("C++ compile of {h}"));
    }
    let all: String = HEADERS
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    syntax_check(&cxx(), &flags, &all, "C++ compile of every header");
}

/// The enum values, constants and layouts the Rust side uses, named as `abi_check.c` prints them.
fn rust_side() -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = Vec::new();
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { $( v.push((stringify!($name).to_string(), $name as i64)); )* };
    }
    consts!(
        ASYNC_SOCKET_OPEN_OK,
        ASYNC_SOCKET_OPEN_ERROR,
        ASYNC_SOCKET_SEND_SYNC_OK,
        ASYNC_SOCKET_SEND_SYNC_ERROR,
        ASYNC_SOCKET_SEND_SYNC_NOT_OPEN,
        ASYNC_SOCKET_SEND_OK,
        ASYNC_SOCKET_SEND_ERROR,
        ASYNC_SOCKET_SEND_ABANDONED,
        ASYNC_SOCKET_RECEIVE_OK,
        ASYNC_SOCKET_RECEIVE_ERROR,
        ASYNC_SOCKET_RECEIVE_ABANDONED,
        ASYNC_SOCKET_NOTIFY_IO_TYPE_IN,
        ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_IN,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR,
        SOCKET_SEND_INVALID_ARG,
        SOCKET_SEND_OK,
        SOCKET_SEND_ERROR,
        SOCKET_SEND_FAILED,
        SOCKET_SEND_SHUTDOWN,
        SOCKET_RECEIVE_INVALID_ARG,
        SOCKET_RECEIVE_OK,
        SOCKET_RECEIVE_WOULD_BLOCK,
        SOCKET_RECEIVE_ERROR,
        SOCKET_RECEIVE_SHUTDOWN,
        SOCKET_ACCEPT_OK,
        SOCKET_ACCEPT_ERROR,
        SOCKET_ACCEPT_PORT_EXHAUSTION,
        SOCKET_ACCEPT_INPROGRESS,
        SOCKET_ACCEPT_NO_CONNECTION,
        SOCKET_BINDING,
        SOCKET_CLIENT,
        ADDRESS_INET,
        ADDRESS_INET_6,
        ADDRESS_NETBIOS,
        DEFAULT_MIN_THREAD_COUNT,
        DEFAULT_MAX_THREAD_COUNT,
        MAX_GET_HOST_NAME_LEN,
        MAX_LOCAL_ADDRESS_LEN,
        INVALID_SOCKET,
    );
    macro_rules! layout {
        ($ty:ident { $($field:ident),* }) => {
            v.push((format!("sizeof({})", stringify!($ty)), size_of::<$ty>() as i64));
            $( v.push((
                format!("offsetof({}.{})", stringify!($ty), stringify!($field)),
                offset_of!($ty, $field) as i64,
            )); )*
        };
    }
    layout!(EXECUTION_ENGINE_PARAMETERS {
        min_thread_count,
        max_thread_count
    });
    layout!(ASYNC_SOCKET_BUFFER { buffer, length });
    layout!(SOCKET_BUFFER { length, buffer });
    layout!(LOCAL_ADDRESS {
        address_type,
        address
    });
    v.push((
        "sizeof(SOCKET_HANDLE)".into(),
        size_of::<SOCKET_HANDLE>() as i64,
    ));
    v
}

fn compare_with_rust(stdout: &str) {
    let c_side: Vec<(String, i64)> = stdout
        .lines()
        .filter(|l| !l.starts_with("functions "))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("NAME VALUE");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect();
    assert_eq!(
        c_side,
        rust_side(),
        "the header's values or layouts differ from the Rust side's"
    );
    assert!(
        stdout.contains(&format!("functions {}", header_functions().len())),
        "abi_check.c does not check every declared function:\n{stdout}"
    );
}

#[test]
fn abi_check_links_statically_and_agrees_with_rust() {
    // The strictest flags: the check file is plain C99.
    let exe = out_dir().join("abi_check");
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(include_dir())
        .arg(c_dir().join("abi_check.c"))
        .arg(static_lib())
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(&exe);
    must(&mut cmd, "compiling and linking abi_check.c (static)");
    let out = must(&mut Command::new(&exe), "running abi_check");
    compare_with_rust(&text(&out.stdout));
}

#[test]
fn abi_check_links_dynamically() {
    let exe = out_dir().join("abi_check_shared");
    let deps = deps_dir();
    assert!(
        deps.join("libasock_capi.so").exists(),
        "libasock_capi.so is missing"
    );
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(include_dir())
        .arg(c_dir().join("abi_check.c"))
        .arg(format!("-L{}", deps.display()))
        .arg(format!("-Wl,-rpath,{}", deps.display()))
        .arg("-lasock_capi")
        .arg("-o")
        .arg(&exe);
    must(&mut cmd, "compiling and linking abi_check.c (shared)");
    let out = must(&mut Command::new(&exe), "running abi_check (shared)");
    compare_with_rust(&text(&out.stdout));
}

/// The functions the (non-Windows) headers declare: the identifier before the first `(` of every
/// top-level declaration line ending in `);`.
fn header_functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for h in HEADERS {
        if h.ends_with("_win32.h") {
            continue; // declares nothing off Windows
        }
        let source = std::fs::read_to_string(include_dir().join(h)).expect("read header");
        for line in source.lines() {
            let line = line.trim();
            if line.starts_with('#')
                || line.starts_with("/*")
                || line.starts_with('*')
                || line.starts_with("typedef")
                || !line.ends_with(");")
            {
                continue;
            }
            let Some(open) = line.find('(') else { continue };
            let name = line[..open]
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if !name.is_empty() {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn declared_functions_are_exactly_the_exported_ones() {
    let so = deps_dir().join("libasock_capi.so");
    let out = must(
        Command::new("nm").args(["-D", "--defined-only"]).arg(&so),
        "nm -D on libasock_capi.so",
    );
    let exported: BTreeSet<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .filter(|n| {
            [
                "async_socket_",
                "socket_transport_",
                "execution_engine_",
                "platform_",
            ]
            .iter()
            .any(|p| n.starts_with(p))
        })
        .collect();
    let declared = header_functions();
    assert_eq!(
        declared, exported,
        "header declarations (left) and library exports (right) differ"
    );
    assert_eq!(declared.len(), 28, "{declared:?}");
}
