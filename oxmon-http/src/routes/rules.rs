//! Alert rules: `GET/POST /v1/alerts/rules`,
//! `GET/PUT/DELETE /v1/alerts/rules/{id}`,
//! `POST /v1/alerts/rules/{id}/enable|disable`.
//!
//! A body carries exactly the fields of an `[[alert.rules]]` entry and is
//! checked by the same code as the file (`oxmon_core::config::parse_rule`),
//! so a refusal names the field in the file's words.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::config::RuleConfig;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::definition::definition;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson, ApiPath};
use crate::rfc3339;
use crate::sources::{DefinitionSource, ManagedRule, RuleAdmin};
use crate::state::{AppState, audited, unavailable};

/// An alert rule with every field of its `[[alert.rules]]` entry (`name`,
/// `type`, `metric`, `agent_pattern`, `severity`, `silence_secs`, `enabled`
/// and the fields of its type), its id and where it is defined.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    /// `config:<name>` for a rule of `server.toml`, else the id the API gave it.
    pub id: String,
    /// `config` (read-only here; change `server.toml`) or `api`.
    pub source: DefinitionSource,
    /// The rule's fields.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rule: RuleConfig,
    /// When it was made through the API, RFC 3339; `null` for the file's.
    pub created_at: Option<String>,
    /// When it was last changed through the API, RFC 3339.
    pub updated_at: Option<String>,
}

impl From<ManagedRule> for RuleView {
    fn from(r: ManagedRule) -> Self {
        Self {
            id: r.id,
            source: r.source,
            rule: r.rule,
            created_at: r.created_at_ms.map(rfc3339),
            updated_at: r.updated_at_ms.map(rfc3339),
        }
    }
}

/// The fields of an `[[alert.rules]]` entry, as in `server.toml`. Which
/// fields apply depends on `type`; fields of another type are refused, and
/// a custom type registered by the server takes its own fields.
#[allow(dead_code, reason = "documents the body; the handlers read it as TOML")]
#[derive(Debug, ToSchema)]
pub struct RuleDefinition {
    /// Unique name.
    #[schema(min_length = 1)]
    name: String,
    /// `threshold`, `rate_of_change`, `trend_prediction`, `cert_expiration`
    /// or a custom type.
    #[schema(rename = "type", min_length = 1)]
    kind: String,
    /// The metric watched (default for `cert_expiration`:
    /// `certificate.days_until_expiry`).
    metric: Option<String>,
    /// Glob over agent ids; default `*`.
    agent_pattern: Option<String>,
    /// `info`, `warning` or `critical`.
    severity: Option<String>,
    /// No repeat notification within this many seconds; default 600.
    #[schema(minimum = 0)]
    silence_secs: Option<u64>,
    /// Default `true`.
    enabled: Option<bool>,
    /// threshold: `greater_than` (`gt`), `less_than` (`lt`), `greater_equal`
    /// (`gte`) or `less_equal` (`lte`).
    operator: Option<String>,
    /// threshold: the value compared with.
    value: Option<f64>,
    /// threshold: how long the condition must hold, seconds.
    #[schema(minimum = 0)]
    duration_secs: Option<u64>,
    /// rate_of_change: percent change that fires.
    rate_threshold: Option<f64>,
    /// rate_of_change and trend_prediction: the window, seconds.
    #[schema(minimum = 0)]
    window_secs: Option<u64>,
    /// rate_of_change: `up`, `down` or `both`.
    direction: Option<String>,
    /// trend_prediction: the value predicted to be reached.
    predict_threshold: Option<f64>,
    /// trend_prediction: how far ahead, seconds.
    #[schema(minimum = 0)]
    horizon_secs: Option<u64>,
    /// trend_prediction: fewest points for a fit.
    #[schema(minimum = 0)]
    min_data_points: Option<u64>,
    /// trend_prediction: least R² of the fit, 0 to 1.
    min_r_squared: Option<f64>,
    /// cert_expiration: days left that warn; default 30.
    warning_days: Option<f64>,
    /// cert_expiration: days left that are critical; default 7.
    critical_days: Option<f64>,
}

fn admin(state: &AppState) -> Result<&dyn RuleAdmin, ApiError> {
    state
        .rules
        .as_deref()
        .ok_or_else(|| unavailable("the rule configuration"))
}

