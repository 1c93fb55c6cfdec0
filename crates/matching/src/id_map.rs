//! [`IdMap`]: order id to arena slot, an open-addressing hash table specialised for the book.
//!
//! Why not `std::collections::HashMap`: its SwissTable keeps control bytes apart from the
//! entries, so each lookup of a cold id touches two cache lines, and the id map is probed up to
//! three times per order (duplicate check, insert when resting, remove when filled/canceled).
//! Here an entry is one 16-byte bucket found by linear probing from a well-mixed hash at a load
//! factor of at most 1/2, so a lookup is usually one bucket, one cache line. Deletion shifts
//! later entries back (no tombstones), so performance does not decay with churn.

use crate::arena::NIL;

/// One bucket. `slot == NIL` marks it empty (NIL is never a live arena slot), so every `u64`
/// is a valid key.
#[derive(Clone, Copy)]
struct Bucket {
    key: u64,
    slot: u32,
}

const EMPTY: Bucket = Bucket { key: 0, slot: NIL };

/// Order id -> arena slot.
#[derive(Clone)]
pub(crate) struct IdMap {
    /// Power-of-two number of buckets.
    buckets: Vec<Bucket>,
    /// `buckets.len() - 1`.
    mask: usize,
    /// Live entries.
    len: usize,
}

impl std::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdMap").field("len", &self.len).finish()
    }
}

/// Spreads ids over buckets: a 128-bit multiply folded to 64 bits, so every key bit reaches
/// the low bits used as the index (sequential and strided ids alike spread evenly).
#[inline]
fn spread(key: u64) -> usize {
    let m = u128::from(key) * 0x9E37_79B9_7F4A_7C15u128;
    ((m as u64) ^ ((m >> 64) as u64)) as usize
}

impl IdMap {
    /// A map that holds `capacity` ids before it first grows.
    pub fn with_capacity(capacity: usize) -> Self {
        let n = (capacity.max(8) * 2).next_power_of_two();
        IdMap {
            buckets: vec![EMPTY; n],
            mask: n - 1,
            len: 0,
        }
    }

    /// Number of ids stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The slot of `key`, if present.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        let mut i = spread(key) & self.mask;
        loop {
            let b = self.buckets[i];
            if b.slot == NIL {
                return None;
            }
            if b.key == key {
                return Some(b.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Whether `key` is present.
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Maps `key` to `slot` (which must not be NIL), replacing any previous slot.
    #[inline]
    pub fn insert(&mut self, key: u64, slot: u32) {
        debug_assert!(slot != NIL);
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        let mut i = spread(key) & self.mask;
        loop {
            let b = &mut self.buckets[i];
            if b.slot == NIL {
                *b = Bucket { key, slot };
                self.len += 1;
                return;
            }
            if b.key == key {
                b.slot = slot;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`, returning its slot if it was present.
    #[inline]
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let mut i = spread(key) & self.mask;
        loop {
            let b = self.buckets[i];
            if b.slot == NIL {
                return None;
            }
            if b.key == key {
                break;
            }
            i = (i + 1) & self.mask;
        }
        let removed = self.buckets[i].slot;
        self.len -= 1;
        // Backward-shift deletion: move each following entry of the cluster into the hole
        // if the hole lies on its probe path (between its home bucket and where it sits).
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b.slot == NIL {
                break;
            }
            let home = spread(b.key) & self.mask;
            // Distance from home to j, and from home to the hole, walking forward (mod size).
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole < dist_j {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        Some(removed)
    }

    /// Doubles the table (only when the book reaches a new high-water mark).
    #[cold]
    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; (self.mask + 1) * 2]);
        self.mask = self.buckets.len() - 1;
        self.len = 0;
        for b in old {
            if b.slot != NIL {
                self.insert(b.key, b.slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn grows_and_keeps_everything() {
        let mut m = IdMap::with_capacity(4);
        for k in 0..10_000u64 {
            m.insert(k * 4096, k as u32);
        }
        assert_eq!(m.len(), 10_000);
        for k in 0..10_000u64 {
            assert_eq!(m.get(k * 4096), Some(k as u32));
        }
        assert_eq!(m.get(1), None);
    }

    #[test]
    fn extreme_keys_are_ordinary() {
        let mut m = IdMap::with_capacity(4);
        m.insert(u64::MAX, 1);
        m.insert(0, 2);
        assert_eq!(m.get(u64::MAX), Some(1));
        assert_eq!(m.get(0), Some(2));
        assert_eq!(m.remove(u64::MAX), Some(1));
        assert_eq!(m.get(u64::MAX), None);
        assert_eq!(m.get(0), Some(2));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Same answers as std's HashMap under random inserts/removes/lookups, with keys from a
        /// small range so probe clusters, overwrites and backward shifts all happen.
        #[test]
        fn behaves_like_hashmap(ops in prop::collection::vec((0u8..3, 0u64..64, 0u32..1000), 1..400)) {
            let mut ours = IdMap::with_capacity(4);
            let mut std_map = HashMap::new();
            for (op, key, val) in ops {
                let key = key.wrapping_mul(0x1_0000_0001);
                match op {
                    0 => { ours.insert(key, val); std_map.insert(key, val); }
                    1 => prop_assert_eq!(ours.remove(key), std_map.remove(&key)),
                    _ => prop_assert_eq!(ours.get(key), std_map.get(&key).copied()),
                }
                prop_assert_eq!(ours.len(), std_map.len());
            }
            for (k, v) in &std_map {
                prop_assert_eq!(ours.get(*k), Some(*v));
            }
        }
    }
}
