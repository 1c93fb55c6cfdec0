//! [`Exchange`]: the books of many instruments behind locks, shared between threads.
//!
//! Two layouts, chosen by [`LockingMode`]: one mutex per book (independent symbols never
//! contend), or one mutex around all books (every command contends; kept on purpose so
//! contention profiles have something to show). The raw mutex type `R` is generic so a
//! contention-measuring mutex can replace `parking_lot`'s.

use std::collections::HashMap;

use lock_api::{MappedMutexGuard, Mutex, MutexGuard, RawMutex};

use crate::book::OrderBook;
use crate::types::{Command, Event, Instrument, RejectReason, SymbolId};

/// How the exchange's books are locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockingMode {
    /// One mutex per symbol: commands for different symbols run in parallel.
    #[default]
    PerSymbol,
    /// One mutex around every book: all commands serialize. For contention demos.
    Global,
}

/// The books, in the layout the locking mode asks for.
enum Books<R: RawMutex> {
    PerSymbol(Vec<LinePadded<Mutex<R, OrderBook>>>),
    Global(Mutex<R, Vec<OrderBook>>),
}

/// Keeps each per-symbol mutex (and the book header beside it) on cache lines of its own, so
/// threads working on neighbouring symbols do not invalidate each other's lines (128 bytes:
/// adjacent-line prefetchers pull lines in pairs).
#[repr(align(128))]
struct LinePadded<T>(T);

/// All instruments' order books.
///
/// `Exchange::new` is generic over `R`; name the type where it is not inferred, e.g.
/// `let ex: Exchange = Exchange::new(..)` for the default `parking_lot` mutex.
pub struct Exchange<R: RawMutex = parking_lot::RawMutex> {
    /// Instruments in `SymbolId` order.
    instruments: Vec<Instrument>,
    /// Ticker to id, for the service's lookups.
    by_symbol: HashMap<String, SymbolId>,
    /// The books themselves.
    books: Books<R>,
}

impl<R: RawMutex> std::fmt::Debug for Exchange<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("mode", &self.mode())
            .field("instruments", &self.instruments.len())
            .finish_non_exhaustive()
    }
}

impl<R: RawMutex> Exchange<R> {
    /// An exchange with one empty book per instrument; `SymbolId(i)` is `instruments[i]`.
    pub fn new(instruments: Vec<Instrument>, mode: LockingMode) -> Self {
        let books = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| OrderBook::new(SymbolId(i as u32), inst.clone()));
        let books = match mode {
            LockingMode::PerSymbol => {
                Books::PerSymbol(books.map(|book| LinePadded(Mutex::new(book))).collect())
            }
            LockingMode::Global => Books::Global(Mutex::new(books.collect())),
        };
        let by_symbol = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.symbol.clone(), SymbolId(i as u32)))
            .collect();
        Exchange {
            instruments,
            by_symbol,
            books,
        }
    }

    /// The id of the instrument with ticker `symbol`.
    pub fn symbol_id(&self, symbol: &str) -> Option<SymbolId> {
        self.by_symbol.get(symbol).copied()
    }

    /// All instruments, indexed by `SymbolId`.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// The locking layout.
    pub fn mode(&self) -> LockingMode {
        match self.books {
            Books::PerSymbol(_) => LockingMode::PerSymbol,
            Books::Global(_) => LockingMode::Global,
        }
    }

    /// Locks the book of `symbol` (in `Global` mode this locks every book) and returns it.
    pub fn lock_book(&self, symbol: SymbolId) -> Option<MappedMutexGuard<'_, R, OrderBook>> {
        let i = symbol.0 as usize;
        match &self.books {
            Books::PerSymbol(books) => Some(MutexGuard::map(books.get(i)?.0.lock(), |b| b)),
            Books::Global(all) => {
                let guard = all.lock();
                if i >= guard.len() {
                    return None;
                }
                Some(MutexGuard::map(guard, |books| &mut books[i]))
            }
        }
    }

    /// Locks the command's book and executes it; an unknown symbol yields `Rejected`.
    pub fn execute(&self, cmd: &Command, events: &mut Vec<Event>) {
        match self.lock_book(cmd.symbol()) {
            Some(mut book) => book.execute(cmd, events),
            None => events.push(Event::Rejected {
                order_id: cmd.order_id(),
                symbol: cmd.symbol(),
                reason: RejectReason::UnknownSymbol,
            }),
        }
    }

    /// Digest of all books in symbol order (locking each in turn).
    pub fn digest(&self) -> u64 {
        let mut d = crate::hash::Digest::default();
        for i in 0..self.instruments.len() {
            if let Some(book) = self.lock_book(SymbolId(i as u32)) {
                d.add(book.digest());
            }
        }
        d.finish()
    }
}
