//! `/admin/chaos` over real HTTP on 127.0.0.1:0: each scenario's API contract and expiry, the
//! request layer's effect on real requests, the metric, and the access rule.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chaos::Chaos;
use serde_json::{json, Value};
use service_kit::http::{standard_router, HttpKit};
use service_kit::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

/// A service like ours: one route `/work`, the chaos layer around it, the shared layers, and the
/// admin routes merged outside; served until the returned token is cancelled.
async fn serve() -> (SocketAddr, CancellationToken, Chaos) {
    let metrics = Metrics::new().expect("registry");
    let chaos = Chaos::new(&metrics).expect("gauge registers");
    let routes = Router::new().route("/work", get(|| async { "done" }));
    let kit = HttpKit {
        metrics,
        readiness: Readiness::new(),
        body_limit: 64 * 1024,
    };
    let app = standard_router(chaos.inject_into(routes), &kit).merge(chaos.admin_routes(None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(service_kit::shutdown::serve(
        listener,
        app,
        shutdown.clone(),
        Duration::from_secs(1),
    ));
    (addr, shutdown, chaos)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post(addr: SocketAddr, body: &Value) -> (u16, Value) {
    let response = client()
        .post(format!("http://{addr}/admin/chaos"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metrics_text(addr: SocketAddr) -> String {
    client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn gauge(text: &str, scenario: &str) -> Option<i64> {
    let prefix = format!("chaos_active{{scenario=\"{scenario}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `GET /admin/chaos` until no fault is left (bounded).
async fn wait_until_empty(addr: SocketAddr, limit: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (_, body) = get_json(addr, "/admin/chaos").await;
        let faults = body["faults"].as_array().cloned().unwrap_or_default();
        if faults.is_empty() || started.elapsed() > limit {
            return faults;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_starts_reports_progress_and_expires() {
    let (addr, shutdown, _chaos) = serve().await;
    let background = json!({"threads": 1, "duty_cycle": 0.2, "size": 20});
    let cases = [
        (
            "cpu-burn",
            json!({"threads": 1, "duty_cycle": 0.2}),
            "iterations",
        ),
        (
            "memory-leak",
            json!({"bytes_per_sec": 1_048_576}),
            "leaked_bytes",
        ),
        ("task-leak", json!({"tasks_per_sec": 1000}), "leaked_tasks"),
        ("latency", json!({"delay_ms": 1}), "requests_delayed"),
        ("errors", json!({"probability": 0.0}), "requests_failed"),
        ("alloc-churn", background.clone(), "iterations"),
        ("json-heavy", background.clone(), "iterations"),
        ("regex-hot", background.clone(), "iterations"),
        ("fmt-heavy", background.clone(), "iterations"),
        ("hash-heavy", background.clone(), "iterations"),
    ];
    let mut ids = Vec::new();
    for (scenario, params, _) in &cases {
        let (status, body) = post(
            addr,
            &json!({"scenario": scenario, "params": params, "duration_secs": 1.5}),
        )
        .await;
        assert_eq!(status, 201, "{scenario}: {body}");
        assert_eq!(body["scenario"], *scenario);
        assert!(body["id"].as_str().unwrap().starts_with("chaos-"), "{body}");
        assert!(body["params"].is_object(), "{body}");
        assert_eq!(body["duration_secs"], 1.5);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // Every fault is listed, with time left, and counted in the gauge.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = get_json(addr, "/admin/chaos").await;
    assert_eq!(status, 200);
    let faults = body["faults"].as_array().unwrap();
    assert_eq!(faults.len(), cases.len(), "{body}");
    for (scenario, _, unit) in &cases {
        let fault = faults.iter().find(|f| f["scenario"] == *scenario).unwrap();
        let remaining = fault["remaining_secs"].as_f64().unwrap();
        assert!(remaining > 0.0 && remaining < 1.5, "{fault}");
        let done = fault["progress"][unit].as_u64().unwrap();
        if !matches!(*scenario, "latency" | "errors") {
            assert!(done > 0, "{scenario} made no progress: {fault}");
        }
    }
    let (status, one) = get_json(addr, &format!("/admin/chaos/{}", ids[0])).await;
    assert_eq!((status, &one["scenario"]), (200, &json!("cpu-burn")));
    let text = metrics_text(addr).await;
    for (scenario, _, _) in &cases {
        assert_eq!(gauge(&text, scenario), Some(1), "{scenario}\n{text}");
    }
    assert_eq!(gauge(&text, "lock-contention"), Some(0), "{text}");
    // They remove themselves.
    let left = wait_until_empty(addr, Duration::from_secs(5)).await;
    assert!(left.is_empty(), "{left:?}");
    let text = metrics_text(addr).await;
    for (scenario, _, _) in &cases {
        assert_eq!(gauge(&text, scenario), Some(0), "{scenario}\n{text}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let (addr, shutdown, _chaos) = serve().await;
    let cases = [
        (
            json!({"scenario": "meltdown", "duration_secs": 1}),
            400,
            Some("scenario"),
        ),
        (json!({"scenario": "cpu-burn"}), 400, Some("duration_secs")),
        (
            json!({"scenario": "cpu-burn", "duration_secs": -1}),
            400,
            Some("duration_secs"),
        ),
        (
            json!({"scenario": "cpu-burn", "duration_secs": 1, "params": {"threads": 1000}}),
            400,
            Some("params.threads"),
        ),
        (
            json!({"scenario": "latency", "duration_secs": 1, "params": {"delay": 5}}),
            400,
            Some("params.delay"),
        ),
        (
            json!({"scenario": "cpu-burn", "duration_secs": 1, "extra": 1}),
            400,
            Some("extra"),
        ),
        (
            json!({"scenario": "lock-contention", "duration_secs": 1}),
            400,
            Some("scenario"),
        ),
        (
            json!({"scenario": "slow-journal", "duration_secs": 1}),
            400,
            Some("scenario"),
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = post(addr, &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}: {answer}");
    }
    // One fault per scenario.
    let long = json!({"scenario": "cpu-burn", "params": {"duty_cycle": 0.1}, "duration_secs": 30});
    let (status, first) = post(addr, &long).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = post(addr, &long).await;
    assert_eq!(status, 409, "{second}");
    assert_eq!(second["error"]["code"], "conflict");
    // Delete by id, then unknown ids are 404.
    let id = first["id"].as_str().unwrap();
    let url = format!("http://{addr}/admin/chaos/{id}");
    let response = client().delete(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let removed: Value = response.json().await.unwrap();
    assert_eq!(removed["id"], id);
    let response = client().delete(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let text = metrics_text(addr).await;
    assert_eq!(gauge(&text, "cpu-burn"), Some(0), "{text}");
    // Delete all.
    for scenario in ["cpu-burn", "hash-heavy"] {
        let body =
            json!({"scenario": scenario, "params": {"duty_cycle": 0.1}, "duration_secs": 30});
        assert_eq!(post(addr, &body).await.0, 201);
    }
    let response = client()
        .delete(format!("http://{addr}/admin/chaos"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["removed"].as_array().unwrap().len(), 2, "{body}");
    assert!(wait_until_empty(addr, Duration::ZERO).await.is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn latency_errors_and_request_work_reach_real_requests() {
    let (addr, shutdown, _chaos) = serve().await;
    let work = format!("http://{addr}/work");
    let (status, latency) = post(
        addr,
        &json!({"scenario": "latency", "params": {"delay_ms": 300}, "duration_secs": 30}),
    )
    .await;
    assert_eq!(status, 201);
    let started = Instant::now();
    let response = client().get(&work).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // Health is outside the layer.
    let started = Instant::now();
    client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
    let id = latency["id"].as_str().unwrap();
    client()
        .delete(format!("http://{addr}/admin/chaos/{id}"))
        .send()
        .await
        .unwrap();

    let (status, _) = post(
        addr,
        &json!({"scenario": "errors", "params": {"probability": 1.0, "status": 502}, "duration_secs": 30}),
    )
    .await;
    assert_eq!(status, 201);
    for _ in 0..3 {
        let response = client().get(&work).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "chaos_injected", "{body}");
    }
    let text = metrics_text(addr).await;
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/work\",status=\"502\"} 3"),
        "injected errors must count as the service's own: {text}"
    );
    client()
        .delete(format!("http://{addr}/admin/chaos"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        client().get(&work).send().await.unwrap().status().as_u16(),
        200
    );

    let (status, _) = post(
        addr,
        &json!({"scenario": "regex-hot", "params": {"mode": "request", "iterations": 3, "size": 8}, "duration_secs": 30}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        client().get(&work).send().await.unwrap().status().as_u16(),
        200
    );
    let (_, body) = get_json(addr, "/admin/chaos").await;
    assert_eq!(body["faults"][0]["progress"]["iterations"], 3, "{body}");
    shutdown.cancel();
}

#[tokio::test]
async fn metrics_pass_promtool_when_installed() {
    let (addr, shutdown, _chaos) = serve().await;
    let (status, _) = post(
        addr,
        &json!({"scenario": "fmt-heavy", "params": {"duty_cycle": 0.1}, "duration_secs": 30}),
    )
    .await;
    assert_eq!(status, 201);
    let text = metrics_text(addr).await;
    assert!(text.contains("# TYPE chaos_active gauge"), "{text}");
    assert_eq!(gauge(&text, "fmt-heavy"), Some(1));
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed; format checked by the assertions above only");
        shutdown.cancel();
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(
        !report.contains("chaos_active"),
        "promtool complains: {report}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn admin_routes_refuse_unknown_remote_clients() {
    use tower::ServiceExt;
    let metrics = Metrics::new().unwrap();
    let chaos = Chaos::new(&metrics).unwrap();
    let request = || {
        axum::http::Request::builder()
            .uri("/admin/chaos")
            .header("authorization", "Bearer tok")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    // No peer address (not loopback) and no token configured: 403.
    let response = chaos.admin_routes(None).oneshot(request()).await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // With the token configured, the bearer passes.
    let response = chaos
        .admin_routes(Some("tok".into()))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
