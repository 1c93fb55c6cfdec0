//! Timers around our own blocking waits (channel receive, condvar, semaphore), recorded into
//! the process-wide [`block_profile`] like Go's block profile.
//!
//! Sampling follows Go's `runtime.SetBlockProfileRate(rate)`: a wait of `rate` nanoseconds or
//! more is always recorded, a shorter one with probability `duration / rate`; 0 disables.

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
        record_blocked(since.elapsed());
    }
    output
}

/// Runs a synchronous blocking wait (e.g. `crossbeam_channel::Receiver::recv`,
/// `Condvar::wait`) and records how long it took.
pub fn blocked_sync<R>(wait: impl FnOnce() -> R) -> R {
    let since = Instant::now();
    let output = wait();
    record_blocked(since.elapsed());
    output
}

/// Applies Go's block sampling rule and records the caller's stack.
#[inline(never)]
fn record_blocked(delay: Duration) {
    let rate = BLOCK_PROFILE.rate();
    if rate == 0 {
        return;
    }
    let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    if nanos < rate && fast_random() % rate >= nanos {
        return;
    }
    BLOCK_PROFILE.record(RawStack::capture(), delay);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_waits_are_always_recorded() {
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
