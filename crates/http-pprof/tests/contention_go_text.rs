//! mutex, block and threadcreate as `go tool pprof` reads them: a known workload in this process
//! (one holder and one waiter per lock hand-off, condition-variable and channel waits, threads
//! spawned from a named function), served by `http_pprof::router` on 127.0.0.1, then
//! - the binary profile charges mutex delay to the holder and block delay to the waiter (Go's
//!   semantics), and threadcreate names the creating function;
//! - `go tool pprof` accepts the `debug=1` text of each and finds the same totals in it as in the
//!   binary profile of the same capture (the text carries recorded values, pprof scales them).
//!
//! SKIPs without `go`, but fails when `CI` is set.

#![allow(clippy::unwrap_used)]

mod go_tool;
use go_tool::{go_pprof, have_go};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use contention::{Condvar, Mutex};

/// Hand-offs of the book lock; each hold is `HOLD`.
const ROUNDS: u32 = 30;
const HOLD: Duration = Duration::from_millis(10);
/// The mutex fraction served: 1 in 2 charged unlocks recorded, binary values scaled by 2.
const FRACTION: u64 = 2;

/// Takes the lock, lets the waiter queue behind it, holds it for `HOLD`, releases it here.
#[inline(never)]
fn hold_book(book: &Mutex<u64>, queued: &Barrier) {
    let mut guard = book.lock();
    queued.wait();
    std::thread::sleep(HOLD);
    *guard += 1;
    drop(guard);
}

/// Waits for the lock the holder has, then releases it at once (nobody waits for it then).
#[inline(never)]
fn wait_for_book(book: &Mutex<u64>, queued: &Barrier) {
    queued.wait();
    // Give the holder's `queued.wait()` time to return, so we really block in `lock()`.
    std::thread::sleep(Duration::from_millis(1));
    *book.lock() += 1;
}

/// Waits on a condition variable until a flag is set.
#[inline(never)]
fn wait_for_signal(state: &(Mutex<bool>, Condvar)) {
    let mut ready = state.0.lock();
    while !*ready {
        state.1.wait(&mut ready);
    }
    *ready = false;
}

/// Waits for a channel message.
#[inline(never)]
async fn wait_for_message(rx: &mut tokio::sync::mpsc::Receiver<u32>) -> Option<u32> {
    contention::blocked(rx.recv()).await
}

/// Creates three threads from here.
#[inline(never)]
fn spawn_worker_threads() {
    let handles: Vec<_> = (0..3).map(|_| std::thread::spawn(|| ())).collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn run_workload() {
    let book = Arc::new(Mutex::new(0_u64));
    for _ in 0..ROUNDS {
        let queued = Arc::new(Barrier::new(2));
        let waiter = {
            let (book, queued) = (Arc::clone(&book), Arc::clone(&queued));
            std::thread::spawn(move || wait_for_book(&book, &queued))
        };
        hold_book(&book, &queued);
        waiter.join().unwrap();
    }
    assert_eq!(*book.lock(), u64::from(ROUNDS) * 2);

    let signal = Arc::new((Mutex::new(false), Condvar::new()));
    for _ in 0..5 {
        let notifier = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                *signal.0.lock() = true;
                signal.1.notify_one();
            })
        };
        wait_for_signal(&signal);
        notifier.join().unwrap();
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for i in 0..5 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.send(i).await.unwrap();
            }
        });
        while wait_for_message(&mut rx).await.is_some() {}
    });
    spawn_worker_threads();
}

/// Per-column sums of the samples in `go tool pprof -raw` output.
fn raw_totals(raw: &str) -> Vec<i64> {
    let mut totals: Vec<i64> = Vec::new();
    let mut in_samples = false;
    for line in raw.lines() {
        if line.starts_with("Samples:") {
            in_samples = true;
            continue;
        }
        if in_samples && (line.starts_with("Locations") || line.starts_with("Mappings")) {
            break;
        }
        let Some((values, _)) = line.split_once(':') else {
            continue;
        };
        let parsed: Option<Vec<i64>> = values.split_whitespace().map(|v| v.parse().ok()).collect();
        match parsed {
            Some(v) if in_samples && !v.is_empty() => {
                totals.resize(v.len().max(totals.len()), 0);
                for (t, x) in totals.iter_mut().zip(v) {
                    *t += x;
                }
            }
            _ => {}
        }
    }
    totals
}

/// `-top` rows whose function name contains `name`: their flat+cum text, or None.
fn top_row<'a>(top: &'a str, name: &str) -> Option<&'a str> {
    top.lines().find(|l| l.contains(name))
}

struct Served {
    base: String,
    client: reqwest::Client,
    /// Drives the client's requests from this synchronous test.
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
}

