//! Assembles a service's router with the shared routes and layers: `/health`, `/ready`, `/metrics`,
//! JSON 404/405 fallbacks, a request body limit, the HTTP metrics middleware and the `route`
//! profile label.

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use http_pprof::labels::{LabelSet, WithPprofLabels};

use crate::error::{method_not_allowed_fallback, not_found_fallback};
use crate::health::Readiness;
use crate::metrics::{metrics_handler, track_http, Metrics};

/// What [`standard_router`] needs.
#[derive(Debug, Clone)]
pub struct HttpKit {
    /// Registry behind `/metrics` and the HTTP metrics.
    pub metrics: Metrics,
    /// Flag behind `/ready`.
    pub readiness: Readiness,
    /// Largest request body accepted; larger bodies get 413.
    pub body_limit: usize,
}

/// Wraps a service's own routes (already given their state) with the shared routes and layers.
pub fn standard_router(service_routes: Router, kit: &HttpKit) -> Router {
    let metrics_route = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(kit.metrics.clone());
    service_routes
        .merge(kit.readiness.routes())
        .merge(metrics_route)
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(kit.body_limit))
        .layer(middleware::from_fn_with_state(
            kit.metrics.clone(),
            track_http,
        ))
        .layer(middleware::from_fn(label_route))
}

/// Runs each request with the CPU profile label `route=<matched route template>` (e.g.
/// `/api/v1/orders/{id}`, never the raw path, so the label has few values), so
/// `go tool pprof -tagfocus route=/api/v1/orders` shows one endpoint's work. Requests that
/// match no route are labelled `route=unmatched`, as in the HTTP metrics.
async fn label_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let labels = LabelSet::new([("route", route)]);
    next.run(request).with_pprof_labels(labels).await
}

/// Overload protection for [`with_overload_limits`].
#[derive(Debug, Clone, Copy)]
pub struct OverloadLimits {
    /// Requests served at once; more are refused at once with 503 `overloaded` (load shedding,
    /// so a burst cannot queue without bound).
    pub max_in_flight: usize,
    /// Longest time a request may take; then 408 `timeout`.
    pub request_timeout: std::time::Duration,
}

/// Adds load shedding, a concurrency limit and a request timeout, answering in the JSON error
/// shape. Apply it to the routes that do work (not to `/health`, so probes still answer).
pub fn with_overload_limits(routes: Router, limits: OverloadLimits) -> Router {
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(overload_error))
            .load_shed()
            // Global: `Router::layer` wraps every route separately, and the limit is for all.
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                limits.max_in_flight.max(1),
            ))
            .timeout(limits.request_timeout),
    )
}

async fn overload_error(err: tower::BoxError) -> crate::error::ApiError {
    use axum::http::StatusCode;
    if err.is::<tower::timeout::error::Elapsed>() {
        crate::error::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "request took too long",
        )
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        crate::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight",
        )
    } else {
        tracing::error!(%err, "unexpected middleware error");
        crate::error::ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ApiJson;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Echo {
        n: u32,
    }

    fn app() -> (Router, HttpKit) {
        let kit = HttpKit {
            metrics: Metrics::new().unwrap(),
            readiness: Readiness::new(),
            body_limit: 64,
        };
        let routes = Router::new().route(
            "/echo",
            post(|ApiJson(e): ApiJson<Echo>| async move { e.n.to_string() }),
        );
        (standard_router(routes, &kit), kit)
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        ct: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(ct) = ct {
            builder = builder.header("content-type", ct);
        }
        let response = app
            .clone()
            .oneshot(builder.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn rejections_and_fallbacks_use_the_json_shape() {
        let (app, kit) = app();
        let json = Some("application/json");
        let big = format!("{{\"n\":1,\"pad\":\"{}\"}}", "x".repeat(200));
        // (method, uri, content type, body, expected status, expected error code)
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a str,
            StatusCode,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            ("POST", "/echo", json, "{\"n\":3}", StatusCode::OK, ""),
            (
                "POST",
                "/echo",
                json,
                "{bad",
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                "POST",
                "/echo",
                Some("text/plain"),
                "{\"n\":3}",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                "POST",
                "/echo",
                None,
                "{\"n\":3}",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                "POST",
                "/echo",
                json,
                &big,
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
            ),
            (
                "GET",
                "/echo",
                None,
                "",
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            ),
            ("GET", "/nope", None, "", StatusCode::NOT_FOUND, "not_found"),
            (
                "GET",
                "/ready",
                None,
                "",
                StatusCode::SERVICE_UNAVAILABLE,
                "",
            ),
            ("GET", "/health", None, "", StatusCode::OK, ""),
        ];
        for (method, uri, ct, body, status, code) in cases {
            let (got, text) = call(&app, method, uri, ct, body).await;
            assert_eq!(got, status, "{method} {uri} {body}: {text}");
            if !code.is_empty() {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value["error"]["code"], code, "{text}");
            }
        }
        let slow = with_overload_limits(
            Router::new().route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "late"
                }),
            ),
            OverloadLimits {
                max_in_flight: 4,
                request_timeout: std::time::Duration::from_millis(20),
            },
        );
        let (status, text) = call(&slow, "GET", "/slow", None, "").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{text}");
        assert!(text.contains("\"timeout\""), "{text}");
        kit.readiness.set_ready(true);
        assert_eq!(
            call(&app, "GET", "/ready", None, "").await.0,
            StatusCode::OK
        );
        let (status, text) = call(&app, "GET", "/metrics", None, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.contains("http_requests_total{method=\"POST\",route=\"/echo\",status=\"415\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("route=\"unmatched\",status=\"404\""),
            "{text}"
        );
    }
}
