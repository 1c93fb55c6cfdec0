//! `tracing` subscriber setup: text or JSON lines on stderr, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), so
/// tests that build several services in one process do not panic.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // An Err only means a subscriber is already installed.
    drop(result);
}
