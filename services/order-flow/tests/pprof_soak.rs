//! Soak: profiling never hurts the services (issue 11, item 10).
//!
//! The three services run with chaos faults active (trading-api: `slow-journal` and
//! `lock-contention`; market-sim and order-flow: `cpu-burn`) while `order-flow load` sends
//! orders; fetchers request every profile type in a loop (goroutine debug=0/1/2 dumps, heap,
//! allocs, mutex, block, threadcreate, symbol, and overlapping CPU profiles), and halfway
//! through trading-api is restarted (SIGTERM, wait, start again on the same data) with the
//! first goroutine dumps fired seconds after the restart, under `slow-journal`: the case that
//! once wedged it. Asserted throughout: every service answers `/health` within 1 s (except
//! trading-api between its deliberate stop and its `/ready`), no process dies, trading-api
//! exits promptly on SIGTERM, RSS stays bounded, and the goroutine dumps did succeed.
//!
//! Length: `SIMEX_SOAK_SECS` (default 60; `make soak-pprof` runs 300).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{sibling_binary, start_exchange, start_simulator, tool_available, Exchange};

/// Longest `/health` answer accepted.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);

/// RSS a service may grow by between the end of the warm-up (one fetch of every type: the
/// profiler's symbol caches are built) and the end of the run, both measured once the profiler
/// has been idle for [`IDLE_SETTLE`].
const RSS_GROWTH_LIMIT_KB: u64 = 160 * 1024;

/// The symbolizer drops its caches (debug info: hundreds of MB in a debug build) and purges them
/// from RSS 2 s after its last use; RSS is compared after this much quiet, so the test measures
/// what stays (a leak), not the working set of a fetch in progress.
const IDLE_SETTLE: Duration = Duration::from_secs(5);

/// One fetch of every profile type, before the soak proper.
const WARM_UP: [&str; 8] = [
    "profile?seconds=1",
    "heap",
    "allocs",
    "goroutine?debug=2",
    "goroutine",
    "mutex",
    "block",
    "threadcreate",
];

fn soak_seconds() -> u64 {
    std::env::var("SIMEX_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s >= 20)
        .unwrap_or(60)
}

/// `GET url` with a hard limit; the HTTP status, or `None` when nothing came back in time.
fn http_status(url: &str, limit: Duration) -> Option<u16> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m"])
        .arg(format!("{:.1}", limit.as_secs_f64()))
        .arg(url)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|&c| c != 0)
}

fn post_json(url: &str, body: &str) -> Option<u16> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
        .arg(url)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// trading-api as started by the soak, restartable on the same port and data directory.
struct TradingApi {
    child: Mutex<Child>,
    args: Vec<String>,
    log: std::path::PathBuf,
    base: String,
}

