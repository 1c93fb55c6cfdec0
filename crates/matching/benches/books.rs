//! Single-book latency: the same four command streams through our `OrderBook`, lobster and
//! rust-order-book. Reported per stream as time for the whole body; divide by the command count
//! (criterion prints it as throughput) for ns/op. See `BENCHMARKS.md`.

mod common;

use common::peers::{BenchBook, Lobster, Ours, RustOrderBook};
use common::streams::{self, Stream};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

/// Commands in each timed body.
const BODY: usize = 20_000;

fn bench_book<B: BenchBook>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    s: &Stream,
) {
    group.bench_function(BenchmarkId::from_parameter(B::NAME), |b| {
        b.iter_batched(
            || {
                let mut book = B::create(s.max_id);
                for c in &s.prefill {
                    book.apply(c);
                }
                book
            },
            |mut book| {
                for c in &s.body {
                    book.apply(c);
                }
                book
            },
            BatchSize::LargeInput,
        );
    });
}

/// Quantity traded over the body, to confirm every book executed the same stream.
fn traded<B: BenchBook>(s: &Stream) -> u64 {
    let mut book = B::create(s.max_id);
    for c in &s.prefill {
        book.apply(c);
    }
    s.body.iter().map(|c| book.apply_traded(c)).sum()
}

fn books(c: &mut Criterion) {
    for s in streams::all(BODY) {
        eprintln!(
            "stream {}: prefill {} cmds, body {} cmds, resting {} -> {} orders on {} levels, body submits {} of which {} traded",
            s.name,
            s.prefill.len(),
            s.body.len(),
            s.book_sizes.0,
            s.book_sizes.1,
            s.levels,
            s.submits,
            s.matching_submits
        );
        let traded = [
            traded::<Ours>(&s),
            traded::<Lobster>(&s),
            traded::<RustOrderBook>(&s),
        ];
        eprintln!("  traded qty in body (simex, lobster, rust-order-book): {traded:?}");
        let mut group = c.benchmark_group(s.name);
        group.throughput(Throughput::Elements(s.body.len() as u64));
        bench_book::<Ours>(&mut group, &s);
        bench_book::<Lobster>(&mut group, &s);
        bench_book::<RustOrderBook>(&mut group, &s);
        group.finish();
    }
}

criterion_group!(benches, books);
criterion_main!(benches);
