//! Small Rust workloads, each one a known hotspot of one category, and a CPU profile capture
//! of them with the `pprof` crate (the same profiler our services use). Shared by the hotspot
//! test and the `capture_hotspot` example that wrote the committed Rust fixture.

#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use profile_tools::categories::Category;

/// A quote as a service would send it, for the serialization workload.
#[derive(serde::Serialize, serde::Deserialize)]
struct Quote {
    symbol: String,
    bid: f64,
    ask: f64,
    sizes: Vec<u64>,
}

/// Runs `f` repeatedly until `d` has passed.
fn for_duration(d: Duration, mut f: impl FnMut(u64)) {
    let end = Instant::now() + d;
    let mut i = 0u64;
    while Instant::now() < end {
        for _ in 0..64 {
            f(i);
            i += 1;
        }
    }
}

/// JSON encode + decode in a loop.
pub fn serialization_hotspot(d: Duration) {
    for_duration(d, |i| {
        let q = Quote {
            symbol: "BTC-USD".to_owned(),
            bid: 42_000.5 + i as f64,
            ask: 42_001.0,
            sizes: vec![1, 2, 3, i],
        };
        let text = serde_json::to_string(&q).expect("serialize");
        let back: Quote = serde_json::from_str(&text).expect("deserialize");
        black_box(back);
    });
}

/// Compiling a regex per iteration (the classic mistake).
pub fn regex_hotspot(d: Duration) {
    for_duration(d, |_| {
        let re = regex::Regex::new(r"^(BTC|ETH|SOL)-(USD|EUR)\s+(\d+)@(\d+\.\d+)$").expect("regex");
        black_box(re.is_match("ETH-USD 12@3012.25"));
    });
}

/// Four threads hammering one std mutex.
pub fn lock_hotspot(d: Duration) {
    let shared = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for_duration(d, |_| {
                    let mut g = shared.lock().expect("not poisoned");
                    *g = black_box(*g + 1);
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("worker");
    }
}

/// Allocation churn: vectors of varying size, allocated and freed.
pub fn memory_hotspot(d: Duration) {
    for_duration(d, |i| {
        let v: Vec<u64> = Vec::with_capacity(16 + (i % 2048) as usize);
        black_box(v);
        let b = vec![0u8; 64 + (i % 4096) as usize];
        black_box(b);
    });
}

/// `format!` and `to_string` of numbers.
pub fn formatting_hotspot(d: Duration) {
    let mut out = String::new();
    for_duration(d, |i| {
        out.clear();
        use std::fmt::Write as _;
        let _ = write!(out, "{:>12.4} {:?} {:x}", i as f64 / 3.0, (i, i * 2), i);
        black_box(&out);
    });
}

/// SipHash-keyed map lookups with string keys.
pub fn hashing_hotspot(d: Duration) {
    let keys: Vec<String> = (0..4096).map(|i| format!("order-{i:08}-BTC-USD")).collect();
    let mut map: HashMap<&str, u64> = HashMap::new();
    for_duration(d, |i| {
        let k = keys[(i % 4096) as usize].as_str();
        *map.entry(k).or_default() += 1;
        black_box(map.get(keys[((i * 7) % 4096) as usize].as_str()));
    });
}

/// Every workload with the category the analyzer must name for it.
pub const HOTSPOTS: [(&str, fn(Duration), Category); 6] = [
    ("serialization", serialization_hotspot, Category::Serialization),
    ("regex", regex_hotspot, Category::Regex),
    ("lock", lock_hotspot, Category::LockContention),
    ("memory", memory_hotspot, Category::Memory),
    ("formatting", formatting_hotspot, Category::FormattingAndDispatch),
    ("hashing", hashing_hotspot, Category::Hashing),
];

/// Captures a CPU profile of `work` with the pprof crate and returns it gzip'd, as the
/// services' `/debug/pprof/profile` would.
pub fn capture_cpu(work: fn(Duration), d: Duration) -> Vec<u8> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(997)
        .build()
        .expect("start profiler");
    work(d);
    let report = guard.report().build().expect("build report");
    let profile = report.pprof().expect("pprof profile");
    let mut raw = Vec::new();
    pprof::protos::Message::encode(&profile, &mut raw).expect("encode");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip finish")
}
