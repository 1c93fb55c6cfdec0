//! Wiring: the router, and the startup task that waits for trading-api, builds the reference
//! market and starts the makers.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use exchange_client::{load_demo_keys, ExchangeClient, Grid, SymbolInfo, Upstream};
use service_kit::http::{standard_router, HttpKit};
use service_kit::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

use crate::api::{routes, AppState, Running};
use crate::config::SimSettings;
use crate::maker::{MakerTiming, MarketMaker};
use crate::market::ReferenceMarket;
use crate::metrics::SimMetrics;
use crate::quote::LadderConfig;

/// Everything the HTTP side and the background tasks share.
#[derive(Debug, Clone)]
pub struct MarketSim {
    /// Handler state.
    pub state: AppState,
    /// Registry behind `/metrics`.
    pub metrics: Metrics,
    /// market-sim's own metrics.
    pub sim_metrics: SimMetrics,
    /// `/ready`: true once makers run.
    pub readiness: Readiness,
    /// Fault injection (`/admin/chaos`, merged by main; its request layer is in `router`).
    pub chaos: chaos::Chaos,
    /// trading-api's base URL, shared by every maker's client; `/admin/upstream` (merged by
    /// main) swaps it so a chaos run can route the makers through the fault proxy.
    pub upstream: Upstream,
}

impl MarketSim {
    /// Creates the shared state (nothing runs yet).
    pub fn new(settings: &SimSettings, shutdown: CancellationToken) -> anyhow::Result<MarketSim> {
        let metrics = Metrics::new()?;
        let sim_metrics = SimMetrics::register(&metrics)?;
        let chaos = chaos::Chaos::new(&metrics)?;
        Ok(MarketSim {
            state: AppState {
                running: Arc::new(OnceLock::new()),
                exchange_url: settings.exchange_url.clone(),
                seed: settings.seed,
                started: Instant::now(),
                shutdown,
            },
            metrics,
            sim_metrics,
            readiness: Readiness::new(),
            chaos,
            upstream: Upstream::new(&settings.exchange_url),
        })
    }

    /// The full router: market-sim's routes plus health, readiness, metrics and fallbacks.
    pub fn router(&self) -> Router {
        let kit = HttpKit {
            metrics: self.metrics.clone(),
            readiness: self.readiness.clone(),
            body_limit: 16 * 1024,
        };
        // /debug/pprof is merged by main (service_kit::debug::pprof_routes), outside these layers.
        let service = self.chaos.inject_into(routes(self.state.clone()));
        standard_router(service, &kit)
    }

