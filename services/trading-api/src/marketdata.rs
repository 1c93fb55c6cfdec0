//! Market data over WebSocket at `/ws`.
//!
//! Protocol (JSON text frames). The client sends
//! `{"op":"subscribe","channels":["trades:BTC-USD","book:BTC-USD","ticker:BTC-USD"]}` (or
//! `"op":"unsubscribe"`); the server answers `{"type":"subscribed","channels":[...]}` and then:
//! - `{"type":"snapshot","channel":"book:SYM","seq":N,"bids":[["price","qty"],...],"asks":[...]}`
//!   once per book subscription, then `{"type":"book","channel":"book:SYM","seq":N+1,...}` with
//!   the levels that changed (`"0"` quantity = level gone). `seq` increases by exactly one per
//!   update, so a gap means a lost message. Updates with `seq <= snapshot seq` are never sent.
//! - `{"type":"trade","channel":"trades:SYM","trade_id","price","quantity","taker_side","ts_ms","ts_us"}`.
//!   `ts_ms` is the order's journal time; `ts_us` (microseconds since the Unix epoch) is when the
//!   message was built for publishing, right after the engine matched it, so receive time minus
//!   `ts_us` is the market-data path alone: serialization, fan-out, queues, socket.
//! - `{"type":"ticker","channel":"ticker:SYM","last","best_bid","best_ask","high","low","volume","trades"}`.
//!
//! A slow client never slows matching: the engine publishes into a bounded per-symbol broadcast
//! and each client has a bounded queue; a client that falls behind either is closed with code
//! 1008 and reason `slow consumer`, and counted in `simex_ws_slow_consumer_disconnects_total`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use matching::SymbolId;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

pub use crate::feed::{
    book_snapshot_message, book_update_message, side_str, ticker_json, ticker_message,
    trade_message, Channel, MarketMessage,
};
use crate::venue::Venue;
use crate::AppState;

/// How long the close frame may take to reach a client before the connection is dropped.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Read chunk per client. Clients send only small requests, and tungstenite zeroes a whole chunk
/// on every read attempt, which here means once per message sent: at axum's 128 KiB default that
/// memset was a quarter of the server's CPU with 1,000 subscribers (BENCHMARKS.md, ws-fanout).
const WS_READ_BUFFER: usize = 4 * 1024;

/// A client's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientRequest {
    op: String,
    channels: Vec<String>,
}

/// What one client receives from one symbol.
struct Subscription {
    /// Bitmask of [`Channel::bit`]s wanted.
    wanted: Arc<std::sync::atomic::AtomicU8>,
    /// Book updates up to this sequence number are covered by the snapshot already sent.
    book_floor: Arc<AtomicU64>,
    /// The forwarding task.
    task: tokio::task::JoinHandle<()>,
}

/// `GET /ws`.
pub async fn ws_handler(ws: WebSocketUpgrade, State(app): State<AppState>) -> Response {
    ws.read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| client_session(socket, app))
}

async fn client_session(socket: WebSocket, app: AppState) {
    let Some(venue) = app.venue() else {
        let mut socket = socket;
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: 1013,
                reason: "not ready".into(),
            })))
            .await;
        return;
    };
    let metrics = app.metrics.clone();
    metrics.ws_clients.inc();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Arc<MarketMessage>>(app.ws_queue.max(1));
    let slow = CancellationToken::new();
    let mut subs: HashMap<SymbolId, Subscription> = HashMap::new();
    let close = loop {
        tokio::select! {
            outgoing = rx.recv() => {
                let Some(msg) = outgoing else { break None };
                metrics.ws_messages.with_label_values(&[msg.channel.label()]).inc();
                // A client that stops reading blocks this send; slowness must still end it.
                tokio::select! {
                    sent = sink.send(Message::Text(msg.text.clone())) => if sent.is_err() { break None },
                    () = slow.cancelled() => break Some(slow_consumer(&metrics)),
                    () = app.shutdown.cancelled() => break Some(going_away()),
                }
            }
            incoming = stream.next() => {
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let reply = handle_request(&venue, text.as_str(), &mut subs, &tx, &slow);
                        if sink.send(Message::Text(reply.to_string().into())).await.is_err() {
                            break None;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => {}
                }
            }
            () = slow.cancelled() => break Some(slow_consumer(&metrics)),
            () = app.shutdown.cancelled() => break Some(going_away()),
        }
    };
    for sub in subs.values() {
        sub.task.abort();
    }
    if let Some(frame) = close {
        // Bounded: a client that reads nothing would otherwise hold the task forever.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    metrics.ws_clients.dec();
}

