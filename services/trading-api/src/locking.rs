//! The order path's lock knobs: the raw mutex behind the book locks, and the switches the
//! `lock-contention` fault turns (`faults.rs` sets them, `venue.rs` reads them), including the
//! lock-heavy `coarse` design.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The raw mutex behind the engine's book locks: contention-profiling (crates/contention), so a
/// contended book shows in `/debug/pprof/mutex` with the waiting caller's stack.
pub type EngineMutex = contention::ProfiledRawMutex;

/// Knobs of the `lock-contention` chaos fault (set by `faults.rs`).
///
/// The exchange's lock layout ([`LockingMode`]) is fixed when it is built, so "switch to the
/// global lock" is done by taking one extra lock, `global`, around every command's book lock:
/// all symbols then serialize exactly as under `LockingMode::Global`.
#[derive(Default)]
pub(crate) struct LockChaos {
    /// Extra nanoseconds every command spins while holding its book lock.
    pub(crate) hold_book_lock_extra: AtomicU64,
    /// When set, every command takes `global` before its book lock.
    pub(crate) serialize_books: AtomicBool,
    /// The stand-in global book lock; profiled, so its waits show in `/debug/pprof/mutex`.
    pub(crate) global: lock_api::Mutex<EngineMutex, ()>,
    /// The `coarse` lock design is on ([`Venue::run_coarse`]).
    pub(crate) coarse: AtomicBool,
    /// The `coarse` design's one lock around the whole order path; profiled.
    pub(crate) venue_lock: contention::Mutex<()>,
}

impl LockChaos {
    /// The global lock while the fault serializes books (lock order: global, then book).
    pub(crate) fn serialize(&self) -> Option<lock_api::MutexGuard<'_, EngineMutex, ()>> {
        self.serialize_books
            .load(Ordering::Relaxed)
            .then(|| self.global.lock())
    }

    /// Lengthens the critical section by the fault's extra hold time (a no-op normally).
    #[inline(never)]
    pub(crate) fn hold_book_lock_extra(&self) {
        let ns = self.hold_book_lock_extra.load(Ordering::Relaxed);
        if ns > 0 {
            spin_for(std::time::Duration::from_nanos(ns));
        }
    }
}

/// Busy-waits (a lock holder that computes, not one that sleeps).
pub(crate) fn spin_for(duration: std::time::Duration) {
    let started = Instant::now();
    while started.elapsed() < duration {
        std::hint::spin_loop();
    }
}
