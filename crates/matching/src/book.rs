//! [`OrderBook`]: one instrument's limit order book and its matching rules.
//!
//! Single-threaded (`&mut self`); [`crate::Exchange`] adds locking. The rules are listed in the
//! crate docs; this file is their implementation, read top to bottom: validation, submit,
//! cancel, amend, the matching loop, then queries.

use crate::arena::{OrderArena, OrderNode, NIL};
use crate::hash::Digest;
use crate::id_map::IdMap;
use crate::ladder::Ladder;
use crate::types::{
    AccountId, Command, DoneReason, Event, Instrument, NewOrder, OrderId, OrderType, Price, Qty,
    RejectReason, Side, SymbolId, TimeInForce,
};

/// Orders and levels the book makes room for up front, so a typical book never reallocates
/// (about 1 MiB per book; lobster's default arena is the same 10k orders).
const DEFAULT_ORDER_CAPACITY: usize = 10_000;
const DEFAULT_LEVEL_CAPACITY: usize = 1024;

/// A resting order as seen from outside the book.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestingOrder {
    /// The order's id.
    pub order_id: OrderId,
    /// Its owner.
    pub account: AccountId,
    /// Bid (`Buy`) or ask (`Sell`).
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Open quantity.
    pub remaining: Qty,
    /// Entered quantity, adjusted by amends; `original - remaining` has filled.
    pub original: Qty,
    /// Entered as post-only (keeps refusing to take liquidity when amended).
    pub post_only: bool,
}

/// The limit order book of one instrument.
#[derive(Debug, Clone)]
pub struct OrderBook {
    /// Symbol this book trades; commands for another symbol are rejected.
    symbol: SymbolId,
    /// Tick, lot and limits that orders are validated against.
    instrument: Instrument,
    /// `instrument.tick_size`, with 0 read as 1 so validation never divides by zero.
    tick: u64,
    /// `instrument.lot_size`, with 0 read as 1.
    lot: u64,
    /// Storage of all resting orders.
    arena: OrderArena,
    /// Resting buy orders.
    bids: Ladder,
    /// Resting sell orders.
    asks: Ladder,
    /// Order id to arena slot, for O(1) cancel/amend and duplicate detection.
    ids: IdMap,
    /// Last trade id issued (trade ids start at 1).
    trade_seq: u64,
    /// Largest id that ever rested here. Callers usually issue increasing ids, so a new id
    /// above it cannot be resting and the duplicate check skips a (cache-missing) lookup.
    max_rested_id: Option<OrderId>,
}

/// A level's aggregate after a change, for `Event::LevelChanged`.
#[derive(Clone, Copy)]
struct LevelState {
    side: Side,
    price: u64,
    total: u64,
    count: u32,
}

/// Who is taking liquidity in a matching pass.
#[derive(Clone, Copy)]
struct Taker {
    order_id: OrderId,
    account: AccountId,
    side: Side,
    /// Worst price the taker accepts (inclusive).
    limit: u64,
}

impl OrderBook {
    /// An empty book for `instrument`, answering to `symbol`.
    pub fn new(symbol: SymbolId, instrument: Instrument) -> Self {
        Self::with_capacity(
            symbol,
            instrument,
            DEFAULT_ORDER_CAPACITY,
            DEFAULT_LEVEL_CAPACITY,
        )
    }

    /// An empty book pre-sized for `orders` resting orders and `levels` levels per side.
    pub fn with_capacity(
        symbol: SymbolId,
        instrument: Instrument,
        orders: usize,
        levels: usize,
    ) -> Self {
        OrderBook {
            symbol,
            tick: instrument.tick_size.max(1),
            lot: instrument.lot_size.max(1),
            instrument,
            arena: OrderArena::with_capacity(orders),
            bids: Ladder::new(Side::Buy, levels),
            asks: Ladder::new(Side::Sell, levels),
            ids: IdMap::with_capacity(orders),
            trade_seq: 0,
            max_rested_id: None,
        }
    }

