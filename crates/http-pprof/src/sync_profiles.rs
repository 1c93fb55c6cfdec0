//! `mutex` and `block` profiles from the `contention` crate's per-stack buckets, with Go's
//! sample types `contentions/count` and `delay/nanoseconds`.
//!
//! Semantics are Go's: the mutex profile charges the *unlocker* (the stack that held a lock
//! others waited for, at the point it released it), the block profile charges the *waiter*.
//! As in Go's `printCountCycleProfile`, the binary mutex profile multiplies counts and delays by
//! the sampling fraction (1 in N events recorded, so each record stands for N); block values
//! are as recorded (the contention crate already removed the sampling bias). The `debug=1` text
//! carries the raw recorded values and lets the reader scale, as Go's does.

use contention::ContentionSnapshot;

use crate::raw_profile::{RawProfile, RawSample, TextLayout};
use crate::symbolize::Frame;

/// Frames of the profiled lock and wait wrappers themselves, and the guard drops that call them
/// (the caller that released a lock is the frame *above* `drop_in_place::<MutexGuard>`).
pub fn is_lock_frame(frame: &Frame) -> bool {
    // By source file too: release builds with line-tables-only debug info name inlined frames
    // without their module path (`lock`).
    let file = frame.file.as_str();
    if file.contains("/lock_api-") || file.contains("/contention/src/") {
        return true;
    }
    let function = frame.function.as_str();
    function.starts_with("contention::")
        || function.starts_with("<contention::")
        || function.starts_with("lock_api::")
        || function.starts_with("<lock_api::")
        || function.starts_with("core::future::poll_fn")
        || function.starts_with("<core::future::poll_fn")
        || function.starts_with("core::ptr::drop_in_place<lock_api::")
        || function.starts_with("core::mem::drop<lock_api::")
}

/// Which profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// `/debug/pprof/mutex`.
    Mutex,
    /// `/debug/pprof/block`.
    Block,
}

/// Builds the profile from the process-wide buckets.
pub fn collect(kind: SyncKind) -> RawProfile {
    let (name, snapshot): (&'static str, ContentionSnapshot) = match kind {
        SyncKind::Mutex => ("mutex", contention::mutex_profile().snapshot()),
        SyncKind::Block => ("block", contention::block_profile().snapshot()),
    };
    let scale = match kind {
        SyncKind::Mutex => i64::try_from(snapshot.rate.max(1)).unwrap_or(1),
        SyncKind::Block => 1,
    };
    let mut profile = RawProfile::new(
        name,
        vec![("contentions", "count"), ("delay", "nanoseconds")],
        ("contentions", "count"),
        1,
        TextLayout::Contention,
    );
    if kind == SyncKind::Mutex {
        // The fraction as set (0 when off, as Go prints it): "sampling period=" in the debug=1
        // text, whose values are the recorded ones (binary values divided by `max(period, 1)`).
        profile.period = i64::try_from(snapshot.rate).unwrap_or(i64::MAX);
    }
    profile.trim = Some(is_lock_frame);
    profile.samples = snapshot
        .records
        .into_iter()
        .map(|(stack, record)| RawSample {
            stack: stack.ips().to_vec(),
            values: vec![
                i64::try_from(record.count)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(scale),
                i64::try_from(record.delay_ns)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(scale),
            ],
            labels: Vec::new(),
        })
        .collect();
    profile
}
