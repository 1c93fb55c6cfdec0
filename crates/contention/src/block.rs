//! Timers around our own blocking waits (channel receive, condvar, semaphore), recorded into
//! the process-wide [`block_profile`] like Go's block profile.
//!
//! Sampling follows Go's `runtime.SetBlockProfileRate(rate)`: a wait of `rate` nanoseconds or
//! more is always recorded, a shorter one with probability `duration / rate`, and then counted
//! as Go counts it since 1.17 (`rate / duration` events of `rate` ns, which removes the bias of
//! sampling short waits); 0 disables.
//!
//! Like Go, the block profile charges the *waiter*: the stack recorded is the one that waited.
//! [`blocked`] times any future, so it covers every async wait a request can sit in: channel
//! `recv`/`send`, `Semaphore::acquire`, a `oneshot::Receiver`, `watch::Receiver::wait_for`,
//! `Notify::notified`, `tokio::sync::Mutex::lock`. [`crate::Condvar`] and the contended path of
//! [`crate::Mutex`] record here too, as Go's `sync.Cond.Wait` and `sync.Mutex.Lock` do.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::profile::{fast_random, ContentionProfile};
use crate::stack::RawStack;

/// The process-wide block profile; off (rate 0) until [`set_block_profile_rate`], as in Go.
static BLOCK_PROFILE: ContentionProfile = ContentionProfile::new(0);

/// The process-wide block profile (`/debug/pprof/block`).
pub fn block_profile() -> &'static ContentionProfile {
    &BLOCK_PROFILE
}

/// Sets the block sampling rate in nanoseconds (0 disables) and returns the previous one.
pub fn set_block_profile_rate(rate_ns: u64) -> u64 {
    BLOCK_PROFILE.set_rate(rate_ns)
}

/// Awaits `wait` and, if it was not ready at once, records how long the caller was blocked.
///
/// ```no_run
/// # async fn f(mut rx: tokio::sync::mpsc::Receiver<u32>) {
/// let next = contention::blocked(rx.recv()).await;
/// # }
/// ```
pub async fn blocked<F: Future>(wait: F) -> F::Output {
    let mut wait = std::pin::pin!(wait);
    let mut blocked_since: Option<Instant> = None;
    let output = std::future::poll_fn(|cx| match wait.as_mut().poll(cx) {
        Poll::Pending => {
            blocked_since.get_or_insert_with(Instant::now);
            Poll::Pending
        }
        Poll::Ready(output) => Poll::Ready(output),
    })
    .await;
    if let Some(since) = blocked_since {
        record_blocked(duration_ns(since.elapsed()));
    }
    output
}

/// Runs a synchronous blocking wait (e.g. `crossbeam_channel::Receiver::recv`,
/// `Condvar::wait`) and records how long it took.
pub fn blocked_sync<R>(wait: impl FnOnce() -> R) -> R {
    let since = Instant::now();
    let output = wait();
    record_blocked(duration_ns(since.elapsed()));
    output
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// True when the block profile is recording (rate > 0); lets callers skip taking timestamps.
pub(crate) fn block_profiling() -> bool {
    BLOCK_PROFILE.rate() != 0
}

/// Applies Go's block sampling rule (`blockevent`/`saveblockevent`) to a wait of `nanos` and
/// records the caller's stack.
#[inline(never)]
pub(crate) fn record_blocked(nanos: u64) {
    let rate = BLOCK_PROFILE.rate();
    if rate == 0 || nanos == 0 {
        return;
    }
    if nanos >= rate {
        BLOCK_PROFILE.record_weighted(RawStack::capture(), 1.0, nanos);
    } else if fast_random() % rate < nanos {
        // Sampled with probability nanos/rate: count it as rate/nanos events of `rate` ns each.
        BLOCK_PROFILE.record_weighted(RawStack::capture(), rate as f64 / nanos as f64, rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_waits_are_always_recorded() {
        let _serial = crate::TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let previous = set_block_profile_rate(1);
        let before: u64 = block_profile()
            .snapshot()
            .records
            .iter()
            .map(|(_, r)| r.count)
            .sum();
        blocked_sync(|| std::thread::sleep(Duration::from_millis(5)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("build runtime");
        rt.block_on(async { blocked(tokio::time::sleep(Duration::from_millis(5))).await });
        set_block_profile_rate(previous);
        let snap = block_profile().snapshot();
        let after: u64 = snap.records.iter().map(|(_, r)| r.count).sum();
        assert_eq!(after - before, 2);
        assert!(snap.records.iter().all(|(_, r)| r.delay_ns >= 5_000_000));
    }
}
