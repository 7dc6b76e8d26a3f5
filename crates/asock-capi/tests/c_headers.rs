//! The headers as C and C++ programs meet them:
//!
//! * every header, alone, twice (include guards) and all together, and a program that uses the
//!   enum names and both open forms, compile without a diagnostic as `-std=gnu11 -Wall -Wextra
//!   -Werror` (c-pal's flags), `-std=c99 -pedantic`, `-std=c11 -pedantic`, and as C++11 / C++17;
//! * `async_socket_open_async` picks its entry point by the argument's type, and any other type
//!   is a compile error, in each way of selecting (C11 `_Generic`, GNU builtins before C11, C++
//!   overloads); the C++ overloads open and refuse as they should at run time too;
//! * macro_utils' definitions of the `MU_` macros, included after the headers, clash with
//!   nothing (before them: `test_cpal_style.c` with `cpal_macro_utils.h`);
//! * the README's C example compiles as C and C++ and, against an echo server started here on a
//!   kernel-chosen port, prints its results by name; with nothing listening it says so.
//!
//! Needs a C compiler (`cc`, or `$CC`); the C++ checks need `c++` (or `$CXX`) and are skipped,
//! with a notice, when there is none, unless `ASOCK_CAPI_STRICT=1` (`scripts/test-capi.sh`
//! installs it and sets that).
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;

const C_MODES: &[&[&str]] = &[
    &["-x", "c", "-std=gnu11", "-Wall", "-Wextra", "-Werror"],
    &[
        "-x",
        "c",
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ],
    &[
        "-x",
        "c",
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ],
];

const CXX_MODES: &[&[&str]] = &[
    &[
        "-x",
        "c++",
        "-std=c++11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ],
    &[
        "-x",
        "c++",
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ],
];

/// A program that touches every kind of thing the headers define (`tests/c/uses_headers.c`).
fn uses() -> String {
    std::fs::read_to_string(c_dir().join("uses_headers.c")).expect("uses_headers.c")
}

fn check_headers(compiler: &str, modes: &[&[&str]]) {
    for flags in modes {
        for h in HEADERS {
            let once =
                format!("#include \"{h}\"\n#include \"{h}\"\nint main(void) {{ return 0; }}\n");
            must_compile(compiler, flags, &once, &format!("{h} alone"));
        }
        let all: String = HEADERS
            .iter()
            .map(|h| format!("#include \"{h}\"\n"))
            .collect();
        must_compile(compiler, flags, &all, "every header");
        must_compile(compiler, flags, &uses(), "a program using the headers");
        // macro_utils first (the tests' stand-in, spelled differently): no clash either.
        let first = format!("#include \"cpal_macro_utils.h\"\n{all}{}", uses());
        must_compile(compiler, flags, &first, "macro_utils, then the headers");
    }
}

#[test]
fn headers_compile_cleanly_as_c() {
    check_headers(&cc(), C_MODES);
}

#[test]
fn headers_compile_cleanly_as_cpp() {
    if have_cxx() {
        check_headers(&cxx(), CXX_MODES);
    }
}

/// A call of `async_socket_open_async` with a second argument of type `ty`
/// (`tests/c/open_with.c`).
fn call_with(ty: &str) -> String {
    let call = std::fs::read_to_string(c_dir().join("open_with.c")).expect("open_with.c");
    format!("#define ARG_TYPE {ty}\n{call}")
}

const WRONG_TYPES: &[&str] = &[
    "long",
    "unsigned int",
    "char",
    "double",
    "char*",
    "const void*",
    "SOCKET_TRANSPORT_HANDLE*",
    "ASYNC_SOCKET_HANDLE",
    "EXECUTION_ENGINE_HANDLE",
];

/// Each wrong type fails to compile with `compiler` and `flags`, saying `why`; the right ones
/// compile.
fn check_dispatch(compiler: &str, flags: &[&str], why: &str) {
    for ty in [
        "SOCKET_TRANSPORT_HANDLE",
        "SOCKET_HANDLE",
        "const SOCKET_HANDLE",
    ] {
        must_compile(
            compiler,
            flags,
            &call_with(ty),
            &format!("open with a {ty}"),
        );
    }
    for ty in WRONG_TYPES {
        let out = compile_source(compiler, flags, &call_with(ty));
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "{compiler} {flags:?}: open with a {ty} compiled"
        );
        assert!(
            stderr.contains(why),
            "{compiler} {flags:?}: open with a {ty} failed without saying \"{why}\":\n{stderr}"
        );
    }
}

