//! The fault proxy over real TCP: an echo server on 127.0.0.1:0 behind a proxy, driven through
//! the toxiproxy REST API.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Every task the test started, aborted on drop.
struct Running(Vec<JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, task)
}

async fn api_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = chaos::proxy::api::router(chaos::proxy::Collection::new());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            // toxiproxy clients do not always send a content type; the API must not care.
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn setup() -> (Api, SocketAddr, Running) {
    let (echo, echo_task) = echo_server().await;
    let (api, api_task) = api_server().await;
    let api = Api {
        base: format!("http://{api}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    };
    let (status, proxy) = api
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.to_string()})),
        )
        .await;
    assert_eq!(status, 201, "{proxy}");
    let listen: SocketAddr = proxy["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(listen.port(), 0, "the bound port is reported");
    (api, listen, Running(vec![echo_task, api_task]))
}

/// Sends `payload` through the proxy and reads the echo back; returns the round trip time.
async fn round_trip(proxy: SocketAddr, payload: &[u8]) -> Duration {
    let started = Instant::now();
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(payload).await.unwrap();
    let mut back = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(10), socket.read_exact(&mut back))
        .await
        .expect("echo within 10 s")
        .unwrap();
    assert_eq!(back, payload);
    started.elapsed()
}

/// Reads until EOF or error (bounded); returns the bytes and whether it ended in a reset.
async fn read_to_end(socket: &mut TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buffer)).await {
            Err(_) => panic!("connection neither closed nor reset within 5 s"),
            Ok(Ok(0)) => return (out, None),
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
            Ok(Err(err)) => return (out, Some(err.kind())),
        }
    }
}

#[tokio::test]
async fn latency_toxic_delays_by_at_least_its_latency() {
    let (api, proxy, _running) = setup().await;
    round_trip(proxy, b"warm").await;
    let (status, toxic) = api
        .call(
            "POST",
            "/proxies/echo/toxics",
            Some(json!({"type": "latency", "attributes": {"latency": 200, "jitter": 20}})),
        )
        .await;
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(
        toxic,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
               "toxicity": 1.0, "attributes": {"latency": 200, "jitter": 20}})
    );
    let took = round_trip(proxy, b"hello").await;
    assert!(took >= Duration::from_millis(180), "{took:?}");
    // Upstream too: both directions add up.
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 100}})),
    )
    .await;
    let took = round_trip(proxy, b"hello").await;
    assert!(took >= Duration::from_millis(280), "{took:?}");
    let (status, _) = api.call("POST", "/reset", None).await;
    assert_eq!(status, 204);
    let (_, toxics) = api.call("GET", "/proxies/echo/toxics", None).await;
    assert_eq!(toxics, json!([]));
}

#[tokio::test]
async fn disabled_proxy_refuses_connections_until_enabled() {
    let (api, proxy, _running) = setup().await;
    round_trip(proxy, b"up").await;
    let mut open = TcpStream::connect(proxy).await.unwrap();
    let (status, body) = api
        .call("POST", "/proxies/echo", Some(json!({"enabled": false})))
        .await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)), "{body}");
    // Existing connections are closed, new ones refused.
    let (_, _) = read_to_end(&mut open).await;
    assert!(
        TcpStream::connect(proxy).await.is_err(),
        "connect must be refused"
    );
    let (status, body) = api
        .call("POST", "/proxies/echo", Some(json!({"enabled": true})))
        .await;
    assert_eq!((status, &body["enabled"]), (200, &json!(true)), "{body}");
    round_trip(proxy, b"up again").await;
}

#[tokio::test]
async fn reset_peer_resets_the_connection() {
    let (api, proxy, _running) = setup().await;
    let (status, _) = api
        .call(
            "POST",
            "/proxies/echo/toxics",
            Some(json!({"name": "rst", "type": "reset_peer", "attributes": {"timeout": 100}})),
        )
        .await;
    assert_eq!(status, 200);
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(b"doomed").await.unwrap();
    let (_, ended) = read_to_end(&mut socket).await;
    assert_eq!(ended, Some(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn limit_data_closes_after_the_budget() {
    let (api, proxy, _running) = setup().await;
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "limit_data", "attributes": {"bytes": 10}})),
    )
    .await;
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(&[7u8; 100]).await.unwrap();
    let (got, _) = read_to_end(&mut socket).await;
    assert_eq!(got, vec![7u8; 10]);
}

#[tokio::test]
async fn bandwidth_paces_the_stream() {
    let (api, proxy, _running) = setup().await;
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "bandwidth", "attributes": {"rate": 100}})),
    )
    .await;
    // 50 kB at 100 KB/s: at least 0.4 s (the last slice's pause comes after it is sent).
    let took = round_trip(proxy, &[1u8; 50_000]).await;
    assert!(took >= Duration::from_millis(350), "{took:?}");
}

