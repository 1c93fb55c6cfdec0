//! The `simex` binary end to end on the real profiles committed in
//! `crates/profile-tools/tests/data/`: outputs land where the guide says, errors are clear,
//! and nothing half-written is left behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, simex, text};

/// A temporary directory (`.0`, removed when `.1` drops) with helpers to copy fixtures in.
struct TempDir(PathBuf, #[allow(dead_code)] common::TempDir);

impl TempDir {
    fn new(tag: &str) -> Self {
        let guard = common::TempDir::new(&format!("cli-{tag}"));
        Self(guard.0.clone(), guard)
    }

    /// Copies a fixture in under a new name.
    fn copy(&self, fixture_name: &str, as_name: &str) -> PathBuf {
        let to = self.0.join(as_name);
        std::fs::copy(fixture(fixture_name), &to).unwrap();
        to
    }

    fn names(&self) -> Vec<String> {
        common::TempDir::names_in(&self.0)
    }
}

#[test]
fn flamegraph_writes_an_svg_next_to_the_profile() {
    let dir = TempDir::new("fg");
    let p = dir.copy(
        "go_cpu_json.pb.gz",
        "cpu_profile_trading-api_20261125_100000.pb.gz",
    );
    let out = simex(&["flamegraph", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = dir.0.join("cpu_profile_trading-api_20261125_100000.svg");
    let body = std::fs::read_to_string(&svg).unwrap();
    assert!(
        body.contains("CPU profile · trading-api · 2.1s · 880.0 ms CPU"),
        "the title names the type, service, duration and total"
    );
    assert!(body.contains("function search("));
    // --sample-index by name picks the other sample type: counts, not nanoseconds.
    let custom = dir.0.join("samples.svg");
    let out = simex(&[
        "flamegraph",
        p.to_str().unwrap(),
        "-o",
        custom.to_str().unwrap(),
        "--sample-index",
        "samples",
        "--title",
        "my title",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&custom).unwrap();
    assert!(body.contains("my title"));
    assert!(body.contains(" samples · "), "hover counts samples");
    assert!(!body.contains(" ms CPU"), "and not CPU time");
}

#[test]
fn analyze_writes_the_report_and_json_and_base_comparison() {
    let dir = TempDir::new("an");
    let p = dir.copy(
        "go_cpu_regexp.pb.gz",
        "cpu_profile_market-sim_20261125_100000.pb.gz",
    );
    let out = simex(&["analyze", p.to_str().unwrap(), "--verbose"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("analyze: wrote"),
        "verbose progress"
    );
    let report = std::fs::read_to_string(
        dir.0
            .join("cpu_profile_market-sim_20261125_100000_analysis.md"),
    )
    .unwrap();
    // A 2 s, 88-sample profile: the right category first, but not rated HIGH on so little data.
    assert!(
        report.contains("### 1. Regular expressions — 🟡 MEDIUM"),
        "{report}"
    );
    assert!(report.contains("**Confidence:** 88 samples"), "{report}");
    assert!(report.contains("- **Service:** market-sim"));
    assert!(report.contains("flamegraphs/cpu_profile_market-sim_NEW.pb.gz"));

    let out = simex(&["analyze", p.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["categories"][0]["category"], "regex");
    assert_eq!(json["service"], "market-sim");

    let base = dir.copy(
        "go_cpu_json.pb.gz",
        "cpu_profile_market-sim_20261125_090000.pb.gz",
    );
    let out = simex(&[
        "analyze",
        p.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cmp = &json["comparison"]["functions"];
    assert!(cmp["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"].as_str().unwrap().starts_with("regexp")));
    assert!(cmp["improvements"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"].as_str().unwrap().starts_with("encoding/json")));
}

#[test]
fn diff_of_a_profile_against_itself_shows_no_change() {
    let dir = TempDir::new("diff");
    let a = dir.copy(
        "go_cpu_mutex.pb.gz",
        "cpu_profile_order-flow_20261125_100000.pb.gz",
    );
    let b = dir.copy(
        "go_cpu_mutex.pb.gz",
        "cpu_profile_order-flow_20261125_110000.pb.gz",
    );
    let out = simex(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("No change"));
    let stem = "diff_cpu_profile_order-flow_20261125_100000_vs_20261125_110000";
    let svg = std::fs::read_to_string(dir.0.join(format!("{stem}.svg"))).unwrap();
    assert!(svg.contains("function search("));
    let txt = std::fs::read_to_string(dir.0.join(format!("{stem}.txt"))).unwrap();
    assert!(txt.contains("No change"));
}

#[test]
fn diff_refuses_profiles_that_measure_different_things() {
    let out = simex(&[
        "diff",
        fixture("go_cpu_json.pb.gz").to_str().unwrap(),
        fixture("go_heap.pb.gz").to_str().unwrap(),
        "-o",
        "/nonexistent-dir/x.svg",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("measure different things"));
}

#[test]
fn top_lists_functions_like_go_tool_pprof() {
    let out = simex(&[
        "top",
        fixture("go_mutex.pb.gz").to_str().unwrap(),
        "-n",
        "3",
    ]);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert!(t.contains("flat%"), "{t}");
    assert!(t.contains("100.00%  sync.(*Mutex).Unlock"), "{t}");
}

#[test]
fn missing_and_corrupt_inputs_fail_clearly_without_leaving_files() {
    let dir = TempDir::new("bad");
    let missing = dir.0.join("nope.pb.gz");
    let out = simex(&["flamegraph", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );

    let corrupt = dir.0.join("corrupt.pb.gz");
    let mut bytes = std::fs::read(fixture("go_cpu_json.pb.gz")).unwrap();
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&corrupt, bytes).unwrap();
    for cmd in ["flamegraph", "analyze", "top"] {
        let out = simex(&[cmd, corrupt.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            text(&out.stderr).contains("not a valid pprof profile"),
            "{cmd}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(dir.names(), ["corrupt.pb.gz"], "no outputs, no temporaries");

    let out = simex(&[
        "flamegraph",
        fixture("go_heap.pb.gz").to_str().unwrap(),
        "--sample-index",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("available: 0=alloc_objects"));
}

#[test]
fn python_wrapper_runs_the_analyzer() {
    let dir = TempDir::new("py");
    let p = dir.copy(
        "go_mutex.pb.gz",
        "mutex_profile_trading-api_20261125_100000.pb.gz",
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ai-flamegraph-analyzer.py");
    if !common::tool_available("python3", &["--version"]) {
        return;
    }
    let out = Command::new("python3")
        .arg(&script)
        .arg(&p)
        .arg("--verbose")
        .env("SIMEX_BIN", env!("CARGO_BIN_EXE_simex"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(
        dir.0
            .join("mutex_profile_trading-api_20261125_100000_analysis.md"),
    )
    .unwrap();
    assert!(report.contains("lock wait delay"));
    assert!(report.contains("Lock contention"));
    assert!(text(&out.stderr).contains("analyzer: using"));
}

#[test]
fn analyze_takes_several_profiles_like_a_shell_glob_expands_to() {
    let dir = TempDir::new("many");
    let a = dir.copy(
        "go_cpu_json.pb.gz",
        "cpu_profile_trading-api_20261125_100000.pb.gz",
    );
    let b = dir.copy(
        "go_cpu_mutex.pb.gz",
        "cpu_profile_trading-api_20261125_110000.pb.gz",
    );
    let out = simex(&[
        "analyze",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = json.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["categories"][0]["category"], "serialization");
    assert_eq!(reports[1]["categories"][0]["category"], "lock_contention");

    // One bad file does not stop the others, but the exit status says something failed.
    let bad = dir.0.join("cpu_profile_trading-api_20261125_120000.pb.gz");
    std::fs::write(&bad, b"garbage").unwrap();
    let out = simex(&["analyze", bad.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(dir
        .0
        .join("cpu_profile_trading-api_20261125_100000_analysis.md")
        .exists());
    assert!(text(&out.stderr).contains("not a valid pprof profile"));
}
