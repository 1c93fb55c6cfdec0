//! The measuring side of the fan-out benchmark, kept apart from the network code in `main.rs`:
//! reading the trade stamp out of a market-data message, checking one subscriber's deliveries
//! against the trades that happened, and summarizing a latency histogram.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The fields of a trade message the benchmark needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeStamp {
    /// Per-symbol trade id, consecutive.
    pub trade_id: u64,
    /// When the server published it, microseconds since the Unix epoch.
    pub ts_us: u64,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "type")]
    kind: String,
    trade_id: Option<u64>,
    ts_us: Option<u64>,
}

/// Reads a market-data text frame: `Ok(Some)` for a trade, `Ok(None)` for any other message,
/// `Err` for a trade without `trade_id`/`ts_us` or text that is not JSON.
pub fn parse_trade(text: &str) -> Result<Option<TradeStamp>, String> {
    let raw: RawMessage = serde_json::from_str(text).map_err(|e| format!("bad message: {e}"))?;
    if raw.kind != "trade" {
        return Ok(None);
    }
    match (raw.trade_id, raw.ts_us) {
        (Some(trade_id), Some(ts_us)) => Ok(Some(TradeStamp { trade_id, ts_us })),
        _ => Err(format!("trade without trade_id/ts_us: {text}")),
    }
}

/// How one subscriber's deliveries compare with the trades that happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Completeness {
    /// Expected trades it received.
    pub received: u64,
    /// Expected trades it never received.
    pub missing: u64,
    /// Deliveries of a trade it had already received.
    pub duplicates: u64,
    /// Deliveries with a smaller id than the one before (the feed promises increasing ids).
    pub out_of_order: u64,
    /// Deliveries of trades nobody placed (another client trading the symbol, or a bug).
    pub unexpected: u64,
}

impl Completeness {
    /// Every expected trade, once, in order, and nothing else.
    pub fn is_complete(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.out_of_order == 0 && self.unexpected == 0
    }

    /// Adds another subscriber's counts (for totals).
    pub fn add(&mut self, other: &Completeness) {
        self.received += other.received;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
    }
}

/// Checks `delivered` (trade ids in arrival order) against `expected` (sorted, distinct ids).
pub fn check_deliveries(delivered: &[u64], expected: &[u64]) -> Completeness {
    let mut c = Completeness::default();
    for pair in delivered.windows(2) {
        if pair[1] < pair[0] {
            c.out_of_order += 1;
        }
    }
    let mut sorted = delivered.to_vec();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    c.duplicates = (before - sorted.len()) as u64;
    // Merge walk over two sorted, distinct lists.
    let (mut i, mut j) = (0, 0);
    while i < sorted.len() || j < expected.len() {
        match (sorted.get(i), expected.get(j)) {
            (Some(d), Some(e)) if d == e => {
                c.received += 1;
                i += 1;
                j += 1;
            }
            (Some(d), Some(e)) if d < e => {
                c.unexpected += 1;
                i += 1;
            }
            (Some(_), None) => {
                c.unexpected += 1;
                i += 1;
            }
            _ => {
                c.missing += 1;
                j += 1;
            }
        }
    }
    c
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// A histogram of microseconds, 3 significant digits, up to one minute (larger values saturate).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

/// Percentiles of `h` (all zero when empty).
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        p50_us: h.value_at_quantile(0.50),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}
