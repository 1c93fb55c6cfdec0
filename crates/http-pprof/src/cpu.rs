//! CPU profile: the `pprof` crate's SIGPROF sampler at 99 Hz with the frame-pointer unwinder
//! (async-signal-safe, unlike DWARF unwinding: pprof-rs issue 36), re-encoded with Go's sample
//! types `samples/count` and `cpu/nanoseconds` and our own symbolisation (inlined frames kept).
//!
//! Samples that land in libc, libgcc, pthread or the vDSO are dropped: unwinding from inside
//! them is where signal-time unwinding deadlocks or crashes (e.g. libgcc's unwinder while
//! jemalloc records a heap sample).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::PprofError;
use crate::raw_profile::{merge_samples, RawProfile, RawSample, TextLayout};

/// Sampling frequency, Hz. Go uses 100; 99 avoids lockstep with 10 ms timers.
pub const FREQUENCY_HZ: i32 = 99;

/// One CPU profile at a time per process, as Go enforces.
static CPU_PROFILE_RUNNING: AtomicBool = AtomicBool::new(false);

/// Releases the one-at-a-time slot however the profile ends (including a client hanging up).
struct RunningSlot;

impl Drop for RunningSlot {
    fn drop(&mut self) {
        CPU_PROFILE_RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Samples the whole process for `duration`.
pub async fn profile(duration: Duration) -> Result<RawProfile, PprofError> {
    if CPU_PROFILE_RUNNING.swap(true, Ordering::SeqCst) {
        return Err(PprofError::CpuInUse);
    }
    let slot = RunningSlot;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| PprofError::CpuStart(e.to_string()))?;
    let mut profile = RawProfile::new(
        "profile",
        vec![("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1_000_000_000 / i64::from(FREQUENCY_HZ),
        TextLayout::Count,
    );
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let elapsed = started.elapsed();
    let report = guard
        .report()
        .build_unresolved()
        .map_err(|e| PprofError::Collect(e.to_string()));
    drop(guard);
    drop(slot);
    let report = report?;
    let period = profile.period;
    let samples = report
        .data
        .iter()
        .map(|(frames, &count)| {
            let count = count as i64;
            RawSample {
                stack: frames.frames.iter().map(|f| f.ip).collect(),
                values: vec![count, count * period],
                labels: Vec::new(),
            }
        })
        .collect();
    profile.samples = merge_samples(samples);
    profile.duration_nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
    Ok(profile)
}
