//! The minimal endpoint answers like trading-api on the outside: 201 with an order for a valid
//! body, 4xx in the shared JSON error shape otherwise.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn post(body: &str, key: Option<&str>) -> (StatusCode, serde_json::Value) {
    let app = e2e_bench::app(&e2e_bench::AppConfig::default()).expect("router");
    let mut request = Request::post("/api/v1/orders").header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = app
        .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    let json = serde_json::from_slice(&bytes).expect("JSON answer");
    (status, json)
}

const ORDER: &str = r#"{"symbol":"BTC-USD","side":"buy","type":"limit","price":"60000.00","quantity":"0.0001","time_in_force":"gtc"}"#;

#[tokio::test]
async fn valid_order_gets_201_with_the_order() {
    let (status, json) = post(ORDER, Some("k")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json["order_id"], 1);
    assert_eq!(json["side"], "buy");
    assert_eq!(json["price"], "60000.00");
    assert_eq!(json["remaining_quantity"], "0.0001");
    assert_eq!(json["fills"], serde_json::json!([]));
}

#[tokio::test]
async fn bad_input_gets_4xx_json() {
    let cases = [
        // (body, key, status, error code, field)
        ("{not json", Some("k"), StatusCode::BAD_REQUEST, None),
        (
            r#"{"symbol":"BTC-USD","side":"up","type":"limit","price":"1","quantity":"1"}"#,
            Some("k"),
            StatusCode::BAD_REQUEST,
            Some("side"),
        ),
        (
            r#"{"symbol":"BTC-USD","side":"buy","type":"limit","quantity":"1"}"#,
            Some("k"),
            StatusCode::BAD_REQUEST,
            Some("price"),
        ),
        (ORDER, None, StatusCode::UNAUTHORIZED, None),
    ];
    for (body, key, want, field) in cases {
        let (status, json) = post(body, key).await;
        assert_eq!(status, want, "{body}: {json}");
        assert!(json["error"]["code"].is_string(), "{body}: {json}");
        assert!(json["error"]["message"].is_string(), "{body}: {json}");
        if let Some(field) = field {
            assert_eq!(json["error"]["field"], field, "{body}: {json}");
        }
    }
}
