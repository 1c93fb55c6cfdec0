//! The `fault-proxy` binary against toxiproxy 2.x's behaviour, one test per divergence found by
//! running toxiproxy's clients (issue 15): populate of an existing proxy, upstream-only updates,
//! reset_peer, slicer, latency per chunk, `0.0.0.0`/`:PORT` listen forms, `/version`,
//! `/metrics`. Everything on 127.0.0.1, free ports; the binary is killed on drop.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running fault-proxy, killed on drop.
struct Binary {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start() -> Binary {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_fault-proxy"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let binary = Binary {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    };
    for _ in 0..100 {
        if binary
            .http
            .get(format!("{}/health", binary.base))
            .send()
            .await
            .is_ok()
        {
            return binary;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fault-proxy did not come up");
}

impl Binary {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Echo server; returns its address (the task ends with the test's runtime).
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn echo_once(proxy: &str, payload: &[u8]) {
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(payload).await.unwrap();
    let mut back = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, payload);
}

#[tokio::test]
async fn populate_keeps_an_unchanged_proxy_and_replaces_a_changed_one() {
    let fp = start().await;
    let (up_a, up_b) = (echo().await, echo().await);
    let listen = format!("127.0.0.1:{}", free_port());
    let entry = json!([{"name": "p", "listen": listen, "upstream": up_a.to_string()}]);
    let (status, body) = fp.call("POST", "/populate", Some(entry.clone())).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = fp
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "latency", "attributes": {"latency": 1}})),
        )
        .await;
    assert_eq!(status, 200);
    // Unchanged: 201, the same proxy kept, toxics and all.
    let (status, body) = fp.call("POST", "/populate", Some(entry)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["proxies"][0]["toxics"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    echo_once(&listen, b"kept").await;
    // Changed upstream on the same port: replaced (no toxics), still serving.
    let changed = json!([{"name": "p", "listen": listen, "upstream": up_b.to_string()}]);
    let (status, body) = fp.call("POST", "/populate", Some(changed)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["proxies"][0]["upstream"], up_b.to_string());
    assert_eq!(body["proxies"][0]["toxics"], json!([]));
    echo_once(&listen, b"replaced").await;
}

#[tokio::test]
async fn changing_only_upstream_rebinds_the_same_port() {
    let fp = start().await;
    let (up_a, up_b) = (echo().await, echo().await);
    let listen = format!("127.0.0.1:{}", free_port());
    let (status, _) = fp
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "p", "listen": listen, "upstream": up_a.to_string()})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = fp
        .call(
            "POST",
            "/proxies/p",
            Some(json!({"upstream": up_b.to_string()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], true, "{body}");
    assert_eq!(body["upstream"], up_b.to_string());
    echo_once(&listen, b"moved").await;
}

#[tokio::test]
async fn listen_on_every_interface_binds_loopback_and_says_so() {
    let fp = start().await;
    let up = echo().await;
    for (i, form) in ["0.0.0.0:{}", ":{}"].iter().enumerate() {
        let port = free_port();
        let listen = form.replace("{}", &port.to_string());
        let (status, body) = fp
            .call(
                "POST",
                "/proxies",
                Some(
                    json!({"name": format!("p{i}"), "listen": listen, "upstream": up.to_string()}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{listen}: {body}");
        assert_eq!(body["listen"], format!("127.0.0.1:{port}"), "{body}");
        echo_once(&format!("127.0.0.1:{port}"), b"any").await;
    }
}

#[tokio::test]
async fn reset_peer_drops_data_and_resets_after_data_arrives() {
    let fp = start().await;
    let up = echo().await;
    let (_, proxy) = fp
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "p", "listen": "127.0.0.1:0", "upstream": up.to_string()})),
        )
        .await;
    let listen = proxy["listen"].as_str().unwrap().to_owned();
    let (status, _) = fp
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(
                json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 300}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let mut socket = TcpStream::connect(&listen).await.unwrap();
    // Idle for longer than the timeout: not reset (the timer starts with data).
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket.write_all(b"ping").await.unwrap();
    let sent = Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
        .await
        .unwrap();
    let waited = sent.elapsed();
    match read {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
    assert!(
        waited >= Duration::from_millis(280),
        "reset after {waited:?}"
    );
}

#[tokio::test]
async fn slicer_cuts_chunks_into_pieces() {
    let fp = start().await;
    // Upstream that records the size of each read.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let reads = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut sizes = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut total = 0;
        while total < 1000 {
            let n = socket.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
            sizes.push(n);
        }
        sizes
    });
    let (_, proxy) = fp
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "p", "listen": "127.0.0.1:0", "upstream": up.to_string()})),
        )
        .await;
    let listen = proxy["listen"].as_str().unwrap().to_owned();
    let (status, body) = fp
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "slicer", "stream": "upstream",
            "attributes": {"average_size": 100, "size_variation": 20, "delay": 2000}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributes"]["average_size"], 100);
    let mut socket = TcpStream::connect(&listen).await.unwrap();
    socket.write_all(&[7u8; 1000]).await.unwrap();
    let sizes = tokio::time::timeout(Duration::from_secs(5), reads)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), 1000);
    assert!(sizes.len() >= 6, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 200), "{sizes:?}");
}

