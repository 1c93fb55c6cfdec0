//! Who may read profiles: in-process requests carry no peer address, so they count as remote.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_pprof::PprofConfig;
use tower::ServiceExt as _;

fn request(auth: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/debug/pprof/cmdline");
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn remote_clients_need_the_token() {
    let open: axum::Router = http_pprof::router(PprofConfig::default());
    let response = open.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let app: axum::Router =
        http_pprof::router(PprofConfig::default().with_token(Some("s3cret".into())));
    let missing = app.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .clone()
        .oneshot(request(Some("Bearer nope")))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app.oneshot(request(Some("Bearer s3cret"))).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
}
