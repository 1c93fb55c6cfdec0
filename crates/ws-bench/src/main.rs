//! `ws-fanout`: N subscribers (plus K that never read) to one symbol's trades on a running
//! trading-api; trades driven over REST at a set rate by two demo accounts crossing at one price;
//! prints one JSON line with publish-to-receipt latency and per-subscriber completeness.
//!
//! Latency is receipt time (taken when the frame is read, before parsing) minus the trade
//! message's `ts_us` (taken by the server when it built the message, right after matching). Both
//! clocks are this machine's wall clock, so the figure is only meaningful on one host.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use ws_bench::{check_deliveries, latency_histogram, parse_trade, summarize, Completeness};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "WebSocket market-data fan-out benchmark against a running trading-api")]
struct Args {
    /// trading-api's address (loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The demo keys file trading-api wrote (`--demo-keys-file`).
    #[arg(long)]
    keys_file: PathBuf,
    /// Index in the keys file of the buying account.
    #[arg(long, default_value_t = 0)]
    buyer: usize,
    /// Index in the keys file of the selling account.
    #[arg(long, default_value_t = 1)]
    seller: usize,
    /// The busy symbol.
    #[arg(long, default_value = "BTC-USD")]
    symbol: String,
    /// Price both sides use.
    #[arg(long, default_value = "60000.00")]
    price: String,
    /// Quantity per order.
    #[arg(long, default_value = "0.0001")]
    qty: String,
    /// Subscribers that read (measured).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Subscribers that subscribe and never read.
    #[arg(long, default_value_t = 0)]
    stalled: usize,
    /// Receive buffer of the stalled sockets, bytes (small, so they stall soon).
    #[arg(long, default_value_t = 4096)]
    stalled_rcvbuf: u32,
    /// Trades per second to drive.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long to drive trades, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// How long to wait after the last trade for deliveries to arrive, seconds.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    connect_parallelism: usize,
}

type Ws = WebSocketStream<TcpStream>;

/// What one reading subscriber saw.
struct SubscriberLog {
    /// Trade ids in arrival order.
    ids: Vec<u64>,
    /// Publish-to-receipt latency, microseconds.
    latency: Histogram<u64>,
    /// Why the connection ended before the run did (server close or error), if it did.
    ended: Option<String>,
    /// Frames that were not valid market data.
    bad_frames: u64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Opens a WebSocket to `/ws` and subscribes to `channel`; returns once the server confirmed.
async fn connect(addr: SocketAddr, channel: &str, rcvbuf: Option<u32>) -> Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    if let Some(bytes) = rcvbuf {
        socket.set_recv_buffer_size(bytes)?;
    }
    let stream = socket.connect(addr).await.context("connect")?;
    // Small buffers: a thousand connections at the 128 KiB default would be 256 MB.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}/ws"),
        stream,
        Some(config),
    )
    .await
    .context("WebSocket handshake")?;
    ws.send(Message::text(
        json!({"op": "subscribe", "channels": [channel]}).to_string(),
    ))
    .await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .context("no answer to subscribe within 10 s")?;
    match reply {
        Some(Ok(Message::Text(text))) if text.contains("\"subscribed\"") => Ok(ws),
        other => bail!("subscribe refused: {other:?}"),
    }
}

