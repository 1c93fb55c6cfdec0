//! Multi-threaded throughput of [`Exchange`] in both locking modes: 1, 2 and 4 threads
//! submitting a 70/20/10 GTC/cancel/market mix over 8 symbols (books held near 1k orders),
//! each command for a random symbol. Total work is fixed (split across threads), so perfect scaling halves the time.
//!
//! `cargo bench -p matching --bench exchange_threads [-- ROUNDS]`
//!
//! Per-symbol locking should scale with cores; global locking serializes everything and, with
//! more threads than cores, adds lock hand-off cost — which is the point of keeping it.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::streams::{instrument, BenchCmd, Generator, Rng, MID};
use matching::{Exchange, LockingMode, OrderBook, Side, SymbolId, TimeInForce};

const SYMBOLS: u32 = 8;
const TOTAL: usize = 2_000_000;

/// Which symbols a thread sends commands for.
#[derive(Clone, Copy)]
enum Routing {
    /// Every thread trades every symbol (threads meet on every book).
    Random,
    /// Thread `t` of `T` trades only symbols `s` with `s % T == t` (no book is shared).
    Sharded { threads: u64 },
}

/// One thread's commands: a generator per symbol (its own id range), interleaved at random.
fn thread_stream(thread: u64, n: usize, routing: Routing) -> Vec<BenchCmd> {
    let symbols: Vec<usize> = match routing {
        Routing::Random => (0..SYMBOLS as usize).collect(),
        Routing::Sharded { threads } => (0..SYMBOLS as usize)
            .filter(|s| *s as u64 % threads == thread)
            .collect(),
    };
    let mut gens: Vec<Generator> = (0..SYMBOLS)
        .map(|s| {
            let first_id = (thread * u64::from(SYMBOLS) + u64::from(s)) << 32;
            Generator::new(1000 + thread * 31 + u64::from(s), SymbolId(s), first_id)
        })
        .collect();
    let mut pick = Rng::new(7 + thread);
    for _ in 0..n {
        let g = &mut gens[symbols[pick.below(symbols.len() as u64) as usize]];
        let r = g.rng.below(100);
        // Hold each book near 1k resting orders (a cancel instead of a GTC above that), so the
        // run measures a steady exchange rather than ever-growing books.
        if r < 70 && g.live() > 1000 {
            g.cancel_random();
        } else if r < 70 {
            let side = g.rng.side();
            let off = g.rng.below(24);
            let p = match side {
                Side::Buy => MID - 20 + off,
                Side::Sell => MID + 20 - off,
            };
            let q = 1 + g.rng.below(100);
            g.limit(side, p, q, TimeInForce::Gtc);
        } else if r < 90 {
            if !g.cancel_random() {
                let side = g.rng.side();
                g.limit(side, MID, 10, TimeInForce::Gtc);
            }
        } else {
            let side = g.rng.side();
            let q = 1 + g.rng.below(150);
            g.market(side, q);
        }
    }
    // Merge the per-symbol commands back in generation order: replaying the same symbol picks
    // from the same seed reproduces it exactly.
    let mut per_symbol: Vec<std::vec::IntoIter<BenchCmd>> =
        gens.iter_mut().map(|g| g.take().into_iter()).collect();
    let mut pick = Rng::new(7 + thread);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = symbols[pick.below(symbols.len() as u64) as usize];
        if let Some(c) = per_symbol[s].next() {
            out.push(c);
        }
    }
    out
}

/// Wall time for `threads` threads to run their streams against a fresh exchange.
fn run(mode: LockingMode, streams: &[Arc<Vec<BenchCmd>>]) -> f64 {
    let instruments = (0..SYMBOLS).map(|s| instrument(&format!("S{s}"))).collect();
    let exchange: Arc<Exchange> = Arc::new(Exchange::new(instruments, mode));
    let barrier = Arc::new(Barrier::new(streams.len() + 1));
    let handles: Vec<_> = streams
        .iter()
        .map(|cmds| {
            let (exchange, barrier, cmds) = (exchange.clone(), barrier.clone(), cmds.clone());
            std::thread::spawn(move || {
                let mut events = Vec::with_capacity(256);
                barrier.wait();
                for c in cmds.iter() {
                    events.clear();
                    exchange.execute(&c.cmd, &mut events);
                }
            })
        })
        .collect();
    // Clock first: a worker may run to completion before this thread is scheduled again.
    let start = Instant::now();
    barrier.wait();
    for h in handles {
        h.join().expect("bench thread");
    }
    start.elapsed().as_secs_f64()
}

/// Baseline: one thread, the same commands straight into 8 `OrderBook`s, no lock at all.
fn run_unlocked(cmds: &[BenchCmd]) -> f64 {
    let mut books: Vec<OrderBook> = (0..SYMBOLS)
        .map(|s| OrderBook::new(SymbolId(s), instrument(&format!("S{s}"))))
        .collect();
    let mut events = Vec::with_capacity(256);
    let start = Instant::now();
    for c in cmds {
        events.clear();
        if let Some(book) = books.get_mut(c.cmd.symbol().0 as usize) {
            book.execute(&c.cmd, &mut events);
        }
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` run one small smoke round.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if bench_mode {
        std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(5)
    } else {
        1
    };
    let total = if bench_mode { TOTAL } else { 8_000 };
    if !bench_mode {
        println!("smoke run under `cargo test` (debug build, tiny input): not a measurement");
    }
    println!("| mode | threads | commands | median Mcmd/s | best Mcmd/s | median ns/cmd (wall) |");
    println!("|---|---|---|---|---|---|");
    {
        let cmds = thread_stream(0, total, Routing::Random);
        let mut secs: Vec<f64> = (0..rounds).map(|_| run_unlocked(&cmds)).collect();
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        println!(
            "| no lock (8 bare OrderBooks) | 1 | {} | {:.2} | {:.2} | {:.0} |",
            cmds.len(),
            cmds.len() as f64 / median / 1e6,
            cmds.len() as f64 / secs[0] / 1e6,
            median * 1e9 / cmds.len() as f64
        );
    }
    for threads in [1usize, 2, 4] {
        let per = total / threads;
        for (label, routing) in [
            ("random symbols", Routing::Random),
            (
                "sharded symbols",
                Routing::Sharded {
                    threads: threads as u64,
                },
            ),
        ] {
            if threads == 1 && label == "sharded symbols" {
                continue;
            }
            let streams: Vec<Arc<Vec<BenchCmd>>> = (0..threads as u64)
                .map(|t| Arc::new(thread_stream(t, per, routing)))
                .collect();
            let total: usize = streams.iter().map(|s| s.len()).sum();
            for mode in [LockingMode::PerSymbol, LockingMode::Global] {
                let mut secs: Vec<f64> = (0..rounds).map(|_| run(mode, &streams)).collect();
                secs.sort_by(f64::total_cmp);
                let median = secs[secs.len() / 2];
                println!(
                    "| {:?}, {} | {} | {} | {:.2} | {:.2} | {:.0} |",
                    mode,
                    label,
                    threads,
                    total,
                    total as f64 / median / 1e6,
                    total as f64 / secs[0] / 1e6,
                    median * 1e9 / total as f64
                );
            }
        }
    }
}
