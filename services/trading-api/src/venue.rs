//! The venue: where an order's path comes together. Under the symbol's book lock, in this order:
//! risk reserves the hold, the command is appended to the journal (so journal order is apply
//! order), the engine executes it, fills settle in the ledger, holds are trued up, and market
//! data is published. The caller then waits for the journal record to be durable and answers.
//!
//! Replay runs the same code with the risk check off (the live run already checked) and the
//! journal append replaced by the recorded sequence number, so it reaches the same state.
//!
//! Lock order: `gate` (read for commands, write for snapshots and digests) → book →
//! `symbols[i]` → `ledger` → journal. `keys` is independent (read by authentication only).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use matching::{
    AccountId, Command, DoneReason, Event, Exchange, Instrument, LockingMode, NewOrder, OrderBook,
    OrderId, OrderType, Price, Qty, RejectReason, Side, SymbolId, TimeInForce,
};
// The per-symbol state and ledger locks are profiled (`/debug/pprof/mutex`): the ledger is
// shared by every symbol's book lock holder, so it is where symbols can wait on each other.
use contention::Mutex;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::feed::{self, MarketMessage};
pub use crate::instrument::InstrumentInfo;
use crate::journal::{Journal, JournalError};
use crate::ledger::{hash_key, hex, new_api_key, unhex, AssetId, KeyHash, Ledger, LedgerError};
use crate::locking::LockChaos;
use crate::metrics::TradingMetrics;
use crate::orders::{OrderRecord, OrderStatus, SymbolState, TradeRecord};
use crate::units::ASSET_DECIMALS;
use crate::visibility::HeldFeed;

pub use crate::locking::EngineMutex;
/// The engine with the service's lock type.
pub type SharedExchange = Exchange<EngineMutex>;

/// Largest accepted price in price units, keeping `price * qty * scale` far inside `i128`.
pub const MAX_PRICE_UNITS: u64 = 1_000_000_000_000_000;

/// One journal record's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalEntry {
    /// An account was created with this key hash (hex SHA-256; keys are never stored).
    CreateAccount {
        /// New account id.
        account: AccountId,
        /// Label.
        name: String,
        /// Hex SHA-256 of the API key.
        key_hash: String,
    },
    /// A deposit.
    Deposit {
        /// Credited account.
        account: AccountId,
        /// Asset name.
        asset: String,
        /// Ledger units.
        amount: u128,
    },
    /// An order command and the hold risk reserved for it.
    Order {
        /// The engine command (ids assigned by the service).
        cmd: Command,
        /// Ledger units reserved before execution (for amends: the extra reserved).
        hold: i128,
        /// Wall-clock time of acceptance, milliseconds since the epoch.
        ts_ms: u64,
        /// The client's reference for a submit.
        client_order_id: Option<String>,
    },
}

/// Why the venue refused a command.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// The engine rejected it.
    #[error("rejected: {0:?}")]
    Rejected(RejectReason),
    /// Risk refused the hold.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// No such order for this account.
    #[error("order not found")]
    UnknownOrder,
    /// No such symbol.
    #[error("unknown symbol")]
    UnknownSymbol,
    /// The journal is not open yet (replaying) or failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Replay met an entry it cannot apply.
    #[error("replay: {0}")]
    Replay(String),
}

/// A fill as reported to the order's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillReport {
    /// Public trade id.
    pub trade_id: u64,
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// Whether the reported order was the maker.
    pub maker: bool,
}

/// What a command did to the order it addressed.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// The order after the command.
    pub order: Option<OrderRecord>,
    /// Fills of that order during the command.
    pub fills: Vec<FillReport>,
    /// The engine's rejection, if any (the order is then `Rejected` or unchanged).
    pub rejected: Option<RejectReason>,
    /// Journal sequence number to wait for before answering.
    pub seq: u64,
}

/// A validated order request (units already converted and checked against tick and lot).
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// Limit price.
    pub price: Option<Price>,
    /// Quantity.
    pub qty: Qty,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Maker-only.
    pub post_only: bool,
    /// Client reference.
    pub client_order_id: Option<String>,
}

/// Two digests of the venue's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest {
    /// `Exchange::digest()`: the books including the engine's trade counters.
    pub engine: u64,
    /// The service state: resting orders in priority order, trade counters, order records,
    /// holds and balances. Equal after a replay or a snapshot restore.
    pub state: u64,
}

