//! The heap profile shows the service, not the profiler: `pprof-demo` on a free port, every
//! profile type fetched twice, then `go tool pprof` reads heap and allocs and the profiler's
//! share of the bytes (stacks through http_pprof, backtrace, gimli, addr2line, object) must stay
//! under 5%, and the service's RSS may grow by less than 20 MB.

#![allow(clippy::unwrap_used)]

mod heap_support;

use std::time::Duration;

use heap_support::{have_go, is_profiler_function, pprof_raw, type_index, Demo, TempFile};

/// Every endpoint a scrape of all profile types touches.
const EVERY_TYPE: &[&str] = &[
    "/debug/pprof/",
    "/debug/pprof/profile?seconds=1",
    "/debug/pprof/heap",
    "/debug/pprof/heap?debug=1",
    "/debug/pprof/allocs",
    "/debug/pprof/allocs?debug=1",
    "/debug/pprof/goroutine",
    "/debug/pprof/goroutine?debug=1",
    "/debug/pprof/goroutine?debug=2",
    "/debug/pprof/mutex",
    "/debug/pprof/mutex?debug=1",
    "/debug/pprof/block",
    "/debug/pprof/block?debug=1",
    "/debug/pprof/threadcreate",
    "/debug/pprof/threadcreate?debug=1",
];

/// (profiler bytes, all bytes) of sample type `index`.
fn profiler_share(samples: &[heap_support::RawSample], index: usize) -> (i64, i64) {
    samples.iter().fold((0, 0), |(ours, all), s| {
        let v = s.values[index];
        let profiler = s.functions.iter().any(|f| is_profiler_function(f));
        (ours + if profiler { v } else { 0 }, all + v)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiler_is_a_small_bounded_part_of_heap_and_allocs() {
    if !have_go() {
        return;
    }
    let demo = Demo::start();
    // Let the demo reach its steady state (32 MiB retained, churn running).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rss_before = demo.rss_bytes();
    // The first snapshot of a fresh service already shows its memory.
    let first = TempFile::write("first-heap.pb.gz", &demo.get("/debug/pprof/heap").await);
    let (types, samples) = pprof_raw(&first.0);
    let inuse = type_index(&types, "inuse_space");
    let first_total: i64 = samples.iter().map(|s| s.values[inuse]).sum();
    assert!(
        first_total > 16 << 20,
        "first heap snapshot shows {first_total} bytes in use; the demo retains 32 MiB"
    );

    let scrape = async {
        for _ in 0..2 {
            for path in EVERY_TYPE {
                demo.get(path).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), scrape)
        .await
        .expect("fetching every profile type twice took over 180 s");
    // The symboliser drops its caches once idle; give it that time and a margin.
    tokio::time::sleep(http_pprof::symbolize::IDLE_DROP + Duration::from_secs(2)).await;
    let rss_after = demo.rss_bytes();
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!("RSS {} MB -> {} MB", rss_before >> 20, rss_after >> 20);
    assert!(
        growth < 20 << 20,
        "RSS grew by {} MB while serving profiles ({} -> {} bytes)",
        growth >> 20,
        rss_before,
        rss_after
    );

    for (path, sample_type) in [
        ("/debug/pprof/heap", "inuse_space"),
        ("/debug/pprof/allocs", "alloc_space"),
    ] {
        let file = TempFile::write("share.pb.gz", &demo.get(path).await);
        let (types, samples) = pprof_raw(&file.0);
        let (ours, all) = profiler_share(&samples, type_index(&types, sample_type));
        let share = ours as f64 / all.max(1) as f64;
        eprintln!(
            "{path} {sample_type}: profiler {ours} of {all} bytes ({:.2}%)",
            share * 100.0
        );
        assert!(all > 0, "{path} is empty");
        assert!(
            share < 0.05,
            "the profiler is {:.1}% of {sample_type} in {path}",
            share * 100.0
        );
    }
}
