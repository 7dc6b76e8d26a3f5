//! Type-erased operations. An operation owns its buffers and its callback; it is consumed by
//! `complete`, so the type system itself guarantees that a callback runs at most once, and the
//! backends guarantee it runs at least once (every accepted operation ends in a [`Completion`]).

use std::any::Any;

use crate::buf::{IoBuf, IoBufMut};
use crate::result::{NotifyResult, ReceiveResult, SendResult};

/// A send: its buffers (read-only) and its callback.
pub(crate) trait SendOp: Send {
    fn buf_count(&self) -> usize;
    fn buf(&self, i: usize) -> &[u8];
    fn complete(self: Box<Self>, result: SendResult);
    /// Gives the buffers back (a `Box<Vec<B>>`) without calling the callback: the submission
    /// was rejected.
    fn reclaim(self: Box<Self>) -> Box<dyn Any>;
}

/// A receive: its buffers (filled in order) and its callback.
pub(crate) trait RecvOp: Send {
    fn buf_count(&self) -> usize;
    fn buf_mut(&mut self, i: usize) -> &mut [u8];
    fn complete(self: Box<Self>, result: ReceiveResult, bytes: u32);
    /// See [`SendOp::reclaim`].
    fn reclaim(self: Box<Self>) -> Box<dyn Any>;
}

struct SendImpl<B, F> {
    bufs: Vec<B>,
    cb: F,
}

impl<B, F> SendOp for SendImpl<B, F>
where
    B: IoBuf,
    F: FnOnce(SendResult, Vec<B>) + Send + 'static,
{
    fn buf_count(&self) -> usize {
        self.bufs.len()
    }
    fn buf(&self, i: usize) -> &[u8] {
        self.bufs[i].as_bytes()
    }
    fn complete(self: Box<Self>, result: SendResult) {
        let this = *self;
        (this.cb)(result, this.bufs)
    }
    fn reclaim(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.bufs)
    }
}

struct RecvImpl<B, F> {
    bufs: Vec<B>,
    cb: F,
}

impl<B, F> RecvOp for RecvImpl<B, F>
where
    B: IoBufMut,
    F: FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
{
    fn buf_count(&self) -> usize {
        self.bufs.len()
    }
    fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        self.bufs[i].as_bytes_mut()
    }
    fn complete(self: Box<Self>, result: ReceiveResult, bytes: u32) {
        let this = *self;
        (this.cb)(result, bytes, this.bufs)
    }
    fn reclaim(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.bufs)
    }
}

/// Boxes a send operation.
pub(crate) fn send_op<B, F>(bufs: Vec<B>, cb: F) -> Box<dyn SendOp>
where
    B: IoBuf,
    F: FnOnce(SendResult, Vec<B>) + Send + 'static,
{
    Box::new(SendImpl { bufs, cb })
}

/// Boxes a receive operation.
pub(crate) fn recv_op<B, F>(bufs: Vec<B>, cb: F) -> Box<dyn RecvOp>
where
    B: IoBufMut,
    F: FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
{
    Box::new(RecvImpl { bufs, cb })
}

/// A notify operation is only its callback.
pub(crate) type NotifyOp = Box<dyn FnOnce(NotifyResult) + Send>;

/// A finished operation with its result, waiting to be delivered.
pub(crate) enum Completion {
    Send(Box<dyn SendOp>, SendResult),
    Recv(Box<dyn RecvOp>, ReceiveResult, u32),
    // Windows has no readiness notification (SRS_ASYNC_SOCKET_WIN32_04_002).
    #[cfg_attr(windows, allow(dead_code))]
    Notify(NotifyOp, NotifyResult),
}

impl Completion {
    /// Runs the user's callback. A panic in it is caught and reported on stderr: it must not
    /// unwind into a worker thread (or across the C ABI), and the operation counts as delivered.
    pub(crate) fn deliver(self) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match self {
            Completion::Send(op, r) => op.complete(r),
            Completion::Recv(op, r, n) => op.complete(r, n),
            Completion::Notify(op, r) => op(r),
        }));
        if outcome.is_err() {
            eprintln!("asock: a completion callback panicked; the panic was contained");
        }
    }

    /// The same operation, re-labelled as abandoned (close cancelled it).
    // Windows reports a send cancelled by close as the seed says (ERROR), never ABANDONED.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn abandoned_send(op: Box<dyn SendOp>) -> Self {
        Completion::Send(op, SendResult::Abandoned)
    }
    /// See [`Completion::abandoned_send`].
    pub(crate) fn abandoned_recv(op: Box<dyn RecvOp>) -> Self {
        Completion::Recv(op, ReceiveResult::Abandoned, 0)
    }
    /// See [`Completion::abandoned_send`].
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn abandoned_notify(op: NotifyOp) -> Self {
        Completion::Notify(op, NotifyResult::Abandoned)
    }
}

/// Recovers the `Vec<B>` from a rejected operation's [`SendOp::reclaim`] / [`RecvOp::reclaim`].
pub(crate) fn reclaimed<B: 'static>(any: Box<dyn Any>) -> Vec<B> {
    match any.downcast::<Vec<B>>() {
        Ok(b) => *b,
        // The operation was built from a `Vec<B>` by the same generic call that reclaims it.
        Err(_) => unreachable!("operation buffers have the type they were submitted with"),
    }
}
