//! CPU profile: [`cpu_sampler`](crate::cpu_sampler) at 99 Hz for the requested duration,
//! encoded with Go's sample types `samples/count` and `cpu/nanoseconds`.
//!
//! Samples that land in libc, libgcc, pthread or the vDSO are kept (syscalls are CPU too, as
//! Go counts them); the sampler recovers their callers only where it can prove the addresses
//! (see [`cpu_sampler`](crate::cpu_sampler)). It never calls libgcc's unwinder, which is where
//! signal-time unwinding deadlocks or crashes (e.g. while jemalloc records a heap sample).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cpu_sampler;
use crate::error::PprofError;
use crate::raw_profile::{RawProfile, RawSample, TextLayout};

/// Sampling frequency, Hz. Go uses 100; 99 avoids lockstep with 10 ms timers.
pub const FREQUENCY_HZ: u32 = 99;

/// How often the sample ring is emptied while a profile runs.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// One CPU profile at a time per process, as Go enforces.
static CPU_PROFILE_RUNNING: AtomicBool = AtomicBool::new(false);

/// Stops the sampler and releases the one-at-a-time slot however the profile ends (including
/// a client hanging up mid-profile).
struct RunningProfile;

impl Drop for RunningProfile {
    fn drop(&mut self) {
        cpu_sampler::stop();
        CPU_PROFILE_RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Samples the whole process for `duration`.
pub async fn profile(duration: Duration) -> Result<RawProfile, PprofError> {
    if CPU_PROFILE_RUNNING.swap(true, Ordering::SeqCst) {
        return Err(PprofError::CpuInUse);
    }
    let running = RunningProfile;
    let mut profile = RawProfile::new(
        "profile",
        vec![("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1_000_000_000 / i64::from(FREQUENCY_HZ),
        TextLayout::Count,
    );
    cpu_sampler::start(FREQUENCY_HZ).map_err(|e| PprofError::CpuStart(e.to_string()))?;
    let started = Instant::now();
    let mut counts: HashMap<Vec<usize>, i64> = HashMap::new();
    let deadline = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + DRAIN_EVERY)).await;
        cpu_sampler::drain(&mut counts);
    }
    let elapsed = started.elapsed();
    cpu_sampler::stop();
    cpu_sampler::drain(&mut counts);
    let lost = cpu_sampler::lost();
    let signals = cpu_sampler::signals();
    drop(running);
    // Signals received vs samples kept: shows timer coalescing or ring overflow when the
    // profile's total falls short of the CPU the process used.
    profile.comments.push(format!(
        "{signals} SIGPROF received, {lost} lost to a full sample ring"
    ));
    let period = profile.period;
    profile.samples = counts
        .into_iter()
        .map(|(stack, count)| RawSample {
            stack,
            values: vec![count, count * period],
            labels: Vec::new(),
        })
        .collect();
    profile.duration_nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
    Ok(profile)
}
