//! `order-flow load`: drives trading-api's order entry at a constant open-model rate with valid
//! orders near the book, using the [`crate::load`] core, and reports latency percentiles.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use exchange_client::{
    load_demo_keys, ClientError, ExchangeClient, Grid, NewOrder, OrderType, Side, TimeInForce,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::load::{run_load, LoadPlan, LoadReport, Outcome};

/// What `order-flow load` was asked to do.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// trading-api's base URL.
    pub target: String,
    /// Orders per second.
    pub rate: f64,
    /// Run length; `None` until Ctrl-C.
    pub duration: Option<Duration>,
    /// Connections.
    pub connections: usize,
    /// Demo key file.
    pub keys_file: PathBuf,
    /// First key used; connection `i` uses key `offset + i mod keys`.
    pub key_offset: usize,
    /// Symbols; empty = all.
    pub symbols: Vec<String>,
    /// Median order notional (quote currency).
    pub notional: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Progress line on stderr.
    pub progress: bool,
}

/// The `--json` document: the run's parameters and its [`LoadReport`].
#[derive(Debug, Serialize)]
pub struct LoadOutput {
    /// trading-api's base URL.
    pub target: String,
    /// Symbols the orders went to.
    pub symbols: Vec<String>,
    /// The measurements.
    #[serde(flatten)]
    pub report: LoadReport,
}

