//! The REST API: order entry for API-key holders, public market data, and the admin API.
//! Handlers validate and convert input (every mistake is a 4xx [`ApiError`] naming the field),
//! call the [`Venue`], and render JSON with prices and quantities as exact decimal strings.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use matching::{AccountId, OrderId, OrderType, Price, Qty, RejectReason, Side, TimeInForce};
use serde::Deserialize;
use serde_json::{json, Value};
use service_kit::error::{ApiPath, ApiQuery};
use service_kit::http_pprof::labels::{LabelSet, WithPprofLabels};
use service_kit::{ApiError, ApiJson};

use crate::journal::JournalError;
use crate::ledger::LedgerError;
use crate::marketdata::{side_str, ticker_json};
use crate::orders::OrderRecord;
use crate::units::{
    format_asset, format_units, parse_units, DecimalError, DecimalText, ASSET_DECIMALS,
};
use crate::venue::{
    CommandOutcome, InstrumentInfo, OrderRequest, Venue, VenueError, MAX_PRICE_UNITS,
};
use crate::AppState;

/// Longest accepted `client_order_id`.
const MAX_CLIENT_ORDER_ID: usize = 64;

impl From<VenueError> for ApiError {
    fn from(err: VenueError) -> Self {
        match err {
            VenueError::Rejected(reason) => rejection(reason),
            VenueError::Ledger(LedgerError::InsufficientFunds { asset, .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_funds",
                format!("insufficient available {asset} for this order"),
            ),
            VenueError::Ledger(LedgerError::UnknownAccount(_)) => {
                ApiError::not_found("no such account")
            }
            VenueError::Ledger(LedgerError::Overflow) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "amount out of range",
            )
            .with_field("amount"),
            VenueError::Ledger(LedgerError::Duplicate) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "account already exists")
            }
            VenueError::UnknownOrder => ApiError::not_found("no such order"),
            VenueError::UnknownSymbol => ApiError::invalid_field("symbol", "unknown symbol"),
            VenueError::Journal(JournalError::Closed) => ApiError::not_ready(),
            VenueError::Journal(err) => {
                tracing::error!(%err, "journal failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "journal_unavailable",
                    "the journal cannot accept commands",
                )
            }
            VenueError::Replay(msg) => {
                tracing::error!(%msg, "unexpected replay error in a live command");
                ApiError::internal()
            }
        }
    }
}

/// 422 for an engine rejection, coded by the reason.
fn rejection(reason: RejectReason) -> ApiError {
    let code = serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "rejected".to_owned());
    let message = match reason {
        RejectReason::WouldTakeLiquidity => "post-only order would take liquidity",
        RejectReason::CannotFillCompletely => "fill-or-kill order cannot fill completely",
        RejectReason::NoLiquidity => "no opposite liquidity for a market order",
        RejectReason::UnknownOrder => "no such open order",
        RejectReason::InvalidAmend => "amend changes nothing or is invalid",
        _ => "order rejected by the matching engine",
    };
    if reason == RejectReason::UnknownOrder {
        return ApiError::not_found(message);
    }
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

// ---- extractors ---------------------------------------------------------------------------

/// An authenticated trader: the account named by `X-API-Key`.
pub struct Trader {
    /// The account.
    pub account: AccountId,
    /// The venue (present: authentication implies readiness).
    pub venue: Arc<Venue>,
}

impl FromRequestParts<AppState> for Trader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let venue = state.venue().ok_or_else(ApiError::not_ready)?;
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing X-API-Key header"))?;
        let account = venue
            .authenticate(key)
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        Ok(Trader { account, venue })
    }
}

/// An admin caller (`Authorization: Bearer <admin token>`).
pub struct Admin {
    /// The venue.
    pub venue: Arc<Venue>,
}

/// Compares without an early exit, so timing does not reveal how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = state.admin_token.as_deref() else {
            return Err(ApiError::unauthorized(
                "the admin API is disabled (no admin token configured)",
            ));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        if !constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
            return Err(ApiError::unauthorized("wrong admin token"));
        }
        let venue = state.venue().ok_or_else(ApiError::not_ready)?;
        Ok(Admin { venue })
    }
}

// ---- rendering ----------------------------------------------------------------------------

fn price_text(info: &InstrumentInfo, price: Price) -> String {
    format_units(u128::from(price.0), info.instrument.price_decimals)
}

