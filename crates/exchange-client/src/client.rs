//! [`ExchangeClient`]: one account's typed view of trading-api's REST API.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::types::{BookSnapshot, ErrorBody, NewOrder, OrderAck, SymbolInfo, Ticker, Trade};
use crate::upstream::Upstream;

/// What went wrong talking to trading-api.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused or reset, or the request timed out. The service is down or
    /// overloaded; callers back off.
    #[error("trading-api unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// A 4xx answer: the request itself was refused (bad input, risk, unknown order).
    #[error("rejected with {status}: {code}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The JSON error code, or empty if the body was not the JSON error shape.
        code: String,
        /// The JSON error message, or the raw body.
        message: String,
    },
    /// A 5xx answer: the service failed or is not ready.
    #[error("server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Body text, for the log.
        message: String,
    },
    /// A 2xx answer whose body was not what the wire format says.
    #[error("cannot decode answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// True when retrying later may succeed: unreachable, or 5xx (e.g. 503 while replaying).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable(_) | ClientError::Server { .. }
        )
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Rejected { status, .. } | ClientError::Server { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// A client of trading-api acting for one account (or none, for public data).
///
/// Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct ExchangeClient {
    /// The pooled HTTP client.
    http: reqwest::Client,
    /// `http://host:port`, swappable at run time (shared by every clone and `for_account`).
    base: Upstream,
    /// The account's `X-API-Key`, if it trades.
    api_key: Option<String>,
}

impl ExchangeClient {
    /// A client of `base` (e.g. `http://127.0.0.1:8080`) with a per-request `timeout`.
    pub fn new(base: &str, api_key: Option<String>, timeout: Duration) -> ExchangeClient {
        ExchangeClient::following(Upstream::new(base), api_key, timeout)
    }

    /// [`ExchangeClient::new`] whose base URL follows `upstream` (swappable at run time).
    pub fn following(
        upstream: Upstream,
        api_key: Option<String>,
        timeout: Duration,
    ) -> ExchangeClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .tcp_nodelay(true)
            .build()
            // Only TLS back-end initialisation can fail, and this client has no TLS.
            .unwrap_or_default();
        ExchangeClient::with_upstream(http, upstream, api_key)
    }

    /// A client sharing an existing `reqwest::Client` (the load generator sizes its own pools).
    pub fn with_http(http: reqwest::Client, base: &str, api_key: Option<String>) -> ExchangeClient {
        ExchangeClient::with_upstream(http, Upstream::new(base), api_key)
    }

    /// A client whose base URL follows `upstream`, so a swap redirects its next requests.
    pub fn with_upstream(
        http: reqwest::Client,
        upstream: Upstream,
        api_key: Option<String>,
    ) -> ExchangeClient {
        ExchangeClient {
            http,
            base: upstream,
            api_key,
        }
    }

    /// The same connection pool acting for another account.
    pub fn for_account(&self, api_key: String) -> ExchangeClient {
        ExchangeClient {
            http: self.http.clone(),
            base: self.base.clone(),
            api_key: Some(api_key),
        }
    }

    /// The base URL this client talks to now.
    pub fn base(&self) -> std::sync::Arc<str> {
        self.base.current()
    }

    /// The swappable base URL, shared with every clone of this client.
    pub fn upstream(&self) -> &Upstream {
        &self.base
    }

    /// `POST /api/v1/orders`.
    pub async fn place_order(&self, order: &NewOrder) -> Result<OrderAck, ClientError> {
        let req = self.http.post(self.url("/api/v1/orders")).json(order);
        self.send(req).await
    }

    /// `DELETE /api/v1/orders/{id}`: the order as it was canceled (its `filled_quantity` tells
    /// what filled before the cancel), or `Ok(None)` when it was no longer open (filled, or
    /// canceled already).
    pub async fn cancel_order(&self, order_id: u64) -> Result<Option<OrderAck>, ClientError> {
        let req = self
            .http
            .delete(self.url(&format!("/api/v1/orders/{order_id}")));
        match self.send::<OrderAck>(req).await {
            Ok(ack) => Ok(Some(ack)),
            Err(ClientError::Rejected { status: 404, .. }) => Ok(None),
            // Canceling a filled or already-canceled order is a conflict, not a failure here.
            Err(ClientError::Rejected { status: 409, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v1/orders?status=open`: this account's working orders.
    pub async fn open_orders(&self) -> Result<Vec<OrderAck>, ClientError> {
        let req = self.http.get(self.url("/api/v1/orders?status=open"));
        let value: serde_json::Value = self.send(req).await?;
        // Accept a bare array or an object wrapping one.
        let list = match value {
            serde_json::Value::Array(_) => value,
            serde_json::Value::Object(mut map) => map
                .remove("orders")
                .ok_or_else(|| ClientError::Decode("no `orders` in listing".into()))?,
            _ => return Err(ClientError::Decode("order listing is not a list".into())),
        };
        serde_json::from_value(list).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /api/v1/orderbook/{symbol}?depth=N`.
    pub async fn order_book(&self, symbol: &str, depth: u32) -> Result<BookSnapshot, ClientError> {
        let req = self
            .http
            .get(self.url(&format!("/api/v1/orderbook/{symbol}?depth={depth}")));
        self.send(req).await
    }

    /// `GET /api/v1/trades/{symbol}?limit=N`, newest first.
    pub async fn trades(&self, symbol: &str, limit: u32) -> Result<Vec<Trade>, ClientError> {
        let req = self
            .http
            .get(self.url(&format!("/api/v1/trades/{symbol}?limit={limit}")));
        let value: serde_json::Value = self.send(req).await?;
        let list = match value {
            serde_json::Value::Object(mut map) => map
                .remove("trades")
                .ok_or_else(|| ClientError::Decode("no `trades` in listing".into()))?,
            other => other,
        };
        serde_json::from_value(list).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /api/v1/ticker/{symbol}`.
    pub async fn ticker(&self, symbol: &str) -> Result<Ticker, ClientError> {
        let req = self.http.get(self.url(&format!("/api/v1/ticker/{symbol}")));
        self.send(req).await
    }

    /// `GET /api/v1/symbols`.
    pub async fn symbols(&self) -> Result<Vec<SymbolInfo>, ClientError> {
        let req = self.http.get(self.url("/api/v1/symbols"));
        let value: serde_json::Value = self.send(req).await?;
        let list = match value {
            serde_json::Value::Object(mut map) => map
                .remove("symbols")
                .ok_or_else(|| ClientError::Decode("no `symbols` in listing".into()))?,
            other => other,
        };
        serde_json::from_value(list).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /ready`: true once trading-api has replayed its journal and takes orders.
    pub async fn ready(&self) -> Result<bool, ClientError> {
        let resp = self
            .http
            .get(self.url("/ready"))
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        Ok(resp.status().is_success())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.current(), path)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        if let Some(key) = &self.api_key {
            req = req.header("X-API-Key", key);
        }
        let resp = req.send().await.map_err(ClientError::Unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(ClientError::Unreachable)?;
        if status.is_success() {
            let slice: &[u8] = if body.is_empty() { b"null" } else { &body };
            return serde_json::from_slice(slice).map_err(|e| ClientError::Decode(e.to_string()));
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if status.is_client_error() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(b) => (b.error.code, b.error.message),
                Err(_) => (String::new(), text),
            };
            Err(ClientError::Rejected {
                status: status.as_u16(),
                code,
                message,
            })
        } else {
            Err(ClientError::Server {
                status: status.as_u16(),
                message: text,
            })
        }
    }
}