/// The exchange as a service: books, ledger, order records, journal and market-data feeds.
pub struct Venue {
    /// The matching engine.
    exchange: SharedExchange,
    /// Per-symbol instrument data, indexed by `SymbolId`.
    instruments: Vec<InstrumentInfo>,
    /// Per-symbol service state, locked inside the book lock.
    symbols: Vec<Mutex<SymbolState>>,
    /// Per-symbol market data, held until durable (`visibility.rs`); the broadcast's capacity
    /// bounds how far a client may lag.
    feeds: Vec<HeldFeed>,
    /// Highest journal sequence number applied so far: what a reader may have seen.
    applied_seq: AtomicU64,
    /// Accounts and balances.
    ledger: Mutex<Ledger>,
    /// API key hash → account, read on every request without touching the ledger lock.
    keys: RwLock<HashMap<KeyHash, AccountId>>,
    /// Set once replay is done; commands fail with `not ready` before.
    journal: OnceLock<Journal>,
    /// Commands hold it shared; snapshots and digests take it exclusively to see a quiet state.
    gate: RwLock<()>,
    /// Next order id; ids come from here, are journaled with the command, and replay restores it.
    next_order_id: AtomicU64,
    /// Metrics.
    metrics: TradingMetrics,
    /// The `lock-contention` chaos fault's knobs; idle unless a fault is active.
    pub(crate) lock_chaos: LockChaos,
}

