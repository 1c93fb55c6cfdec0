//! order-flow: trader populations that send order flow into trading-api, and the open-model load
//! generator (`order-flow load`).
//!
//! Module map:
//! - [`arrival`]: seeded Poisson arrivals.
//! - [`traders`]: the populations' order rules (retail, momentum, TWAP) over a market view.
//! - [`flow`]: the running flow: scheduling, sending, back-off, expiry of passive orders.
//! - [`acklog`]: the log of acknowledged order ids for crash tests.
//! - [`load`]: the load generator core (constant rate, CO-corrected HDR latencies).
//! - [`loadgen`]: `order-flow load` against trading-api.
//! - [`api`]: `/api/v1/status`, `/api/v1/rate`; [`config`]: the command line; [`metrics`].
//!
//! Architecture invariant: order-flow reaches trading-api only through its public HTTP API.

pub mod acklog;
pub mod api;
pub mod arrival;
pub mod config;
pub mod flow;
pub mod load;
pub mod loadgen;
pub mod metrics;
pub mod traders;
