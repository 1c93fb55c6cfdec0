//! Toxics, in toxiproxy's JSON shape:
//!
//! ```json
//! {"name": "latency_downstream", "type": "latency", "stream": "downstream",
//!  "toxicity": 1.0, "attributes": {"latency": 300, "jitter": 50}}
//! ```
//!
//! `stream` is `upstream` (client to server) or `downstream` (server to client, the default);
//! `toxicity` is the fraction of connections the toxic applies to (decided once per connection).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Direction of data a toxic acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to upstream server.
    Upstream,
    /// Upstream server to client.
    #[default]
    Downstream,
}

impl Stream {
    /// Lowercase name, as in default toxic names (`latency_downstream`).
    pub fn name(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// What a toxic does, with its attributes (milliseconds, KB/s, bytes as toxiproxy has them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToxicKind {
    /// Delay every chunk by `latency` ± `jitter` ms.
    Latency {
        /// Base delay, ms.
        latency: u64,
        /// Uniform jitter, ± ms.
        jitter: u64,
    },
    /// Limit throughput to `rate` KB/s (1 KB = 1000 bytes); 0 means unlimited.
    Bandwidth {
        /// KB per second.
        rate: u64,
    },
    /// Drop all data; close the connection after `timeout` ms (0: never, until removed).
    Timeout {
        /// ms before closing; 0 keeps it open.
        timeout: u64,
    },
    /// Reset the connection (TCP RST) `timeout` ms after the toxic applies (0: at once).
    ResetPeer {
        /// ms before the reset.
        timeout: u64,
    },
    /// Delay closing the socket by `delay` ms after the other side closed.
    SlowClose {
        /// ms.
        delay: u64,
    },
    /// Close the connection once `bytes` bytes went through on this stream.
    LimitData {
        /// Byte budget per connection and stream.
        bytes: u64,
    },
    /// Cut every chunk into pieces of about `average_size` ± `size_variation` bytes, written
    /// `delay` microseconds apart (toxiproxy's slicer).
    Slicer {
        /// Target piece size, bytes (0 leaves chunks whole).
        average_size: u64,
        /// ± bytes around the average.
        size_variation: u64,
        /// Pause after each piece, microseconds.
        delay: u64,
    },
}

impl ToxicKind {
    /// toxiproxy's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Slicer { .. } => "slicer",
        }
    }

    /// The attributes object.
    pub fn attributes(&self) -> Value {
        match *self {
            ToxicKind::Latency { latency, jitter } => json!({"latency": latency, "jitter": jitter}),
            ToxicKind::Bandwidth { rate } => json!({ "rate": rate }),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                json!({ "timeout": timeout })
            }
            ToxicKind::SlowClose { delay } => json!({ "delay": delay }),
            ToxicKind::LimitData { bytes } => json!({ "bytes": bytes }),
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => json!({
                "average_size": average_size,
                "size_variation": size_variation,
                "delay": delay,
            }),
        }
    }

    /// Builds a kind from its type name and attributes (missing attributes are 0).
    pub fn parse(type_name: &str, attributes: &Value) -> Result<Self, String> {
        if !(attributes.is_object() || attributes.is_null()) {
            return Err("attributes must be an object".into());
        }
        let get = |key: &str| -> Result<u64, String> {
            match attributes.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| format!("attribute {key} must be a non-negative integer")),
            }
        };
        Ok(match type_name {
            "latency" => ToxicKind::Latency {
                latency: get("latency")?,
                jitter: get("jitter")?,
            },
            "bandwidth" => ToxicKind::Bandwidth { rate: get("rate")? },
            "timeout" => ToxicKind::Timeout {
                timeout: get("timeout")?,
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: get("timeout")?,
            },
            "slow_close" => ToxicKind::SlowClose {
                delay: get("delay")?,
            },
            "limit_data" => ToxicKind::LimitData {
                bytes: get("bytes")?,
            },
            "slicer" => ToxicKind::Slicer {
                average_size: get("average_size")?,
                size_variation: get("size_variation")?,
                delay: get("delay")?,
            },
            other => return Err(format!("unknown toxic type {other:?}")),
        })
    }

    /// Applies an update's attributes over the current ones (only the keys given change).
    pub fn updated(&self, attributes: &Value) -> Result<Self, String> {
        let mut merged = self.attributes();
        if let (Some(target), Some(source)) = (merged.as_object_mut(), attributes.as_object()) {
            for (k, v) in source {
                target.insert(k.clone(), v.clone());
            }
        }
        ToxicKind::parse(self.type_name(), &merged)
    }
}

/// A toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Unique within the proxy.
    pub name: String,
    /// Type and attributes.
    pub kind: ToxicKind,
    /// Direction.
    pub stream: Stream,
    /// Fraction of connections affected, 0..=1.
    pub toxicity: f64,
    /// Process-unique id, so a connection's toxicity roll is not reused by a re-created toxic of
    /// the same name.
    pub uid: u64,
}

impl Toxic {
    /// toxiproxy's JSON for this toxic.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream.name(),
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        })
    }
}

/// The body of `POST /proxies/{proxy}/toxics`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewToxic {
    /// Defaults to `<type>_<stream>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The toxic type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Defaults to downstream.
    #[serde(default)]
    pub stream: Option<Stream>,
    /// Defaults to 1.0.
    #[serde(default)]
    pub toxicity: Option<f64>,
    /// Type-specific attributes.
    #[serde(default)]
    pub attributes: Value,
}

/// The body of `POST /proxies/{proxy}/toxics/{toxic}` (update).
#[derive(Debug, Clone, Deserialize)]
pub struct ToxicUpdate {
    /// New toxicity, if given.
    #[serde(default)]
    pub toxicity: Option<f64>,
    /// Attributes to change.
    #[serde(default)]
    pub attributes: Value,
}

/// Checks a toxicity value.
pub fn check_toxicity(toxicity: f64) -> Result<f64, String> {
    if toxicity.is_finite() && (0.0..=1.0).contains(&toxicity) {
        Ok(toxicity)
    } else {
        Err("toxicity must be between 0 and 1".into())
    }
}
