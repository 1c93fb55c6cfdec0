//! Trader populations as pure order-making rules over a [`MarketView`]: retail noise traders,
//! momentum traders chasing the last trades, and institutional parents sliced by TWAP.
//!
//! Every order made here is valid by construction: prices are whole ticks near the book, sizes
//! whole lots between one lot and a cap. [`invalidate`] deliberately breaks one, for reject tests.

use std::time::Duration;

use exchange_client::{Grid, NewOrder, OrderType, Side, TimeInForce};
use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

/// Who sent an order (a metric label and a status key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    /// Random direction, random size, mostly passive limits near the touch.
    Retail,
    /// Buys after rising trades, sells after falling ones, aggressively.
    Momentum,
    /// Large parents executed as equal slices over time (TWAP).
    Institutional,
}

impl Population {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Population::Retail => "retail",
            Population::Momentum => "momentum",
            Population::Institutional => "institutional",
        }
    }
}

/// The share of the order rate each population gets. Weights need not sum to one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Retail weight.
    pub retail: f64,
    /// Momentum weight.
    pub momentum: f64,
    /// Institutional (TWAP slices) weight.
    pub institutional: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            retail: 0.7,
            momentum: 0.2,
            institutional: 0.1,
        }
    }
}

impl Mix {
    /// Weights as fractions of one, or `None` if any is negative or not finite, or all are zero.
    pub fn normalized(&self) -> Option<Mix> {
        let all = [self.retail, self.momentum, self.institutional];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return None;
        }
        let sum: f64 = all.iter().sum();
        (sum > 0.0).then(|| Mix {
            retail: self.retail / sum,
            momentum: self.momentum / sum,
            institutional: self.institutional / sum,
        })
    }
}

/// What order-flow knows about one symbol's market, refreshed from trading-api.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketView {
    /// Ticker.
    pub symbol: String,
    /// Tick and lot grid.
    pub grid: Grid,
    /// Best bid in ticks.
    pub best_bid: Option<u64>,
    /// Best ask in ticks.
    pub best_ask: Option<u64>,
    /// Recent trade prices in ticks, newest first.
    pub recent_trades: Vec<u64>,
}

impl MarketView {
    /// The mid price in ticks (or the one side present, or the last trade).
    pub fn mid(&self) -> Option<u64> {
        match (self.best_bid, self.best_ask) {
            (Some(b), Some(a)) => Some((a + b) / 2),
            (Some(p), None) | (None, Some(p)) => Some(p),
            (None, None) => self.recent_trades.first().copied(),
        }
    }

    /// Lots worth `notional` at the mid, clamped to `[1, max_lots]`.
    fn lots_for(&self, notional: f64, max_lots: u64) -> Option<u64> {
        let lot_value = self.grid.ticks_to_f64(self.mid()?) * self.grid.lot_f64();
        if !(lot_value.is_finite() && lot_value > 0.0) {
            return None;
        }
        Some(((notional / lot_value).round() as u64).clamp(1, max_lots.max(1)))
    }

    /// The price `ticks_through` ticks beyond the best opposite price: marketable for `side`.
    fn marketable(&self, side: Side, ticks_through: u64) -> Option<u64> {
        match side {
            Side::Buy => self.best_ask.or(self.mid()).map(|a| a + ticks_through),
            Side::Sell => self
                .best_bid
                .or(self.mid())
                .map(|b| b.saturating_sub(ticks_through).max(1)),
        }
    }
}

/// Sizes of the populations' orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// Median notional of a retail order (quote currency); momentum orders are twice that.
    pub retail_notional: f64,
    /// Median notional of an institutional parent.
    pub parent_notional: f64,
    /// Slices per parent.
    pub slices: u32,
    /// Largest order in lots (trading-api's per-order cap is far above it).
    pub max_lots: u64,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            retail_notional: 1_000.0,
            parent_notional: 50_000.0,
            slices: 10,
            max_lots: 1_000_000,
        }
    }
}

/// An order a trader decided to send, before it is written for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Who.
    pub population: Population,
    /// The order.
    pub order: NewOrder,
}

fn limit(view: &MarketView, side: Side, price: u64, lots: u64, tif: TimeInForce) -> NewOrder {
    NewOrder {
        symbol: view.symbol.clone(),
        side,
        order_type: OrderType::Limit,
        price: Some(view.grid.price_string(price.max(1))),
        quantity: view.grid.qty_string(lots),
        time_in_force: tif,
        post_only: false,
        client_order_id: None,
    }
}

fn notional<R: Rng>(rng: &mut R, median: f64) -> f64 {
    // Order sizes are heavy-tailed: log-normal with sigma 1 around the median.
    LogNormal::new(median.max(f64::MIN_POSITIVE).ln(), 1.0).map_or(median, |d| d.sample(rng))
}

