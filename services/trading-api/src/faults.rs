//! trading-api's own chaos faults, behind the `chaos` crate's [`chaos::ServiceFaults`] trait:
//! `lock-contention` (longer book-lock holds, background lockers and an extra global lock, or the
//! lock-heavy `coarse` design) and `slow-journal` (a delay before every fsync). The order path
//! (`venue.rs`) only reads the knobs these set (`locking.rs`), so it does not depend on this
//! module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use matching::SymbolId;

use crate::locking::spin_for;
use crate::venue::Venue;

/// trading-api's own chaos faults (`lock-contention`, `slow-journal`), installed into the
/// service's `chaos::Chaos` once the venue is recovered.
#[derive(Debug)]
pub struct VenueFaults {
    /// The live venue.
    venue: Arc<Venue>,
}

impl VenueFaults {
    /// Faults acting on `venue`.
    pub fn new(venue: Arc<Venue>) -> Self {
        Self { venue }
    }
}

/// A background thread of `lock-contention`: takes every book lock in turn and holds it, so
/// order entry waits behind it.
#[inline(never)]
fn contend_for_book_locks(venue: &Venue, hold: std::time::Duration, stop: &AtomicBool) {
    let symbols = venue.instruments().len();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..symbols {
            let symbol = SymbolId(u32::try_from(i).unwrap_or(u32::MAX));
            venue.with_book(symbol, |_, _| spin_for(hold));
            std::thread::yield_now();
        }
        if symbols == 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl chaos::ServiceFaults for VenueFaults {
    fn lock_contention(
        &self,
        params: &chaos::scenario::LockContentionParams,
    ) -> Result<chaos::Undo, service_kit::ApiError> {
        let knobs = &self.venue.lock_chaos;
        if params.design == chaos::scenario::LockDesign::Coarse {
            let was = self.venue.set_coarse_locking(true);
            let venue = Arc::clone(&self.venue);
            return Ok(Box::new(move || {
                venue.set_coarse_locking(was);
            }));
        }
        knobs
            .hold_book_lock_extra
            .store(params.hold_us.saturating_mul(1000), Ordering::Relaxed);
        knobs
            .serialize_books
            .store(params.global, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        // Contenders hold a lock at least 50 us, so they contend even with hold_us = 0.
        let hold = std::time::Duration::from_micros(params.hold_us.max(50));
        for i in 0..params.contenders {
            let (venue, stop) = (Arc::clone(&self.venue), Arc::clone(&stop));
            let spawned = std::thread::Builder::new()
                .name(format!("chaos-book-contender-{i}"))
                .spawn(move || contend_for_book_locks(&venue, hold, &stop));
            if let Err(err) = spawned {
                tracing::error!(%err, "cannot start a lock contender");
            }
        }
        let venue = Arc::clone(&self.venue);
        Ok(Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            venue
                .lock_chaos
                .hold_book_lock_extra
                .store(0, Ordering::Relaxed);
            venue
                .lock_chaos
                .serialize_books
                .store(false, Ordering::Relaxed);
        }))
    }

    fn slow_journal(
        &self,
        params: &chaos::scenario::SlowJournalParams,
    ) -> Result<chaos::Undo, service_kit::ApiError> {
        let journal = self
            .venue
            .journal()
            .ok_or_else(service_kit::ApiError::not_ready)?;
        journal.set_fsync_delay(std::time::Duration::from_millis(params.delay_ms));
        let venue = Arc::clone(&self.venue);
        Ok(Box::new(move || {
            if let Some(journal) = venue.journal() {
                journal.set_fsync_delay(std::time::Duration::ZERO);
            }
        }))
    }
}
