//! order-flow's own prometheus metrics, registered in service-kit's registry.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use service_kit::Metrics;

/// Everything order-flow exports besides the HTTP metrics.
#[derive(Clone)]
pub struct FlowMetrics {
    /// `orderflow_orders_total{population,result}`; result is `accepted`, `rejected`,
    /// `rejected_expected` (reject-test orders refused, as they should be), `accepted_invalid`
    /// (reject-test orders accepted: an exchange bug), `unavailable`, `error`, and, for arrivals
    /// that sent nothing, `no_signal` (momentum without a trend), `no_book` (nothing to price
    /// from) and `overloaded` (too many orders awaiting an answer).
    pub orders: IntCounterVec,
    /// `orderflow_order_roundtrip_seconds{population}`: from send to answer.
    pub roundtrip: HistogramVec,
    /// `orderflow_cancels_total{result}`: expired passive orders order-flow cancels.
    pub cancels: IntCounterVec,
    /// `orderflow_reconnects_total`: times trading-api came back after being unreachable.
    pub reconnects: IntCounter,
    /// `orderflow_target_rate`: the asked orders per second.
    pub target_rate: Gauge,
    /// `orderflow_in_flight`: requests awaiting an answer.
    pub in_flight: IntGauge,
}

impl std::fmt::Debug for FlowMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowMetrics").finish_non_exhaustive()
    }
}

impl FlowMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Result<FlowMetrics, prometheus::Error> {
        Ok(FlowMetrics {
            orders: metrics.register(IntCounterVec::new(
                Opts::new(
                    "orderflow_orders_total",
                    "Orders sent to trading-api, by population and result.",
                ),
                &["population", "result"],
            )?)?,
            roundtrip: metrics.register(HistogramVec::new(
                HistogramOpts::new(
                    "orderflow_order_roundtrip_seconds",
                    "Round trip of an order to trading-api, from send to answer.",
                )
                .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 16)?),
                &["population"],
            )?)?,
            cancels: metrics.register(IntCounterVec::new(
                Opts::new(
                    "orderflow_cancels_total",
                    "Cancels of expired passive orders, by result.",
                ),
                &["result"],
            )?)?,
            reconnects: metrics.register(IntCounter::new(
                "orderflow_reconnects_total",
                "Times trading-api came back after being unreachable.",
            )?)?,
            target_rate: metrics.register(Gauge::new(
                "orderflow_target_rate",
                "Asked orders per second.",
            )?)?,
            in_flight: metrics.register(IntGauge::new(
                "orderflow_in_flight",
                "Orders awaiting an answer.",
            )?)?,
        })
    }
}