    /// Applies `cmd`, appending what happened to `events`. Never panics: invalid commands yield
    /// `Event::Rejected` and leave the book untouched.
    pub fn execute(&mut self, cmd: &Command, events: &mut Vec<Event>) {
        match cmd {
            Command::Submit(order) => self.submit(order, events),
            Command::Cancel {
                order_id,
                account,
                symbol,
            } => self.cancel(*order_id, *account, *symbol, events),
            Command::Amend {
                order_id,
                account,
                symbol,
                new_price,
                new_qty,
            } => self.amend(*order_id, *account, *symbol, *new_price, *new_qty, events),
        }
    }

    // ----- validation -------------------------------------------------------------------

    fn check_qty(&self, qty: u64) -> Result<(), RejectReason> {
        if qty == 0 {
            Err(RejectReason::ZeroQuantity)
        } else if qty > self.instrument.max_order_qty {
            Err(RejectReason::QuantityTooLarge)
        } else if self.lot > 1 && qty % self.lot != 0 {
            Err(RejectReason::OffLot)
        } else {
            Ok(())
        }
    }

    fn check_price(&self, price: u64) -> Result<(), RejectReason> {
        if price == 0 {
            Err(RejectReason::ZeroPrice)
        } else if self.tick > 1 && price % self.tick != 0 {
            Err(RejectReason::OffTick)
        } else {
            Ok(())
        }
    }

