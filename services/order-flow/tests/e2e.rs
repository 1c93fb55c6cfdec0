//! End to end: trading-api, market-sim and order-flow as real processes on free ports.
//!
//! The book gets depth on both sides, trades happen, prices track market-sim's reference, the
//! market is never crossed; then trading-api is killed (SIGKILL) and restarted on the same data
//! directory, and both simulators recover by themselves, and every order order-flow logged as
//! acknowledged before the kill is still known to trading-api.
//!
//! order-flow's binary comes from Cargo (`CARGO_BIN_EXE_order-flow`); trading-api and market-sim
//! are looked for beside it in the same target directory and built with `cargo build` if missing.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exchange_client::{load_demo_keys, ExchangeClient, Grid};

/// Kills and reaps every child on drop, whatever the test outcome.
struct Procs(Vec<(&'static str, Child)>);

impl Procs {
    fn kill(&mut self, name: &str) {
        if let Some(pos) = self.0.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = self.0.remove(pos);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The directory holding the workspace's binaries for this profile, with trading-api and
/// market-sim built if they are not there yet.
fn sibling_binaries() -> (PathBuf, PathBuf) {
    let order_flow = PathBuf::from(env!("CARGO_BIN_EXE_order-flow"));
    let dir = order_flow.parent().unwrap().to_path_buf();
    let exe = |name: &str| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let (trading, market) = (exe("trading-api"), exe("market-sim"));
    if !trading.exists() || !market.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "trading-api", "-p", "market-sim", "--bins"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        // Build into the same target directory this test binary came from.
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "building trading-api and market-sim failed"
        );
    }
    (trading, market)
}

fn spawn(name: &'static str, exe: &Path, args: &[String], log_dir: &Path) -> (&'static str, Child) {
    let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(exe)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    (name, child)
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn ready(http: &reqwest::Client, base: &str) -> bool {
    http.get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// One look at every symbol: (both sides present, crossed, |mid - reference| / reference).
async fn sample(
    public: &ExchangeClient,
    http: &reqwest::Client,
    sim: &str,
    grids: &[(String, Grid)],
) -> Vec<(bool, bool, Option<f64>)> {
    let prices = get_json(http, &format!("{sim}/api/v1/prices"))
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    for (symbol, grid) in grids {
        let Ok(book) = public.order_book(symbol, 5).await else {
            out.push((false, false, None));
            continue;
        };
        let bid = book.bids.first().and_then(|l| grid.parse_ticks(&l.price));
        let ask = book.asks.first().and_then(|l| grid.parse_ticks(&l.price));
        let reference = prices["prices"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["symbol"] == symbol.as_str()))
            .and_then(|p| p["price"].as_f64());
        let deviation = match (bid, ask, reference) {
            (Some(b), Some(a), Some(r)) => Some((grid.ticks_to_f64(a + b) / 2.0 - r).abs() / r),
            _ => None,
        };
        out.push((
            bid.is_some() && ask.is_some(),
            matches!((bid, ask), (Some(b), Some(a)) if b >= a),
            deviation,
        ));
    }
    out
}

async fn total_trades(public: &ExchangeClient, grids: &[(String, Grid)]) -> u64 {
    let mut total = 0;
    for (symbol, _) in grids {
        if let Ok(t) = public.trades(symbol, 1000).await {
            total += t.len() as u64;
        }
    }
    total
}

/// What each demo account is funded with (`--demo-funding`).
const FUNDING: [(&str, f64); 4] = [
    ("USD", 10_000_000.0),
    ("BTC", 100.0),
    ("ETH", 1_000.0),
    ("SOL", 100_000.0),
];

/// Compares market-sim's inferred inventory of `maker` with the base-asset balance trading-api
/// holds for it, per symbol.
async fn maker_inventory_matches(
    http: &reqwest::Client,
    exchange: &str,
    sim: &str,
    key: &str,
    maker: usize,
    grids: &[(String, Grid)],
) -> Result<(), String> {
    let before: serde_json::Value = get_json(http, &format!("{sim}/api/v1/status"))
        .await
        .ok_or("no status")?;
    let account: serde_json::Value = http
        .get(format!("{exchange}/api/v1/account"))
        .header("X-API-Key", key)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let after: serde_json::Value = get_json(http, &format!("{sim}/api/v1/status"))
        .await
        .ok_or("no status")?;
    for (symbol, grid) in grids {
        let inventory =
            |s: &serde_json::Value| s["makers"][maker]["inventory_lots"][symbol.as_str()].as_i64();
        // Only a look where the maker's view did not move around the account read is comparable.
        let lots = inventory(&before).ok_or("no inventory")?;
        if inventory(&after) != Some(lots) {
            return Err("inventory moved during the look".into());
        }
        let base = symbol.split('-').next().unwrap_or_default();
        let funded = FUNDING
            .iter()
            .find(|(a, _)| *a == base)
            .map(|(_, v)| *v)
            .ok_or("unfunded asset")?;
        let total: f64 = account["balances"][base]["total"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .ok_or("no balance")?;
        let held_lots = ((total - funded) / grid.lot_f64()).round() as i64;
        if held_lots != lots {
            return Err(format!(
                "{symbol}: market-sim says {lots} lots, the ledger {held_lots}"
            ));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_trade_and_recover_from_an_exchange_crash() {
    let (trading_exe, market_exe) = sibling_binaries();
    let flow_exe = PathBuf::from(env!("CARGO_BIN_EXE_order-flow"));
    let dir = std::env::temp_dir().join(format!("simex-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("demo-keys.json");
    let (tp, mp, fp) = (free_port(), free_port(), free_port());
    let exchange = format!("http://127.0.0.1:{tp}");
    let sim = format!("http://127.0.0.1:{mp}");
    let flow = format!("http://127.0.0.1:{fp}");
    let trading_args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{tp}"),
        "--data-dir".into(),
        dir.join("trading-api").display().to_string(),
        "--demo-accounts".into(),
        "8".into(),
        "--demo-keys-file".into(),
        keys.display().to_string(),
        "--demo-funding".into(),
        FUNDING
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    ];
    let mut procs = Procs(vec![spawn(
        "trading-api",
        &trading_exe,
        &trading_args,
        &dir,
    )]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    wait_for("trading-api ready", Duration::from_secs(30), || {
        ready(&http, &exchange)
    })
    .await;

    let s = |x: &str| x.to_string();
    procs.0.push(spawn(
        "market-sim",
        &market_exe,
        &[
            s("--listen"),
            format!("127.0.0.1:{mp}"),
            s("--exchange-url"),
            exchange.clone(),
            s("--keys-file"),
            keys.display().to_string(),
            s("--makers"),
            s("2"),
            s("--requote-ms"),
            s("100"),
            s("--step-ms"),
            s("50"),
        ],
        &dir,
    ));
    procs.0.push(spawn(
        "order-flow",
        &flow_exe,
        &[
            s("--listen"),
            format!("127.0.0.1:{fp}"),
            s("--target"),
            exchange.clone(),
            s("--keys"),
            keys.display().to_string(),
            s("--key-offset"),
            s("2"),
            s("--accounts"),
            s("4"),
            s("--rate"),
            s("40"),
            s("--data-dir"),
            dir.join("order-flow").display().to_string(),
        ],
        &dir,
    ));
    wait_for("market-sim ready", Duration::from_secs(30), || {
        ready(&http, &sim)
    })
    .await;
    wait_for("order-flow ready", Duration::from_secs(30), || {
        ready(&http, &flow)
    })
    .await;

    let public = ExchangeClient::new(&exchange, None, Duration::from_secs(3));
    let grids: Vec<(String, Grid)> = public
        .symbols()
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            let g = i.grid().unwrap();
            (i.symbol, g)
        })
        .collect();
    assert!(grids.len() >= 2, "several symbols: {grids:?}");

    // Let the makers quote, then watch the market for a few seconds.
    wait_for("two-sided books", Duration::from_secs(20), || async {
        sample(&public, &http, &sim, &grids)
            .await
            .iter()
            .all(|(both, _, _)| *both)
    })
    .await;
    let (mut looks, mut two_sided, mut crossed, mut deviations) = (0, 0, 0, Vec::new());
    for _ in 0..30 {
        for (both, cross, dev) in sample(&public, &http, &sim, &grids).await {
            looks += 1;
            two_sided += usize::from(both);
            crossed += usize::from(cross);
            deviations.extend(dev);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        crossed, 0,
        "the book was crossed in {crossed} of {looks} looks"
    );
    assert!(
        two_sided * 100 >= looks * 95,
        "two-sided in only {two_sided} of {looks} looks"
    );
    deviations.sort_by(f64::total_cmp);
    let median = deviations[deviations.len() / 2];
    assert!(
        median < 0.003,
        "book mid strays from the reference: median deviation {median}"
    );
    let trades_before = total_trades(&public, &grids).await;
    assert!(trades_before > 0, "no trades");

    // The makers lean on an inventory they infer from their own fills: it must match what the
    // exchange's ledger says they hold (retried, since fills keep landing between two looks).
    // Pause order-flow so fills come only from the makers' own crossings while we compare.
    let set_rate = |rate: f64| {
        http.post(format!("{flow}/api/v1/rate"))
            .json(&serde_json::json!({ "rate": rate }))
            .send()
    };
    assert!(set_rate(0.0).await.unwrap().status().is_success());
    let keys_list = load_demo_keys(&keys).unwrap();
    for (maker, key) in keys_list.iter().take(2).enumerate() {
        let mut last = String::new();
        let mut matched = false;
        for _ in 0..40 {
            match maker_inventory_matches(&http, &exchange, &sim, key, maker, &grids).await {
                Ok(()) => {
                    matched = true;
                    break;
                }
                Err(why) => last = why,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            matched,
            "maker {maker}'s inventory disagrees with its account: {last}"
        );
    }
    let status = get_json(&http, &format!("{sim}/api/v1/status"))
        .await
        .unwrap();
    let positions: Vec<i64> = status["makers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["inventory_lots"].as_object())
        .flat_map(|inv| inv.values().filter_map(|v| v.as_i64()).collect::<Vec<_>>())
        .collect();
    assert!(
        positions.iter().any(|p| *p != 0),
        "the makers traded, so they hold something: {positions:?}"
    );
    assert!(set_rate(40.0).await.unwrap().status().is_success());
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Crash the exchange.
    let acked_before: Vec<_> =
        order_flow::acklog::read_log(&dir.join("order-flow/acked-orders.log")).unwrap();
    assert!(
        acked_before.len() > 20,
        "order-flow logged {} acknowledged orders",
        acked_before.len()
    );
    procs.kill("trading-api");
    wait_for("order-flow to notice", Duration::from_secs(15), || async {
        get_json(&http, &format!("{flow}/api/v1/status"))
            .await
            .is_some_and(|s| s["connected"] == false)
    })
    .await;
    wait_for("market-sim to notice", Duration::from_secs(15), || async {
        get_json(&http, &format!("{sim}/api/v1/status"))
            .await
            .is_some_and(|s| {
                s["makers"]
                    .as_array()
                    .is_some_and(|m| m.iter().all(|m| m["connected"] == false))
            })
    })
    .await;
    // Both simulators stay up while the exchange is away.
    assert!(http.get(format!("{sim}/health")).send().await.is_ok());
    assert!(http.get(format!("{flow}/health")).send().await.is_ok());
    tokio::time::sleep(Duration::from_secs(1)).await;

    procs
        .0
        .push(spawn("trading-api", &trading_exe, &trading_args, &dir));
    wait_for("trading-api ready again", Duration::from_secs(30), || {
        ready(&http, &exchange)
    })
    .await;
    wait_for(
        "order-flow to reconnect and trade",
        Duration::from_secs(30),
        || async {
            get_json(&http, &format!("{flow}/api/v1/status"))
                .await
                .is_some_and(|s| s["connected"] == true && s["reconnects"].as_u64() >= Some(1))
        },
    )
    .await;
    wait_for(
        "market-sim to re-quote both sides",
        Duration::from_secs(30),
        || async {
            let makers_up = get_json(&http, &format!("{sim}/api/v1/status"))
                .await
                .is_some_and(|s| {
                    s["makers"]
                        .as_array()
                        .is_some_and(|m| m.iter().all(|m| m["connected"] == true))
                });
            makers_up
                && sample(&public, &http, &sim, &grids)
                    .await
                    .iter()
                    .all(|(both, cross, _)| *both && !*cross)
        },
    )
    .await;
    let trades_after_restart = total_trades(&public, &grids).await;
    wait_for(
        "new trades after the restart",
        Duration::from_secs(30),
        || async { total_trades(&public, &grids).await > trades_after_restart },
    )
    .await;

    // Every order acknowledged before the crash is still known to its owner.
    let keys = keys_list;
    let mut missing = Vec::new();
    for acked in acked_before.iter().rev().take(200) {
        let url = format!("{exchange}/api/v1/orders/{}", acked.order_id);
        let status = http
            .get(&url)
            .header("X-API-Key", &keys[acked.key_index])
            .send()
            .await
            .map(|r| r.status().as_u16());
        if status.ok() != Some(200) {
            missing.push(acked.order_id);
        }
    }
    assert!(
        missing.is_empty(),
        "acknowledged orders lost in the crash: {missing:?}"
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
