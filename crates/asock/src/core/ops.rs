//! Type-erased operations. An operation owns its buffers and its callback; it is consumed by
//! `complete`, so the type system itself guarantees that a callback runs at most once, and the
//! backends guarantee it runs at least once (every accepted operation ends in a [`Completion`]).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::buf::{IoBuf, IoBufMut};
use crate::core::validate;
use crate::result::{NotifyResult, ReceiveResult, SendResult};

/// One buffer as the operating system is told about it: where its bytes start and how many
/// there are. The layout is `struct iovec`'s (`base`, then `len`), so a slice of slots can be
/// handed to `sendmsg` / `readv` as it is.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// The first byte.
    pub(crate) base: *mut u8,
    /// The number of bytes.
    pub(crate) len: usize,
}

/// Slots kept in the operation itself, for the common case of one or two buffers.
const INLINE: usize = 2;

/// Where the slots are: in the operation itself, or (more than [`INLINE`] buffers) in an
/// allocation of their own.
enum Store {
    Inline([Slot; INLINE], u8),
    /// Filled once at capture and never grown (its buffer does not move).
    Heap(Vec<Slot>),
}

/// The buffers of one operation as the OS sees them, captured **once**, when the operation is
/// submitted, with a cursor over the bytes already transferred.
///
/// Capturing once is what makes the cost of an operation linear in its number of buffers, and
/// what makes the library immune to a buffer type that reports other bytes on a later call: the
/// library asks each buffer for its bytes exactly once (`IoBuf::as_bytes` /
/// `IoBufMut::as_bytes_mut`) and never again until it hands the buffer back.
///
/// The slots point into the operation's own buffers, which the operation owns (and which do not
/// move: they sit in the heap allocation of the boxed operation or behind their own pointer)
/// until it completes; the slots live in the same box or in their own allocation, so their
/// address is stable too (an io_uring SQE may point at them).
pub(crate) struct Slots {
    store: Store,
    /// The first slot with bytes left to transfer (its `base` / `len` already advanced past
    /// what was transferred of it).
    #[cfg_attr(windows, allow(dead_code))]
    first: u32,
    /// Total bytes (at most `u32::MAX`: the argument check makes sure).
    total: u32,
    done: u32,
}

// SAFETY: the raw pointers describe memory owned by the same operation (its buffers, which are
// `Send`), and move between threads together with it; nothing else reaches them.
unsafe impl Send for Slots {}

impl Slots {
    /// No slots yet, with room for `count`.
    fn with_room(count: usize) -> Self {
        let empty = Slot {
            base: std::ptr::null_mut(),
            len: 0,
        };
        let store = if count <= INLINE {
            Store::Inline([empty; INLINE], 0)
        } else {
            Store::Heap(Vec::with_capacity(count))
        };
        Slots {
            store,
            first: 0,
            total: 0,
            done: 0,
        }
    }

    fn push(&mut self, slot: Slot) {
        match &mut self.store {
            Store::Inline(s, n) => {
                s[usize::from(*n)] = slot;
                *n += 1;
            }
            Store::Heap(v) => v.push(slot),
        }
    }

    fn all(&self) -> &[Slot] {
        match &self.store {
            Store::Inline(s, n) => &s[..usize::from(*n)],
            Store::Heap(s) => s,
        }
    }

    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    fn all_mut(&mut self) -> &mut [Slot] {
        match &mut self.store {
            Store::Inline(s, n) => &mut s[..usize::from(*n)],
            Store::Heap(s) => s,
        }
    }

    /// The number of buffers.
    pub(crate) fn count(&self) -> usize {
        self.all().len()
    }

    /// Buffer `i` (its untransferred part, for a send under way).
    pub(crate) fn get(&self, i: usize) -> Slot {
        self.all()[i]
    }

    /// The slots still to transfer, the first one starting at its first untransferred byte.
    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    pub(crate) fn remaining(&self) -> &[Slot] {
        &self.all()[self.first as usize..]
    }

    /// Accounts `n` more bytes as transferred. Costs one step per buffer finished, so a whole
    /// operation costs time linear in its number of buffers, however the bytes are split.
    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    pub(crate) fn advance(&mut self, n: usize) {
        let mut n = n.min((self.total - self.done) as usize);
        // `n` is at most what is left of a `u32` total.
        self.done += n as u32;
        let first = self.first as usize;
        let slots = self.all_mut();
        let mut i = first;
        while n > 0 && i < slots.len() {
            let s = &mut slots[i];
            let k = n.min(s.len);
            // SAFETY: `k <= s.len`, so the pointer stays within (or one past) the buffer.
            s.base = unsafe { s.base.add(k) };
            s.len -= k;
            n -= k;
            if s.len == 0 {
                i += 1;
            }
        }
        while i < slots.len() && slots[i].len == 0 {
            i += 1;
        }
        // At most the number of buffers, which the `u32` total bounds.
        self.first = i as u32;
    }

    /// Total bytes of all buffers.
    pub(crate) fn total(&self) -> usize {
        self.total as usize
    }

    /// Bytes transferred so far.
    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    pub(crate) fn done(&self) -> usize {
        self.done as usize
    }

    /// Every byte has been transferred.
    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    pub(crate) fn is_finished(&self) -> bool {
        self.done >= self.total
    }
}