    /// Static checks of a new order; returns the limit price for limit orders (0 for market).
    fn validate(&self, o: &NewOrder) -> Result<u64, RejectReason> {
        if o.symbol != self.symbol {
            return Err(RejectReason::UnknownSymbol);
        }
        self.check_qty(o.qty.0)?;
        let price = match (o.order_type, o.price) {
            (OrderType::Limit, Some(p)) => {
                self.check_price(p.0)?;
                p.0
            }
            (OrderType::Market, None) => 0,
            _ => return Err(RejectReason::PriceMismatch),
        };
        if o.post_only && (o.order_type != OrderType::Limit || o.time_in_force != TimeInForce::Gtc)
        {
            return Err(RejectReason::InvalidTimeInForce);
        }
        let fresh = self.max_rested_id.is_none_or(|max| o.order_id > max);
        if !fresh && self.ids.contains(o.order_id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        Ok(price)
    }

    fn reject(&self, order_id: OrderId, reason: RejectReason, events: &mut Vec<Event>) {
        events.push(Event::Rejected {
            order_id,
            symbol: self.symbol,
            reason,
        });
    }

    // ----- submit -----------------------------------------------------------------------

    fn submit(&mut self, o: &NewOrder, events: &mut Vec<Event>) {
        let price = match self.validate(o) {
            Ok(price) => price,
            Err(reason) => return self.reject(o.order_id, reason, events),
        };
        let limit = match o.order_type {
            OrderType::Limit => price,
            OrderType::Market => match self.opposite(o.side).best() {
                Some(slot) => {
                    let best = self.opposite(o.side).level(slot).price;
                    band_limit(o.side, best, self.instrument.market_protection_bps)
                }
                None => return self.reject(o.order_id, RejectReason::NoLiquidity, events),
            },
        };
        if o.post_only && self.crosses(o.side, limit) {
            return self.reject(o.order_id, RejectReason::WouldTakeLiquidity, events);
        }
        if o.time_in_force == TimeInForce::Fok
            && self.fillable(o.side, limit, o.account, o.qty.0) < o.qty.0
        {
            return self.reject(o.order_id, RejectReason::CannotFillCompletely, events);
        }
        events.push(Event::Accepted {
            order_id: o.order_id,
            symbol: self.symbol,
        });
        let taker = Taker {
            order_id: o.order_id,
            account: o.account,
            side: o.side,
            limit,
        };
        let remaining = self.match_taker(taker, o.qty.0, events);
        if remaining == 0 {
            self.done(o.order_id, DoneReason::Filled, 0, events);
        } else if o.order_type == OrderType::Limit && o.time_in_force == TimeInForce::Gtc {
            let slot = self.arena.insert(OrderNode {
                id: o.order_id,
                account: o.account,
                price,
                remaining,
                original: o.qty.0,
                prev: NIL,
                next: NIL,
                level: NIL,
                side: o.side,
                post_only: o.post_only,
            });
            self.ids.insert(o.order_id, slot);
            self.max_rested_id = Some(self.max_rested_id.map_or(o.order_id, |m| m.max(o.order_id)));
            self.enqueue(slot, events);
        } else {
            self.done(o.order_id, DoneReason::Expired, remaining, events);
        }
    }

    // ----- cancel -----------------------------------------------------------------------

    fn cancel(
        &mut self,
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        events: &mut Vec<Event>,
    ) {
        if symbol != self.symbol {
            return self.reject(order_id, RejectReason::UnknownSymbol, events);
        }
        let Some(slot) = self.owned_slot(order_id, account) else {
            return self.reject(order_id, RejectReason::UnknownOrder, events);
        };
        let remaining = self.arena.get(slot).remaining;
        self.ids.remove(order_id);
        let left = self.dequeue(slot);
        self.arena.free(slot);
        self.done(order_id, DoneReason::Canceled, remaining, events);
        self.level_changed(left, events);
    }

    // ----- amend ------------------------------------------------------------------------

    fn amend(
        &mut self,
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        new_price: Option<Price>,
        new_qty: Option<Qty>,
        events: &mut Vec<Event>,
    ) {
        if symbol != self.symbol {
            return self.reject(order_id, RejectReason::UnknownSymbol, events);
        }
        if new_price.is_none() && new_qty.is_none() {
            return self.reject(order_id, RejectReason::InvalidAmend, events);
        }
        if let Some(Price(p)) = new_price {
            if let Err(reason) = self.check_price(p) {
                return self.reject(order_id, reason, events);
            }
        }
        if let Some(Qty(q)) = new_qty {
            if let Err(reason) = self.check_qty(q) {
                return self.reject(order_id, reason, events);
            }
        }
        let Some(slot) = self.owned_slot(order_id, account) else {
            return self.reject(order_id, RejectReason::UnknownOrder, events);
        };
        let node = self.arena.get(slot);
        let (side, old_price, old_qty, post_only) =
            (node.side, node.price, node.remaining, node.post_only);
        let price = new_price.map_or(old_price, |p| p.0);
        let qty = new_qty.map_or(old_qty, |q| q.0);
        if price == old_price && qty == old_qty {
            return self.reject(order_id, RejectReason::InvalidAmend, events);
        }

        if price == old_price && qty < old_qty {
            // Reduce in place: keeps time priority.
            let cut = old_qty - qty;
            let node = self.arena.get_mut(slot);
            node.remaining = qty;
            node.original -= cut;
            let level_slot = node.level;
            let ladder = self.ladder_mut(side);
            let level = ladder.level_mut(level_slot);
            level.total = level.total.wrapping_sub(cut);
            let state = LevelState {
                side,
                price,
                total: level.total,
                count: level.count,
            };
            self.amended(order_id, price, qty, true, events);
            self.level_changed(state, events);
            return;
        }

        if price != old_price && post_only && self.crosses(side, price) {
            return self.reject(order_id, RejectReason::WouldTakeLiquidity, events);
        }

        // Loses priority: leave the level, then re-enter as if newly arrived at `price`.
        let left = self.dequeue(slot);
        self.amended(order_id, price, qty, false, events);
        self.level_changed(left, events);
        {
            let node = self.arena.get_mut(slot);
            node.original = node.original - old_qty + qty;
            node.remaining = qty;
            node.price = price;
        }
        let remaining = if price != old_price {
            let taker = Taker {
                order_id,
                account,
                side,
                limit: price,
            };
            self.match_taker(taker, qty, events)
        } else {
            qty
        };
        if remaining == 0 {
            self.ids.remove(order_id);
            self.arena.free(slot);
            self.done(order_id, DoneReason::Filled, 0, events);
        } else {
            self.arena.get_mut(slot).remaining = remaining;
            self.enqueue(slot, events);
        }
    }

    // ----- matching ---------------------------------------------------------------------

    /// Matches `qty` of `taker` against the opposite side, best price first and oldest first
    /// within a price, while prices are within `taker.limit`. Resting orders of the taker's own
    /// account are canceled (self-trade prevention) instead of traded against. Returns the
    /// quantity left unfilled. Inlined into its two callers: passing `Taker` through memory
    /// cost a store-forwarding stall on every submit.
    #[inline(always)]
    fn match_taker(&mut self, taker: Taker, mut qty: u64, events: &mut Vec<Event>) -> u64 {
        let symbol = self.symbol;
        let maker_side = taker.side.opposite();
        let OrderBook {
            arena,
            bids,
            asks,
            ids,
            trade_seq,
            ..
        } = self;
        let book = match taker.side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        while qty > 0 {
            let Some(level_slot) = book.best() else { break };
            let (price, mut cur) = {
                let level = book.level(level_slot);
                (level.price, level.head)
            };
            let crosses = match taker.side {
                Side::Buy => price <= taker.limit,
                Side::Sell => price >= taker.limit,
            };
            if !crosses {
                break;
            }
            while cur != NIL && qty > 0 {
                let node = arena.get_mut(cur);
                let next = node.next;
                let maker_id = node.id;
                if node.account == taker.account {
                    let left = node.remaining;
                    book.unlink(arena, cur);
                    ids.remove(maker_id);
                    arena.free(cur);
                    events.push(Event::Done {
                        order_id: maker_id,
                        symbol,
                        reason: DoneReason::SelfTradePrevented,
                        remaining: Qty(left),
                    });
                } else {
                    let fill = qty.min(node.remaining);
                    node.remaining -= fill;
                    let maker_left = node.remaining;
                    let maker_account = node.account;
                    qty -= fill;
                    let level = book.level_mut(level_slot);
                    level.total = level.total.wrapping_sub(fill);
                    *trade_seq += 1;
                    events.push(Event::Fill {
                        symbol,
                        trade_id: *trade_seq,
                        maker_order_id: maker_id,
                        maker_account,
                        taker_order_id: taker.order_id,
                        taker_account: taker.account,
                        taker_side: taker.side,
                        price: Price(price),
                        qty: Qty(fill),
                    });
                    if maker_left == 0 {
                        book.unlink(arena, cur);
                        ids.remove(maker_id);
                        arena.free(cur);
                        events.push(Event::Done {
                            order_id: maker_id,
                            symbol,
                            reason: DoneReason::Filled,
                            remaining: Qty(0),
                        });
                    }
                }
                cur = next;
            }
            let level = book.level(level_slot);
            let (total, count) = (level.total, level.count);
            events.push(Event::LevelChanged {
                symbol,
                side: maker_side,
                price: Price(price),
                total: Qty(total),
                order_count: count,
            });
            if count == 0 {
                book.level_emptied(level_slot);
            }
        }
        qty
    }

    /// Quantity a taker could fill within `limit` (ignoring its own account's orders, which
    /// self-trade prevention would cancel), counting no further than `want`.
    fn fillable(&self, side: Side, limit: u64, account: AccountId, want: u64) -> u64 {
        let book = self.opposite(side);
        let mut available = 0u64;
        for slot in book.iter_best_first() {
            let level = book.level(slot);
            let crosses = match side {
                Side::Buy => level.price <= limit,
                Side::Sell => level.price >= limit,
            };
            if !crosses {
                break;
            }
            let mut cur = level.head;
            while cur != NIL {
                let node = self.arena.get(cur);
                if node.account != account {
                    available = available.saturating_add(node.remaining);
                    if available >= want {
                        return available;
                    }
                }
                cur = node.next;
            }
        }
        available
    }

    /// Whether an order on `side` at `price` would meet the opposite best.
    fn crosses(&self, side: Side, price: u64) -> bool {
        let book = self.opposite(side);
        match book.best() {
            None => false,
            Some(slot) => {
                let best = book.level(slot).price;
                match side {
                    Side::Buy => best <= price,
                    Side::Sell => best >= price,
                }
            }
        }
    }

    // ----- plumbing ---------------------------------------------------------------------

    fn opposite(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.asks,
            Side::Sell => &self.bids,
        }
    }

    fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Slot of a resting order owned by `account`. Another account's order is reported as
    /// unknown, so ids of others' orders reveal nothing.
    fn owned_slot(&self, order_id: OrderId, account: AccountId) -> Option<u32> {
        let slot = self.ids.get(order_id)?;
        (self.arena.get(slot).account == account).then_some(slot)
    }

    /// Appends the order in `slot` (price and remaining set) to the back of its price level.
    fn enqueue(&mut self, slot: u32, events: &mut Vec<Event>) {
        let (side, price) = {
            let node = self.arena.get(slot);
            (node.side, node.price)
        };
        let OrderBook {
            arena, bids, asks, ..
        } = self;
        let ladder = match side {
            Side::Buy => bids,
            Side::Sell => asks,
        };
        let level_slot = ladder.find_or_create(price);
        ladder.push_back(arena, level_slot, slot);
        let level = ladder.level(level_slot);
        let state = LevelState {
            side,
            price,
            total: level.total,
            count: level.count,
        };
        self.level_changed(state, events);
    }

    /// Unlinks the order in `slot` from its level (it stays in the arena; its `remaining` is
    /// taken off the level) and returns the level as left behind, for `LevelChanged`.
    fn dequeue(&mut self, slot: u32) -> LevelState {
        let (side, price) = {
            let node = self.arena.get(slot);
            (node.side, node.price)
        };
        let OrderBook {
            arena, bids, asks, ..
        } = self;
        let ladder = match side {
            Side::Buy => bids,
            Side::Sell => asks,
        };
        let level_slot = arena.get(slot).level;
        let empty = ladder.unlink(arena, slot);
        let level = ladder.level(level_slot);
        let state = LevelState {
            side,
            price,
            total: level.total,
            count: level.count,
        };
        if empty {
            ladder.level_emptied(level_slot);
        }
        state
    }

