//! Go-compatible `/debug/pprof` endpoints for any axum service, readable with
//! `go tool pprof`. Mount with one line:
//!
//! ```no_run
//! # let app: axum::Router = axum::Router::new();
//! let app = app.merge(http_pprof::router(http_pprof::PprofConfig::default()));
//! ```
//!
//! and serve with `into_make_service_with_connect_info::<SocketAddr>()` so loopback clients are
//! recognised. Module map, in the order a request meets them:
//! - [`config`]: [`PprofConfig`], access and duration limits.
//! - `access`: loopback-or-bearer-token gate.
//! - `routes`: one handler per Go endpoint, Go's parameters and headers.
//! - `cpu` (with `cpu_sampler`, the SIGPROF frame-pointer sampler, and [`sample_clock`], the
//!   per-thread clocks that fire it), `heap`, `goroutine`, `sync_profiles`, `threads`: the collectors; each returns a
//!   [`raw_profile::RawProfile`] (stacks as addresses plus values).
//! - [`raw_profile`]: deltas and Go's `debug=1` text; [`proto`]: builds profile.proto (the
//!   shared `pprof-proto` messages) with one [`mappings`] entry per loaded object and build id;
//!   [`symbolize`]: addresses to demangled functions, files, lines, inlined frames (`symtab`:
//!   full function paths from the ELF symbol table).
//! - [`labels`]: profile labels (route, symbol) that follow a task into its CPU samples;
//!   `cfi`: unwind rules for libc and the vDSO, for samples taken there.
//! - [`jemalloc`]: the allocator glue and [`jemalloc_profiling!`] for binaries.
//! - [`error`]: [`PprofError`], Go's error contract (`X-Go-Pprof: 1`, exact messages).
//! - [`task_hooks`]: tokio runtime hooks (spawn sites, polls) the goroutine profile reads;
//!   services build their runtime with [`task_hooks::instrument`].
//!
//! Architecture invariant: nothing here reads flags or the environment; the service decides
//! (token, timeouts) and passes a [`PprofConfig`].

mod access;
mod cfi;
mod cmdline;
pub mod config;
mod cpu;
mod cpu_sampler;
pub mod error;
mod goroutine;
#[cfg(feature = "jemalloc")]
pub mod heap;
mod index;
#[cfg(feature = "jemalloc")]
pub mod jemalloc;
pub mod labels;
pub mod mappings;
pub mod proto;
pub mod raw_profile;
mod routes;
pub mod sample_clock;
pub mod symbolize;
mod symtab;
mod sync_profiles;
pub mod task_hooks;
mod threads;

pub use config::PprofConfig;
pub use error::PprofError;

/// The `/debug/pprof/*` routes (absolute paths), ready to `merge` into any router.
///
/// Applies `config.mutex_profile_fraction` and `config.block_profile_rate` to the process-wide
/// `contention` profiles when called.
pub fn router<S: Clone + Send + Sync + 'static>(config: PprofConfig) -> axum::Router<S> {
    routes::build(config)
}
