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
    /// Agents with stored samples (`null` without a metric store).
    pub agents: Option<u64>,
    /// `ok`, or what is wrong with storage (`unknown` when not reported).
    pub storage: String,
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
    let agents = match &state.metrics {
        Some(m) => m.agents().await.ok().map(|a| a.len() as u64),
        None => None,
    };
    let storage = state
        .status
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |s| s.storage_state());
    Json(HealthResponse {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: u64::try_from(uptime_ms / 1000).unwrap_or(0),
        agents,
        storage,
    })
}

/// The server's own metrics in the Prometheus text format, for an existing
/// Prometheus or Grafana to watch oxmon. No authentication.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain")
    )
)]
pub(super) async fn prometheus(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = match &state.status {
        Some(s) => s.prometheus().await,
        // Without the server's counters: what the API itself knows.
        None => {
            let uptime = state.clock.now_ms().saturating_sub(state.started_at_ms) / 1000;
            format!(
                "# HELP oxmon_up Whether the oxmon server answers.\n# TYPE oxmon_up gauge\noxmon_up 1\n\
                 # HELP oxmon_uptime_seconds Seconds since the server started.\n# TYPE oxmon_uptime_seconds gauge\n\
                 oxmon_uptime_seconds {uptime}\n"
            )
        }
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
