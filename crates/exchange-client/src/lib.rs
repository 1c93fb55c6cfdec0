//! A small typed client of trading-api, shared by market-sim, order-flow and the load generator.
//!
//! - [`client`]: [`ExchangeClient`], one account's calls (orders, book, trades, ticker, symbols).
//! - [`types`]: the JSON wire format.
//! - [`decimal`]: [`Grid`], on-tick / on-lot decimal strings from ticks and lots.
//! - [`keys`]: the demo key file trading-api writes for the simulators.
//! - [`upstream`]: [`Upstream`], trading-api's base URL, swappable at run time (chaos runs route
//!   the simulators through a fault proxy with it).

pub mod client;
pub mod decimal;
pub mod keys;
pub mod types;
pub mod upstream;

pub use client::{ClientError, ExchangeClient};
pub use decimal::{Decimal, Grid};
pub use keys::load_demo_keys;
pub use types::{
    BookSnapshot, Fill, Level, NewOrder, OrderAck, OrderType, Side, SymbolInfo, Ticker,
    TimeInForce, Trade,
};
pub use upstream::{BadUpstream, Upstream};
