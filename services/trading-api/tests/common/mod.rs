//! Helpers shared by the integration tests: an in-process app over a temp data directory, and
//! request helpers for `oneshot`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use trading_api::config::{parse_instruments, DEFAULT_SYMBOLS};
use trading_api::journal::SyncMode;
use trading_api::venue::Venue;
use trading_api::{app, recover, AppOptions, AppState, RecoveryOptions};

pub const ADMIN: &str = "test-admin-token";

/// A fresh temp directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simex-trading-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An app recovered from `dir` and installed (ready).
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub venue: Arc<Venue>,
}

pub fn start(dir: &Path, sync: SyncMode, ws_queue: usize) -> TestApp {
    start_with_locking(dir, sync, ws_queue, matching::LockingMode::PerSymbol)
}

/// [`start`] with a chosen book locking mode.
pub fn start_with_locking(
    dir: &Path,
    sync: SyncMode,
    ws_queue: usize,
    locking: matching::LockingMode,
) -> TestApp {
    let state = AppState::new(AppOptions {
        admin_token: Some(ADMIN.to_owned()),
        ws_queue,
        body_limit: 4096,
        data_dir: dir.to_owned(),
        max_in_flight: 256,
        request_timeout: std::time::Duration::from_secs(10),
    })
    .unwrap();
    let options = RecoveryOptions {
        data_dir: dir.to_owned(),
        instruments: parse_instruments(DEFAULT_SYMBOLS, 500).unwrap(),
        locking,
        sync,
        feed_capacity: ws_queue,
    };
    let venue = Arc::new(recover(&options, &state.metrics).expect("recovery"));
    state.install(Arc::clone(&venue));
    TestApp {
        router: app(state.clone()),
        state,
        venue,
    }
}

/// Sends one request; returns status and parsed JSON body (Null if not JSON).
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder
        .body(Body::from(body.unwrap_or("").to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// JSON POST/PATCH with an API key.
pub async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value) {
    call(
        router,
        method,
        uri,
        &[("content-type", "application/json"), ("x-api-key", key)],
        Some(&body.to_string()),
    )
    .await
}

/// Creates a funded account through the admin API; returns (id, key).
pub async fn funded_account(
    router: &Router,
    name: &str,
    funding: &[(&str, &str)],
) -> (u64, String) {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = call(
        router,
        "POST",
        "/admin/accounts",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        Some(&serde_json::json!({ "name": name }).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["account_id"].as_u64().unwrap();
    let key = body["api_key"].as_str().unwrap().to_owned();
    for (asset, amount) in funding {
        let (status, body) = call(
            router,
            "POST",
            "/admin/deposits",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            Some(
                &serde_json::json!({ "account_id": id, "asset": asset, "amount": amount })
                    .to_string(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    (id, key)
}

/// `GET /admin/state`.
pub async fn admin_state(router: &Router) -> Value {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = call(
        router,
        "GET",
        "/admin/state",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asserts every asset is conserved and no balance is negative or over-held.
pub fn assert_conserved(state: &Value) {
    for c in state["conservation"].as_array().unwrap() {
        assert_eq!(c["conserved"], true, "{c}");
    }
    assert_eq!(state["violations"].as_array().unwrap().len(), 0, "{state}");
}
