//! A goroutine dump never starts while a worker is stuck inside one poll (issue 11, item 10).
//!
//! Tokio's multi-thread dump makes every worker meet at a barrier with a 250 ms timeout whose
//! timed-out arrivals are never taken back; a later dump can then park a worker forever
//! (see `src/goroutine.rs`). The precondition is a worker that does not reach a yield point:
//! here a task that blocks its worker for 2.5 s, as `slow-journal`'s synchronous fsync delay
//! does. The endpoint must answer 503 quickly instead of dumping, then dump normally once the
//! worker is free, and the runtime's timers must keep firing throughout.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (status, body, elapsed) of `GET url`.
fn get(url: &str) -> (u16, String, Duration) {
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-m", "20", "-w", "\n%{http_code}"])
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
        start.elapsed(),
    )
}

#[test]
fn a_worker_stuck_in_a_poll_gets_a_503_not_a_wedged_runtime() {
    let has_curl = Command::new("sh")
        .args(["-c", "command -v curl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_curl {
        assert!(std::env::var_os("CI").is_none(), "curl missing and CI set");
        eprintln!("SKIP: curl not installed");
        return;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let rt = http_pprof::task_hooks::instrument(&mut builder)
        .build()
        .unwrap();
    let ticks = Arc::new(AtomicU64::new(0));
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = http_pprof::PprofConfig {
            task_dump_timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let app = http_pprof::router::<()>(config);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .ok();
        });
        let heartbeat = Arc::clone(&ticks);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            loop {
                every.tick().await;
                heartbeat.fetch_add(1, Ordering::Relaxed);
            }
        });
        addr
    });
    let url = format!("http://{addr}/debug/pprof/goroutine?debug=1");

    let blocker = rt.spawn(async {
        // Deliberately blocks its worker, as a synchronous fsync delay inside a task would.
        std::thread::sleep(Duration::from_millis(2500));
    });
    std::thread::sleep(Duration::from_millis(100));
    let (status, body, took) = get(&url);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("goroutine dump refused"), "{body}");
    assert!(took < Duration::from_secs(3), "took {took:?}");

    rt.block_on(blocker).unwrap();
    let before = ticks.load(Ordering::Relaxed);
    let (status, body, _) = get(&url);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("goroutine profile: total "), "{body}");
    // Timers still fire on both workers' watch: the heartbeat keeps ticking.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ticks.load(Ordering::Relaxed) >= before + 10,
        "the runtime's timers stopped after the dump"
    );
    rt.shutdown_timeout(Duration::from_secs(2));
}
