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
//! | GET | `/version` | `{"version": ...}` |
//!
//! Errors are toxiproxy's `{"error": message, "status": code}`, so its clients parse them.
//! Bodies are read as JSON whatever the content type, as toxiproxy does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
        .fallback(|| async { ProxyError::new(404, "not found") })
        .with_state(collection)
}

async fn list(State(c): State<Collection>) -> Response {
    ok(c.all())
}

async fn create(State(c): State<Collection>, bytes: Bytes) -> Answer {
    let fields: ProxyFields = body(&bytes)?;
    Ok((StatusCode::CREATED, Json(c.create(fields, false)?)).into_response())
}

async fn populate(State(c): State<Collection>, bytes: Bytes) -> Answer {
    let list: Vec<ProxyFields> = body(&bytes)?;
    let created = list
        .into_iter()
        .map(|fields| c.create(fields, true))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((StatusCode::CREATED, Json(json!({ "proxies": created }))).into_response())
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

async fn version() -> Response {
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "server": "simex fault-proxy",
        "api": "toxiproxy 2",
    }))
}
