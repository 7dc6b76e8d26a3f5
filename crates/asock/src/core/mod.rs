//! The platform-neutral contract: lifecycle states, argument validation, the policy for
//! poisoned locks, and the type-erased operations whose completion runs exactly once. Every
//! backend builds on this module; none of it makes a system call.

pub(crate) mod errors;
pub(crate) mod ops;
pub(crate) mod poison;
pub(crate) mod state;
pub(crate) mod validate;
