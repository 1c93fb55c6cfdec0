//! An obviously-correct reference order book: every resting order in one `Vec`, priority by
//! sorting on demand. Slow on purpose; the engine is checked against it command by command.
//! It implements the rules documented in the crate's `lib.rs`, written independently of
//! `book.rs` (no shared code beyond the public types).

use matching::{
    Command, DoneReason, Event, Instrument, NewOrder, OrderType, Price, Qty, RejectReason, Side,
    SymbolId, TimeInForce,
};

/// One resting order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefOrder {
    pub id: u64,
    pub account: u64,
    pub side: Side,
    pub price: u64,
    pub remaining: u64,
    pub original: u64,
    pub post_only: bool,
    /// Arrival sequence: smaller is older (higher priority at equal price).
    pub seq: u64,
}

/// The reference book.
pub struct RefBook {
    pub symbol: SymbolId,
    pub inst: Instrument,
    pub orders: Vec<RefOrder>,
    next_seq: u64,
    trade_seq: u64,
}

impl RefBook {
    pub fn new(symbol: SymbolId, inst: Instrument) -> Self {
        RefBook {
            symbol,
            inst,
            orders: Vec::new(),
            next_seq: 0,
            trade_seq: 0,
        }
    }

    /// Is `a` a better price than `b` for a resting order on `side`?
    fn better(side: Side, a: u64, b: u64) -> bool {
        match side {
            Side::Buy => a > b,
            Side::Sell => a < b,
        }
    }

