//! A price-time-priority limit order book and matching engine for many symbols.
//!
//! # Map
//! - [`types`]: the vocabulary (instruments, commands, events, reasons). Integers only.
//! - [`book`]: [`OrderBook`], one instrument's book and every matching rule.
//! - [`exchange`]: [`Exchange`], all books behind per-symbol or global locks.
//! - `arena`, `ladder`: storage: an order slab with intrusive FIFO lists per price level, and
//!   a per-side sorted level index whose last entry is the best price.
//! - `id_map`: order id to arena slot, an open-addressing table (one cache line per lookup).
//! - `hash`: a fast integer hasher (for the price-level map) and a stable digest.
//!
//! Architecture invariant: `matching` knows nothing about HTTP, journals, clocks or threads
//! beyond the mutex in [`Exchange`]. Same commands in, same events and digest out.
//!
//! # Rules
//! - **Priority**: best price first, then arrival order. Trades print at the resting (maker)
//!   order's price. Trade ids are per symbol, from 1.
//! - **Validation** (a rejected command emits only `Rejected` and changes nothing), in this
//!   order: symbol; quantity zero / above `max_order_qty` / not a multiple of `lot_size`;
//!   limit without price or market with price (`PriceMismatch`); price zero / off tick;
//!   post-only on anything but a GTC limit (`InvalidTimeInForce`); order id already resting
//!   (`DuplicateOrderId` — the book knows only live ids; global uniqueness is the caller's).
//! - **Limit GTC** matches what it crosses, the remainder rests. **IOC**: the remainder
//!   expires (`Done{Expired}`). **FOK**: rejected with `CannotFillCompletely` unless it can
//!   fill entirely at once (the book is untouched then).
//! - **Post-only** is rejected with `WouldTakeLiquidity` if it would cross the opposite best
//!   (even if that best is the same account's order).
//! - **Market** orders take liquidity no further than `market_protection_bps` from the best
//!   opposite price at arrival (buy: `best + best*bps/10000`, sell: `best - best*bps/10000`,
//!   rounded toward `best`), and never rest: GTC and IOC remainders expire; FOK applies the
//!   all-or-nothing check within the band. An empty opposite side rejects with `NoLiquidity`.
//! - **Self-trade prevention: cancel resting.** When a taker meets a resting order of the same
//!   account, the resting order is removed (`Done{SelfTradePrevented}` with its remaining
//!   quantity) and the taker keeps matching. FOK checks count only other accounts' liquidity.
//! - **Cancel** of an order that is not resting, or that belongs to another account, is
//!   `Rejected{UnknownOrder}`.
//! - **Amend** (`new_price`, `new_qty` = the new *open* quantity). Checked in this order:
//!   symbol; at least one of the two given (`InvalidAmend`); new price and quantity validated
//!   like a submit's; order resting and owned by the account (`UnknownOrder`); something
//!   changes (`InvalidAmend`). Then:
//!   - quantity reduced at the same price: keeps time priority (`kept_priority: true`).
//!   - quantity increased at the same price: loses priority, moves to the back of its level.
//!   - price changed: loses priority and re-enters like a new GTC limit with the same id; if the
//!     new price crosses it **matches** (trading as taker, with STP), and the rest rests. A
//!     post-only order amended to a crossing price is rejected (`WouldTakeLiquidity`).
//!   - `original` is adjusted by the same delta as the open quantity, so `original - remaining`
//!     is always the filled quantity.
//! - **Events per command**, in order. Submit: `Accepted`, then per maker touched `Fill` (and
//!   `Done{Filled}` or `Done{SelfTradePrevented}` for makers that leave), one `LevelChanged` per
//!   opposite level touched (after that level is done), then for the taker `Done{Filled}`, or
//!   `LevelChanged` of the level it rests on, or `Done{Expired}`. Cancel: `Done{Canceled}`,
//!   `LevelChanged`. Amend: `Amended`, `LevelChanged` of the level left (or changed), then as
//!   a submit for the re-entry. `LevelChanged` with `total` 0 means the level is gone.
//!
//! # Performance
//! No allocation per order once the book has reached its high-water mark (the caller reuses
//! the `events` vector): orders live in a slab with a free list, levels in a slab with a
//! sorted index (best at the end, so taking the best level is O(1)) plus a price map, and
//! order ids map to slots through a linear-probing table with a multiply-fold hash. Cancel is
//! O(1): a level emptied away from the touch stays in the index for reuse (swept out, amortised
//! O(1), once empty levels outnumber live ones). See `BENCHMARKS.md` in this crate.
//!
//! # Limits
//! - A `tick_size` or `lot_size` of 0 is read as 1 (nothing is off-grid), never a division
//!   by zero.
//! - Level totals are `u64` and use wrapping arithmetic: an instrument whose `max_order_qty`
//!   times the orders at one price could pass `u64::MAX` would see a wrapped total (never a
//!   panic). Choose `max_order_qty` well below `2^32` units to rule this out.

mod arena;
pub mod book;
pub mod exchange;
mod hash;
mod id_map;
mod ladder;
pub mod types;

pub use book::{OrderBook, RestingOrder};
pub use exchange::{Exchange, LockingMode};
pub use types::{
    AccountId, Command, DoneReason, Event, Instrument, NewOrder, OrderId, OrderType, Price, Qty,
    RejectReason, Side, SymbolId, TimeInForce,
};
