//! `GET /v1/notifications/log`: every attempt to notify a channel, as the
//! notifier recorded it.

use axum::Json;
use axum::extract::State;
use oxmon_core::notify_history::{DeliveryQuery, DeliveryRecord, DeliveryStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{WindowParams, optional_text};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::rfc3339;
use crate::state::{AppState, unavailable};

/// Default page size of the log.
const DEFAULT_LOG_LIMIT: u64 = 100;
/// Largest page size of the log.
const MAX_LOG_LIMIT: u64 = 1000;

/// One attempt to deliver a notification to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The channel's name.
    pub channel: String,
    /// Ids of the alert events it carried.
    pub event_ids: Vec<String>,
    /// `sent`, `retrying`, `failed`, `silenced` or `deferred`.
    #[schema(value_type = String, example = "sent")]
    pub status: DeliveryStatus,
    /// The error, for `retrying` and `failed`.
    pub error: Option<String>,
    /// 1 for the first attempt, 2 for the first retry, ...; 0 when nothing
    /// was sent.
    pub attempt: u32,
    /// How long the attempt took, ms.
    pub duration_ms: u64,
    /// When it started, RFC 3339.
    pub attempted_at: String,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> Self {
        Self {
            attempted_at: rfc3339(r.attempted_at_ms),
            channel: r.channel,
            event_ids: r.event_ids,
            status: r.status,
            error: r.error,
            attempt: r.attempt,
            duration_ms: r.duration_ms,
        }
    }
}

/// One page of the log.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryLogPage {
    /// How many attempts match the filters (ignoring `limit` and `offset`).
    pub total: u64,
    /// The page size used.
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// The attempts, newest first.
    pub records: Vec<DeliveryView>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
pub(super) enum DeliveryStatusName {
    Sent,
    Retrying,
    Failed,
    Silenced,
    Deferred,
}

/// The raw query string, parsed by hand (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(super) struct LogParams {
    channel: Option<String>,
    status: Option<String>,
    #[serde(flatten)]
    window: WindowParams,
}

/// Delivery attempts matching the filters, newest first, with the total.
#[utoipa::path(
    get,
    path = "/v1/notifications/log",
    tag = "notifications",
    params(
        ("channel" = Option<String>, Query, description = "Only this channel (empty: every channel)"),
        ("status" = inline(Option<DeliveryStatusName>), Query, description = "Only this outcome"),
        ("from" = Option<String>, Query, min_length = 1, description = "Only attempts at or after this time, ISO 8601, 1970 to 9999"),
        ("to" = Option<String>, Query, min_length = 1, description = "Only attempts at or before this time, ISO 8601, not before `from`"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 4294967295_u64, description = "Attempts to skip (default 0)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of attempts", body = DeliveryLogPage),
        (status = 400, description = "Bad status, time, limit or offset, or `from` after `to`", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No notification log on this server", body = ErrorBody),
    )
)]
pub(super) async fn log(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<DeliveryLogPage>, ApiError> {
    let history = state
        .notifications
        .as_ref()
        .ok_or_else(|| unavailable("the notification log"))?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`status`: `{}` is not sent, retrying, failed, silenced or deferred",
                s.escape_debug()
            ))
        })?),
    };
    let w = params.window.parse(DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT)?;
    let found = history
        .query(&DeliveryQuery {
            channel: optional_text(params.channel),
            status,
            from_ms: w.from_ms,
            to_ms: w.to_ms,
            limit: w.limit_usize(),
            offset: w.offset_usize(),
        })
        .await?;
    Ok(Json(DeliveryLogPage {
        total: found.total,
        limit: w.limit,
        offset: w.offset,
        records: found.records.into_iter().map(Into::into).collect(),
    }))
}