/// Why a load run could not start.
#[derive(Debug)]
pub enum LoadError {
    /// trading-api does not answer at the target URL.
    NotRunning(String),
    /// Anything else, with a message for the operator.
    Setup(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotRunning(target) => write!(
                f,
                "trading-api is not running at {target} (start it with `make up`, or pass --target)"
            ),
            LoadError::Setup(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for LoadError {}

/// One symbol's grid and touch, which orders are priced around.
#[derive(Debug, Clone)]
struct Market {
    symbol: String,
    grid: Grid,
    lots: u64,
    touch: Touch,
}

/// Best bid and ask in ticks (each falls back to the other side or the last trade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Touch {
    bid: u64,
    ask: u64,
}

/// Valid IOC limit orders within three ticks of the opposite best price, alternating symbols,
/// random side: four in seven reach the opposite side and match, the rest expire at once, so the
/// load exercises matching and the book does not grow.
fn order_for(markets: &[Market], seq: u64) -> Option<NewOrder> {
    let m = markets.get((seq % markets.len().max(1) as u64) as usize)?;
    // A cheap deterministic mix of the sequence number (splitmix64) picks side and offset.
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let side = if z & 1 == 0 { Side::Buy } else { Side::Sell };
    let offset = (z >> 1) % 7; // 0..=6 -> -3..=+3 ticks around the opposite best
    let price = match side {
        Side::Buy => (m.touch.ask + offset).saturating_sub(3),
        Side::Sell => (m.touch.bid + 3).saturating_sub(offset),
    }
    .max(1);
    Some(NewOrder {
        symbol: m.symbol.clone(),
        side,
        order_type: OrderType::Limit,
        price: Some(m.grid.price_string(price)),
        quantity: m.grid.qty_string(m.lots),
        time_in_force: TimeInForce::Ioc,
        post_only: false,
        client_order_id: None,
    })
}

/// The touch of `symbol`: best bid and ask, one side standing in for a missing other, or the
/// last trade price for both when the book is empty.
async fn touch_of(public: &ExchangeClient, symbol: &str, grid: &Grid) -> Option<Touch> {
    let book = public.order_book(symbol, 1).await.ok();
    let best = |levels: Option<&Vec<exchange_client::Level>>| {
        levels
            .and_then(|l| l.first())
            .and_then(|l| grid.parse_ticks(&l.price))
    };
    let bid = best(book.as_ref().map(|b| &b.bids));
    let ask = best(book.as_ref().map(|b| &b.asks));
    match (bid, ask) {
        (Some(bid), Some(ask)) => Some(Touch { bid, ask }),
        (Some(p), None) | (None, Some(p)) => Some(Touch { bid: p, ask: p }),
        (None, None) => {
            let ticker = public.ticker(symbol).await.ok()?;
            let last = grid.parse_ticks(ticker.last.as_deref()?)?;
            Some(Touch {
                bid: last,
                ask: last,
            })
        }
    }
}

/// Runs the load, returning the output document.
pub async fn run(
    settings: LoadSettings,
    cancel: CancellationToken,
) -> Result<LoadOutput, LoadError> {
    let public = ExchangeClient::new(&settings.target, None, Duration::from_secs(5));
    match public.ready().await {
        Ok(true) => {}
        Ok(false) => {
            return Err(LoadError::Setup(format!(
                "trading-api at {} is not ready yet",
                settings.target
            )))
        }
        Err(ClientError::Unreachable(_)) => {
            return Err(LoadError::NotRunning(settings.target.clone()))
        }
        Err(e) => return Err(LoadError::Setup(e.to_string())),
    }
    let keys = load_demo_keys(&settings.keys_file).map_err(|e| {
        LoadError::Setup(format!(
            "{e} (run trading-api with --demo-accounts, or pass --keys)"
        ))
    })?;
    let infos = public
        .symbols()
        .await
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    let mut markets = Vec::new();
    let mut unpriced = Vec::new();
    for info in infos {
        if !settings.symbols.is_empty() && !settings.symbols.contains(&info.symbol) {
            continue;
        }
        let Some(grid) = info.grid() else { continue };
        match touch_of(&public, &info.symbol, &grid).await {
            Some(touch) => {
                let mid = (touch.bid + touch.ask) / 2;
                let lot_value = grid.ticks_to_f64(mid) * grid.lot_f64();
                let lots =
                    ((settings.notional / lot_value.max(f64::MIN_POSITIVE)).round() as u64).max(1);
                markets.push(Market {
                    symbol: info.symbol,
                    grid,
                    lots,
                    touch,
                });
            }
            None => unpriced.push(info.symbol),
        }
    }
    if markets.is_empty() {
        return Err(LoadError::Setup(format!(
            "no book and no trades on {unpriced:?}: start market-sim (make up) so the orders have a price to go near"
        )));
    }
    if !unpriced.is_empty() {
        tracing::warn!(?unpriced, "skipping symbols without a book");
    }
    let symbols: Vec<String> = markets.iter().map(|m| m.symbol.clone()).collect();
    let markets = Arc::new(RwLock::new(markets));

    // Follow the market while the load runs, so orders stay near the book.
    let refresher = {
        let (markets, public, cancel) = (Arc::clone(&markets), public.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let snapshot: Vec<(String, Grid)> = markets
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|m| (m.symbol.clone(), m.grid))
                    .collect();
                for (i, (symbol, grid)) in snapshot.iter().enumerate() {
                    if let Some(touch) = touch_of(&public, symbol, grid).await {
                        if let Some(m) = markets
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_mut(i)
                        {
                            m.touch = touch;
                        }
                    }
                }
            }
        })
    };

    // One client per connection, each keeping a single connection alive, like wrk's connections.
    let connections = settings.connections.max(1);
    let clients: Vec<ExchangeClient> = (0..connections)
        .map(|i| {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(settings.timeout)
                .tcp_nodelay(true)
                .build()
                .unwrap_or_default();
            let key = keys[(settings.key_offset + i) % keys.len()].clone();
            ExchangeClient::with_http(http, &settings.target, Some(key))
        })
        .collect();
    let clients = Arc::new(clients);
    let plan = LoadPlan {
        rate: settings.rate,
        duration: settings.duration,
        connections,
        progress: settings.progress,
    };
    let order_markets = Arc::clone(&markets);
    let report = run_load(
        plan,
        move |conn, seq| {
            let clients = Arc::clone(&clients);
            let order = {
                let m = order_markets.read().unwrap_or_else(|p| p.into_inner());
                order_for(&m, seq)
            };
            async move {
                let (Some(client), Some(order)) = (clients.get(conn), order) else {
                    return Outcome::Failed("no_order");
                };
                match client.place_order(&order).await {
                    Ok(_) => Outcome::Answered {
                        status: 201,
                        success: true,
                    },
                    Err(
                        ClientError::Rejected { status, .. } | ClientError::Server { status, .. },
                    ) => Outcome::Answered {
                        status,
                        success: false,
                    },
                    Err(ClientError::Unreachable(e)) if e.is_timeout() => {
                        Outcome::Failed("timeout")
                    }
                    Err(ClientError::Unreachable(_)) => Outcome::Failed("connect"),
                    Err(ClientError::Decode(_)) => Outcome::Failed("bad_body"),
                }
            }
        },
        cancel.clone(),
    )
    .await;
    refresher.abort();
    Ok(LoadOutput {
        target: settings.target,
        symbols,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_orders_are_valid_and_straddle_the_touch_on_both_sides_and_symbols() {
        let grid = Grid::from_sizes("0.01", "0.001").expect("grid");
        let markets = vec![
            Market {
                symbol: "A-USD".into(),
                grid,
                lots: 3,
                touch: Touch {
                    bid: 9_990,
                    ask: 10_010,
                },
            },
            Market {
                symbol: "B-USD".into(),
                grid,
                lots: 5,
                touch: Touch { bid: 500, ask: 501 },
            },
        ];
        let mut seen = std::collections::HashSet::new();
        let (mut crossing, mut total) = (0, 0);
        for seq in 0..1_000 {
            let o = order_for(&markets, seq).expect("order");
            let m = markets
                .iter()
                .find(|m| m.symbol == o.symbol)
                .expect("known symbol");
            let ticks = grid
                .parse_ticks(o.price.as_deref().expect("limit"))
                .expect("on tick");
            let opposite = match o.side {
                Side::Buy => m.touch.ask,
                Side::Sell => m.touch.bid,
            };
            assert!(ticks.abs_diff(opposite) <= 3, "{o:?}");
            let crosses = match o.side {
                Side::Buy => ticks >= m.touch.ask,
                Side::Sell => ticks <= m.touch.bid,
            };
            crossing += usize::from(crosses);
            total += 1;
            assert_eq!(grid.parse_lots(&o.quantity), Some(m.lots));
            assert_eq!(o.time_in_force, TimeInForce::Ioc, "load never rests orders");
            seen.insert((o.symbol.clone(), o.side));
        }
        assert_eq!(seen.len(), 4, "both sides of both symbols");
        // Four of the seven offsets reach the opposite side.
        assert!(
            (450..700).contains(&crossing),
            "{crossing} of {total} cross"
        );
        assert!(order_for(&[], 1).is_none());
    }
}
