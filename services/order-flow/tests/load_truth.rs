//! Does the load generator tell the truth, and is its load worth profiling?
//!
//! Against a real trading-api on a free port:
//! - at a sustainable rate at least 99% of orders succeed and the achieved rate is within 5% of
//!   the asked one;
//! - a CPU profile of trading-api taken while the load runs names the exchange's own work
//!   (matching, the order path, the journal, JSON), not just an idle runtime;
//! - at a light load its service-time median agrees with `wrk`'s on the same endpoint (same
//!   server, same kind of request), within a factor that leaves room for a noisy shared machine.
//!
//! trading-api's binary is looked for beside order-flow's (`cargo test --workspace` builds it).

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps the server whatever the test outcome.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn trading_api_binary() -> PathBuf {
    let order_flow = PathBuf::from(env!("CARGO_BIN_EXE_order-flow"));
    let exe = order_flow.parent().unwrap().join("trading-api");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "trading-api", "--bin", "trading-api"]);
        if let Some(target) = order_flow.parent().and_then(Path::parent) {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building trading-api failed");
    }
    exe
}

fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing and CI is set (scripts/install-deps.sh installs it)"
        );
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

struct Exchange {
    _server: Server,
    base: String,
    keys: PathBuf,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "simex-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_exchange() -> Exchange {
    let dir = tempdir::Dir::new("load-truth");
    let port = free_port();
    let keys = dir.0.join("keys.json");
    let log = std::fs::File::create(dir.0.join("trading-api.log")).unwrap();
    let child = Command::new(trading_api_binary())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &dir.0.join("data").display().to_string(),
            "--demo-accounts",
            "12",
            "--demo-keys-file",
            &keys.display().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let ready = Command::new("curl")
            .args(["-fs", "-o", "/dev/null", &format!("{base}/ready")])
            .status()
            .is_ok_and(|s| s.success());
        if ready && keys.exists() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "trading-api not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ex = Exchange {
        _server: server,
        base,
        keys,
        _dir: dir,
    };
    seed_book(&ex);
    ex
}

/// Rests a deep two-sided BTC-USD book from two demo accounts (the load generator uses others),
/// so the generated orders have prices to go near and liquidity to take.
fn seed_book(ex: &Exchange) {
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ex.keys).unwrap()).unwrap();
    for level in 1..=5 {
        for (side, account, price) in [
            ("buy", 0, 60_000 - 10 * level),
            ("sell", 1, 60_000 + 10 * level),
        ] {
            let key = keys["accounts"][account]["api_key"].as_str().unwrap();
            let body = format!(
                r#"{{"symbol":"BTC-USD","side":"{side}","type":"limit","price":"{price}.00","quantity":"8","time_in_force":"gtc"}}"#
            );
            let status = Command::new("curl")
                .args(["-fs", "-o", "/dev/null", "-X", "POST", "-H"])
                .arg("Content-Type: application/json")
                .arg("-H")
                .arg(format!("X-API-Key: {key}"))
                .args(["-d", &body, &format!("{}/api/v1/orders", ex.base)])
                .status()
                .unwrap();
            assert!(status.success(), "seeding the book failed: {body}");
        }
    }
}

/// Runs `order-flow load` and returns its JSON report.
fn run_load(ex: &Exchange, rate: u32, seconds: u32, connections: u32) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_order-flow"))
        .args([
            "load",
            "--target",
            &ex.base,
            "--keys",
            &ex.keys.display().to_string(),
            "--rate",
            &rate.to_string(),
            "--duration",
            &format!("{seconds}s"),
            "--connections",
            &connections.to_string(),
            "--symbols",
            "BTC-USD",
            "--json",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "load generator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn f64_at(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("no number at {path:?} in {v}"))
}

#[test]
fn sustainable_load_succeeds_holds_its_rate_and_profiles_the_exchange() {
    if !tool_available("curl") {
        return;
    }
    let ex = start_exchange();
    // A CPU profile over the middle of the run, fetched from another thread.
    let profile_url = format!("{}/debug/pprof/profile?seconds=4", ex.base);
    let profiler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        Command::new("curl")
            .args(["-fs", &profile_url])
            .output()
            .unwrap()
    });
    let rate = 400;
    let report = run_load(&ex, rate, 7, 16);
    let profile = profiler.join().unwrap();

    let success = f64_at(&report, &["success_ratio"]);
    let achieved = f64_at(&report, &["achieved_rate"]);
    assert!(
        success >= 0.99,
        "only {success} of orders succeeded: {report}"
    );
    assert!(
        (achieved - f64::from(rate)).abs() <= 0.05 * f64::from(rate),
        "asked {rate}/s, achieved {achieved}/s: {report}"
    );

    assert!(profile.status.success(), "CPU profile capture failed");
    let decoded = profile_tools::Profile::decode(&profile.stdout).unwrap();
    let names = decoded.frame_names.join("\n");
    for work in [
        "matching::",
        "trading_api::venue::",
        "trading_api::journal::",
        "serde_json::",
    ] {
        assert!(
            names.contains(work),
            "the CPU profile under load does not name {work}"
        );
    }
}

#[test]
fn service_time_agrees_with_wrk_on_the_same_endpoint() {
    if !tool_available("curl") || !tool_available("wrk") {
        return;
    }
    let ex = start_exchange();
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ex.keys).unwrap()).unwrap();
    let key = |i: usize| keys["accounts"][i]["api_key"].as_str().unwrap().to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/orders.lua");

    // wrk, one connection, closed loop: its latency is the server's service time.
    let wrk = Command::new("wrk")
        .args(["-t1", "-c1", "-d4s", "--latency", "-s"])
        .arg(&script)
        .arg(&ex.base)
        .env("BUY_KEY", key(0))
        .env("SELL_KEY", key(1))
        .output()
        .unwrap();
    assert!(wrk.status.success(), "wrk failed");
    let text = String::from_utf8_lossy(&wrk.stdout);
    let wrk_p50_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("p50_ms "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no p50 in wrk output:\n{text}"));

    // Ours, one connection, open model at 80% of the rate wrk sustained: requests nearly back
    // to back as in wrk's closed loop, so both see a server that is neither idle nor queued.
    let wrk_rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("rps "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no rate in wrk output:\n{text}"));
    let rate = ((wrk_rate * 0.8) as u32).max(10);
    let report = run_load(&ex, rate, 4, 1);
    let ours_p50_ms = f64_at(&report, &["service_time_ms", "p50"]);
    let ratio = ours_p50_ms / wrk_p50_ms;
    eprintln!(
        "service time p50: ours {ours_p50_ms:.3} ms at {rate}/s, wrk {wrk_p50_ms:.3} ms at {wrk_rate:.0}/s"
    );
    assert!(
        (1.0 / 3.0..=3.0).contains(&ratio),
        "service-time medians disagree: ours {ours_p50_ms} ms vs wrk {wrk_p50_ms} ms"
    );
}
