//! One trait, three books: ours, `lobster` 0.7.0 and `rust-order-book` 0.0.2, each fed the
//! same [`BenchCmd`]s. Where a peer cannot express a command it is mapped as honestly as its
//! API allows:
//! - lobster has no IOC, FOK or amend: IOC = limit, then cancel of whatever rested; amend =
//!   cancel + new limit with the same id at the back of the queue (same as our re-entry).
//! - rust-order-book numbers its own orders: the adapter keeps a dense `Vec` from our id to
//!   its id (one indexed load/store per command). Its `modify` is cancel + new with a new id.
//! - Neither peer has self-trade prevention or market protection; the streams never need them.
//!
//! Every adapter consumes the peer's full result (events / reports are built and dropped), as
//! a service would.

use std::hint::black_box;

use matching::{Command, Event, OrderBook, OrderType, Side, SymbolId, TimeInForce};

use super::streams::{instrument, BenchCmd};

/// A book the benches can drive.
pub trait BenchBook {
    const NAME: &'static str;
    /// A fresh book; `max_id` bounds the order ids the stream will use.
    fn create(max_id: u64) -> Self;
    fn apply(&mut self, c: &BenchCmd);
    /// Like `apply`, returning the quantity the command traded (untimed cross-check that all
    /// books really execute the same stream).
    fn apply_traded(&mut self, c: &BenchCmd) -> u64;
}

/// Our engine, with one reused event buffer.
pub struct Ours {
    book: OrderBook,
    events: Vec<Event>,
}

impl BenchBook for Ours {
    const NAME: &'static str = "simex";

    fn create(_max_id: u64) -> Self {
        Ours {
            book: OrderBook::new(SymbolId(0), instrument("BENCH")),
            events: Vec::with_capacity(256),
        }
    }

    #[inline]
    fn apply(&mut self, c: &BenchCmd) {
        self.events.clear();
        self.book.execute(&c.cmd, &mut self.events);
        black_box(self.events.len());
    }

    fn apply_traded(&mut self, c: &BenchCmd) -> u64 {
        self.apply(c);
        self.events
            .iter()
            .map(|e| match e {
                Event::Fill { qty, .. } => qty.0,
                _ => 0,
            })
            .sum()
    }
}

/// lobster 0.7.0.
pub struct Lobster {
    book: lobster::OrderBook,
}

fn lobster_side(side: Side) -> lobster::Side {
    match side {
        Side::Buy => lobster::Side::Bid,
        Side::Sell => lobster::Side::Ask,
    }
}

impl BenchBook for Lobster {
    const NAME: &'static str = "lobster";

    fn create(_max_id: u64) -> Self {
        Lobster {
            book: lobster::OrderBook::default(),
        }
    }

    #[inline]
    fn apply(&mut self, c: &BenchCmd) {
        black_box(self.run(c));
    }

    fn apply_traded(&mut self, c: &BenchCmd) -> u64 {
        self.run(c)
    }
}

fn lobster_traded(ev: &lobster::OrderEvent) -> u64 {
    match ev {
        lobster::OrderEvent::Filled { filled_qty, .. }
        | lobster::OrderEvent::PartiallyFilled { filled_qty, .. } => *filled_qty,
        _ => 0,
    }
}

