//! Market data over a real WebSocket (tokio-tungstenite client against the served router):
//! snapshot then gap-free increments that rebuild the REST book, trades and ticker; and a slow
//! consumer that is disconnected with a close reason and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use trading_api::journal::SyncMode;

async fn serve(t: &TestApp) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = t.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("message within 5s")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(text) = msg {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

fn apply(levels: &mut BTreeMap<String, String>, updates: &Value) {
    for level in updates.as_array().unwrap() {
        let (price, qty) = (level[0].as_str().unwrap(), level[1].as_str().unwrap());
        if qty.trim_matches(|c| c == '0' || c == '.').is_empty() {
            levels.remove(price);
        } else {
            levels.insert(price.to_owned(), qty.to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn book_snapshot_and_increments_rebuild_the_book() {
    let dir = temp_dir("ws-book");
    let t = start(&dir, SyncMode::None, 1024);
    let addr = serve(&t).await;
    let (_, maker) = funded_account(&t.router, "maker", &[("BTC", "10"), ("USD", "1000000")]).await;
    let (_, taker) = funded_account(&t.router, "taker", &[("USD", "1000000")]).await;
    // Some book before subscribing, so the snapshot is not empty.
    send(
        &t.router,
        "POST",
        "/api/v1/orders",
        &maker,
        &json!({"symbol":"BTC-USD","side":"sell","type":"limit","price":"101.00","quantity":"1"}),
    )
    .await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"op":"subscribe","channels":["book:BTC-USD","trades:BTC-USD","ticker:BTC-USD"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut bids = BTreeMap::new();
    let mut asks = BTreeMap::new();
    let mut seq = None;
    let mut trades = 0;
    // The snapshot arrives before any order below is sent.
    while seq.is_none() {
        let msg = next_json(&mut ws).await;
        match msg["type"].as_str().unwrap() {
            "snapshot" => {
                apply(&mut bids, &msg["bids"]);
                apply(&mut asks, &msg["asks"]);
                seq = msg["seq"].as_u64();
            }
            "ticker" | "subscribed" => {}
            other => panic!("unexpected {other} before the snapshot: {msg}"),
        }
    }
    assert_eq!(asks.len(), 1, "snapshot holds the earlier ask");
    let mut saw_ticker = false;
    // Order flow while subscribed.
    for (key, body) in [
        (
            &maker,
            json!({"symbol":"BTC-USD","side":"sell","type":"limit","price":"102.00","quantity":"1"}),
        ),
        (
            &maker,
            json!({"symbol":"BTC-USD","side":"buy","type":"limit","price":"99.00","quantity":"2"}),
        ),
        (
            &taker,
            json!({"symbol":"BTC-USD","side":"buy","type":"limit","price":"101.50","quantity":"0.4"}),
        ),
        (
            &taker,
            json!({"symbol":"BTC-USD","side":"buy","type":"market","quantity":"1"}),
        ),
    ] {
        let (status, resp) = send(&t.router, "POST", "/api/v1/orders", key, &body).await;
        assert_eq!(status.as_u16(), 201, "{resp}");
    }
    let (_, rest) = call(
        &t.router,
        "GET",
        "/api/v1/orderbook/BTC-USD?depth=100",
        &[],
        None,
    )
    .await;
    let target_seq = rest["seq"].as_u64().unwrap();
    while seq != Some(target_seq) || trades < 2 || !saw_ticker {
        let msg = next_json(&mut ws).await;
        match msg["type"].as_str().unwrap() {
            "subscribed" => {}
            "book" => {
                let s = msg["seq"].as_u64().unwrap();
                let prev = seq.expect("snapshot comes before updates");
                assert_eq!(s, prev + 1, "gap in book sequence");
                apply(&mut bids, &msg["bids"]);
                apply(&mut asks, &msg["asks"]);
                seq = Some(s);
            }
            "trade" => {
                trades += 1;
                assert_eq!(msg["channel"], "trades:BTC-USD");
            }
            "ticker" => saw_ticker = true,
            other => panic!("unexpected message type {other}: {msg}"),
        }
    }
    let to_map = |v: &Value| -> BTreeMap<String, String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l[0].as_str().unwrap().to_owned(),
                    l[1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(bids, to_map(&rest["bids"]));
    assert_eq!(asks, to_map(&rest["asks"]));
    assert_eq!(t.state.metrics.ws_clients.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_disconnected_with_a_reason() {
    let dir = temp_dir("ws-slow");
    // A tiny queue: the client may fall at most 4 messages behind.
    let t = start(&dir, SyncMode::None, 4);
    let addr = serve(&t).await;
    let (_, maker) = funded_account(&t.router, "maker", &[("BTC", "100000")]).await;
    let (_, taker) = funded_account(&t.router, "taker", &[("USD", "100000000000")]).await;
    // A small receive buffer, so a client that stops reading backs up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"op":"subscribe","channels":["book:BTC-USD","trades:BTC-USD","ticker:BTC-USD"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // Wait for the subscription to be in place, then stop reading.
    loop {
        if next_json(&mut ws).await["type"] == "subscribed" {
            break;
        }
    }
    // Trade until the server gives up on the client (bounded in orders and time).
    let started = std::time::Instant::now();
    let mut orders = 0;
    while t.state.metrics.ws_slow_disconnects.get() == 0 {
        assert!(
            orders < 20_000 && started.elapsed() < Duration::from_secs(60),
            "never disconnected"
        );
        for i in 0..10 {
            send(&t.router, "POST", "/api/v1/orders", &maker,
                &json!({"symbol":"BTC-USD","side":"sell","type":"limit","price":format!("{}.00", 100 + i),"quantity":"0.1"})).await;
        }
        let (status, _) = send(&t.router, "POST", "/api/v1/orders", &taker,
            &json!({"symbol":"BTC-USD","side":"buy","type":"limit","price":"200.00","quantity":"1"})).await;
        assert_eq!(status.as_u16(), 201);
        orders += 11;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let close = loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed within 10s");
        match msg {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("close frame has a code and reason");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(
        frame.reason.as_str().contains("slow consumer"),
        "{}",
        frame.reason
    );
    assert_eq!(t.state.metrics.ws_slow_disconnects.get(), 1);
}