    /// Resting orders of `side` in priority order.
    pub fn side_orders(&self, side: Side) -> Vec<RefOrder> {
        let mut v: Vec<RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.side == side)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            if a.price == b.price {
                a.seq.cmp(&b.seq)
            } else if Self::better(side, a.price, b.price) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        v
    }

    fn best_price(&self, side: Side) -> Option<u64> {
        self.side_orders(side).first().map(|o| o.price)
    }

    /// Would a taker on `side` with limit `limit` trade at `price`?
    fn within(side: Side, limit: u64, price: u64) -> bool {
        match side {
            Side::Buy => price <= limit,
            Side::Sell => price >= limit,
        }
    }

    fn level_event(&self, side: Side, price: u64) -> Event {
        let at: Vec<&RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.side == side && o.price == price)
            .collect();
        Event::LevelChanged {
            symbol: self.symbol,
            side,
            price: Price(price),
            total: Qty(at.iter().map(|o| o.remaining).sum()),
            order_count: at.len() as u32,
        }
    }

    fn reject(&self, order_id: u64, reason: RejectReason, ev: &mut Vec<Event>) {
        ev.push(Event::Rejected {
            order_id,
            symbol: self.symbol,
            reason,
        });
    }

    fn done(&self, order_id: u64, reason: DoneReason, remaining: u64, ev: &mut Vec<Event>) {
        ev.push(Event::Done {
            order_id,
            symbol: self.symbol,
            reason,
            remaining: Qty(remaining),
        });
    }

    fn qty_error(&self, q: u64) -> Option<RejectReason> {
        if q == 0 {
            Some(RejectReason::ZeroQuantity)
        } else if q > self.inst.max_order_qty {
            Some(RejectReason::QuantityTooLarge)
        } else if q % self.inst.lot_size.max(1) != 0 {
            Some(RejectReason::OffLot)
        } else {
            None
        }
    }

    fn price_error(&self, p: u64) -> Option<RejectReason> {
        if p == 0 {
            Some(RejectReason::ZeroPrice)
        } else if p % self.inst.tick_size.max(1) != 0 {
            Some(RejectReason::OffTick)
        } else {
            None
        }
    }

    pub fn execute(&mut self, cmd: &Command, ev: &mut Vec<Event>) {
        match cmd {
            Command::Submit(o) => self.submit(o, ev),
            Command::Cancel {
                order_id,
                account,
                symbol,
            } => {
                if *symbol != self.symbol {
                    return self.reject(*order_id, RejectReason::UnknownSymbol, ev);
                }
                let Some(pos) = self
                    .orders
                    .iter()
                    .position(|o| o.id == *order_id && o.account == *account)
                else {
                    return self.reject(*order_id, RejectReason::UnknownOrder, ev);
                };
                let o = self.orders.remove(pos);
                self.done(o.id, DoneReason::Canceled, o.remaining, ev);
                ev.push(self.level_event(o.side, o.price));
            }
            Command::Amend {
                order_id,
                account,
                symbol,
                new_price,
                new_qty,
            } => self.amend(*order_id, *account, *symbol, *new_price, *new_qty, ev),
        }
    }

    fn submit(&mut self, o: &NewOrder, ev: &mut Vec<Event>) {
        if o.symbol != self.symbol {
            return self.reject(o.order_id, RejectReason::UnknownSymbol, ev);
        }
        if let Some(r) = self.qty_error(o.qty.0) {
            return self.reject(o.order_id, r, ev);
        }
        let price = match (o.order_type, o.price) {
            (OrderType::Limit, Some(p)) => {
                if let Some(r) = self.price_error(p.0) {
                    return self.reject(o.order_id, r, ev);
                }
                p.0
            }
            (OrderType::Market, None) => 0,
            _ => return self.reject(o.order_id, RejectReason::PriceMismatch, ev),
        };
        if o.post_only && !(o.order_type == OrderType::Limit && o.time_in_force == TimeInForce::Gtc)
        {
            return self.reject(o.order_id, RejectReason::InvalidTimeInForce, ev);
        }
        if self.orders.iter().any(|r| r.id == o.order_id) {
            return self.reject(o.order_id, RejectReason::DuplicateOrderId, ev);
        }
        let opp = o.side.opposite();
        let limit = if o.order_type == OrderType::Market {
            let Some(best) = self.best_price(opp) else {
                return self.reject(o.order_id, RejectReason::NoLiquidity, ev);
            };
            let off = (best as u128 * self.inst.market_protection_bps as u128 / 10_000) as u64;
            match o.side {
                Side::Buy => best.saturating_add(off),
                Side::Sell => best.saturating_sub(off),
            }
        } else {
            price
        };
        if o.post_only {
            if let Some(best) = self.best_price(opp) {
                if Self::within(o.side, limit, best) {
                    return self.reject(o.order_id, RejectReason::WouldTakeLiquidity, ev);
                }
            }
        }
        if o.time_in_force == TimeInForce::Fok {
            let avail: u64 = self
                .orders
                .iter()
                .filter(|r| {
                    r.side == opp && r.account != o.account && Self::within(o.side, limit, r.price)
                })
                .map(|r| r.remaining)
                .sum();
            if avail < o.qty.0 {
                return self.reject(o.order_id, RejectReason::CannotFillCompletely, ev);
            }
        }
        ev.push(Event::Accepted {
            order_id: o.order_id,
            symbol: self.symbol,
        });
        let left = self.take(o.order_id, o.account, o.side, limit, o.qty.0, ev);
        if left == 0 {
            self.done(o.order_id, DoneReason::Filled, 0, ev);
        } else if o.order_type == OrderType::Limit && o.time_in_force == TimeInForce::Gtc {
            self.rest(RefOrder {
                id: o.order_id,
                account: o.account,
                side: o.side,
                price,
                remaining: left,
                original: o.qty.0,
                post_only: o.post_only,
                seq: 0,
            });
            ev.push(self.level_event(o.side, price));
        } else {
            self.done(o.order_id, DoneReason::Expired, left, ev);
        }
    }

    fn rest(&mut self, mut o: RefOrder) {
        o.seq = self.next_seq;
        self.next_seq += 1;
        self.orders.push(o);
    }

    /// Matches a taker level by level; returns what is left.
    fn take(
        &mut self,
        id: u64,
        account: u64,
        side: Side,
        limit: u64,
        mut qty: u64,
        ev: &mut Vec<Event>,
    ) -> u64 {
        let opp = side.opposite();
        while qty > 0 {
            let Some(price) = self.best_price(opp) else {
                break;
            };
            if !Self::within(side, limit, price) {
                break;
            }
            let queue: Vec<RefOrder> = self
                .side_orders(opp)
                .into_iter()
                .filter(|o| o.price == price)
                .collect();
            for maker in queue {
                if qty == 0 {
                    break;
                }
                let pos = self
                    .orders
                    .iter()
                    .position(|o| o.id == maker.id)
                    .expect("maker is resting");
                if maker.account == account {
                    self.orders.remove(pos);
                    self.done(
                        maker.id,
                        DoneReason::SelfTradePrevented,
                        maker.remaining,
                        ev,
                    );
                    continue;
                }
                let fill = qty.min(maker.remaining);
                qty -= fill;
                self.orders[pos].remaining -= fill;
                self.trade_seq += 1;
                ev.push(Event::Fill {
                    symbol: self.symbol,
                    trade_id: self.trade_seq,
                    maker_order_id: maker.id,
                    maker_account: maker.account,
                    taker_order_id: id,
                    taker_account: account,
                    taker_side: side,
                    price: Price(price),
                    qty: Qty(fill),
                });
                if self.orders[pos].remaining == 0 {
                    self.orders.remove(pos);
                    self.done(maker.id, DoneReason::Filled, 0, ev);
                }
            }
            ev.push(self.level_event(opp, price));
        }
        qty
    }

    fn amend(
        &mut self,
        order_id: u64,
        account: u64,
        symbol: SymbolId,
        new_price: Option<Price>,
        new_qty: Option<Qty>,
        ev: &mut Vec<Event>,
    ) {
        if symbol != self.symbol {
            return self.reject(order_id, RejectReason::UnknownSymbol, ev);
        }
        if new_price.is_none() && new_qty.is_none() {
            return self.reject(order_id, RejectReason::InvalidAmend, ev);
        }
        if let Some(r) = new_price.and_then(|p| self.price_error(p.0)) {
            return self.reject(order_id, r, ev);
        }
        if let Some(r) = new_qty.and_then(|q| self.qty_error(q.0)) {
            return self.reject(order_id, r, ev);
        }
        let Some(pos) = self
            .orders
            .iter()
            .position(|o| o.id == order_id && o.account == account)
        else {
            return self.reject(order_id, RejectReason::UnknownOrder, ev);
        };
        let old = self.orders[pos].clone();
        let price = new_price.map_or(old.price, |p| p.0);
        let qty = new_qty.map_or(old.remaining, |q| q.0);
        if price == old.price && qty == old.remaining {
            return self.reject(order_id, RejectReason::InvalidAmend, ev);
        }
        if price == old.price && qty < old.remaining {
            let o = &mut self.orders[pos];
            o.original -= old.remaining - qty;
            o.remaining = qty;
            ev.push(Event::Amended {
                order_id,
                symbol: self.symbol,
                price: Price(price),
                remaining: Qty(qty),
                kept_priority: true,
            });
            ev.push(self.level_event(old.side, price));
            return;
        }
        if price != old.price && old.post_only {
            if let Some(best) = self.best_price(old.side.opposite()) {
                if Self::within(old.side, price, best) {
                    return self.reject(order_id, RejectReason::WouldTakeLiquidity, ev);
                }
            }
        }
        self.orders.remove(pos);
        ev.push(Event::Amended {
            order_id,
            symbol: self.symbol,
            price: Price(price),
            remaining: Qty(qty),
            kept_priority: false,
        });
        ev.push(self.level_event(old.side, old.price));
        let left = if price != old.price {
            self.take(order_id, account, old.side, price, qty, ev)
        } else {
            qty
        };
        if left == 0 {
            self.done(order_id, DoneReason::Filled, 0, ev);
        } else {
            self.rest(RefOrder {
                price,
                remaining: left,
                original: old.original - old.remaining + qty,
                ..old
            });
            ev.push(self.level_event(old.side, price));
        }
    }
}
