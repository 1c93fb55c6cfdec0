//! Writes one real Rust CPU profile per case with the stock `pprof` crate (pprof-rs,
//! frame-pointer unwinder, as a user's program would use it), each taken while a workload with a
//! known dominant cause ran. Run once by `../generate.sh`:
//!
//! ```text
//! cargo run -p profile-tools --example real_profiles -- sha2-digest out.pb.gz
//! ```
//!
//! The profile is encoded as profile.proto the way pprof-rs' `prost-codec` feature does (see
//! `tests/common/hotspots.rs`), because the workspace leaves that feature off. Function names
//! differ from the committed `rust_cpu_*` fixtures on purpose: the analyzer must recognise the
//! kind of work by its libraries, not by names it has seen.

#[path = "../../common/hotspots.rs"]
mod hotspots;

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Sampling rate: pprof-rs users pick their own; 997 Hz gets enough samples from 3 s on a
/// busy machine (and differs from our services' 99 Hz).
const FREQUENCY: i32 = 997;
const DURATION: Duration = Duration::from_secs(3);

fn until(end: Instant, mut f: impl FnMut(u64)) {
    let mut i = 0u64;
    while Instant::now() < end {
        for _ in 0..16 {
            f(i);
            i += 1;
        }
    }
}

/// Hashes archive blocks with `Sha256::digest`.
fn seal_archive_blocks(end: Instant) {
    let block = vec![0x5au8; 64 * 1024];
    until(end, |i| {
        let d = Sha256::digest(&block);
        black_box((d[0], i));
    });
}

/// Streams a payload into SHA-256 through `std::io::copy` (sha2 implements `io::Write`).
fn checksum_upload(end: Instant) {
    let payload = vec![7u8; 256 * 1024];
    until(end, |_| {
        let mut hasher = Sha256::new();
        let mut reader = &payload[..];
        std::io::copy(&mut reader, &mut hasher).expect("copy into hasher");
        black_box(hasher.finalize());
    });
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Position {
    account: String,
    instrument: String,
    quantity: i64,
    average_price: f64,
    tags: Vec<String>,
}

fn positions() -> Vec<Position> {
    (0..200)
        .map(|i| Position {
            account: format!("acct-{i}"),
            instrument: "ES-2026-12".into(),
            quantity: i,
            average_price: 4321.25 + i as f64 / 8.0,
            tags: vec!["desk-a".into(), "hedge".into()],
        })
        .collect()
}

/// Encodes a positions snapshot to JSON bytes.
fn export_positions(end: Instant) {
    let all = positions();
    until(end, |_| {
        black_box(serde_json::to_vec(&all).expect("encode"));
    });
}

/// Parses untyped JSON messages into `serde_json::Value`.
fn read_webhooks(end: Instant) {
    let text = serde_json::to_string(&positions()).expect("encode");
    until(end, |_| {
        let v: serde_json::Value = serde_json::from_str(&text).expect("decode");
        black_box(v);
    });
}

/// Builds a validation regex per call.
fn check_instrument_code(end: Instant) {
    until(end, |i| {
        let re = regex::Regex::new(r"^[A-Z]{1,4}-(\d{4})-(0[1-9]|1[0-2])(-[CP]\d+)?$").expect("re");
        black_box(re.is_match(if i % 2 == 0 { "ES-2026-12" } else { "bad" }));
    });
}

/// Pulls fields out of access-log lines with a precompiled regex.
fn parse_access_log(end: Instant) {
    let re = regex::Regex::new(
        r#"(\d+\.\d+\.\d+\.\d+) - - \[([^\]]+)\] "(\w+) ([^ ]+) HTTP/1\.1" (\d{3}) (\d+)"#,
    )
    .expect("re");
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "10.0.{}.{} - - [02/Dec/2026:10:00:{:02} +0000] \"GET /api/v1/items/{i} HTTP/1.1\" 200 {}\nnoise line without a match {i}\n",
            i % 255,
            i % 7,
            i % 60,
            i * 13
        ));
    }
    until(end, |_| {
        black_box(re.captures_iter(&text).count());
    });
}

/// Renders a statement line by line with `format!`.
fn render_statement(end: Instant) {
    until(end, |i| {
        let line = format!(
            "{:<10}|{:>14.6}|{:>10}|{:?}",
            "ACME",
            i as f64 / 3.0,
            i,
            (i % 3, "x")
        );
        black_box(line);
    });
}

/// Collects ticks into a vector that grows from empty each time.
fn collect_ticks(end: Instant) {
    until(end, |i| {
        let mut ticks = Vec::new();
        for t in 0..(512 + i % 512) {
            ticks.push(t * 3);
        }
        black_box(ticks);
    });
}

