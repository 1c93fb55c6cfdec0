//! `simex up / status / logs / down` on the real service binaries, on free ports in a temporary
//! folder: every service becomes ready, a second `up` is refused, a SIGKILLed service is
//! restarted, `down` stops everything and frees the ports.
//!
//! The binaries come from `SIMEX_TEST_BIN_DIR`, else the `release` and `debug` folders of this
//! build's target directory. Without them the test prints SKIP (and fails when `CI` is set).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::services::{service_bins, Deployment, SERVICES};
use common::text;

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn up_restarts_a_killed_service_and_down_stops_everything() {
    let Some(bins) = service_bins() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "service binaries not built, and CI is set: cargo build -p trading-api -p market-sim -p order-flow"
        );
        eprintln!("SKIP: trading-api, market-sim, order-flow binaries not built (or set SIMEX_TEST_BIN_DIR)");
        return;
    };
    // Whatever happens below, `down` runs when `deployment` is dropped.
    let deployment = Deployment::new("supervisor-e2e", &bins);
    let (dir, base) = (&deployment.dir, deployment.base.to_string());
    let run = |cmd: &str, extra: &[&str]| deployment.run(cmd, extra);
    let out = run("up", &["--timeout", "120"]);
    assert!(
        out.status.success(),
        "up failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    for name in SERVICES {
        assert!(stdout.contains(&format!("{name:<12} ready")), "{stdout}");
    }

    let out = run("up", &[]);
    assert_eq!(out.status.code(), Some(1), "a second up is refused");
    assert!(text(&out.stderr).contains("already up"));

    let out = run("status", &[]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // Kill market-sim hard; the supervisor must bring it back.
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.0.join("run/status.json")).unwrap()).unwrap();
    let victim = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "market-sim")
        .and_then(|s| s["pid"].as_u64())
        .unwrap();
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run("status", &[]);
        let table = text(&out.stdout);
        let restarted = table
            .lines()
            .any(|l| l.starts_with("market-sim") && l.contains(" 1  running") && l.ends_with("ok"));
        if out.status.success() && restarted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "market-sim not restarted: {table}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(dir.0.join("logs/supervisor.log")).unwrap();
    assert!(log.contains("market-sim exited"), "{log}");

    let out = run("logs", &["trading-api", "-n", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).trim().is_empty());

    let out = run("down", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let base: u16 = base.parse().unwrap();
    for port in base..base + 3 {
        assert!(port_free(port), "port {port} still taken after down");
    }
    assert!(!dir.0.join("run/supervisor.pid").exists());
}
