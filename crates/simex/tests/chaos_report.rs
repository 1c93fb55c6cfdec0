//! `simex chaos report DIR` on hand-built run folders: the first finding names what grew from
//! the load to the fault window, in the profile's unit, whether it went away, and the verdict
//! follows the p99 budget with its numbers.

mod common;
#[path = "../../profile-tools/tests/common/handmade.rs"]
mod handmade;

use std::path::Path;

use common::{simex, text, TempDir};
use handmade::Handmade;

const ROOT: &[&str] = &["start_thread", "std::sys::thread::start"];

fn stack<'a>(tail: &[&'a str]) -> Vec<&'a str> {
    ROOT.iter().copied().chain(tail.iter().copied()).collect()
}

/// A run folder with `run.json`, load reports and the given profiles per phase.
fn run_dir(
    root: &Path,
    scenario: &str,
    p99: [f64; 3],
    success: [f64; 3],
    profiles: &[(&str, &str, Handmade)],
) -> std::path::PathBuf {
    let dir = root.join(format!("chaos_{scenario}_20260101T000000Z"));
    std::fs::create_dir_all(&dir).expect("run dir");
    let run = serde_json::json!({
        "scenario": scenario, "service": "trading-api", "params": {}, "seconds": 3,
        "rate": 100.0, "budget_p99_ms": 250.0, "services": ["trading-api"],
        "fault": {"id": "chaos-1", "progress": 42}, "faults_left": [], "started": "20260101T000000Z"
    });
    std::fs::write(dir.join("run.json"), run.to_string()).expect("run.json");
    for (i, phase) in ["load", "chaos", "recovery"].iter().enumerate() {
        let failed = ((1.0 - success[i]) * 300.0).round() as u64;
        let errors = if failed > 0 {
            serde_json::json!({"503": failed})
        } else {
            serde_json::json!({})
        };
        let load = serde_json::json!({
            "achieved_rate": 100.0, "success_ratio": success[i], "errors": errors,
            "latency_ms": {"p50": p99[i] / 3.0, "p99": p99[i]}
        });
        std::fs::write(dir.join(format!("{phase}_load.json")), load.to_string())
            .expect("load report");
        std::fs::create_dir_all(dir.join(phase)).expect("phase dir");
    }
    for (phase, profile_type, profile) in profiles {
        profile.write(&dir.join(phase).join(format!(
            "{profile_type}_profile_trading-api_20260101_000000.pb.gz"
        )));
    }
    dir
}

fn cpu(handler: f64, spin: f64) -> Handmade {
    let mut h = Handmade::cpu(3.0).cpu_sample(&stack(&["trading_api::api::submit"]), handler);
    if spin > 0.0 {
        h = h.cpu_sample(
            &stack(&[
                "chaos::scenarios::duty_cycle_loop",
                "chaos::scenarios::run_loops::{{closure}}",
                "chaos::scenarios::cpu_burn::spin",
            ]),
            spin,
        );
    }
    h
}

fn mutex(book: i64, global: i64) -> Handmade {
    Handmade::new(&[("contentions", "count"), ("delay", "nanoseconds")])
        .duration(3.0)
        .sample(
            &stack(&[
                "trading_api::venue::Venue::execute",
                "trading_api::venue::lock_book",
            ]),
            &[10, book],
        )
        .sample(
            &stack(&[
                "trading_api::venue::Venue::execute",
                "trading_api::venue::LockChaos::serialize",
            ]),
            &[10, global],
        )
}

fn report_of(dir: &Path) -> (std::process::Output, String) {
    let out = simex(&["chaos", "report", &dir.display().to_string()]);
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a named folder");
    let root = dir.parent().expect("inside a temp dir");
    let md = std::fs::read_to_string(root.join(format!("{name}_report.md")))
        .unwrap_or_else(|e| panic!("no report: {e}; stderr {}", text(&out.stderr)));
    (out, md)
}

fn line<'a>(md: &'a str, prefix: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{md}"))
}

#[test]
fn cpu_burn_is_named_with_its_growth_and_the_failed_steady_state() {
    let tmp = TempDir::new("chaos-report-cpu");
    let dir = run_dir(
        &tmp.0,
        "cpu-burn",
        [41.0, 940.0, 45.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "cpu", cpu(0.5, 0.0)),
            ("chaos", "cpu", cpu(0.5, 2.9)),
            ("recovery", "cpu", cpu(0.5, 0.0)),
            // Lock waits grow a little too (CPU starvation); far below the floor, not a finding.
            ("load", "mutex", mutex(1_000_000, 0)),
            ("chaos", "mutex", mutex(9_000_000, 0)),
            ("recovery", "mutex", mutex(1_000_000, 0)),
        ],
    );
    let (out, md) = report_of(&dir);
    assert!(!out.status.success(), "a failed steady state exits 1");
    let summary = text(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "one summary line: {summary}");
    assert!(
        summary.contains("FAILED") && summary.contains("cpu_burn::spin"),
        "{summary}"
    );
    let verdict = line(&md, "**Verdict:");
    assert!(verdict.contains("failed"), "{verdict}");
    assert!(verdict.contains("940.0 ms > budget 250 ms"), "{verdict}");
    let shows = line(&md, "2. **Shows in:**");
    assert!(shows.contains("CPU profile of trading-api"), "{shows}");
    assert!(
        shows.contains("`chaos::scenarios::cpu_burn::spin`"),
        "{shows}"
    );
    assert!(shows.contains("+2.90s"), "{shows}");
    assert!(shows.contains("duty_cycle_loop"), "{shows}");
    let after = line(&md, "3. **After removal:**");
    assert!(after.starts_with("3. **After removal:** gone"), "{after}");
    assert!(
        md.contains("## mutex (lock contention)"),
        "a mutex section:\n{md}"
    );
    assert!(dir.join("diff_cpu_trading-api_load_to_chaos.svg").is_file());
    assert!(dir.join("report.json").is_file());
}