    fn done(&self, order_id: OrderId, reason: DoneReason, remaining: u64, events: &mut Vec<Event>) {
        events.push(Event::Done {
            order_id,
            symbol: self.symbol,
            reason,
            remaining: Qty(remaining),
        });
    }

    fn amended(
        &self,
        order_id: OrderId,
        price: u64,
        remaining: u64,
        kept_priority: bool,
        events: &mut Vec<Event>,
    ) {
        events.push(Event::Amended {
            order_id,
            symbol: self.symbol,
            price: Price(price),
            remaining: Qty(remaining),
            kept_priority,
        });
    }

    fn level_changed(&self, level: LevelState, events: &mut Vec<Event>) {
        events.push(Event::LevelChanged {
            symbol: self.symbol,
            side: level.side,
            price: Price(level.price),
            total: Qty(level.total),
            order_count: level.count,
        });
    }

    // ----- queries ----------------------------------------------------------------------

    /// The symbol this book answers to.
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// The instrument this book trades.
    pub fn instrument(&self) -> &Instrument {
        &self.instrument
    }

    /// Number of resting orders on both sides.
    pub fn open_orders(&self) -> usize {
        self.arena.len()
    }

    /// Rebuilds a saved book: puts `order` back at the back of its price level with its
    /// remaining *and* original quantities, without matching. Call it in time priority. Refused
    /// (`false`, nothing changed) if the id is already resting, a quantity is zero or the
    /// remaining exceeds the original, or the price would cross the other side: a saved book is
    /// never crossed.
    pub fn restore_resting(&mut self, order: &RestingOrder) -> bool {
        let (price, remaining) = (order.price.0, order.remaining.0);
        let crosses = match order.side {
            Side::Buy => self.best_ask().is_some_and(|(ask, _)| price >= ask.0),
            Side::Sell => self.best_bid().is_some_and(|(bid, _)| price <= bid.0),
        };
        if crosses
            || remaining == 0
            || order.original.0 < remaining
            || self.ids.contains(order.order_id)
        {
            return false;
        }
        let slot = self.arena.insert(OrderNode {
            id: order.order_id,
            account: order.account,
            price,
            remaining,
            original: order.original.0,
            prev: NIL,
            next: NIL,
            level: NIL,
            side: order.side,
            post_only: order.post_only,
        });
        self.ids.insert(order.order_id, slot);
        self.max_rested_id = Some(
            self.max_rested_id
                .map_or(order.order_id, |m| m.max(order.order_id)),
        );
        let mut events = Vec::new();
        self.enqueue(slot, &mut events);
        true
    }

