//! The `/admin/upstream` routes of a simulator (market-sim, order-flow): where its trading-api
//! client sends requests, swappable at run time so a chaos run can put the fault proxy between
//! the simulator and trading-api, and take it out again. Same access rule as `/admin/chaos`
//! ([`crate::access`]):
//!
//! - `GET /admin/upstream` → `{"trading_api_url", "original_url", "redirected"}`.
//! - `PUT /admin/upstream` `{"trading_api_url": "http://127.0.0.1:18474"}` → 200 with the new
//!   state; 400 naming the field on a URL that is not a plain `http(s)://host:port`.
//! - `DELETE /admin/upstream` → 200, back to the URL given at startup (idempotent, so a
//!   rollback can always run it).
//!
//! The swap applies to requests built after it; requests in flight finish where they went.
//! Merge the routes into the finished router, outside the service's layers (as `/admin/chaos`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use exchange_client::Upstream;
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, ApiJson};

use crate::access::{require_admin, AdminAccess};

/// Body of `PUT /admin/upstream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetUpstream {
    /// The new base URL of trading-api (the fault proxy's listen address, usually).
    trading_api_url: String,
}

/// The answer of every `/admin/upstream` call.
#[derive(Debug, Serialize)]
struct UpstreamView {
    /// Where new requests go.
    trading_api_url: String,
    /// The URL given at startup, which `DELETE` restores.
    original_url: String,
    /// True while the two differ.
    redirected: bool,
}

impl UpstreamView {
    fn of(upstream: &Upstream) -> Json<UpstreamView> {
        Json(UpstreamView {
            trading_api_url: upstream.current().to_string(),
            original_url: upstream.original().to_owned(),
            redirected: upstream.is_redirected(),
        })
    }
}

/// The routes over `upstream`, guarded by `token` for non-loopback clients (`None`: loopback
/// only).
pub fn admin_routes(upstream: Upstream, token: Option<String>) -> Router {
    Router::new()
        .route("/admin/upstream", get(show).put(set).delete(restore))
        .with_state(upstream)
        .layer(axum::middleware::from_fn_with_state(
            AdminAccess::new(token),
            require_admin,
        ))
}

async fn show(State(upstream): State<Upstream>) -> Json<UpstreamView> {
    UpstreamView::of(&upstream)
}

async fn set(
    State(upstream): State<Upstream>,
    ApiJson(body): ApiJson<SetUpstream>,
) -> Result<Json<UpstreamView>, ApiError> {
    upstream
        .set(&body.trading_api_url)
        .map_err(|e| ApiError::invalid_field("trading_api_url", e.to_string()))?;
    tracing::warn!(url = %upstream.current(), "trading-api upstream redirected");
    Ok(UpstreamView::of(&upstream))
}

async fn restore(State(upstream): State<Upstream>) -> Json<UpstreamView> {
    if upstream.is_redirected() {
        tracing::info!(url = upstream.original(), "trading-api upstream restored");
    }
    upstream.restore();
    UpstreamView::of(&upstream)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use std::net::SocketAddr;
    use tower::ServiceExt;

    async fn call(
        app: &Router,
        method: &str,
        body: Option<&str>,
        peer: &str,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri("/admin/upstream")
            .header("content-type", "application/json")
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    const LOCAL: &str = "127.0.0.1:50000";

    #[tokio::test]
    async fn put_redirects_and_delete_restores() {
        let upstream = Upstream::new("http://127.0.0.1:8080");
        let app = admin_routes(upstream.clone(), None);
        let (status, body) = call(&app, "GET", None, LOCAL).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["trading_api_url"], "http://127.0.0.1:8080");
        assert_eq!(body["redirected"], false);

        let put = r#"{"trading_api_url": "http://127.0.0.1:18474/"}"#;
        let (status, body) = call(&app, "PUT", Some(put), LOCAL).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["trading_api_url"], "http://127.0.0.1:18474");
        assert_eq!(body["original_url"], "http://127.0.0.1:8080");
        assert_eq!(body["redirected"], true);
        // The shared handle the simulator's clients read sees the swap.
        assert_eq!(&*upstream.current(), "http://127.0.0.1:18474");

        for _ in 0..2 {
            // Twice: restoring is idempotent, so a rollback after a method that restored passes.
            let (status, body) = call(&app, "DELETE", None, LOCAL).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["trading_api_url"], "http://127.0.0.1:8080");
            assert_eq!(body["redirected"], false);
        }
        assert!(!upstream.is_redirected());
    }

    #[tokio::test]
    async fn bad_input_is_a_4xx_json_error_and_changes_nothing() {
        let upstream = Upstream::new("http://127.0.0.1:8080");
        let app = admin_routes(upstream.clone(), None);
        for bad in [
            r#"{"trading_api_url": "127.0.0.1:18474"}"#,
            r#"{"trading_api_url": "http://127.0.0.1:18474/api/v1"}"#,
            r#"{"trading_api_url": "ftp://127.0.0.1:21"}"#,
            r#"{"trading_api_url": 18474}"#,
            r#"{"url": "http://127.0.0.1:18474"}"#,
            r#"{}"#,
            "not json",
        ] {
            let (status, body) = call(&app, "PUT", Some(bad), LOCAL).await;
            assert!(status.is_client_error(), "{bad}: {status}");
            assert!(body["error"]["code"].is_string(), "{bad}: {body}");
        }
        let (status, body) = call(
            &app,
            "PUT",
            Some(r#"{"trading_api_url": "http://127.0.0.1:1/x"}"#),
            LOCAL,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "trading_api_url");
        assert!(!upstream.is_redirected());
    }

    #[tokio::test]
    async fn remote_clients_are_refused_without_the_token() {
        let upstream = Upstream::new("http://127.0.0.1:8080");
        let app = admin_routes(upstream.clone(), None);
        let put = r#"{"trading_api_url": "http://127.0.0.1:18474"}"#;
        let (status, body) = call(&app, "PUT", Some(put), "10.0.0.7:40000").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "forbidden");
        assert!(!upstream.is_redirected());
    }
}
