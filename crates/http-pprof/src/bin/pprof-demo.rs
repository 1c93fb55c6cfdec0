//! A small service with one of everything a profile should find, used by the integration tests
//! (and handy to try `go tool pprof` by hand):
//! - CPU: `demo_cpu_hot_loop` (out of line), `demo_inlined_mix` (always inlined into a
//!   thread's closure) and the call-free leaf `demo_leaf_spin`, on a plain OS thread;
//! - heap: `demo_retain_buffers` keeps 32 MiB alive; allocs: `demo_churn_allocations` allocates
//!   and frees continuously;
//! - goroutine: the long-lived task `demo_long_lived_task`;
//! - mutex: threads contending on a `contention::Mutex` in `demo_contend_on_book`;
//! - block: `demo_drain_slow_channel` waits on a slow tokio channel through
//!   `contention::blocked`.
//!
//! With `PPROF_DEMO_WORKLOAD=syscalls` it runs only two busy threads instead (for CPU-coverage
//! tests, where every other thread's CPU would blur the accounting): `demo_write_small_buffers`
//! spends most of its time in `write(2)` (libc and kernel), `demo_cpu_hot_loop` in pure Rust.
//!
//! Prints `listening on <addr>` once serving. Environment: `PPROF_DEMO_ADDR` (default
//! `127.0.0.1:0`), `PPROF_DEMO_TOKEN` (bearer token for non-loopback clients),
//! `PPROF_DEMO_WORKLOAD` (`all`, the default, or `syscalls`).

use std::hint::black_box;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use http_pprof::PprofConfig;

http_pprof::jemalloc_profiling!();

/// The lock the contention threads fight over, standing in for an order book.
static BOOK: contention::Mutex<u64> = contention::const_mutex(0);

/// CPU-bound work that should dominate the CPU profile.
#[inline(never)]
fn demo_cpu_hot_loop(rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..rounds {
        x = x.rotate_left(7) ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d);
        x = black_box(x);
    }
    x
}

/// A leaf: a loop with no calls at any optimisation level, so its samples' interrupted pc lies
/// in this function itself. Profilers that drop the interrupted frame charge it to the caller.
#[inline(never)]
fn demo_leaf_spin(rounds: u64) -> u64 {
    let mut x = rounds;
    let mut acc = 0_u64;
    while x != 0 {
        x -= 1;
        acc ^= x << 3;
    }
    acc
}

/// CPU-bound work that is always inlined into its caller: only inline-aware symbolisation
/// names it.
#[inline(always)]
fn demo_inlined_mix(rounds: u64) -> u64 {
    let mut x = 1_u64;
    for i in 0..rounds {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        x = black_box(x);
    }
    x
}

/// Writes small buffers to `/dev/null`: nearly all of its CPU is in the libc `write` wrapper
/// and the kernel, where a profiler that drops samples inside libc loses it.
#[inline(never)]
fn demo_write_small_buffers(sink: &mut std::fs::File, rounds: u32) -> std::io::Result<()> {
    let buffer = [0x5a_u8; 64];
    for _ in 0..rounds {
        sink.write_all(black_box(&buffer))?;
    }
    Ok(())
}

/// Allocates memory that stays alive for the life of the process.
#[inline(never)]
fn demo_retain_buffers() -> Vec<Vec<u8>> {
    (0..512).map(|i| vec![i as u8; 64 * 1024]).collect()
}

/// Allocates and frees; shows in `allocs`, not in `heap`.
#[inline(never)]
fn demo_churn_allocations() -> usize {
    let buffers: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 16 * 1024]).collect();
    black_box(buffers.iter().map(Vec::len).sum())
}

/// Holds the book lock for a moment, over and over, from several threads.
#[inline(never)]
fn demo_contend_on_book() {
    let mut book = BOOK.lock();
    *book = demo_cpu_hot_loop(black_box(20_000)).wrapping_add(*book);
}

/// A task that lives as long as the service.
async fn demo_long_lived_task() {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits on a channel whose producer is slow: blocked time shows in the block profile.
async fn demo_drain_slow_channel(mut rx: tokio::sync::mpsc::Receiver<u64>) {
    while let Some(v) = contention::blocked(rx.recv()).await {
        black_box(v);
    }
}

/// The `syscalls` workload: one thread in `write(2)`, one in pure Rust compute.
fn start_syscall_work() {
    std::thread::Builder::new()
        .name("demo-syscalls".into())
        .spawn(|| {
            let mut sink = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
            loop {
                demo_write_small_buffers(&mut sink, black_box(10_000))?;
            }
        })
        .map(|_: std::thread::JoinHandle<std::io::Result<()>>| ())
        .unwrap_or_else(|e| eprintln!("demo-syscalls thread: {e}"));
    std::thread::Builder::new()
        .name("demo-hot".into())
        .spawn(|| loop {
            black_box(demo_cpu_hot_loop(black_box(500_000)));
        })
        .map(drop)
        .unwrap_or_else(|e| eprintln!("demo-hot thread: {e}"));
}

fn start_background_work(runtime: &tokio::runtime::Handle) {
    std::thread::Builder::new()
        .name("demo-hot".into())
        .spawn(|| loop {
            black_box(demo_cpu_hot_loop(black_box(500_000)));
            black_box(demo_inlined_mix(black_box(500_000)));
            black_box(demo_leaf_spin(black_box(500_000)));
        })
        .map(drop)
        .unwrap_or_else(|e| eprintln!("demo-hot thread: {e}"));
    std::thread::Builder::new()
        .name("demo-churn".into())
        .spawn(|| loop {
            black_box(demo_churn_allocations());
            std::thread::sleep(Duration::from_millis(2));
        })
        .map(drop)
        .unwrap_or_else(|e| eprintln!("demo-churn thread: {e}"));
    for i in 0..3 {
        std::thread::Builder::new()
            .name(format!("demo-book-{i}"))
            .spawn(|| loop {
                demo_contend_on_book();
                std::thread::sleep(Duration::from_micros(200));
            })
            .map(drop)
            .unwrap_or_else(|e| eprintln!("demo-book thread: {e}"));
    }
    runtime.spawn(demo_long_lived_task());
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    runtime.spawn(demo_drain_slow_channel(rx));
    runtime.spawn(async move {
        let mut n = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            n += 1;
            if tx.send(n).await.is_err() {
                break;
            }
        }
    });
}

fn main() -> std::io::Result<()> {
    let retained = demo_retain_buffers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match std::env::var("PPROF_DEMO_WORKLOAD").as_deref() {
        Ok("syscalls") => start_syscall_work(),
        _ => start_background_work(runtime.handle()),
    }
    let addr = std::env::var("PPROF_DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let config = PprofConfig {
        mutex_profile_fraction: Some(1),
        ..PprofConfig::default()
    }
    .with_token(std::env::var("PPROF_DEMO_TOKEN").ok())
    .with_request_timeout(Duration::from_secs(120))
    .with_runtime(runtime.handle().clone());
    runtime.block_on(async move {
        let app = axum::Router::new().merge(http_pprof::router(config));
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {local}")?;
        stdout.flush()?;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })?;
    black_box(retained);
    Ok(())
}
