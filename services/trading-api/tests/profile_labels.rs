//! CPU profile labels on a real trading-api: under order load over HTTP, `go tool pprof -tags`
//! lists the order route and each traded symbol, and `-tagfocus route=/api/v1/orders` keeps
//! the order path (the handler) and drops other routes. Skips loudly without `go` (fails
//! under `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{funded_account, start, temp_dir};
use serde_json::json;
use trading_api::journal::SyncMode;

const PROFILE_SECONDS: u64 = 3;

fn pprof(path: &std::path::Path, args: &[&str]) -> String {
    let tmp = std::env::temp_dir().join("trading-api-test-pprof-tmp");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_load_profile_is_labelled_by_route_and_symbol() {
    let have_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_go {
        assert!(
            std::env::var_os("CI").is_none(),
            "`go` is required under CI"
        );
        eprintln!("\n!!!!!!!! SKIPPING profile label test: `go` is not installed !!!!!!!!\n");
        return;
    }
    let dir = temp_dir("profile-labels");
    let t = start(&dir, SyncMode::Batch, 64);
    let (_, key) = funded_account(
        &t.router,
        "labels",
        &[("USD", "100000000"), ("BTC", "1000"), ("ETH", "10000")],
    )
    .await;
    let app = t.router.clone().merge(service_kit::http_pprof::router(
        service_kit::http_pprof::PprofConfig::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(PROFILE_SECONDS + 1);
    let mut load = Vec::new();
    for (worker, symbol, price) in [
        (0, "BTC-USD", "30000.00"),
        (1, "ETH-USD", "2000.00"),
        (2, "BTC-USD", "30000.00"),
    ] {
        let (client, key) = (client.clone(), key.clone());
        load.push(tokio::spawn(async move {
            let mut sent = 0_u32;
            while tokio::time::Instant::now() < deadline {
                let side = if sent % 2 == worker % 2 {
                    "buy"
                } else {
                    "sell"
                };
                let order = json!({"symbol": symbol, "side": side, "type": "limit",
                    "price": price, "quantity": "0.01"});
                let response = client
                    .post(format!("http://{addr}/api/v1/orders"))
                    .header("x-api-key", &key)
                    .json(&order)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201, "{order}");
                sent += 1;
            }
            sent
        }));
    }
    let body = client
        .get(format!(
            "http://{addr}/debug/pprof/profile?seconds={PROFILE_SECONDS}&hz=499"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut sent = 0;
    for task in load {
        sent += task.await.unwrap();
    }
    assert!(sent > 20, "the load barely ran: {sent} orders");
    let path = dir.join("cpu.pb.gz");
    std::fs::write(&path, &body).unwrap();
    let tags = pprof(&path, &["-tags"]);
    let orders = pprof(
        &path,
        &[
            "-tagfocus",
            "route=/api/v1/orders",
            "-top",
            "-nodecount=400",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);

    for label in ["/api/v1/orders", "BTC-USD", "ETH-USD"] {
        assert!(
            tags.lines()
                .any(|l| l.trim().ends_with(&format!(": {label}"))),
            "-tags lacks {label}:\n{tags}"
        );
    }
    assert!(
        orders.contains("trading_api::api::submit_order"),
        "-tagfocus route=/api/v1/orders lost the order handler:\n{orders}"
    );
    assert!(
        !orders.contains("http_pprof::cpu::") && !orders.contains("http_pprof::cpu_sampler::"),
        "the profiler's own work is not labelled with the order route:\n{orders}"
    );
}
