//! Helpers shared by the integration tests: an instrument, command builders, a reference book
//! and whole-book invariant checks.
#![allow(dead_code)]

pub mod reference;

use matching::{
    Command, Instrument, NewOrder, OrderBook, OrderType, Price, Qty, Side, SymbolId, TimeInForce,
};

/// Tick 10 price units, lot 5 quantity units, protection band 500 bps (5%).
pub fn instrument(symbol: &str) -> Instrument {
    Instrument {
        symbol: symbol.to_string(),
        price_decimals: 2,
        qty_decimals: 3,
        tick_size: 10,
        lot_size: 5,
        max_order_qty: 1_000_000,
        market_protection_bps: 500,
    }
}

pub const SYM: SymbolId = SymbolId(0);

pub fn limit(id: u64, account: u64, side: Side, price: u64, qty: u64) -> Command {
    Command::Submit(NewOrder {
        order_id: id,
        account,
        symbol: SYM,
        side,
        order_type: OrderType::Limit,
        price: Some(Price(price)),
        qty: Qty(qty),
        time_in_force: TimeInForce::Gtc,
        post_only: false,
    })
}

pub fn limit_tif(
    id: u64,
    account: u64,
    side: Side,
    price: u64,
    qty: u64,
    tif: TimeInForce,
) -> Command {
    Command::Submit(NewOrder {
        order_id: id,
        account,
        symbol: SYM,
        side,
        order_type: OrderType::Limit,
        price: Some(Price(price)),
        qty: Qty(qty),
        time_in_force: tif,
        post_only: false,
    })
}

pub fn post_only(id: u64, account: u64, side: Side, price: u64, qty: u64) -> Command {
    Command::Submit(NewOrder {
        order_id: id,
        account,
        symbol: SYM,
        side,
        order_type: OrderType::Limit,
        price: Some(Price(price)),
        qty: Qty(qty),
        time_in_force: TimeInForce::Gtc,
        post_only: true,
    })
}

pub fn market(id: u64, account: u64, side: Side, qty: u64, tif: TimeInForce) -> Command {
    Command::Submit(NewOrder {
        order_id: id,
        account,
        symbol: SYM,
        side,
        order_type: OrderType::Market,
        price: None,
        qty: Qty(qty),
        time_in_force: tif,
        post_only: false,
    })
}

pub fn cancel(id: u64, account: u64) -> Command {
    Command::Cancel {
        order_id: id,
        account,
        symbol: SYM,
    }
}

pub fn amend(id: u64, account: u64, price: Option<u64>, qty: Option<u64>) -> Command {
    Command::Amend {
        order_id: id,
        account,
        symbol: SYM,
        new_price: price.map(Price),
        new_qty: qty.map(Qty),
    }
}

/// Every resting order per side in priority order, as `(id, account, price, remaining,
/// original)`, read through the public API.
pub fn snapshot(book: &OrderBook) -> Vec<(Side, u64, u64, u64, u64, u64)> {
    let mut out = Vec::new();
    for side in [Side::Buy, Side::Sell] {
        for (price, _, _) in book.depth(side, usize::MAX) {
            for o in book.orders_at(side, price) {
                out.push((
                    side,
                    o.order_id,
                    o.account,
                    o.price.0,
                    o.remaining.0,
                    o.original.0,
                ));
            }
        }
    }
    out
}

/// Structural invariants of a book, checked through its public API. Returns total resting qty.
pub fn check_invariants(book: &OrderBook) -> u64 {
    if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) {
        assert!(bid < ask, "crossed at rest: bid {bid:?} ask {ask:?}");
    }
    let mut resting = 0u64;
    let mut orders = 0usize;
    for side in [Side::Buy, Side::Sell] {
        let levels = book.depth(side, usize::MAX);
        for pair in levels.windows(2) {
            match side {
                Side::Buy => assert!(pair[0].0 > pair[1].0, "bids not descending: {levels:?}"),
                Side::Sell => assert!(pair[0].0 < pair[1].0, "asks not ascending: {levels:?}"),
            }
        }
        for (price, total, count) in levels {
            let at = book.orders_at(side, price);
            assert_eq!(at.len(), count as usize, "level count at {price:?}");
            assert!(count > 0, "empty level left at {price:?}");
            let sum: u64 = at.iter().map(|o| o.remaining.0).sum();
            assert_eq!(sum, total.0, "level total at {price:?}");
            for o in &at {
                assert_eq!((o.side, o.price), (side, price));
                assert!(o.remaining.0 > 0 && o.remaining <= o.original);
                assert_eq!(book.order(o.order_id).as_ref(), Some(o));
            }
            resting += sum;
            orders += at.len();
        }
    }
    assert_eq!(orders, book.open_orders(), "open_orders");
    resting
}