#[test]
fn lock_contention_is_read_from_the_mutex_delta_and_still_there_is_said() {
    let tmp = TempDir::new("chaos-report-mutex");
    let dir = run_dir(
        &tmp.0,
        "lock-contention",
        [30.0, 120.0, 35.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "mutex", mutex(10_000_000, 0)),
            ("chaos", "mutex", mutex(400_000_000, 5_000_000_000)),
            // The lock is still contended after the fault was removed.
            ("recovery", "mutex", mutex(10_000_000, 4_000_000_000)),
        ],
    );
    let (out, md) = report_of(&dir);
    assert!(out.status.success(), "within budget: {}", text(&out.stdout));
    assert!(line(&md, "**Verdict:").contains("completed"), "{md}");
    let shows = line(&md, "2. **Shows in:**");
    assert!(shows.contains("mutex (lock contention) profile"), "{shows}");
    assert!(shows.contains("LockChaos::serialize"), "{shows}");
    assert!(shows.contains("+5.00s (seconds of waiting)"), "{shows}");
    let after = line(&md, "3. **After removal:**");
    assert!(after.contains("STILL THERE"), "{after}");
}

#[test]
fn a_request_layer_fault_is_named_from_latency_when_no_profile_grew() {
    let tmp = TempDir::new("chaos-report-latency");
    let dir = run_dir(
        &tmp.0,
        "latency",
        [20.0, 125.0, 21.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "cpu", cpu(0.5, 0.0)),
            ("chaos", "cpu", cpu(0.5, 0.0)),
            ("recovery", "cpu", cpu(0.5, 0.0)),
        ],
    );
    let (_, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(
        shows.contains("request latency: p50 6.7 → 41.7 ms (+35.0 ms), p99 20.0 → 125.0 ms"),
        "{shows}"
    );
    assert!(shows.contains("request layer"), "{shows}");

    let dir = run_dir(&tmp.0, "errors", [20.0, 22.0, 21.0], [1.0, 0.9, 1.0], &[]);
    let (out, md) = report_of(&dir);
    assert!(!out.status.success());
    assert!(
        line(&md, "**Verdict:").contains("success 90.0% < 99%"),
        "{md}"
    );
    let shows = line(&md, "2. **Shows in:**");
    assert!(
        shows.contains("errors: success 100.0% → 90.0% (503 × 30)"),
        "{shows}"
    );
}

#[test]
fn a_small_growth_does_not_outrank_a_latency_every_request_sees() {
    let tmp = TempDir::new("chaos-report-weak");
    // The latency fault: p50 and p99 up by 100 ms. The mutex profile also grows a little
    // (more requests in flight): above the noise floor, far below the load window's own lock
    // activity, so it is listed but is not the answer.
    let dir = run_dir(
        &tmp.0,
        "latency",
        [15.0, 330.0, 16.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "mutex", mutex(200_000_000, 0)),
            ("chaos", "mutex", mutex(300_000_000, 0)),
            ("recovery", "mutex", mutex(200_000_000, 0)),
        ],
    );
    let (_, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(
        shows.starts_with("2. **Shows in:** request latency"),
        "{shows}"
    );
    assert!(shows.contains("too small to cause it"), "{shows}");
    assert!(
        md.contains("trading_api::venue::Venue::execute"),
        "the weak finding is still listed:\n{md}"
    );

    // The same growth, ten times larger, is the answer: it can explain the latency.
    let dir = run_dir(
        &tmp.0,
        "lock-contention",
        [15.0, 330.0, 16.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "mutex", mutex(200_000_000, 0)),
            ("chaos", "mutex", mutex(1_200_000_000, 0)),
            ("recovery", "mutex", mutex(200_000_000, 0)),
        ],
    );
    let (_, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(shows.contains("mutex (lock contention) profile"), "{shows}");
    assert!(
        line(&md, "4. **Symptom at the request layer:**").contains("p50 5.0 → 110.0 ms"),
        "{md}"
    );
}