#[tokio::test]
async fn latency_delays_each_chunk_from_its_arrival() {
    let fp = start().await;
    let up = echo().await;
    let (_, proxy) = fp
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "p", "listen": "127.0.0.1:0", "upstream": up.to_string()})),
        )
        .await;
    let listen = proxy["listen"].as_str().unwrap().to_owned();
    fp.call(
        "POST",
        "/proxies/p/toxics",
        Some(json!({"type": "latency", "attributes": {"latency": 300}})),
    )
    .await;
    let socket = TcpStream::connect(&listen).await.unwrap();
    let (mut r, mut w) = socket.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..5 {
            w.write_all(b"x").await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w
    });
    let mut arrivals = Vec::new();
    let mut buffer = [0u8; 16];
    let mut got = 0;
    while got < 5 {
        let n = tokio::time::timeout(Duration::from_secs(5), r.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got += n;
        arrivals.push(started.elapsed());
    }
    let _w = writer.await.unwrap();
    let last = *arrivals.last().unwrap();
    assert!(arrivals[0] >= Duration::from_millis(290), "{arrivals:?}");
    // Five chunks 50 ms apart under 300 ms: the last is due at ~0.5 s (serial delays: 1.5 s).
    assert!(last < Duration::from_millis(800), "{arrivals:?}");
    // Chunk 2 arrived at ~50 ms, so it is due at ~350 ms; delayed after chunk 1 it came at ~600.
    assert!(
        arrivals.len() >= 2 && arrivals[1] < Duration::from_millis(500),
        "{arrivals:?}"
    );
}

#[tokio::test]
async fn version_and_metrics_answer_like_their_clients_expect() {
    let fp = start().await;
    let response = fp
        .http
        .get(format!("{}/version", fp.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let version = body["version"].as_str().unwrap();
    assert!(version.starts_with("2."), "{version}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");

    let up = echo().await;
    fp.call(
        "POST",
        "/proxies",
        Some(json!({"name": "p", "listen": "127.0.0.1:0", "upstream": up.to_string()})),
    )
    .await;
    fp.call(
        "POST",
        "/proxies/p/toxics",
        Some(json!({"type": "latency", "attributes": {"latency": 1}})),
    )
    .await;
    let text = fp
        .http
        .get(format!("{}/metrics", fp.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("fault_proxy_proxies 1"), "{text}");
    assert!(
        text.contains(r#"fault_proxy_toxics{proxy="p",stream="downstream",type="latency"} 1"#),
        "{text}"
    );
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut promtool) = promtool else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool missing under CI"
        );
        eprintln!("SKIP promtool check: promtool not installed");
        return;
    };
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