    /// Waits for trading-api and the key file, then starts the price clock and the makers.
    /// Returns when they run (or on shutdown).
    pub async fn start(&self, settings: SimSettings) {
        let shutdown = self.state.shutdown.clone();
        let public = ExchangeClient::following(self.upstream.clone(), None, Duration::from_secs(5));
        let mut backoff = Duration::from_millis(200);
        let (keys, symbols) = loop {
            match discover(&settings, &public).await {
                Ok(found) => break found,
                Err(err) => {
                    tracing::warn!(%err, retry_in = ?backoff, "waiting for trading-api");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let mut with_prices = Vec::new();
        for (info, grid) in symbols {
            // Continue from the market trading-api already has (a market-sim restart must not
            // jump the price); the configured price only seeds an empty market.
            let initial = match book_price(&public, &info.symbol, &grid).await {
                Some(p) => p,
                None => settings
                    .initial_prices
                    .get(&info.symbol)
                    .copied()
                    .unwrap_or(100.0),
            };
            with_prices.push((info.symbol, grid, initial));
        }
        let market = Arc::new(ReferenceMarket::new(
            with_prices,
            settings.model,
            settings.seed,
        ));
        tokio::spawn(Arc::clone(&market).run_clock(settings.step, shutdown.clone()));
        tokio::spawn(export_prices(
            Arc::clone(&market),
            self.sim_metrics.clone(),
            shutdown.clone(),
        ));

        let timing = MakerTiming {
            requote_interval: settings.requote_interval,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
        };
        let mut statuses = Vec::new();
        for i in 0..settings.makers {
            let key = keys[(settings.key_offset + i) % keys.len()].clone();
            let client = public.for_account(key);
            let ladders = market
                .symbols()
                .iter()
                .map(|s| maker_ladder(&settings, i, s.grid, s.point().price))
                .collect();
            let maker = MarketMaker::new(
                i,
                client,
                Arc::clone(&market),
                ladders,
                self.sim_metrics.clone(),
            );
            statuses.push(maker.status_handle());
            tokio::spawn(maker.run(timing, shutdown.clone()));
        }
        let _ = self.state.running.set(Running {
            market,
            makers: statuses,
        });
        self.readiness.set_ready(true);
        tracing::info!(makers = settings.makers, "market makers started");
    }
}

/// Maker `index`'s ladder for one symbol: sizes from notionals at the starting price, and a
/// spread one bp wider per maker so several makers stack into depth.
fn maker_ladder(settings: &SimSettings, index: usize, grid: Grid, price: f64) -> LadderConfig {
    let lot_value = (price * grid.lot_f64()).max(f64::MIN_POSITIVE);
    let base_lots = (settings.quote_notional / lot_value).round().max(1.0) as u64;
    LadderConfig {
        levels: settings.levels,
        half_spread_bps: settings.half_spread_bps + index as f64,
        level_spacing_bps: settings.level_spacing_bps,
        base_lots,
        lots_per_level: (base_lots / 2).max(1),
        max_inventory_lots: (settings.max_inventory_notional / lot_value)
            .round()
            .max(1.0) as i64,
        max_skew_bps: 2.0 * settings.half_spread_bps,
    }
}

/// The demo keys and the grids of the symbols to trade.
async fn discover(
    settings: &SimSettings,
    public: &ExchangeClient,
) -> anyhow::Result<(Vec<String>, Vec<(SymbolInfo, Grid)>)> {
    let keys = load_demo_keys(&settings.keys_file).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        keys.len() >= settings.key_offset + settings.makers,
        "{} has {} keys; need {} (offset {} + {} makers)",
        settings.keys_file.display(),
        keys.len(),
        settings.key_offset + settings.makers,
        settings.key_offset,
        settings.makers
    );
    anyhow::ensure!(public.ready().await?, "trading-api is not ready yet");
    let mut out = Vec::new();
    for info in public.symbols().await? {
        if !settings.symbols.is_empty() && !settings.symbols.contains(&info.symbol) {
            continue;
        }
        let grid = info.grid().ok_or_else(|| {
            anyhow::anyhow!("symbol {} has an unusable tick/lot size", info.symbol)
        })?;
        out.push((info, grid));
    }
    anyhow::ensure!(
        !out.is_empty(),
        "none of the wanted symbols is listed by trading-api"
    );
    Ok((keys, out))
}

/// trading-api's mid (or last) price, to continue from where the market is.
async fn book_price(public: &ExchangeClient, symbol: &str, grid: &Grid) -> Option<f64> {
    let ticker = public.ticker(symbol).await.ok()?;
    let parse = |p: &Option<String>| p.as_deref().and_then(|p| grid.parse_ticks(p));
    let ticks = match (parse(&ticker.best_bid), parse(&ticker.best_ask)) {
        (Some(b), Some(a)) => (b + a) / 2,
        _ => parse(&ticker.last)?,
    };
    Some(grid.ticks_to_f64(ticks))
}

/// Keeps the reference-price gauges current.
async fn export_prices(
    market: Arc<ReferenceMarket>,
    metrics: SimMetrics,
    shutdown: CancellationToken,
) {
    loop {
        for p in market.prices() {
            metrics
                .reference_price
                .with_label_values(&[p.symbol.as_str()])
                .set(p.price);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
