//! A market maker's quoting rule, as pure functions: the ladder it wants around the reference
//! price given its inventory, and the cancels and placements that turn the resting quotes into it.
//!
//! Ladder prices are anchored to a grid of `level_spacing` ticks, so a reference move smaller than
//! one spacing changes nothing and a move of one spacing replaces one level per side, not the whole
//! ladder: re-quoting stays cheap for the exchange.

use exchange_client::Side;

/// How one maker quotes. Distances are in basis points of the reference price so that the same
/// settings suit a 2-dollar and a 30000-dollar instrument; they are rounded to whole ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LadderConfig {
    /// Levels per side.
    pub levels: u32,
    /// Distance from the (skewed) reference to the innermost level, in bp.
    pub half_spread_bps: f64,
    /// Distance between levels, in bp.
    pub level_spacing_bps: f64,
    /// Lots at the innermost level.
    pub base_lots: u64,
    /// Extra lots per level further out (depth grows away from the touch).
    pub lots_per_level: u64,
    /// Inventory (in lots, either sign) at which the maker leans fully.
    pub max_inventory_lots: i64,
    /// How far, in bp, the ladder's centre moves against a full inventory.
    pub max_skew_bps: f64,
}

impl Default for LadderConfig {
    fn default() -> Self {
        LadderConfig {
            levels: 5,
            half_spread_bps: 4.0,
            level_spacing_bps: 3.0,
            base_lots: 10,
            lots_per_level: 5,
            max_inventory_lots: 2_000,
            max_skew_bps: 6.0,
        }
    }
}

/// One order a maker wants resting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quote {
    /// Bid or ask.
    pub side: Side,
    /// Price in ticks.
    pub price_ticks: u64,
    /// Size in lots.
    pub lots: u64,
}

/// One of the maker's orders resting on the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestingQuote {
    /// Exchange order id.
    pub order_id: u64,
    /// Bid or ask.
    pub side: Side,
    /// Price in ticks.
    pub price_ticks: u64,
    /// Lots still working.
    pub remaining_lots: u64,
}

/// The ladder wanted around `reference_ticks` with `inventory_lots` held (positive = long).
///
/// A long maker lowers its prices (to sell more, buy less) and shrinks its bids; a short one does
/// the opposite. Both sides always keep at least one lot per level, so the book keeps depth on
/// both sides whatever the inventory, and the best bid is always below the best ask.
pub fn ladder(reference_ticks: u64, inventory_lots: i64, cfg: &LadderConfig) -> Vec<Quote> {
    let reference = reference_ticks.max(1) as f64;
    let bps = reference / 10_000.0;
    let spacing = (cfg.level_spacing_bps * bps).round().max(1.0) as u64;
    let half_spread = (cfg.half_spread_bps * bps).max(1.0);
    let lean = if cfg.max_inventory_lots > 0 {
        (inventory_lots as f64 / cfg.max_inventory_lots as f64).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let centre = reference - lean * cfg.max_skew_bps * bps;
    // Innermost prices, snapped outward onto the spacing grid.
    let bid0 = ((centre - half_spread) / spacing as f64).floor().max(1.0) as u64 * spacing;
    let mut ask0 = ((centre + half_spread) / spacing as f64).ceil().max(1.0) as u64 * spacing;
    if ask0 <= bid0 {
        ask0 = bid0 + spacing;
    }
    // Size lean: a full long quotes bids at a quarter size and asks at 1.75 times.
    let bid_factor = 1.0 - 0.75 * lean;
    let ask_factor = 1.0 + 0.75 * lean;
    let mut quotes = Vec::with_capacity(2 * cfg.levels as usize);
    for level in 0..u64::from(cfg.levels) {
        let lots = cfg.base_lots + level * cfg.lots_per_level;
        let bid_price = bid0.saturating_sub(level * spacing);
        if bid_price >= 1 {
            quotes.push(Quote {
                side: Side::Buy,
                price_ticks: bid_price,
                lots: ((lots as f64 * bid_factor).round() as u64).max(1),
            });
        }
        quotes.push(Quote {
            side: Side::Sell,
            price_ticks: ask0 + level * spacing,
            lots: ((lots as f64 * ask_factor).round() as u64).max(1),
        });
    }
    quotes
}

/// What to do to turn `resting` into `wanted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequotePlan {
    /// Orders to cancel: prices no longer wanted, duplicates, or worn down below half their size.
    pub cancels: Vec<u64>,
    /// Quotes to place.
    pub places: Vec<Quote>,
}

