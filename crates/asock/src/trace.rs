//! Optional instrumentation with `tracing` (cargo feature `tracing`, off by default).
//!
//! Every event has the target `asock` and a `socket` field, a number given to each
//! [`AsyncSocket`](crate::AsyncSocket) at creation. Events:
//! * `open` (DEBUG), with the local and peer addresses, or the error;
//! * `close` (DEBUG): a `close` span around the blocking close, a `close requested` event for
//!   the non-blocking one, and `closed` once the socket is CLOSED;
//! * one event per completion, with its result (and bytes): TRACE when the result is `Ok`
//!   (or the readiness asked for), DEBUG otherwise.
//!
//! Nothing is logged unless the application installs a `tracing` subscriber. Without the
//! feature this module is empty and the call sites (each behind `#[cfg(feature = "tracing")]`)
//! do not exist, so the instrumentation costs nothing.

#[cfg(feature = "tracing")]
pub(crate) use imp::*;

#[cfg(feature = "tracing")]
mod imp {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::result::{NotifyResult, NotifyType, OpenError, ReceiveResult, SendResult};

    /// The next socket number (from 1).
    pub(crate) fn next_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// After an open: its outcome.
    pub(crate) fn opened(
        id: u64,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
        result: &Result<(), OpenError>,
    ) {
        match result {
            Ok(()) => tracing::debug!(target: "asock", socket = id, ?local, ?peer, "open"),
            Err(e) => tracing::debug!(target: "asock", socket = id, error = %e, "open failed"),
        }
    }

    /// The span of a blocking close; `closed` is reported inside it.
    pub(crate) fn close_span(id: u64) -> tracing::span::EnteredSpan {
        tracing::debug_span!(target: "asock", "close", socket = id).entered()
    }

    /// The socket is CLOSED.
    pub(crate) fn closed(id: u64) {
        tracing::debug!(target: "asock", socket = id, "closed");
    }

    /// A non-blocking close was requested; the returned callback reports `closed`, then runs
    /// `on_closed`.
    pub(crate) fn close_with(
        id: u64,
        on_closed: impl FnOnce() + Send + 'static,
    ) -> impl FnOnce() + Send + 'static {
        tracing::debug!(target: "asock", socket = id, "close requested");
        move || {
            closed(id);
            on_closed()
        }
    }

    /// Wraps a send callback to report its completion; the send's total is stored in the
    /// returned cell once its buffers have been captured (they are asked for their bytes once).
    pub(crate) fn send_done<B>(
        id: u64,
        f: impl FnOnce(SendResult, Vec<B>) + Send + 'static,
    ) -> (
        impl FnOnce(SendResult, Vec<B>) + Send + 'static,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let total = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cell = std::sync::Arc::clone(&total);
        let wrapped = move |result, bufs| {
            let bytes = total.load(std::sync::atomic::Ordering::Relaxed);
            if result == SendResult::Ok {
                tracing::trace!(target: "asock", socket = id, ?result, bytes, "send complete");
            } else {
                tracing::debug!(target: "asock", socket = id, ?result, bytes, "send complete");
            }
            f(result, bufs)
        };
        (wrapped, cell)
    }

    /// Wraps a receive callback to report its completion.
    pub(crate) fn receive_done<B>(
        id: u64,
        f: impl FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
    ) -> impl FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static {
        move |result, bytes, bufs| {
            if result == ReceiveResult::Ok {
                tracing::trace!(target: "asock", socket = id, ?result, bytes, "receive complete");
            } else {
                tracing::debug!(target: "asock", socket = id, ?result, bytes, "receive complete");
            }
            f(result, bytes, bufs)
        }
    }

    /// Wraps a notify callback to report its completion.
    pub(crate) fn notify_done(
        id: u64,
        io_type: NotifyType,
        f: impl FnOnce(NotifyResult) + Send + 'static,
    ) -> impl FnOnce(NotifyResult) + Send + 'static {
        move |result| {
            if matches!(result, NotifyResult::In | NotifyResult::Out) {
                tracing::trace!(target: "asock", socket = id, ?io_type, ?result, "notify complete");
            } else {
                tracing::debug!(target: "asock", socket = id, ?io_type, ?result, "notify complete");
            }
            f(result)
        }
    }
}
