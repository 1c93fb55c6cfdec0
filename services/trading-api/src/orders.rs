//! What the service remembers per symbol besides the engine's book: order records (open and
//! recently finished), recent trades, the ticker and the book's market-data sequence number.

use std::collections::{HashMap, HashSet, VecDeque};

use matching::{AccountId, OrderId, OrderType, Price, Qty, Side, SymbolId, TimeInForce};
use serde::{Deserialize, Serialize};

/// Finished orders kept per symbol for `GET /orders/{id}`; older ones are forgotten.
pub const FINISHED_ORDERS_KEPT: usize = 100_000;
/// Recent trades kept per symbol for `GET /trades/{symbol}`.
pub const TRADES_KEPT: usize = 1_000;

/// Lifecycle of an order as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Resting, nothing filled.
    Open,
    /// Resting, partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled by its owner or by self-trade prevention.
    Canceled,
    /// IOC/market remainder that could not fill.
    Expired,
    /// Refused by the engine (never rested).
    Rejected,
}

impl OrderStatus {
    /// Whether the order is finished.
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::Open | OrderStatus::PartiallyFilled)
    }

    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected => "rejected",
        }
    }
}

/// One order, as the service tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Service-assigned id.
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// GTC, IOC or FOK.
    pub time_in_force: TimeInForce,
    /// Maker-only.
    pub post_only: bool,
    /// The client's own reference, echoed back.
    pub client_order_id: Option<String>,
    /// Limit price (after amends); `None` for market orders.
    pub price: Option<Price>,
    /// Entered quantity, adjusted by amends (`filled + open` while resting).
    pub quantity: Qty,
    /// Filled so far.
    pub filled: Qty,
    /// Still resting.
    pub open: Qty,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Why it finished, when self-trade prevention removed it.
    pub self_trade_prevented: bool,
    /// Ledger units of the hold asset currently reserved for this order.
    pub hold: i128,
    /// Wall-clock creation time (from the journal record), milliseconds since the epoch.
    pub created_ms: u64,
}

/// A public trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// Per-symbol trade id, increasing from 1.
    pub trade_id: u64,
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// Side of the order that took liquidity.
    pub taker_side: Side,
    /// Milliseconds since the epoch (from the journal record).
    pub ts_ms: u64,
}

/// Last price and statistics since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticker {
    /// Last trade price.
    pub last: Option<Price>,
    /// Highest trade price.
    pub high: Option<Price>,
    /// Lowest trade price.
    pub low: Option<Price>,
    /// Summed traded quantity.
    pub volume: u128,
    /// Number of trades.
    pub trades: u64,
}

/// Per-symbol service state, locked while (and only while) the symbol's book is locked.
#[derive(Debug, Default)]
pub struct SymbolState {
    /// Orders resting in the book.
    pub open: HashMap<OrderId, OrderRecord>,
    /// Recently finished orders.
    pub finished: HashMap<OrderId, OrderRecord>,
    /// Finish order of `finished`, to forget the oldest.
    pub finished_fifo: VecDeque<OrderId>,
    /// Recent trades, newest last.
    pub trades: VecDeque<TradeRecord>,
    /// Ticker statistics.
    pub ticker: Ticker,
    /// Market-data sequence number of the book; bumped once per command that changed levels.
    pub book_seq: u64,
    /// Prices with resting quantity, per side (bids, asks); sizes feed the depth gauge.
    pub levels: [HashSet<Price>; 2],
    /// Reused event buffer, so executing a command does not allocate.
    pub events: Vec<matching::Event>,
}

impl SymbolState {
    /// Moves an order to the finished cache, forgetting the oldest beyond the limit.
    pub fn finish(&mut self, record: OrderRecord) {
        self.finished_fifo.push_back(record.order_id);
        self.finished.insert(record.order_id, record);
        while self.finished_fifo.len() > FINISHED_ORDERS_KEPT {
            if let Some(old) = self.finished_fifo.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    /// An order by id, open or recently finished.
    pub fn get(&self, id: OrderId) -> Option<&OrderRecord> {
        self.open.get(&id).or_else(|| self.finished.get(&id))
    }

    /// Records a trade for the ring and the ticker.
    pub fn record_trade(&mut self, trade: TradeRecord) {
        let t = &mut self.ticker;
        t.last = Some(trade.price);
        t.high = Some(t.high.map_or(trade.price, |h| h.max(trade.price)));
        t.low = Some(t.low.map_or(trade.price, |l| l.min(trade.price)));
        t.volume += u128::from(trade.qty.0);
        t.trades += 1;
        self.trades.push_back(trade);
        if self.trades.len() > TRADES_KEPT {
            self.trades.pop_front();
        }
    }
}
