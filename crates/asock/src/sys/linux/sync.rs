//! The synchronisation the Linux engine is built on: the standard library's, or loom's under
//! `cfg(loom)`, so that the loom models (`loom/`) explore the interleavings of the real
//! `pool.rs` and `socket.rs`. Production builds use `std` unchanged.
//!
//! Everything the pool and the socket core share between threads comes from here: locks,
//! condition variables, atomics, thread spawning and thread-locals.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::JoinHandle;
#[cfg(loom)]
pub(crate) use loom::thread_local;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::JoinHandle;
#[cfg(not(loom))]
pub(crate) use std::thread_local;

use crate::core::poison::unpoisoned;

/// Starts a named thread.
pub(crate) fn spawn(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    #[cfg(loom)]
    {
        let _ = name;
        Ok(loom::thread::spawn(f))
    }
    #[cfg(not(loom))]
    std::thread::Builder::new().name(name).spawn(f)
}

/// Locks `m`, carrying on past a poisoned lock (the crate's policy: [`unpoisoned`]).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    unpoisoned(m.lock())
}
