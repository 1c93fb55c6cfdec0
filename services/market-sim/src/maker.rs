//! A market maker: one demo account quoting ladders on every symbol into trading-api.
//!
//! Each cycle it lists its open orders (the exchange is the source of truth, so a restart of
//! trading-api, with or without its journal, needs no special handling), infers its fills from
//! what disappeared or shrank, computes the wanted ladders from the reference prices and its
//! inventory, cancels what is no longer wanted and places what is missing. While trading-api is
//! unreachable it backs off exponentially; its view of its orders survives the outage because
//! trading-api's journal restores them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exchange_client::{
    ClientError, ExchangeClient, NewOrder, OrderAck, OrderType, Side, TimeInForce,
};
use futures_util::future::join_all;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::market::{ReferenceMarket, SymbolMarket};
use crate::metrics::SimMetrics;
use crate::quote::{ladder, plan_requote, LadderConfig, Quote, RestingQuote};

/// Timing of the maker loop.
#[derive(Debug, Clone, Copy)]
pub struct MakerTiming {
    /// Pause between re-quote cycles.
    pub requote_interval: Duration,
    /// First back-off after trading-api becomes unreachable; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
}

/// A maker's state as `GET /api/v1/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MakerStatus {
    /// Maker index (also the `maker` metric label).
    pub maker: usize,
    /// Whether the last cycle reached trading-api.
    pub connected: bool,
    /// Completed re-quote cycles.
    pub cycles: u64,
    /// Orders placed and canceled so far.
    pub placed: u64,
    /// Orders canceled so far.
    pub canceled: u64,
    /// Placements or cancels trading-api refused, by error code.
    pub rejected: HashMap<String, u64>,
    /// Quotes resting per symbol after the last cycle.
    pub resting: HashMap<String, usize>,
    /// Net position per symbol in lots (positive = long).
    pub inventory_lots: HashMap<String, i64>,
    /// Last error, for the operator.
    pub last_error: Option<String>,
}

/// What the maker believes about one of its orders.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// Index of the symbol in the reference market.
    symbol: usize,
    /// Bid or ask: the sign of its fills in the inventory.
    side: Side,
    /// Lots still resting at the last look; a smaller number later means a fill.
    remaining_lots: u64,
}

/// One maker account.
#[derive(Debug)]
pub struct MarketMaker {
    /// Index, for labels.
    id: usize,
    /// Client acting for this maker's demo account.
    client: ExchangeClient,
    /// Reference prices.
    market: Arc<ReferenceMarket>,
    /// How it quotes, per symbol (sizes depend on the instrument's price and lot).
    ladders: Vec<LadderConfig>,
    /// Metrics.
    metrics: SimMetrics,
    /// Shared with the status endpoint; std Mutex, never held across an `.await`.
    status: Arc<Mutex<MakerStatus>>,
}

impl MarketMaker {
    /// A maker quoting every symbol of `market` through `client`.
    pub fn new(
        id: usize,
        client: ExchangeClient,
        market: Arc<ReferenceMarket>,
        ladders: Vec<LadderConfig>,
        metrics: SimMetrics,
    ) -> MarketMaker {
        let status = MakerStatus {
            maker: id,
            ..MakerStatus::default()
        };
        MarketMaker {
            id,
            client,
            market,
            ladders,
            metrics,
            status: Arc::new(Mutex::new(status)),
        }
    }

    /// A handle on the maker's status for the API.
    pub fn status_handle(&self) -> Arc<Mutex<MakerStatus>> {
        Arc::clone(&self.status)
    }

