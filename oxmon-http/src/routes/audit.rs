//! `GET /v1/audit`: every change made through the API, who made it and
//! when, with the record before and after (never a secret).

use axum::Json;
use axum::extract::State;
use oxmon_core::manage::{AuditQuery, AuditRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{WindowParams, optional_text};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiQuery};
use crate::rfc3339;
use crate::state::{AppState, unavailable};

/// Default page size of the audit log.
const DEFAULT_AUDIT_LIMIT: u64 = 100;
/// Largest page size of the audit log.
const MAX_AUDIT_LIMIT: u64 = 1000;

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditView {
    /// When it was made, RFC 3339.
    pub at: String,
    /// Who made it.
    pub actor: String,
    /// What was done: `rule.create`, `user.update`, `alert.acknowledge`, ...
    pub action: String,
    /// What it was done to: a rule id, a username, an agent id, ...
    pub target: String,
    /// The record before, as the API shows it; `null` for a creation.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The record after, as the API shows it; `null` for a deletion.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        Self {
            at: rfc3339(r.at_ms),
            actor: r.actor,
            action: r.action,
            target: r.target,
            before: r.before,
            after: r.after,
        }
    }
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditPageView {
    /// How many changes match the filters (ignoring `limit` and `offset`).
    pub total: u64,
    /// The page size used.
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// The changes, newest first.
    pub records: Vec<AuditView>,
}

/// The raw query string, parsed by hand (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(super) struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    #[serde(flatten)]
    window: WindowParams,
}

/// Changes matching the filters, newest first, with the total.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "users",
    params(
        ("actor" = Option<String>, Query, description = "Only changes by this user (empty: anyone)"),
        ("action" = Option<String>, Query, description = "Only actions starting with this, e.g. `rule.` (empty: any)"),
        ("from" = Option<String>, Query, min_length = 1, description = "Only changes at or after this time, ISO 8601, 1970 to 9999"),
        ("to" = Option<String>, Query, min_length = 1, description = "Only changes at or before this time, ISO 8601, not before `from`"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 4294967295_u64, description = "Changes to skip (default 0)"),
    ),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "One page of changes", body = AuditPageView),
        (status = 400, description = "Bad time, limit or offset, or `from` after `to`", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 503, description = "No audit log on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AdminUser,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPageView>, ApiError> {
    let log = state
        .audit
        .as_ref()
        .ok_or_else(|| unavailable("the audit log"))?;
    let w = params.window.parse(DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT)?;
    let found = log
        .query_audit(&AuditQuery {
            actor: optional_text(params.actor),
            action: optional_text(params.action),
            from_ms: w.from_ms,
            to_ms: w.to_ms,
            limit: w.limit_usize(),
            offset: w.offset_usize(),
        })
        .await?;
    Ok(Json(AuditPageView {
        total: found.total,
        limit: w.limit,
        offset: w.offset,
        records: found.records.into_iter().map(Into::into).collect(),
    }))
}
