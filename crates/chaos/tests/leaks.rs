//! The leaks really leak while the fault runs and are released when it ends.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaos::scenario::{MemoryLeakParams, TaskLeakParams};
use chaos::scenarios::{memory_leak, task_leak};
use tokio_util::sync::CancellationToken;

/// Waits (bounded) until `counter` satisfies `done`.
async fn wait_for(counter: &AtomicU64, done: impl Fn(u64) -> bool) -> u64 {
    let started = Instant::now();
    loop {
        let value = counter.load(Ordering::Relaxed);
        if done(value) || started.elapsed() > Duration::from_secs(5) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn memory_leak_grows_at_its_rate_caps_and_frees() {
    let stop = CancellationToken::new();
    let leaked = Arc::new(AtomicU64::new(0));
    let params = MemoryLeakParams {
        bytes_per_sec: 10 << 20,
        max_bytes: 3 << 20,
    };
    let task = tokio::spawn(memory_leak::run(params, stop.clone(), Arc::clone(&leaked)));
    // 1 MiB per 100 ms tick: the cap (3 MiB) is reached and held.
    let held = wait_for(&leaked, |v| v >= 3 << 20).await;
    assert_eq!(held, 3 << 20);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        leaked.load(Ordering::Relaxed),
        3 << 20,
        "grew past max_bytes"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leaked.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn leaked_tasks_pile_up_then_end_with_the_fault() {
    let stop = CancellationToken::new();
    let live = Arc::new(AtomicU64::new(0));
    let params = TaskLeakParams {
        tasks_per_sec: 2000,
        max_tasks: 150,
    };
    let spawner = tokio::spawn(task_leak::run(params, stop.clone(), Arc::clone(&live)));
    assert_eq!(wait_for(&live, |v| v >= 150).await, 150);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(live.load(Ordering::Relaxed), 150, "max_tasks not respected");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), spawner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        wait_for(&live, |v| v == 0).await,
        0,
        "leaked tasks outlived the fault"
    );
}