/// Releases held market data whenever the journal's durable watermark moves (the commands
/// themselves release what is durable when they finish; this covers what becomes durable
/// later). Ends when the venue or its journal goes away.
pub async fn release_market_data_forever(venue: std::sync::Weak<Venue>) {
    let Some(mut watch) = venue
        .upgrade()
        .and_then(|v| v.journal().map(Journal::watch_durable))
    else {
        return;
    };
    while watch.changed().await {
        match venue.upgrade() {
            Some(venue) => venue.release_market_data(),
            None => return,
        }
    }
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Venue")
            .field("instruments", &self.instruments.len())
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn command_account(cmd: &Command) -> AccountId {
    match cmd {
        Command::Submit(o) => o.account,
        Command::Cancel { account, .. } | Command::Amend { account, .. } => *account,
    }
}

fn command_symbol(cmd: &Command) -> SymbolId {
    match cmd {
        Command::Submit(o) => o.symbol,
        Command::Cancel { symbol, .. } | Command::Amend { symbol, .. } => *symbol,
    }
}

fn command_order(cmd: &Command) -> OrderId {
    match cmd {
        Command::Submit(o) => o.order_id,
        Command::Cancel { order_id, .. } | Command::Amend { order_id, .. } => *order_id,
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// Where the worst fill of a market order may print (the engine's protection band).
fn band_limit(side: Side, best: u64, bps: u32) -> u64 {
    let offset = u64::try_from(u128::from(best) * u128::from(bps) / 10_000).unwrap_or(u64::MAX);
    match side {
        Side::Buy => best.saturating_add(offset),
        Side::Sell => best.saturating_sub(offset),
    }
}

impl Venue {
    /// An empty venue over `instruments` (journal not open: call [`Venue::open_journal`]).
    pub fn new(
        instruments: Vec<Instrument>,
        locking: LockingMode,
        feed_capacity: usize,
        metrics: TradingMetrics,
    ) -> anyhow::Result<Self> {
        let mut assets: Vec<String> = Vec::new();
        let mut asset = |name: &str| -> AssetId {
            if let Some(i) = assets.iter().position(|a| a == name) {
                i
            } else {
                assets.push(name.to_owned());
                assets.len() - 1
            }
        };
        let mut infos = Vec::new();
        for instrument in &instruments {
            let (base, quote) = instrument
                .symbol
                .split_once('-')
                .ok_or_else(|| anyhow::anyhow!("symbol {} is not BASE-QUOTE", instrument.symbol))?;
            let notional_decimals = instrument.price_decimals + instrument.qty_decimals;
            anyhow::ensure!(
                notional_decimals <= ASSET_DECIMALS,
                "{}: too many decimals",
                instrument.symbol
            );
            infos.push(InstrumentInfo {
                instrument: instrument.clone(),
                base: asset(base),
                quote: asset(quote),
                quote_scale: 10i128.pow(u32::from(ASSET_DECIMALS - notional_decimals)),
                base_scale: 10i128.pow(u32::from(ASSET_DECIMALS - instrument.qty_decimals)),
            });
        }
        let feeds = infos.iter().map(|_| HeldFeed::new(feed_capacity)).collect();
        Ok(Self {
            symbols: infos
                .iter()
                .map(|_| Mutex::new(SymbolState::default()))
                .collect(),
            exchange: SharedExchange::new(instruments, locking),
            instruments: infos,
            feeds,
            applied_seq: AtomicU64::new(0),
            ledger: Mutex::new(Ledger::new(assets)),
            keys: RwLock::new(HashMap::new()),
            journal: OnceLock::new(),
            gate: RwLock::new(()),
            next_order_id: AtomicU64::new(1),
            metrics,
            lock_chaos: LockChaos::default(),
        })
    }

    /// Instruments by `SymbolId`.
    pub fn instruments(&self) -> &[InstrumentInfo] {
        &self.instruments
    }

    /// Looks up a symbol.
    pub fn symbol_id(&self, symbol: &str) -> Option<SymbolId> {
        self.exchange.symbol_id(symbol)
    }

    /// Asset names.
    pub fn assets(&self) -> Vec<String> {
        self.ledger.lock().assets.clone()
    }

    /// Installs the journal after replay; from now on commands are accepted.
    pub fn open_journal(&self, journal: Journal) {
        if self.journal.set(journal).is_err() {
            tracing::error!("journal opened twice");
        }
    }

    /// The journal, once open.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.get()
    }

    fn live_journal(&self) -> Result<&Journal, VenueError> {
        self.journal
            .get()
            .ok_or(VenueError::Journal(JournalError::Closed))
    }

    /// The account an API key belongs to.
    pub fn authenticate(&self, key: &str) -> Option<AccountId> {
        self.keys.read().get(&hash_key(key)).copied()
    }

    /// Subscribes to a symbol's market data (what is released from now on).
    pub fn subscribe(&self, symbol: SymbolId) -> Option<broadcast::Receiver<Arc<MarketMessage>>> {
        self.feeds.get(symbol.0 as usize).map(HeldFeed::subscribe)
    }

    /// Queues `message` for one client of `symbol`'s feed, to be sent once everything applied
    /// so far is durable (a subscription's snapshot: see `visibility.rs`). Call it under the
    /// book lock the snapshot was read under, so it takes its place in the stream.
    pub fn send_when_durable(
        &self,
        symbol: SymbolId,
        message: Arc<MarketMessage>,
        to: mpsc::Sender<Arc<MarketMessage>>,
        on_full: CancellationToken,
    ) {
        if let Some(feed) = self.feeds.get(symbol.0 as usize) {
            feed.hold_for(
                self.applied_seq.load(Ordering::SeqCst),
                message,
                to,
                on_full,
            );
            feed.release(self.visible_seq());
        }
    }

    /// The highest journal sequence number whose effects may be shown (everything before the
    /// journal opens: replay only reapplies what was durable).
    pub fn visible_seq(&self) -> u64 {
        self.journal.get().map_or(u64::MAX, Journal::visible_seq)
    }

    /// Releases every feed's held messages up to the durable watermark; run whenever it moves.
    pub fn release_market_data(&self) {
        let visible = self.visible_seq();
        for feed in &self.feeds {
            feed.release(visible);
        }
    }

    /// The read barrier of REST reads (`visibility.rs`): call after reading; returns once
    /// everything applied so far, so everything the read could have seen, is durable. Fails
    /// if the journal failed: state past its last durable record must not be shown.
    pub async fn wait_visible(&self) -> Result<(), VenueError> {
        let Some(journal) = self.journal.get() else {
            return Ok(());
        };
        let applied = self.applied_seq.load(Ordering::SeqCst);
        if journal.visible_seq() >= applied {
            return Ok(());
        }
        journal.wait_durable(applied).await?;
        Ok(())
    }

    /// Runs `f` with the symbol's book and state locked (consistent reads for snapshots).
    pub fn with_book<T>(
        &self,
        symbol: SymbolId,
        f: impl FnOnce(&OrderBook, &SymbolState) -> T,
    ) -> Option<T> {
        let book = self.exchange.lock_book(symbol)?;
        let st = self.symbols.get(symbol.0 as usize)?.lock();
        Some(f(&book, &st))
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Creates an account and returns its id and (only now, never again) its API key.
    pub async fn create_account(&self, name: &str) -> Result<(AccountId, String), VenueError> {
        let journal = self.live_journal()?;
        let key = new_api_key();
        let key_hash = hash_key(&key);
        let (account, seq) = {
            let _gate = self.gate.read();
            let mut ledger = self.ledger.lock();
            let account = ledger.next_account_id();
            let entry = JournalEntry::CreateAccount {
                account,
                name: name.to_owned(),
                key_hash: hex(&key_hash),
            };
            let seq = journal.append(&encode_entry(&entry))?;
            self.applied_seq.fetch_max(seq, Ordering::SeqCst);
            ledger.create_account(account, name, &key_hash)?;
            self.keys.write().insert(key_hash, account);
            (account, seq)
        };
        journal.wait_durable(seq).await?;
        Ok((account, key))
    }

    /// Credits a deposit.
    pub async fn deposit(
        &self,
        account: AccountId,
        asset: &str,
        amount: u128,
    ) -> Result<(), VenueError> {
        let journal = self.live_journal()?;
        let seq = {
            let _gate = self.gate.read();
            let mut ledger = self.ledger.lock();
            let asset_id = ledger
                .asset_id(asset)
                .ok_or_else(|| VenueError::Replay(format!("unknown asset {asset}")))?;
            // Validate first so a refused deposit is never journaled.
            ledger.check_deposit(account, asset_id, amount)?;
            let entry = JournalEntry::Deposit {
                account,
                asset: asset.to_owned(),
                amount,
            };
            let seq = journal.append(&encode_entry(&entry))?;
            self.applied_seq.fetch_max(seq, Ordering::SeqCst);
            ledger.deposit(account, asset_id, amount)?;
            seq
        };
        journal.wait_durable(seq).await?;
        Ok(())
    }

    /// Asset names and a copy of one account.
    pub fn account(&self, account: AccountId) -> Option<(Vec<String>, crate::ledger::Account)> {
        let ledger = self.ledger.lock();
        let acct = ledger.accounts.get(&account)?.clone();
        Some((ledger.assets.clone(), acct))
    }

    /// A copy of the ledger (balances of all accounts).
    pub fn ledger(&self) -> Ledger {
        self.ledger.lock().clone()
    }

    // ---- orders ---------------------------------------------------------------------------

    /// Submits a new order for `account`.
    pub async fn submit(
        &self,
        account: AccountId,
        req: OrderRequest,
    ) -> Result<CommandOutcome, VenueError> {
        let order_id = self.next_order_id.fetch_add(1, Ordering::Relaxed);
        let cmd = Command::Submit(NewOrder {
            order_id,
            account,
            symbol: req.symbol,
            side: req.side,
            order_type: req.order_type,
            price: req.price,
            qty: req.qty,
            time_in_force: req.time_in_force,
            post_only: req.post_only,
        });
        self.run_live(cmd, req.client_order_id).await
    }

    /// Cancels `order_id` of `account`.
    pub async fn cancel(
        &self,
        account: AccountId,
        order_id: OrderId,
    ) -> Result<CommandOutcome, VenueError> {
        let symbol = self
            .find_order(account, order_id)
            .ok_or(VenueError::UnknownOrder)?
            .symbol;
        self.run_live(
            Command::Cancel {
                order_id,
                account,
                symbol,
            },
            None,
        )
        .await
    }

    /// Amends price and/or open quantity of `order_id` of `account`.
    pub async fn amend(
        &self,
        account: AccountId,
        order_id: OrderId,
        new_price: Option<Price>,
        new_qty: Option<Qty>,
    ) -> Result<CommandOutcome, VenueError> {
        let symbol = self
            .find_order(account, order_id)
            .ok_or(VenueError::UnknownOrder)?
            .symbol;
        let cmd = Command::Amend {
            order_id,
            account,
            symbol,
            new_price,
            new_qty,
        };
        self.run_live(cmd, None).await
    }

    /// An order of `account` (open or recently finished); other accounts' orders are invisible.
    pub fn find_order(&self, account: AccountId, order_id: OrderId) -> Option<OrderRecord> {
        self.symbols.iter().find_map(|st| {
            st.lock()
                .get(order_id)
                .filter(|r| r.account == account)
                .cloned()
        })
    }

    /// Open orders of `account`, by id.
    pub fn open_orders(&self, account: AccountId) -> Vec<OrderRecord> {
        let mut out: Vec<OrderRecord> = self
            .symbols
            .iter()
            .flat_map(|st| {
                st.lock()
                    .open
                    .values()
                    .filter(|r| r.account == account)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by_key(|r| r.order_id);
        out
    }

    /// Recent trades of a symbol, newest first.
    pub fn recent_trades(&self, symbol: SymbolId, limit: usize) -> Vec<TradeRecord> {
        self.symbols
            .get(symbol.0 as usize)
            .map(|st| st.lock().trades.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default()
    }

    async fn run_live(
        &self,
        cmd: Command,
        client_order_id: Option<String>,
    ) -> Result<CommandOutcome, VenueError> {
        let journal = self.live_journal()?;
        if self.lock_chaos.coarse.load(Ordering::Relaxed) {
            return self.run_coarse(journal, &cmd, client_order_id);
        }
        let outcome = self.execute(
            &cmd,
            Mode::Live {
                journal,
                client_order_id,
            },
        )?;
        journal.wait_durable(outcome.seq).await?;
        Ok(outcome)
    }

    /// Switches the lock-heavy `coarse` design on or off (`--locking coarse`, or the
    /// `lock-contention` fault with `design: coarse`); returns the previous setting.
    pub fn set_coarse_locking(&self, on: bool) -> bool {
        let was = self.lock_chaos.coarse.swap(on, Ordering::SeqCst);
        if was != on {
            tracing::warn!(
                coarse = on,
                "order path locking: {}",
                if on {
                    "one venue lock across risk, journal, matching and the journal sync"
                } else {
                    "per-book locks, journal sync outside any lock"
                }
            );
        }
        was
    }

    /// Whether the `coarse` design is on.
    pub fn coarse_locking(&self) -> bool {
        self.lock_chaos.coarse.load(Ordering::Relaxed)
    }

    /// The lock-heavy design a first version of an exchange often has: one venue-wide lock held
    /// across the risk check, the journal append, matching, settlement and the wait for the
    /// journal sync, on the request's own thread. Every order waits for every other order's
    /// fsync, so group commit never groups; the mutex profile is this lock, charged here where
    /// it is released. The per-book path ([`Venue::run_live`]) holds its book lock only for
    /// the in-memory work and waits for the journal after releasing it.
    #[inline(never)]
    fn run_coarse(
        &self,
        journal: &Journal,
        cmd: &Command,
        client_order_id: Option<String>,
    ) -> Result<CommandOutcome, VenueError> {
        let run = || {
            let _venue_lock = self.lock_chaos.venue_lock.lock();
            let outcome = self.execute(
                cmd,
                Mode::Live {
                    journal,
                    client_order_id,
                },
            )?;
            journal.wait_durable_blocking(outcome.seq)?;
            Ok(outcome)
        };
        // Blocking a worker thread is the design's point, but the runtime's other tasks (the
        // market data, /health) must keep running: tokio moves them to another thread first.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        }
    }

    /// Applies one replayed journal entry.
    pub fn replay_entry(&self, seq: u64, entry: JournalEntry) -> Result<(), VenueError> {
        match entry {
            JournalEntry::CreateAccount {
                account,
                name,
                key_hash,
            } => {
                let hash =
                    unhex(&key_hash).ok_or_else(|| VenueError::Replay("bad key hash".into()))?;
                self.ledger.lock().create_account(account, &name, &hash)?;
                self.keys.write().insert(hash, account);
            }
            JournalEntry::Deposit {
                account,
                asset,
                amount,
            } => {
                let mut ledger = self.ledger.lock();
                let asset = ledger
                    .asset_id(&asset)
                    .ok_or_else(|| VenueError::Replay(format!("unknown asset {asset}")))?;
                ledger.deposit(account, asset, amount)?;
            }
            JournalEntry::Order {
                cmd,
                hold,
                ts_ms,
                client_order_id,
            } => {
                self.next_order_id
                    .fetch_max(command_order(&cmd) + 1, Ordering::Relaxed);
                self.execute(
                    &cmd,
                    Mode::Replay {
                        seq,
                        hold,
                        ts_ms,
                        client_order_id,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// The critical section shared by live commands and replay.
    fn execute(&self, cmd: &Command, mode: Mode<'_>) -> Result<CommandOutcome, VenueError> {
        let symbol = command_symbol(cmd);
        let account = command_account(cmd);
        let order_id = command_order(cmd);
        let info = self
            .instruments
            .get(symbol.0 as usize)
            .ok_or(VenueError::UnknownSymbol)?;
        let _gate = self.gate.read();
        let _serialized = self.lock_chaos.serialize();
        let mut book = self
            .exchange
            .lock_book(symbol)
            .ok_or(VenueError::UnknownSymbol)?;
        let mut st = self.symbols[symbol.0 as usize].lock();
        self.lock_chaos.hold_book_lock_extra();

        // Risk: how much to hold, on which asset.
        let (hold_asset, hold) = match (&mode, cmd) {
            (Mode::Replay { hold, .. }, _) => (self.hold_asset_of(cmd, &st, info), *hold),
            (Mode::Live { .. }, Command::Submit(o)) => {
                let asset = info.hold_asset(o.side);
                let amount = match (o.side, o.order_type, o.price) {
                    (Side::Buy, OrderType::Limit, Some(price)) => info.notional(price, o.qty),
                    (Side::Buy, _, _) => {
                        let Some((best, _)) = book.best_ask() else {
                            return Err(VenueError::Rejected(RejectReason::NoLiquidity));
                        };
                        let worst =
                            band_limit(Side::Buy, best.0, info.instrument.market_protection_bps);
                        info.notional(Price(worst), o.qty)
                    }
                    (Side::Sell, _, _) => {
                        if o.order_type == OrderType::Market && book.best_bid().is_none() {
                            return Err(VenueError::Rejected(RejectReason::NoLiquidity));
                        }
                        info.base_amount(o.qty)
                    }
                };
                (asset, amount)
            }
            (Mode::Live { .. }, Command::Cancel { .. }) => {
                st.open
                    .get(&order_id)
                    .filter(|r| r.account == account)
                    .ok_or(VenueError::UnknownOrder)?;
                (0, 0)
            }
            (
                Mode::Live { .. },
                Command::Amend {
                    new_price, new_qty, ..
                },
            ) => {
                let record = st
                    .open
                    .get(&order_id)
                    .filter(|r| r.account == account)
                    .ok_or(VenueError::UnknownOrder)?;
                let price = new_price.or(record.price).unwrap_or(Price(0));
                let open = new_qty.unwrap_or(record.open);
                let required = info.resting_hold(record.side, price, open);
                (
                    info.hold_asset(record.side),
                    (required - record.hold).max(0),
                )
            }
        };
        let live = matches!(mode, Mode::Live { .. });
        self.ledger
            .lock()
            .reserve(account, hold_asset, hold, live)?;

        // Journal: inside the book lock, so the journal order is the apply order.
        let (seq, ts_ms, client_order_id) = match mode {
            Mode::Live {
                journal,
                client_order_id,
            } => {
                let ts_ms = now_ms();
                let entry = JournalEntry::Order {
                    cmd: cmd.clone(),
                    hold,
                    ts_ms,
                    client_order_id: client_order_id.clone(),
                };
                match journal.append(&encode_entry(&entry)) {
                    Ok(seq) => {
                        // Before the state changes, under the book lock: a reader that sees
                        // the change also sees this number (the read barrier relies on it).
                        self.applied_seq.fetch_max(seq, Ordering::SeqCst);
                        (seq, ts_ms, client_order_id)
                    }
                    Err(err) => {
                        self.ledger.lock().adjust_hold(account, hold_asset, -hold);
                        return Err(err.into());
                    }
                }
            }
            Mode::Replay {
                seq,
                ts_ms,
                client_order_id,
                ..
            } => {
                self.applied_seq.fetch_max(seq, Ordering::SeqCst);
                (seq, ts_ms, client_order_id)
            }
        };

        // Record the new order (or the amend's extra hold) before the engine runs.
        match cmd {
            Command::Submit(o) => {
                st.open.insert(
                    o.order_id,
                    OrderRecord {
                        order_id: o.order_id,
                        account,
                        symbol,
                        side: o.side,
                        order_type: o.order_type,
                        time_in_force: o.time_in_force,
                        post_only: o.post_only,
                        client_order_id,
                        price: o.price,
                        quantity: o.qty,
                        filled: Qty(0),
                        open: o.qty,
                        status: OrderStatus::Open,
                        self_trade_prevented: false,
                        hold,
                        created_ms: ts_ms,
                    },
                );
            }
            Command::Amend { .. } => {
                if let Some(record) = st.open.get_mut(&order_id) {
                    record.hold += hold;
                }
            }
            Command::Cancel { .. } => {}
        }

        let mut events = std::mem::take(&mut st.events);
        events.clear();
        let started = Instant::now();
        book.execute(cmd, &mut events);
        let label = match cmd {
            Command::Submit(_) => "submit",
            Command::Cancel { .. } => "cancel",
            Command::Amend { .. } => "amend",
        };
        self.metrics
            .engine_latency
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());

        let outcome = self.settle(&mut st, &book, info, cmd, &events, seq, ts_ms);
        st.events = events;
        Ok(outcome)
    }

    fn hold_asset_of(&self, cmd: &Command, st: &SymbolState, info: &InstrumentInfo) -> AssetId {
        match cmd {
            Command::Submit(o) => info.hold_asset(o.side),
            Command::Cancel { order_id, .. } | Command::Amend { order_id, .. } => st
                .open
                .get(order_id)
                .map_or(info.quote, |r| info.hold_asset(r.side)),
        }
    }

    /// Applies the engine's events to order records, the ledger and market data.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        st: &mut SymbolState,
        book: &OrderBook,
        info: &InstrumentInfo,
        cmd: &Command,
        events: &[Event],
        seq: u64,
        ts_ms: u64,
    ) -> CommandOutcome {
        let order_id = command_order(cmd);
        let symbol_name = info.instrument.symbol.as_str();
        let mut ledger = self.ledger.lock();
        let mut touched: Vec<OrderId> = vec![order_id];
        let mut fills = Vec::new();
        let mut rejected = None;
        let mut level_changes: Vec<(Side, Price, Qty)> = Vec::new();
        let mut trades: Vec<TradeRecord> = Vec::new();
        for event in events {
            match event {
                Event::Rejected { reason, .. } => rejected = Some(*reason),
                Event::Fill {
                    trade_id,
                    maker_order_id,
                    maker_account,
                    taker_order_id,
                    taker_account,
                    taker_side,
                    price,
                    qty,
                    ..
                } => {
                    let (buyer, seller) = match taker_side {
                        Side::Buy => (*taker_account, *maker_account),
                        Side::Sell => (*maker_account, *taker_account),
                    };
                    let cost = info.notional(*price, *qty);
                    let base = info.base_amount(*qty);
                    ledger.transfer_held(buyer, seller, info.quote, cost);
                    ledger.transfer_held(seller, buyer, info.base, base);
                    for id in [*maker_order_id, *taker_order_id] {
                        if let Some(record) = st.open.get_mut(&id) {
                            record.filled.0 += qty.0;
                            record.open.0 = record.open.0.saturating_sub(qty.0);
                            record.hold -= match record.side {
                                Side::Buy => cost,
                                Side::Sell => base,
                            };
                        }
                        touched.push(id);
                    }
                    if *maker_order_id == order_id || *taker_order_id == order_id {
                        fills.push(FillReport {
                            trade_id: *trade_id,
                            price: *price,
                            qty: *qty,
                            maker: *maker_order_id == order_id,
                        });
                    }
                    trades.push(TradeRecord {
                        trade_id: *trade_id,
                        price: *price,
                        qty: *qty,
                        taker_side: *taker_side,
                        ts_ms,
                    });
                }
                Event::Amended {
                    order_id,
                    price,
                    remaining,
                    ..
                } => {
                    if let Some(record) = st.open.get_mut(order_id) {
                        record.price = Some(*price);
                        record.quantity.0 = record.filled.0 + remaining.0;
                        record.open = *remaining;
                    }
                }
                Event::Done {
                    order_id, reason, ..
                } => {
                    if let Some(record) = st.open.get_mut(order_id) {
                        record.status = match reason {
                            DoneReason::Filled => OrderStatus::Filled,
                            DoneReason::Canceled => OrderStatus::Canceled,
                            DoneReason::Expired => OrderStatus::Expired,
                            DoneReason::SelfTradePrevented => {
                                record.self_trade_prevented = true;
                                OrderStatus::Canceled
                            }
                        };
                        record.open = Qty(0);
                    }
                    touched.push(*order_id);
                }
                Event::LevelChanged {
                    side, price, total, ..
                } => {
                    let levels = &mut st.levels[side_index(*side)];
                    if total.0 == 0 {
                        levels.remove(price);
                    } else {
                        levels.insert(*price);
                    }
                    level_changes.push((*side, *price, *total));
                }
                Event::Accepted { .. } => {}
            }
        }
        // A rejected submit never rested.
        if let (Some(_), Command::Submit(_)) = (rejected, cmd) {
            if let Some(record) = st.open.get_mut(&order_id) {
                record.status = OrderStatus::Rejected;
                record.open = Qty(0);
            }
        }
        // True up holds: open orders hold exactly what their remainder needs, finished ones nothing.
        touched.sort_unstable();
        touched.dedup();
        let mut reported = None;
        for id in touched {
            let Some(record) = st.open.get_mut(&id) else {
                continue;
            };
            let asset = info.hold_asset(record.side);
            if record.status.is_final() {
                ledger.adjust_hold(record.account, asset, -record.hold);
                record.hold = 0;
            } else {
                let required =
                    info.resting_hold(record.side, record.price.unwrap_or(Price(0)), record.open);
                ledger.adjust_hold(record.account, asset, required - record.hold);
                record.hold = required;
                record.status = if record.filled.0 > 0 {
                    OrderStatus::PartiallyFilled
                } else {
                    OrderStatus::Open
                };
            }
            if id == order_id {
                reported = Some(record.clone());
            }
            if record.status.is_final() {
                if let Some(record) = st.open.remove(&id) {
                    if record.status == OrderStatus::Rejected {
                        continue;
                    }
                    st.finish(record);
                }
            }
        }
        drop(ledger);
        if reported.is_none() {
            reported = st.get(order_id).cloned();
        }

        // Metrics and market data, still under the book lock so feeds are in book order.
        if let (Command::Submit(o), Some(order)) = (cmd, reported.as_ref()) {
            self.metrics
                .orders
                .with_label_values(&[
                    symbol_name,
                    feed::side_str(o.side),
                    if o.order_type == OrderType::Limit {
                        "limit"
                    } else {
                        "market"
                    },
                    order.status.as_str(),
                ])
                .inc();
        }
        if !trades.is_empty() {
            self.metrics
                .trades
                .with_label_values(&[symbol_name])
                .inc_by(trades.len() as u64);
        }
        if !level_changes.is_empty() {
            st.book_seq += 1;
            for (i, side) in ["bid", "ask"].iter().enumerate() {
                self.metrics
                    .book_levels
                    .with_label_values(&[symbol_name, side])
                    .set(st.levels[i].len() as i64);
            }
        }
        for trade in &trades {
            st.record_trade(trade.clone());
        }
        let feed = &self.feeds[command_symbol(cmd).0 as usize];
        if feed.has_subscribers() {
            // Held until the command's record is durable (`visibility.rs`).
            for trade in &trades {
                feed.hold(seq, Arc::new(feed::trade_message(info, trade)));
            }
            if !level_changes.is_empty() {
                feed.hold(
                    seq,
                    Arc::new(feed::book_update_message(info, st.book_seq, &level_changes)),
                );
            }
            if !trades.is_empty() || !level_changes.is_empty() {
                feed.hold(seq, Arc::new(feed::ticker_message(info, book, &st.ticker)));
            }
            // Already durable (`always`, `none`, or a fast writer): out at once.
            feed.release(self.visible_seq());
        }
        CommandOutcome {
            order: reported,
            fills,
            rejected,
            seq,
        }
    }

    // ---- state ----------------------------------------------------------------------------

    /// Digests of the whole state, taken with all commands paused.
    pub fn digest(&self) -> StateDigest {
        let _quiet = self.gate.write();
        self.digest_quiet()
    }

    /// [`Venue::digest`] for callers already holding the gate exclusively.
    fn digest_quiet(&self) -> StateDigest {
        let engine = self.exchange.digest();
        let mut d = Fnv::default();
        for (i, state) in self.symbols.iter().enumerate() {
            let symbol = SymbolId(i as u32);
            let Some(book) = self.exchange.lock_book(symbol) else {
                continue;
            };
            let st = state.lock();
            d.add(u128::from(book.last_trade_id()));
            for side in [Side::Buy, Side::Sell] {
                for (price, total, count) in book.depth(side, usize::MAX) {
                    d.add(u128::from(price.0));
                    d.add(u128::from(total.0));
                    d.add(u128::from(count));
                    for order in book.orders_at(side, price) {
                        d.add(u128::from(order.order_id));
                        d.add(u128::from(order.account));
                        d.add(u128::from(order.remaining.0));
                        d.add(u128::from(order.post_only));
                    }
                }
            }
            let mut open: Vec<&OrderRecord> = st.open.values().collect();
            open.sort_by_key(|r| r.order_id);
            for r in open {
                d.add(u128::from(r.order_id));
                d.add(u128::from(r.filled.0));
                d.add(u128::from(r.open.0));
                d.add(r.hold as u128);
            }
        }
        let ledger = self.ledger.lock();
        for account in ledger.accounts.values() {
            d.add(u128::from(account.id));
            for b in &account.balances {
                d.add(b.total as u128);
                d.add(b.held as u128);
            }
        }
        StateDigest { engine, state: d.0 }
    }

    /// Quiesces commands and captures everything a snapshot needs.
    pub fn capture(&self) -> Option<crate::snapshot::Snapshot> {
        let _quiet = self.gate.write();
        let journal = self.journal.get()?;
        let (seq, offset) = journal.position();
        let mut symbols = Vec::new();
        for (i, state) in self.symbols.iter().enumerate() {
            let symbol = SymbolId(i as u32);
            let book = self.exchange.lock_book(symbol)?;
            let st = state.lock();
            let mut resting = Vec::new();
            for side in [Side::Buy, Side::Sell] {
                for (price, _, _) in book.depth(side, usize::MAX) {
                    for order in book.orders_at(side, price) {
                        resting.push(crate::snapshot::RestingSnapshot {
                            order_id: order.order_id,
                            account: order.account,
                            side,
                            price,
                            remaining: order.remaining,
                            original: Some(order.original),
                            post_only: order.post_only,
                        });
                    }
                }
            }
            let mut open: Vec<OrderRecord> = st.open.values().cloned().collect();
            open.sort_by_key(|r| r.order_id);
            symbols.push(crate::snapshot::SymbolSnapshot {
                symbol: self.instruments[i].instrument.symbol.clone(),
                trade_seq: book.last_trade_id(),
                book_seq: st.book_seq,
                ticker: st.ticker.clone(),
                trades: st.trades.iter().cloned().collect(),
                resting,
                open,
                finished: st
                    .finished_fifo
                    .iter()
                    .filter_map(|id| st.finished.get(id).cloned())
                    .collect(),
            });
        }
        // Separate statements: the ledger guard must be gone before the digest locks it again.
        let ledger = self.ledger.lock().clone();
        let digest = self.digest_quiet().state;
        Some(crate::snapshot::Snapshot {
            seq,
            offset,
            next_order_id: self.next_order_id.load(Ordering::Relaxed),
            ledger,
            symbols,
            digest,
        })
    }

    /// Loads a snapshot into this (fresh) venue: resting orders re-enter in priority order.
    pub fn restore(&self, snapshot: &crate::snapshot::Snapshot) -> Result<(), VenueError> {
        let _quiet = self.gate.write();
        for (i, snap) in snapshot.symbols.iter().enumerate() {
            let symbol = self
                .symbol_id(&snap.symbol)
                .ok_or(VenueError::UnknownSymbol)?;
            if symbol.0 as usize != i {
                return Err(VenueError::Replay(
                    "snapshot symbols differ from the configuration".into(),
                ));
            }
            let mut book = self
                .exchange
                .lock_book(symbol)
                .ok_or(VenueError::UnknownSymbol)?;
            let mut st = self.symbols[i].lock();
            for r in &snap.resting {
                let restored = book.restore_resting(&matching::RestingOrder {
                    order_id: r.order_id,
                    account: r.account,
                    side: r.side,
                    price: r.price,
                    remaining: r.remaining,
                    original: r.original.unwrap_or(r.remaining),
                    post_only: r.post_only,
                });
                if !restored {
                    return Err(VenueError::Replay(format!(
                        "snapshot order {} did not rest cleanly",
                        r.order_id
                    )));
                }
                st.levels[side_index(r.side)].insert(r.price);
            }
            // The engine's trade counter continues where the saved one was, so its digest and
            // the trade ids match a venue that never restarted.
            book.restore_trade_seq(snap.trade_seq);
            st.book_seq = snap.book_seq;
            st.ticker = snap.ticker.clone();
            st.trades = snap.trades.iter().cloned().collect();
            st.open = snap.open.iter().map(|r| (r.order_id, r.clone())).collect();
            for record in &snap.finished {
                st.finish(record.clone());
            }
        }
        let mut keys = self.keys.write();
        for (hash, account) in &snapshot.ledger.keys {
            let hash =
                unhex(hash).ok_or_else(|| VenueError::Replay("bad key hash in snapshot".into()))?;
            keys.insert(hash, *account);
        }
        *self.ledger.lock() = snapshot.ledger.clone();
        self.next_order_id
            .store(snapshot.next_order_id, Ordering::Relaxed);
        Ok(())
    }
}

/// How [`Venue::execute`] runs.
enum Mode<'a> {
    /// A client command: check risk, append to the journal.
    Live {
        journal: &'a Journal,
        client_order_id: Option<String>,
    },
    /// A journal record: no risk check, no append.
    Replay {
        seq: u64,
        hold: i128,
        ts_ms: u64,
        client_order_id: Option<String>,
    },
}

/// Serializes a journal entry. Serializing these plain types cannot fail.
pub fn encode_entry(entry: &JournalEntry) -> Vec<u8> {
    serde_json::to_vec(entry).unwrap_or_default()
}

/// 64-bit FNV-1a: a small stable hash for state digests (same input, same value, everywhere).
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, value: u128) {
        for byte in value.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
