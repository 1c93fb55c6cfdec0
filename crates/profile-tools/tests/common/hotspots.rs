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
use profile_tools::proto;

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

/// Unbuffered small writes: one syscall each.
pub fn io_hotspot(d: Duration) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    let buf = [7u8; 64];
    for_duration(d, |_| f.write_all(&buf).expect("write"));
}

/// Many tiny tokio tasks that yield: the scheduler itself is the work.
pub fn runtime_hotspot(d: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::task::yield_now().await;
                        i
                    })
                })
                .collect();
            for t in tasks {
                black_box(t.await.expect("task"));
            }
        }
    });
}

/// A `tracing` event per iteration through the fmt subscriber (into a sink).
pub fn logging_hotspot(d: Duration) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for_duration(d, |i| {
            tracing::info!(order_id = i, symbol = "BTC-USD", "order accepted");
        });
    });
}

/// A named workload and the category the analyzer must name for it.
pub type Hotspot = (&'static str, fn(Duration), Category);

/// Every workload.
pub const HOTSPOTS: [Hotspot; 9] = [
    (
        "serialization",
        serialization_hotspot,
        Category::Serialization,
    ),
    ("regex", regex_hotspot, Category::Regex),
    ("lock", lock_hotspot, Category::LockContention),
    ("memory", memory_hotspot, Category::Memory),
    (
        "formatting",
        formatting_hotspot,
        Category::FormattingAndDispatch,
    ),
    ("hashing", hashing_hotspot, Category::Hashing),
    ("io", io_hotspot, Category::IoAndSyscalls),
    ("runtime", runtime_hotspot, Category::AsyncRuntime),
    ("logging", logging_hotspot, Category::Logging),
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
    encode_report(&report)
}

/// A pprof-rs report as gzip'd profile.proto.
pub fn encode_report(report: &pprof::Report) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(&to_proto(report));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip finish")
}

/// Encodes a pprof-rs report as profile.proto the way pprof-rs' own `prost-codec` does (which
/// the workspace leaves off because it pins an old prost): one location per symbol, leaf first,
/// sample types samples/count and cpu/nanoseconds.
fn to_proto(report: &pprof::Report) -> proto::Profile {
    let mut strings = vec![String::new()];
    let mut string_ids: HashMap<String, i64> = HashMap::new();
    let mut intern = |s: &str| -> i64 {
        if let Some(&id) = string_ids.get(s) {
            return id;
        }
        let id = strings.len() as i64;
        strings.push(s.to_owned());
        string_ids.insert(s.to_owned(), id);
        id
    };
    let mut functions: Vec<proto::Function> = Vec::new();
    let mut locations: Vec<proto::Location> = Vec::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut samples = Vec::new();
    let period = 1_000_000_000 / i64::from(report.timing.frequency);
    for (frames, &count) in &report.data {
        let mut location_id = Vec::new();
        for frame in &frames.frames {
            for symbol in frame {
                let name = symbol.name();
                let id = match ids.get(&name) {
                    Some(&id) => id,
                    None => {
                        let id = functions.len() as u64 + 1;
                        functions.push(proto::Function {
                            id,
                            name: intern(&name),
                            system_name: intern(&symbol.sys_name()),
                            filename: intern(&symbol.filename()),
                            start_line: 0,
                        });
                        locations.push(proto::Location {
                            id,
                            mapping_id: 0,
                            address: 0,
                            line: vec![proto::Line {
                                function_id: id,
                                line: i64::from(symbol.lineno()),
                                column: 0,
                            }],
                            is_folded: false,
                        });
                        ids.insert(name, id);
                        id
                    }
                };
                location_id.push(id);
            }
        }
        samples.push(proto::Sample {
            location_id,
            value: vec![count as i64, count as i64 * period],
            label: vec![],
        });
    }
    let samples_type = proto::ValueType {
        r#type: intern("samples"),
        unit: intern("count"),
    };
    let cpu_type = proto::ValueType {
        r#type: intern("cpu"),
        unit: intern("nanoseconds"),
    };
    proto::Profile {
        sample_type: vec![samples_type, cpu_type],
        sample: samples,
        location: locations,
        function: functions,
        string_table: strings,
        time_nanos: report
            .timing
            .start_time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64,
        duration_nanos: report.timing.duration.as_nanos() as i64,
        period_type: Some(cpu_type),
        period,
        ..Default::default()
    }
}
