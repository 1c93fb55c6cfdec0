//! [`ProfiledRawMutex`]: parking_lot's raw mutex, plus sampling of contended acquisitions into
//! the process-wide [`mutex_profile`].
//!
//! Semantics follow Go's `runtime.SetMutexProfileFraction(rate)`: on average 1 in `rate`
//! contention events is recorded, 0 disables recording. Uncontended acquisitions cost exactly
//! what parking_lot's cost (one CAS). One difference from Go, on purpose: Go charges the delay to
//! the *unlocker's* stack; we charge it to the *waiter's* stack, the code that wanted the lock,
//! because that is the caller a reader of an order-book profile is looking for.

use std::time::Instant;

use lock_api::RawMutex as _;

use crate::profile::{fast_random, ContentionProfile};
use crate::stack::RawStack;

/// The process-wide mutex profile. Recording is off (fraction 0) until
/// [`set_mutex_profile_fraction`] turns it on, as in Go.
static MUTEX_PROFILE: ContentionProfile = ContentionProfile::new(0);

/// The process-wide mutex contention profile (`/debug/pprof/mutex`).
pub fn mutex_profile() -> &'static ContentionProfile {
    &MUTEX_PROFILE
}

/// Records 1 in `rate` contended acquisitions from now on (0 turns recording off) and returns
/// the previous fraction, like Go's `runtime.SetMutexProfileFraction`.
pub fn set_mutex_profile_fraction(rate: u64) -> u64 {
    MUTEX_PROFILE.set_rate(rate)
}

/// A `lock_api::RawMutex` that samples contended acquisitions (stack and waiting time) into
/// [`mutex_profile`]. Use it through [`Mutex`] or as the `R` of any `lock_api`-generic type.
pub struct ProfiledRawMutex {
    /// The lock itself; profiling only wraps its slow path.
    inner: parking_lot::RawMutex,
}

// SAFETY: mutual exclusion is delegated entirely to parking_lot's RawMutex.
unsafe impl lock_api::RawMutex for ProfiledRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        inner: parking_lot::RawMutex::INIT,
    };

    type GuardMarker = lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        if !self.inner.try_lock() {
            self.lock_contended();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.inner.try_lock()
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock, as `lock_api` requires.
        unsafe { self.inner.unlock() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

impl ProfiledRawMutex {
    /// Slow path: the lock was held when we tried. Kept out of line so `lock` stays small.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let rate = MUTEX_PROFILE.rate();
        if rate == 0 || fast_random() % rate != 0 {
            self.inner.lock();
            return;
        }
        let waiting_since = Instant::now();
        self.inner.lock();
        let delay = waiting_since.elapsed();
        MUTEX_PROFILE.record(RawStack::capture(), delay);
    }
}

/// A mutex whose contended acquisitions are sampled into [`mutex_profile`].
pub type Mutex<T> = lock_api::Mutex<ProfiledRawMutex, T>;

/// Guard of a [`Mutex`].
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, ProfiledRawMutex, T>;

/// Creates a [`Mutex`] in a `const` context (for statics).
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::const_new(ProfiledRawMutex::INIT, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[inline(never)]
    fn wait_for_lock(lock: &Mutex<u64>) {
        *lock.lock() += 1;
    }

    #[test]
    fn contended_acquisitions_are_recorded_with_the_waiters_stack() {
        let previous = set_mutex_profile_fraction(1);
        let lock = Arc::new(Mutex::new(0_u64));
        let barrier = Arc::new(Barrier::new(2));
        let guard = lock.lock();
        let waiter = {
            let (lock, barrier) = (Arc::clone(&lock), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                wait_for_lock(&lock);
            })
        };
        barrier.wait();
        // Hold the lock until the waiter is parked on it, so the acquisition is contended.
        std::thread::sleep(Duration::from_millis(50));
        drop(guard);
        waiter.join().expect("waiter thread panicked");
        set_mutex_profile_fraction(previous);

        assert_eq!(*lock.lock(), 1);
        let snap = mutex_profile().snapshot();
        let start = wait_for_lock as fn(&Mutex<u64>) as usize;
        let found = snap.records.iter().find(|(stack, _)| {
            stack
                .ips()
                .iter()
                .take(4)
                .any(|&ip| ip > start && ip < start + 4096)
        });
        let (_, record) = found.expect("no record whose stack passes through wait_for_lock");
        assert!(record.count >= 1);
        assert!(
            record.delay_ns >= 10_000_000,
            "delay {} ns too small",
            record.delay_ns
        );
    }
}
