//! trading-api's own prometheus metrics (the HTTP ones come from `service_kit::metrics`).

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};
use service_kit::Metrics;

use crate::journal::JournalMetrics;

/// Every trading metric, registered in the service registry.
#[derive(Clone)]
pub struct TradingMetrics {
    /// `simex_orders_total{symbol,side,type,status}`: submits by outcome.
    pub orders: IntCounterVec,
    /// `simex_trades_total{symbol}`.
    pub trades: IntCounterVec,
    /// `simex_engine_command_seconds{command}`: time inside `OrderBook::execute`.
    pub engine_latency: HistogramVec,
    /// `simex_book_levels{symbol,side}`: price levels resting.
    pub book_levels: IntGaugeVec,
    /// `simex_ws_clients`: connected WebSocket clients.
    pub ws_clients: IntGauge,
    /// `simex_ws_messages_total{channel}`: market-data messages sent to clients.
    pub ws_messages: IntCounterVec,
    /// `simex_ws_slow_consumer_disconnects_total`.
    pub ws_slow_disconnects: IntCounter,
    /// Journal append and fsync latency.
    pub journal: JournalMetrics,
}

impl std::fmt::Debug for TradingMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradingMetrics").finish_non_exhaustive()
    }
}

impl TradingMetrics {
    /// Creates and registers the metrics.
    pub fn new(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let fast = prometheus::exponential_buckets(0.000_000_5, 2.0, 24)?;
        let io = prometheus::exponential_buckets(0.000_01, 2.0, 20)?;
        Ok(Self {
            orders: metrics.register(IntCounterVec::new(
                Opts::new(
                    "simex_orders_total",
                    "Orders submitted, by symbol, side, type and resulting status.",
                ),
                &["symbol", "side", "type", "status"],
            )?)?,
            trades: metrics.register(IntCounterVec::new(
                Opts::new("simex_trades_total", "Trades executed, by symbol."),
                &["symbol"],
            )?)?,
            engine_latency: metrics.register(HistogramVec::new(
                HistogramOpts::new(
                    "simex_engine_command_seconds",
                    "Time the matching engine spends on one command.",
                )
                .buckets(fast),
                &["command"],
            )?)?,
            book_levels: metrics.register(IntGaugeVec::new(
                Opts::new(
                    "simex_book_levels",
                    "Price levels resting in the book, by symbol and side.",
                ),
                &["symbol", "side"],
            )?)?,
            ws_clients: metrics.register(IntGauge::new(
                "simex_ws_clients",
                "Connected WebSocket clients.",
            )?)?,
            ws_messages: metrics.register(IntCounterVec::new(
                Opts::new(
                    "simex_ws_messages_total",
                    "Market-data messages sent to WebSocket clients, by channel.",
                ),
                &["channel"],
            )?)?,
            ws_slow_disconnects: metrics.register(IntCounter::new(
                "simex_ws_slow_consumer_disconnects_total",
                "WebSocket clients disconnected for falling behind.",
            )?)?,
            journal: JournalMetrics {
                append: metrics.register(prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "simex_journal_append_seconds",
                        "Time to append one journal record.",
                    )
                    .buckets(io.clone()),
                )?)?,
                fsync: metrics.register(prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "simex_journal_fsync_seconds",
                        "Duration of one journal fsync.",
                    )
                    .buckets(io),
                )?)?,
            },
        })
    }
}