#[test]
fn open_with_a_wrong_type_is_a_compile_error_in_c() {
    let c11 = C_MODES[2];
    assert!(c11.contains(&"-std=c11"));
    check_dispatch(&cc(), c11, "_Generic");
    let gnu99 = ["-x", "c", "-std=gnu99", "-Wall", "-Wextra", "-Werror"];
    check_dispatch(
        &cc(),
        &gnu99,
        "async_socket_open_async needs a SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE",
    );
    // The define for compilers without either: the socket-handle form, with C's own checks
    // (a transport is no int).
    let define = [
        "-x",
        "c",
        "-std=c99",
        "-Wall",
        "-Werror",
        "-DASOCK_OPEN_WITH_SOCKET_HANDLE",
    ];
    must_compile(
        &cc(),
        &define,
        &call_with("SOCKET_HANDLE"),
        "the define, with a SOCKET_HANDLE",
    );
    let out = compile_source(&cc(), &define, &call_with("SOCKET_TRANSPORT_HANDLE"));
    assert!(!out.status.success(), "the define accepted a transport");
}

#[test]
fn open_with_a_wrong_type_is_a_compile_error_in_cpp() {
    if !have_cxx() {
        return;
    }
    for std in ["-std=c++11", "-std=c++17"] {
        let flags = ["-x", "c++", std, "-Wall", "-Wextra", "-Werror"];
        check_dispatch(&cxx(), &flags, "deleted");
        // C++'s NULL is an integer constant: refused too (nullptr is the transport form).
        let null = call_with("SOCKET_HANDLE").replace("(s, x, on_open", "(s, NULL, on_open");
        assert!(
            null.contains("(s, NULL, on_open"),
            "open_with.c changed its call"
        );
        let out = compile_source(&cxx(), &flags, &null);
        assert!(!out.status.success(), "C++: open with NULL compiled");
    }
}

/// macro_utils' own definitions of the macros the headers also define, as macro_utils spells
/// them: included after the headers they are identical redefinitions, which C allows silently.
const MACRO_UTILS_SPELLING: &str = "\
#define MU_C2_(x,y) x##y
#define MU_C2(x,y) MU_C2_(x,y)
#define MU_C3(x,y,z) MU_C2(x, MU_C2(y,z))
#define MU_ENUM_TO_STRING(enumName, value) \\
    MU_C3(MU_, enumName, _ToString)(value)
#define PRI_MU_ENUM \"s%s (%d)\"
#define MU_ENUM_VALUE(enumIdentifier, value) \"\", MU_ENUM_TO_STRING(enumIdentifier, (value)), (int)(value)
";

#[test]
fn macro_utils_after_the_headers_redefines_nothing_differently() {
    let after = format!(
        "{}\n{MACRO_UTILS_SPELLING}\nint main(void) {{ return 0; }}\n",
        uses()
    );
    for flags in C_MODES {
        must_compile(&cc(), flags, &after, "the headers, then macro_utils");
    }
    if have_cxx() {
        must_compile(
            &cxx(),
            CXX_MODES[1],
            &after,
            "the headers, then macro_utils (C++)",
        );
    }
}

/// C++ overloads at run time: a SOCKET_HANDLE opens (and is closed at destroy), nullptr and an
/// empty transport are refused.
const CXX_RUN: &str = r#"
#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/socket_transport.h"
#include <cstdio>
#include <sys/socket.h>
#include <unistd.h>
static int opened;
static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result) { (void)context; if (result == ASYNC_SOCKET_OPEN_OK) opened++; }
#define CHECK(c) do { if (!(c)) { std::printf("FAILED: %s\n", #c); return 1; } } while (0)
int main()
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(nullptr);
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine);
    SOCKET_TRANSPORT_HANDLE empty = socket_transport_create_client();
    CHECK(async_socket_open_async(s, nullptr, on_open, nullptr) != 0);
    CHECK(async_socket_open_async(s, empty, on_open, nullptr) != 0);
    CHECK(opened == 0);
    SOCKET_HANDLE h = sv[0];
    CHECK(async_socket_open_async(s, h, on_open, nullptr) == 0);
    CHECK(opened == 1);
    async_socket_destroy(s); /* closes sv[0] */
    char c;
    CHECK(read(sv[1], &c, 1) == 0);
    close(sv[1]);
    socket_transport_destroy(empty);
    execution_engine_dec_ref(engine);
    std::printf("1 passed, 0 failed\n");
    return 0;
}
"#;

