//! The exchange in both locking modes, single- and multi-threaded, plus journal-style replay.

mod common;

use std::sync::Arc;

use common::*;
use matching::{
    Command, Event, Exchange, LockingMode, NewOrder, OrderType, Price, Qty, RejectReason, Side,
    SymbolId, TimeInForce,
};

const MODES: [LockingMode; 2] = [LockingMode::PerSymbol, LockingMode::Global];

fn instruments(n: usize) -> Vec<matching::Instrument> {
    (0..n).map(|i| instrument(&format!("SYM{i}"))).collect()
}

/// Deterministic command stream for symbol `symbol` with ids from `id_base` (xorshift, so the
/// test needs no RNG crate and every run is the same).
fn stream(symbol: SymbolId, id_base: u64, n: usize, seed: u64) -> Vec<Command> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let r = next();
        let id = id_base + i;
        let cmd = match r % 10 {
            0..=5 => Command::Submit(NewOrder {
                order_id: id,
                account: 1 + (r >> 8) % 5,
                symbol,
                side: if (r >> 12) % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                },
                order_type: OrderType::Limit,
                price: Some(Price(950 + ((r >> 16) % 10) * 10)),
                qty: Qty(5 * (1 + (r >> 24) % 10)),
                time_in_force: if (r >> 32) % 8 == 0 {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                },
                post_only: false,
            }),
            6..=7 => Command::Cancel {
                order_id: id_base + (r >> 8) % (i + 1),
                account: 1 + (r >> 20) % 5,
                symbol,
            },
            8 => Command::Amend {
                order_id: id_base + (r >> 8) % (i + 1),
                account: 1 + (r >> 20) % 5,
                symbol,
                new_price: Some(Price(950 + ((r >> 28) % 10) * 10)),
                new_qty: None,
            },
            _ => Command::Submit(NewOrder {
                order_id: id,
                account: 1 + (r >> 8) % 5,
                symbol,
                side: if (r >> 12) % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                },
                order_type: OrderType::Market,
                price: None,
                qty: Qty(5 * (1 + (r >> 24) % 4)),
                time_in_force: TimeInForce::Ioc,
                post_only: false,
            }),
        };
        out.push(cmd);
    }
    out
}

#[test]
fn symbol_lookup_and_unknown_symbol() {
    for mode in MODES {
        let ex: Exchange = Exchange::new(instruments(3), mode);
        assert_eq!(ex.mode(), mode);
        assert_eq!(ex.symbol_id("SYM2"), Some(SymbolId(2)));
        assert_eq!(ex.symbol_id("NOPE"), None);
        assert_eq!(ex.instruments().len(), 3);
        assert!(ex.lock_book(SymbolId(3)).is_none());
        let mut events = Vec::new();
        ex.execute(
            &Command::Cancel {
                order_id: 5,
                account: 1,
                symbol: SymbolId(3),
            },
            &mut events,
        );
        assert_eq!(
            events,
            vec![Event::Rejected {
                order_id: 5,
                symbol: SymbolId(3),
                reason: RejectReason::UnknownSymbol
            }]
        );
    }
}

#[test]
fn books_are_independent_per_symbol_in_both_modes() {
    for mode in MODES {
        let ex: Exchange = Exchange::new(instruments(2), mode);
        let mut events = Vec::new();
        let mut cmd = limit(1, 1, Side::Buy, 1000, 5);
        ex.execute(&cmd, &mut events);
        if let Command::Submit(o) = &mut cmd {
            o.symbol = SymbolId(1);
            o.side = Side::Sell;
        }
        // Same id on another symbol is fine; it does not cross symbol 0's bid.
        ex.execute(&cmd, &mut events);
        let b0 = ex.lock_book(SymbolId(0)).expect("book 0");
        assert_eq!(b0.best_bid(), Some((Price(1000), Qty(5))));
        assert_eq!(b0.best_ask(), None);
        drop(b0);
        let b1 = ex.lock_book(SymbolId(1)).expect("book 1");
        assert_eq!(b1.best_ask(), Some((Price(1000), Qty(5))));
        assert_eq!(b1.instrument().symbol, "SYM1");
    }
}

