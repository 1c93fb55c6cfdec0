//! [`ContentionProfile`]: contention events (a wait, its stack and its length) aggregated per
//! stack, as Go's runtime keeps its mutex and block profile buckets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stack::RawStack;

/// Totals for one stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentionRecord {
    /// Number of recorded (sampled) events.
    pub count: u64,
    /// Total time those events waited, in nanoseconds.
    pub delay_ns: u64,
}

/// A copy of a profile's buckets, taken at one instant.
#[derive(Clone, Debug, Default)]
pub struct ContentionSnapshot {
    /// One entry per distinct stack.
    pub records: Vec<(RawStack, ContentionRecord)>,
    /// The sampling setting in force when the snapshot was taken: the mutex fraction (1 in
    /// `rate` contended acquisitions) or the block rate in nanoseconds. 0 means disabled.
    pub rate: u64,
}

/// One bucket as kept: the count is fractional because Go's block profile removes its sampling
/// bias by adding `rate / delay` events for a sampled short wait (see [`ContentionProfile::record_weighted`]).
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    count: f64,
    delay_ns: u64,
}

/// Contention events aggregated per stack, with the sampling setting that decides which
/// events are recorded.
#[derive(Debug, Default)]
pub struct ContentionProfile {
    /// Sampling setting; see [`ContentionSnapshot::rate`]. Atomic so the hot path reads it
    /// without a lock.
    rate: AtomicU64,
    /// Buckets. A plain parking_lot mutex, never a profiled one, so recording cannot recurse.
    buckets: parking_lot::Mutex<Option<HashMap<RawStack, Bucket>>>,
}

impl ContentionProfile {
    /// An empty profile with the given sampling setting.
    pub const fn new(rate: u64) -> Self {
        Self {
            rate: AtomicU64::new(rate),
            buckets: parking_lot::const_mutex(None),
        }
    }

    /// The sampling setting in force.
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Changes the sampling setting and returns the previous one. Existing buckets are kept,
    /// as Go keeps them.
    pub fn set_rate(&self, rate: u64) -> u64 {
        self.rate.swap(rate, Ordering::Relaxed)
    }

    /// Adds one event waiting `delay` at `stack`.
    pub fn record(&self, stack: RawStack, delay: Duration) {
        let delay_ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.record_weighted(stack, 1.0, delay_ns);
    }

    /// Adds `count` events (possibly fractional) totalling `delay_ns` at `stack`. The block
    /// profile uses it as Go's `saveblockevent` does for a sampled wait shorter than the rate:
    /// `rate / delay` events of `rate` nanoseconds, so totals are unbiased estimates.
    pub fn record_weighted(&self, stack: RawStack, count: f64, delay_ns: u64) {
        let mut buckets = self.buckets.lock();
        let bucket = buckets
            .get_or_insert_with(HashMap::new)
            .entry(stack)
            .or_default();
        bucket.count += count;
        bucket.delay_ns = bucket.delay_ns.saturating_add(delay_ns);
    }

    /// Copies the buckets, largest delay first (Go sorts by cycles the same way).
    pub fn snapshot(&self) -> ContentionSnapshot {
        let mut records: Vec<(RawStack, ContentionRecord)> = self
            .buckets
            .lock()
            .as_ref()
            .map(|b| {
                b.iter()
                    .map(|(s, r)| {
                        // Truncated like Go's `int64(bp.count)` in runtime.BlockProfile.
                        let record = ContentionRecord {
                            count: r.count as u64,
                            delay_ns: r.delay_ns,
                        };
                        (s.clone(), record)
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.sort_by_key(|r| std::cmp::Reverse(r.1.delay_ns));
        ContentionSnapshot {
            records,
            rate: self.rate(),
        }
    }

    /// Number of distinct stacks recorded so far.
    pub fn len(&self) -> usize {
        self.buckets.lock().as_ref().map_or(0, HashMap::len)
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// CLOCK_MONOTONIC in nanoseconds: a plain integer timestamp that fits in an atomic (lock
/// waiters publish when they started waiting). Never 0 on Linux after boot.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes only into `ts`, a valid local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// A per-thread xorshift generator: sampling decisions must not take a lock or a syscall.
pub(crate) fn fast_random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Seed from this thread's state address and the clock; only needs to differ
            // between threads, not to be unpredictable.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (state as *const Cell<u64> as u64) ^ nanos | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_at_the_same_stack_add_up() {
        let profile = ContentionProfile::new(1);
        let here = RawStack::from_ips(vec![1, 2, 3]);
        let there = RawStack::from_ips(vec![4]);
        profile.record(here.clone(), Duration::from_nanos(10));
        profile.record(here.clone(), Duration::from_nanos(30));
        profile.record(there.clone(), Duration::from_nanos(5));
        let snap = profile.snapshot();
        assert_eq!(snap.rate, 1);
        assert_eq!(snap.records.len(), 2);
        assert_eq!(snap.records[0].0, here);
        assert_eq!(
            snap.records[0].1,
            ContentionRecord {
                count: 2,
                delay_ns: 40
            }
        );
        assert_eq!(snap.records[1].1.count, 1);
    }

    #[test]
    fn fast_random_varies() {
        let a = fast_random();
        let b = fast_random();
        assert_ne!(a, b);
    }
}