#[test]
fn cpp_overloads_open_the_right_way() {
    if !have_cxx() {
        return;
    }
    let src = out_dir().join("cxx_overloads.cpp");
    std::fs::write(&src, CXX_RUN).expect("write");
    let flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror"];
    let exe = build(&cxx(), &flags, &src, Link::Static, "cxx_overloads");
    let out = run_program(&exe, &[], valgrind());
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The README's C example (the first ```c block of its "## C" section).
fn readme_example() -> String {
    let readme = std::fs::read_to_string(crate_dir().join("../../README.md")).expect("README.md");
    let section = &readme[readme.find("\n## C\n").expect("a \"## C\" section")..];
    let start = section
        .find("```c\n")
        .expect("a ```c block in the C section")
        + 5;
    let len = section[start..].find("```").expect("the end of the block");
    section[start..start + len].to_string()
}

/// `asock echo-server`'s default port, as the command's source says (its default listen
/// address, `127.0.0.1:PORT`, given as a default value in `crates/asock-cli/src`).
fn echo_default_port() -> u16 {
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir)
            .expect("read asock-cli/src")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(&crate_dir().join("../asock-cli/src"), &mut files);
    let mut ports = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read");
        for line in source.lines() {
            if !(line.contains("default_value") || line.contains("unwrap_or(")) {
                continue;
            }
            if let Some(at) = line.find("\"127.0.0.1:") {
                let digits: String = line[at + 11..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                ports.push(digits.parse::<u16>().expect("a port"));
            }
        }
    }
    ports.dedup();
    assert_eq!(
        ports.len(),
        1,
        "expected one default listen port in asock-cli: {ports:?}"
    );
    ports[0]
}

/// The example with its port replaced by `port` (the README keeps showing the default).
fn example_on_port(port: u16) -> String {
    let source = readme_example();
    let default = format!("#define ECHO_PORT {}", echo_default_port());
    assert_eq!(
        source.matches(&default).count(),
        1,
        "the README's example should connect to the echo server's default port: {default}"
    );
    source.replace(&default, &format!("#define ECHO_PORT {port}"))
}

fn build_example(compiler: &str, lang: &[&str], port: u16, name: &str) -> std::path::PathBuf {
    let src = out_dir().join(format!("{name}.src"));
    std::fs::write(&src, example_on_port(port)).expect("write");
    let mut flags = lang.to_vec();
    flags.extend_from_slice(&["-Wall", "-Wextra", "-Werror"]);
    build(compiler, &flags, &src, Link::Static, name)
}

/// An echo server on a kernel-chosen loopback port, for one connection, bounded in time.
fn echo_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 || conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (port, server)
}

fn run_example_against_echo(exe: &std::path::Path, server: std::thread::JoinHandle<()>) {
    let out = run_program(exe, &[], valgrind());
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the example failed ({}):\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    for line in [
        "open: ASYNC_SOCKET_OPEN_OK",
        "send: ASYNC_SOCKET_SEND_OK",
        "receive: ASYNC_SOCKET_RECEIVE_OK, 5 bytes: hello",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no \"{line}\" in:\n{stdout}"
        );
    }
    server.join().expect("echo server");
}

#[test]
fn readme_example_echoes_and_names_its_results_as_c() {
    let (port, server) = echo_server();
    let exe = build_example(&cc(), &["-x", "c", "-std=gnu11"], port, "readme_example_c");
    run_example_against_echo(&exe, server);
}

#[test]
fn readme_example_echoes_and_names_its_results_as_cpp() {
    if !have_cxx() {
        return;
    }
    let (port, server) = echo_server();
    let exe = build_example(
        &cxx(),
        &["-x", "c++", "-std=c++17"],
        port,
        "readme_example_cpp",
    );
    run_example_against_echo(&exe, server);
}

#[test]
fn readme_example_says_so_when_it_cannot_connect() {
    // A port nobody listens on: the kernel chose it, then the listener went away.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exe = build_example(
        &cc(),
        &["-x", "c", "-std=gnu11"],
        port,
        "readme_example_refused",
    );
    let out = run_program(&exe, &[], false);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "the example did not say it could not connect:\n{stdout}"
    );
}