/// Counts a slow-consumer disconnect and builds its close frame (1008, policy violation).
fn slow_consumer(metrics: &crate::metrics::TradingMetrics) -> CloseFrame {
    metrics.ws_slow_disconnects.inc();
    tracing::info!("disconnecting slow WebSocket consumer");
    CloseFrame {
        code: 1008,
        reason: "slow consumer: fell behind the market-data stream".into(),
    }
}

/// The close frame sent on shutdown (1001, going away).
fn going_away() -> CloseFrame {
    CloseFrame {
        code: 1001,
        reason: "server shutting down".into(),
    }
}

fn handle_request(
    venue: &Arc<Venue>,
    text: &str,
    subs: &mut HashMap<SymbolId, Subscription>,
    tx: &mpsc::Sender<Arc<MarketMessage>>,
    slow: &CancellationToken,
) -> serde_json::Value {
    let request: ClientRequest = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return json!({"type": "error", "message": format!("bad request: {e}")}),
    };
    let subscribe = match request.op.as_str() {
        "subscribe" => true,
        "unsubscribe" => false,
        other => return json!({"type": "error", "message": format!("unknown op `{other}`")}),
    };
    let mut parsed = Vec::new();
    for name in &request.channels {
        let Some((kind, symbol)) = name.split_once(':') else {
            return json!({"type": "error", "message": format!("bad channel `{name}`")});
        };
        let channel = match kind {
            "trades" => Channel::Trades,
            "book" => Channel::Book,
            "ticker" => Channel::Ticker,
            _ => return json!({"type": "error", "message": format!("unknown channel `{name}`")}),
        };
        let Some(id) = venue.symbol_id(symbol) else {
            return json!({"type": "error", "message": format!("unknown symbol in `{name}`")});
        };
        parsed.push((channel, id));
    }
    for (channel, symbol) in parsed {
        if !subscribe {
            if let Some(sub) = subs.get(&symbol) {
                sub.wanted.fetch_and(!channel.bit(), Ordering::Relaxed);
            }
            continue;
        }
        let info = &venue.instruments()[symbol.0 as usize];
        // Under the book lock: join the feed and queue the snapshot, so nothing falls between.
        venue.with_book(symbol, |book, st| {
            let sub = subs.entry(symbol).or_insert_with(|| {
                let wanted = Arc::new(std::sync::atomic::AtomicU8::new(0));
                let book_floor = Arc::new(AtomicU64::new(0));
                let rx = venue.subscribe(symbol);
                let task = tokio::spawn(forward(
                    rx,
                    Arc::clone(&wanted),
                    Arc::clone(&book_floor),
                    tx.clone(),
                    slow.clone(),
                ));
                Subscription {
                    wanted,
                    book_floor,
                    task,
                }
            });
            // Snapshots show the live book, which may hold commands not yet durable: they
            // are queued behind them (`visibility.rs`), and ahead of every later update.
            match channel {
                Channel::Book => {
                    sub.book_floor.store(st.book_seq, Ordering::Relaxed);
                    venue.send_when_durable(
                        symbol,
                        Arc::new(book_snapshot_message(info, st.book_seq, book)),
                        tx.clone(),
                        slow.clone(),
                    );
                }
                Channel::Ticker => {
                    venue.send_when_durable(
                        symbol,
                        Arc::new(ticker_message(info, book, &st.ticker)),
                        tx.clone(),
                        slow.clone(),
                    );
                }
                Channel::Trades => {}
            }
            sub.wanted.fetch_or(channel.bit(), Ordering::Relaxed);
        });
    }
    json!({"type": if subscribe { "subscribed" } else { "unsubscribed" }, "channels": request.channels})
}

/// Moves one symbol's feed into the client's queue, filtering by wanted channels.
async fn forward(
    rx: Option<broadcast::Receiver<Arc<MarketMessage>>>,
    wanted: Arc<std::sync::atomic::AtomicU8>,
    book_floor: Arc<AtomicU64>,
    tx: mpsc::Sender<Arc<MarketMessage>>,
    slow: CancellationToken,
) {
    let Some(mut rx) = rx else { return };
    loop {
        let msg = match rx.recv().await {
            Ok(msg) => msg,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                slow.cancel();
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if wanted.load(Ordering::Relaxed) & msg.channel.bit() == 0 {
            continue;
        }
        if msg.channel == Channel::Book && msg.book_seq <= book_floor.load(Ordering::Relaxed) {
            continue;
        }
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                slow.cancel();
                return;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
