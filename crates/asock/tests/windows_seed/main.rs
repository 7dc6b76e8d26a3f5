//! The Windows backend against its seed (the 91 `SRS_ASYNC_SOCKET_WIN32_*` requirements of
//! c-pal's `async_socket_win32`): a test that proves a requirement names its id in full next
//! to the assertion that proves it; `scripts/check-seed-ids.sh` maps every id of
//! `docs/windows.md` to the tests (here and in the C ABI's tests) that name it. Also c-pal's
//! three Windows integration scenarios, the contract rows the seed leaves open (ordering, close
//! from a callback, close without blocking), and, in `departures`, one test per place where the
//! backend departs from the seed, showing what the seed's behaviour would do there.
//!
//! Success paths run on real loopback sockets under the real thread pool. Failure paths use the
//! backend's fault-injection layer (cargo feature `fault-injection`): it logs every OS call the
//! backend makes, with its arguments and thread, and makes a chosen call fail with a chosen
//! error. That layer is process-wide, so every test here takes the `serial()` lock first.
//!
//! The requirements about NULL arguments (a NULL engine, handle, transport, buffer array or
//! callback, and the callbacks' NULL contexts) have no Rust form; the C ABI's tests prove them
//! (`crates/asock-capi/tests/c`).
#![cfg(all(windows, feature = "fault-injection"))]

mod common;

mod close;
mod completion;
mod contract;
mod cpal;
mod create;
mod departures;
mod open;
mod receive;
mod send;
