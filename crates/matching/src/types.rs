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

/// Which side of the book an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A bid: wants to buy at the price or lower.
    Buy,
    /// An ask: wants to sell at the price or higher.
    Sell,
}

impl Side {
    /// The side this side trades against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Rests at its price (unless IOC/FOK).
    Limit,
    /// Takes liquidity up to the protection band; never rests.
    Market,
}

/// What happens to the part of an order that does not fill on arrival.
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
    /// Caller-assigned id; must not be resting in the book already.
    pub order_id: OrderId,
    /// Owner (self-trade prevention, cancel/amend authorisation).
    pub account: AccountId,
    /// The book it goes to.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// Limit price; `None` for market orders.
    pub price: Option<Price>,
    /// Quantity in quantity units; a positive multiple of the lot size.
    pub qty: Qty,
    /// GTC, IOC or FOK.
    pub time_in_force: TimeInForce,
    /// Rejected instead of matching if it would take liquidity on arrival.
    pub post_only: bool,
}

/// Everything the engine can be asked to do. Serializable so a journal can record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Enter a new order.
    Submit(NewOrder),
    /// Remove a resting order of `account`.
    Cancel {
        /// The order to cancel.
        order_id: OrderId,
        /// Must own the order.
        account: AccountId,
        /// Its book.
        symbol: SymbolId,
    },
    /// Change price and/or quantity. Reducing quantity keeps time priority; a price change or a
    /// quantity increase loses it (the order moves to the back of its new level).
    Amend {
        /// The order to amend.
        order_id: OrderId,
        /// Must own the order.
        account: AccountId,
        /// Its book.
        symbol: SymbolId,
        /// New limit price, or `None` to keep it.
        new_price: Option<Price>,
        /// New open (remaining) quantity, or `None` to keep it.
        new_qty: Option<Qty>,
    },
}

/// Why a command was refused. A rejected command leaves the book untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The command names a symbol this book or exchange does not have.
    UnknownSymbol,
    /// Price is not a multiple of the tick size.
    OffTick,
    /// Quantity is not a multiple of the lot size.
    OffLot,
    /// Quantity of zero.
    ZeroQuantity,
    /// Above the instrument's `max_order_qty`.
    QuantityTooLarge,
    /// Price of zero.
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
    /// An order with this id is already resting in the book.
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
    /// Completely filled.
    Filled,
    /// Canceled by its owner.
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
    /// A new order passed validation and is being matched.
    Accepted {
        /// The order.
        order_id: OrderId,
        /// Its book.
        symbol: SymbolId,
    },
    /// The command was refused; the book is unchanged.
    Rejected {
        /// The command's order id.
        order_id: OrderId,
        /// The book that refused it.
        symbol: SymbolId,
        /// Why.
        reason: RejectReason,
    },
    /// A trade, always at the resting (maker) order's price.
    Fill {
        /// The book it traded in.
        symbol: SymbolId,
        /// Per-symbol trade sequence, starting at 1.
        trade_id: u64,
        /// The resting order.
        maker_order_id: OrderId,
        /// Its owner.
        maker_account: AccountId,
        /// The incoming (or re-entering amended) order.
        taker_order_id: OrderId,
        /// Its owner.
        taker_account: AccountId,
        /// The taker's side (the maker's is the opposite).
        taker_side: Side,
        /// The maker's price.
        price: Price,
        /// Quantity traded.
        qty: Qty,
    },
    /// An amend was applied.
    Amended {
        /// The order.
        order_id: OrderId,
        /// Its book.
        symbol: SymbolId,
        /// Its price after the amend.
        price: Price,
        /// Remaining (open) quantity after the amend.
        remaining: Qty,
        /// True for a pure quantity reduction; otherwise the order went to the back.
        kept_priority: bool,
    },
    /// The order is finished; `remaining` is what did not fill (0 when filled).
    Done {
        /// The order.
        order_id: OrderId,
        /// Its book.
        symbol: SymbolId,
        /// Why it finished.
        reason: DoneReason,
        /// Quantity that did not fill.
        remaining: Qty,
    },
    /// Aggregate quantity at one price level changed; `total` 0 means the level is gone.
    LevelChanged {
        /// The book.
        symbol: SymbolId,
        /// The level's side.
        side: Side,
        /// The level's price.
        price: Price,
        /// Open quantity now resting at the level.
        total: Qty,
        /// Orders now resting at the level.
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