fn qty_text(info: &InstrumentInfo, qty: Qty) -> String {
    format_units(u128::from(qty.0), info.instrument.qty_decimals)
}

/// An order as JSON.
pub fn order_json(venue: &Venue, order: &OrderRecord) -> Value {
    let info = &venue.instruments()[order.symbol.0 as usize];
    json!({
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": info.instrument.symbol,
        "side": side_str(order.side),
        "type": if order.order_type == OrderType::Limit { "limit" } else { "market" },
        "time_in_force": match order.time_in_force { TimeInForce::Gtc => "gtc", TimeInForce::Ioc => "ioc", TimeInForce::Fok => "fok" },
        "post_only": order.post_only,
        "price": order.price.map(|p| price_text(info, p)),
        "quantity": qty_text(info, order.quantity),
        "filled_quantity": qty_text(info, order.filled),
        "remaining_quantity": qty_text(info, order.open),
        "status": order.status.as_str(),
        "self_trade_prevented": order.self_trade_prevented,
        "created_at_ms": order.created_ms,
    })
}

fn outcome_json(venue: &Venue, outcome: &CommandOutcome) -> Result<Value, ApiError> {
    let order = outcome.order.as_ref().ok_or_else(ApiError::internal)?;
    let info = &venue.instruments()[order.symbol.0 as usize];
    let mut value = order_json(venue, order);
    value["fills"] = outcome
        .fills
        .iter()
        .map(|f| {
            json!({
                "trade_id": f.trade_id,
                "price": price_text(info, f.price),
                "quantity": qty_text(info, f.qty),
                "liquidity": if f.maker { "maker" } else { "taker" },
            })
        })
        .collect();
    Ok(value)
}

// ---- order entry --------------------------------------------------------------------------

/// `POST /api/v1/orders` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitOrderBody {
    symbol: String,
    side: Side,
    #[serde(rename = "type")]
    order_type: OrderType,
    price: Option<DecimalText>,
    quantity: DecimalText,
    #[serde(default = "default_tif")]
    time_in_force: TimeInForce,
    #[serde(default)]
    post_only: bool,
    client_order_id: Option<String>,
}

fn default_tif() -> TimeInForce {
    TimeInForce::Gtc
}

fn decimal_error(field: &str, err: &DecimalError) -> ApiError {
    ApiError::invalid_field(field, format!("{field} {err}"))
}

/// Converts and checks a quantity against the instrument's lot and limits.
fn parse_qty(info: &InstrumentInfo, field: &str, text: &DecimalText) -> Result<Qty, ApiError> {
    let units =
        parse_units(&text.0, info.instrument.qty_decimals).map_err(|e| decimal_error(field, &e))?;
    let units = u64::try_from(units)
        .map_err(|_| ApiError::invalid_field(field, format!("{field} is too large")))?;
    if units == 0 {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be positive"),
        ));
    }
    if units % info.instrument.lot_size != 0 {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "{field} must be a multiple of the lot size {}",
                qty_text(info, Qty(info.instrument.lot_size))
            ),
        ));
    }
    if units > info.instrument.max_order_qty {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "{field} exceeds the maximum {}",
                qty_text(info, Qty(info.instrument.max_order_qty))
            ),
        ));
    }
    Ok(Qty(units))
}

/// Converts and checks a price against the instrument's tick.
fn parse_price(info: &InstrumentInfo, text: &DecimalText) -> Result<Price, ApiError> {
    let units = parse_units(&text.0, info.instrument.price_decimals).map_err(|e| match e {
        DecimalError::TooManyDecimals(_) => ApiError::invalid_field(
            "price",
            format!(
                "price is not a multiple of the tick size {}",
                price_text(info, Price(info.instrument.tick_size))
            ),
        ),
        other => decimal_error("price", &other),
    })?;
    let units = u64::try_from(units)
        .ok()
        .filter(|u| *u <= MAX_PRICE_UNITS)
        .ok_or_else(|| ApiError::invalid_field("price", "price is too large"))?;
    if units == 0 {
        return Err(ApiError::invalid_field("price", "price must be positive"));
    }
    if units % info.instrument.tick_size != 0 {
        return Err(ApiError::invalid_field(
            "price",
            format!(
                "price is not a multiple of the tick size {}",
                price_text(info, Price(info.instrument.tick_size))
            ),
        ));
    }
    Ok(Price(units))
}