    fn with_status<R>(&self, f: impl FnOnce(&mut MakerStatus) -> R) -> R {
        let mut guard = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Quotes until `shutdown`, then cancels its quotes (best effort, bounded in time).
    pub async fn run(self, timing: MakerTiming, shutdown: CancellationToken) {
        let mut tracked: HashMap<u64, Tracked> = HashMap::new();
        let mut inventory = vec![0i64; self.market.symbols().len()];
        let mut backoff = timing.min_backoff;
        let mut was_down = false;
        loop {
            let pause = match self.cycle(&mut tracked, &mut inventory).await {
                Ok(()) => {
                    if was_down {
                        tracing::info!(maker = self.id, "trading-api is back; re-quoting");
                        self.metrics.reconnects.inc();
                        was_down = false;
                    }
                    backoff = timing.min_backoff;
                    self.with_status(|s| {
                        s.connected = true;
                        s.cycles += 1;
                    });
                    timing.requote_interval
                }
                Err(err) if err.is_unavailable() => {
                    if !was_down {
                        tracing::warn!(maker = self.id, %err, "trading-api unavailable; backing off");
                    }
                    was_down = true;
                    // Keep tracking: trading-api's journal restores resting orders after a
                    // restart, so the next listing still tells fills apart from survivors.
                    self.with_status(|s| {
                        s.connected = false;
                        s.last_error = Some(err.to_string());
                    });
                    let pause = backoff;
                    backoff = (backoff * 2).min(timing.max_backoff);
                    pause
                }
                Err(err) => {
                    tracing::warn!(maker = self.id, %err, "re-quote cycle failed");
                    self.with_status(|s| s.last_error = Some(err.to_string()));
                    timing.requote_interval
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        let ids: Vec<u64> = tracked.keys().copied().collect();
        let cancel_all = join_all(ids.iter().map(|id| self.client.cancel_order(*id)));
        let _ = tokio::time::timeout(Duration::from_secs(2), cancel_all).await;
    }

    /// Times and counts one call to trading-api.
    async fn call<T>(
        &self,
        op: &str,
        fut: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let result = fut.await;
        self.metrics
            .exchange_latency
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ClientError::Rejected { .. }) => "rejected",
            Err(e) if e.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .exchange_requests
            .with_label_values(&[op, outcome])
            .inc();
        if let Err(ClientError::Rejected { code, .. }) = &result {
            let code = if code.is_empty() {
                "unknown".to_string()
            } else {
                code.clone()
            };
            self.with_status(|s| *s.rejected.entry(code).or_default() += 1);
        }
        result
    }

    /// One re-quote cycle over every symbol.
    async fn cycle(
        &self,
        tracked: &mut HashMap<u64, Tracked>,
        inventory: &mut [i64],
    ) -> Result<(), ClientError> {
        let symbols = self.market.symbols();
        let open = self.call("list", self.client.open_orders()).await?;

        let resting = reconcile(symbols, &open, tracked, inventory);

        // Plan every symbol, then cancel before placing so a maker never trades with itself.
        let mut cancels = Vec::new();
        let mut places: Vec<(usize, Quote)> = Vec::new();
        for (index, sym) in symbols.iter().enumerate() {
            let Some(cfg) = self.ladders.get(index) else {
                continue;
            };
            let wanted = ladder(sym.reference_ticks(), inventory[index], cfg);
            let plan = plan_requote(&resting[index], &wanted);
            cancels.extend(plan.cancels);
            places.extend(plan.places.into_iter().map(|q| (index, q)));
        }
        let cancel_results = join_all(
            cancels
                .iter()
                .map(|id| self.call("cancel", self.client.cancel_order(*id))),
        )
        .await;
        for (id, result) in cancels.iter().zip(cancel_results) {
            let Some(t) = tracked.remove(id) else {
                continue;
            };
            match result {
                // What filled between the listing and the cancel is what did not get canceled.
                Ok(Some(ack)) => {
                    self.with_status(|s| s.canceled += 1);
                    let grid = &symbols[t.symbol].grid;
                    let lots = |q: &Option<String>| q.as_deref().and_then(|q| grid.parse_lots(q));
                    if let (Some(total), Some(filled)) =
                        (lots(&ack.quantity), lots(&ack.filled_quantity))
                    {
                        let canceled = total.saturating_sub(filled);
                        inventory[t.symbol] +=
                            signed(t.side, t.remaining_lots.saturating_sub(canceled));
                    }
                }
                // Already gone: it filled between the listing and the cancel.
                Ok(None) => inventory[t.symbol] += signed(t.side, t.remaining_lots),
                // Maybe still resting: keep tracking it; the next listing tells.
                Err(e) => {
                    tracked.insert(*id, t);
                    if e.is_unavailable() {
                        return Err(e);
                    }
                }
            }
        }
        let orders: Vec<NewOrder> = places
            .iter()
            .map(|(index, q)| limit_order(&symbols[*index], q))
            .collect();
        let acks = join_all(
            orders
                .iter()
                .map(|o| self.call("place", self.client.place_order(o))),
        )
        .await;
        let mut unavailable = None;
        for ((index, quote), result) in places.iter().zip(acks) {
            match result {
                Ok(ack) => {
                    self.with_status(|s| s.placed += 1);
                    let grid = &symbols[*index].grid;
                    let filled = ack
                        .filled_quantity
                        .as_deref()
                        .and_then(|q| grid.parse_lots(q))
                        .unwrap_or(0)
                        .min(quote.lots);
                    inventory[*index] += signed(quote.side, filled);
                    let remaining = quote.lots - filled;
                    if remaining > 0 && is_working(&ack.status) {
                        tracked.insert(
                            ack.order_id,
                            Tracked {
                                symbol: *index,
                                side: quote.side,
                                remaining_lots: remaining,
                            },
                        );
                    }
                }
                Err(e) if e.is_unavailable() => unavailable = Some(e),
                Err(e) => tracing::debug!(maker = self.id, %e, "quote refused"),
            }
        }
        self.publish(symbols, tracked, inventory);
        match unavailable {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn publish(
        &self,
        symbols: &[Arc<SymbolMarket>],
        tracked: &HashMap<u64, Tracked>,
        inventory: &[i64],
    ) {
        let maker = self.id.to_string();
        let mut counts = vec![0usize; symbols.len()];
        for t in tracked.values() {
            counts[t.symbol] += 1;
        }
        self.with_status(|s| {
            for (i, sym) in symbols.iter().enumerate() {
                s.resting.insert(sym.symbol.clone(), counts[i]);
                s.inventory_lots.insert(sym.symbol.clone(), inventory[i]);
                self.metrics
                    .resting_quotes
                    .with_label_values(&[maker.as_str(), sym.symbol.as_str()])
                    .set(counts[i] as i64);
                self.metrics
                    .inventory_lots
                    .with_label_values(&[maker.as_str(), sym.symbol.as_str()])
                    .set(inventory[i]);
            }
        });
    }
}

/// Folds a fresh listing of the maker's open orders into what it tracked: an order that shrank
/// or vanished since the last look was filled by that much (the maker cancels only what it
/// stops tracking first), and its fills move the inventory. Returns the resting quotes per symbol.
fn reconcile(
    symbols: &[Arc<SymbolMarket>],
    open: &[OrderAck],
    tracked: &mut HashMap<u64, Tracked>,
    inventory: &mut [i64],
) -> Vec<Vec<RestingQuote>> {
    let mut resting: Vec<Vec<RestingQuote>> = vec![Vec::new(); symbols.len()];
    let mut seen = HashSet::new();
    for order in open {
        let Some((index, quote)) = resting_quote(symbols, order) else {
            continue;
        };
        seen.insert(order.order_id);
        if let Some(before) = tracked.get(&order.order_id) {
            let filled = before.remaining_lots.saturating_sub(quote.remaining_lots);
            inventory[index] += signed(quote.side, filled);
        }
        tracked.insert(
            order.order_id,
            Tracked {
                symbol: index,
                side: quote.side,
                remaining_lots: quote.remaining_lots,
            },
        );
        resting[index].push(quote);
    }
    tracked.retain(|id, t| {
        let alive = seen.contains(id);
        if !alive {
            inventory[t.symbol] += signed(t.side, t.remaining_lots);
        }
        alive
    });
    resting
}

/// Lots bought (positive) or sold (negative).
fn signed(side: Side, lots: u64) -> i64 {
    let lots = i64::try_from(lots).unwrap_or(i64::MAX);
    match side {
        Side::Buy => lots,
        Side::Sell => -lots,
    }
}

/// Whether an order in this status still rests on the book.
fn is_working(status: &str) -> bool {
    !matches!(
        status,
        "filled" | "canceled" | "cancelled" | "expired" | "rejected"
    )
}

/// An open order from the listing as a resting quote of one of the market's symbols.
fn resting_quote(symbols: &[Arc<SymbolMarket>], order: &OrderAck) -> Option<(usize, RestingQuote)> {
    let index = symbols
        .iter()
        .position(|s| Some(s.symbol.as_str()) == order.symbol.as_deref())?;
    let grid = &symbols[index].grid;
    let price_ticks = grid.parse_ticks(order.price.as_deref()?)?;
    let remaining_lots = match order.remaining_quantity.as_deref() {
        Some(r) => grid.parse_lots(r)?,
        None => {
            let total = grid.parse_lots(order.quantity.as_deref()?)?;
            let filled = order
                .filled_quantity
                .as_deref()
                .and_then(|f| grid.parse_lots(f))
                .unwrap_or(0);
            total.saturating_sub(filled)
        }
    };
    Some((
        index,
        RestingQuote {
            order_id: order.order_id,
            side: order.side?,
            price_ticks,
            remaining_lots,
        },
    ))
}

/// The GTC limit order that rests `quote`.
fn limit_order(sym: &SymbolMarket, quote: &Quote) -> NewOrder {
    NewOrder {
        symbol: sym.symbol.clone(),
        side: quote.side,
        order_type: OrderType::Limit,
        price: Some(sym.grid.price_string(quote.price_ticks)),
        quantity: sym.grid.qty_string(quote.lots),
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        client_order_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::PriceModel;
    use exchange_client::Grid;

    fn ack(id: u64, symbol: &str, side: Side, price: &str, qty: &str, remaining: &str) -> OrderAck {
        serde_json::from_value(serde_json::json!({
            "order_id": id, "status": "open", "symbol": symbol, "side": side,
            "price": price, "quantity": qty, "remaining_quantity": remaining,
        }))
        .expect("valid ack")
    }

    #[test]
    fn fills_are_inferred_from_what_shrank_or_vanished() {
        let grid = Grid::from_sizes("0.01", "0.001").expect("grid");
        let market = ReferenceMarket::new(
            vec![("AAA".into(), grid, 100.0), ("BBB".into(), grid, 10.0)],
            PriceModel::default(),
            1,
        );
        let symbols = market.symbols();
        let mut tracked = HashMap::new();
        let mut inventory = vec![0i64; 2];
        let first = vec![
            ack(1, "AAA", Side::Buy, "99.90", "1.000", "1.000"),
            ack(2, "AAA", Side::Sell, "100.10", "1.000", "1.000"),
            ack(3, "BBB", Side::Sell, "10.10", "0.500", "0.500"),
            ack(4, "ZZZ", Side::Sell, "1.00", "1.000", "1.000"),
        ];
        let resting = reconcile(symbols, &first, &mut tracked, &mut inventory);
        assert_eq!(inventory, vec![0, 0], "the first look fills nothing");
        assert_eq!(
            (resting[0].len(), resting[1].len()),
            (2, 1),
            "unknown symbols ignored"
        );
        // Bid 1 filled 400 lots, ask 2 filled completely, BBB untouched.
        let second = vec![
            ack(1, "AAA", Side::Buy, "99.90", "1.000", "0.600"),
            ack(3, "BBB", Side::Sell, "10.10", "0.500", "0.500"),
        ];
        let resting = reconcile(symbols, &second, &mut tracked, &mut inventory);
        assert_eq!(inventory, vec![400 - 1000, 0]);
        assert_eq!(resting[0][0].remaining_lots, 600);
        assert_eq!(tracked.len(), 2);
    }
}
