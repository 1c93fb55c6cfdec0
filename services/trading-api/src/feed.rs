//! Market-data messages: what the order path publishes for each symbol (trades, book updates,
//! tickers) and the subscription snapshots, each serialized once into the JSON text every
//! subscriber receives. The WebSocket protocol that carries them is in `marketdata.rs`; the
//! venue builds them (`venue.rs`) and holds them until durable (`visibility.rs`).

use axum::extract::ws::Utf8Bytes;
use matching::{OrderBook, Price, Qty, Side};
use serde_json::json;

use crate::instrument::InstrumentInfo;
use crate::orders::{Ticker, TradeRecord};
use crate::units::format_units;

/// Book levels in a subscription snapshot.
const SNAPSHOT_LEVELS: usize = 1000;

/// Which stream of a symbol a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `trades:SYM`
    Trades,
    /// `book:SYM`
    Book,
    /// `ticker:SYM`
    Ticker,
}

impl Channel {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::Book => "book",
            Channel::Ticker => "ticker",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Channel::Trades => 1,
            Channel::Book => 2,
            Channel::Ticker => 4,
        }
    }
}

/// One pre-serialized market-data message (serialized once, sent to every subscriber).
#[derive(Debug, Clone)]
pub struct MarketMessage {
    /// Stream.
    pub channel: Channel,
    /// Book sequence number (book messages only).
    pub book_seq: u64,
    /// The JSON text.
    pub text: Utf8Bytes,
}

/// `buy`/`sell`.
pub fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn price_text(info: &InstrumentInfo, price: Price) -> String {
    format_units(u128::from(price.0), info.instrument.price_decimals)
}

fn qty_text(info: &InstrumentInfo, qty: Qty) -> String {
    format_units(u128::from(qty.0), info.instrument.qty_decimals)
}

fn message(channel: Channel, book_seq: u64, value: &serde_json::Value) -> MarketMessage {
    MarketMessage {
        channel,
        book_seq,
        text: Utf8Bytes::from(value.to_string()),
    }
}

/// A trade message, stamped with the publish time (`ts_us`).
pub fn trade_message(info: &InstrumentInfo, trade: &TradeRecord) -> MarketMessage {
    // Taken before serializing, so the fan-out latency a client measures includes it.
    let ts_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    message(
        Channel::Trades,
        0,
        &json!({
            "type": "trade",
            "channel": format!("trades:{}", info.instrument.symbol),
            "trade_id": trade.trade_id,
            "price": price_text(info, trade.price),
            "quantity": qty_text(info, trade.qty),
            "taker_side": side_str(trade.taker_side),
            "ts_ms": trade.ts_ms,
            "ts_us": ts_us,
        }),
    )
}

/// An incremental book update.
pub fn book_update_message(
    info: &InstrumentInfo,
    seq: u64,
    changes: &[(Side, Price, Qty)],
) -> MarketMessage {
    let side = |want: Side| -> Vec<[String; 2]> {
        changes
            .iter()
            .filter(|(s, _, _)| *s == want)
            .map(|(_, p, q)| [price_text(info, *p), qty_text(info, *q)])
            .collect()
    };
    message(
        Channel::Book,
        seq,
        &json!({
            "type": "book",
            "channel": format!("book:{}", info.instrument.symbol),
            "seq": seq,
            "bids": side(Side::Buy),
            "asks": side(Side::Sell),
        }),
    )
}

/// A full book snapshot.
pub fn book_snapshot_message(info: &InstrumentInfo, seq: u64, book: &OrderBook) -> MarketMessage {
    let side = |s: Side| -> Vec<[String; 2]> {
        book.depth(s, SNAPSHOT_LEVELS)
            .into_iter()
            .map(|(p, q, _)| [price_text(info, p), qty_text(info, q)])
            .collect()
    };
    message(
        Channel::Book,
        seq,
        &json!({
            "type": "snapshot",
            "channel": format!("book:{}", info.instrument.symbol),
            "seq": seq,
            "bids": side(Side::Buy),
            "asks": side(Side::Sell),
        }),
    )
}

/// Ticker JSON (also used by `GET /api/v1/ticker/{symbol}`).
pub fn ticker_json(info: &InstrumentInfo, book: &OrderBook, ticker: &Ticker) -> serde_json::Value {
    let opt_price = |p: Option<Price>| p.map(|p| price_text(info, p));
    json!({
        "symbol": info.instrument.symbol,
        "last": opt_price(ticker.last),
        "best_bid": opt_price(book.best_bid().map(|(p, _)| p)),
        "best_ask": opt_price(book.best_ask().map(|(p, _)| p)),
        "high": opt_price(ticker.high),
        "low": opt_price(ticker.low),
        "volume": format_units(ticker.volume, info.instrument.qty_decimals),
        "trades": ticker.trades,
    })
}

/// A ticker message.
pub fn ticker_message(info: &InstrumentInfo, book: &OrderBook, ticker: &Ticker) -> MarketMessage {
    let mut value = ticker_json(info, book, ticker);
    value["type"] = json!("ticker");
    value["channel"] = json!(format!("ticker:{}", info.instrument.symbol));
    message(Channel::Ticker, 0, &value)
}
