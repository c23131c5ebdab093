//! The agent whitelist: `/v1/agents/whitelist[/{agent_id}[/token]]`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::manage::WhitelistEntry;
use oxmon_core::token::hash_token;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, generate_secret};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson, ApiPath};
use crate::rfc3339;
use crate::state::{AppState, audited};

/// Longest accepted description, in characters.
const MAX_DESCRIPTION_LEN: usize = 1024;

/// A new whitelist entry.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddAgentRequest {
    /// Unique agent id: no whitespace or control characters, at most 128
    /// bytes.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$"
    )]
    pub agent_id: String,
    /// Free text for operators.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// The created entry with its token, shown only here.
#[derive(Serialize, ToSchema)]
pub struct AddAgentResponse {
    /// The agent id.
    pub agent_id: String,
    /// The agent's token: put it in the agent's `auth_token`. Not retrievable later.
    pub token: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// A new token for an agent; the previous one stopped working.
#[derive(Serialize, ToSchema)]
pub struct RegenerateTokenResponse {
    /// The agent id.
    pub agent_id: String,
    /// The new token, shown only here.
    pub token: String,
}

macro_rules! debug_without_token {
    ($ty:ty, $name:literal, $($field:ident),*) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)
                    $(.field(stringify!($field), &self.$field))*
                    .field("token", &"***")
                    .finish()
            }
        }
    };
}
debug_without_token!(AddAgentResponse, "AddAgentResponse", agent_id, created_at);
debug_without_token!(RegenerateTokenResponse, "RegenerateTokenResponse", agent_id);

/// A description update.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateAgentRequest {
    /// The new description; `null` or absent clears it.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// Whether a whitelisted agent is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Reported recently.
    Active,
    /// Reported before, but not recently.
    Inactive,
    /// Never reported.
    Unknown,
}

/// One whitelist entry as listed; never includes the token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhitelistItem {
    /// The agent id.
    pub agent_id: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Last report, RFC 3339; `null` when never seen.
    pub last_seen: Option<String>,
    /// Derived from `last_seen`.
    pub status: AgentStatus,
}

/// Newest sample time of every agent from the metric store; a store error
/// leaves every agent `unknown` rather than failing the whitelist route.
async fn seen(state: &AppState) -> BTreeMap<String, i64> {
    super::agents::last_seen_map(state)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "whitelist: agent activity unavailable");
            BTreeMap::new()
        })
}

/// The activity of an agent from the metric store's newest sample time:
/// `unknown` when never seen (or without a metric store).
fn activity(
    state: &AppState,
    seen: &BTreeMap<String, i64>,
    agent_id: &str,
) -> (Option<i64>, AgentStatus) {
    match seen.get(agent_id) {
        None => (None, AgentStatus::Unknown),
        Some(&ms) if state.activity.is_active(ms, state.clock.now_ms()) => {
            (Some(ms), AgentStatus::Active)
        }
        Some(&ms) => (Some(ms), AgentStatus::Inactive),
    }
}

fn item(state: &AppState, seen: &BTreeMap<String, i64>, entry: WhitelistEntry) -> WhitelistItem {
    let (last_seen, status) = activity(state, seen, &entry.agent_id);
    WhitelistItem {
        created_at: rfc3339(entry.created_at_ms),
        last_seen: last_seen.map(rfc3339),
        status,
        agent_id: entry.agent_id,
        description: entry.description,
    }
}

fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    super::params::check_len("description", description, MAX_DESCRIPTION_LEN)
}

/// Whitelists an agent and returns its token, shown only in this response.
#[utoipa::path(
    post,
    path = "/v1/agents/whitelist",
    tag = "whitelist",
    request_body = AddAgentRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Whitelisted", body = AddAgentResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "The agent id is already whitelisted", body = ErrorBody),
        (status = 422, description = "Invalid agent id, description or body shape", body = ErrorBody),
    )
)]
pub(super) async fn add(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(req): ApiJson<AddAgentRequest>,
) -> Result<(StatusCode, Json<AddAgentResponse>), ApiError> {
    oxmon_core::config::validate_agent_id(&req.agent_id)
        .map_err(|why| ApiError::unprocessable("invalid_input", format!("agent_id: {why}")))?;
    check_description(req.description.as_deref())?;
    let token = generate_secret();
    let entry = state
        .whitelist
        .add_agent(
            &req.agent_id,
            &hash_token(&token),
            req.description.as_deref(),
            state.clock.now_ms(),
        )
        .await?;
    state
        .audit(
            &who.0,
            "whitelist.add",
            &entry.agent_id,
            None,
            audited(&entry),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(AddAgentResponse {
            created_at: rfc3339(entry.created_at_ms),
            agent_id: entry.agent_id,
            token,
        }),
    ))
}

/// Every whitelisted agent, by agent id, without tokens.
#[utoipa::path(
    get,
    path = "/v1/agents/whitelist",
    tag = "whitelist",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The whitelist", body = Vec<WhitelistItem>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<WhitelistItem>>, ApiError> {
    let entries = state.whitelist.list_agents().await?;
    let seen = seen(&state).await;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| item(&state, &seen, e))
            .collect(),
    ))
}

/// Replaces an agent's description.
#[utoipa::path(
    put,
    path = "/v1/agents/whitelist/{agent_id}",
    tag = "whitelist",
    params(("agent_id" = String, Path, description = "The agent id")),
    request_body = UpdateAgentRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Updated", body = WhitelistItem),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "Not whitelisted", body = ErrorBody),
        (status = 422, description = "Invalid description or body shape", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateAgentRequest>,
) -> Result<Json<WhitelistItem>, ApiError> {
    check_description(req.description.as_deref())?;
    let before = state.whitelist.get_agent(&agent_id).await?;
    let entry = state
        .whitelist
        .update_agent_description(&agent_id, req.description.as_deref(), state.clock.now_ms())
        .await?;
    state
        .audit(
            &who.0,
            "whitelist.update",
            &agent_id,
            before.as_ref().and_then(audited),
            audited(&entry),
        )
        .await;
    let seen = seen(&state).await;
    Ok(Json(item(&state, &seen, entry)))
}

/// Issues a new token; the old one stops working for gRPC at once.
#[utoipa::path(
    post,
    path = "/v1/agents/whitelist/{agent_id}/token",
    tag = "whitelist",
    params(("agent_id" = String, Path, description = "The agent id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "New token, shown only here", body = RegenerateTokenResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "Not whitelisted", body = ErrorBody),
    )
)]
pub(super) async fn regenerate_token(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<Json<RegenerateTokenResponse>, ApiError> {
    let token = generate_secret();
    let entry = state
        .whitelist
        .replace_agent_token_hash(&agent_id, &hash_token(&token), state.clock.now_ms())
        .await?;
    state
        .audit(&who.0, "whitelist.token", &agent_id, None, audited(&entry))
        .await;
    Ok(Json(RegenerateTokenResponse {
        agent_id: entry.agent_id,
        token,
    }))
}

/// Removes an agent from the whitelist.
#[utoipa::path(
    delete,
    path = "/v1/agents/whitelist/{agent_id}",
    tag = "whitelist",
    params(("agent_id" = String, Path, description = "The agent id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "Not whitelisted", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let before = state.whitelist.get_agent(&agent_id).await?;
    state.whitelist.delete_agent(&agent_id).await?;
    state
        .audit(
            &who.0,
            "whitelist.delete",
            &agent_id,
            before.as_ref().and_then(audited),
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
