//! Command-line arguments shared by every service; flatten them into a service's own parser:
//!
//! ```
//! #[derive(clap::Parser)]
//! struct Config {
//!     #[command(flatten)]
//!     common: service_kit::CommonArgs,
//! }
//! let config = <Config as clap::Parser>::parse_from(["svc", "--listen", "127.0.0.1:9000"]);
//! assert_eq!(config.common.listen_or(8080).port(), 9000);
//! ```

use std::net::SocketAddr;
use std::time::Duration;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Arguments every service accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address to listen on; each service has its own default port.
    #[arg(long, env = "SIMEX_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log output format.
    #[arg(long, env = "SIMEX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds to let in-flight requests finish after a shutdown signal before exiting anyway.
    #[arg(long, env = "SIMEX_DRAIN_TIMEOUT_SECS", default_value_t = 10)]
    pub drain_timeout_secs: u64,
    /// Bearer token that non-loopback clients must send to read `/debug/pprof/*`; without one,
    /// only loopback clients may.
    #[arg(long, env = "SIMEX_PPROF_TOKEN", hide_env_values = true)]
    pub pprof_token: Option<String>,
    /// What drives the CPU profiler: `perf` (per-thread perf task-clock events, precise; needs
    /// root or perf_event_paranoid <= 1), `thread-timer` (per-thread CPU timers, as Go),
    /// `process-timer` (setitimer). Default: the first of these that works.
    #[arg(long, env = "SIMEX_CPU_SAMPLER")]
    pub cpu_sampler: Option<http_pprof::sample_clock::Mechanism>,
}

impl CommonArgs {
    /// The listen address, or `127.0.0.1:<default_port>` when none was given.
    pub fn listen_or(&self, default_port: u16) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)))
    }

    /// The drain timeout as a [`Duration`].
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}
