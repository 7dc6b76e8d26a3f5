//! Builds the C programs under `tests/c/` against the headers in `include/` and the libraries
//! this very `cargo test` built (`target/<profile>/deps/libasock_capi.{a,so}`), runs them, and
//! checks that the library and the headers agree:
//!
//! * `abi_check.c` assigns every exported function to a pointer of c-pal's exact type, links
//!   against the static and the shared library, and prints enum values and struct layouts, which
//!   must equal the Rust side's;
//! * the functions the headers declare (as the C preprocessor sees them) are exactly the
//!   functions the shared library exports;
//! * the C test programs pass: c-pal's integration scenarios and more, a program written as
//!   c-pal programs are today (`test_cpal_style.c`: open with a `SOCKET_HANDLE`, names through
//!   its own macro_utils' `MU_ENUM_TO_STRING`) and one written against the seed's signature
//!   (`test_seed_style.c`: open with a `SOCKET_TRANSPORT_HANDLE`), these two statically and
//!   against the shared library and in each way of selecting the open entry point.
//!
//! The header checks (compile modes, the open dispatch, macro_utils, the README's example) are
//! in `c_headers.rs`.
//!
//! With `ASOCK_CAPI_VALGRIND=1` every C program runs under
//! `valgrind --error-exitcode=1 --leak-check=full` (waits scaled by `ASOCK_TEST_TIMEOUT_SCALE`,
//! 5 by default there), and a deliberately leaking program must be caught.
//!
//! Linux only (the native libraries of the link line are Linux's). On Windows the same C programs
//! (but test_custom_transport.c) run under Wine from `scripts/test-capi-windows.sh`.
//!
//! Needs a C compiler (`cc`, or `$CC`) and `nm`.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};
use std::process::{Command, Stdio};

use asock_capi::*;
use common::*;

/// The C test programs (without `.c`).
const PROGRAMS: &[&str] = &[
    "test_engine",
    "test_transport",
    "test_async_socket",
    "test_invalid_args",
    "test_custom_transport",
    "test_enums",
    "test_cpal_style",
    "test_seed_style",
];

/// The number of functions the library exports (and the headers declare) on Linux.
const EXPORTED_FUNCTIONS: usize = 40;

/// Builds `tests/c/<name>.c` with `flags` (warnings are errors), linked as `link`, runs it (under
/// valgrind when asked); it must exit 0 and print its summary line.
fn run_c_tests_with(name: &str, flags: &[&str], link: Link, variant: &str) {
    let mut all = vec!["-Wall", "-Wextra", "-Werror", "-g", "-O1"];
    all.extend_from_slice(flags);
    let src = c_dir().join(format!("{name}.c"));
    let exe = build(&cc(), &all, &src, link, &format!("{name}-{variant}"));
    let out = run_program(&exe, &[], valgrind());
    print!("{}", text(&out.stdout));
    eprint!("{}", text(&out.stderr));
    assert!(
        out.status.success(),
        "{name} ({variant}) failed ({}){}:\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        if valgrind() { " under valgrind" } else { "" },
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.ends_with("passed, 0 failed")),
        "{name} ({variant}) printed no summary line"
    );
}

/// The usual build: C11, static.
fn run_c_tests(name: &str) {
    run_c_tests_with(name, &["-std=c11", "-D_GNU_SOURCE"], Link::Static, "c11");
}

#[test]
fn c_engine() {
    run_c_tests("test_engine");
}

#[test]
fn c_socket_transport_cpal_integration_scenarios() {
    run_c_tests("test_transport");
}

