//! market-sim's own prometheus metrics, registered in service-kit's registry.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
};
use service_kit::Metrics;

/// Everything market-sim exports besides the HTTP metrics.
#[derive(Clone)]
pub struct SimMetrics {
    /// `marketsim_reference_price{symbol}`.
    pub reference_price: GaugeVec,
    /// `marketsim_exchange_requests_total{op,result}`: makers' calls to trading-api.
    pub exchange_requests: IntCounterVec,
    /// `marketsim_exchange_request_seconds{op}`: round trip of those calls.
    pub exchange_latency: HistogramVec,
    /// `marketsim_resting_quotes{maker,symbol}`.
    pub resting_quotes: IntGaugeVec,
    /// `marketsim_inventory_lots{maker,symbol}`: net position from the maker's own fills.
    pub inventory_lots: IntGaugeVec,
    /// `marketsim_reconnects_total`: times a maker regained trading-api after losing it.
    pub reconnects: IntCounter,
}

impl std::fmt::Debug for SimMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimMetrics").finish_non_exhaustive()
    }
}

impl SimMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Result<SimMetrics, prometheus::Error> {
        Ok(SimMetrics {
            reference_price: metrics.register(GaugeVec::new(
                Opts::new(
                    "marketsim_reference_price",
                    "Reference price of each symbol.",
                ),
                &["symbol"],
            )?)?,
            exchange_requests: metrics.register(IntCounterVec::new(
                Opts::new(
                    "marketsim_exchange_requests_total",
                    "Market makers' requests to trading-api, by operation and result.",
                ),
                &["op", "result"],
            )?)?,
            exchange_latency: metrics.register(HistogramVec::new(
                HistogramOpts::new(
                    "marketsim_exchange_request_seconds",
                    "Round trip of market makers' requests to trading-api.",
                )
                .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 16)?),
                &["op"],
            )?)?,
            resting_quotes: metrics.register(IntGaugeVec::new(
                Opts::new("marketsim_resting_quotes", "Quotes each maker has resting."),
                &["maker", "symbol"],
            )?)?,
            inventory_lots: metrics.register(IntGaugeVec::new(
                Opts::new(
                    "marketsim_inventory_lots",
                    "Each maker's net position in lots.",
                ),
                &["maker", "symbol"],
            )?)?,
            reconnects: metrics.register(IntCounter::new(
                "marketsim_reconnects_total",
                "Times a market maker regained trading-api after losing it.",
            )?)?,
        })
    }
}
