//! Argument checks shared by every backend (contract C3). They run before the state is looked
//! at, so bad arguments give the argument error in every state.

/// Checks a buffer list given as `(has_memory, length)` pairs and returns the total length.
///
/// Rejects, in this order: an empty list, a buffer with no memory, a buffer of zero length, a
/// total over `u32::MAX`.
pub(crate) fn buffers(
    count: usize,
    bufs: impl Iterator<Item = (bool, usize)>,
) -> Result<u32, &'static str> {
    if count == 0 {
        return Err("no buffers (buffer count is 0)");
    }
    let mut total: u64 = 0;
    for (has_memory, len) in bufs {
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
    }
    // The check above keeps `total` within u32.
    Ok(total as u32)
}

#[cfg(test)]
mod tests {
    use super::buffers;

    #[test]
    fn rejects_each_bad_shape_with_its_reason() {
        assert!(buffers(0, [].into_iter())
            .unwrap_err()
            .contains("no buffers"));
        assert!(buffers(1, [(false, 4)].into_iter())
            .unwrap_err()
            .contains("no memory"));
        assert!(buffers(2, [(true, 4), (true, 0)].into_iter())
            .unwrap_err()
            .contains("zero length"));
        let big = u32::MAX as usize;
        assert!(buffers(2, [(true, big), (true, 1)].into_iter())
            .unwrap_err()
            .contains("u32::MAX"));
        assert_eq!(buffers(1, [(true, big)].into_iter()), Ok(u32::MAX));
        assert_eq!(
            buffers(3, [(true, 1), (true, 2), (true, 3)].into_iter()),
            Ok(6)
        );
    }
}
