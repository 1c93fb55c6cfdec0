//! `go tool pprof` reads every profile type of every service, and the profiles of trading-api
//! under a contended load show what they should.
//!
//! trading-api runs with the global book lock (`--locking global`) while the load generator sends
//! orders, so book-lock contention is certain; market-sim and order-flow run beside it as the real
//! services. For each service and each profile type the answer must decode with
//! `go tool pprof -raw`; trading-api's mutex profile must name the book lock
//! (`matching::exchange::Exchange<R>::lock_book`) and its block profile the journal's group-commit
//! wait (`trading_api::journal::Journal::wait_durable`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{run_load, start_exchange, start_simulator, tool_available};

/// Fetches one profile into `dir` and returns `go tool pprof -raw`'s output for it.
fn fetch_and_read(base: &str, path: &str, dir: &Path, name: &str) -> String {
    let file = dir.join(format!("{name}.pb.gz"));
    let status = Command::new("curl")
        .args(["-fs", "-o"])
        .arg(&file)
        .arg(format!("{base}/debug/pprof/{path}"))
        .status()
        .unwrap();
    assert!(status.success(), "GET {base}/debug/pprof/{path} failed");
    let out = Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go tool pprof -raw cannot read {path} of {base}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn go_tool_pprof_reads_every_profile_of_every_service() {
    if !tool_available("curl") || !tool_available("go") {
        return;
    }
    let exchange = start_exchange(&["--locking", "global"]);
    let (_market_sim, market_sim) = start_simulator("market-sim", &exchange, &[]);
    let flow_data = exchange.dir.0.join("order-flow");
    let (_order_flow, order_flow) = start_simulator(
        "order-flow",
        &exchange,
        &["--data-dir", &flow_data.display().to_string()],
    );

    // Contended load on the global lock while the trading-api profiles are taken.
    let load = {
        let base = exchange.base.clone();
        let keys = exchange.keys.clone();
        std::thread::spawn(move || run_load(&base, &keys, 1500, 6, 32))
    };
    std::thread::sleep(Duration::from_secs(1));

    let profiles = [
        ("profile?seconds=2", "cpu"),
        ("heap", "heap"),
        ("allocs", "allocs"),
        ("goroutine", "goroutine"),
        ("mutex?seconds=3", "mutex"),
        ("block", "block"),
        ("threadcreate", "threadcreate"),
    ];
    let out_dir = exchange.dir.0.join("profiles");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut trading = std::collections::HashMap::new();
    for (service, base) in [
        ("trading-api", exchange.base.as_str()),
        ("market-sim", market_sim.as_str()),
        ("order-flow", order_flow.as_str()),
    ] {
        for (path, kind) in profiles {
            let raw = fetch_and_read(base, path, &out_dir, &format!("{service}-{kind}"));
            if service == "trading-api" {
                trading.insert(kind, raw);
            }
        }
    }
    let report = load.join().unwrap();
    assert!(
        common::f64_at(&report, &["success_ratio"]) >= 0.99,
        "the load itself failed: {report}"
    );

    // Go's semantics: a mutex profile charges the delay to the holder, where it unlocks; the
    // book lock is held (and released) by `Venue::execute`.
    assert!(
        trading["mutex"].contains("trading_api::venue::Venue::execute"),
        "trading-api's mutex profile under contention does not name the book lock's holder:\n{}",
        trading["mutex"]
    );
    assert!(
        trading["block"].contains("wait_durable"),
        "trading-api's block profile does not name the journal wait:\n{}",
        trading["block"]
    );
    assert!(
        trading["cpu"].contains("trading_api::"),
        "trading-api's CPU profile under load does not name its own code"
    );
    assert!(
        trading["goroutine"].contains("trading_api::") || trading["goroutine"].contains("hyper"),
        "trading-api's task dump shows none of its tasks"
    );
}