#[tokio::test]
async fn timeout_drops_data_then_closes() {
    let (api, proxy, _running) = setup().await;
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "timeout", "attributes": {"timeout": 200}})),
    )
    .await;
    let started = Instant::now();
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(b"lost").await.unwrap();
    let (got, _) = read_to_end(&mut socket).await;
    assert!(got.is_empty(), "data passed a timeout toxic");
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn rest_api_speaks_toxiproxy() {
    let (api, _proxy, _running) = setup().await;
    let (status, all) = api.call("GET", "/proxies", None).await;
    assert_eq!(status, 200);
    let proxy = &all["echo"];
    for key in ["name", "listen", "upstream", "enabled", "toxics"] {
        assert!(!proxy[key].is_null(), "{key} missing: {all}");
    }
    let (status, err) = api
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "echo", "upstream": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(
        (status, err),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );
    let (status, err) = api.call("GET", "/proxies/nope", None).await;
    assert_eq!((status, &err["status"]), (404, &json!(404)), "{err}");
    let (status, _) = api
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "wide", "listen": "10.1.2.3:9999", "upstream": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(status, 400, "non-loopback listen must be refused");
    let (status, _) = api
        .call(
            "POST",
            "/proxies/echo/toxics",
            Some(json!({"type": "teleport"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, toxic) = api
        .call(
            "POST",
            "/proxies/echo/toxics",
            Some(
                json!({"name": "slow", "type": "slow_close", "stream": "upstream",
                        "toxicity": 0.5, "attributes": {"delay": 10}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{toxic}");
    let (status, updated) = api
        .call(
            "POST",
            "/proxies/echo/toxics/slow",
            Some(json!({"attributes": {"delay": 20}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["attributes"]["delay"], 20);
    assert_eq!(updated["toxicity"], 0.5);
    let (status, shown) = api.call("GET", "/proxies/echo/toxics/slow", None).await;
    assert_eq!((status, &shown), (200, &updated));
    let (status, _) = api.call("DELETE", "/proxies/echo/toxics/slow", None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", "/proxies/echo/toxics/slow", None).await;
    assert_eq!(status, 404);
    let (status, populated) = api
        .call(
            "POST",
            "/populate",
            Some(json!([{"name": "echo", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}])),
        )
        .await;
    assert_eq!(status, 201, "{populated}");
    assert_eq!(populated["proxies"][0]["upstream"], "127.0.0.1:1");
    let (status, version) = api.call("GET", "/version", None).await;
    assert_eq!(status, 200);
    assert!(version["version"].is_string());
    let (status, _) = api.call("DELETE", "/proxies/echo", None).await;
    assert_eq!(status, 204);
    let (_, all) = api.call("GET", "/proxies", None).await;
    assert_eq!(all, json!({}));
}

#[tokio::test]
async fn slow_close_delays_the_close_and_toxicity_zero_spares_connections() {
    let (api, proxy, _running) = setup().await;
    // A toxic no connection draws (toxicity 0) has no effect.
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "latency", "toxicity": 0.0, "attributes": {"latency": 2000}})),
    )
    .await;
    let took = round_trip(proxy, b"spared").await;
    assert!(took < Duration::from_millis(2000), "{took:?}");
    api.call(
        "POST",
        "/proxies/echo/toxics",
        Some(json!({"type": "slow_close", "attributes": {"delay": 300}})),
    )
    .await;
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(b"bye").await.unwrap();
    let mut back = [0u8; 3];
    socket.read_exact(&mut back).await.unwrap();
    // Our FIN reaches the echo server, whose close comes back through the slow_close toxic.
    let closed_at = Instant::now();
    socket.shutdown().await.unwrap();
    let (rest, _) = read_to_end(&mut socket).await;
    assert!(rest.is_empty());
    assert!(
        closed_at.elapsed() >= Duration::from_millis(290),
        "{:?}",
        closed_at.elapsed()
    );
}

#[tokio::test]
async fn stats_count_accepted_connections_across_disable() {
    let (api, proxy, _running) = setup().await;
    let accepted = |p: &Value| p["stats"]["connections_accepted"].as_u64().unwrap();
    let (_, fresh) = api.call("GET", "/proxies/echo", None).await;
    assert_eq!(accepted(&fresh), 0, "{fresh}");
    round_trip(proxy, b"one").await;
    round_trip(proxy, b"two").await;
    // The accept loop counts before handing the connection on, and each round trip finished
    // through it, so both are counted by now.
    let (_, used) = api.call("GET", "/proxies/echo", None).await;
    assert_eq!(accepted(&used), 2, "{used}");
    // Disabling keeps the count: a chaos run reads it after taking the link down.
    let (status, disabled) = api
        .call("POST", "/proxies/echo", Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(accepted(&disabled), 2, "{disabled}");
}
