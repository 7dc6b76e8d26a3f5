//! The interface between the Linux engine and one kind of kernel interface (epoll, io_uring).
//!
//! A driver is two things:
//! * a **shard's event source**: one instance per worker thread ([`Driver::new`]), waited on by
//!   that worker ([`Driver::wait`]) and woken by others ([`Driver::wake`]);
//! * the **I/O steps** of a socket bound to that shard: it keeps its own per-socket state
//!   ([`Driver::Io`], inside the socket's lock), turns events into results
//!   ([`Driver::on_event`]), and moves the heads of the socket's queues forward
//!   ([`Driver::progress`]), pushing completions into the socket's `done` list.
//!
//! Everything else (lifecycle, queues, who delivers a completion, close, custom transports,
//! notification matching, the pool of workers, where a socket is bound) is written once, in
//! `pool.rs` and `socket.rs`, for every driver.
//!
//! # Threads
//! `wait` is called by the shard's owner, or by a worker rescuing the shard while its owner is
//! stuck in user code (see `pool.rs`): possibly by two threads at once, briefly. The I/O steps
//! run on whichever thread holds the socket's lock: a submitting thread, the shard's worker, or
//! another worker. [`Here`] tells a driver whether that thread may use the shard's event source
//! directly (io_uring: push to its ring) or must leave the work to the shard's worker.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::socket::Core;
use crate::Transport;

/// The first token a source reports for a lent shard ([`Driver::host`]); the tokens of
/// sockets (a 32-bit index and a 32-bit generation, see `slab.rs`) stay below it unless one
/// registry slot were reused four billion times.
pub(crate) const GUEST_TOKENS: u64 = u64::MAX - 1 - MAX_LENDING_SHARDS as u64;
/// Pools of more shards than this do not lend.
pub(crate) const MAX_LENDING_SHARDS: usize = 4096;

/// The token of lent shard `shard` in its host's source.
#[cfg_attr(loom, allow(dead_code))] // the loom models do not lend
pub(crate) fn guest_token(shard: usize) -> u64 {
    GUEST_TOKENS + shard as u64
}

/// What the thread calling a driver is to the socket's shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Here {
    /// The shard's worker, or the worker rescuing it: it may use the shard's event source.
    Driver,
    /// Any other thread: it may make system calls on the socket, but not use the shard's
    /// event source (its work is then handed to the shard's worker).
    Elsewhere,
}

/// One kind of kernel interface (see the module docs).
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// What the event source reports for one socket (readiness bits, a completion).
    type Event: Copy + Send;
    /// The driver's per-socket state, kept inside the socket's lock.
    type Io: Send;
    /// Per-worker scratch space for [`Driver::wait`].
    type Scratch: Send;

    /// A fresh per-socket state (the socket is CLOSED).
    fn io() -> Self::Io;
    /// A fresh scratch space for one worker.
    fn scratch(&self) -> Self::Scratch;

    /// Waits until an event arrives, [`Driver::wake`] is called or `timeout` passes (`None`:
    /// no limit; zero: do not block), and appends `(token, event)` pairs to `out`. The wake-up
    /// itself is consumed here and appears in `out` as nothing. `owner`: the caller is the
    /// shard's own worker; any other caller (a rescuer, a close pumping events) returns at once
    /// when someone else is using the source.
    fn wait(
        &self,
        scratch: &mut Self::Scratch,
        timeout: Option<Duration>,
        owner: bool,
        out: &mut Vec<(u64, Self::Event)>,
    );
    /// Makes a thread blocked in [`Driver::wait`] return.
    fn wake(&self);
    /// Whether a shard's source can be lent to another worker (see `pool/lend.rs`): reported
    /// inside another instance's waits by [`Driver::host`].
    const LENDS: bool = false;
    /// From now on this source's waits also report that `guest` has something to report (an
    /// event, a completion or a wake-up), as the token [`guest_token`]`(shard)`, until
    /// [`Driver::unhost`]. Called by the thread that waits on this source.
    fn host(&self, _guest: &Self, _shard: usize) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Undoes [`Driver::host`] (the same thread).
    fn unhost(&self, _guest: &Self, _shard: usize) {}
    /// Hands what the turn's callbacks started to the kernel now (io_uring: submits), for a
    /// source that another worker serves and nobody waits on meanwhile. Returns whether the
    /// source wants another turn before anybody waits (io_uring: receives that wait for the
    /// next turn), as an owner's next wait would not wait.
    fn flush(&self) -> bool {
        false
    }
    /// The end of a loop turn: the turn's callbacks ran, and the next [`Driver::wait`] submits
    /// what they made (io_uring queues its parked receives behind that here).
    fn end_turn(&self) {}

    /// The socket (`core.fd`, `core.token`, `core.shard` set; `readable` false, `writable`
    /// true) is being opened on this shard; `custom`: its bytes go through a custom transport.
    /// On error the socket stays CLOSED.
    fn open(&self, core: &mut Core<Self>, custom: bool) -> io::Result<()>;
    /// Records an event of the socket; whether the socket now has work to run.
    fn on_event(core: &mut Core<Self>, event: Self::Event) -> bool;
    /// Moves the heads of the socket's queues forward as far as possible now: system calls or
    /// submissions, results into completions (`core.d.done`). Only called while OPEN and not
    /// broken. `custom` is the socket's custom transport and the socket's identity for it.
    ///
    /// When the first attempt of a head send fails before any of its bytes left, the driver
    /// leaves the send at the head and sets `core.refused` (the caller reports or completes it).
    fn progress(&self, core: &mut Core<Self>, here: Here, custom: Option<(&dyn Transport, usize)>);
    /// Whether the socket has work only the shard's worker can start (OPEN).
    fn needs_driver(core: &Core<Self>) -> bool;
    /// During CLOSING: stops the socket's I/O, cancels what the kernel holds (if `here` may),
    /// accounts results that arrived (an operation that completed before its cancel keeps its
    /// result), and returns whether the kernel holds nothing of the socket's memory any more.
    /// Asked again after each later event, until it says so.
    fn settle(&self, core: &mut Core<Self>, here: Here) -> bool;
    /// The close finished: forget the socket (its descriptor is closed right after).
    fn close(&self, io: &mut Self::Io, fd: RawFd);
}
