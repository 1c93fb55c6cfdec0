//! trading-api's JSON wire format, as the simulators read and write it.
//!
//! Readers are lenient on purpose (unknown fields ignored, a few aliases), so that a field added to
//! trading-api does not break the simulators; writers send exactly the documented fields.

use serde::{Deserialize, Serialize};

/// Which side of the book an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Bids: pays quote currency for the base asset.
    Buy,
    /// Asks: delivers the base asset for quote currency.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// The wire name, for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Limit or market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Rests at its price unless IOC/FOK.
    Limit,
    /// Takes liquidity within the protection band; never rests.
    Market,
}

/// How long the unfilled part of an order lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Good till canceled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// The body of `POST /api/v1/orders`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewOrder {
    /// Instrument ticker, e.g. `BTC-USD`.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Decimal limit price on the tick grid; `None` for market orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Decimal quantity on the lot grid.
    pub quantity: String,
    /// Lifetime of the unfilled part.
    pub time_in_force: TimeInForce,
    /// Reject instead of taking liquidity.
    pub post_only: bool,
    /// Caller's own reference, echoed back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
}

/// One execution against a resting order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fill {
    /// Execution price (decimal string).
    #[serde(default)]
    pub price: String,
    /// Executed quantity (decimal string).
    #[serde(default, alias = "qty")]
    pub quantity: String,
}

/// trading-api's answer to an accepted order (`201`), and the shape of one order in listings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderAck {
    /// Exchange-assigned order id.
    #[serde(alias = "id")]
    pub order_id: u64,
    /// `new`, `partially_filled`, `filled`, `canceled`, `expired`, ...
    #[serde(default)]
    pub status: String,
    /// Instrument, when the server includes it.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Side, when the server includes it.
    #[serde(default)]
    pub side: Option<Side>,
    /// Limit price, when the order has one.
    #[serde(default)]
    pub price: Option<String>,
    /// Original quantity.
    #[serde(default)]
    pub quantity: Option<String>,
    /// Quantity executed so far.
    #[serde(default, alias = "filled_qty")]
    pub filled_quantity: Option<String>,
    /// Quantity still working, when the server includes it.
    #[serde(default, alias = "remaining_qty")]
    pub remaining_quantity: Option<String>,
    /// Executions this request caused.
    #[serde(default)]
    pub fills: Vec<Fill>,
    /// Echo of the caller's reference.
    #[serde(default)]
    pub client_order_id: Option<String>,
}

/// One price level of a book snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Level price (decimal string).
    pub price: String,
    /// Total resting quantity at that price (decimal string).
    pub quantity: String,
}

impl<'de> Deserialize<'de> for Level {
    /// Accepts `{"price": "..", "quantity": ".."}` and `["price", "quantity", ...]` (trading-api
    /// sends `[price, quantity, order_count]`).
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Object {
                price: serde_json::Value,
                #[serde(alias = "qty", alias = "size")]
                quantity: serde_json::Value,
            },
            Tuple(Vec<serde_json::Value>),
        }
        let (p, q) = match Wire::deserialize(de)? {
            Wire::Object { price, quantity } => (price, quantity),
            Wire::Tuple(items) if items.len() >= 2 => (items[0].clone(), items[1].clone()),
            Wire::Tuple(_) => {
                return Err(serde::de::Error::custom(
                    "a level needs a price and a quantity",
                ))
            }
        };
        Ok(Level {
            price: value_text(&p),
            quantity: value_text(&q),
        })
    }
}

/// A number or string JSON value as the decimal text it carries.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /api/v1/orderbook/{symbol}`: best levels first on each side.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BookSnapshot {
    /// Bids, highest price first.
    #[serde(default)]
    pub bids: Vec<Level>,
    /// Asks, lowest price first.
    #[serde(default)]
    pub asks: Vec<Level>,
}

/// One public trade.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Trade {
    /// Execution price (decimal string).
    pub price: String,
    /// Executed quantity.
    #[serde(default, alias = "qty")]
    pub quantity: String,
    /// The aggressor's side, when the server includes it.
    #[serde(default, alias = "taker_side", alias = "aggressor_side")]
    pub side: Option<Side>,
}

/// `GET /api/v1/ticker/{symbol}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticker {
    /// Last trade price, if any trade happened.
    #[serde(default, alias = "last_price")]
    pub last: Option<String>,
    /// Best bid price.
    #[serde(default, alias = "bid")]
    pub best_bid: Option<String>,
    /// Best ask price.
    #[serde(default, alias = "ask")]
    pub best_ask: Option<String>,
}

/// One instrument from `GET /api/v1/symbols`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SymbolInfo {
    /// Ticker.
    pub symbol: String,
    /// Smallest price increment as decimal text, e.g. `"0.01"`.
    pub tick_size: String,
    /// Smallest quantity increment as decimal text, e.g. `"0.0001"`.
    pub lot_size: String,
}

impl SymbolInfo {
    /// The instrument's tick and lot grid, if the sizes are positive decimals.
    pub fn grid(&self) -> Option<crate::decimal::Grid> {
        crate::decimal::Grid::from_sizes(&self.tick_size, &self.lot_size)
    }
}

/// trading-api's error body: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_price`.
    #[serde(default)]
    pub code: String,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// The offending request field, if one.
    #[serde(default)]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trading_api_shapes() {
        let book: BookSnapshot = serde_json::from_str(
            r#"{"symbol":"BTC-USD","seq":3,"bids":[["100.01","0.5",2]],"asks":[{"price":"100.02","quantity":"1"}]}"#,
        )
        .expect("book");
        assert_eq!(book.bids[0].price, "100.01");
        assert_eq!(book.bids[0].quantity, "0.5");
        assert_eq!(book.asks[0].price, "100.02");
        assert!(serde_json::from_str::<BookSnapshot>(r#"{"bids":[["1"]]}"#).is_err());
        let info: SymbolInfo = serde_json::from_str(
            r#"{"symbol":"SOL-USD","base":"SOL","price_decimals":3,"tick_size":"0.010","lot_size":"0.010"}"#,
        )
        .expect("symbol");
        let grid = info.grid().expect("grid");
        assert_eq!(grid.price_string(15_000), "150.000");
        let ack: OrderAck = serde_json::from_str(
            r#"{"order_id":7,"status":"open","symbol":"SOL-USD","side":"buy","price":"150.000","quantity":"1.000","filled_quantity":"0.000","remaining_quantity":"1.000","fills":[]}"#,
        )
        .expect("ack");
        assert_eq!(ack.order_id, 7);
        assert_eq!(ack.side, Some(Side::Buy));
    }
}
