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

/// Runs `main` to completion on a new runtime, as `#[tokio::main]` would; fails only if the
/// runtime cannot be built.
pub fn block_on<F: Future>(main: F) -> std::io::Result<F::Output> {
    Ok(build()?.block_on(main))
}
