//! market-sim's HTTP API: status, reference prices, volatility shocks and the `/ws` price feed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, ApiJson};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::maker::MakerStatus;
use crate::market::ReferenceMarket;
use crate::price::ShockPattern;

/// What exists once trading-api's symbols are known and the makers run.
#[derive(Debug)]
pub struct Running {
    /// The reference prices.
    pub market: Arc<ReferenceMarket>,
    /// One status per maker.
    pub makers: Vec<Arc<Mutex<MakerStatus>>>,
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Set once by the startup task; empty while market-sim waits for trading-api.
    pub running: Arc<OnceLock<Running>>,
    /// trading-api's base URL, shown in the status.
    pub exchange_url: String,
    /// The seed of the price processes, shown so a run can be replayed.
    pub seed: u64,
    /// Process start, for the uptime.
    pub started: Instant,
    /// Closes WebSocket feeds on shutdown.
    pub shutdown: CancellationToken,
}

impl AppState {
    fn running(&self) -> Result<&Running, ApiError> {
        self.running.get().ok_or_else(ApiError::not_ready)
    }
}

/// market-sim's own routes (service-kit adds `/health`, `/ready`, `/metrics` and the fallbacks).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/prices", get(prices))
        .route("/api/v1/volatility", post(volatility))
        .route("/ws", get(ws))
        .with_state(state)
}

#[derive(Serialize)]
struct StatusBody {
    ready: bool,
    exchange_url: String,
    seed: u64,
    uptime_secs: f64,
    prices: Vec<crate::market::PriceUpdate>,
    makers: Vec<MakerStatus>,
}

/// `GET /api/v1/status`: readiness, reference prices and every maker's state.
async fn status(State(state): State<AppState>) -> Json<StatusBody> {
    let (prices, makers) = match state.running.get() {
        Some(r) => (
            r.market.prices(),
            r.makers
                .iter()
                .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Json(StatusBody {
        ready: state.running.get().is_some(),
        exchange_url: state.exchange_url.clone(),
        seed: state.seed,
        uptime_secs: state.started.elapsed().as_secs_f64(),
        prices,
        makers,
    })
}

/// `GET /api/v1/prices`: the reference price of every symbol.
async fn prices(State(state): State<AppState>) -> Result<Response, ApiError> {
    let running = state.running()?;
    Ok(Json(serde_json::json!({ "prices": running.market.prices() })).into_response())
}

/// Body of `POST /api/v1/volatility`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VolatilityRequest {
    /// `spike`, `decay`, `oscillate` or `random`.
    pattern: ShockPattern,
    /// Extra volatility at the peak as a multiple of the base, in `(0, 100]`.
    intensity: f64,
    /// Only this symbol; every symbol when absent.
    #[serde(default)]
    symbol: Option<String>,
    /// Seconds the shock lasts (default 60, at most one day).
    #[serde(default)]
    duration_secs: Option<f64>,
}

/// `POST /api/v1/volatility`: starts a volatility shock.
async fn volatility(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VolatilityRequest>,
) -> Result<Response, ApiError> {
    if !(req.intensity.is_finite() && req.intensity > 0.0 && req.intensity <= 100.0) {
        return Err(ApiError::invalid_field("intensity", "must be in (0, 100]"));
    }
    let duration = req.duration_secs.unwrap_or(60.0);
    if !(duration.is_finite() && duration > 0.0 && duration <= 86_400.0) {
        return Err(ApiError::invalid_field(
            "duration_secs",
            "must be in (0, 86400]",
        ));
    }
    let running = state.running()?;
    if let Some(symbol) = &req.symbol {
        if running.market.symbol(symbol).is_none() {
            return Err(ApiError::invalid_field(
                "symbol",
                format!("unknown symbol {symbol}"),
            ));
        }
    }
    let applied = running.market.shock(
        req.symbol.as_deref(),
        req.pattern,
        req.intensity,
        Duration::from_secs_f64(duration),
    );
    tracing::info!(pattern = ?req.pattern, intensity = req.intensity, duration, applied, "volatility shock");
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "pattern": req.pattern,
            "intensity": req.intensity,
            "duration_secs": duration,
            "symbols": applied,
        })),
    )
        .into_response())
}

/// `GET /ws`: a snapshot of every reference price, then every step.
async fn ws(
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let market = Arc::clone(&state.running()?.market);
    let shutdown = state.shutdown.clone();
    Ok(upgrade.on_upgrade(move |socket| feed(socket, market, shutdown)))
}

async fn feed(mut socket: WebSocket, market: Arc<ReferenceMarket>, shutdown: CancellationToken) {
    let mut rx = market.subscribe();
    let send = |prices: &[crate::market::PriceUpdate]| {
        serde_json::to_string(&serde_json::json!({ "type": "prices", "prices": prices }))
            .map(|text| Message::Text(text.into()))
    };
    let Ok(first) = send(&market.prices()) else {
        return;
    };
    if socket.send(first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            incoming = socket.recv() => match incoming {
                // Clients only listen; anything but a close is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            // Timed for /debug/pprof/block: a subscriber waiting for the next tick.
            update = contention::blocked(rx.recv()) => match update {
                Ok(prices) => {
                    let Ok(msg) = send(&prices) else { break };
                    if socket.send(msg).await.is_err() {
                        return;
                    }
                }
                // A slow reader skips stale prices rather than slowing the clock.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
