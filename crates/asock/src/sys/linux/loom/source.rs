//! The event source of a shard as the loom model sees it: what `epoll_ctl` registered, and the
//! edges the model fires, handed to the shard's worker through loom's lock and condition
//! variable, so that loom explores every interleaving of the worker with the model's threads.

// `fire` and `is_registered` serve the loom tests only.
#![cfg_attr(not(test), allow(dead_code))]

use std::os::fd::RawFd;
use std::time::Duration;

use super::super::sync::{lock, Condvar, Mutex};
use crate::core::poison::unpoisoned;

#[derive(Default)]
struct State {
    /// `(fd, token)` of the registered descriptors.
    regs: Vec<(RawFd, u64)>,
    /// Edges fired and not yet taken by a wait.
    events: Vec<(u64, u32)>,
    woken: bool,
}

/// One shard's model event source.
pub(crate) struct Source {
    state: Mutex<State>,
    cv: Condvar,
}

impl Source {
    pub(crate) fn new() -> Source {
        Source {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`.
    pub(crate) fn add(&self, fd: RawFd, token: u64) {
        lock(&self.state).regs.push((fd, token));
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`: later edges of `fd` are not reported.
    pub(crate) fn del(&self, fd: RawFd) {
        lock(&self.state).regs.retain(|&(f, _)| f != fd);
    }

    /// Whether `fd` is registered (the model's leak check).
    pub(crate) fn is_registered(&self, fd: RawFd) -> bool {
        lock(&self.state).regs.iter().any(|&(f, _)| f == fd)
    }

    /// An edge on `fd` (dropped when `fd` is not registered, as the kernel would).
    pub(crate) fn fire(&self, fd: RawFd, bits: u32) {
        let mut s = lock(&self.state);
        if let Some(&(_, token)) = s.regs.iter().find(|&&(f, _)| f == fd) {
            s.events.push((token, bits));
            drop(s);
            self.cv.notify_all();
        }
    }

    /// `epoll_wait`: the fired edges, or nothing once woken or when not blocking. The model's
    /// engines have one worker, which waits without a timeout, so only "no limit" and "zero"
    /// occur (a timeout is taken as "zero").
    pub(crate) fn wait(&self, timeout: Option<Duration>, out: &mut Vec<(u64, u32)>) {
        let mut s = lock(&self.state);
        loop {
            if !s.events.is_empty() {
                out.append(&mut s.events);
                return;
            }
            if s.woken {
                s.woken = false;
                return;
            }
            if timeout.is_some() {
                return;
            }
            s = unpoisoned(self.cv.wait(s));
        }
    }

    /// The eventfd write that makes a waiting worker return.
    pub(crate) fn wake(&self) {
        lock(&self.state).woken = true;
        self.cv.notify_all();
    }
}
