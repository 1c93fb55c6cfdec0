//! The `/admin/chaos` routes, loopback-or-token like `/debug/pprof` ([`crate::access`]):
//!
//! - `POST /admin/chaos` `{"scenario","params","duration_secs"}` → 201 with the fault;
//!   400 on bad input, 409 if that scenario is already active.
//! - `GET /admin/chaos` → `{"faults":[...]}` with `remaining_secs` and `progress`.
//! - `DELETE /admin/chaos/{id}` → 200 with the removed fault, 404 if none.
//! - `DELETE /admin/chaos` → `{"removed":[...]}`.
//!
//! Merge them into the finished router (like the pprof routes), outside the service's layers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use service_kit::error::ApiPath;
use service_kit::{ApiError, ApiJson};

use crate::access::{require_admin, AdminAccess};
use crate::engine::{Chaos, FaultView};
use crate::scenario::FaultRequest;

impl Chaos {
    /// The admin routes, guarded by `token` for non-loopback clients (`None`: loopback only).
    pub fn admin_routes(&self, token: Option<String>) -> Router {
        Router::new()
            .route(
                "/admin/chaos",
                get(list_faults).post(start_fault).delete(stop_all_faults),
            )
            .route("/admin/chaos/{id}", delete(stop_fault).get(show_fault))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                AdminAccess::new(token),
                require_admin,
            ))
    }
}

async fn start_fault(
    State(chaos): State<Chaos>,
    ApiJson(request): ApiJson<FaultRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let view = chaos.start(request)?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list_faults(State(chaos): State<Chaos>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "faults": chaos.list() }))
}

async fn show_fault(
    State(chaos): State<Chaos>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FaultView>, ApiError> {
    chaos
        .list()
        .into_iter()
        .find(|f| f.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no active fault {id}")))
}

async fn stop_fault(
    State(chaos): State<Chaos>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FaultView>, ApiError> {
    chaos
        .stop(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no active fault {id}")))
}

async fn stop_all_faults(State(chaos): State<Chaos>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "removed": chaos.stop_all() }))
}
