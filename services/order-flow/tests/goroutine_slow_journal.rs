//! Issue 11, item 3: with `slow-journal` active and orders waiting, the goroutine profile shows
//! the waiting requests in trading-api's own code, in every form (`debug=0` read by
//! `go tool pprof`, `debug=1`, `debug=2`), and the task count of `debug=1` is one per task.
//!
//! Before, only each task's first leaf future was kept: for an axum connection that is the
//! shutdown watch, so `debug=1` had no line in `trading_api::api` while `debug=2` had hundreds.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{start_exchange, tool_available};

fn get(url: &str, out: Option<&std::path::Path>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-fsS", "-m", "30"]);
    if let Some(path) = out {
        cmd.arg("-o").arg(path);
    }
    let o = cmd.arg(url).output().unwrap();
    assert!(
        o.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn go_pprof(args: &[&str], file: &std::path::Path) -> String {
    let o = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "go tool pprof {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn waiting_orders_show_in_every_goroutine_form_under_slow_journal() {
    if !tool_available("curl") || !tool_available("go") {
        return;
    }
    let exchange = start_exchange(&[]);
    let base = exchange.base.clone();
    // Every fsync takes 300 ms: each order waits for its group commit in trading-api's code.
    let status = Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "-X", "POST", "-H"])
        .arg("Content-Type: application/json")
        .args([
            "-d",
            r#"{"scenario":"slow-journal","params":{"delay_ms":300},"duration_secs":60}"#,
        ])
        .arg(format!("{base}/admin/chaos"))
        .status()
        .unwrap();
    assert!(status.success(), "arming slow-journal");
    let load = {
        let (base, keys) = (base.clone(), exchange.keys.clone());
        std::thread::spawn(move || common::run_load(&base, &keys, 200, 8, 24))
    };
    std::thread::sleep(Duration::from_secs(3));

    let full = get(&format!("{base}/debug/pprof/goroutine?debug=2"), None);
    let grouped = get(&format!("{base}/debug/pprof/goroutine?debug=1"), None);
    let file = exchange.dir.0.join("goroutine.pb.gz");
    get(&format!("{base}/debug/pprof/goroutine"), Some(&file));
    load.join().unwrap();

    // debug=2: requests waiting in the order path, as the task's primary branch (first).
    let in_api = full
        .split("\n\n")
        .filter(|t| {
            let primary = t.split("\n-- branch ").next().unwrap_or("");
            primary.contains("trading_api::api")
        })
        .count();
    assert!(
        in_api >= 5,
        "debug=2: only {in_api} tasks in trading_api::api:\n{full}"
    );
    // debug=1: the same work, counted once per task; the counts add up to the total.
    let count_of = |r: &str| -> Option<usize> {
        r.split(" @")
            .next()?
            .trim()
            .rsplit('\n')
            .next()?
            .parse()
            .ok()
    };
    let total: usize = grouped
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("goroutine profile: total "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    let records = grouped.split("\n\n");
    let counted: usize = records.clone().filter_map(count_of).sum();
    assert_eq!(counted, total, "{grouped}");
    let api_records: usize = records
        .filter(|r| r.contains("trading_api::api"))
        .filter_map(count_of)
        .sum();
    assert!(
        api_records >= 5,
        "debug=1 has {api_records} tasks in trading_api::api:\n{grouped}"
    );
    // The proto, read by go tool pprof.
    let top = go_pprof(&["-top", "-focus=trading_api::api"], &file);
    assert!(top.contains("trading_api::"), "{top}");
    let traces = go_pprof(&["-traces"], &file);
    assert!(traces.contains("trading_api::api"), "{traces}");
    let tags = go_pprof(&["-tags"], &file);
    assert!(
        tags.contains("state") && tags.contains("created_by"),
        "{tags}"
    );
}
