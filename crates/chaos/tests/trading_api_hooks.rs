//! trading-api's own faults through `/admin/chaos` against a real, recovered venue:
//! `slow-journal` slows every fsync'ed command, `lock-contention` lengthens and serializes the
//! book critical section; both are undone on delete.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use matching::{AccountId, OrderType, Price, Qty, Side, SymbolId, TimeInForce};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trading_api::config::{parse_instruments, DEFAULT_SYMBOLS};
use trading_api::faults::VenueFaults;
use trading_api::journal::SyncMode;
use trading_api::venue::{OrderRequest, Venue};
use trading_api::{app, recover, AppOptions, AppState, RecoveryOptions};

struct Exchange {
    addr: SocketAddr,
    venue: Arc<Venue>,
    shutdown: CancellationToken,
    dir: std::path::PathBuf,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// trading-api as main.rs mounts it, over a temp data directory, journal fsync'ed per command.
async fn start(name: &str) -> Exchange {
    let dir = std::env::temp_dir().join(format!("simex-chaos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = AppState::new(AppOptions {
        admin_token: None,
        ws_queue: 64,
        body_limit: 4096,
        data_dir: dir.clone(),
        max_in_flight: 64,
        request_timeout: Duration::from_secs(10),
    })
    .unwrap();
    let options = RecoveryOptions {
        data_dir: dir.clone(),
        instruments: parse_instruments(DEFAULT_SYMBOLS, 500).unwrap(),
        locking: matching::LockingMode::PerSymbol,
        sync: SyncMode::Always,
        feed_capacity: 64,
    };
    let venue = Arc::new(recover(&options, &state.metrics).unwrap());
    state.install(Arc::clone(&venue));
    state
        .chaos
        .install_hooks(Arc::new(VenueFaults::new(Arc::clone(&venue))));
    let router = app(state.clone()).merge(state.chaos.admin_routes(None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(service_kit::shutdown::serve(
        listener,
        router,
        shutdown.clone(),
        Duration::from_secs(1),
    ));
    Exchange {
        addr,
        venue,
        shutdown,
        dir,
    }
}

async fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{path}");
    let request = match method {
        "POST" => client.post(url).json(&body.unwrap_or(Value::Null)),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A funded account.
async fn trader(venue: &Venue) -> AccountId {
    let (account, _) = venue.create_account("chaos").await.unwrap();
    venue.deposit(account, "USD", 10u128.pow(24)).await.unwrap();
    account
}

/// A resting buy far below any market, on `symbol`.
fn bid(symbol: u32) -> OrderRequest {
    OrderRequest {
        symbol: SymbolId(symbol),
        side: Side::Buy,
        order_type: OrderType::Limit,
        price: Some(Price(100)),
        qty: Qty(100),
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        client_order_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_journal_delays_each_fsync_until_removed() {
    let exchange = start("slow-journal").await;
    let account = trader(&exchange.venue).await;
    let (status, fault) = admin(
        exchange.addr,
        "POST",
        "/admin/chaos",
        Some(json!({"scenario": "slow-journal", "params": {"delay_ms": 300}, "duration_secs": 30})),
    )
    .await;
    assert_eq!(status, 201, "{fault}");
    let started = Instant::now();
    exchange.venue.submit(account, bid(0)).await.unwrap();
    let slow = started.elapsed();
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    let (status, _) = admin(exchange.addr, "DELETE", "/admin/chaos", None).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    exchange.venue.submit(account, bid(0)).await.unwrap();
    let fast = started.elapsed();
    assert!(
        fast < Duration::from_millis(300),
        "delay not undone: {fast:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_contention_serializes_and_lengthens_the_book_lock() {
    let exchange = start("lock-contention").await;
    let account = trader(&exchange.venue).await;
    let (status, fault) = admin(
        exchange.addr,
        "POST",
        "/admin/chaos",
        Some(json!({"scenario": "lock-contention",
                    "params": {"hold_us": 100_000, "contenders": 0, "global": true},
                    "duration_secs": 30})),
    )
    .await;
    assert_eq!(status, 201, "{fault}");
    assert_eq!(fault["params"]["global"], true);
    // Two commands on different symbols: with the books serialized and 100 ms held inside each,
    // they cannot finish in less than 200 ms together.
    // Separate tasks on a multi-threaded runtime: without the fault they would run in parallel.
    let started = Instant::now();
    let submit = |symbol| {
        let venue = Arc::clone(&exchange.venue);
        tokio::spawn(async move { venue.submit(account, bid(symbol)).await })
    };
    let (a, b) = (submit(0), submit(1));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let both = started.elapsed();
    assert!(both >= Duration::from_millis(200), "{both:?}");
    let (status, body) = admin(exchange.addr, "GET", "/admin/chaos", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["faults"][0]["scenario"], "lock-contention", "{body}");
    let id = fault["id"].as_str().unwrap();
    let (status, _) = admin(exchange.addr, "DELETE", &format!("/admin/chaos/{id}"), None).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    exchange.venue.submit(account, bid(0)).await.unwrap();
    let after = started.elapsed();
    assert!(
        after < Duration::from_millis(100),
        "hold not undone: {after:?}"
    );
}