#[test]
fn c_async_socket_cpal_integration_scenarios_and_close() {
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
fn c_enums_are_named_as_macro_utils_names_them() {
    run_c_tests("test_enums");
}

/// c-pal's flags, static and shared; GNU C99 (the dispatch through GNU builtins); and the define
/// that selects the socket-handle form for compilers without `_Generic`.
#[test]
fn c_cpal_style_program_builds_unchanged_and_passes() {
    let name = "test_cpal_style";
    run_c_tests_with(name, &["-std=gnu11"], Link::Static, "gnu11-static");
    run_c_tests_with(name, &["-std=gnu11"], Link::Shared, "gnu11-shared");
    run_c_tests_with(name, &["-std=gnu99"], Link::Static, "gnu99-static");
    let define = [
        "-std=c11",
        "-D_GNU_SOURCE",
        "-DASOCK_OPEN_WITH_SOCKET_HANDLE",
    ];
    run_c_tests_with(name, &define, Link::Static, "define-static");
}

#[test]
fn c_seed_style_program_builds_unchanged_and_passes() {
    let name = "test_seed_style";
    let c11 = ["-std=c11", "-D_GNU_SOURCE", "-pedantic"];
    run_c_tests_with(name, &c11, Link::Static, "c11-static");
    run_c_tests_with(name, &c11, Link::Shared, "c11-shared");
    run_c_tests_with(name, &["-std=gnu99"], Link::Static, "gnu99-static");
}

#[test]
fn every_program_is_listed() {
    let mut found: Vec<String> = std::fs::read_dir(c_dir())
        .expect("read tests/c")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".c")
                .filter(|n| n.starts_with("test_"))
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
    let src = c_dir().join("leak_canary.c");
    let exe = build(
        &cc(),
        &["-std=c99", "-g"],
        &src,
        Link::Static,
        "leak_canary",
    );
    let out = run_program(&exe, &[], true);
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

/// The strictest flags: the check file is plain C99.
const ABI_CHECK_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];

#[test]
fn abi_check_links_statically_and_agrees_with_rust() {
    let src = c_dir().join("abi_check.c");
    let exe = build(&cc(), ABI_CHECK_FLAGS, &src, Link::Static, "abi_check");
    let out = must(&mut Command::new(&exe), "running abi_check");
    compare_with_rust(&text(&out.stdout));
}

#[test]
fn abi_check_links_dynamically() {
    let src = c_dir().join("abi_check.c");
    let exe = build(
        &cc(),
        ABI_CHECK_FLAGS,
        &src,
        Link::Shared,
        "abi_check_shared",
    );
    let out = must(&mut Command::new(&exe), "running abi_check (shared)");
    compare_with_rust(&text(&out.stdout));
}

/// The functions the headers declare, as the C preprocessor sees them on this platform: every
/// identifier with one of [`EXPORT_PREFIXES`] followed by `(` in the preprocessed headers (which
/// hold declarations only; macros are gone).
fn header_functions() -> BTreeSet<String> {
    let source: String = HEADERS
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    let mut child = Command::new(cc())
        .args(["-std=c11", "-E", "-P", "-x", "c", "-I"])
        .arg(include_dir())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the C preprocessor");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(source.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "cc -E failed: {}", text(&out.stderr));
    declared_names(&text(&out.stdout))
}

/// Identifiers with an export prefix directly followed (spaces aside) by `(`.
fn declared_names(preprocessed: &str) -> BTreeSet<String> {
    let bytes = preprocessed.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident(bytes[i]) || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let name = &preprocessed[start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < bytes.len()
            && bytes[j] == b'('
            && EXPORT_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            names.insert(name.to_string());
        }
    }
    names
}

#[test]
fn declared_functions_are_exactly_the_exported_ones() {
    let out = must(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(shared_lib()),
        "nm -D on libasock_capi.so",
    );
    let exported: BTreeSet<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .filter(|n| EXPORT_PREFIXES.iter().any(|p| n.starts_with(p)))
        .collect();
    let declared = header_functions();
    assert_eq!(
        declared, exported,
        "header declarations (left) and library exports (right) differ"
    );
    assert_eq!(declared.len(), EXPORTED_FUNCTIONS, "{declared:?}");
}
