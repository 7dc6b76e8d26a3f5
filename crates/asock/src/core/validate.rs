//! Argument checks shared by every backend and every caller, Rust or C (contract C3). They run
//! before the state is looked at, so bad arguments give the argument error in every state.

use crate::buf::RawBuf;

/// The most buffers one send or receive takes: as many as have their descriptors (a start and a
/// length each, the shape of an `iovec` or a `WSABUF`) fit in `u32::MAX` bytes. A layer that
/// reads descriptors from a caller's array (the C ABI) refuses a larger count before it reads
/// one, so a count that overstates the array is never read past.
pub(crate) const MAX_BUFFERS: usize = u32::MAX as usize / std::mem::size_of::<RawBuf>();

/// Checks the number of buffers of a list: the first two checks of [`buffers`], for a caller
/// that wants them before it reads or captures any buffer.
pub(crate) fn buffer_count(count: usize) -> Result<(), &'static str> {
    if count == 0 {
        return Err("no buffers (buffer count is 0)");
    }
    if count > MAX_BUFFERS {
        return Err("too many buffers: their descriptors would exceed u32::MAX bytes");
    }
    Ok(())
}

/// Checks a buffer list given as `(has_memory, length)` pairs and returns the total length.
///
/// Rejects, in this order: an empty list, more than [`MAX_BUFFERS`] buffers (before looking at
/// any), a buffer with no memory, a buffer of zero length, a total over `u32::MAX`.
pub(crate) fn buffers(
    mut bufs: impl ExactSizeIterator<Item = (bool, usize)>,
) -> Result<u32, &'static str> {
    buffer_count(bufs.len())?;
    let mut total: u64 = 0;
    bufs.try_for_each(|(has_memory, len)| {
        if !has_memory {
            return Err("a buffer has no memory (null pointer)");
        }
        if len == 0 {
            return Err("a buffer has zero length");
        }
        total = total.saturating_add(len as u64);
        if total > u64::from(u32::MAX) {
            return Err("the total length of the buffers exceeds u32::MAX");
        }
        Ok(())
    })?;
    // The check above keeps `total` within u32.
    Ok(total as u32)
}

#[cfg(test)]
mod tests {
    use super::{buffers, MAX_BUFFERS};
    use std::iter::repeat_n;

    #[test]
    fn rejects_each_bad_shape_with_its_reason() {
        assert!(buffers([].into_iter()).unwrap_err().contains("no buffers"));
        assert!(buffers([(false, 4)].into_iter())
            .unwrap_err()
            .contains("no memory"));
        assert!(buffers([(true, 4), (true, 0)].into_iter())
            .unwrap_err()
            .contains("zero length"));
        let big = u32::MAX as usize;
        assert!(buffers([(true, big), (true, 1)].into_iter())
            .unwrap_err()
            .contains("exceeds u32::MAX"));
        assert_eq!(buffers([(true, big)].into_iter()), Ok(u32::MAX));
        assert_eq!(
            buffers([(true, 1), (true, 2), (true, 3)].into_iter()),
            Ok(6)
        );
    }

    #[test]
    fn a_count_over_the_limit_is_refused_before_any_buffer_is_looked_at() {
        // 64-bit: 2^28 - 1 descriptors of 16 bytes fit in u32::MAX bytes, 2^28 do not.
        assert_eq!(
            MAX_BUFFERS,
            u32::MAX as usize / (2 * std::mem::size_of::<usize>())
        );
        let mut looked_at = 0usize;
        let over = repeat_n((true, 1), MAX_BUFFERS + 1).inspect(|_| looked_at += 1);
        assert!(buffers(over)
            .unwrap_err()
            .contains("too many buffers: their descriptors would exceed u32::MAX bytes"));
        assert_eq!(looked_at, 0);
        // At the limit the count passes and the buffers are looked at: here the first one is
        // empty, which ends the check at once.
        assert!(buffers(repeat_n((true, 0), MAX_BUFFERS))
            .unwrap_err()
            .contains("zero length"));
    }
}
