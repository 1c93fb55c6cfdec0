//! The request-path faults: a layer a service puts around its own routes (inside its HTTP
//! metrics, so injected delays and errors show in `http_request_duration_seconds` and
//! `http_requests_total` like real ones).
//!
//! - `latency`: sleeps before the handler. It costs no CPU, so it does not show in a CPU
//!   flamegraph; it shows in latency histograms and as parked tasks in `/debug/pprof/goroutine`
//!   under `chaos::middleware::inject_delay`.
//! - `errors`: answers 5xx `{"error":{"code":"chaos_injected",...}}` without calling the handler.
//! - work patterns in `request` mode: run on the request's task before the handler, so they show
//!   under the request's stack (`chaos::middleware::inject` > `chaos::scenarios::...`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::Rng;
use service_kit::ApiError;

use crate::engine::Chaos;
use crate::scenario::{ErrorsParams, LatencyParams};
use crate::scenarios::PreparedWork;

/// One request-path rule of an active fault.
#[derive(Debug)]
pub enum RequestFault {
    /// Delay requests.
    Latency {
        /// Delay, jitter, probability.
        params: LatencyParams,
        /// Requests delayed so far.
        delayed: Arc<AtomicU64>,
    },
    /// Fail requests.
    Errors {
        /// Probability and status.
        params: ErrorsParams,
        /// Requests failed so far.
        failed: Arc<AtomicU64>,
    },
    /// Run a work pattern per request.
    Work {
        /// The pattern with its input.
        work: PreparedWork,
        /// Iterations per request.
        iterations: u32,
        /// Iterations done so far.
        done: Arc<AtomicU64>,
    },
}

impl Chaos {
    /// Wraps a service's own routes with the request-path faults. Apply it before the shared
    /// layers (`service_kit::http::standard_router`), so health and metrics are never faulted.
    pub fn inject_into(&self, routes: Router) -> Router {
        routes.layer(axum::middleware::from_fn_with_state(self.clone(), inject))
    }
}

/// The middleware: applies every active request-path rule, in the order they were started.
pub async fn inject(State(chaos): State<Chaos>, request: Request, next: Next) -> Response {
    let rules = chaos.request_faults();
    for (_, rule) in rules.iter() {
        match &**rule {
            RequestFault::Latency { params, delayed } => {
                if let Some(delay) = roll_delay(params) {
                    delayed.fetch_add(1, Ordering::Relaxed);
                    inject_delay(delay).await;
                }
            }
            RequestFault::Errors { params, failed } => {
                if params.probability > 0.0 && rand::rng().random_bool(params.probability) {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return injected_error(params.status);
                }
            }
            RequestFault::Work {
                work,
                iterations,
                done,
            } => {
                for _ in 0..*iterations {
                    std::hint::black_box(work.run_once());
                }
                done.fetch_add(u64::from(*iterations), Ordering::Relaxed);
            }
        }
    }
    next.run(request).await
}

/// Whether this request is delayed, and by how much.
fn roll_delay(params: &LatencyParams) -> Option<Duration> {
    let mut rng = rand::rng();
    if params.probability <= 0.0 || !rng.random_bool(params.probability) {
        return None;
    }
    let jitter = params.jitter_ms.min(params.delay_ms);
    let ms = if jitter == 0 {
        params.delay_ms
    } else {
        rng.random_range(params.delay_ms - jitter..=params.delay_ms + jitter)
    };
    Some(Duration::from_millis(ms))
}

/// The injected delay, named so parked requests are recognisable in a task dump.
#[inline(never)]
pub async fn inject_delay(delay: Duration) {
    tokio::time::sleep(delay).await;
}

fn injected_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    ApiError::new(status, "chaos_injected", "error injected by /admin/chaos").into_response()
}
