//! Liveness and readiness. `/health` answers 200 whenever the process serves HTTP; `/ready` answers
//! 503 until the service calls [`Readiness::set_ready`] (e.g. after replaying its journal) and again
//! once shutdown begins.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

/// A shared readiness flag; clones observe the same flag.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// `Arc` so the service's startup task and the HTTP handlers share one flag.
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the service ready (true) or not ready (false).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the service said it is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Routes `/health` and `/ready`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .with_state(self.clone())
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    if readiness.is_ready() {
        Json(serde_json::json!({ "ready": true })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false })),
        )
            .into_response()
    }
}
