//! The Makefile's profiling targets, run with `make` against a stand-in service on a free port
//! (a real HTTP server answering committed real profiles): each target writes the files the
//! guide promises, they decode (and `go tool pprof` reads them when Go is installed), and the
//! view, analyze, diff and clean targets work on what was captured.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::server::{profiling_service, Server};
use common::{text, TempDir};
use profile_tools::Profile;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `make -s TARGET VARS...` in the repository with this build's simex and the profiles
/// going to `dir`; no display, so nothing opens a browser.
fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo_root())
        .args(args)
        .env("SIMEX_BIN", env!("CARGO_BIN_EXE_simex"))
        .env("PROFILE_DIR", dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("BROWSER")
        .env_remove("SIMEX_BASE_PORT")
        .output()
        .unwrap()
}

fn names_with(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    TempDir::names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect()
}

fn check_profiles_decode(dir: &Path) {
    let go = common::tool_available("go", &["version"]);
    for name in names_with(dir, "", ".pb.gz") {
        let path = dir.join(&name);
        Profile::from_path(&path).unwrap();
        if go {
            let out = Command::new("go")
                .args(["tool", "pprof", "-top"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        }
    }
    for name in names_with(dir, "", ".svg") {
        let svg = std::fs::read_to_string(dir.join(&name)).unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains("function search("),
            "{name}"
        );
    }
}

#[test]
fn profiling_targets_capture_view_analyze_diff_and_clean() {
    if !common::tool_available("make", &["--version"]) {
        return;
    }
    let server = Server::start(profiling_service);
    let dir = TempDir::new("make-targets");
    let port = format!("PORT={}", server.port());

    for (target, prefix, files) in [
        ("profile-cpu", "cpu_profile_trading-api_", 4),
        ("profile-heap", "heap_profile_trading-api_", 3),
        ("profile-goroutine", "goroutine_profile_trading-api_", 3),
        ("profile-allocs", "allocs_profile_trading-api_", 3),
        ("profile-block", "block_profile_trading-api_", 3),
        ("profile-mutex", "mutex_profile_trading-api_", 3),
    ] {
        let out = make(&dir.0, &[target, &port, "PROFILE_SECONDS=1"]);
        assert!(out.status.success(), "{target}: {}", text(&out.stderr));
        let made = names_with(&dir.0, prefix, "");
        assert_eq!(made.len(), files, "{target}: {made:?}");
    }
    assert_eq!(
        server.requests(),
        [
            "/debug/pprof/profile?seconds=1",
            "/debug/pprof/heap",
            "/debug/pprof/goroutine",
            "/debug/pprof/allocs?seconds=1",
            "/debug/pprof/block",
            "/debug/pprof/mutex",
        ]
    );

    // profile-all over every running service of the base port (only trading-api here).
    let base = format!("BASE_PORT={}", server.port());
    let out = make(&dir.0, &["profile-all", &base, "PROFILE_SECONDS=1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        names_with(&dir.0, "cpu_profile_trading-api_", ".pb.gz").len(),
        2
    );
    assert_eq!(names_with(&dir.0, "", ".pb.gz").len(), 12);
    check_profiles_decode(&dir.0);

    // No display: the paths of the newest flamegraph of each type are printed.
    let out = make(&dir.0, &["profile-view"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("no browser or display"), "{listed}");
    assert_eq!(listed.matches(".svg").count(), 6, "{listed}");

    let out = make(&dir.0, &["profile-analyze"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Executive summary"));

    // Default diff: the two CPU profiles of trading-api; the same data, so no change.
    let out = make(&dir.0, &["profile-diff"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("No change"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        names_with(&dir.0, "diff_cpu_profile_trading-api_", "").len(),
        2
    );

    let out = make(&dir.0, &["profile-clean"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        TempDir::names_in(&dir.0).is_empty(),
        "{:?}",
        TempDir::names_in(&dir.0)
    );

    // Nothing left to look at, nothing running: clear messages, failing exit codes.
    let out = make(&dir.0, &["profile-diff"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no CPU profiles"));
    drop(server);
    let out = make(&dir.0, &["profile-heap", &port]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no service answers"));
    assert!(TempDir::names_in(&dir.0).is_empty());
}
