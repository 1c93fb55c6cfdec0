//! order-flow's HTTP API: `GET /api/v1/status` and `POST /api/v1/rate`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::http::{standard_router, HttpKit};
use service_kit::{ApiError, ApiJson, Metrics, Readiness};

use crate::flow::{FlowState, FlowStatus, RateConfig};
use crate::traders::Mix;

/// Highest accepted rate, orders per second: well above what one trading-api takes, low enough
/// that a typo cannot ask for a billion.
pub const MAX_RATE: f64 = 1_000_000.0;

/// The full router: order-flow's routes plus service-kit's health, readiness, metrics, body
/// limit and JSON fallbacks.
pub fn router(state: Arc<FlowState>, metrics: Metrics, readiness: Readiness) -> Router {
    router_with_chaos(state, metrics, readiness, None)
}

/// [`router`] with `chaos`'s request-path faults (latency, errors, per-request work) around
/// order-flow's own routes.
pub fn router_with_chaos(
    state: Arc<FlowState>,
    metrics: Metrics,
    readiness: Readiness,
    chaos: Option<&chaos::Chaos>,
) -> Router {
    let kit = HttpKit {
        metrics,
        readiness,
        body_limit: 16 * 1024,
    };
    // /debug/pprof is merged by main (service_kit::debug::pprof_routes), outside these layers.
    let service = routes(state);
    let service = match chaos {
        Some(chaos) => chaos.inject_into(service),
        None => service,
    };
    standard_router(service, &kit)
}

/// order-flow's own routes (service-kit adds health, readiness, metrics and fallbacks).
pub fn routes(state: Arc<FlowState>) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/rate", post(set_rate))
        .with_state(state)
}

async fn status(State(state): State<Arc<FlowState>>) -> Json<FlowStatus> {
    Json(state.status())
}

/// Body of `POST /api/v1/rate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateRequest {
    /// Orders per second over all populations, `0..=1e6` (0 pauses the flow).
    rate: f64,
    /// New population weights; unchanged when absent.
    #[serde(default)]
    mix: Option<Mix>,
}

/// `POST /api/v1/rate`: changes the rate (and optionally the mix) at once.
async fn set_rate(
    State(state): State<Arc<FlowState>>,
    ApiJson(req): ApiJson<RateRequest>,
) -> Result<Json<RateConfig>, ApiError> {
    if !(req.rate.is_finite() && (0.0..=MAX_RATE).contains(&req.rate)) {
        return Err(ApiError::invalid_field(
            "rate",
            format!("must be in [0, {MAX_RATE}]"),
        ));
    }
    let mut config = state.config();
    if let Some(mix) = req.mix {
        if mix.normalized().is_none() {
            return Err(ApiError::invalid_field(
                "mix",
                "weights must be non-negative numbers, not all zero",
            ));
        }
        config.mix = mix;
    }
    config.rate = req.rate;
    state.set_config(config);
    tracing::info!(rate = config.rate, mix = ?config.mix, "order rate changed");
    Ok(Json(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn post(app: &Router, body: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::post("/api/v1/rate")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn rate_changes_apply_and_bad_ones_are_4xx_json() {
        let state = Arc::new(FlowState::new(RateConfig {
            rate: 10.0,
            mix: Mix::default(),
        }));
        let app = routes(Arc::clone(&state));
        let (status, body) = post(
            &app,
            r#"{"rate": 250, "mix": {"retail": 1, "momentum": 0, "institutional": 1}}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(state.config().rate, 250.0);
        assert_eq!(state.config().mix.institutional, 1.0);
        for bad in [
            r#"{"rate": -1}"#,
            r#"{"rate": 1e9}"#,
            r#"{"rate": "fast"}"#,
            r#"{"rate": 5, "mix": {"retail": 0, "momentum": 0, "institutional": 0}}"#,
            r#"{"rate": 5, "bogus": 1}"#,
            r#"{"rat"#,
        ] {
            let (status, body) = post(&app, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert!(body["error"]["code"].is_string(), "{bad}: {body}");
        }
        assert_eq!(
            state.config().rate,
            250.0,
            "rejected requests changed nothing"
        );
    }
}
