//! A worker's reusable buffers and its bookkeeping between turns: only that worker touches
//! them (a rescuer or a host uses its own).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::driver::Driver;
use super::super::socket::Socket;
use super::Task;

/// A worker's reusable buffers.
pub(super) struct Work<D: Driver> {
    pub(super) events: Vec<(u64, D::Event)>,
    pub(super) found: Vec<(Arc<Socket<D>>, D::Event)>,
    pub(super) runnable: Vec<Task<D>>,
    pub(super) scratch: D::Scratch,
    /// Lent shards whose readiness the last wait reported.
    pub(super) guests: Vec<usize>,
    /// This worker serves lent shards (it then measures `waited`).
    pub(super) hosting: bool,
    /// Time spent waiting, and turns, since the host last looked at its load.
    pub(super) waited: Duration,
    pub(super) turns: u32,
    /// Events of the host's own shard and of its guests since it last looked at its load.
    pub(super) own_events: u32,
    pub(super) guest_events: u32,
    /// A worker given its shard back lends it again only after this.
    pub(super) lend_after: Option<Instant>,
    /// The shards whose source this worker's source reports (see `lend.rs`).
    pub(super) nested: Vec<bool>,
}

impl<D: Driver> Work<D> {
    pub(super) fn new(driver: &D) -> Self {
        Work {
            events: Vec::new(),
            found: Vec::new(),
            runnable: Vec::new(),
            scratch: driver.scratch(),
            guests: Vec::new(),
            hosting: false,
            waited: Duration::ZERO,
            turns: 0,
            own_events: 0,
            guest_events: 0,
            lend_after: None,
            nested: Vec::new(),
        }
    }

    /// Starts a new load window: zero the waits, turns and events counted since the last look.
    pub(super) fn reset_load(&mut self) {
        self.waited = Duration::ZERO;
        self.turns = 0;
        self.own_events = 0;
        self.guest_events = 0;
    }
}
