//! Regression (issue 11, item 4): CPU samples taken inside `clock_gettime` (libc's wrapper and
//! the vDSO, both without a full frame-pointer chain) lost their callers: under lock contention
//! 43% of trading-api's samples were a bare `clock_gettime`, some with impossible stacks.
//!
//! One thread asks for the time in a tight loop from a named function; the profile, read by
//! `go tool pprof -traces`, must charge (nearly) every `clock_gettime` sample to that function,
//! through frames that are only `clock_gettime`'s own. Skips loudly without `go` (fails under
//! `CI`).

mod go_tool;
use go_tool::have_go;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The function whose samples must come back with their caller.
#[inline(never)]
fn ask_the_clock_in_a_loop(stop: &AtomicBool) -> i64 {
    let mut sum = 0_i64;
    while !stop.load(Ordering::Relaxed) {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime fills `now`.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        sum = sum.wrapping_add(std::hint::black_box(now.tv_nsec));
    }
    sum
}

/// Serves the pprof routes on a free loopback port; returns the address.
async fn serve() -> std::net::SocketAddr {
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
    addr
}

/// The samples of `go tool pprof -traces` output, each as its frames, leaf first (the value
/// that starts a sample's first line is dropped).
fn traces(text: &str) -> Vec<Vec<String>> {
    text.split("-----------+-------------------------------------------------------")
        .skip(1)
        .map(|block| {
            block
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    let l = l.trim();
                    let frame = if i == 0 {
                        l.split_once(char::is_whitespace).map_or("", |(_, f)| f)
                    } else {
                        l
                    };
                    frame.trim().to_owned()
                })
                .collect::<Vec<_>>()
        })
        .filter(|frames| !frames.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_gettime_samples_keep_their_caller() {
    if !have_go() {
        return;
    }
    let addr = serve().await;
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || ask_the_clock_in_a_loop(&stop))
    };
    let body = reqwest::Client::new()
        .get(format!(
            "http://{addr}/debug/pprof/profile?seconds=2&hz=499"
        ))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("GET profile")
        .bytes()
        .await
        .expect("profile body");
    stop.store(true, Ordering::Relaxed);
    looping.join().expect("loop thread");
    let path = std::env::temp_dir().join(format!("http-pprof-vdso-{}.pb.gz", std::process::id()));
    std::fs::write(&path, &body).expect("write profile");
    let tmp = std::env::temp_dir().join("http-pprof-test-pprof-tmp");
    let output = Command::new("go")
        .args(["tool", "pprof", "-traces"])
        .arg(&path)
        .env("PPROF_TMPDIR", &tmp)
        .env("PPROF_BINARY_PATH", &tmp)
        .output()
        .expect("run go tool pprof");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "pprof failed: {output:?}");

    let is_clock =
        |f: &str| f.contains("clock_gettime") || f.starts_with("do_") || f == "vread_tsc";
    let in_clock = traces(&text);
    let samples: Vec<&Vec<String>> = in_clock
        .iter()
        .filter(|frames| frames.first().is_some_and(|leaf| is_clock(leaf)))
        .collect();
    assert!(
        samples.len() >= 5,
        "too few clock_gettime samples ({}):\n{text}",
        samples.len()
    );
    let with_caller = samples
        .iter()
        .filter(|frames| {
            // Plausible: clock_gettime's own frames, then the loop function, nothing between.
            let first_other = frames.iter().find(|f| !is_clock(f));
            first_other.is_some_and(|f| f.ends_with("ask_the_clock_in_a_loop"))
        })
        .count();
    let share = with_caller as f64 / samples.len() as f64;
    eprintln!(
        "{with_caller} of {} clock_gettime traces have the loop as caller",
        samples.len()
    );
    assert!(
        share >= 0.9,
        "only {with_caller} of {} clock_gettime traces reach ask_the_clock_in_a_loop:\n{text}",
        samples.len()
    );
}