/// Matches resting orders to wanted quotes by side and price. A resting order is kept while at
/// least half its wanted size is left (so small fills do not cause churn).
pub fn plan_requote(resting: &[RestingQuote], wanted: &[Quote]) -> RequotePlan {
    let mut plan = RequotePlan::default();
    let mut covered = vec![false; wanted.len()];
    for order in resting {
        let slot = wanted.iter().enumerate().position(|(i, q)| {
            !covered[i] && q.side == order.side && q.price_ticks == order.price_ticks
        });
        match slot {
            Some(i) if order.remaining_lots * 2 >= wanted[i].lots => covered[i] = true,
            _ => plan.cancels.push(order.order_id),
        }
    }
    plan.places = wanted
        .iter()
        .zip(&covered)
        .filter(|(_, done)| !**done)
        .map(|(q, _)| *q)
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(quotes: &[Quote], side: Side) -> u64 {
        let prices = quotes
            .iter()
            .filter(|q| q.side == side)
            .map(|q| q.price_ticks);
        match side {
            Side::Buy => prices.max().expect("has bids"),
            Side::Sell => prices.min().expect("has asks"),
        }
    }

    #[test]
    fn ladder_is_two_sided_and_uncrossed_at_any_inventory() {
        let cfg = LadderConfig::default();
        for reference in [1, 2, 37, 10_000, 3_000_000] {
            for inventory in [-10_000, -500, 0, 500, 10_000] {
                let q = ladder(reference, inventory, &cfg);
                assert!(
                    q.iter().any(|x| x.side == Side::Sell),
                    "{reference} {inventory}"
                );
                assert!(q.iter().any(|x| x.side == Side::Buy) || reference < 3);
                if q.iter().any(|x| x.side == Side::Buy) {
                    assert!(
                        best(&q, Side::Buy) < best(&q, Side::Sell),
                        "{reference} {inventory}"
                    );
                }
                assert!(q.iter().all(|x| x.lots >= 1 && x.price_ticks >= 1));
            }
        }
    }

    #[test]
    fn ladder_brackets_the_reference_and_leans_on_inventory() {
        let cfg = LadderConfig::default();
        let flat = ladder(100_000, 0, &cfg);
        assert!(best(&flat, Side::Buy) < 100_000 && best(&flat, Side::Sell) > 100_000);
        assert_eq!(flat.len(), 2 * cfg.levels as usize);
        let long = ladder(100_000, cfg.max_inventory_lots, &cfg);
        assert!(
            best(&long, Side::Sell) < best(&flat, Side::Sell),
            "long maker sells cheaper"
        );
        assert!(
            best(&long, Side::Buy) < best(&flat, Side::Buy),
            "and bids lower"
        );
        let bid_lots = |q: &[Quote]| {
            q.iter()
                .filter(|x| x.side == Side::Buy)
                .map(|x| x.lots)
                .sum::<u64>()
        };
        assert!(bid_lots(&long) < bid_lots(&flat));
    }

    #[test]
    fn small_moves_change_nothing_and_one_spacing_moves_one_level() {
        let cfg = LadderConfig::default();
        let spacing = 30; // 3 bp of 100_000 ticks
        let a = ladder(100_000, 0, &cfg);
        let b = ladder(100_002, 0, &cfg);
        assert_eq!(a, b, "a move inside one spacing keeps the ladder");
        let resting: Vec<RestingQuote> = a
            .iter()
            .enumerate()
            .map(|(i, q)| RestingQuote {
                order_id: i as u64,
                side: q.side,
                price_ticks: q.price_ticks,
                remaining_lots: q.lots,
            })
            .collect();
        // Off the grid boundary, so float rounding cannot decide the outcome.
        let moved = ladder(100_000 + spacing + 5, 0, &cfg);
        let plan = plan_requote(&resting, &moved);
        assert_eq!(plan.cancels.len(), 2, "{plan:?}");
        assert_eq!(plan.places.len(), 2, "{plan:?}");
        assert_eq!(plan_requote(&resting, &a), RequotePlan::default());
    }

    #[test]
    fn worn_down_and_duplicate_orders_are_replaced() {
        let wanted = vec![Quote {
            side: Side::Buy,
            price_ticks: 10,
            lots: 10,
        }];
        let resting = vec![
            RestingQuote {
                order_id: 1,
                side: Side::Buy,
                price_ticks: 10,
                remaining_lots: 4,
            },
            RestingQuote {
                order_id: 2,
                side: Side::Buy,
                price_ticks: 10,
                remaining_lots: 10,
            },
            RestingQuote {
                order_id: 3,
                side: Side::Buy,
                price_ticks: 10,
                remaining_lots: 10,
            },
        ];
        let plan = plan_requote(&resting, &wanted);
        assert_eq!(plan.cancels, vec![1, 3]);
        assert!(plan.places.is_empty());
    }
}
