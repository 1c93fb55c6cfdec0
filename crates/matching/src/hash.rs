//! Small, deterministic hashing: a fast hasher for order-id maps and a stable digest.
//!
//! `std`'s default SipHash is randomly keyed (slow and non-reproducible); order ids are
//! caller-chosen integers that only need spreading over hash buckets, and the book digest must
//! be identical across runs, processes and Rust versions, so both are written here.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier from the golden ratio; odd, with well-spread bits.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hasher for integer keys: one 128-bit multiply folded to 64 bits, so both the high bits
/// (SwissTable control bytes) and the low bits (bucket index) depend on every key bit.
#[derive(Default, Clone, Copy)]
pub struct IdHasher {
    /// Running state; one `write_u64` is the common case.
    state: u64,
}

impl IdHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        let m = u128::from(self.state ^ x) * u128::from(MIX);
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-integer keys; correct, not fast.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.mix(x);
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.mix(u64::from(x));
    }
}

/// `BuildHasher` for [`IdHasher`], for `HashMap<u64, _, BuildIdHasher>`.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;

/// Stable 64-bit digest over a sequence of integers (FNV-1a over little-endian bytes, with a
/// final avalanche). Used for book digests that must match across runs and machines.
#[derive(Clone, Copy)]
pub struct Digest {
    /// FNV-1a state.
    state: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            state: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl Digest {
    /// Feeds one integer.
    #[inline]
    pub fn add(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.state ^= u64::from(b);
            self.state = self.state.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The digest so far (splitmix64 finaliser so nearby inputs give distant outputs).
    pub fn finish(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn id_hasher_spreads_sequential_ids_over_low_bits() {
        let build = BuildIdHasher::default();
        let mut buckets = [0u32; 64];
        for id in 0..6400u64 {
            buckets[(build.hash_one(id) & 63) as usize] += 1;
        }
        // Perfectly even would be 100 per bucket; a weak hash leaves buckets empty.
        assert!(buckets.iter().all(|&n| n > 50), "{buckets:?}");
    }

    #[test]
    fn digest_is_order_sensitive_and_stable() {
        let mut a = Digest::default();
        a.add(1);
        a.add(2);
        let mut b = Digest::default();
        b.add(2);
        b.add(1);
        assert_ne!(a.finish(), b.finish());
        let mut c = Digest::default();
        c.add(1);
        c.add(2);
        assert_eq!(a.finish(), c.finish());
    }
}
