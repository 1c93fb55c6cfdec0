//! `hash-heavy`: SipHash (std's default hasher) over large keys in `HashMap` inserts that grow
//! from empty. In a CPU flamegraph: `insert_all` over `core::hash::sip::Hasher::write`
//! (`<SipHasher13 as Hasher>::write`) and `hashbrown::raw::RawTable::reserve_rehash`.

use std::collections::HashMap;

/// `count` distinct keys of 256 bytes each.
pub fn keys(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{i:08}-{}", "k".repeat(247)))
        .collect()
}

/// Inserts every key into a fresh map (no capacity: it rehashes as it grows), then looks each
/// up once; returns the map's length.
#[inline(never)]
pub fn insert_all(keys: &[String]) -> usize {
    let mut map: HashMap<&str, usize> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        map.insert(key.as_str(), i);
    }
    let found = keys.iter().filter(|k| map.contains_key(k.as_str())).count();
    std::hint::black_box(found).max(map.len())
}
