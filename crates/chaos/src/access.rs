//! Who may inject faults: loopback clients, or anyone presenting `Authorization: Bearer <token>`
//! when the service was given a token (the same rule as `/debug/pprof`). Faults can take a
//! service down, so they are never public.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service_kit::ApiError;

/// The access rule for the admin routes.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    /// Bearer token non-loopback clients must present; `None` means loopback only.
    pub token: Option<Arc<str>>,
}

impl AdminAccess {
    /// Loopback clients always; others with `token` when one is given.
    pub fn new(token: Option<String>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }

    /// Whether a request from `peer` with this `Authorization` header value may pass.
    pub fn allows(&self, peer: Option<SocketAddr>, authorization: Option<&str>) -> bool {
        if peer.is_some_and(|p| p.ip().is_loopback()) {
            return true;
        }
        let (Some(token), Some(presented)) = (
            self.token.as_deref(),
            authorization.and_then(|v| v.strip_prefix("Bearer ")),
        ) else {
            return false;
        };
        constant_time_eq(presented.as_bytes(), token.as_bytes())
    }
}

/// Middleware enforcing [`AdminAccess`]: 403 (no token configured) or 401 in the JSON shape.
pub async fn require_admin(
    State(access): State<AdminAccess>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if access.allows(peer, authorization) {
        return next.run(request).await;
    }
    if access.token.is_none() {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "/admin routes answer loopback clients only",
        )
        .into_response()
    } else {
        ApiError::unauthorized("/admin routes need Authorization: Bearer <token>").into_response()
    }
}

/// Compares without an early exit, so response time does not leak the token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_or_token() {
        let remote: SocketAddr = "10.0.0.7:5000".parse().expect("address");
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let open = AdminAccess::new(None);
        assert!(open.allows(Some(local), None));
        assert!(!open.allows(Some(remote), Some("Bearer x")));
        assert!(!open.allows(None, None));
        let guarded = AdminAccess::new(Some("s3cret".into()));
        assert!(guarded.allows(Some(remote), Some("Bearer s3cret")));
        assert!(!guarded.allows(Some(remote), Some("Bearer s3creT")));
        assert!(!guarded.allows(Some(remote), Some("s3cret")));
        assert!(!guarded.allows(Some(remote), None));
    }
}
