//! `task-leak`: tasks that wait forever (the goroutine leak), spawned at a set rate. In
//! `/debug/pprof/goroutine`: a growing count of tasks parked in
//! `chaos::scenarios::task_leak::leaked_task`; in `tokio_*` runtime metrics: alive tasks climbing.
//! They end when the fault ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::scenario::TaskLeakParams;

/// Spawn cadence: rates are spread over 100 ticks a second.
const TICK: Duration = Duration::from_millis(10);

/// Decrements the live count however the task ends (cancelled or runtime shutdown).
struct LiveTask(Arc<AtomicU64>);

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A task stuck waiting for something that never comes, holding a little memory as real leaked
/// tasks do (a request buffer, say). Only the fault's end releases it.
#[inline(never)]
pub async fn leaked_task(stop: CancellationToken, live: Arc<AtomicU64>) {
    let _guard = LiveTask(live);
    let buffer = vec![0u8; 1024];
    stop.cancelled().await;
    std::hint::black_box(buffer);
}

/// Spawns leaked tasks at `params.tasks_per_sec` until `stop` fires; `live` counts them.
pub async fn run(params: TaskLeakParams, stop: CancellationToken, live: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(TICK);
    let mut owed = 0.0f64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        owed += f64::from(params.tasks_per_sec) / 100.0;
        while owed >= 1.0 && live.load(Ordering::Relaxed) < u64::from(params.max_tasks) {
            owed -= 1.0;
            live.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(leaked_task(stop.clone(), Arc::clone(&live)));
        }
        owed = owed.min(1.0);
    }
}