/// Clones subscriber name lists for every message.
fn fan_out_names(end: Instant) {
    let names: Vec<String> = (0..64).map(|i| format!("subscriber-{i:04}-feed")).collect();
    until(end, |_| {
        let copy = names.clone();
        black_box(copy);
    });
}

/// Four threads increment counters behind one `parking_lot::Mutex`.
fn record_fills(end: Instant) {
    let shared = Arc::new(parking_lot::Mutex::new(vec![0u64; 16]));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                until(end, |i| {
                    let mut g = shared.lock();
                    g[(i as usize + t) % 16] += 1;
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

/// Writers and readers on one `std::sync::RwLock`.
fn refresh_prices(end: Instant) {
    let prices = Arc::new(RwLock::new(vec![0u64; 32]));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let prices = Arc::clone(&prices);
            std::thread::spawn(move || {
                until(end, |i| {
                    if t % 2 == 0 {
                        prices.write().expect("lock")[(i % 32) as usize] = i;
                    } else {
                        black_box(prices.read().expect("lock")[(i % 32) as usize]);
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

/// A write-ahead log: a writer thread (started through a boxed closure) appends each record and
/// syncs it to disk before the next, optionally through a `BufWriter`.
struct WriteAheadLog {
    file: std::fs::File,
}

impl WriteAheadLog {
    fn append_durably(&mut self, record: &[u8]) {
        self.file.write_all(record).expect("write");
        self.file.sync_data().expect("fdatasync");
    }
}

fn wal_thread(end: Instant, buffered: bool) {
    let dir = std::env::temp_dir().join(format!("real-profiles-wal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("wal.log");
    let job: Box<dyn FnOnce() + Send> = if buffered {
        let path = path.clone();
        Box::new(move || {
            let file = std::fs::File::create(&path).expect("create");
            let mut out = BufWriter::new(file);
            until(end, |i| {
                out.write_all(&[b'r'; 96]).expect("write");
                if i % 8 == 0 {
                    out.flush().expect("flush");
                    out.get_ref().sync_data().expect("fdatasync");
                }
            });
        })
    } else {
        let path = path.clone();
        Box::new(move || {
            let mut log = WriteAheadLog {
                file: std::fs::File::create(&path).expect("create"),
            };
            until(end, |_| log.append_durably(&[b'r'; 96]));
        })
    };
    std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(job)
        .expect("spawn")
        .join()
        .expect("join");
    let _ = std::fs::remove_dir_all(dir);
}

/// Counts orders per client id in a `HashMap<String, u64>` (SipHash).
fn tally_clients(end: Instant) {
    let ids: Vec<String> = (0..8192)
        .map(|i| format!("client-{i:06}-eu-west"))
        .collect();
    let mut counts: HashMap<String, u64> = HashMap::new();
    until(end, |i| {
        *counts.entry(ids[(i % 8192) as usize].clone()).or_default() += 1;
        black_box(counts.get(&ids[((i * 13) % 8192) as usize]));
    });
}

/// Checksums packets with crc32fast.
fn verify_packets(end: Instant) {
    let packet = vec![0xa5u8; 32 * 1024];
    until(end, |_| {
        black_box(crc32fast::hash(&packet));
    });
}

/// Many tiny tokio tasks on a multi-thread runtime.
fn relay_ticks(end: Instant) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async move {
        while Instant::now() < end {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
            let producer = tokio::spawn(async move {
                for i in 0..256 {
                    if tx.send(i).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(v) = rx.recv().await {
                black_box(v);
            }
            producer.await.expect("task");
        }
    });
}

fn run(name: &str) -> Option<()> {
    let end = Instant::now() + DURATION;
    match name {
        "sha2-digest" => seal_archive_blocks(end),
        "sha2-io-write" => checksum_upload(end),
        "serde-json-encode" => export_positions(end),
        "serde-json-value" => read_webhooks(end),
        "regex-compile" => check_instrument_code(end),
        "regex-find" => parse_access_log(end),
        "format-heavy" => render_statement(end),
        "vec-growth" => collect_ticks(end),
        "string-clone" => fan_out_names(end),
        "parking-lot-contention" => record_fills(end),
        "rwlock-contention" => refresh_prices(end),
        "journal-fdatasync" => wal_thread(end, false),
        "journal-bufwriter" => wal_thread(end, true),
        "siphash-map" => tally_clients(end),
        "crc32-checksum" => verify_packets(end),
        "tokio-tiny-tasks" => relay_ticks(end),
        _ => return None,
    }
    Some(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: real_profiles CASE OUTPUT.pb.gz".into());
    };
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .build()?;
    run(&name).ok_or_else(|| format!("unknown case {name}"))?;
    let report = guard.report().build()?;
    let bytes = hotspots::encode_report(&report);
    profile_tools::files::write_atomically(std::path::Path::new(&out), &bytes)?;
    println!("{out}: {} bytes", bytes.len());
    Ok(())
}