fn validate_order(venue: &Venue, body: SubmitOrderBody) -> Result<OrderRequest, ApiError> {
    let symbol = venue.symbol_id(&body.symbol).ok_or_else(|| {
        ApiError::invalid_field("symbol", format!("unknown symbol `{}`", body.symbol))
    })?;
    let info = &venue.instruments()[symbol.0 as usize];
    let qty = parse_qty(info, "quantity", &body.quantity)?;
    let price = match (body.order_type, &body.price) {
        (OrderType::Limit, None) => {
            return Err(ApiError::invalid_field(
                "price",
                "price is required for limit orders",
            ))
        }
        (OrderType::Limit, Some(text)) => Some(parse_price(info, text)?),
        (OrderType::Market, None) => None,
        (OrderType::Market, Some(_)) => {
            return Err(ApiError::invalid_field(
                "price",
                "market orders take no price",
            ))
        }
    };
    if body.post_only
        && !(body.order_type == OrderType::Limit && body.time_in_force == TimeInForce::Gtc)
    {
        return Err(ApiError::invalid_field(
            "post_only",
            "post_only requires a GTC limit order",
        ));
    }
    if let Some(id) = &body.client_order_id {
        let ok_chars = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if id.is_empty() || id.len() > MAX_CLIENT_ORDER_ID || !ok_chars {
            return Err(ApiError::invalid_field(
                "client_order_id",
                format!(
                    "client_order_id must be 1-{MAX_CLIENT_ORDER_ID} characters of [A-Za-z0-9-_.:]"
                ),
            ));
        }
    }
    Ok(OrderRequest {
        symbol,
        side: body.side,
        order_type: body.order_type,
        price,
        qty,
        time_in_force: body.time_in_force,
        post_only: body.post_only,
        client_order_id: body.client_order_id,
    })
}

/// `POST /api/v1/orders`: 201 with the order and its fills.
pub async fn submit_order(
    trader: Trader,
    ApiJson(body): ApiJson<SubmitOrderBody>,
) -> Result<Response, ApiError> {
    let request = validate_order(&trader.venue, body)?;
    // CPU samples of this order's work carry `symbol=...` (after validation: known symbols only,
    // so the label's values stay few).
    let symbol = LabelSet::new([(
        "symbol",
        trader.venue.instruments()[request.symbol.0 as usize]
            .instrument
            .symbol
            .as_str(),
    )]);
    let outcome = trader
        .venue
        .submit(trader.account, request)
        .with_pprof_labels(symbol)
        .await?;
    if let Some(reason) = outcome.rejected {
        return Err(rejection(reason));
    }
    Ok((
        StatusCode::CREATED,
        Json(outcome_json(&trader.venue, &outcome)?),
    )
        .into_response())
}

fn parse_order_id(text: &str) -> Result<OrderId, ApiError> {
    text.parse::<OrderId>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "order id must be a positive integer",
        )
        .with_field("id")
    })
}

/// `GET /api/v1/orders/{id}`.
pub async fn get_order(
    trader: Trader,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_order_id(&id)?;
    let order = trader
        .venue
        .find_order(trader.account, id)
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    let body = order_json(&trader.venue, &order);
    // Read, then wait until what was read is durable (`visibility.rs`).
    trader.venue.wait_visible().await?;
    Ok(Json(body))
}

/// `DELETE /api/v1/orders/{id}`.
pub async fn cancel_order(
    trader: Trader,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_order_id(&id)?;
    let outcome = trader.venue.cancel(trader.account, id).await?;
    if let Some(reason) = outcome.rejected {
        return Err(rejection(reason));
    }
    Ok(Json(outcome_json(&trader.venue, &outcome)?))
}

/// `PATCH /api/v1/orders/{id}` body: new price and/or new open quantity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendBody {
    price: Option<DecimalText>,
    quantity: Option<DecimalText>,
}

/// `PATCH /api/v1/orders/{id}`.
pub async fn amend_order(
    trader: Trader,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AmendBody>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_order_id(&id)?;
    let existing = trader
        .venue
        .find_order(trader.account, id)
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    let info = &trader.venue.instruments()[existing.symbol.0 as usize];
    if body.price.is_none() && body.quantity.is_none() {
        return Err(ApiError::invalid_field(
            "price",
            "give a new price and/or quantity",
        ));
    }
    let price = body
        .price
        .as_ref()
        .map(|p| parse_price(info, p))
        .transpose()?;
    let qty = body
        .quantity
        .as_ref()
        .map(|q| parse_qty(info, "quantity", q))
        .transpose()?;
    let outcome = trader.venue.amend(trader.account, id, price, qty).await?;
    if let Some(reason) = outcome.rejected {
        return Err(rejection(reason));
    }
    Ok(Json(outcome_json(&trader.venue, &outcome)?))
}

