//! `simex chaos run` on the real services (started by `simex up` on free ports in a temporary
//! folder) with the committed experiments: cpu-burn completes, its journal has Chaos Toolkit's
//! shape and the rollbacks leave no fault behind; a fault the steady state cannot tolerate,
//! left in place by the method, gives `deviated`, and the rollback still removes it.
//!
//! Binaries as in `supervisor.rs`: `SIMEX_TEST_BIN_DIR`, else this build's target directory;
//! without them the test prints SKIP (and fails when `CI` is set).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::services::{service_bins, Deployment};
use common::{text, TempDir};
use serde_json::{json, Value};

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../chaos/experiments/{name}.json"))
}

fn active_faults(port: u16) -> Vec<Value> {
    let mut resp = ureq::get(&format!("http://127.0.0.1:{port}/admin/chaos"))
        .call()
        .expect("GET /admin/chaos");
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    body["faults"].as_array().cloned().expect("faults list")
}

#[test]
fn experiments_complete_deviate_and_always_roll_back() {
    let Some(bins) = service_bins() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "service binaries not built, and CI is set: cargo build -p trading-api -p market-sim -p order-flow"
        );
        eprintln!("SKIP: trading-api, market-sim, order-flow binaries not built (or set SIMEX_TEST_BIN_DIR)");
        return;
    };
    let deployment = Deployment::new("chaos-e2e", &bins);
    let (dir, base) = (&deployment.dir, deployment.base);
    let run = |cmd: &str, extra: &[&str]| deployment.run(cmd, extra);
    let out = run("up", &["--timeout", "120"]);
    assert!(out.status.success(), "up failed: {}", text(&out.stderr));

    // The experiments run `simex` and `order-flow` from PATH, as chaostoolkit needs.
    let simex_dir = Path::new(env!("CARGO_BIN_EXE_simex")).parent().unwrap();
    let path = std::env::join_paths([bins.clone(), simex_dir.to_path_buf()].into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let chaos_run = |file: &Path, journal: &Path, report: &Path| -> Output {
        let url = |i: u16| format!("http://127.0.0.1:{}", base + i);
        Command::new(env!("CARGO_BIN_EXE_simex"))
            .args(["chaos", "run"])
            .arg(file)
            .arg("--journal")
            .arg(journal)
            .arg("--report")
            .arg(report)
            .current_dir(&dir.0)
            .env("SIMEX_TRADING_API_URL", url(0))
            .env("SIMEX_MARKET_SIM_URL", url(1))
            .env("SIMEX_ORDER_FLOW_URL", url(2))
            .env("PATH", &path)
            .env(
                "SIMEX_DEMO_KEYS_FILE",
                dir.0.join("data/trading-api/demo-keys.json"),
            )
            .env("SIMEX_STATE_DIR", dir.0.join("run"))
            .env("SIMEX_CHAOS_LOAD_SECONDS", "1")
            .env("SIMEX_CHAOS_LOAD_RATE", "100")
            .output()
            .expect("run simex chaos run")
    };

    // 1. cpu-burn: completed, journal in Chaos Toolkit's shape, no fault left.
    let journal_path = dir.0.join("cpu-burn-journal.json");
    let report_path = dir.0.join("cpu-burn-report.md");
    let out = chaos_run(&experiment("cpu-burn"), &journal_path, &report_path);
    assert!(out.status.success(), "cpu-burn run: {}", text(&out.stderr));
    let journal: Value = serde_json::from_slice(&std::fs::read(&journal_path).unwrap()).unwrap();
    assert_eq!(journal["status"], "completed", "{journal:#}");
    assert_eq!(journal["deviated"], false);
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], true);
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);
    let runs = journal["run"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["output"]["status"], 201, "the fault was injected");
    assert_eq!(runs[0]["output"]["body"]["scenario"], "cpu-burn");
    let under_load: Value =
        serde_json::from_str(runs[1]["output"]["stdout"].as_str().unwrap()).unwrap();
    assert!(
        under_load["completed"].as_u64().unwrap() > 0,
        "{under_load}"
    );
    for r in runs.iter().chain(journal["rollbacks"].as_array().unwrap()) {
        assert_eq!(r["status"], "succeeded", "{r:#}");
        assert!(r["start"].is_string() && r["duration"].is_number());
    }
    assert_eq!(journal["rollbacks"].as_array().unwrap().len(), 3);
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(report.contains("**Verdict: completed**"), "{report}");
    for port in base..base + 3 {
        assert!(active_faults(port).is_empty(), "fault left on {port}");
    }

    // 2. latency the budget cannot absorb, left active by the method: deviated, then rolled back.
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(experiment("latency")).unwrap()).unwrap();
    doc["method"] = json!([{
        "type": "action", "name": "inject-latency-300ms",
        "provider": {"type": "http", "url": "${trading_api_url}/admin/chaos", "method": "POST",
            "arguments": {"scenario": "latency", "params": {"delay_ms": 300, "probability": 1.0},
                          "duration_secs": 60},
            "expected_status": 201}
    }]);
    let deviating = dir.0.join("latency-deviates.json");
    std::fs::write(&deviating, serde_json::to_vec(&doc).unwrap()).unwrap();
    let journal_path = dir.0.join("deviated-journal.json");
    let out = chaos_run(&deviating, &journal_path, &dir.0.join("deviated.md"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let journal: Value = serde_json::from_slice(&std::fs::read(&journal_path).unwrap()).unwrap();
    assert_eq!(journal["status"], "deviated", "{journal:#}");
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], true);
    let after = journal["steady_states"]["after"]["probes"]
        .as_array()
        .unwrap();
    assert_eq!(after.last().unwrap()["tolerance_met"], false);
    assert!(
        active_faults(base).is_empty(),
        "rollback removed the latency fault"
    );

    // 3. chaos/chaos-flamegraph.sh: four phases, diffs, one report with a verdict, no fault left.
    if !(common::tool_available("curl", &["--version"])
        && common::tool_available("python3", &["--version"]))
    {
        return;
    }
    let out_dir = dir.0.join("flamegraphs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chaos/chaos-flamegraph.sh");
    let out = Command::new(script)
        .arg("cpu-burn")
        .current_dir(&dir.0)
        .env("SIMEX", env!("CARGO_BIN_EXE_simex"))
        .env("ORDER_FLOW_BIN", bins.join("order-flow"))
        .env("SIMEX_BASE_PORT", base.to_string())
        .env("SIMEX_STATE_DIR", dir.0.join("run"))
        .env("SIMEX_DATA_ROOT", dir.0.join("data"))
        .env("CHAOS_PROFILE_SECONDS", "2")
        .env("CHAOS_LOAD_RATE", "100")
        .env("PROFILE_DIR", &out_dir)
        .output()
        .expect("run chaos-flamegraph.sh");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let names = TempDir::names_in(&out_dir);
    let report = names
        .iter()
        .find(|n| n.starts_with("chaos_cpu-burn_") && n.ends_with("_report.md"))
        .unwrap_or_else(|| panic!("no report in {names:?}"));
    let report = std::fs::read_to_string(out_dir.join(report)).unwrap();
    assert!(report.contains("**Verdict: completed**"), "{report}");
    assert!(
        report.contains("chaos::scenarios::cpu_burn::spin"),
        "the diff names the burn: {report}"
    );
    // The idle baseline may have no CPU samples in a short capture; the busy phases must.
    for phase in ["load", "chaos", "recovery"] {
        assert!(
            report.contains(&format!("- {phase}: [cpu_profile_trading-api_")),
            "{report}"
        );
    }
    assert!(
        report.contains("diff_trading-api_chaos_to_recovery.svg"),
        "{report}"
    );
    assert!(
        active_faults(base).is_empty(),
        "the script removed its fault"
    );

    // 4. The same file under chaostoolkit itself, when it is installed (`pip install
    // chaostoolkit chaostoolkit-lib[jsonpath]`; CHAOSTOOLKIT names its `chaos` command).
    let ctk = std::env::var_os("CHAOSTOOLKIT").unwrap_or_else(|| "chaos".into());
    if Command::new(&ctk).arg("--version").output().is_err() {
        eprintln!("SKIP: chaostoolkit is not installed");
        return;
    }
    let ctk_journal = dir.0.join("ctk-journal.json");
    let url = |i: u16| format!("http://127.0.0.1:{}", base + i);
    let out = Command::new(&ctk)
        .args(["--no-version-check", "run", "--journal-path"])
        .arg(&ctk_journal)
        .arg(experiment("cpu-burn"))
        .current_dir(&dir.0)
        .env("PATH", &path)
        .env("SIMEX_TRADING_API_URL", url(0))
        .env("SIMEX_MARKET_SIM_URL", url(1))
        .env("SIMEX_ORDER_FLOW_URL", url(2))
        .env(
            "SIMEX_DEMO_KEYS_FILE",
            dir.0.join("data/trading-api/demo-keys.json"),
        )
        .env("SIMEX_CHAOS_LOAD_SECONDS", "1")
        .env("SIMEX_CHAOS_LOAD_RATE", "100")
        .output()
        .expect("run chaostoolkit");
    let journal: Value = serde_json::from_slice(&std::fs::read(&ctk_journal).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no chaostoolkit journal ({e}): {}", text(&out.stderr)));
    assert_eq!(journal["status"], "completed", "{}", text(&out.stderr));
    assert_eq!(
        journal["run"][0]["output"]["status"], 201,
        "chaostoolkit injected the fault"
    );
    assert!(
        active_faults(base).is_empty(),
        "chaostoolkit's rollbacks removed the fault"
    );
}
