//! Agents: `GET /v1/agents` and `GET /v1/agents/{id}/latest`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use oxmon_core::Labels;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiPath;
use crate::rfc3339;
use crate::state::AppState;

/// One agent that has reported or is whitelisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgentItem {
    /// The agent id.
    pub agent_id: String,
    /// Time of its newest stored sample, RFC 3339; `null` when never seen.
    pub last_seen: Option<String>,
    /// Whether it reported within the configured multiple of its interval.
    pub active: bool,
}

/// The newest value of one series of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LatestValue {
    /// The metric name.
    pub metric: String,
    /// The series labels.
    #[schema(value_type = BTreeMap<String, String>)]
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// When it was measured, RFC 3339.
    pub timestamp: String,
}

/// The newest sample time (ms) of every agent with stored samples; empty
/// without a metric store.
pub(super) async fn last_seen_map(state: &AppState) -> Result<BTreeMap<String, i64>, ApiError> {
    let Some(metrics) = state.metrics.as_ref() else {
        return Ok(BTreeMap::new());
    };
    Ok(metrics
        .agents()
        .await?
        .into_iter()
        .map(|a| (a.agent_id, a.last_seen_ms))
        .collect())
}

/// Every agent that has reported or is whitelisted, by agent id.
#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agents", body = Vec<AgentItem>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<AgentItem>>, ApiError> {
    state.metrics()?;
    let mut seen: BTreeMap<String, Option<i64>> = last_seen_map(&state)
        .await?
        .into_iter()
        .map(|(id, ms)| (id, Some(ms)))
        .collect();
    for entry in state.whitelist.list_agents().await? {
        seen.entry(entry.agent_id).or_insert(None);
    }
    let now = state.clock.now_ms();
    Ok(Json(
        seen.into_iter()
            .map(|(agent_id, last)| AgentItem {
                agent_id,
                last_seen: last.map(rfc3339),
                active: last.is_some_and(|ms| state.activity.is_active(ms, now)),
            })
            .collect(),
    ))
}

/// The newest value of every series of an agent, by metric then labels.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}/latest",
    tag = "agents",
    params(("id" = String, Path, description = "The agent id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest values (empty for a whitelisted agent without data)", body = Vec<LatestValue>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No data and not whitelisted", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn latest(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<Json<Vec<LatestValue>>, ApiError> {
    let samples = state.metrics()?.latest(&agent_id).await?;
    if samples.is_empty() && state.whitelist.get_agent(&agent_id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no agent `{agent_id}`: it has no data and is not whitelisted"
        )));
    }
    Ok(Json(
        samples
            .into_iter()
            .map(|s| LatestValue {
                timestamp: rfc3339(s.timestamp_ms),
                metric: s.metric,
                labels: s.labels,
                value: s.value,
            })
            .collect(),
    ))
}