#[test]
fn both_modes_give_the_same_digest_for_the_same_commands() {
    let cmds: Vec<Command> = (0..4)
        .flat_map(|s| {
            stream(
                SymbolId(s),
                1_000_000 * u64::from(s),
                2_000,
                7 + u64::from(s),
            )
        })
        .collect();
    let digests: Vec<u64> = MODES
        .iter()
        .map(|&mode| {
            let ex: Exchange = Exchange::new(instruments(4), mode);
            let mut events = Vec::new();
            for cmd in &cmds {
                ex.execute(cmd, &mut events);
            }
            ex.digest()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

/// Threads work on disjoint symbols, so the outcome must equal a sequential run regardless of
/// interleaving; in Global mode they contend on the one lock.
#[test]
fn multi_threaded_execution_matches_sequential() {
    const SYMBOLS: u32 = 4;
    let streams: Vec<Vec<Command>> = (0..SYMBOLS)
        .map(|s| {
            stream(
                SymbolId(s),
                1_000_000 * u64::from(s),
                3_000,
                99 + u64::from(s),
            )
        })
        .collect();
    let sequential: Exchange = Exchange::new(instruments(SYMBOLS as usize), LockingMode::PerSymbol);
    let mut events = Vec::new();
    for cmd in streams.iter().flatten() {
        sequential.execute(cmd, &mut events);
    }
    let expected = sequential.digest();
    for mode in MODES {
        let ex: Arc<Exchange> = Arc::new(Exchange::new(instruments(SYMBOLS as usize), mode));
        let handles: Vec<_> = streams
            .iter()
            .cloned()
            .map(|cmds| {
                let ex = Arc::clone(&ex);
                std::thread::spawn(move || {
                    let mut events = Vec::new();
                    let mut count = 0usize;
                    for cmd in &cmds {
                        events.clear();
                        ex.execute(cmd, &mut events);
                        count += events.len();
                    }
                    count
                })
            })
            .collect();
        let produced: usize = handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .sum();
        assert!(produced >= streams.iter().map(Vec::len).sum::<usize>());
        assert_eq!(ex.digest(), expected, "{mode:?}");
    }
}

/// Commands recorded as JSON lines (as a journal would) and replayed into a fresh book give the
/// same events and digest.
#[test]
fn replay_of_recorded_commands_gives_same_digest() {
    let cmds = stream(SYM, 1, 5_000, 12345);
    let journal: String = cmds
        .iter()
        .map(|c| serde_json::to_string(c).expect("commands serialize") + "\n")
        .collect();

    let mut live = matching::OrderBook::new(SYM, instrument("TEST"));
    let mut live_events = Vec::new();
    for cmd in &cmds {
        live.execute(cmd, &mut live_events);
    }
    assert!(live.last_trade_id() > 100, "stream should trade");
    assert!(live.open_orders() > 0, "stream should leave a book");

    let mut replayed = matching::OrderBook::new(SYM, instrument("TEST"));
    let mut replay_events = Vec::new();
    for line in journal.lines() {
        let cmd: Command = serde_json::from_str(line).expect("journal line parses");
        replayed.execute(&cmd, &mut replay_events);
    }
    assert_eq!(replay_events, live_events);
    assert_eq!(replayed.digest(), live.digest());
    assert_eq!(snapshot(&replayed), snapshot(&live));
}

/// A raw mutex that counts lock calls on the locking thread: stands in for the
/// contention-profiling mutex that the services plug in, proving `R` really is generic.
struct CountingRawMutex {
    inner: parking_lot::RawMutex,
}

thread_local! {
    static LOCKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: every operation is delegated to parking_lot's RawMutex, which upholds the contract;
// the counter is only a side effect.
unsafe impl lock_api::RawMutex for CountingRawMutex {
    const INIT: Self = CountingRawMutex {
        inner: <parking_lot::RawMutex as lock_api::RawMutex>::INIT,
    };
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        LOCKS.with(|n| n.set(n.get() + 1));
        self.inner.lock();
    }

    fn try_lock(&self) -> bool {
        self.inner.try_lock()
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock, as `RawMutex::unlock` requires.
        unsafe { self.inner.unlock() }
    }
}

#[test]
fn custom_raw_mutex_plugs_in_and_each_command_locks_once() {
    for mode in MODES {
        let ex: Exchange<CountingRawMutex> = Exchange::new(instruments(2), mode);
        let cmds = stream(SymbolId(1), 1, 500, 5);
        let mut events = Vec::new();
        let before = LOCKS.with(std::cell::Cell::get);
        for cmd in &cmds {
            ex.execute(cmd, &mut events);
        }
        let locks = LOCKS.with(std::cell::Cell::get) - before;
        assert_eq!(locks, cmds.len(), "{mode:?}");
        let book = ex.lock_book(SymbolId(1)).expect("book 1");
        assert!(book.last_trade_id() > 0);
    }
}
