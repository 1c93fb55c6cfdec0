//! [`ProfiledRawMutex`]: parking_lot's raw mutex, plus Go's mutex profile semantics.
//!
//! Go's mutex profile (`runtime.SetMutexProfileFraction(rate)`) answers "who held the lock that
//! others waited for": when `sync.Mutex.Unlock` wakes a waiter, `semrelease1` charges the time
//! that waiter spent waiting to the *unlocker's* stack (`mutexevent`), for 1 in `rate` such
//! events, and restarts the clock of the waiters still queued so the next unlocker is charged only
//! for the waiting that happened while it held the lock. We do the same:
//!
//! - a waiter that finds the lock held (while the profile is on) registers itself in `waiters`
//!   and, if it is the first, publishes when it started waiting in `wait_since`;
//! - an unlock that sees registered waiters charges `now - wait_since` to its own stack and sets
//!   `wait_since = now` for whoever is still waiting.
//!
//! The waiter's own side goes to the *block* profile, as Go's `sync.Mutex.Lock` does
//! (`semacquire1` → `blockevent`): who waited, and for how long.
//!
//! Costs: an uncontended lock is one CAS as in parking_lot; an unlock adds one atomic load.
//! Under races (a waiter registering just as the last one leaves) a wait can go uncharged;
//! it is never charged twice.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use lock_api::RawMutex as _;

use crate::block::{block_profiling, record_blocked};
use crate::profile::{fast_random, now_ns, ContentionProfile};
use crate::stack::RawStack;

/// The process-wide mutex profile. Recording is off (fraction 0) until
/// [`set_mutex_profile_fraction`] turns it on, as in Go.
static MUTEX_PROFILE: ContentionProfile = ContentionProfile::new(0);

/// The process-wide mutex contention profile (`/debug/pprof/mutex`).
pub fn mutex_profile() -> &'static ContentionProfile {
    &MUTEX_PROFILE
}

/// Records 1 in `rate` contention events from now on (0 turns recording off) and returns
/// the previous fraction, like Go's `runtime.SetMutexProfileFraction`.
pub fn set_mutex_profile_fraction(rate: u64) -> u64 {
    MUTEX_PROFILE.set_rate(rate)
}

/// A `lock_api::RawMutex` that records contention into [`mutex_profile`] (charged to the
/// unlocker) and [`crate::block_profile`] (charged to the waiter). Use it through [`Mutex`] or
/// as the `R` of any `lock_api`-generic type.
pub struct ProfiledRawMutex {
    /// The lock itself; profiling only wraps its slow paths.
    inner: parking_lot::RawMutex,
    /// Waiters registered for the mutex profile (those that started waiting while it was on).
    waiters: AtomicU32,
    /// CLOCK_MONOTONIC ns since which the registered waiters have been waiting uncharged: the
    /// first waiter's start, then the last charging unlock. 0 when nobody is registered.
    wait_since: AtomicU64,
}

// SAFETY: mutual exclusion is delegated entirely to parking_lot's RawMutex; the extra fields are
// bookkeeping only.
unsafe impl lock_api::RawMutex for ProfiledRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        inner: parking_lot::RawMutex::INIT,
        waiters: AtomicU32::new(0),
        wait_since: AtomicU64::new(0),
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
        // SeqCst pairs with the waiter's SeqCst registration, so an unlock does not miss a
        // waiter that registered before it.
        if self.waiters.load(Ordering::SeqCst) == 0 {
            // SAFETY: the caller holds the lock, as `lock_api` requires.
            unsafe { self.inner.unlock() };
        } else {
            // SAFETY: as above.
            unsafe { self.unlock_charging_waiters() };
        }
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
        let charge_holder = MUTEX_PROFILE.rate() != 0;
        let time_waiter = block_profiling();
        if !charge_holder && !time_waiter {
            self.inner.lock();
            return;
        }
        let started = now_ns();
        if charge_holder {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            // Only the first waiter sets the clock: an unlock charges one wait, as Go's does.
            let _ =
                self.wait_since
                    .compare_exchange(0, started, Ordering::SeqCst, Ordering::Relaxed);
        }
        self.inner.lock();
        if charge_holder && self.waiters.fetch_sub(1, Ordering::SeqCst) == 1 {
            // We hold the lock and were the last registered waiter: nothing left to charge.
            self.wait_since.store(0, Ordering::SeqCst);
        }
        if time_waiter {
            record_blocked(now_ns().saturating_sub(started));
        }
    }

    /// Unlock with waiters registered: charge their waiting to the unlocker, then release.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[cold]
    #[inline(never)]
    unsafe fn unlock_charging_waiters(&self) {
        // Still holding the lock, so no registered waiter can leave while we read the clock.
        let now = now_ns();
        let since = self.wait_since.swap(now, Ordering::SeqCst);
        // SAFETY: the caller holds the lock.
        unsafe { self.inner.unlock() };
        // Recorded after releasing, as Go records after `unlock(&root.lock)`: the waiter is
        // not kept waiting for our bookkeeping.
        if since != 0 && now > since {
            mutex_event(now - since);
        }
    }
}

/// Go's `mutexevent`: 1 in `rate` events is saved with the calling (unlocking) stack.
#[inline(never)]
fn mutex_event(delay_ns: u64) {
    let rate = MUTEX_PROFILE.rate();
    if rate == 0 || fast_random() % rate != 0 {
        return;
    }
    MUTEX_PROFILE.record_weighted(RawStack::capture(), 1.0, delay_ns);
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

    /// Drops the guard here, so this function is the unlocker Go's semantics charge.
    #[inline(never)]
    fn release_lock(guard: MutexGuard<'_, u64>) {
        drop(std::hint::black_box(guard));
    }

    /// The records whose stack passes through a function whose name contains `name`.
    fn records_through(profile: &ContentionProfile, name: &str) -> Vec<crate::ContentionRecord> {
        profile
            .snapshot()
            .records
            .into_iter()
            .filter(|(stack, _)| {
                stack.ips().iter().any(|&ip| {
                    let mut found = false;
                    // ip - 1: inside the call instruction, not after it.
                    backtrace::resolve((ip - 1) as *mut std::ffi::c_void, |symbol| {
                        found |= symbol.name().is_some_and(|n| n.to_string().contains(name));
                    });
                    found
                })
            })
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn delay_is_charged_to_the_unlocker_and_the_wait_to_the_waiter() {
        let _serial = crate::TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let previous = set_mutex_profile_fraction(1);
        let previous_block = crate::set_block_profile_rate(1);
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
        release_lock(guard);
        waiter.join().expect("waiter thread panicked");
        set_mutex_profile_fraction(previous);
        crate::set_block_profile_rate(previous_block);
        assert_eq!(*lock.lock(), 1);

        let held = records_through(mutex_profile(), "release_lock");
        assert_eq!(held.len(), 1, "one unlock was charged");
        assert_eq!(held[0].count, 1);
        assert!(
            held[0].delay_ns >= 40_000_000,
            "delay {} ns",
            held[0].delay_ns
        );
        assert!(
            records_through(mutex_profile(), "wait_for_lock").is_empty(),
            "the mutex profile charged the waiter"
        );
        let waited = records_through(crate::block_profile(), "wait_for_lock");
        assert_eq!(waited.len(), 1, "the waiter's wait is in the block profile");
        assert!(
            waited[0].delay_ns >= 40_000_000,
            "delay {} ns",
            waited[0].delay_ns
        );
        assert!(
            records_through(crate::block_profile(), "release_lock").is_empty(),
            "the block profile charged the holder"
        );
    }
}