/// A retail noise trader: random side; 60% passive GTC limits up to 5 ticks behind the touch
/// (sometimes improving a wide spread), 30% marketable IOC limits, 10% market orders.
pub fn retail<R: Rng>(view: &MarketView, sizing: &Sizing, rng: &mut R) -> Option<Intent> {
    let side = if rng.random_bool(0.5) {
        Side::Buy
    } else {
        Side::Sell
    };
    let lots = view.lots_for(notional(rng, sizing.retail_notional), sizing.max_lots)?;
    let roll: f64 = rng.random();
    let order = if roll < 0.6 {
        let behind = rng.random_range(0..=5u64);
        let (own, other) = match side {
            Side::Buy => (view.best_bid, view.best_ask),
            Side::Sell => (view.best_ask, view.best_bid),
        };
        let anchor = own.or(view.mid())?;
        let mut price = match side {
            Side::Buy => anchor.saturating_sub(behind),
            Side::Sell => anchor + behind,
        };
        // Inside a spread wider than one tick, sometimes step in front of the touch.
        if let (Some(own), Some(other)) = (own, other) {
            if other.abs_diff(own) > 1 && rng.random_bool(0.3) {
                price = match side {
                    Side::Buy => own + 1,
                    Side::Sell => own - 1,
                };
            }
        }
        limit(view, side, price, lots, TimeInForce::Gtc)
    } else if roll < 0.9 {
        let through = rng.random_range(0..=2u64);
        limit(
            view,
            side,
            view.marketable(side, through)?,
            lots,
            TimeInForce::Ioc,
        )
    } else {
        NewOrder {
            symbol: view.symbol.clone(),
            side,
            order_type: OrderType::Market,
            price: None,
            quantity: view.grid.qty_string(lots),
            time_in_force: TimeInForce::Ioc,
            post_only: false,
            client_order_id: None,
        }
    };
    Some(Intent {
        population: Population::Retail,
        order,
    })
}

/// The direction the recent trades point: the average of the newest half against the older half.
pub fn trend(recent_newest_first: &[u64]) -> Option<Side> {
    let n = recent_newest_first.len().min(20);
    if n < 4 {
        return None;
    }
    let (new, old) = recent_newest_first[..n].split_at(n / 2);
    let avg = |xs: &[u64]| xs.iter().map(|x| *x as f64).sum::<f64>() / xs.len() as f64;
    let (a, b) = (avg(new), avg(old));
    if a > b {
        Some(Side::Buy)
    } else if a < b {
        Some(Side::Sell)
    } else {
        None
    }
}

/// A momentum trader: follows the trend of the last trades with a marketable IOC limit one to
/// three ticks through the touch, twice the retail size. No trend, no order.
pub fn momentum<R: Rng>(view: &MarketView, sizing: &Sizing, rng: &mut R) -> Option<Intent> {
    let side = trend(&view.recent_trades)?;
    let lots = view.lots_for(2.0 * notional(rng, sizing.retail_notional), sizing.max_lots)?;
    let price = view.marketable(side, rng.random_range(1..=3u64))?;
    Some(Intent {
        population: Population::Momentum,
        order: limit(view, side, price, lots, TimeInForce::Ioc),
    })
}

/// An institutional parent order executed as equal slices at equal intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct TwapProgram {
    /// Index of the symbol in the flow's symbol list.
    pub symbol: usize,
    /// Direction of the whole parent.
    pub side: Side,
    /// Lots per slice.
    pub slice_lots: u64,
    /// Slices still to send.
    pub slices_left: u32,
    /// Time between slices.
    pub interval: Duration,
}

impl TwapProgram {
    /// A new parent on `symbol` with a random side and a log-normal notional.
    pub fn start<R: Rng>(
        symbol: usize,
        view: &MarketView,
        sizing: &Sizing,
        interval: Duration,
        rng: &mut R,
    ) -> Option<TwapProgram> {
        let slices = sizing.slices.max(1);
        let total = view.lots_for(
            notional(rng, sizing.parent_notional),
            sizing.max_lots.saturating_mul(u64::from(slices)),
        )?;
        Some(TwapProgram {
            symbol,
            side: if rng.random_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            },
            slice_lots: (total / u64::from(slices)).max(1),
            slices_left: slices,
            interval,
        })
    }

    /// The next slice: a marketable IOC limit one tick through the touch, so each slice takes
    /// what the book offers near the price and never rests.
    pub fn next_slice(&mut self, view: &MarketView) -> Option<Intent> {
        if self.slices_left == 0 {
            return None;
        }
        self.slices_left -= 1;
        let price = view.marketable(self.side, 1)?;
        Some(Intent {
            population: Population::Institutional,
            order: limit(view, self.side, price, self.slice_lots, TimeInForce::Ioc),
        })
    }
}