impl Lobster {
    #[inline]
    fn run(&mut self, c: &BenchCmd) -> u64 {
        match &c.cmd {
            Command::Submit(o) => {
                let id = u128::from(o.order_id);
                let side = lobster_side(o.side);
                let qty = o.qty.0;
                let ev = match (o.order_type, o.price) {
                    (OrderType::Limit, Some(price)) => {
                        self.book.execute(lobster::OrderType::Limit {
                            id,
                            side,
                            qty,
                            price: price.0,
                        })
                    }
                    _ => self
                        .book
                        .execute(lobster::OrderType::Market { id, side, qty }),
                };
                let rested = matches!(
                    ev,
                    lobster::OrderEvent::Placed { .. }
                        | lobster::OrderEvent::PartiallyFilled { .. }
                );
                if o.order_type == OrderType::Limit && o.time_in_force != TimeInForce::Gtc && rested
                {
                    black_box(self.book.execute(lobster::OrderType::Cancel { id }));
                }
                lobster_traded(&ev)
            }
            Command::Cancel { order_id, .. } => {
                black_box(self.book.execute(lobster::OrderType::Cancel {
                    id: u128::from(*order_id),
                }));
                0
            }
            Command::Amend {
                order_id,
                new_price,
                new_qty,
                ..
            } => {
                let id = u128::from(*order_id);
                black_box(self.book.execute(lobster::OrderType::Cancel { id }));
                match (new_price, new_qty) {
                    (Some(price), Some(qty)) => {
                        let ev = self.book.execute(lobster::OrderType::Limit {
                            id,
                            side: lobster_side(c.side),
                            qty: qty.0,
                            price: price.0,
                        });
                        lobster_traded(&ev)
                    }
                    _ => 0,
                }
            }
        }
    }
}

/// rust-order-book 0.0.2.
pub struct RustOrderBook {
    book: rust_order_book::OrderBook,
    /// Our order id -> its order id (`u64::MAX`: none).
    ids: Vec<u64>,
}

fn rob_side(side: Side) -> rust_order_book::Side {
    match side {
        Side::Buy => rust_order_book::Side::Buy,
        Side::Sell => rust_order_book::Side::Sell,
    }
}

impl BenchBook for RustOrderBook {
    const NAME: &'static str = "rust-order-book";

    fn create(max_id: u64) -> Self {
        RustOrderBook {
            book: rust_order_book::OrderBook::new(
                "BENCH",
                rust_order_book::OrderBookOptions::default(),
            ),
            ids: vec![u64::MAX; max_id as usize + 1],
        }
    }

    #[inline]
    fn apply(&mut self, c: &BenchCmd) {
        black_box(self.run(c));
    }

    fn apply_traded(&mut self, c: &BenchCmd) -> u64 {
        self.run(c)
    }
}

impl RustOrderBook {
    #[inline]
    fn run(&mut self, c: &BenchCmd) -> u64 {
        match &c.cmd {
            Command::Submit(o) => {
                let side = rob_side(o.side);
                let report = match (o.order_type, o.price) {
                    (OrderType::Limit, Some(price)) => {
                        let tif = match o.time_in_force {
                            TimeInForce::Gtc => rust_order_book::TimeInForce::GTC,
                            TimeInForce::Ioc => rust_order_book::TimeInForce::IOC,
                            TimeInForce::Fok => rust_order_book::TimeInForce::FOK,
                        };
                        self.book
                            .limit_raw(side, o.qty.0, price.0, Some(tif), Some(o.post_only))
                    }
                    _ => self.book.market_raw(side, o.qty.0),
                };
                match &report {
                    Ok(r) => {
                        if let Some(slot) = self.ids.get_mut(o.order_id as usize) {
                            *slot = r.order_id.0;
                        }
                        r.executed_qty.0
                    }
                    Err(_) => 0,
                }
            }
            Command::Cancel { order_id, .. } => {
                let theirs = self
                    .ids
                    .get(*order_id as usize)
                    .copied()
                    .unwrap_or(u64::MAX);
                black_box(&self.book.cancel_raw(theirs));
                0
            }
            Command::Amend {
                order_id,
                new_price,
                new_qty,
                ..
            } => {
                let theirs = self
                    .ids
                    .get(*order_id as usize)
                    .copied()
                    .unwrap_or(u64::MAX);
                let report =
                    self.book
                        .modify_raw(theirs, new_price.map(|p| p.0), new_qty.map(|q| q.0));
                match &report {
                    Ok(r) => {
                        if let Some(slot) = self.ids.get_mut(*order_id as usize) {
                            *slot = r.order_id.0;
                        }
                        r.executed_qty.0
                    }
                    Err(_) => 0,
                }
            }
        }
    }
}
