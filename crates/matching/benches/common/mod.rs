//! Shared by the benches: deterministic command streams, and adapters that feed the same
//! stream to our `OrderBook` and to the peer books (`lobster`, `rust-order-book`).
#![allow(dead_code)]

pub mod peers;
pub mod streams;
