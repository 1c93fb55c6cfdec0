//! The HTTP baseline of `make bench-e2e`: an order endpoint with nothing behind it.
//!
//! [`app`] answers `POST /api/v1/orders` the way trading-api does on the outside (same body shape,
//! parsed with the same [`ApiJson`] extractor; `X-API-Key` required; 201 with an order of the same
//! JSON shape; 4xx errors in the shared `{"error":{...}}` shape) but does no exchange work: no key
//! lookup, risk check, journal, matching or market data. It is wrapped in the same layers as
//! trading-api's order routes ([`with_overload_limits`] and [`standard_router`]: load shedding,
//! concurrency limit, timeout, body limit, HTTP metrics, `/health`, `/ready`, `/metrics`); the only
//! layer left out is chaos fault injection (with no fault active: a look at an empty rule list
//! and one more middleware hop per request).
//! So trading-api's throughput divided by this one's is what the exchange costs per order.
//!
//! Architecture invariant: of trading-api this crate uses only the wire type for decimals
//! ([`DecimalText`], so numbers are read exactly as the exchange reads them) and copies the body's
//! shape; nothing of the exchange's work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use matching::{OrderType, Side, TimeInForce};
use serde::Deserialize;
use serde_json::json;
use service_kit::http::{standard_router, with_overload_limits, HttpKit, OverloadLimits};
use service_kit::{ApiError, ApiJson, Metrics, Readiness};
pub use trading_api::units::DecimalText;

/// `POST /api/v1/orders` body: field for field trading-api's `SubmitOrderBody`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// Instrument, e.g. `BTC-USD` (not checked against a list).
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Limit price; required for limit orders, refused for market orders.
    pub price: Option<DecimalText>,
    /// Quantity.
    pub quantity: DecimalText,
    /// GTC unless given.
    #[serde(default = "default_tif")]
    pub time_in_force: TimeInForce,
    /// Post-only flag, echoed.
    #[serde(default)]
    pub post_only: bool,
    /// Caller's id, echoed.
    pub client_order_id: Option<String>,
}

fn default_tif() -> TimeInForce {
    TimeInForce::Gtc
}

/// Configuration of [`app`], the same knobs trading-api has for its HTTP layers.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest request body; larger gets 413.
    pub body_limit: usize,
    /// Requests served at once before 503.
    pub max_in_flight: usize,
    /// Longest request before 408.
    pub request_timeout: Duration,
}

impl Default for AppConfig {
    /// trading-api's defaults.
    fn default() -> Self {
        AppConfig {
            body_limit: 16 * 1024,
            max_in_flight: 1024,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Order ids, increasing, as an exchange would hand them out.
#[derive(Debug, Default)]
struct OrderIds(AtomicU64);

/// The router: `POST /api/v1/orders` plus the shared service routes and layers.
pub fn app(config: &AppConfig) -> anyhow::Result<Router> {
    let ids = Arc::new(OrderIds::default());
    let orders = Router::new().route(
        "/api/v1/orders",
        post(move |headers: HeaderMap, body: ApiJson<OrderBody>| {
            let ids = Arc::clone(&ids);
            async move { submit_order(&ids, &headers, body) }
        }),
    );
    let orders = with_overload_limits(
        orders,
        OverloadLimits {
            max_in_flight: config.max_in_flight,
            request_timeout: config.request_timeout,
        },
    );
    let readiness = Readiness::new();
    readiness.set_ready(true);
    Ok(standard_router(
        orders,
        &HttpKit {
            metrics: Metrics::new()?,
            readiness,
            body_limit: config.body_limit,
        },
    ))
}

fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// Checks what can be checked without an exchange and answers as trading-api does for an order
/// that rests without trading.
fn submit_order(
    ids: &OrderIds,
    headers: &HeaderMap,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::unauthorized("missing X-API-Key header"))?;
    match (body.order_type, &body.price) {
        (OrderType::Limit, None) => {
            return Err(ApiError::invalid_field(
                "price",
                "price is required for limit orders",
            ))
        }
        (OrderType::Market, Some(_)) => {
            return Err(ApiError::invalid_field(
                "price",
                "market orders take no price",
            ))
        }
        _ => {}
    }
    let order_id = ids.0.fetch_add(1, Ordering::Relaxed) + 1;
    let created_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let order = json!({
        "order_id": order_id,
        "client_order_id": body.client_order_id,
        "symbol": body.symbol,
        "side": side_str(body.side),
        "type": if body.order_type == OrderType::Limit { "limit" } else { "market" },
        "time_in_force": match body.time_in_force { TimeInForce::Gtc => "gtc", TimeInForce::Ioc => "ioc", TimeInForce::Fok => "fok" },
        "post_only": body.post_only,
        "price": body.price.map(|p| p.0),
        "quantity": body.quantity.0,
        "filled_quantity": "0",
        "remaining_quantity": body.quantity.0,
        "status": "open",
        "self_trade_prevented": false,
        "created_at_ms": created_ms,
        "fills": [],
    });
    Ok((StatusCode::CREATED, Json(order)).into_response())
}
