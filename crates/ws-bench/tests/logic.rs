//! The benchmark's bookkeeping: a wrong gap check or percentile would make every figure wrong.

use ws_bench::{
    check_deliveries, latency_histogram, parse_trade, summarize, Completeness, TradeStamp,
};

#[test]
fn parses_trades_and_skips_other_messages() {
    let trade = r#"{"type":"trade","channel":"trades:BTC-USD","trade_id":7,"price":"1.00","quantity":"1","taker_side":"buy","ts_ms":5,"ts_us":5123}"#;
    assert_eq!(
        parse_trade(trade),
        Ok(Some(TradeStamp {
            trade_id: 7,
            ts_us: 5123
        }))
    );
    assert_eq!(
        parse_trade(r#"{"type":"subscribed","channels":["trades:BTC-USD"]}"#),
        Ok(None)
    );
    // A server without ts_us must fail loudly, not measure zero latency.
    assert!(parse_trade(r#"{"type":"trade","trade_id":7,"ts_ms":5}"#).is_err());
    assert!(parse_trade("not json").is_err());
}

#[test]
fn complete_delivery() {
    let c = check_deliveries(&[3, 4, 5], &[3, 4, 5]);
    assert!(c.is_complete());
    assert_eq!(c.received, 3);
}

#[test]
fn finds_gaps_duplicates_reordering_and_strangers() {
    // 4 lost, 5 twice, 6 before 5, 9 never placed.
    let c = check_deliveries(&[3, 6, 5, 5, 9], &[3, 4, 5, 6]);
    assert_eq!(
        c,
        Completeness {
            received: 3,
            missing: 1,
            duplicates: 1,
            out_of_order: 1,
            unexpected: 1,
        }
    );
    assert!(!c.is_complete());
    // Nothing received: everything missing.
    assert_eq!(check_deliveries(&[], &[1, 2]).missing, 2);
}

#[test]
fn summary_percentiles() {
    let mut h = latency_histogram();
    for v in 1..=1000u64 {
        h.record(v).expect("in range");
    }
    let s = summarize(&h);
    assert_eq!(s.count, 1000);
    // 3 significant digits: values below 2048 are exact.
    assert_eq!(
        (s.p50_us, s.p99_us, s.p999_us, s.max_us),
        (500, 990, 999, 1000)
    );
    assert_eq!(summarize(&latency_histogram()).count, 0);
}