/// `GET /api/v1/orders` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /api/v1/orders?status=open`: the caller's open orders.
pub async fn list_orders(
    trader: Trader,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    match query.status.as_deref() {
        None | Some("open") => {}
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "only status=open is supported",
            ))
        }
    }
    let orders: Vec<Value> = trader
        .venue
        .open_orders(trader.account)
        .iter()
        .map(|o| order_json(&trader.venue, o))
        .collect();
    trader.venue.wait_visible().await?;
    Ok(Json(json!({ "orders": orders })))
}

fn balances_json(assets: &[String], acct: &crate::ledger::Account) -> Value {
    let balances: serde_json::Map<String, Value> = assets
        .iter()
        .zip(&acct.balances)
        .map(|(asset, b)| {
            (
                asset.clone(),
                json!({
                    "total": format_asset(b.total),
                    "held": format_asset(b.held),
                    "available": format_asset(b.available()),
                }),
            )
        })
        .collect();
    json!({ "account_id": acct.id, "name": acct.name, "balances": balances })
}

/// One account's balances as JSON, copying only that account out of the ledger.
fn account_json(venue: &Venue, account: AccountId) -> Result<Value, ApiError> {
    let (assets, acct) = venue
        .account(account)
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(balances_json(&assets, &acct))
}

/// `GET /api/v1/account`: balances and holds.
pub async fn get_account(trader: Trader) -> Result<Json<Value>, ApiError> {
    let body = account_json(&trader.venue, trader.account)?;
    trader.venue.wait_visible().await?;
    Ok(Json(body))
}

// ---- public market data -------------------------------------------------------------------

fn public_venue(state: &AppState) -> Result<Arc<Venue>, ApiError> {
    state.venue().ok_or_else(ApiError::not_ready)
}

fn symbol_of(venue: &Venue, symbol: &str) -> Result<matching::SymbolId, ApiError> {
    venue
        .symbol_id(symbol)
        .ok_or_else(|| ApiError::not_found(format!("unknown symbol `{symbol}`")))
}

/// `GET /api/v1/symbols`.
pub async fn list_symbols(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let venue = public_venue(&state)?;
    let assets = venue.assets();
    let symbols: Vec<Value> = venue
        .instruments()
        .iter()
        .map(|info| {
            let i = &info.instrument;
            json!({
                "symbol": i.symbol,
                "base": assets[info.base],
                "quote": assets[info.quote],
                "price_decimals": i.price_decimals,
                "quantity_decimals": i.qty_decimals,
                "tick_size": price_text(info, Price(i.tick_size)),
                "lot_size": qty_text(info, Qty(i.lot_size)),
                "max_quantity": qty_text(info, Qty(i.max_order_qty)),
                "market_protection_bps": i.market_protection_bps,
            })
        })
        .collect();
    Ok(Json(
        json!({ "symbols": symbols, "asset_decimals": ASSET_DECIMALS }),
    ))
}

/// `?depth=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthQuery {
    depth: Option<usize>,
}

/// `GET /api/v1/orderbook/{symbol}?depth=N` (default 20, at most 1000).
pub async fn get_orderbook(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<DepthQuery>,
) -> Result<Json<Value>, ApiError> {
    let venue = public_venue(&state)?;
    let id = symbol_of(&venue, &symbol)?;
    let depth = query.depth.unwrap_or(20);
    if depth == 0 || depth > 1000 {
        return Err(ApiError::invalid_field("depth", "depth must be 1..=1000"));
    }
    let info = &venue.instruments()[id.0 as usize];
    let body = venue
        .with_book(id, |book, st| {
            let side = |s: Side| -> Vec<Value> {
                book.depth(s, depth)
                    .into_iter()
                    .map(|(p, q, n)| json!([price_text(info, p), qty_text(info, q), n]))
                    .collect()
            };
            json!({ "symbol": symbol, "seq": st.book_seq, "bids": side(Side::Buy), "asks": side(Side::Sell) })
        })
        .ok_or_else(|| ApiError::not_found("unknown symbol"))?;
    venue.wait_visible().await?;
    Ok(Json(body))
}

