//! The lock and condition variable of the socket core: the standard library's, or loom's under
//! `cfg(loom)`, so that the loom model ([`super::loom_tests`]) explores the interleavings of the
//! real `socket.rs` code. Production builds use `std::sync` unchanged.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