#[test]
fn growth_inside_a_library_is_named_by_the_programs_own_caller() {
    let tmp = TempDir::new("chaos-report-owner");
    let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
    let allocs = |parse_bytes: i64| {
        let parse = stack(&[
            "chaos::scenarios::duty_cycle_loop",
            "chaos::scenarios::json_heavy::parse_documents",
            "serde_json::de::from_str",
            "serde_json::value::de::ValueVisitor::visit_map",
            "hashbrown::map::HashMap<K,V,S,A>::insert",
        ]);
        let mut h = Handmade::new(&[("alloc_objects", "count"), ("alloc_space", "bytes")])
            .duration(3.0)
            .file(
                "chaos::scenarios::json_heavy::parse_documents",
                "/work/app/crates/chaos/src/scenarios/json_heavy.rs",
            )
            .file(
                "serde_json::de::from_str",
                &format!("{registry}/serde_json-1.0.145/src/de.rs"),
            )
            .file(
                "serde_json::value::de::ValueVisitor::visit_map",
                &format!("{registry}/serde_json-1.0.145/src/value/de.rs"),
            )
            .file(
                "hashbrown::map::HashMap<K,V,S,A>::insert",
                &format!("{registry}/hashbrown-0.15.2/src/map.rs"),
            )
            .sample(&stack(&["trading_api::api::submit"]), &[100, 4 << 20]);
        if parse_bytes > 0 {
            h = h.sample(&parse, &[1000, parse_bytes]);
        }
        h
    };
    let dir = run_dir(
        &tmp.0,
        "json-heavy",
        [15.0, 16.0, 15.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "allocs", allocs(0)),
            ("chaos", "allocs", allocs(64 << 20)),
            ("recovery", "allocs", allocs(0)),
        ],
    );
    let (out, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(
        shows.contains(
            "`chaos::scenarios::json_heavy::parse_documents` (in `hashbrown::map::HashMap<K,V,S,A>::insert`)"
        ),
        "{shows}"
    );
    let summary = text(&out.stdout);
    assert!(summary.contains("json_heavy::parse_documents"), "{summary}");
}

#[test]
fn tasks_that_stop_ending_are_not_a_leak() {
    let tmp = TempDir::new("chaos-report-delta");
    // An earlier fault's tasks end during the load window (-21 there); under the errors fault
    // nothing of the kind happens (+1). Goroutine windows are deltas: that is no growth, and
    // the errors are the answer.
    let tasks = |n: i64| {
        Handmade::new(&[("goroutine", "count")])
            .duration(3.0)
            .sample(
                &stack(&[
                    "tokio::runtime::task::harness::Harness<T,S>::poll",
                    "chaos::scenarios::task_leak::leaked_task::{{closure}}",
                    "tokio::sync::notify::NotifiedProject::poll_notified",
                ]),
                &[n],
            )
            .sample(&stack(&["trading_api::api::serve"]), &[1])
    };
    let dir = run_dir(
        &tmp.0,
        "errors",
        [16.0, 18.0, 16.0],
        [1.0, 0.83, 1.0],
        &[
            ("load", "goroutine", tasks(-21)),
            ("chaos", "goroutine", tasks(1)),
            ("recovery", "goroutine", tasks(0)),
        ],
    );
    let (_, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(shows.contains("errors: success 100.0% → 83.0%"), "{shows}");
}

#[test]
fn a_larger_runtime_only_growth_does_not_hide_the_programs_own() {
    let tmp = TempDir::new("chaos-report-own");
    // Tasks in runtime-only stacks swing by 147 (an earlier fault's tasks ending, then new
    // connections); the leak adds 60 tasks in the program's own code. The diff's largest path
    // is the runtime one, and the answer must still be the leak.
    let runtime = stack(&[
        "tokio::runtime::task::harness::Harness<T,S>::poll",
        "<tokio::task::coop::Coop<F> as core::future::future::Future>::poll",
        "tokio::sync::notify::NotifiedProject::poll_notified",
    ]);
    let leak = stack(&[
        "tokio::runtime::task::harness::Harness<T,S>::poll",
        "chaos::scenarios::task_leak::leaked_task::{{closure}}",
        "tokio::sync::notify::NotifiedProject::poll_notified",
    ]);
    let tasks = |runtime_n: i64, leak_n: i64| {
        let mut h = Handmade::new(&[("goroutine", "count")])
            .duration(3.0)
            .sample(&runtime, &[runtime_n]);
        if leak_n != 0 {
            h = h.sample(&leak, &[leak_n]);
        }
        h
    };
    let dir = run_dir(
        &tmp.0,
        "task-leak",
        [16.0, 18.0, 16.0],
        [1.0, 1.0, 1.0],
        &[
            ("load", "goroutine", tasks(-73, 0)),
            ("chaos", "goroutine", tasks(74, 60)),
            ("recovery", "goroutine", tasks(0, 0)),
        ],
    );
    let (_, md) = report_of(&dir);
    let shows = line(&md, "2. **Shows in:**");
    assert!(
        shows.contains("chaos::scenarios::task_leak::leaked_task"),
        "{shows}"
    );
}
