//! toxiproxy's REST API over a [`Collection`]:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/proxies` | `{name: proxy}` |
//! | POST | `/proxies` | 201 proxy; 409 if it exists |
//! | POST | `/populate` | 201 `{"proxies": [...]}` (create or replace) |
//! | GET / POST / DELETE | `/proxies/{name}` | proxy / updated proxy / 204 |
//! | GET / POST | `/proxies/{name}/toxics` | `[toxic]` / toxic |
//! | GET / POST / DELETE | `/proxies/{name}/toxics/{toxic}` | toxic / updated toxic / 204 |
//! | POST | `/reset` | 204: every proxy enabled, every toxic removed |
//! | GET | `/version` | `{"version": "2.12.0+simex.<ours>"}` (toxiproxy's shape) |
//! | GET | `/metrics` | Prometheus text: proxies, enabled, connections, toxics (not toxiproxy's names) |
//!
//! Errors are toxiproxy's `{"error": message, "status": code}`, so its clients parse them.
//! Bodies are read as JSON whatever the content type, as toxiproxy does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{Collection, ProxyError, ProxyFields};

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({"error": self.message, "status": self.status})),
        )
            .into_response()
    }
}

type Answer = Result<Response, ProxyError>;

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ProxyError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProxyError::bad_request(format!("bad request body: {e}")))
}

fn ok(value: Value) -> Response {
    Json(value).into_response()
}

/// The REST routes.
pub fn router(collection: Collection) -> Router {
    Router::new()
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(remove),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .route("/reset", post(reset))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .fallback(|| async { ProxyError::new(404, "not found") })
        .with_state(collection)
}

async fn list(State(c): State<Collection>) -> Response {
    ok(c.all())
}

async fn create(State(c): State<Collection>, bytes: Bytes) -> Answer {
    let fields: ProxyFields = body(&bytes)?;
    Ok((StatusCode::CREATED, Json(c.create(fields)?)).into_response())
}

async fn populate(State(c): State<Collection>, bytes: Bytes) -> Answer {
    let list: Vec<ProxyFields> = body(&bytes)?;
    let (done, error) = c.populate(list);
    Ok(match error {
        None => (StatusCode::CREATED, Json(json!({ "proxies": done }))).into_response(),
        // toxiproxy's shape: the error fields beside the proxies done before it.
        Some(err) => (
            StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": err.message, "status": err.status, "proxies": done})),
        )
            .into_response(),
    })
}

async fn show(State(c): State<Collection>, Path(proxy): Path<String>) -> Answer {
    Ok(ok(c.get(&proxy)?))
}

async fn update(State(c): State<Collection>, Path(proxy): Path<String>, bytes: Bytes) -> Answer {
    let fields: ProxyFields = body(&bytes)?;
    Ok(ok(c.update(&proxy, fields)?))
}

async fn remove(State(c): State<Collection>, Path(proxy): Path<String>) -> Answer {
    c.delete(&proxy)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn toxics(State(c): State<Collection>, Path(proxy): Path<String>) -> Answer {
    Ok(ok(c.toxics(&proxy)?))
}

async fn add_toxic(State(c): State<Collection>, Path(proxy): Path<String>, bytes: Bytes) -> Answer {
    Ok(ok(c.add_toxic(&proxy, body(&bytes)?)?))
}

async fn show_toxic(
    State(c): State<Collection>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Answer {
    Ok(ok(c.toxic(&proxy, &toxic)?))
}

async fn update_toxic(
    State(c): State<Collection>,
    Path((proxy, toxic)): Path<(String, String)>,
    bytes: Bytes,
) -> Answer {
    Ok(ok(c.update_toxic(&proxy, &toxic, body(&bytes)?)?))
}

async fn remove_toxic(
    State(c): State<Collection>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Answer {
    c.remove_toxic(&proxy, &toxic)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset(State(c): State<Collection>) -> Answer {
    c.reset()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The toxiproxy release whose API this one follows.
pub const TOXIPROXY_API_VERSION: &str = "2.12.0";

/// toxiproxy ≥ 2.7 answers `{"version": "2.12.0"}` plus a newline, as
/// `application/json;charset=utf-8` (earlier 2.x answered the bare string as text). We answer
/// the same shape with `2.12.0+simex.<our version>`: a semver parser reads the API level it can
/// rely on, and the build metadata says which program answered.
async fn version() -> Response {
    let body = format!(
        "{{\"version\": \"{TOXIPROXY_API_VERSION}+simex.{}\"}}\n",
        env!("CARGO_PKG_VERSION")
    );
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

/// Prometheus text exposition of the proxies' state, built at each scrape from the collection
/// (so it can never disagree with `GET /proxies`).
async fn metrics(State(c): State<Collection>) -> Answer {
    let failed = |e: prometheus::Error| ProxyError::new(500, format!("metrics: {e}"));
    let registry = prometheus::Registry::new();
    let proxies =
        prometheus::IntGauge::new("fault_proxy_proxies", "Proxies defined.").map_err(failed)?;
    let enabled = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "fault_proxy_proxy_enabled",
            "1 while the proxy accepts connections, 0 while disabled.",
        ),
        &["proxy"],
    )
    .map_err(failed)?;
    let accepted = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "fault_proxy_connections_accepted_total",
            "Connections accepted by the proxy since it was created.",
        ),
        &["proxy"],
    )
    .map_err(failed)?;
    let toxics = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "fault_proxy_toxics",
            "Toxics on the proxy, by type and stream.",
        ),
        &["proxy", "type", "stream"],
    )
    .map_err(failed)?;
    for collector in [
        Box::new(proxies.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(enabled.clone()),
        Box::new(accepted.clone()),
        Box::new(toxics.clone()),
    ] {
        registry.register(collector).map_err(failed)?;
    }
    let snapshot = c.snapshot();
    proxies.set(i64::try_from(snapshot.len()).unwrap_or(i64::MAX));
    for p in &snapshot {
        enabled
            .with_label_values(&[&p.name])
            .set(i64::from(p.enabled));
        accepted.with_label_values(&[&p.name]).inc_by(p.accepted);
        for (kind, stream) in &p.toxics {
            toxics
                .with_label_values(&[p.name.as_str(), kind, stream])
                .inc();
        }
    }
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .map_err(failed)?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}
