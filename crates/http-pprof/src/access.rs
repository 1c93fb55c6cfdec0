//! Who may read profiles: loopback clients by default, anyone else only with
//! `Authorization: Bearer <token>`. Profiles expose code layout, memory contents' shapes and
//! timing, so they are not public.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::PprofConfig;

/// Rejects requests that are neither from loopback (when allowed) nor carry the token.
pub async fn require_access(
    State(config): State<Arc<PprofConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    if config.allow_loopback && peer.is_some_and(|p| p.ip().is_loopback()) {
        return next.run(request).await;
    }
    let Some(token) = config.token.as_deref() else {
        return deny(
            StatusCode::FORBIDDEN,
            "debug endpoints answer loopback clients only",
        );
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => deny(
            StatusCode::UNAUTHORIZED,
            "debug endpoints need Authorization: Bearer <token>",
        ),
    }
}

fn deny(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Compares without an early exit, so response time does not leak the token prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secre"));
    }
}
