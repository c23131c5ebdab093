//! Silences: `GET/POST /v1/silences`, `DELETE /v1/silences/{id}`. The
//! recurring windows of `server.toml` are listed read-only; ad-hoc
//! silences (matchers on agent, metric, rule and labels, a time range, who
//! and why) are made and expired here, and expired ones stay listed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::manage::{NewSilence, Silence, SilenceMatchers};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::parse_time;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, OperatorUser};
use crate::rfc3339;
use crate::state::{AppState, audited, unavailable};

/// What a silence matches: every matcher given must.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchersView {
    /// Agents, a glob (`web-*`).
    #[schema(min_length = 1, max_length = 256)]
    pub agent: Option<String>,
    /// Metrics, a glob (`disk.*`).
    #[schema(min_length = 1, max_length = 256)]
    pub metric: Option<String>,
    /// One rule, by name.
    #[schema(min_length = 1, max_length = 256)]
    pub rule: Option<String>,
    /// Labels that must be equal.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl From<MatchersView> for SilenceMatchers {
    fn from(m: MatchersView) -> Self {
        Self {
            agent: m.agent,
            metric: m.metric,
            rule: m.rule,
            labels: m.labels,
        }
    }
}

impl From<SilenceMatchers> for MatchersView {
    fn from(m: SilenceMatchers) -> Self {
        Self {
            agent: m.agent,
            metric: m.metric,
            rule: m.rule,
            labels: m.labels,
        }
    }
}

/// An ad-hoc silence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SilenceView {
    /// Its id.
    pub id: String,
    /// What it matches.
    pub matchers: MatchersView,
    /// From when, RFC 3339.
    pub starts_at: String,
    /// Until when, RFC 3339 (the time of expiry once expired by hand).
    pub ends_at: String,
    /// Whether it silences now.
    pub active: bool,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

impl SilenceView {
    fn new(s: Silence, now_ms: i64) -> Self {
        Self {
            active: s.is_active(now_ms),
            id: s.id,
            matchers: s.matchers.into(),
            starts_at: rfc3339(s.starts_at_ms),
            ends_at: rfc3339(s.ends_at_ms),
            created_by: s.created_by,
            comment: s.comment,
            created_at: rfc3339(s.created_at_ms),
        }
    }
}

/// Every silence: the file's recurring windows and the ad-hoc ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SilencesView {
    /// `[[notification.silence_windows]]` of `server.toml`, read-only.
    #[schema(value_type = Vec<Object>)]
    pub windows: Vec<oxmon_core::config::SilenceWindow>,
    /// Ad-hoc silences, newest first, expired ones too.
    pub silences: Vec<SilenceView>,
}

/// A new ad-hoc silence.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSilenceRequest {
    /// What it matches; at least one matcher.
    pub matchers: MatchersView,
    /// From when, RFC 3339 (1970 to 9999); default now.
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// Until when, RFC 3339 (1970 to 9999), after `starts_at`.
    #[schema(format = DateTime)]
    pub ends_at: String,
    /// Why (shown to everyone).
    #[schema(max_length = 1024)]
    pub comment: String,
}

fn store(state: &AppState) -> Result<&dyn oxmon_core::manage::SilenceStore, ApiError> {
    state
        .silences
        .as_ref()
        .map(|(s, _)| s.as_ref())
        .ok_or_else(|| unavailable("silences"))
}

/// Every silence.
#[utoipa::path(
    get,
    path = "/v1/silences",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The windows and the ad-hoc silences", body = SilencesView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No silences on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<SilencesView>, ApiError> {
    let silences = store(&state)?.list_silences().await?;
    let now = state.clock.now_ms();
    let windows = state
        .silences
        .as_ref()
        .map(|(_, w)| w.as_ref().clone())
        .unwrap_or_default();
    Ok(Json(SilencesView {
        windows,
        silences: silences
            .into_iter()
            .map(|s| SilenceView::new(s, now))
            .collect(),
    }))
}

/// Makes an ad-hoc silence: no notifications for the alerts it matches
/// while it lasts (the attempts are logged as `silenced`).
#[utoipa::path(
    post,
    path = "/v1/silences",
    tag = "notifications",
    request_body = CreateSilenceRequest,
    security(("bearer" = ["operator"])),
    responses(
        (status = 201, description = "Made", body = SilenceView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 422, description = "No matcher, a bad glob, a time that is not RFC 3339 from 1970 to 9999, an end not after the start, or a wrong body shape", body = ErrorBody),
        (status = 503, description = "No silences on this server", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiJson(req): ApiJson<CreateSilenceRequest>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    let store = store(&state)?;
    let now = state.clock.now_ms();
    // A time of the body that does not parse is unprocessable content (422),
    // as any other refused field of a body.
    let time = |name: &str, text: &str| {
        parse_time(name, text)
            .map_err(|e| ApiError::unprocessable("invalid_input", e.message().to_owned()))
    };
    let starts_at_ms = match req.starts_at.as_deref() {
        Some(t) => time("starts_at", t)?,
        None => now,
    };
    let ends_at_ms = time("ends_at", &req.ends_at)?;
    let silence = store
        .create_silence(
            &NewSilence {
                matchers: req.matchers.into(),
                starts_at_ms,
                ends_at_ms,
                created_by: who.0.username.clone(),
                comment: req.comment,
            },
            now,
        )
        .await?;
    let view = SilenceView::new(silence, now);
    state
        .audit(&who.0, "silence.create", &view.id, None, audited(&view))
        .await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Expires an ad-hoc silence now; it stays listed.
#[utoipa::path(
    delete,
    path = "/v1/silences/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The silence's id")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 204, description = "Expired"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such silence", body = ErrorBody),
        (status = 503, description = "No silences on this server", body = ErrorBody),
    )
)]
pub(super) async fn expire(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now_ms();
    let expired = store(&state)?.expire_silence(&id, now).await?;
    let view = SilenceView::new(expired, now);
    state
        .audit(&who.0, "silence.expire", &id, None, audited(&view))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
