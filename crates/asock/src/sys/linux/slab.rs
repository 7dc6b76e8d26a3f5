//! A shard's registry of sockets by token.
//!
//! A token's low 32 bits index the entries, its high 32 bits are the entry's generation, so a
//! token that outlived its registration (an event fetched before the socket closed) finds
//! nothing instead of another socket.

/// Values by token (see the module docs).
pub(crate) struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Clone> Slab<T> {
    /// Stores `value`; returns its token.
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push((0, None));
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[idx as usize];
        entry.0 = entry.0.wrapping_add(1);
        entry.1 = Some(value);
        (u64::from(entry.0) << 32) | u64::from(idx)
    }

    /// Takes the value of `token` out (nothing when the token is stale).
    pub(crate) fn remove(&mut self, token: u64) -> Option<T> {
        let idx = (token & 0xffff_ffff) as usize;
        let entry = self.entries.get_mut(idx)?;
        if u64::from(entry.0) != token >> 32 {
            return None;
        }
        let value = entry.1.take()?;
        entry.0 = entry.0.wrapping_add(1);
        self.free.push(idx as u32);
        Some(value)
    }

    /// The value of `token`, unless the token is stale.
    pub(crate) fn get(&self, token: u64) -> Option<T> {
        let entry = self.entries.get((token & 0xffff_ffff) as usize)?;
        if u64::from(entry.0) != token >> 32 {
            return None;
        }
        entry.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn a_stale_token_finds_nothing_after_its_slot_is_reused() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.get(a), Some("a"));
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff, "the slot is reused");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some("b"));
    }
}
