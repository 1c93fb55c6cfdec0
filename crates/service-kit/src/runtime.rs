//! The tokio runtime every service runs on: tokio's multi-thread defaults (one worker per core,
//! all drivers) plus the task hooks the goroutine profile reads (spawn sites for
//! `created by`, per-worker polls for `running` and for refusing a dump while a worker is stuck
//! in one poll; see `http_pprof::task_hooks`).
//!
//! Binaries call [`block_on`] instead of `#[tokio::main]`, which has no way to add hooks.

use std::future::Future;

/// Builds the runtime.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    http_pprof::task_hooks::instrument(&mut builder).build()
}

/// How long exiting waits for the runtime's threads once `main` has returned.
pub const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs `main` to completion on a new runtime, as `#[tokio::main]` would; fails only if the
/// runtime cannot be built.
///
/// Unlike `#[tokio::main]` (which drops the runtime and so waits for every worker thread without
/// limit), the runtime is then shut down with a timeout: a worker left parked forever by a tokio
/// task dump (tokio's `trace_end` barrier; see `http_pprof`'s goroutine.rs) must not keep the
/// process alive after SIGTERM. The soak test saw exactly that: `main` returned ("journal
/// flushed; bye") and the process did not exit.
pub fn block_on<F: Future>(main: F) -> std::io::Result<F::Output> {
    let runtime = build()?;
    let output = runtime.block_on(main);
    runtime.shutdown_timeout(EXIT_GRACE);
    Ok(output)
}
