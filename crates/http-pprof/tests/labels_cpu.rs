//! Profile labels reach the CPU profile: two tasks, each wrapped in its own label set, spin in
//! two named functions; `go tool pprof -tags` must list both labels with about equal shares,
//! and `-tagfocus` on one must keep only its function. The nested label (`phase`) must be
//! added to the enclosing one. Skips loudly without `go` (fails under `CI`).

mod go_tool;
use go_tool::have_go;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_pprof::labels::{with_labels, LabelSet, WithPprofLabels};

#[inline(never)]
fn spin_for_worker_a(stop: &AtomicBool) -> u64 {
    let mut acc = 1_u64;
    while !stop.load(Ordering::Relaxed) {
        acc = std::hint::black_box(acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    acc
}

#[inline(never)]
fn spin_for_worker_b(stop: &AtomicBool) -> u64 {
    let mut acc = 3_u64;
    while !stop.load(Ordering::Relaxed) {
        acc = std::hint::black_box(acc.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(7));
    }
    acc
}

/// A thread that runs `spin` inside a labelled task on its own runtime.
fn labelled_worker(
    name: &'static str,
    spin: fn(&AtomicBool) -> u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let outer = LabelSet::new([("worker", name)]);
        let inner = LabelSet::new([("phase", "spin")]);
        runtime.block_on(with_labels(
            outer,
            async move { spin(&stop) }.with_pprof_labels(inner),
        ))
    })
}

fn pprof(path: &std::path::Path, args: &[&str]) -> String {
    let tmp = std::env::temp_dir().join("http-pprof-test-pprof-tmp");
    let output = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(path)
        .env("PPROF_TMPDIR", &tmp)
        .env("PPROF_BINARY_PATH", &tmp)
        .output()
        .expect("run go tool pprof");
    assert!(output.status.success(), "pprof {args:?} failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The percentage `-tags` gives `value` under its key (e.g. `1.2s (50.12%): a`).
fn tag_share(tags: &str, value: &str) -> f64 {
    tags.lines()
        .find_map(|l| {
            let (head, v) = l.trim().split_once("%): ")?;
            let pct = head.rsplit('(').next()?;
            (v.trim() == value).then(|| pct.trim().parse::<f64>().ok())?
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_samples_carry_their_tasks_labels() {
    if !have_go() {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let app = http_pprof::router::<()>(http_pprof::PprofConfig::default());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let stop = Arc::new(AtomicBool::new(false));
    let workers = [
        labelled_worker("a", spin_for_worker_a, Arc::clone(&stop)),
        labelled_worker("b", spin_for_worker_b, Arc::clone(&stop)),
    ];
    let body = reqwest::Client::new()
        .get(format!(
            "http://{addr}/debug/pprof/profile?seconds=2&hz=199"
        ))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("GET profile")
        .bytes()
        .await
        .expect("profile body");
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    let path = std::env::temp_dir().join(format!("http-pprof-labels-{}.pb.gz", std::process::id()));
    std::fs::write(&path, &body).expect("write profile");
    let tags = pprof(&path, &["-tags"]);
    let focused = pprof(&path, &["-tagfocus", "worker=a", "-top", "-nodecount=50"]);
    let _ = std::fs::remove_file(&path);

    let (a, b) = (tag_share(&tags, "a"), tag_share(&tags, "b"));
    assert!(
        a > 25.0 && b > 25.0,
        "both workers' labels carry their share (a {a}%, b {b}%):\n{tags}"
    );
    assert!(
        tag_share(&tags, "spin") >= a + b - 5.0,
        "the nested label is added to the outer one:\n{tags}"
    );
    assert!(
        focused.contains("spin_for_worker_a") && !focused.contains("spin_for_worker_b"),
        "-tagfocus worker=a keeps worker a's function only:\n{focused}"
    );
}
