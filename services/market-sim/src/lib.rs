//! market-sim: a market that moves. Seeded reference prices per symbol and market makers that
//! quote two-sided ladders around them into trading-api.
//!
//! Module map:
//! - [`price`]: the reference price process (GBM, volatility regimes, jumps, shocks).
//! - [`market`]: every symbol's process, the price clock and the price feed.
//! - [`quote`]: the quoting rule as pure functions (ladder, inventory lean, re-quote plan).
//! - [`maker`]: a maker account's loop against trading-api (reconcile, re-quote, back off).
//! - [`api`]: `/api/v1/status`, `/api/v1/prices`, `/api/v1/volatility`, `/ws`.
//! - [`app`]: wiring and startup; [`config`]: the command line; [`metrics`]: prometheus metrics.
//!
//! Architecture invariant: market-sim reaches trading-api only through its public HTTP API
//! (`exchange-client`), exactly as an outside participant would.

pub mod api;
pub mod app;
pub mod config;
pub mod maker;
pub mod market;
pub mod metrics;
pub mod price;
pub mod quote;