/// Captures the slots of `bufs` (one call of `bytes` per buffer), containing a panic of the
/// buffer type, then checks them (contract C3). A list of no or too many buffers is refused
/// before any is captured.
fn capture<B>(
    bufs: &mut [B],
    mut bytes: impl FnMut(&mut B) -> Slot,
) -> Result<Slots, &'static str> {
    validate::buffer_count(bufs.len())?;
    let mut slots = Slots::with_room(bufs.len());
    let captured = catch_unwind(AssertUnwindSafe(|| {
        for b in bufs.iter_mut() {
            slots.push(bytes(b));
        }
    }));
    if captured.is_err() {
        return Err("a buffer panicked when asked for its bytes");
    }
    slots.total = validate::buffers(slots.all().iter().map(|s| (!s.base.is_null(), s.len)))?;
    Ok(slots)
}

/// A send: its buffers (read-only) and its callback.
pub(crate) trait SendOp: Send {
    /// The buffers, captured at submission, with the cursor of what was written.
    fn slots(&self) -> &Slots;
    /// See [`SendOp::slots`].
    #[cfg_attr(windows, allow(dead_code))] // the cursor serves the Linux drivers
    fn slots_mut(&mut self) -> &mut Slots;
    /// The number of buffers.
    #[cfg_attr(not(windows), allow(dead_code))]
    fn buf_count(&self) -> usize {
        self.slots().count()
    }
    /// The unsent bytes of buffer `i`.
    #[cfg_attr(not(windows), allow(dead_code))]
    fn buf(&self, i: usize) -> &[u8] {
        let s = self.slots().get(i);
        // SAFETY: the slot describes `s.len` readable bytes of this operation's own buffer
        // (captured from `IoBuf::as_bytes`), which lives and stays put as long as `self`.
        unsafe { std::slice::from_raw_parts(s.base, s.len) }
    }
    fn complete(self: Box<Self>, result: SendResult);
    /// Gives the buffers back (a `Box<Vec<B>>`) without calling the callback: the submission
    /// was rejected.
    fn reclaim(self: Box<Self>) -> Box<dyn Any>;
}

/// A receive: its buffers (filled in order) and its callback.
pub(crate) trait RecvOp: Send {
    /// The buffers, captured at submission.
    fn slots(&self) -> &Slots;
    /// The number of buffers.
    fn buf_count(&self) -> usize {
        self.slots().count()
    }
    /// Buffer `i`, to be filled.
    fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        let s = self.slots().get(i);
        // SAFETY: the slot describes `s.len` writable bytes of this operation's own buffer
        // (captured from `IoBufMut::as_bytes_mut`), which lives and stays put as long as
        // `self`; `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(s.base, s.len) }
    }
    fn complete(self: Box<Self>, result: ReceiveResult, bytes: u32);
    /// See [`SendOp::reclaim`].
    fn reclaim(self: Box<Self>) -> Box<dyn Any>;
}

struct SendImpl<B, F> {
    slots: Slots,
    bufs: Vec<B>,
    cb: F,
}

impl<B, F> SendOp for SendImpl<B, F>
where
    B: IoBuf,
    F: FnOnce(SendResult, Vec<B>) + Send + 'static,
{
    fn slots(&self) -> &Slots {
        &self.slots
    }
    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
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
    slots: Slots,
    bufs: Vec<B>,
    cb: F,
}

impl<B, F> RecvOp for RecvImpl<B, F>
where
    B: IoBufMut,
    F: FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
{
    fn slots(&self) -> &Slots {
        &self.slots
    }
    fn complete(self: Box<Self>, result: ReceiveResult, bytes: u32) {
        let this = *self;
        (this.cb)(result, bytes, this.bufs)
    }
    fn reclaim(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.bufs)
    }
}

/// Boxes a send operation, asking each buffer for its bytes once; rejects bad buffers (the
/// checks of contract C3, and a buffer type that panics) and hands them back.
pub(crate) fn send_op<B, F>(
    mut bufs: Vec<B>,
    cb: F,
) -> Result<Box<dyn SendOp>, (&'static str, Vec<B>)>
where
    B: IoBuf,
    F: FnOnce(SendResult, Vec<B>) + Send + 'static,
{
    let captured = capture(&mut bufs, |b| {
        let bytes = b.as_bytes();
        Slot {
            base: bytes.as_ptr().cast_mut(),
            len: bytes.len(),
        }
    });
    match captured {
        Ok(slots) => Ok(Box::new(SendImpl { slots, bufs, cb })),
        Err(why) => Err((why, bufs)),
    }
}

/// Boxes a receive operation; see [`send_op`].
pub(crate) fn recv_op<B, F>(
    mut bufs: Vec<B>,
    cb: F,
) -> Result<Box<dyn RecvOp>, (&'static str, Vec<B>)>
where
    B: IoBufMut,
    F: FnOnce(ReceiveResult, u32, Vec<B>) + Send + 'static,
{
    let captured = capture(&mut bufs, |b| {
        let bytes = b.as_bytes_mut();
        Slot {
            base: bytes.as_mut_ptr(),
            len: bytes.len(),
        }
    });
    match captured {
        Ok(slots) => Ok(Box::new(RecvImpl { slots, bufs, cb })),
        Err(why) => Err((why, bufs)),
    }
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
