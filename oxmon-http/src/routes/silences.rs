//! Silences: `GET/POST /v1/silences`, `DELETE /v1/silences/{id}`,
//! `POST /v1/silences/windows`, `DELETE /v1/silences/windows/{id}`. Ad-hoc
//! silences (matchers on agent, metric, rule and labels, a time range, who
//! and why) are made and expired here, and expired ones stay listed.
//! Recurring windows (everything silenced at those times, as
//! `[[notification.silence_windows]]`) are the file's, read-only, plus those
//! made here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::manage::{NewSilence, Silence, SilenceMatchers};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::definition::definition;
use super::params::parse_time;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, OperatorUser};
use crate::rfc3339;
use crate::sources::{DefinitionSource, ManagedWindow, WindowAdmin};
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
    /// Recurring windows: `[[notification.silence_windows]]` of
    /// `server.toml` (read-only), then those made through the API.
    pub windows: Vec<WindowView>,
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
    let windows = windows(&state)?.windows().await?;
    Ok(Json(SilencesView {
        windows: windows.into_iter().map(WindowView::from).collect(),
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

/// A recurring window: every notification is held back at these local
/// times (in `[notification] timezone`), as a
/// `[[notification.silence_windows]]` entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WindowView {
    /// `config:<position>` for a window of `server.toml`, else the id the
    /// API gave it.
    pub id: String,
    /// `config` (read-only here) or `api`.
    pub source: DefinitionSource,
    /// Start, `HH:MM`, inclusive.
    pub start_time: String,
    /// End, `HH:MM`, exclusive; before `start_time` crosses midnight.
    pub end_time: String,
    /// `daily` or `weekly`.
    pub recurrence: String,
    /// For `weekly`: the days (`mon` ... `sun`).
    #[schema(value_type = Option<Vec<String>>)]
    pub days: Option<Vec<oxmon_core::config::Weekday>>,
    /// What it covers, in one line: `02:00-04:00 daily`.
    pub description: String,
    /// When it was made through the API, RFC 3339; `null` for the file's.
    pub created_at: Option<String>,
}

impl From<ManagedWindow> for WindowView {
    fn from(w: ManagedWindow) -> Self {
        let hm = |t: oxmon_core::config::TimeOfDay| format!("{:02}:{:02}", t.hour, t.minute);
        let (recurrence, days) = match &w.window.recurrence {
            oxmon_core::config::Recurrence::Daily => ("daily", None),
            oxmon_core::config::Recurrence::Weekly(days) => ("weekly", Some(days.clone())),
        };
        Self {
            id: w.id,
            source: w.source,
            start_time: hm(w.window.start),
            end_time: hm(w.window.end),
            recurrence: recurrence.to_owned(),
            days,
            description: w.window.describe(),
            created_at: w.created_at_ms.map(rfc3339),
        }
    }
}

/// The fields of a `[[notification.silence_windows]]` entry.
#[allow(dead_code, reason = "documents the body; the handler reads it as TOML")]
#[derive(Debug, ToSchema)]
pub struct WindowDefinition {
    /// Start, `HH:MM` (24-hour clock).
    #[schema(min_length = 1)]
    start_time: String,
    /// End, `HH:MM`, not equal to `start_time`; earlier crosses midnight.
    #[schema(min_length = 1)]
    end_time: String,
    /// `daily` (default), `weekly` (with `days`), `weekdays` or `weekends`.
    recurrence: Option<String>,
    /// For `weekly`: `mon`, `tue`, ... `sun`.
    days: Option<Vec<String>>,
}

fn windows(state: &AppState) -> Result<&dyn WindowAdmin, ApiError> {
    state
        .silences
        .as_ref()
        .map(|(_, w)| w.as_ref())
        .ok_or_else(|| unavailable("silences"))
}

/// Adds a recurring window: from the next event on, nothing is sent at
/// those times (the attempts are logged as `silenced`). Checked as the
/// file's `[[notification.silence_windows]]` entry; an equal window
/// conflicts.
#[utoipa::path(
    post,
    path = "/v1/silences/windows",
    tag = "notifications",
    request_body = WindowDefinition,
    security(("bearer" = ["operator"])),
    responses(
        (status = 201, description = "Added and in force", body = WindowView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 409, description = "An equal window exists, or the windows are read-only", body = ErrorBody),
        (status = 422, description = "A field the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No silences on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn create_window(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<WindowView>), ApiError> {
    let view = WindowView::from(windows(&state)?.create(definition(body)?).await?);
    state
        .audit(
            &who.0,
            "silence_window.create",
            &view.id,
            None,
            audited(&view),
        )
        .await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Deletes a recurring window made through the API.
#[utoipa::path(
    delete,
    path = "/v1/silences/windows/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The window's id")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such window", body = ErrorBody),
        (status = 409, description = "The window is the configuration file's", body = ErrorBody),
        (status = 503, description = "No silences on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn delete_window(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let admin = windows(&state)?;
    let before = admin
        .windows()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .map(WindowView::from)
        .ok_or_else(|| ApiError::not_found(format!("no silence window `{}`", id.escape_debug())))?;
    admin.delete(&id).await?;
    state
        .audit(&who.0, "silence_window.delete", &id, audited(&before), None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
