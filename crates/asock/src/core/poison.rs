//! The crate's one policy for poisoned locks: carry on.
//!
//! A lock is poisoned when a thread panicked while holding it. Here that thread can only be one
//! of ours (user callbacks and futures run outside every lock, and their panics are caught where
//! the library calls them), and each critical section keeps the data it guards consistent at
//! every step, so the data is still valid: refusing it would turn one contained panic into a
//! failure of every later call on that socket or engine.

use std::sync::{LockResult, PoisonError};

/// The guard (or reference) of a lock operation, poisoned or not: `m.lock()`, `rw.read()`,
/// `rw.write()`, `cv.wait(g)`, `m.get_mut()`, for the standard library's locks and loom's.
pub(crate) fn unpoisoned<G>(result: LockResult<G>) -> G {
    result.unwrap_or_else(PoisonError::into_inner)
}
