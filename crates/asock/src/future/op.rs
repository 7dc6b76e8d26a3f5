//! The oneshot completion cell and the futures over it.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::core::poison::unpoisoned;
use crate::result::{NotifyResult, ReceiveResult, SendResult, SubmitError};

// ---------------------------------------------------------------------------------------------
// The oneshot completion cell

/// A oneshot slot filled by a completion callback (on an engine thread) and taken by a future.
pub(crate) struct Cell<T> {
    slot: Mutex<Slot<T>>,
}

enum Slot<T> {
    /// Not completed; the waker of the task that polled last.
    Waiting(Option<Waker>),
    /// Completed, not yet taken.
    Ready(T),
    /// Taken by the future.
    Taken,
    /// The future was dropped before the completion: the completion drops the value.
    Detached,
}

impl<T> Cell<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Slot::Waiting(None)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic never happens while the slot is locked; recover anyway rather than poison.
        unpoisoned(self.slot.lock())
    }

    /// Stores the completion's value and wakes the waiting task, or drops the value (outside
    /// the lock) when the future is gone.
    pub(crate) fn fill(&self, value: T) {
        let mut slot = self.lock();
        match mem::replace(&mut *slot, Slot::Ready(value)) {
            Slot::Waiting(waker) => {
                drop(slot);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Slot::Detached => {
                let orphan = mem::replace(&mut *slot, Slot::Detached);
                drop(slot);
                drop(orphan);
            }
            // The callback API calls each completion exactly once.
            Slot::Ready(_) | Slot::Taken => unreachable!("an operation completed twice"),
        }
    }

    /// Takes the value if the completion has run, else remembers `cx`'s waker.
    ///
    /// # Panics
    /// When called again after it returned `Ready`.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.lock();
        match &mut *slot {
            Slot::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Ready(_) => match mem::replace(&mut *slot, Slot::Taken) {
                Slot::Ready(value) => Poll::Ready(value),
                _ => unreachable!("matched Ready above"),
            },
            Slot::Taken => panic!("an asock future was polled after it completed"),
            Slot::Detached => unreachable!("a detached cell has no future left to poll it"),
        }
    }

    /// Makes a cell whose value was taken ready for the next operation, when nobody else holds
    /// it any more (the completion that filled it has been dropped): saves an allocation per
    /// operation. Otherwise, or when no value was taken, a fresh cell.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn reuse(cell: &mut Arc<Self>) {
        match Arc::get_mut(cell) {
            Some(this) => {
                let slot = unpoisoned(this.slot.get_mut());
                if matches!(slot, Slot::Taken) {
                    *slot = Slot::Waiting(None);
                    return;
                }
                *cell = Self::new();
            }
            None => *cell = Self::new(),
        }
    }

    /// The future is being dropped: forget its waker, and give back a value that arrived but
    /// was never taken (the caller drops it, outside the lock).
    pub(crate) fn detach(&self) -> Option<T> {
        let mut slot = self.lock();
        match mem::replace(&mut *slot, Slot::Detached) {
            Slot::Ready(value) => Some(value),
            Slot::Waiting(_) => None,
            Slot::Taken => {
                *slot = Slot::Taken;
                None
            }
            Slot::Detached => None,
        }
    }
}

/// A future over one cell, or over a synchronous rejection kept for the first poll.
pub(crate) struct OpFuture<T, E> {
    state: OpState<T, E>,
}

enum OpState<T, E> {
    Submitted(Arc<Cell<T>>),
    Rejected(E),
    Finished,
}

impl<T, E> OpFuture<T, E> {
    pub(crate) fn submitted(cell: Arc<Cell<T>>) -> Self {
        Self {
            state: OpState::Submitted(cell),
        }
    }
    pub(crate) fn rejected(error: E) -> Self {
        Self {
            state: OpState::Rejected(error),
        }
    }

    pub(crate) fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        match &self.state {
            OpState::Submitted(cell) => {
                let value = std::task::ready!(cell.poll(cx));
                self.state = OpState::Finished;
                Poll::Ready(Ok(value))
            }
            OpState::Rejected(_) => match mem::replace(&mut self.state, OpState::Finished) {
                OpState::Rejected(e) => Poll::Ready(Err(e)),
                _ => unreachable!("matched Rejected above"),
            },
            OpState::Finished => panic!("an asock future was polled after it completed"),
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.state, OpState::Submitted(_))
    }
}

impl<T, E> Drop for OpFuture<T, E> {
    fn drop(&mut self) {
        if let OpState::Submitted(cell) = &self.state {
            // A value that arrived but was never polled is dropped here, on this thread, after
            // its operation completed; otherwise the completion drops it when it runs.
            drop(cell.detach());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The futures

/// The future of [`Socket::send`](super::Socket::send): the result and the buffers, or the rejection (holding the
/// buffers).
#[must_use = "the send is submitted already; the future only waits for its result"]
pub struct SendFuture<B> {
    pub(super) op: OpFuture<(SendResult, Vec<B>), SubmitError<Vec<B>>>,
}

impl<B> SendFuture<B> {
    /// `true` until the future has resolved, unless the submission was rejected.
    pub fn is_submitted(&self) -> bool {
        self.op.is_pending()
    }
}

// Never pinned structurally: the buffers are only moved, never pinned in place.
impl<B> Unpin for SendFuture<B> {}

impl<B> Future for SendFuture<B> {
    type Output = Result<(SendResult, Vec<B>), SubmitError<Vec<B>>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl<B> fmt::Debug for SendFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::receive`](super::Socket::receive): the result, the number of bytes received and the
/// buffers, or the rejection (holding the buffers).
#[must_use = "the receive is submitted already; dropping the future loses the data it receives"]
pub struct ReceiveFuture<B> {
    pub(super) op: OpFuture<(ReceiveResult, usize, Vec<B>), SubmitError<Vec<B>>>,
}

impl<B> ReceiveFuture<B> {
    /// `true` until the future has resolved, unless the submission was rejected.
    pub fn is_submitted(&self) -> bool {
        self.op.is_pending()
    }
}

// Never pinned structurally: the buffers are only moved, never pinned in place.
impl<B> Unpin for ReceiveFuture<B> {}

impl<B> Future for ReceiveFuture<B> {
    type Output = Result<(ReceiveResult, usize, Vec<B>), SubmitError<Vec<B>>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl<B> fmt::Debug for ReceiveFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::notify`](super::Socket::notify).
#[must_use = "futures do nothing unless awaited"]
pub struct NotifyFuture {
    pub(super) op: OpFuture<NotifyResult, SubmitError<()>>,
}

impl Future for NotifyFuture {
    type Output = Result<NotifyResult, SubmitError<()>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_op(cx)
    }
}

impl fmt::Debug for NotifyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyFuture").finish_non_exhaustive()
    }
}

/// The future of [`Socket::close`](super::Socket::close): resolves once the socket is CLOSED.
#[must_use = "the close has started already; the future only waits for it"]
pub struct CloseFuture {
    pub(super) op: OpFuture<(), std::convert::Infallible>,
}

impl Future for CloseFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().op.poll_op(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for CloseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFuture").finish_non_exhaustive()
    }
}
