//! `GET /v1/health`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Server status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` while the server answers.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
}

/// Server status, version and uptime. No authentication.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "health",
    responses((status = 200, description = "Server is up", body = HealthResponse))
)]
pub(super) async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    let uptime_ms = state.clock.now_ms().saturating_sub(state.started_at_ms);
    Json(HealthResponse {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: u64::try_from(uptime_ms / 1000).unwrap_or(0),
    })
}
