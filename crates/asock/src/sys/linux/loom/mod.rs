//! The loom models of the Linux engine (`cfg(loom)` only): the in-memory kernel the epoll
//! driver's system calls go to ([`kernel`]), the event source that replaces a shard's epoll
//! instance ([`source`]), and the models themselves (`tests.rs`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p asock --release --lib loom_`.

pub(crate) mod kernel;
pub(crate) mod source;
#[cfg(test)]
mod tests;