/// Every alert rule with all its fields: the file's first, then those made
/// through the API in creation order.
#[utoipa::path(
    get,
    path = "/v1/alerts/rules",
    tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rules", body = Vec<RuleView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No rules on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    let rules = admin(&state)?.rules().await?;
    Ok(Json(rules.into_iter().map(RuleView::from).collect()))
}

/// Adds a rule. It applies to the running engine before the response.
#[utoipa::path(
    post,
    path = "/v1/alerts/rules",
    tag = "alerts",
    request_body = RuleDefinition,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Added and running", body = RuleView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "A rule of this name exists, or the rules are read-only", body = ErrorBody),
        (status = 422, description = "A field the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No rules on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    let admin = admin(&state)?;
    let rule = RuleView::from(admin.create(definition(body)?).await?);
    state
        .audit(&who.0, "rule.create", &rule.id, None, audited(&rule))
        .await;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// The rule `id` as the API shows it, if there is one.
async fn current(admin: &dyn RuleAdmin, id: &str) -> Result<Option<RuleView>, ApiError> {
    Ok(admin
        .rules()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .map(RuleView::from))
}

/// Runs a change of rule `id` and records it.
async fn changed(
    state: &AppState,
    who: &AdminUser,
    action: &str,
    id: &str,
    change: impl std::future::Future<Output = oxmon_core::Result<Option<ManagedRule>>>,
) -> Result<Option<RuleView>, ApiError> {
    let before = current(admin(state)?, id).await?;
    let after = change.await?.map(RuleView::from);
    state
        .audit(
            &who.0,
            action,
            id,
            before.as_ref().and_then(audited),
            after.as_ref().and_then(audited),
        )
        .await;
    Ok(after)
}

/// One rule.
#[utoipa::path(
    get,
    path = "/v1/alerts/rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 503, description = "No rules on this server", body = ErrorBody),
    )
)]
pub(super) async fn get(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RuleView>, ApiError> {
    let rules = admin(&state)?.rules().await?;
    rules
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| Json(r.into()))
        .ok_or_else(|| ApiError::not_found(format!("no rule `{}`", id.escape_debug())))
}

/// Replaces a rule made through the API. State of the other rules is kept;
/// this rule starts afresh, and its firing alerts resolve.
#[utoipa::path(
    put,
    path = "/v1/alerts/rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule's id")),
    request_body = RuleDefinition,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Replaced and running", body = RuleView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "Another rule has this name, or the rule is the configuration file's", body = ErrorBody),
        (status = 422, description = "A field the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No rules on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>, ApiError> {
    let admin = admin(&state)?;
    let definition = definition(body)?;
    let after = changed(&state, &who, "rule.update", &id, async {
        admin.update(&id, definition).await.map(Some)
    })
    .await?;
    after
        .map(Json)
        .ok_or_else(|| ApiError::internal("an update answers the rule, and did not"))
}

/// Deletes a rule made through the API; its firing alerts resolve and the
/// resolution is notified.
#[utoipa::path(
    delete,
    path = "/v1/alerts/rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule's id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "The rule is the configuration file's", body = ErrorBody),
        (status = 503, description = "No rules on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let admin = admin(&state)?;
    changed(&state, &who, "rule.delete", &id, async {
        admin.delete(&id).await.map(|()| None)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enables a rule made through the API.
#[utoipa::path(
    post,
    path = "/v1/alerts/rules/{id}/enable",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule's id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Enabled and running", body = RuleView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "The rule is the configuration file's", body = ErrorBody),
        (status = 503, description = "No rules on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn enable(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RuleView>, ApiError> {
    let admin = admin(&state)?;
    let after = changed(&state, &who, "rule.enable", &id, async {
        admin.set_enabled(&id, true).await.map(Some)
    })
    .await?;
    after
        .map(Json)
        .ok_or_else(|| ApiError::internal("enabling answers the rule, and did not"))
}

/// Disables a rule made through the API; its firing alerts resolve.
#[utoipa::path(
    post,
    path = "/v1/alerts/rules/{id}/disable",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule's id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Disabled", body = RuleView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "The rule is the configuration file's", body = ErrorBody),
        (status = 503, description = "No rules on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn disable(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RuleView>, ApiError> {
    let admin = admin(&state)?;
    let after = changed(&state, &who, "rule.disable", &id, async {
        admin.set_enabled(&id, false).await.map(Some)
    })
    .await?;
    after
        .map(Json)
        .ok_or_else(|| ApiError::internal("disabling answers the rule, and did not"))
}