impl TradingApi {
    fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// SIGTERM, then the time it took to exit (panics after 15 s, the 5 s drain and then some:
    /// a wedged runtime ignores it).
    fn stop(&self) -> Duration {
        let mut child = self.child.lock().unwrap();
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        loop {
            if child.try_wait().unwrap().is_some() {
                return start.elapsed();
            }
            if start.elapsed() > Duration::from_secs(15) {
                // Say what it was doing: its own goroutine dump, and its log.
                let dump = Command::new("curl")
                    .args(["-s", "-m", "10"])
                    .arg(format!("{}/debug/pprof/goroutine?debug=2", self.base))
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "trading-api ignored SIGTERM for 15 s\n--- goroutine dump:\n{dump}\n--- log tail:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start(&self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(sibling_binary("trading-api"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        *self.child.lock().unwrap() = child;
    }
}

impl Drop for TradingApi {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Takes over the exchange that `start_exchange` started (seeded book, keys) by restarting it
/// under our control with the same arguments.
fn adopt(exchange: &mut Exchange) -> TradingApi {
    let port = exchange.base.rsplit(':').next().unwrap().to_owned();
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &exchange.dir.0.join("data").display().to_string(),
        "--demo-accounts",
        "12",
        "--demo-keys-file",
        &exchange.keys.display().to_string(),
        // Bounded drain, so that "ignored SIGTERM" means wedged, not draining.
        "--drain-timeout-secs",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let api = TradingApi {
        child: Mutex::new(Command::new("true").spawn().unwrap()),
        args,
        log: exchange.dir.0.join("trading-api.log"),
        base: exchange.base.clone(),
    };
    // Stop the helper's process and run the same one as ours.
    let _ = exchange.server.0.kill();
    let _ = exchange.server.0.wait();
    api.start();
    wait_ready(&exchange.base);
    api
}

fn wait_ready(base: &str) {
    let start = Instant::now();
    while http_status(&format!("{base}/ready"), HEALTH_LIMIT) != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{base} not ready after a restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn arm_chaos(base: &str, scenario: &str, params: &str, seconds: u64) {
    let body =
        format!(r#"{{"scenario":"{scenario}","params":{params},"duration_secs":{seconds}}}"#);
    let status = post_json(&format!("{base}/admin/chaos"), &body);
    assert_eq!(status, Some(201), "arming {scenario} on {base}");
}

/// One `order-flow load` run; its outcome is not asserted (a restart cuts it short).
fn load_burst(base: &str, keys: &Path, seconds: u64) {
    let _ = Command::new(env!("CARGO_BIN_EXE_order-flow"))
        .args(["load", "--target", base, "--keys"])
        .arg(keys)
        .args(["--rate", "150", "--duration"])
        .arg(format!("{seconds}s"))
        .args([
            "--connections",
            "16",
            "--symbols",
            "BTC-USD",
            "--json",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    /// No answer, but trading-api was deliberately down for some of the request's life.
    during_restart: AtomicU64,
}

impl Tally {
    fn record(&self, status: Option<u16>, overlapped_restart: bool) {
        match status {
            Some(200) => self.ok.fetch_add(1, Ordering::Relaxed),
            // 500 "cpu profiling already in use" (overlap, Go's answer) and 503 (dump refused or
            // timed out): the profiler protecting the service, by design.
            Some(500 | 503) => self.refused.fetch_add(1, Ordering::Relaxed),
            _ if overlapped_restart => self.during_restart.fetch_add(1, Ordering::Relaxed),
            _ => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// The restart of trading-api as a generation counter: odd while it is down. A request that
/// began in an odd generation, or saw the generation change while it waited, overlapped the
/// restart, however long the restart took on this machine.
#[derive(Default)]
struct RestartWindow(AtomicU64);

impl RestartWindow {
    fn open(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn close(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn ticket(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn overlapped(&self, ticket: u64) -> bool {
        ticket % 2 == 1 || self.ticket() != ticket
    }
}

/// Fetches `url` from service `i` and tallies the answer; only trading-api (0) is restarted.
fn tally_fetch(
    tallies: &[Tally; 3],
    window: &RestartWindow,
    i: usize,
    url: &str,
    limit: Duration,
) -> Option<u16> {
    let ticket = window.ticket();
    let status = http_status(url, limit);
    tallies[i].record(status, i == 0 && window.overlapped(ticket));
    status
}

#[test]
fn profiling_under_load_chaos_and_restart_never_hangs_a_service() {
    if !tool_available("curl") {
        return;
    }
    let total = Duration::from_secs(soak_seconds());
    let mut exchange = start_exchange(&[]);
    let api = Arc::new(adopt(&mut exchange));
    let (market_sim_server, market_sim) = start_simulator("market-sim", &exchange, &[]);
    let flow_data = exchange.dir.0.join("order-flow");
    let (order_flow_server, order_flow) = start_simulator(
        "order-flow",
        &exchange,
        &["--data-dir", &flow_data.display().to_string()],
    );
    let bases = [
        exchange.base.clone(),
        market_sim.clone(),
        order_flow.clone(),
    ];
    let chaos_secs = total.as_secs() + 30;
    let arm_trading_api = |base: &str| {
        arm_chaos(base, "slow-journal", r#"{"delay_ms":20}"#, chaos_secs);
        arm_chaos(
            base,
            "lock-contention",
            r#"{"hold_us":200,"contenders":1}"#,
            chaos_secs,
        );
    };
    arm_trading_api(&exchange.base);
    for base in [&market_sim, &order_flow] {
        arm_chaos(
            base,
            "cpu-burn",
            r#"{"threads":1,"duty_cycle":0.2}"#,
            chaos_secs,
        );
    }

    // Warm-up, untimed: every profile type once from every service, so that memory is compared
    // from after the profiler's first use (its symbol caches built), not from a fresh process.
    for base in &bases {
        for path in WARM_UP {
            let _ = http_status(
                &format!("{base}/debug/pprof/{path}"),
                Duration::from_secs(60),
            );
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Open while trading-api is deliberately down (between SIGTERM and /ready).
    let restart = Arc::new(RestartWindow::default());
    let slow_health: Arc<Mutex<Vec<String>>> = Arc::default();
    let tallies: Arc<[Tally; 3]> = Arc::default();
    let dumps_ok = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();

    // Health watcher: every service, every 250 ms, answers within 1 s.
    let soak_start = Instant::now();
    {
        let (stop, restart, slow, bases) = (
            Arc::clone(&stop),
            Arc::clone(&restart),
            Arc::clone(&slow_health),
            bases.clone(),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (i, base) in bases.iter().enumerate() {
                    let ticket = restart.ticket();
                    let start = Instant::now();
                    let status = http_status(&format!("{base}/health"), HEALTH_LIMIT);
                    // Down by design: the restart overlapped this check.
                    let down_by_design = i == 0 && restart.overlapped(ticket);
                    if status != Some(200) && !down_by_design {
                        slow.lock().unwrap().push(format!(
                            "{} {base}/health: {status:?} after {:?}, {:.0} s into the soak",
                            ["trading-api", "market-sim", "order-flow"][i],
                            start.elapsed(),
                            soak_start.elapsed().as_secs_f64()
                        ));
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }));
    }

    // Load, in bursts so that a restart only cuts one short.
    {
        let (stop, base, keys) = (
            Arc::clone(&stop),
            exchange.base.clone(),
            exchange.keys.clone(),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                load_burst(&base, &keys, 8);
            }
        }));
    }

    // Goroutine dumps in all three forms, all services, back to back.
    {
        let (stop, bases, tallies, dumps_ok, restart) = (
            Arc::clone(&stop),
            bases.clone(),
            Arc::clone(&tallies),
            Arc::clone(&dumps_ok),
            Arc::clone(&restart),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (i, base) in bases.iter().enumerate() {
                    for query in ["goroutine?debug=2", "goroutine?debug=1", "goroutine"] {
                        let status = tally_fetch(
                            &tallies,
                            &restart,
                            i,
                            &format!("{base}/debug/pprof/{query}"),
                            Duration::from_secs(15),
                        );
                        if status == Some(200) {
                            dumps_ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }

    // Overlapping CPU profiles: two fetchers with different lengths on every service.
    for seconds in [3, 5] {
        let (stop, bases, tallies, restart) = (
            Arc::clone(&stop),
            bases.clone(),
            Arc::clone(&tallies),
            Arc::clone(&restart),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (i, base) in bases.iter().enumerate() {
                    let url = format!("{base}/debug/pprof/profile?seconds={seconds}");
                    let limit = Duration::from_secs(seconds + 20);
                    tally_fetch(&tallies, &restart, i, &url, limit);
                }
            }
        }));
    }

    // Every other profile type.
    {
        let (stop, bases, tallies, restart) = (
            Arc::clone(&stop),
            bases.clone(),
            Arc::clone(&tallies),
            Arc::clone(&restart),
        );
        threads.push(std::thread::spawn(move || {
            let paths = [
                "heap",
                "allocs",
                "mutex",
                "block",
                "threadcreate",
                "heap?debug=1",
                "mutex?debug=1",
                "symbol?0x1",
                "",
                "cmdline",
            ];
            while !stop.load(Ordering::Relaxed) {
                for (i, base) in bases.iter().enumerate() {
                    for path in paths {
                        let url = format!("{base}/debug/pprof/{path}");
                        tally_fetch(&tallies, &restart, i, &url, Duration::from_secs(30));
                    }
                }
            }
        }));
    }

    let pids = || {
        [
            api.pid(),
            market_sim_server.0.id(),
            order_flow_server.0.id(),
        ]
    };
    std::thread::sleep(IDLE_SETTLE);
    let rss_base: Vec<u64> = pids().iter().map(|&p| rss_kb(p)).collect();
    let start = Instant::now();
    let mut rss_peak = rss_base.clone();

    // Halfway: restart trading-api, re-arm its faults at once and dump 3 s later.
    while start.elapsed() < total / 2 {
        std::thread::sleep(Duration::from_millis(500));
        for (peak, pid) in rss_peak.iter_mut().zip(pids()) {
            *peak = (*peak).max(rss_kb(pid));
        }
    }
    restart.open();
    let sigterm_exit = api.stop();
    api.start();
    wait_ready(&exchange.base);
    restart.close();
    arm_trading_api(&exchange.base);
    std::thread::sleep(Duration::from_secs(3));
    let after_restart = http_status(
        &format!("{}/debug/pprof/goroutine?debug=2", exchange.base),
        Duration::from_secs(15),
    );
    let rss_restarted = rss_kb(api.pid());

    while start.elapsed() < total {
        std::thread::sleep(Duration::from_millis(500));
        for (peak, pid) in rss_peak.iter_mut().zip(pids()).skip(1) {
            *peak = (*peak).max(rss_kb(pid));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    std::thread::sleep(IDLE_SETTLE);
    let rss_end: Vec<u64> = pids().iter().map(|&p| rss_kb(p)).collect();
    // The services must still be alive and answering.
    for base in &bases {
        assert_eq!(
            http_status(&format!("{base}/health"), HEALTH_LIMIT),
            Some(200),
            "{base} after the soak"
        );
    }
    let final_sigterm = api.stop();
    let dir = exchange.dir.0.clone();
    drop(exchange);

    let summary: Vec<String> = tallies
        .iter()
        .zip(["trading-api", "market-sim", "order-flow"])
        .map(|(t, name)| {
            format!(
                "{name}: ok {} refused {} failed {} (during the restart {})",
                t.ok.load(Ordering::Relaxed),
                t.refused.load(Ordering::Relaxed),
                t.failed.load(Ordering::Relaxed),
                t.during_restart.load(Ordering::Relaxed)
            )
        })
        .collect();
    eprintln!(
        "soak {:?}: {}; goroutine dumps ok {}; RSS kB base {rss_base:?} peak {rss_peak:?} \
         end {rss_end:?} (trading-api after restart {rss_restarted}); SIGTERM exits {sigterm_exit:?}, {final_sigterm:?}",
        total,
        summary.join("; "),
        dumps_ok.load(Ordering::Relaxed)
    );
    let slow = slow_health.lock().unwrap();
    assert!(
        slow.is_empty(),
        "health checks failed or were slow:\n{}",
        slow.join("\n")
    );
    assert_eq!(
        after_restart,
        Some(200),
        "goroutine?debug=2 3 s after the restart"
    );
    for (t, name) in tallies
        .iter()
        .zip(["trading-api", "market-sim", "order-flow"])
    {
        // Fetches that failed outright (no answer in time, connection refused) outside the
        // restart are hangs.
        assert!(
            t.failed.load(Ordering::Relaxed) == 0,
            "{name}: profile fetches without an answer: {}",
            summary.join("; ")
        );
        assert!(
            t.ok.load(Ordering::Relaxed) > 0,
            "{name}: no profile served"
        );
    }
    assert!(
        dumps_ok.load(Ordering::Relaxed) >= 3,
        "goroutine dumps must mostly succeed, not just be refused"
    );
    for (i, name) in ["market-sim", "order-flow"].iter().enumerate() {
        let growth = rss_end[i + 1].saturating_sub(rss_base[i + 1]);
        assert!(
            growth <= RSS_GROWTH_LIMIT_KB,
            "{name} RSS grew {growth} kB during the soak (base {rss_base:?}, end {rss_end:?})"
        );
    }
    let growth = rss_end[0].saturating_sub(rss_restarted);
    assert!(
        growth <= RSS_GROWTH_LIMIT_KB,
        "trading-api RSS grew {growth} kB after its restart"
    );
    let _ = std::fs::remove_dir_all(dir);
}