/// Breaks a valid order in one of the ways trading-api must refuse with a 4xx: an off-tick price,
/// a zero quantity, or an unknown symbol.
pub fn invalidate<R: Rng>(order: &mut NewOrder, grid: &Grid, rng: &mut R) {
    match rng.random_range(0..3u8) {
        0 => {
            // Half a tick beyond the grid's last decimal is never on the grid.
            let price = order.price.clone().unwrap_or_else(|| grid.price_string(1));
            let sep = if price.contains('.') { "" } else { "." };
            order.order_type = OrderType::Limit;
            order.time_in_force = TimeInForce::Ioc;
            order.price = Some(format!("{price}{sep}5"));
        }
        1 => order.quantity = grid.qty_string(0),
        _ => order.symbol = format!("{}-NOPE", order.symbol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn view() -> MarketView {
        MarketView {
            symbol: "ETH-USD".into(),
            grid: Grid::from_sizes("0.01", "0.001").expect("grid"),
            best_bid: Some(300_000),
            best_ask: Some(300_010),
            recent_trades: vec![300_010, 300_008, 300_004, 300_002, 300_000, 299_990],
        }
    }

    /// Checks an order is on the grid and within `max_away` ticks of the book.
    fn assert_valid(order: &NewOrder, v: &MarketView, max_away: u64) {
        let lots = v.grid.parse_lots(&order.quantity).expect("on lot");
        assert!(lots >= 1, "{order:?}");
        assert_eq!(v.grid.qty_string(lots), order.quantity, "qty on lot grid");
        if let Some(price) = &order.price {
            let ticks = v.grid.parse_ticks(price).expect("price on tick grid");
            let (bid, ask) = (v.best_bid.expect("bid"), v.best_ask.expect("ask"));
            assert!(
                ticks + max_away >= bid && ticks <= ask + max_away,
                "{order:?} too far from {bid}/{ask}"
            );
        } else {
            assert_eq!(order.order_type, OrderType::Market);
        }
    }

    #[test]
    fn retail_orders_are_valid_and_near_the_book_on_both_sides() {
        let v = view();
        let mut rng = StdRng::seed_from_u64(1);
        let mut sides = std::collections::HashSet::new();
        let mut types = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let intent = retail(&v, &Sizing::default(), &mut rng).expect("book present");
            assert_valid(&intent.order, &v, 5);
            sides.insert(intent.order.side);
            types.insert(format!(
                "{:?}{:?}",
                intent.order.order_type, intent.order.time_in_force
            ));
        }
        assert_eq!(sides.len(), 2);
        assert_eq!(types.len(), 3, "{types:?}");
    }

    #[test]
    fn momentum_follows_the_trend_and_twap_slices_evenly() {
        let mut v = view();
        let mut rng = StdRng::seed_from_u64(2);
        let up = momentum(&v, &Sizing::default(), &mut rng).expect("rising trades");
        assert_eq!(up.order.side, Side::Buy);
        assert_valid(&up.order, &v, 3);
        v.recent_trades.reverse();
        assert_eq!(
            momentum(&v, &Sizing::default(), &mut rng).map(|i| i.order.side),
            Some(Side::Sell)
        );
        v.recent_trades = vec![5, 5, 5, 5];
        assert!(
            momentum(&v, &Sizing::default(), &mut rng).is_none(),
            "flat: no signal"
        );
        assert_eq!(trend(&[1, 2, 3]), None, "too few trades");

        let v = view();
        let sizing = Sizing {
            slices: 4,
            ..Sizing::default()
        };
        let mut program =
            TwapProgram::start(0, &v, &sizing, Duration::from_secs(1), &mut rng).expect("book");
        let slices: Vec<Intent> = std::iter::from_fn(|| program.next_slice(&v)).collect();
        assert_eq!(slices.len(), 4);
        assert!(slices
            .iter()
            .all(|s| s.order.quantity == slices[0].order.quantity && s.order.side == program.side));
        assert!(slices
            .iter()
            .all(|s| s.order.time_in_force == TimeInForce::Ioc));
        slices.iter().for_each(|s| assert_valid(&s.order, &v, 1));
    }

    #[test]
    fn no_book_no_order_and_invalidated_orders_are_off_grid() {
        let mut empty = view();
        empty.best_bid = None;
        empty.best_ask = None;
        empty.recent_trades.clear();
        let mut rng = StdRng::seed_from_u64(3);
        assert!(retail(&empty, &Sizing::default(), &mut rng).is_none());
        let v = view();
        for _ in 0..50 {
            let mut o = retail(&v, &Sizing::default(), &mut rng)
                .expect("book")
                .order;
            invalidate(&mut o, &v.grid, &mut rng);
            let off_tick = o
                .price
                .as_deref()
                .is_some_and(|p| v.grid.parse_ticks(p).is_none());
            let zero = v.grid.parse_lots(&o.quantity) == Some(0);
            assert!(off_tick || zero || o.symbol.ends_with("-NOPE"), "{o:?}");
        }
        assert!(Mix {
            retail: 0.0,
            momentum: 0.0,
            institutional: 0.0
        }
        .normalized()
        .is_none());
        assert!(Mix {
            retail: -1.0,
            momentum: 2.0,
            institutional: 0.0
        }
        .normalized()
        .is_none());
        let m = Mix {
            retail: 2.0,
            momentum: 1.0,
            institutional: 1.0,
        }
        .normalized()
        .expect("valid");
        assert!((m.retail - 0.5).abs() < 1e-12);
    }
}