    /// After a rebuild ([`OrderBook::restore_resting`]): trade ids continue after `last`, as
    /// they would have in the saved book.
    pub fn restore_trade_seq(&mut self, last: u64) {
        self.trade_seq = last;
    }

    /// Id of the last trade (0 before the first).
    pub fn last_trade_id(&self) -> u64 {
        self.trade_seq
    }

    /// Highest bid price and the quantity resting there.
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.best(Side::Buy)
    }

    /// Lowest ask price and the quantity resting there.
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.best(Side::Sell)
    }

    fn best(&self, side: Side) -> Option<(Price, Qty)> {
        let ladder = self.ladder(side);
        let level = ladder.level(ladder.best()?);
        Some((Price(level.price), Qty(level.total)))
    }

    /// Up to `levels` price levels of `side`, best first: `(price, total quantity, orders)`.
    pub fn depth(&self, side: Side, levels: usize) -> Vec<(Price, Qty, u32)> {
        let ladder = self.ladder(side);
        ladder
            .iter_best_first()
            .take(levels)
            .map(|slot| {
                let level = ladder.level(slot);
                (Price(level.price), Qty(level.total), level.count)
            })
            .collect()
    }

    /// A resting order, if `id` is resting in this book.
    pub fn order(&self, id: OrderId) -> Option<RestingOrder> {
        Some(resting(self.arena.get(self.ids.get(id)?)))
    }

    /// Orders resting at `price` on `side`, oldest (first to match) first.
    pub fn orders_at(&self, side: Side, price: Price) -> Vec<RestingOrder> {
        let ladder = self.ladder(side);
        let mut out = Vec::new();
        if let Some(slot) = ladder.find(price.0) {
            let mut cur = ladder.level(slot).head;
            while cur != NIL {
                let node = self.arena.get(cur);
                out.push(resting(node));
                cur = node.next;
            }
        }
        out
    }

    /// Deterministic hash of the whole book: every resting order in priority order with its
    /// account and quantities, plus the trade sequence. Equal books (same commands replayed)
    /// give equal digests across runs and machines.
    pub fn digest(&self) -> u64 {
        let mut d = Digest::default();
        d.add(u64::from(self.symbol.0));
        d.add(self.trade_seq);
        for (tag, ladder) in [(1u64, &self.bids), (2, &self.asks)] {
            d.add(tag);
            d.add(ladder.len() as u64);
            for slot in ladder.iter_best_first() {
                let level = ladder.level(slot);
                d.add(level.price);
                d.add(level.total);
                d.add(u64::from(level.count));
                let mut cur = level.head;
                while cur != NIL {
                    let node = self.arena.get(cur);
                    d.add(node.id);
                    d.add(node.account);
                    d.add(node.remaining);
                    d.add(node.original);
                    d.add(u64::from(node.post_only));
                    cur = node.next;
                }
            }
        }
        d.finish()
    }
}

/// The public view of an arena node.
fn resting(node: &OrderNode) -> RestingOrder {
    RestingOrder {
        order_id: node.id,
        account: node.account,
        side: node.side,
        price: Price(node.price),
        remaining: Qty(node.remaining),
        original: Qty(node.original),
        post_only: node.post_only,
    }
}

/// Worst price a market order on `side` may trade at, `bps` basis points from `best`.
fn band_limit(side: Side, best: u64, bps: u32) -> u64 {
    let offset = u128::from(best) * u128::from(bps) / 10_000;
    let offset = u64::try_from(offset).unwrap_or(u64::MAX);
    match side {
        Side::Buy => best.saturating_add(offset),
        Side::Sell => best.saturating_sub(offset),
    }
}
