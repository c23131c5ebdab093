//! Alerts: `GET /v1/alerts/history`, `/v1/alerts/active`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::AlertEvent;
use oxmon_core::{AlertQuery, Labels, Severity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{WindowParams, optional_text};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, OperatorUser};
use crate::rfc3339;
use crate::sources::ActiveAlertView;
use crate::state::{AppState, audited, unavailable};

/// Default page size of the alert history.
pub const DEFAULT_HISTORY_LIMIT: u64 = 100;
/// Largest page size of the alert history.
pub const MAX_HISTORY_LIMIT: u64 = 1000;

/// One alert event, as the history lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertEventView {
    /// Unique id of the event.
    pub id: String,
    /// Name of the rule that produced it.
    pub rule: String,
    /// The agent of the series.
    pub agent_id: String,
    /// The metric of the series.
    pub metric: String,
    /// The labels of the series.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub labels: Labels,
    /// `info`, `warning` or `critical`.
    #[schema(value_type = String, example = "critical")]
    pub severity: Severity,
    /// `firing` or `resolved`.
    #[schema(value_type = String, example = "firing")]
    pub status: oxmon_core::AlertStatus,
    /// The value that triggered (or cleared) the condition.
    pub value: f64,
    /// The threshold compared with, when the rule has one.
    pub threshold: Option<f64>,
    /// When the event happened, RFC 3339.
    pub timestamp: String,
    /// When the alert started firing, RFC 3339.
    pub fired_at: String,
    /// A human-readable sentence.
    pub message: String,
    /// The forecast of a trend-prediction rule.
    #[schema(value_type = Option<Object>)]
    pub prediction: Option<oxmon_core::Prediction>,
}

impl From<AlertEvent> for AlertEventView {
    fn from(e: AlertEvent) -> Self {
        Self {
            timestamp: rfc3339(e.timestamp_ms),
            fired_at: rfc3339(e.fired_at_ms),
            id: e.id,
            rule: e.rule,
            agent_id: e.series.agent_id,
            metric: e.series.metric,
            labels: e.series.labels,
            severity: e.severity,
            status: e.status,
            value: e.value,
            threshold: e.threshold,
            message: e.message,
            prediction: e.prediction,
        }
    }
}

/// One page of alert history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertHistoryPage {
    /// How many events match the filters (ignoring `limit` and `offset`).
    pub total: u64,
    /// The page size used.
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// The events, newest first.
    pub events: Vec<AlertEventView>,
}

/// A severity, as the history filter names it.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
pub(super) enum SeverityName {
    Info,
    Warning,
    Critical,
}

/// The raw history query string, parsed by hand (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(super) struct HistoryParams {
    severity: Option<String>,
    agent: Option<String>,
    #[serde(flatten)]
    window: WindowParams,
}

/// Alert events matching the filters, newest first, with the total count.
#[utoipa::path(
    get,
    path = "/v1/alerts/history",
    tag = "alerts",
    params(
        ("severity" = inline(Option<SeverityName>), Query, description = "Only this severity"),
        ("agent" = Option<String>, Query, description = "Only this agent (empty: every agent)"),
        ("from" = Option<String>, Query, min_length = 1, description = "Only events at or after this time, ISO 8601 (`2026-02-06T00:00:00Z`), 1970 to 9999"),
        ("to" = Option<String>, Query, min_length = 1, description = "Only events at or before this time, ISO 8601, not before `from`"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 4294967295_u64, description = "Events to skip (default 0)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of events", body = AlertHistoryPage),
        (status = 400, description = "Bad severity, time, limit or offset, or `from` after `to`", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn history(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<AlertHistoryPage>, ApiError> {
    let severity = match params.severity.as_deref() {
        None => None,
        Some("info") => Some(Severity::Info),
        Some("warning") => Some(Severity::Warning),
        Some("critical") => Some(Severity::Critical),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`severity`: `{other}` is not info, warning or critical"
            )));
        }
    };
    let agent_id = optional_text(params.agent);
    let w = params
        .window
        .parse(DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT)?;
    let page = state
        .metrics()?
        .query_alert_events(&AlertQuery {
            severity,
            agent_id,
            from_ms: w.from_ms,
            to_ms: w.to_ms,
            limit: w.limit_usize(),
            offset: w.offset_usize(),
        })
        .await?;
    Ok(Json(AlertHistoryPage {
        total: page.total,
        limit: w.limit,
        offset: w.offset,
        events: page.events.into_iter().map(Into::into).collect(),
    }))
}

/// Every alert firing now.
#[utoipa::path(
    get,
    path = "/v1/alerts/active",
    tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Firing alerts", body = Vec<ActiveAlertView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No alert engine on this server", body = ErrorBody),
    )
)]
pub(super) async fn active(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<ActiveAlertView>>, ApiError> {
    let source = state
        .active_alerts
        .as_ref()
        .ok_or_else(|| unavailable("the alert engine"))?;
    Ok(Json(source.active()))
}

/// Acknowledges a firing alert: no reminders or escalations until it
/// resolves; who and when show in `/v1/alerts/active`, and its resolution
/// names who.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id (from `/v1/alerts/active`)")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 200, description = "Acknowledged", body = ActiveAlertView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such alert fires", body = ErrorBody),
        (status = 503, description = "No alert engine on this server", body = ErrorBody),
    )
)]
pub(super) async fn acknowledge(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ActiveAlertView>, ApiError> {
    let source = state
        .active_alerts
        .as_ref()
        .ok_or_else(|| unavailable("the alert engine"))?;
    let acked = source.acknowledge(&id, &who.0.username).await?;
    state
        .audit(&who.0, "alert.acknowledge", &id, None, audited(&acked))
        .await;
    Ok(Json(acked))
}

/// Resolves a firing alert by hand; the resolution is stored and notified.
/// Should its condition still hold, the next sample fires it again.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/resolve",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id (from `/v1/alerts/active`)")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 204, description = "Resolved"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such alert fires", body = ErrorBody),
        (status = 503, description = "No alert engine on this server", body = ErrorBody),
    )
)]
pub(super) async fn resolve(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let source = state
        .active_alerts
        .as_ref()
        .ok_or_else(|| unavailable("the alert engine"))?;
    let before = source.active().into_iter().find(|a| a.id == id);
    source.resolve(&id, &who.0.username).await?;
    state
        .audit(
            &who.0,
            "alert.resolve",
            &id,
            before.as_ref().and_then(audited),
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
