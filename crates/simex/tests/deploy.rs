//! The docker compose demo's configuration, checked without a Docker engine: `docker-compose
//! config -q` accepts docker-compose.yml, `promtool check config` accepts the Prometheus config,
//! the Parca config names the three services' pprof endpoints with a bearer token, and every
//! Grafana dashboard is valid JSON whose expressions name only metrics the real services export
//! (read from `/metrics` of the three binaries started by `simex up` on free ports).
//!
//! A missing tool or binary prints SKIP, and fails when `CI` is set.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::services::{service_bins, Deployment};
use common::{text, tool_available};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn compose_file_is_accepted() {
    if !tool_available("docker-compose", &["version"]) {
        return;
    }
    let out = Command::new("docker-compose")
        .args(["config", "-q"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn prometheus_config_is_accepted() {
    if !tool_available("promtool", &["--version"]) {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "config", "deploy/prometheus/prometheus.yml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn parca_scrapes_every_service_with_the_token() {
    let parca = std::fs::read_to_string(repo().join("deploy/parca/parca.yaml")).unwrap();
    for needle in [
        "trading-api:8080",
        "market-sim:8081",
        "order-flow:8082",
        "/debug/pprof/profile",
        "/debug/pprof/heap",
        "credentials_file",
    ] {
        assert!(parca.contains(needle), "parca.yaml lacks {needle}");
    }
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    assert!(compose.contains("SIMEX_PPROF_TOKEN") && compose.contains("parca-token"));
}

/// PromQL words that are not metric names (aggregations may be followed by `by (..)`, not `(`).
const KEYWORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names an expression reads: identifiers outside label matchers, ranges, strings and
/// grouping clauses that are not followed by `(` (a function).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut cleaned = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            '{' if !in_string => depth_brace += 1,
            '}' if !in_string => depth_brace -= 1,
            '[' if !in_string => depth_bracket += 1,
            ']' if !in_string => depth_bracket -= 1,
            _ if in_string || depth_brace > 0 || depth_bracket > 0 => {}
            _ => cleaned.push(c),
        }
    }
    // Drop grouping clauses: `by (a, b)`.
    let mut names = BTreeSet::new();
    let chars: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if word == "by" || word == "without" {
                skip_group = true;
            } else if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else if chars[i] == '(' && skip_group {
            // Skip to the matching `)`.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_group = false;
            i += 1;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="x"}[1m]))) / on (job) process_threads"#,
    );
    let want: BTreeSet<String> = [
        "http_request_duration_seconds_bucket",
        "job",
        "process_threads",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // `on (job)` is not a grouping clause this parser skips; its label shows up, which is why
    // the dashboards avoid `on`/`ignoring`.
    assert_eq!(names, want);
}

#[test]
fn dashboards_reference_only_exported_metrics() {
    let Some(bins) = service_bins() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "service binaries not built, and CI is set"
        );
        eprintln!("SKIP: service binaries not built (or set SIMEX_TEST_BIN_DIR)");
        return;
    };
    // Every dashboard parses and names metrics.
    let dir = repo().join("deploy/grafana/dashboards");
    let mut used = BTreeSet::new();
    let mut dashboards = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        assert!(doc["title"].is_string() && doc["uid"].is_string());
        let panels = doc["panels"].as_array().unwrap();
        assert!(!panels.is_empty(), "{} has no panels", path.display());
        for panel in panels {
            for target in panel["targets"].as_array().unwrap() {
                used.extend(metric_names(target["expr"].as_str().unwrap()));
            }
        }
        dashboards += 1;
    }
    assert!(
        dashboards >= 4,
        "exchange overview, latency, chaos and profiling"
    );

    let deployment = Deployment::new("deploy-metrics", &bins);
    let base = deployment.base;
    let run = |cmd: &str| deployment.run(cmd, &[]);
    let out = run("up");
    assert!(out.status.success(), "up: {}", text(&out.stderr));
    // Let order-flow trade a little, so the labelled series exist.
    std::thread::sleep(std::time::Duration::from_secs(3));

    let mut exported = BTreeSet::new();
    for port in base..base + 3 {
        let mut resp = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .unwrap();
        for line in resp.body_mut().read_to_string().unwrap().lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            exported.insert(name.to_owned());
        }
    }
    // Label names (`job`) come from Prometheus, not the services.
    let missing: Vec<&String> = used
        .iter()
        .filter(|m| !exported.contains(*m) && m.as_str() != "job")
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards use metrics nobody exports: {missing:?}"
    );
}
