//! The bad-input contract: every client mistake is a 4xx with `{"error":{"code","message","field"}}`
//! and changes nothing. A table of inputs runs against a book with resting orders, then the test
//! checks the state digest and every balance are exactly as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use trading_api::journal::SyncMode;

/// One bad request: method, path, content type, body, whether to send the API key, expected
/// status, expected `error.field` (`None` = don't care).
struct Case {
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: String,
    with_key: bool,
    status: u16,
    field: Option<&'static str>,
}

fn order(body: serde_json::Value, status: u16, field: Option<&'static str>) -> Case {
    Case {
        method: "POST",
        path: "/api/v1/orders",
        content_type: Some("application/json"),
        body: body.to_string(),
        with_key: true,
        status,
        field,
    }
}

fn raw(
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: &str,
    with_key: bool,
    status: u16,
) -> Case {
    Case {
        method,
        path,
        content_type,
        body: body.to_owned(),
        with_key,
        status,
        field: None,
    }
}

fn cases() -> Vec<Case> {
    let base = || json!({"symbol":"BTC-USD","side":"buy","type":"limit","price":"100.00","quantity":"0.01"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    vec![
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            "{",
            true,
            400,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            "",
            true,
            400,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            "[]",
            true,
            400,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            "null",
            true,
            400,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            r#"{"symbol":"BTC-USD"} x"#,
            true,
            400,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("text/plain"),
            &base().to_string(),
            true,
            415,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            None,
            &base().to_string(),
            true,
            415,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            &format!("{{\"pad\":\"{}\"}}", "x".repeat(8000)),
            true,
            413,
        ),
        raw(
            "POST",
            "/api/v1/orders",
            Some("application/json"),
            &base().to_string(),
            false,
            401,
        ),
        order(with("extra", json!(1)), 400, Some("extra")),
        order(with("side", json!("hold")), 400, Some("side")),
        order(with("side", json!(1)), 400, Some("side")),
        order(with("type", json!("stop")), 400, Some("type")),
        order(
            with("time_in_force", json!("day")),
            400,
            Some("time_in_force"),
        ),
        order(with("post_only", json!("yes")), 400, Some("post_only")),
        order(with("symbol", json!("DOGE-USD")), 400, Some("symbol")),
        order(with("symbol", json!(42)), 400, Some("symbol")),
        order(without("symbol"), 400, Some("symbol")),
        order(without("side"), 400, Some("side")),
        order(without("quantity"), 400, Some("quantity")),
        order(without("price"), 400, Some("price")),
        order(with("price", json!(null)), 400, Some("price")),
        order(with("price", json!("0")), 400, Some("price")),
        order(with("price", json!("-5")), 400, Some("price")),
        order(with("price", json!(-5)), 400, Some("price")),
        order(with("price", json!("100.001")), 400, Some("price")),
        order(with("price", json!("abc")), 400, Some("price")),
        order(with("price", json!("1e3")), 400, Some("price")),
        order(with("price", json!("")), 400, Some("price")),
        order(
            with("price", json!("99999999999999999999999999")),
            400,
            Some("price"),
        ),
        order(with("price", json!(true)), 400, Some("price")),
        order(with("price", json!([1])), 400, Some("price")),
        order(with("quantity", json!("0")), 400, Some("quantity")),
        order(with("quantity", json!(0)), 400, Some("quantity")),
        order(with("quantity", json!("-1")), 400, Some("quantity")),
        order(with("quantity", json!("0.00001")), 400, Some("quantity")),
        order(with("quantity", json!("0.0000001")), 400, Some("quantity")),
        order(
            with("quantity", json!("184467440737095516160")),
            400,
            Some("quantity"),
        ),
        order(with("quantity", json!("1000000")), 400, Some("quantity")),
        order(with("quantity", json!({"v":1})), 400, Some("quantity")),
        order(
            json!({"symbol":"BTC-USD","side":"buy","type":"market","price":"100","quantity":"0.01"}),
            400,
            Some("price"),
        ),
        order(
            with("post_only", json!(true)).tap_tif("ioc"),
            400,
            Some("post_only"),
        ),
        order(
            with("client_order_id", json!("has spaces")),
            400,
            Some("client_order_id"),
        ),
        order(
            with("client_order_id", json!("x".repeat(65))),
            400,
            Some("client_order_id"),
        ),
        order(
            with("client_order_id", json!("")),
            400,
            Some("client_order_id"),
        ),
        raw("GET", "/api/v1/orders/abc", None, "", true, 400),
        raw("GET", "/api/v1/orders/999999", None, "", true, 404),
        raw("DELETE", "/api/v1/orders/999999", None, "", true, 404),
        raw("DELETE", "/api/v1/orders/-1", None, "", true, 400),
        raw(
            "PATCH",
            "/api/v1/orders/999999",
            Some("application/json"),
            r#"{"price":"1"}"#,
            true,
            404,
        ),
        raw("GET", "/api/v1/orders?status=bogus", None, "", true, 400),
        raw("GET", "/api/v1/orders?foo=1", None, "", true, 400),
        raw(
            "GET",
            "/api/v1/orderbook/BTC-USD?depth=0",
            None,
            "",
            false,
            400,
        ),
        raw(
            "GET",
            "/api/v1/orderbook/BTC-USD?depth=x",
            None,
            "",
            false,
            400,
        ),
        raw("GET", "/api/v1/orderbook/NOPE", None, "", false, 404),
        raw(
            "GET",
            "/api/v1/trades/BTC-USD?limit=100000",
            None,
            "",
            false,
            400,
        ),
        raw("GET", "/api/v1/ticker/NOPE", None, "", false, 404),
        raw("GET", "/api/v1/nope", None, "", false, 404),
        raw(
            "PUT",
            "/api/v1/orders",
            Some("application/json"),
            "{}",
            true,
            405,
        ),
        raw("DELETE", "/api/v1/symbols", None, "", false, 405),
        raw(
            "POST",
            "/admin/accounts",
            Some("application/json"),
            r#"{"name":"x"}"#,
            false,
            401,
        ),
        raw("GET", "/admin/state", None, "", true, 401),
    ]
}

trait TapTif {
    fn tap_tif(self, tif: &str) -> serde_json::Value;
}

impl TapTif for serde_json::Value {
    fn tap_tif(mut self, tif: &str) -> serde_json::Value {
        self["time_in_force"] = json!(tif);
        self
    }
}

#[tokio::test]
async fn bad_input_gets_4xx_json_and_changes_nothing() {
    let dir = temp_dir("bad-input");
    let t = start(&dir, SyncMode::None, 64);
    let r = &t.router;
    let (_, key) = funded_account(r, "victim", &[("USD", "1000000"), ("BTC", "10")]).await;
    // Some resting state that bad input must not disturb.
    for (side, price) in [("buy", "99.00"), ("sell", "101.00")] {
        let (status, body) = send(
            r,
            "POST",
            "/api/v1/orders",
            &key,
            &json!({"symbol":"BTC-USD","side":side,"type":"limit","price":price,"quantity":"0.5"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let before = admin_state(r).await;
    let (_, balances_before) =
        call(r, "GET", "/api/v1/account", &[("x-api-key", &key)], None).await;
    let (_, book_before) = call(r, "GET", "/api/v1/orderbook/BTC-USD?depth=50", &[], None).await;

    let cases = cases();
    assert!(
        cases.len() >= 40,
        "the contract asks for at least 40 inputs"
    );
    for case in &cases {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(ct) = case.content_type {
            headers.push(("content-type", ct));
        }
        if case.with_key {
            headers.push(("x-api-key", &key));
        }
        let body = (!case.body.is_empty()).then_some(case.body.as_str());
        let (status, json) = call(r, case.method, case.path, &headers, body).await;
        let what = format!("{} {} {:.120}", case.method, case.path, case.body);
        assert_eq!(status.as_u16(), case.status, "{what}: {json}");
        assert!(
            json["error"]["code"].is_string(),
            "{what}: no error code in {json}"
        );
        assert!(
            json["error"]["message"].is_string(),
            "{what}: no message in {json}"
        );
        assert!(
            json["error"].get("field").is_some(),
            "{what}: no field key in {json}"
        );
        if let Some(field) = case.field {
            assert_eq!(json["error"]["field"], field, "{what}: {json}");
        }
    }

    let after = admin_state(r).await;
    assert_eq!(after["state_digest"], before["state_digest"]);
    assert_eq!(
        after["journal_seq"], before["journal_seq"],
        "bad input must not be journaled"
    );
    let (_, balances_after) = call(r, "GET", "/api/v1/account", &[("x-api-key", &key)], None).await;
    assert_eq!(balances_after, balances_before);
    let (_, book_after) = call(r, "GET", "/api/v1/orderbook/BTC-USD?depth=50", &[], None).await;
    assert_eq!(book_after, book_before);
}

/// Issue 14: decimal text with spaces around it or a bare point is a 400 naming the field, and
/// nothing is applied.
#[tokio::test]
async fn sloppy_decimal_text_is_refused_naming_the_field() {
    let dir = temp_dir("sloppy-decimals");
    let t = start(&dir, SyncMode::None, 64);
    let (_, key) = funded_account(&t.router, "d", &[("USD", "100000")]).await;
    for (price, quantity, field) in [
        (" 100.00 ", "1", "price"),
        (".50", "1", "price"),
        ("100.", "1", "price"),
        ("100.00", " 1", "quantity"),
        ("100.00", ".5", "quantity"),
    ] {
        let (status, body) = send(
            &t.router,
            "POST",
            "/api/v1/orders",
            &key,
            &json!({"symbol":"SOL-USD","side":"buy","type":"limit","price":price,"quantity":quantity}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{price:?} {quantity:?}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (_, orders) = call(
        &t.router,
        "GET",
        "/api/v1/orders",
        &[("x-api-key", &key)],
        None,
    )
    .await;
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(0),
        "{orders}"
    );
}
