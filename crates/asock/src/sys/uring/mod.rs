//! The io_uring backend: one ring per execution engine, shared by the engine's worker threads,
//! with true completion-based socket I/O.
//!
//! * [`engine`]: the ring as a [`Driver`](super::epoll::engine::Driver) of the shared worker
//!   logic (`sys/epoll/engine.rs`): the poller waits in `io_uring_enter` (`submit_and_wait`),
//!   which also submits every SQE pushed since its last wait, so a completion handler's follow-up
//!   operations cost no system call of their own.
//! * [`socket`]: one async socket: at most one `SendMsg` and one `RecvMsg` in flight (the heads of
//!   the FIFO queues), one-shot `PollAdd`s for notifications and for custom transports, and the
//!   same per-socket runner as the epoll backend to deliver completions in order.
//!
//! # Selection
//! [`probe`] decides whether this backend can run: `io_uring_setup` must succeed (containers and
//! sysctls refuse it with EPERM, old kernels with ENOSYS, a low `RLIMIT_MEMLOCK` with ENOMEM) and a
//! probe must show every opcode the backend uses. Otherwise the engine runs on epoll.
//!
//! Test hook: the environment variable `ASOCK_URING_FAIL_SETUP=EPERM|ENOSYS|ENOMEM|EINVAL` makes
//! [`probe`] fail as if `io_uring_setup` had returned that error. Nothing else reads it.

pub(crate) mod engine;
pub(crate) mod socket;

pub(crate) use engine::Engine;
pub(crate) use socket::SocketIo;

use std::io;

use io_uring::{opcode, IoUring, Probe};

/// Submission queue entries of an engine's ring (the completion queue gets twice as many).
const ENTRIES: u32 = 1024;

/// Creates a ring for an engine if this kernel and process allow it and it supports every opcode
/// the backend submits; the error says why not.
pub(crate) fn probe() -> io::Result<IoUring> {
    if let Ok(forced) = std::env::var("ASOCK_URING_FAIL_SETUP") {
        let errno = match forced.as_str() {
            "EPERM" => libc::EPERM,
            "ENOSYS" => libc::ENOSYS,
            "ENOMEM" => libc::ENOMEM,
            _ => libc::EINVAL,
        };
        return Err(io::Error::from_raw_os_error(errno));
    }
    let ring = IoUring::new(ENTRIES)?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        ("SENDMSG", opcode::SendMsg::CODE),
        ("RECVMSG", opcode::RecvMsg::CODE),
        ("POLL_ADD", opcode::PollAdd::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ];
    for (name, code) in needed {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring lacks IORING_OP_{name}"),
            ));
        }
    }
    Ok(ring)
}