/// Opens `n` subscriptions, `parallelism` handshakes at a time.
async fn connect_many(
    addr: SocketAddr,
    channel: &str,
    n: usize,
    rcvbuf: Option<u32>,
    parallelism: usize,
) -> Result<Vec<Ws>> {
    futures_util::stream::iter(0..n)
        .map(|_| connect(addr, channel, rcvbuf))
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Reads trades until `stop`; counts each one in `delivered`.
async fn read_trades(
    mut ws: Ws,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> SubscriberLog {
    let mut log = SubscriberLog {
        ids: Vec::new(),
        latency: latency_histogram(),
        ended: None,
        bad_frames: 0,
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let received = now_us();
                    match parse_trade(text.as_str()) {
                        Ok(Some(trade)) => {
                            log.latency.saturating_record(received.saturating_sub(trade.ts_us));
                            log.ids.push(trade.trade_id);
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => {}
                        Err(_) => log.bad_frames += 1,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    log.ended = Some(format!("closed by server: {frame:?}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    log.ended = Some(format!("error: {e}"));
                    break;
                }
                None => {
                    log.ended = Some("connection ended".into());
                    break;
                }
            }
        }
    }
    log
}

/// Order entry for the driver: one account's key and side.
struct Trader {
    key: String,
    side: &'static str,
}

/// Crosses a buy and a sell at one price `rate` times a second for `seconds`; returns the ids of
/// the trades that happened (from the order responses' fills).
async fn drive(args: &Args, traders: &[Trader; 2]) -> Result<(BTreeSet<u64>, Duration)> {
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/orders", args.addr);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    // Behind schedule means the server (or this client) is saturated: slow down rather than burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ids = BTreeSet::new();
    let started = Instant::now();
    let length = Duration::from_secs_f64(args.seconds);
    while started.elapsed() < length {
        tick.tick().await;
        for trader in traders {
            let body = json!({
                "symbol": args.symbol, "side": trader.side, "type": "limit",
                "price": args.price, "quantity": args.qty, "time_in_force": "gtc",
            });
            let response = http
                .post(&url)
                .header("X-API-Key", &trader.key)
                .json(&body)
                .send()
                .await
                .context("POST /api/v1/orders")?;
            let status = response.status();
            let value: Value = response.json().await.context("order response")?;
            if !status.is_success() {
                bail!("order refused ({status}): {value}");
            }
            for fill in value["fills"].as_array().into_iter().flatten() {
                if let Some(id) = fill["trade_id"].as_u64() {
                    ids.insert(id);
                }
            }
        }
    }
    Ok((ids, started.elapsed()))
}

/// `simex_ws_slow_consumer_disconnects_total` from `/metrics` (None if absent).
async fn slow_disconnects(addr: SocketAddr) -> Result<Option<f64>> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("simex_ws_slow_consumer_disconnects_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok()))
}

fn api_key(keys: &Value, index: usize) -> Result<String> {
    keys["accounts"][index]["api_key"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no account {index} in the keys file"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !(args.rate > 0.0 && args.seconds > 0.0) {
        bail!("--rate and --seconds must be positive");
    }
    let keys: Value = serde_json::from_slice(
        &std::fs::read(&args.keys_file)
            .with_context(|| format!("reading {}", args.keys_file.display()))?,
    )
    .context("keys file")?;
    let traders = [
        Trader {
            key: api_key(&keys, args.buyer)?,
            side: "buy",
        },
        Trader {
            key: api_key(&keys, args.seller)?,
            side: "sell",
        },
    ];
    let channel = format!("trades:{}", args.symbol);

    let readers = connect_many(
        args.addr,
        &channel,
        args.subscribers,
        None,
        args.connect_parallelism,
    )
    .await
    .context("opening subscribers")?;
    // Held, never polled: nothing reads them, so their socket buffers fill.
    let stalled = connect_many(
        args.addr,
        &channel,
        args.stalled,
        Some(args.stalled_rcvbuf),
        args.connect_parallelism,
    )
    .await
    .context("opening stalled subscribers")?;

    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|ws| tokio::spawn(read_trades(ws, stop.clone(), Arc::clone(&delivered))))
        .collect();

    let (trades, elapsed) = drive(&args, &traders).await?;
    let want = trades.len() as u64 * args.subscribers as u64;
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain);
    while delivered.load(Ordering::Relaxed) < want && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();

    let expected: Vec<u64> = trades.iter().copied().collect();
    let mut latency = latency_histogram();
    let mut total = Completeness::default();
    let (mut complete, mut ended, mut bad_frames) = (0u64, 0u64, 0u64);
    let mut min_received = u64::MAX;
    for task in tasks {
        let log = task.await.context("subscriber task")?;
        latency.add(&log.latency).context("merging histograms")?;
        let c = check_deliveries(&log.ids, &expected);
        complete += u64::from(c.is_complete());
        min_received = min_received.min(c.received);
        total.add(&c);
        ended += u64::from(log.ended.is_some());
        bad_frames += log.bad_frames;
    }
    let disconnects = slow_disconnects(args.addr).await.ok().flatten();
    drop(stalled);

    let summary = summarize(&latency);
    println!(
        "{}",
        json!({
            "subscribers": args.subscribers,
            "stalled": args.stalled,
            "target_rate": args.rate,
            "trades": trades.len(),
            "achieved_rate": trades.len() as f64 / elapsed.as_secs_f64(),
            "latency": summary,
            "messages_expected": want,
            "messages_received": total.received,
            "complete_subscribers": complete,
            "min_received": if args.subscribers == 0 { 0 } else { min_received },
            "totals": total,
            "ended_early": ended,
            "bad_frames": bad_frames,
            "slow_consumer_disconnects": disconnects,
        })
    );
    Ok(())
}
