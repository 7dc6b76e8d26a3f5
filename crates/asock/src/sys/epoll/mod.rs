//! The Linux backend: one `epoll` instance per execution engine, driven by the engine's own
//! worker threads, emulating completion-based I/O.
//!
//! * [`engine`]: the workers. One at a time waits in `epoll_wait` (the *poller*); the others
//!   park. The poller runs the sockets that became ready itself, on its own stack, so a loopback
//!   ping-pong between two sockets of one engine needs no cross-thread wake-up: the reply makes
//!   the peer ready while the same thread is still running, and its next `epoll_wait` returns at
//!   once. A batch of several ready sockets is shared with parked workers, and a poller stuck in
//!   a slow callback is replaced by a parked worker after a short grace period, so one slow
//!   callback cannot stall other sockets.
//! * [`socket`]: one async socket: registered once (edge-triggered, both directions), a FIFO
//!   queue per direction, and a per-socket *runner* that performs the system calls and delivers
//!   completions in order, one thread at a time.
//! * [`os`]: the thin layer over the system calls, each function naming the one it makes.
//!
//! Under `cfg(loom)` the epoll backend's engine is `loom_engine.rs` and `socket.rs` makes its
//! system calls to the in-memory kernel `os::fake`, so that `loom_tests.rs` model-checks the
//! real `socket.rs` (see [`sync`]).

// Under loom the epoll engine is the model's (the io_uring backend still builds on this one).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) mod engine;
#[cfg(loom)]
pub(crate) mod loom_engine;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod os;
pub(crate) mod socket;
pub(crate) mod sync;

#[cfg(not(loom))]
pub(crate) use engine::Engine;
#[cfg(loom)]
pub(crate) use loom_engine::Engine;
pub(crate) use socket::SocketIo;
