//! Run-time selection falls back to epoll when io_uring is refused. The refusal is forced with the
//! probe's test hook `ASOCK_URING_FAIL_SETUP` (it makes the probe fail as if `io_uring_setup` had
//! returned that errno, or as if the kernel lacked a feature it needs); this file is its own
//! test process, with this one test, so setting the
//! environment does not leak into other tests.
#![cfg(target_os = "linux")]

mod common;

use asock::{Backend, BackendChoice, CreateError, ExecutionEngine, SendResult};
use common::*;

#[test]
fn refused_io_uring_setup_falls_back_to_epoll() {
    // CI also runs the suite with ASOCK_BACKEND=uring: this test sets the variable itself.
    std::env::remove_var("ASOCK_BACKEND");
    for (name, errno) in [
        ("EPERM", libc::EPERM),
        ("ENOSYS", libc::ENOSYS),
        ("ENOMEM", libc::ENOMEM),
    ] {
        std::env::set_var("ASOCK_URING_FAIL_SETUP", name);
        // Asked for explicitly: the OS's refusal is the error.
        match ExecutionEngine::with_backend(None, BackendChoice::Uring) {
            Err(CreateError::Io(e)) => assert_eq!(e.raw_os_error(), Some(errno), "{name}"),
            other => panic!("{name}: io_uring was refused, got {other:?}"),
        }
        // Auto, and ASOCK_BACKEND=auto / unset through `new`: epoll takes over and works.
        for engine in [
            ExecutionEngine::with_backend(None, BackendChoice::Auto).expect("auto"),
            ExecutionEngine::new(None).expect("new"),
        ] {
            assert_eq!(engine.backend(), Backend::Epoll, "{name}");
            let (a, b) = socket_pair(&engine);
            let (r, _) = send_and_wait(&a, vec![b"ping".to_vec()]);
            assert_eq!(r, SendResult::Ok, "{name}");
            assert_eq!(receive_exactly(&b, 4, 16), b"ping", "{name}");
        }
        // ASOCK_BACKEND=uring makes `new` fail the same way rather than run on something else.
        std::env::set_var("ASOCK_BACKEND", "uring");
        assert!(
            matches!(ExecutionEngine::new(None), Err(CreateError::Io(_))),
            "{name}"
        );
        std::env::remove_var("ASOCK_BACKEND");
    }
    // A kernel whose rings cannot time out a wait (no IORING_FEAT_EXT_ARG, before 5.11): the
    // probe refuses it as unsupported, and Auto runs on epoll.
    std::env::set_var("ASOCK_URING_FAIL_SETUP", "NO_EXT_ARG");
    match ExecutionEngine::with_backend(None, BackendChoice::Uring) {
        Err(CreateError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
        other => panic!("no EXT_ARG: io_uring was refused, got {other:?}"),
    }
    let engine = ExecutionEngine::with_backend(None, BackendChoice::Auto).expect("auto");
    assert_eq!(engine.backend(), Backend::Epoll, "no EXT_ARG");
    let (a, b) = socket_pair(&engine);
    assert_eq!(send_and_wait(&a, vec![b"old".to_vec()]).0, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 3, 16), b"old");

    // Nothing refused: Auto and `new` pick io_uring (the faster here).
    std::env::remove_var("ASOCK_URING_FAIL_SETUP");
    let engine = ExecutionEngine::with_backend(None, BackendChoice::Uring).expect("uring again");
    assert_eq!(engine.backend(), Backend::Uring);
    for engine in [
        ExecutionEngine::with_backend(None, BackendChoice::Auto).expect("auto"),
        ExecutionEngine::new(None).expect("new"),
    ] {
        assert_eq!(engine.backend(), Backend::Uring, "auto prefers io_uring");
    }
}
