//! `json-heavy`: serde_json round trips of a large value. In a CPU flamegraph:
//! `round_trip` over `serde_json::ser::*` (format_escaped_str, itoa/ryu) and
//! `serde_json::de::*` (parse_str, visit_map) plus the `Value` maps' allocations.

use serde_json::{json, Value};

/// An order-book-like document with `orders` entries.
pub fn large_value(orders: usize) -> Value {
    let orders: Vec<Value> = (0..orders)
        .map(|i| {
            let symbol = ["BTC-USD", "ETH-USD", "SOL-USD"][i % 3];
            json!({
                "order_id": i,
                "symbol": symbol,
                "side": if i % 2 == 0 { "buy" } else { "sell" },
                "price": format!("{}.{:02}", 30_000 + i % 500, i % 100),
                "quantity": (i as f64) * 0.001 + 0.5,
                "client_order_id": format!("client-{i:08}"),
                "tags": ["chaos", "json-heavy", "round-trip"],
            })
        })
        .collect();
    json!({"book": "demo", "orders": orders})
}

/// Serializes `value` to a string and parses it back; returns the text's length.
#[inline(never)]
pub fn round_trip(value: &Value) -> usize {
    let text = serde_json::to_string(value).unwrap_or_default();
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    std::hint::black_box(&parsed);
    text.len()
}
