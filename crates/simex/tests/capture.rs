//! `simex profile` against a real HTTP server on 127.0.0.1:0 that answers the committed real
//! profiles at Go's `/debug/pprof/*` URLs: the four files land with our names and decode; a
//! service that is not there, or answers something that is not a profile, gives a clear message
//! and leaves no file behind. Also the service-management commands when nothing runs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use common::server::{profiling_service, Requests, Server};
use common::{fixture, simex, text, TempDir};
use profile_tools::Profile;

/// Something else on the port: healthy, but its pages are HTML.
fn html_service(_: Requests) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/debug/pprof/{name}",
            get(|| async { Html("<html><body>welcome</body></html>") }),
        )
}

/// Names in `dir` that start with `prefix`.
fn with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    TempDir::names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn cpu_capture_writes_profile_flamegraph_top_and_analysis() {
    let server = Server::start(profiling_service);
    let dir = TempDir::new("capture-cpu");
    let out = simex(&[
        "profile",
        "--type",
        "cpu",
        "--seconds",
        "2",
        "--port",
        &server.port(),
        "--out-dir",
        dir.0.to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.requests(), ["/debug/pprof/profile?seconds=2"]);

    let names = TempDir::names_in(&dir.0);
    assert_eq!(names.len(), 4, "{names:?}");
    let stem = names[0]
        .strip_suffix(".pb.gz")
        .or_else(|| names[0].strip_suffix(".svg"))
        .or_else(|| names[0].strip_suffix("_analysis.md"))
        .or_else(|| names[0].strip_suffix("_top.txt"))
        .unwrap()
        .to_owned();
    // The service named itself through /debug/pprof/cmdline.
    assert!(stem.starts_with("cpu_profile_trading-api_20"), "{stem}");
    for suffix in [".pb.gz", ".svg", "_top.txt", "_analysis.md"] {
        assert!(
            names.contains(&format!("{stem}{suffix}")),
            "{suffix}: {names:?}"
        );
    }
    let profile_path = dir.0.join(format!("{stem}.pb.gz"));
    assert_eq!(
        std::fs::read(&profile_path).unwrap(),
        std::fs::read(fixture("go_cpu_json.pb.gz")).unwrap(),
        "the profile is stored as answered"
    );
    let profile = Profile::from_path(&profile_path).unwrap();
    assert!(profile.total(profile.default_index) > 0);
    let svg = std::fs::read_to_string(dir.0.join(format!("{stem}.svg"))).unwrap();
    assert!(svg.contains("CPU profile · trading-api"), "titled");
    assert!(svg.contains("function search("), "inferno's script");
    let top = std::fs::read_to_string(dir.0.join(format!("{stem}_top.txt"))).unwrap();
    assert!(top.contains("encoding/json"), "{top}");
    let report = std::fs::read_to_string(dir.0.join(format!("{stem}_analysis.md"))).unwrap();
    assert!(report.contains("Serialization"), "{report}");
    // stdout lists exactly the files written, for scripts.
    let printed: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(printed.len(), 4, "{printed:?}");
    assert!(printed.iter().all(|p| Path::new(p).is_file()));

    if common::tool_available("go", &["version"]) {
        let go = Command::new("go")
            .args(["tool", "pprof", "-top"])
            .arg(&profile_path)
            .output()
            .unwrap();
        assert!(go.status.success(), "{}", text(&go.stderr));
        assert!(text(&go.stdout).contains("encoding/json"));
    }
}

#[test]
fn snapshots_by_service_name_and_all_types_of_all_services() {
    let server = Server::start(profiling_service);
    let dir = TempDir::new("capture-all");
    let out_dir = dir.0.to_str().unwrap();
    // --service finds the port from the base port: trading-api is on the base.
    let out = simex(&[
        "profile",
        "--type",
        "heap",
        "--service",
        "trading-api",
        "--base-port",
        &server.port(),
        "--out-dir",
        out_dir,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.requests(), ["/debug/pprof/heap"], "a snapshot");
    let heap = with_prefix(&dir.0, "heap_profile_trading-api_");
    assert_eq!(heap.len(), 3, "profile, svg, top; no analysis: {heap:?}");

    // --all: every type from every running service; the other two ports have nothing, so
    // they are skipped with a note.
    let out = simex(&[
        "profile",
        "--all",
        "--seconds",
        "1",
        "--base-port",
        &server.port(),
        "--out-dir",
        out_dir,
        "--no-progress",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("skipping market-sim"), "{stderr}");
    let mut asked = server.requests();
    asked.sort();
    assert_eq!(
        asked,
        [
            "/debug/pprof/allocs?seconds=1",
            "/debug/pprof/block",
            "/debug/pprof/goroutine",
            "/debug/pprof/heap",
            "/debug/pprof/heap",
            "/debug/pprof/mutex",
            "/debug/pprof/profile?seconds=1",
        ]
    );
    for kind in ["cpu", "allocs", "goroutine", "block", "mutex"] {
        let files = with_prefix(&dir.0, &format!("{kind}_profile_trading-api_"));
        let expected = if kind == "cpu" { 4 } else { 3 };
        assert_eq!(files.len(), expected, "{kind}: {files:?}");
        let profile = files.iter().find(|f| f.ends_with(".pb.gz")).unwrap();
        Profile::from_path(&dir.0.join(profile)).unwrap();
    }
    // The second heap snapshot got its own name instead of overwriting the first.
    assert_eq!(with_prefix(&dir.0, "heap_profile_trading-api_").len(), 6);
}

#[test]
fn nothing_listening_is_a_clear_error_and_writes_nothing() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let dir = TempDir::new("capture-none");
    let out_dir = dir.0.join("flamegraphs");
    let out = simex(&[
        "profile",
        "--type",
        "cpu",
        "--seconds",
        "1",
        "--port",
        &port,
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no service answers at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("make up"), "{stderr}");
    assert!(!out_dir.exists(), "nothing written");

    let out = simex(&[
        "profile",
        "--all",
        "--base-port",
        &port,
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no service is running"));
    assert!(!out_dir.exists(), "nothing written");

    let out = simex(&["profile", "--service", "matching-engine"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown service \"matching-engine\""));
}

#[test]
fn an_answer_that_is_not_a_profile_is_refused_and_not_kept() {
    let server = Server::start(html_service);
    let dir = TempDir::new("capture-html");
    let out = simex(&[
        "profile",
        "--type",
        "goroutine",
        "--port",
        &server.port(),
        "--out-dir",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("did not answer a pprof profile"),
        "{stderr}"
    );
    assert!(
        TempDir::names_in(&dir.0).is_empty(),
        "no files, no temporaries"
    );

    // A server without the endpoint (404) says so too.
    let server = Server::start(profiling_service);
    let out = simex(&[
        "profile",
        "--type",
        "heap",
        "--port",
        &server.port(),
        "--out-dir",
        dir.0.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    drop(server);
    let html = Server::start(|_| Router::new().route("/health", get(|| async { "ok" })));
    let before = TempDir::names_in(&dir.0);
    let out = simex(&[
        "profile",
        "--type",
        "mutex",
        "--port",
        &html.port(),
        "--out-dir",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("HTTP 404"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(TempDir::names_in(&dir.0), before);
}

#[test]
fn service_commands_when_nothing_runs() {
    let dir = TempDir::new("svc-none");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = free.local_addr().unwrap().port().to_string();
    drop(free);
    let state = dir.0.join("state");
    let logs = dir.0.join("logs");
    let args = |cmd: &str| {
        vec![
            cmd.to_owned(),
            "--state-dir".into(),
            state.display().to_string(),
            "--log-dir".into(),
            logs.display().to_string(),
            "--base-port".into(),
            base.clone(),
        ]
    };
    let run = |cmd: &str, extra: &[&str]| {
        let mut a = args(cmd);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        simex(&refs)
    };

    let out = run("status", &[]);
    assert_eq!(out.status.code(), Some(1), "a service is down");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("supervisor: not running"), "{stdout}");
    assert!(stdout.contains("trading-api"), "{stdout}");
    assert!(stdout.contains("down"), "{stdout}");

    let out = run("down", &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("simex is not running"));

    let out = run("logs", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no logs in"));

    let out = run("logs", &["nonsense"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown service"));

    // Binaries missing: a clear message, and nothing started or written.
    let empty_bins = dir.0.join("bin");
    std::fs::create_dir_all(&empty_bins).unwrap();
    let out = run("up", &["--bin-dir", empty_bins.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("trading-api not found"), "{stderr}");
    assert!(stderr.contains("make build"), "{stderr}");
    assert!(!state.exists() && !logs.exists());
}

#[test]
fn the_guide_script_captures_with_type_duration_and_port() {
    let server = Server::start(profiling_service);
    let dir = TempDir::new("capture-script");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/generate-flamegraph.sh");
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(&script)
            .args(args)
            .env("SIMEX_BIN", env!("CARGO_BIN_EXE_simex"))
            .env("PROFILE_DIR", &dir.0)
            .output()
            .unwrap()
    };
    let out = run(&["heap", "0", &server.port()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(with_prefix(&dir.0, "heap_profile_trading-api_").len(), 3);
    let out = run(&["allocs", "5", &server.port()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        server.requests(),
        ["/debug/pprof/heap", "/debug/pprof/allocs?seconds=5"]
    );

    let out = run(&["heapz", "0", &server.port()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown profile type 'heapz'"));
    let out = run(&["cpu", "ten", &server.port()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a whole number"));
}
