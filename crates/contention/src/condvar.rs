//! [`Condvar`]: a condition variable for the profiled [`crate::Mutex`], whose waits are timed
//! into the block profile as Go times `sync.Cond.Wait` (`notifyListWait` → `blockevent`).
//!
//! parking_lot's `Condvar` only accepts parking_lot's own mutex guard, so this one pairs a
//! parking_lot `Condvar` with a private `gate` mutex: a waiter takes the gate *before* releasing
//! the user's mutex and the condvar releases the gate atomically as it parks; a notifier takes the
//! gate before notifying. A notify can therefore not fall between "released the mutex" and
//! "parked", so no wakeup is lost. The gate is never held while waiting for the user's mutex, so
//! it adds no lock-order cycle. Relocking the user's mutex after a wakeup goes through the
//! profiled mutex, so a contended relock is counted like any other acquisition.

use std::time::{Duration, Instant};

use crate::block::{block_profiling, record_blocked};
use crate::mutex::MutexGuard;

/// A condition variable to use with [`crate::Mutex`]; waits are recorded in the block profile.
#[derive(Debug, Default)]
pub struct Condvar {
    condvar: parking_lot::Condvar,
    /// Serialises "release the user's mutex, then park" against notifies; see the module doc.
    gate: parking_lot::Mutex<()>,
}

/// Whether a timed wait returned because its time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ended by timeout rather than a notification.
    pub fn timed_out(self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Self {
        Self {
            condvar: parking_lot::Condvar::new(),
            gate: parking_lot::const_mutex(()),
        }
    }

    /// Releases `guard`'s mutex, waits for a notification, and locks it again. As with every
    /// condition variable, wakeups may be spurious: wait in a loop that rechecks the condition.
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.wait_inner(guard, None);
    }

    /// Like [`Condvar::wait`], but gives up after `timeout`.
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_inner(guard, Some(timeout))
    }

    /// Wakes one waiter; returns whether there was one.
    pub fn notify_one(&self) -> bool {
        let _gate = self.gate.lock();
        self.condvar.notify_one()
    }

    /// Wakes every waiter; returns how many there were.
    pub fn notify_all(&self) -> usize {
        let _gate = self.gate.lock();
        self.condvar.notify_all()
    }

    #[inline(never)]
    fn wait_inner<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Option<Duration>,
    ) -> WaitTimeoutResult {
        let mut gate = self.gate.lock();
        let (timed_out, waited) = MutexGuard::unlocked(guard, move || {
            let timed = block_profiling().then(Instant::now);
            let timed_out = match timeout {
                Some(timeout) => self.condvar.wait_for(&mut gate, timeout).timed_out(),
                None => {
                    self.condvar.wait(&mut gate);
                    false
                }
            };
            // Release the gate before relocking the user's mutex: a notifier may hold that
            // mutex while it waits for the gate.
            drop(gate);
            (timed_out, timed.map(|since| since.elapsed()))
        });
        // Only the wait for a notification; a contended relock is recorded by the mutex itself.
        if let Some(waited) = waited {
            record_blocked(u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX));
        }
        WaitTimeoutResult(timed_out)
    }
}
