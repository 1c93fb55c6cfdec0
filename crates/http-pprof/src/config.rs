//! [`PprofConfig`]: who may read profiles and how long a profile may run.

use std::time::Duration;

use crate::sample_clock::Mechanism;

/// Configuration of the `/debug/pprof` router. The library never reads flags or the
/// environment: the service passes the token (from its own flag/env) here.
#[derive(Clone, Debug)]
pub struct PprofConfig {
    /// Bearer token that non-loopback clients must send (`Authorization: Bearer <token>`).
    /// `None`: only loopback clients are served.
    pub token: Option<String>,
    /// Serve clients on 127.0.0.0/8 and ::1 without a token (default `true`). Needs the server
    /// to run with `into_make_service_with_connect_info::<SocketAddr>()`; without it the peer is
    /// unknown and treated as remote.
    pub allow_loopback: bool,
    /// Longest `seconds` a profile may run (default 300).
    pub max_seconds: u64,
    /// The server's request timeout, if it has one: a profile must end before it, as Go refuses
    /// durations beyond the server's `WriteTimeout`.
    pub request_timeout: Option<Duration>,
    /// Runtime whose tasks `/debug/pprof/goroutine` dumps; `None`: the runtime serving the
    /// request.
    pub runtime: Option<tokio::runtime::Handle>,
    /// Bound on one tokio task dump (default 5 s); a dump waits for every worker to yield.
    pub task_dump_timeout: Duration,
    /// Mutex profile fraction set when the router is built (1 in N contended acquisitions is
    /// recorded; 0 off; `None` leaves the process setting alone). Default `Some(10)`.
    pub mutex_profile_fraction: Option<u64>,
    /// Block profile rate in nanoseconds set when the router is built (`None` leaves it
    /// alone). Default `Some(10_000)`: waits of 10 µs or more are always recorded.
    pub block_profile_rate: Option<u64>,
    /// What drives the CPU profiler's SIGPROF; `None` (default): the most precise mechanism
    /// the process may use (see [`sample_clock`](crate::sample_clock)).
    pub cpu_clock: Option<Mechanism>,
}

impl Default for PprofConfig {
    fn default() -> Self {
        Self {
            token: None,
            allow_loopback: true,
            max_seconds: 300,
            request_timeout: None,
            runtime: None,
            task_dump_timeout: Duration::from_secs(5),
            mutex_profile_fraction: Some(10),
            block_profile_rate: Some(10_000),
            cpu_clock: None,
        }
    }
}

impl PprofConfig {
    /// Sets the bearer token for remote clients (an empty string means none).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Records the server's request timeout so profiles are refused if they would outlast it.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Forces the CPU profiler's sampling clock (`None`: the best available).
    pub fn with_cpu_clock(mut self, clock: Option<Mechanism>) -> Self {
        self.cpu_clock = clock;
        self
    }

    /// Sets the runtime whose tasks the goroutine profile dumps.
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }
}
