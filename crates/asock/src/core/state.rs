//! The async socket's lifecycle.
//!
//! ```text
//!            open (CLOSED -> OPENING)
//!   CLOSED ----------------------------> OPENING --- setup failed ---> CLOSED (error, no callback)
//!     ^                                     |
//!     |                                     | setup ok: OPEN, then the open completion (caller's thread)
//!     |   every pending completion ran,     v
//!     +------ socket closed ---------- CLOSING <--- close / drop --- OPEN
//! ```
//!
//! Rules every backend keeps:
//! * a state change and the check a submitting call makes happen under one lock, so a call that
//!   saw OPEN has queued its operation before close can move on, and a call after close's
//!   transition sees CLOSING and is rejected;
//! * CLOSING ends only when every accepted operation has completed exactly once;
//! * a second closer, or a drop, waits for CLOSED; a close made from inside one of the socket's
//!   own completions does not wait for that completion.

/// Where an async socket is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// No socket; `open` may be called.
    Closed,
    /// `open` is registering the socket. On Linux never observed from outside (open holds the
    /// lock); on Windows seen while the thread-pool I/O is created, when every other call fails
    /// (a second open) or waits (close, drop).
    Opening,
    /// Operations are accepted.
    Open,
    /// `close` is cancelling pending operations and waiting for their completions.
    Closing,
}
