//! Owned buffers: an operation owns its buffers until it completes and hands them back.
//!
//! A completion-based socket keeps a pointer to the caller's memory after the submitting call
//! has returned. In safe Rust a caller can drop or leak anything it merely lends, so the safe API
//! takes buffers *by value* ([`IoBuf`] for sends, [`IoBufMut`] for receives) and gives them back
//! in the completion callback. The operation (with its buffers) lives in a heap allocation that
//! does not move until the completion has run, so a buffer's bytes stay where the OS was told
//! they are, whatever type holds them.
//!
//! [`RawBuf`] is the borrowed-pointer form used by the `unsafe` API (and the C ABI): the caller
//! promises the memory outlives the completion.

/// A buffer whose bytes can be sent. Implemented for the common owned byte containers.
///
/// The library calls [`as_bytes`](Self::as_bytes) exactly **once** per buffer, when the
/// operation is submitted (that call is the argument check too), and then works from the slice
/// it got until it hands the buffer back: a buffer cannot change the bytes of an accepted
/// operation, and an operation costs time linear in its number of buffers. A panic in
/// `as_bytes` is caught: the submission is refused and the buffers are handed back.
pub trait IoBuf: Send + 'static {
    /// The bytes to send, in order.
    fn as_bytes(&self) -> &[u8];
}

/// A buffer that can be received into: all of its bytes (for a `Vec<u8>`, its length, not its
/// capacity) may be overwritten.
///
/// As for [`IoBuf`], [`as_bytes_mut`](Self::as_bytes_mut) is called once per buffer, at
/// submission (and `as_bytes` not at all for a receive).
pub trait IoBufMut: IoBuf {
    /// The bytes the receive may fill, in order.
    fn as_bytes_mut(&mut self) -> &mut [u8];
}

impl IoBuf for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}
impl IoBufMut for Vec<u8> {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}
impl IoBuf for Box<[u8]> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}
impl IoBufMut for Box<[u8]> {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}
impl<const N: usize> IoBuf for [u8; N] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}
impl<const N: usize> IoBufMut for [u8; N] {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}
impl IoBuf for String {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
}
impl IoBuf for &'static [u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}
impl IoBuf for &'static str {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
}

/// A borrowed buffer descriptor for the `unsafe` API: a pointer and a length, like c-pal's
/// `ASYNC_SOCKET_BUFFER`.
///
/// Building one is safe; using it is not: [`AsyncSocket::send_raw`](crate::AsyncSocket::send_raw)
/// and [`AsyncSocket::receive_raw`](crate::AsyncSocket::receive_raw) are `unsafe` because the
/// caller promises that `len` bytes at `ptr` stay valid (and, for a receive, writable and not
/// otherwise accessed) until the completion callback has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawBuf {
    /// Start of the memory; a null pointer is rejected with an argument error.
    pub ptr: *mut u8,
    /// Number of bytes; zero is rejected with an argument error.
    pub len: usize,
}

impl RawBuf {
    /// A descriptor for `len` bytes at `ptr`.
    pub fn new(ptr: *mut u8, len: usize) -> Self {
        Self { ptr, len }
    }
}

/// The most buffers one send or receive takes: as many as have their descriptors (a start and a
/// length each, the size of a [`RawBuf`], an `iovec` or a `WSABUF`) fit in `u32::MAX` bytes;
/// 268,435,455 on 64-bit targets. A larger list is an argument error, for every caller and on
/// every platform.
pub const MAX_BUFFERS: usize = crate::core::validate::MAX_BUFFERS;

/// Checks a list of buffers, each given as its start and length, by the rule every send and
/// receive of [`AsyncSocket`](crate::AsyncSocket) applies, and returns their total length.
///
/// The rule, in the order checked: at least one buffer and at most [`MAX_BUFFERS`] (checked
/// before any buffer is looked at), no null start, no zero length, a total of at most
/// `u32::MAX`. The error names the first rule broken. Only the pointers' nullness is looked
/// at, never the memory, so the check is safe on any value.
///
/// For a layer that takes buffer descriptors from elsewhere and wants the same rule (the C
/// ABI's `socket_transport_send` / `socket_transport_receive` use it).
///
/// ```
/// use asock::buf::check_buffers;
///
/// let (a, b) = ([0u8; 4], [0u8; 2]);
/// assert_eq!(check_buffers([(a.as_ptr(), a.len()), (b.as_ptr(), b.len())]), Ok(6));
/// assert!(check_buffers([(a.as_ptr(), 0)]).is_err());
/// assert!(check_buffers([] as [(*const u8, usize); 0]).is_err());
/// ```
pub fn check_buffers<I>(bufs: I) -> Result<u32, &'static str>
where
    I: IntoIterator<Item = (*const u8, usize)>,
    I::IntoIter: ExactSizeIterator,
{
    crate::core::validate::buffers(bufs.into_iter().map(|(ptr, len)| (!ptr.is_null(), len)))
}

/// A [`RawBuf`] that passed validation (non-null, non-empty); the `unsafe` submit functions
/// wrap each descriptor in one so that the owned-buffer machinery can carry it.
#[derive(Debug)]
pub(crate) struct CheckedRawBuf(RawBuf);

impl CheckedRawBuf {
    /// # Safety
    /// `buf.ptr` must be non-null and valid for reads and writes of `buf.len` bytes, with no other
    /// access, for as long as the returned value exists.
    pub(crate) unsafe fn new(buf: RawBuf) -> Self {
        Self(buf)
    }
}

// SAFETY: the memory behind a CheckedRawBuf is, by the contract of `CheckedRawBuf::new`, owned
// by the operation for its lifetime; moving the descriptor to another thread moves that exclusive
// access with it.
unsafe impl Send for CheckedRawBuf {}

impl IoBuf for CheckedRawBuf {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `CheckedRawBuf::new`'s contract: non-null, valid for `len` bytes while `self` lives.
        unsafe { std::slice::from_raw_parts(self.0.ptr, self.0.len) }
    }
}
impl IoBufMut for CheckedRawBuf {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and the memory is exclusively ours (no other access) while `self` lives.
        unsafe { std::slice::from_raw_parts_mut(self.0.ptr, self.0.len) }
    }
}
