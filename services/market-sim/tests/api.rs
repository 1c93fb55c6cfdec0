//! market-sim's HTTP API over real sockets: the routes in-process with a live reference market
//! (prices, volatility shocks, the `/ws` feed), and the binary honestly not ready while
//! trading-api is absent.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use exchange_client::Grid;
use futures_util::StreamExt;
use market_sim::api::{routes, AppState, Running};
use market_sim::maker::MakerStatus;
use market_sim::market::ReferenceMarket;
use market_sim::price::PriceModel;
use tokio_util::sync::CancellationToken;

async fn serve_with_market() -> (String, Arc<ReferenceMarket>, CancellationToken) {
    let grid = Grid::from_sizes("0.01", "0.0001").unwrap();
    let market = Arc::new(ReferenceMarket::new(
        vec![
            ("BTC-USD".into(), grid, 60_000.0),
            ("ETH-USD".into(), grid, 3_000.0),
        ],
        PriceModel::default(),
        1,
    ));
    let shutdown = CancellationToken::new();
    let running = Arc::new(OnceLock::new());
    running
        .set(Running {
            market: Arc::clone(&market),
            makers: vec![Arc::new(Mutex::new(MakerStatus::default()))],
        })
        .unwrap();
    let state = AppState {
        running,
        exchange_url: "http://127.0.0.1:1".into(),
        seed: 1,
        started: Instant::now(),
        shutdown: shutdown.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = routes(state);
    let token = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
    });
    tokio::spawn(Arc::clone(&market).run_clock(Duration::from_millis(20), shutdown.clone()));
    (format!("127.0.0.1:{}", addr.port()), market, shutdown)
}

#[tokio::test]
async fn prices_shocks_and_the_price_feed() {
    let (addr, market, shutdown) = serve_with_market().await;
    let http = reqwest::Client::new();
    let prices: serde_json::Value = http
        .get(format!("http://{addr}/api/v1/prices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prices["prices"].as_array().unwrap().len(), 2);
    assert_eq!(prices["prices"][0]["symbol"], "BTC-USD");

    let post = |body: &'static str| {
        http.post(format!("http://{addr}/api/v1/volatility"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ok = post(r#"{"pattern":"spike","intensity":3,"symbol":"ETH-USD","duration_secs":30}"#)
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 202);
    let p = market.prices();
    assert!(
        p[0].shock.is_none() && p[1].shock.is_some(),
        "only ETH-USD is shocked"
    );
    for bad in [
        r#"{"pattern":"wobble","intensity":1}"#,
        r#"{"pattern":"decay","intensity":0}"#,
        r#"{"pattern":"decay","intensity":1e9}"#,
        r#"{"pattern":"decay","intensity":1,"symbol":"NOPE-USD"}"#,
        r#"{"pattern":"decay","intensity":1,"duration_secs":-5}"#,
        r#"{"pattern":"decay","intensity":1,"extra":true}"#,
        r#"not json"#,
    ] {
        let resp = post(bad).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let mut times = Vec::new();
    while times.len() < 3 {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert_eq!(value["type"], "prices");
        times.push(value["prices"][0]["t"].as_f64().unwrap());
    }
    assert!(
        times[2] > times[1] && times[1] >= times[0],
        "the feed moves forward: {times:?}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_binary_waits_for_trading_api_without_pretending() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on this port: trading-api is "down".
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_market-sim"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--exchange-url",
            &format!("http://127.0.0.1:{dead}"),
        ])
        .args(["--keys-file", "/nonexistent/demo-keys.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut health = None;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/health")).send().await {
            health = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let prices = http
        .get(format!("{base}/api/v1/prices"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let status: Option<serde_json::Value> =
        match http.get(format!("{base}/api/v1/status")).send().await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
    let missing = http
        .get(format!("{base}/nope"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health, Some(200));
    assert_eq!(ready.ok(), Some(503));
    assert_eq!(prices.ok(), Some(503));
    assert_eq!(
        status.map(|s| s["ready"].clone()),
        Some(serde_json::Value::Bool(false))
    );
    assert_eq!(missing.ok(), Some(404));
}