/// `?limit=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/trades/{symbol}?limit=N` (default 50, at most 1000), newest first.
pub async fn get_trades(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let venue = public_venue(&state)?;
    let id = symbol_of(&venue, &symbol)?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::invalid_field("limit", "limit must be 1..=1000"));
    }
    let info = &venue.instruments()[id.0 as usize];
    let trades: Vec<Value> = venue
        .recent_trades(id, limit)
        .iter()
        .map(|t| {
            json!({
                "trade_id": t.trade_id,
                "price": price_text(info, t.price),
                "quantity": qty_text(info, t.qty),
                "taker_side": side_str(t.taker_side),
                "ts_ms": t.ts_ms,
            })
        })
        .collect();
    venue.wait_visible().await?;
    Ok(Json(json!({ "symbol": symbol, "trades": trades })))
}

/// `GET /api/v1/ticker/{symbol}`.
pub async fn get_ticker(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let venue = public_venue(&state)?;
    let id = symbol_of(&venue, &symbol)?;
    let info = &venue.instruments()[id.0 as usize];
    let body = venue
        .with_book(id, |book, st| ticker_json(info, book, &st.ticker))
        .ok_or_else(|| ApiError::not_found("unknown symbol"))?;
    venue.wait_visible().await?;
    Ok(Json(body))
}

// ---- admin --------------------------------------------------------------------------------

/// `POST /admin/accounts` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountBody {
    name: String,
}

/// `POST /admin/accounts`: 201 `{account_id, name, api_key}`. The key is shown only here.
pub async fn admin_create_account(
    admin: Admin,
    ApiJson(body): ApiJson<CreateAccountBody>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::invalid_field(
            "name",
            "name must be 1-64 characters",
        ));
    }
    let (account, key) = admin.venue.create_account(name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "account_id": account, "name": name, "api_key": key })),
    )
        .into_response())
}

/// `POST /admin/deposits` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    account_id: AccountId,
    asset: String,
    amount: DecimalText,
}

/// `POST /admin/deposits`: credits an account; answers its balances.
pub async fn admin_deposit(
    admin: Admin,
    ApiJson(body): ApiJson<DepositBody>,
) -> Result<Json<Value>, ApiError> {
    if !admin.venue.assets().contains(&body.asset) {
        return Err(ApiError::invalid_field(
            "asset",
            format!("unknown asset `{}`", body.asset),
        ));
    }
    let amount =
        parse_units(&body.amount.0, ASSET_DECIMALS).map_err(|e| decimal_error("amount", &e))?;
    if amount == 0 {
        return Err(ApiError::invalid_field("amount", "amount must be positive"));
    }
    admin
        .venue
        .deposit(body.account_id, &body.asset, amount)
        .await?;
    account_json(&admin.venue, body.account_id).map(Json)
}

/// `GET /admin/accounts`: every account with balances.
pub async fn admin_list_accounts(admin: Admin) -> Json<Value> {
    let ledger = admin.venue.ledger();
    let accounts: Vec<Value> = ledger
        .accounts
        .values()
        .map(|acct| balances_json(&ledger.assets, acct))
        .collect();
    Json(json!({ "accounts": accounts }))
}

/// `GET /admin/state`: digests, journal position and the conservation check.
pub async fn admin_state(admin: Admin) -> Json<Value> {
    let venue = Arc::clone(&admin.venue);
    let digest = venue.digest();
    let ledger = venue.ledger();
    let conservation: Vec<Value> = ledger
        .conservation()
        .into_iter()
        .map(|(asset, total, deposited)| {
            json!({ "asset": asset, "total": format_asset(total), "deposited": format_asset(deposited), "conserved": total == deposited })
        })
        .collect();
    let (journal_seq, journal_bytes) = venue.journal().map_or((0, 0), |j| j.position());
    Json(json!({
        "state_digest": format!("{:016x}", digest.state),
        "engine_digest": format!("{:016x}", digest.engine),
        "journal_seq": journal_seq,
        "journal_bytes": journal_bytes,
        "conservation": conservation,
        "violations": ledger.violations(),
    }))
}

/// `POST /admin/snapshot`: writes a snapshot now.
pub async fn admin_snapshot(
    admin: Admin,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let path = crate::take_snapshot(&admin.venue, &state.data_dir)
        .await
        .map_err(|err| {
            tracing::error!(%err, "snapshot failed");
            ApiError::internal()
        })?;
    Ok(Json(json!({ "snapshot": path.display().to_string() })))
}
