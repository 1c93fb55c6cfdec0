//! End to end: every in-service fault, injected into a real trading-api under load and
//! profiled by `simex chaos flamegraph`, is named by the report's first finding: the injected
//! function (`chaos::scenarios::cpu_burn::spin`, ...) or, for the request-layer faults, its
//! category from latency and errors.
//!
//! Kept affordable: one deployment for all twelve scenarios, short windows (2 s), only
//! trading-api profiled, no idle baseline; the whole test takes about five minutes on two cores
//! (debug build). Set `SIMEX_E2E_CHAOS_OUT=DIR` to keep the runs and read the reports.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::services::{service_bins, Deployment};
use common::text;

/// Scenario, parameters, and what its first finding must name (any one of them).
const SCENARIOS: &[(&str, &str, &[&str])] = &[
    ("cpu-burn", "{}", &["chaos::scenarios::cpu_burn::spin"]),
    (
        "memory-leak",
        r#"{"bytes_per_sec": 8388608}"#,
        &["chaos::scenarios::memory_leak::"],
    ),
    ("task-leak", "{}", &["chaos::scenarios::task_leak::"]),
    // The request-layer faults show as a symptom, or as the tasks sleeping in (or answered by)
    // chaos's middleware.
    ("latency", "{}", &["request latency", "chaos::middleware::"]),
    (
        "errors",
        r#"{"probability": 0.2}"#,
        &["errors: success", "chaos::middleware::"],
    ),
    (
        "lock-contention",
        "{}",
        &[
            "contend_for_book_locks",
            "LockChaos",
            // The fault's lock holder spins inside the book lock: its CPU is the fault too.
            "trading_api::locking::spin_for",
            "mutex (lock contention)",
        ],
    ),
    ("slow-journal", "{}", &["trading_api::journal::"]),
    ("alloc-churn", "{}", &["chaos::scenarios::alloc_churn::"]),
    ("json-heavy", "{}", &["chaos::scenarios::json_heavy::"]),
    ("regex-hot", "{}", &["chaos::scenarios::regex_hot::"]),
    ("fmt-heavy", "{}", &["chaos::scenarios::fmt_heavy::"]),
    ("hash-heavy", "{}", &["chaos::scenarios::hash_heavy::"]),
];

fn first_finding(report: &Path) -> String {
    let md = std::fs::read_to_string(report).expect("the report");
    md.lines()
        .find(|l| l.starts_with("2. **Shows in:**"))
        .unwrap_or_else(|| panic!("no first finding in {}:\n{md}", report.display()))
        .to_owned()
}

#[test]
fn every_in_service_fault_is_named_by_the_first_finding() {
    let Some(bins) = service_bins() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "service binaries not built, and CI is set: cargo build -p trading-api -p market-sim -p order-flow -p chaos"
        );
        eprintln!("SKIP: service binaries not built (or set SIMEX_TEST_BIN_DIR)");
        return;
    };
    let deployment = Deployment::new("chaos-diagnosis", &bins);
    let out = deployment.run("up", &["--timeout", "120"]);
    assert!(out.status.success(), "up failed: {}", text(&out.stderr));
    let dir = &deployment.dir.0;
    // SIMEX_E2E_CHAOS_OUT keeps the runs for reading afterwards (the deployment's folder goes).
    let profiles = std::env::var_os("SIMEX_E2E_CHAOS_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.join("flamegraphs"));
    let started = Instant::now();
    let mut misses = Vec::new();
    for (scenario, params, expected) in SCENARIOS {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_simex"))
            .args(["chaos", "flamegraph", scenario])
            .args(["--seconds", "2", "--warmup", "1", "--rate", "100"])
            .args(["--params", params])
            .args(["--profile-services", "trading-api", "--no-baseline"])
            .arg("--out-dir")
            .arg(&profiles)
            .arg("--order-flow")
            .arg(bins.join("order-flow"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--base-port", &deployment.base.to_string()])
            .env("SIMEX_STATE_DIR", dir.join("run"))
            .env("SIMEX_LOG_DIR", dir.join("logs"))
            .env("SIMEX_BIN_DIR", &bins)
            .output()
            .expect("run simex chaos flamegraph");
        let stdout = text(&out.stdout);
        let summary = stdout.lines().last().unwrap_or_default();
        let report = summary
            .rsplit_once("report ")
            .map(|(_, p)| Path::new(p.trim()).to_path_buf())
            .unwrap_or_else(|| {
                panic!(
                    "{scenario}: no summary line: {stdout}\nstderr: {}",
                    text(&out.stderr)
                )
            });
        let finding = first_finding(&report);
        eprintln!(
            "{scenario} ({:.0} s): {summary}\n    {finding}",
            t.elapsed().as_secs_f64()
        );
        if !expected.iter().any(|e| finding.contains(e)) {
            misses.push(format!(
                "{scenario}: expected one of {expected:?} in {finding}"
            ));
        }
        // Every fault is gone before the next scenario.
        let left = std::fs::read_to_string(
            report
                .with_file_name(
                    report
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .trim_end_matches("_report.md"),
                )
                .join("run.json"),
        )
        .expect("run.json");
        assert!(left.contains("\"faults_left\": []"), "{scenario}: {left}");
    }
    eprintln!("all scenarios: {:.0} s", started.elapsed().as_secs_f64());
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}
