//! The engine's vocabulary: instruments, commands and the events they produce.
//!
//! Prices and quantities are integers in the instrument's *units* (see [`Instrument`]); the
//! service layer converts decimal strings to units and back. Nothing here is a float.

use serde::{Deserialize, Serialize};

/// Identifies an order across the whole exchange. Assigned by the caller (the service), so that
/// a journal replay reproduces the same ids.
pub type OrderId = u64;

/// Identifies the owner of an order; used for self-trade prevention.
pub type AccountId = u64;

/// Index of an instrument in the exchange's instrument list (`0..instruments.len()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SymbolId(pub u32);

/// A price in price units (`10^-price_decimals` of the quote currency). Always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Price(pub u64);

/// A quantity in quantity units (`10^-qty_decimals` of the base asset).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct Qty(pub u64);

/// A tradable instrument and the grid its prices and sizes live on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Ticker, e.g. `BTC-USD`.
    pub symbol: String,
    /// Decimal places of one price unit: with 2, a price of `12345` units is `123.45`.
    pub price_decimals: u8,
    /// Decimal places of one quantity unit.
    pub qty_decimals: u8,
    /// Prices must be a multiple of this many price units.
    pub tick_size: u64,
    /// Quantities must be a multiple of this many quantity units.
    pub lot_size: u64,
    /// Largest quantity one order may carry, in quantity units; bounds notional overflow.
    pub max_order_qty: u64,
    /// Market-order protection: a market order never fills further than this many basis points
    /// from the best opposite price it met on arrival; the rest expires.
    pub market_protection_bps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Rests at its price (unless IOC/FOK).
    Limit,
    /// Takes liquidity up to the protection band; never rests.
    Market,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Good till canceled: the remainder rests.
    Gtc,
    /// Immediate or cancel: the remainder expires.
    Ioc,
    /// Fill or kill: fills completely at once or not at all.
    Fok,
}

/// A new order, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub account: AccountId,
    pub symbol: SymbolId,
    pub side: Side,
    pub order_type: OrderType,
    /// Limit price; `None` for market orders.
    pub price: Option<Price>,
    pub qty: Qty,
    pub time_in_force: TimeInForce,
    /// Rejected instead of matching if it would take liquidity on arrival.
    pub post_only: bool,
}

/// Everything the engine can be asked to do. Serializable so a journal can record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Submit(NewOrder),
    Cancel {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
    },
    /// Change price and/or quantity. Reducing quantity keeps time priority; a price change or a
    /// quantity increase loses it (the order moves to the back of its new level).
    Amend {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        new_price: Option<Price>,
        new_qty: Option<Qty>,
    },
}

/// Why a command was refused. A rejected command leaves the book untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    UnknownSymbol,
    /// Price is not a multiple of the tick size.
    OffTick,
    /// Quantity is not a multiple of the lot size.
    OffLot,
    ZeroQuantity,
    /// Above the instrument's `max_order_qty`.
    QuantityTooLarge,
    ZeroPrice,
    /// A limit order without a price, or a market order with one.
    PriceMismatch,
    /// Post-only order that would have taken liquidity.
    WouldTakeLiquidity,
    /// FOK order that could not fill completely.
    CannotFillCompletely,
    /// Market order with no opposite liquidity within its protection band.
    NoLiquidity,
    /// Post-only is only meaningful for GTC limit orders.
    InvalidTimeInForce,
    DuplicateOrderId,
    /// Cancel or amend of an order that is not resting (never existed, filled, canceled) or
    /// that belongs to another account.
    UnknownOrder,
    /// Amend that changes nothing, or increases/reduces to an invalid size.
    InvalidAmend,
}

/// Why an order left the book (or never rested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneReason {
    Filled,
    Canceled,
    /// IOC/market remainder that could not fill at once.
    Expired,
    /// Removed by self-trade prevention.
    SelfTradePrevented,
}

/// What happened. Every command yields at least one event: `Accepted`/`Amended`/`Done`
/// or `Rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Accepted {
        order_id: OrderId,
        symbol: SymbolId,
    },
    Rejected {
        order_id: OrderId,
        symbol: SymbolId,
        reason: RejectReason,
    },
    /// A trade, always at the resting (maker) order's price.
    Fill {
        symbol: SymbolId,
        /// Per-symbol trade sequence, starting at 1.
        trade_id: u64,
        maker_order_id: OrderId,
        maker_account: AccountId,
        taker_order_id: OrderId,
        taker_account: AccountId,
        taker_side: Side,
        price: Price,
        qty: Qty,
    },
    Amended {
        order_id: OrderId,
        symbol: SymbolId,
        price: Price,
        /// Remaining (open) quantity after the amend.
        remaining: Qty,
        kept_priority: bool,
    },
    /// The order is finished; `remaining` is what did not fill (0 when filled).
    Done {
        order_id: OrderId,
        symbol: SymbolId,
        reason: DoneReason,
        remaining: Qty,
    },
    /// Aggregate quantity at one price level changed; `total` 0 means the level is gone.
    LevelChanged {
        symbol: SymbolId,
        side: Side,
        price: Price,
        total: Qty,
        order_count: u32,
    },
}

impl Command {
    /// The symbol the command is addressed to.
    pub fn symbol(&self) -> SymbolId {
        match self {
            Command::Submit(order) => order.symbol,
            Command::Cancel { symbol, .. } | Command::Amend { symbol, .. } => *symbol,
        }
    }

    /// The order the command is about.
    pub fn order_id(&self) -> OrderId {
        match self {
            Command::Submit(order) => order.order_id,
            Command::Cancel { order_id, .. } | Command::Amend { order_id, .. } => *order_id,
        }
    }
}
