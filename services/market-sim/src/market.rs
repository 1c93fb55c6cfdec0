//! The reference market: one [`PriceProcess`] per symbol, stepped by a clock task, with the
//! latest prices readable by the makers and the HTTP API and pushed to WebSocket subscribers.

use std::sync::Arc;

use contention::{Mutex, MutexGuard};
use std::time::Duration;

use exchange_client::Grid;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::price::{PriceModel, PricePoint, PriceProcess, ShockPattern, VolatilityShock};

/// One symbol's price process and grid.
#[derive(Debug)]
pub struct SymbolMarket {
    /// Ticker.
    pub symbol: String,
    /// Tick and lot grid from trading-api's symbol list.
    pub grid: Grid,
    /// Profiled (`/debug/pprof/mutex`, `block`): the ticker and every price read share it.
    /// Held only for one step or one read, never across an `.await`.
    process: Mutex<PriceProcess>,
}

impl SymbolMarket {
    fn lock(&self) -> MutexGuard<'_, PriceProcess> {
        self.process.lock()
    }

    /// The latest point of the process.
    pub fn point(&self) -> PricePoint {
        self.lock().point()
    }

    /// The reference price rounded to the nearest tick.
    pub fn reference_ticks(&self) -> u64 {
        self.grid.ticks_near(self.point().price)
    }
}

/// A message on the `/ws` feed and an entry of `GET /api/v1/prices`.
#[derive(Debug, Clone, Serialize)]
pub struct PriceUpdate {
    /// Ticker.
    pub symbol: String,
    /// Reference price as a number.
    pub price: f64,
    /// Reference price rounded to the tick grid, as trading-api writes prices.
    pub price_on_tick: String,
    /// Regime, volatility and jump flag of the last step.
    #[serde(flatten)]
    pub point: PricePoint,
    /// The operator's volatility shock, if one is in force.
    pub shock: Option<VolatilityShock>,
}

/// All symbols' reference prices.
#[derive(Debug)]
pub struct ReferenceMarket {
    /// In trading-api's symbol order.
    symbols: Vec<Arc<SymbolMarket>>,
    /// Fan-out to WebSocket clients; lagging receivers lose old prices, which is what they want.
    feed: broadcast::Sender<Arc<Vec<PriceUpdate>>>,
}

impl ReferenceMarket {
    /// One process per `(symbol, grid, initial price)`, each seeded from `seed` and its index.
    pub fn new(symbols: Vec<(String, Grid, f64)>, model: PriceModel, seed: u64) -> ReferenceMarket {
        let symbols = symbols
            .into_iter()
            .enumerate()
            .map(|(i, (symbol, grid, initial))| {
                let process = PriceProcess::new(initial, model, seed.wrapping_add(i as u64 * 7919));
                Arc::new(SymbolMarket {
                    symbol,
                    grid,
                    process: Mutex::new(process),
                })
            })
            .collect();
        let (feed, _) = broadcast::channel(64);
        ReferenceMarket { symbols, feed }
    }

    /// The symbols, in order.
    pub fn symbols(&self) -> &[Arc<SymbolMarket>] {
        &self.symbols
    }

    /// One symbol by ticker.
    pub fn symbol(&self, symbol: &str) -> Option<&Arc<SymbolMarket>> {
        self.symbols.iter().find(|s| s.symbol == symbol)
    }

    /// The current prices of every symbol.
    pub fn prices(&self) -> Vec<PriceUpdate> {
        self.symbols
            .iter()
            .map(|s| {
                let process = s.lock();
                let point = process.point();
                PriceUpdate {
                    symbol: s.symbol.clone(),
                    price: point.price,
                    price_on_tick: s.grid.price_string(s.grid.ticks_near(point.price)),
                    point,
                    shock: process.active_shock(),
                }
            })
            .collect()
    }

    /// Starts a volatility shock on `symbol`, or on every symbol when `None`. Returns how many
    /// symbols it applied to.
    pub fn shock(
        &self,
        symbol: Option<&str>,
        pattern: ShockPattern,
        intensity: f64,
        duration: Duration,
    ) -> usize {
        let mut applied = 0;
        for s in &self.symbols {
            if symbol.is_none_or(|wanted| wanted == s.symbol) {
                s.lock().shock(pattern, intensity, duration.as_secs_f64());
                applied += 1;
            }
        }
        applied
    }

    /// A receiver of every future price step.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<PriceUpdate>>> {
        self.feed.subscribe()
    }

    /// Steps every process by `dt` seconds and publishes the result.
    pub fn step(&self, dt: f64) {
        for s in &self.symbols {
            s.lock().step(dt);
        }
        // No subscribers is the usual case and not an error.
        let _ = self.feed.send(Arc::new(self.prices()));
    }

    /// Steps the market every `interval` until `shutdown`.
    pub async fn run_clock(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        // A late tick is made up by one longer step, not a burst of catch-up steps.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                now = ticker.tick() => {
                    let dt = now.duration_since(last).as_secs_f64();
                    last = now;
                    if dt > 0.0 {
                        self.step(dt);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market() -> ReferenceMarket {
        let grid = Grid::from_sizes("0.01", "0.001").expect("valid grid");
        ReferenceMarket::new(
            vec![("AAA".into(), grid, 100.0), ("BBB".into(), grid, 20.0)],
            PriceModel::default(),
            5,
        )
    }

    #[test]
    fn symbols_get_distinct_paths_and_shocks_can_target_one() {
        let m = market();
        let mut rx = m.subscribe();
        for _ in 0..50 {
            m.step(0.1);
        }
        let prices = m.prices();
        assert_eq!(prices.len(), 2);
        assert!(prices[0].price != 100.0 && prices[1].price != 20.0);
        assert_eq!(rx.try_recv().expect("published").len(), 2);
        assert_eq!(
            m.shock(
                Some("BBB"),
                ShockPattern::Spike,
                2.0,
                Duration::from_secs(5)
            ),
            1
        );
        let prices = m.prices();
        assert!(prices[0].shock.is_none() && prices[1].shock.is_some());
        assert_eq!(
            m.shock(None, ShockPattern::Decay, 1.0, Duration::from_secs(5)),
            2
        );
        assert!(prices[1].price_on_tick.contains('.'));
    }
}