impl Served {
    fn get(&self, path: &str) -> Vec<u8> {
        self.rt.block_on(async {
            let response = self
                .client
                .get(format!("{}{}", self.base, path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert_eq!(response.status().as_u16(), 200, "GET {path}");
            response.bytes().await.unwrap().to_vec()
        })
    }

    /// The text and binary forms of one capture: text fetched before and after the binary must
    /// be identical, or the workload was still changing the profile and we fetch again.
    fn capture(&self, name: &str) -> (String, PathBuf, PathBuf) {
        for _ in 0..20 {
            let before = self.get(&format!("/debug/pprof/{name}?debug=1"));
            let binary = self.get(&format!("/debug/pprof/{name}"));
            let after = self.get(&format!("/debug/pprof/{name}?debug=1"));
            if before == after {
                let text_path = self.dir.join(format!("{name}.txt"));
                let bin_path = self.dir.join(format!("{name}.pb.gz"));
                std::fs::write(&text_path, &before).unwrap();
                std::fs::write(&bin_path, &binary).unwrap();
                return (String::from_utf8(before).unwrap(), text_path, bin_path);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{name} never held still for two fetches");
    }
}

fn serve() -> Served {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config = http_pprof::PprofConfig {
                mutex_profile_fraction: Some(FRACTION),
                block_profile_rate: Some(1),
                ..http_pprof::PprofConfig::default()
            };
            let app: axum::Router = http_pprof::router(config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let dir = std::env::temp_dir().join(format!("http-pprof-contention-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Served {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        dir,
    }
}

#[test]
fn go_pprof_reads_mutex_block_and_threadcreate_text_with_the_binary_totals() {
    if !have_go() {
        return;
    }
    let served = serve();
    // The router sets the sampling when it is built; make sure it is before the workload.
    served.get("/debug/pprof/");
    run_workload();

    // mutex: Go's header, recorded values in the text, binary scaled by the fraction.
    let (text, text_path, bin_path) = served.capture("mutex");
    assert!(
        text.starts_with(&format!(
            "--- mutex:\ncycles/second=1000000000\nsampling period={FRACTION}\n"
        )),
        "{text}"
    );
    let from_text = raw_totals(&go_pprof(&["-raw"], &text_path));
    let from_binary = raw_totals(&go_pprof(&["-raw"], &bin_path));
    assert_eq!(from_text, from_binary, "mutex totals differ\n{text}");
    let text_delay: i64 = text
        .lines()
        .filter(|l| l.contains(" @ "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(text_delay * FRACTION as i64, from_binary[1]);
    // Held 30 x 10 ms; 1 in 2 hand-offs sampled and scaled by 2: an estimate of 300 ms.
    let held = i64::from(ROUNDS) * HOLD.as_nanos() as i64;
    assert!(
        from_binary[1] > held / 3 && from_binary[1] < held * 3,
        "mutex delay {} ns for {held} ns held",
        from_binary[1]
    );
    let top = go_pprof(&["-top"], &bin_path);
    assert!(
        top_row(&top, "hold_book").is_some(),
        "holder missing:\n{top}"
    );
    assert!(
        top_row(&top, "wait_for_book").is_none(),
        "the mutex profile charged the waiter:\n{top}"
    );

    // block: Go's `--- contention:` header, waiters charged.
    let (text, text_path, bin_path) = served.capture("block");
    assert!(
        text.starts_with("--- contention:\ncycles/second=1000000000\n"),
        "{text}"
    );
    let from_text = raw_totals(&go_pprof(&["-raw"], &text_path));
    let from_binary = raw_totals(&go_pprof(&["-raw"], &bin_path));
    assert_eq!(from_text, from_binary, "block totals differ\n{text}");
    let top = go_pprof(&["-top", "-sample_index=delay"], &bin_path);
    for waiter in ["wait_for_book", "wait_for_signal", "wait_for_message"] {
        assert!(top_row(&top, waiter).is_some(), "{waiter} missing:\n{top}");
    }
    assert!(
        top_row(&top, "hold_book").is_none(),
        "the block profile charged the holder:\n{top}"
    );
    // The waiter queued ~10 ms per hand-off, the condvar and channel waits ~20 ms each.
    assert!(from_binary[1] >= held / 2 + 2 * 5 * 15_000_000, "{top}");

    // threadcreate: Go's `threadcreate profile: total N`, creation stacks.
    let (text, text_path, bin_path) = served.capture("threadcreate");
    let total: i64 = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("threadcreate profile: total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad header:\n{text}"));
    let from_text = raw_totals(&go_pprof(&["-raw"], &text_path));
    let from_binary = raw_totals(&go_pprof(&["-raw"], &bin_path));
    assert_eq!(from_text, from_binary, "threadcreate totals differ\n{text}");
    assert_eq!(from_binary, vec![total]);
    let top = go_pprof(&["-top", "-cum"], &bin_path);
    let row =
        top_row(&top, "spawn_worker_threads").unwrap_or_else(|| panic!("creator missing:\n{top}"));
    let cum: i64 = row
        .split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad row {row}"));
    assert_eq!(cum, 3, "{top}");
    let _ = std::fs::remove_dir_all(&served.dir);
}
