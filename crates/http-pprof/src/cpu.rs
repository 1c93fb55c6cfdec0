//! CPU profile: [`cpu_sampler`](crate::cpu_sampler) at 99 Hz (or `?hz=`) for the requested
//! duration, encoded with Go's sample types `samples/count` and `cpu/nanoseconds`.
//!
//! Samples that land in libc, libgcc, pthread or the vDSO are kept (syscalls are CPU too, as
//! Go counts them); the sampler recovers their callers only where it can prove the addresses
//! (see [`cpu_sampler`](crate::cpu_sampler)). It never calls libgcc's unwinder, which is where
//! signal-time unwinding deadlocks or crashes (e.g. while jemalloc records a heap sample).
//!
//! Each sample carries the [`labels`](crate::labels) of the task that was running, so
//! `go tool pprof -tags` / `-tagfocus` can split the profile by route or symbol.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cpu_sampler;
use crate::error::PprofError;
use crate::raw_profile::{RawProfile, RawSample, TextLayout};
use crate::sample_clock::Mechanism;

/// Default sampling frequency, Hz. Go uses 100; 99 avoids lockstep with 10 ms timers.
pub const FREQUENCY_HZ: u32 = 99;

/// Highest frequency `?hz=` may ask for. Above about 1 kHz the signal handler's own cost
/// starts to show in the profile, and CPU timers, checked at the scheduler tick, give no
/// finer samples.
pub const MAX_FREQUENCY_HZ: u32 = 1000;

/// How often the sample ring is emptied, and new threads given a timer, while a profile runs.
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

/// Samples the whole process for `duration` at `frequency_hz` (1..=[`MAX_FREQUENCY_HZ`]), with
/// sampling clock `clock` (`None`: the best available).
pub async fn profile(
    duration: Duration,
    frequency_hz: u32,
    clock: Option<Mechanism>,
) -> Result<RawProfile, PprofError> {
    if !(1..=MAX_FREQUENCY_HZ).contains(&frequency_hz) {
        return Err(PprofError::InvalidHz);
    }
    if CPU_PROFILE_RUNNING.swap(true, Ordering::SeqCst) {
        return Err(PprofError::CpuInUse);
    }
    let running = RunningProfile;
    let mut profile = RawProfile::new(
        "profile",
        vec![("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1_000_000_000 / i64::from(frequency_hz),
        TextLayout::Count,
    );
    let mechanism =
        cpu_sampler::start(frequency_hz, clock).map_err(|e| PprofError::CpuStart(e.to_string()))?;
    let started = Instant::now();
    let cpu_before = process_cpu_time();
    let mut counts: HashMap<(Vec<usize>, u32), i64> = HashMap::new();
    let deadline = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + DRAIN_EVERY)).await;
        cpu_sampler::drain(&mut counts);
        cpu_sampler::follow_threads();
    }
    let elapsed = started.elapsed();
    cpu_sampler::stop();
    let cpu_used = process_cpu_time().saturating_sub(cpu_before);
    cpu_sampler::drain(&mut counts);
    let lost = cpu_sampler::lost();
    let signals = cpu_sampler::signals();
    drop(running);
    // Signals received vs samples kept: shows timer coalescing or ring overflow when the
    // profile's total falls short of the CPU the process used.
    profile.comments.push(format!(
        "{signals} SIGPROF received at {frequency_hz} Hz from the {} sampling clock, {lost} lost \
         to a full sample ring",
        mechanism.name()
    ));
    let period = profile.period;
    let sampled: i64 = counts.values().sum();
    // The sampled total against the CPU the process really used: the one-line answer to "can
    // I trust this profile?" (a tick-driven fallback clock can miss most of a bursty load).
    let sampled_nanos = sampled.saturating_mul(period);
    let coverage = 100.0 * sampled_nanos as f64 / cpu_used.as_nanos().max(1) as f64;
    profile.comments.push(format!(
        "samples cover {:.2} s of the {:.2} s of CPU the process used ({coverage:.0}%)",
        sampled_nanos as f64 / 1e9,
        cpu_used.as_secs_f64()
    ));
    let mut label_sets: HashMap<u32, Vec<(String, String)>> = HashMap::new();
    profile.samples = counts
        .into_iter()
        .map(|((stack, set), count)| RawSample {
            stack,
            values: vec![count, count * period],
            labels: label_sets
                .entry(set)
                .or_insert_with(|| crate::labels::resolve(set).to_vec())
                .clone(),
        })
        .collect();
    profile.duration_nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
    Ok(profile)
}

/// CPU time used by the whole process so far (all threads, user and system).
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills `now`; on failure it stays zero.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}
