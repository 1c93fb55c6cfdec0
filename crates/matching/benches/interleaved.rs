//! Noise-resistant companion to `books`: runs the three books on each stream in interleaved
//! rounds (ours, lobster, rust-order-book, ours, ...) so all see the same background load, and
//! reports the minimum and median ns per command over the rounds. Used on the shared, busy
//! build machine where criterion's absolute numbers drift between groups.
//!
//! `cargo bench -p matching --bench interleaved [-- ROUNDS]`

mod common;

use std::time::Instant;

use common::peers::{BenchBook, Lobster, Ours, RustOrderBook};
use common::streams::{self, Stream};

const BODY: usize = 20_000;

/// One timed pass of the body on a freshly prefilled book; ns per command.
fn pass<B: BenchBook>(s: &Stream) -> f64 {
    let mut book = B::create(s.max_id);
    for c in &s.prefill {
        book.apply(c);
    }
    let start = Instant::now();
    for c in &s.body {
        book.apply(c);
    }
    let ns = start.elapsed().as_nanos() as f64 / s.body.len() as f64;
    drop(book);
    ns
}

fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` run one small smoke round.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if bench_mode {
        std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(30)
    } else {
        1
    };
    let body = if bench_mode { BODY } else { 1_000 };
    if !bench_mode {
        println!("smoke run under `cargo test` (debug build, tiny input): not a measurement");
    }
    println!("| stream | simex min / median | lobster min / median | rust-order-book min / median | simex ÷ best peer (median) |");
    println!("|---|---|---|---|---|");
    for s in streams::all(body) {
        let (mut ours, mut lob, mut rob) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours.push(pass::<Ours>(&s));
            lob.push(pass::<Lobster>(&s));
            rob.push(pass::<RustOrderBook>(&s));
        }
        let (o, l, r) = (summary(ours), summary(lob), summary(rob));
        println!(
            "| {} | {:.0} / {:.0} ns | {:.0} / {:.0} ns | {:.0} / {:.0} ns | {:.2} |",
            s.name,
            o.0,
            o.1,
            l.0,
            l.1,
            r.0,
            r.1,
            o.1 / l.1.min(r.1)
        );
    }
}
