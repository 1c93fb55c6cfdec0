//! Shared plumbing for the simex services (trading-api, market-sim, order-flow).
//!
//! Module map:
//! - [`args`]: command-line arguments every service takes (listen address, log format, drain timeout).
//! - [`telemetry`]: `tracing` subscriber setup, text or JSON.
//! - [`metrics`]: the prometheus registry, HTTP request metrics and the `/metrics` handler.
//! - [`health`]: `/health` (alive) and `/ready` (readiness flag).
//! - [`error`]: the JSON error shape `{"error":{"code","message","field"}}` and a JSON extractor that
//!   maps every rejection into it.
//! - [`http`]: assembles a service router with the routes and layers above.
//! - [`debug`]: the Go-compatible `/debug/pprof/*` routes (crate `http-pprof`), configured from
//!   [`CommonArgs`].
//! - [`runtime`]: the tokio runtime the services run on, with the task hooks the goroutine
//!   profile reads.
//! - [`shutdown`]: graceful shutdown on ctrl-c / SIGTERM with a drain timeout.
//!
//! Architecture invariant: nothing here knows about orders, books or simulations.

pub mod args;
pub mod debug;
pub mod error;
pub mod health;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;

pub use args::{CommonArgs, LogFormat};
pub use error::{ApiError, ApiJson};
pub use health::Readiness;
pub use metrics::Metrics;

/// Re-exported so a binary can write `service_kit::http_pprof::jemalloc_profiling!();`.
pub use http_pprof;
