//! Fault injection for the simex services, and a toxiproxy-compatible TCP fault proxy.
//!
//! Module map:
//! - [`scenario`]: the scenarios (`cpu-burn`, `latency`, ...), their parameters and validation.
//! - [`engine`]: [`Chaos`], the set of active faults of one service: start, list, stop, expiry,
//!   and the `chaos_active{scenario}` gauge.
//! - [`scenarios`]: the code each fault runs, named so the fault is obvious in a flamegraph
//!   (`chaos::scenarios::cpu_burn::spin`, `chaos::scenarios::regex_hot::compile_and_match`, ...).
//! - [`middleware`]: the layer that injects latency, errors and per-request work into a
//!   service's request handling.
//! - [`hooks`]: [`ServiceFaults`], what a service implements for its own faults
//!   (`lock-contention`, `slow-journal`).
//! - [`api`]: the `/admin/chaos` routes; [`access`]: loopback-or-bearer-token access rule.
//! - [`proxy`]: the TCP fault proxy speaking toxiproxy's REST API (binary `fault-proxy`).
//! - [`upstream`]: the `/admin/upstream` routes that point a simulator's trading-api client at
//!   another address (the fault proxy) and back.
//!
//! Architecture invariant: nothing here knows about orders or books; a service exposes its own
//! faults through [`ServiceFaults`].

pub mod access;
pub mod api;
pub mod engine;
pub mod hooks;
pub mod middleware;
pub mod proxy;
pub mod scenario;
pub mod scenarios;
pub mod upstream;

pub use engine::{Chaos, FaultView};
pub use hooks::{ServiceFaults, Undo};
pub use scenario::{FaultRequest, Scenario};
