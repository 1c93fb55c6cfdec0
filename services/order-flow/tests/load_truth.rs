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

use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{f64_at, run_load, start_exchange, tool_available};

#[test]
fn sustainable_load_succeeds_holds_its_rate_and_profiles_the_exchange() {
    if !tool_available("curl") {
        return;
    }
    let ex = start_exchange(&[]);
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
    let report = run_load(&ex.base, &ex.keys, rate, 7, 16);
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
    let ex = start_exchange(&[]);
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
    let report = run_load(&ex.base, &ex.keys, rate, 4, 1);
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
