//! Notification channels: `GET/POST /v1/notifications/channels`,
//! `GET/PUT/DELETE /v1/notifications/channels/{id}`,
//! `POST /v1/notifications/channels/{id}/test`.
//!
//! A body carries exactly the fields of a `[[notification.channels]]` entry
//! and is checked by the same code as the file (`parse_channel`, then the
//! channel's plugin), so a refusal names the field in the file's words.
//! Secret settings are write-only: a response shows whether each is set,
//! never its value.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::definition::{definition, definition_clearing};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson, ApiPath, OperatorUser};
use crate::rfc3339;
use crate::sources::{ChannelAdmin, ChannelTestOutcome, DefinitionSource, ManagedChannel};
use crate::state::{AppState, audited, unavailable};

/// A notification channel: its `[[notification.channels]]` fields but the
/// secret ones, which show only as set or unset.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelView {
    /// `config:<name>` for a channel of `server.toml`, else the id the API
    /// gave it.
    pub id: String,
    /// `config` (read-only here; change `server.toml`) or `api`.
    pub source: DefinitionSource,
    /// Unique name.
    pub name: String,
    /// `email`, `webhook`, `sms`, `dingtalk`, `weixin` or a custom type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `info`, `warning` or `critical`: events below it skip the channel.
    #[schema(value_type = String, example = "warning")]
    pub min_severity: oxmon_core::Severity,
    /// Whether resolutions are sent.
    pub send_resolved: bool,
    /// The type's settings that are not secrets.
    #[schema(value_type = Object)]
    pub settings: toml::Table,
    /// Each secret setting (`smtp_password`, `api_key`, `secret`, URLs
    /// carrying tokens, headers): `set` or `unset`.
    #[schema(value_type = BTreeMap<String, String>, example = json!({"smtp_password": "set"}))]
    pub secrets: BTreeMap<String, SecretState>,
    /// When it was made through the API, RFC 3339; `null` for the file's.
    pub created_at: Option<String>,
    /// When it was last changed through the API, RFC 3339.
    pub updated_at: Option<String>,
}

/// Whether a write-only setting has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretState {
    /// It has one.
    Set,
    /// It has none.
    Unset,
}

impl From<ManagedChannel> for ChannelView {
    fn from(c: ManagedChannel) -> Self {
        Self {
            id: c.id,
            source: c.source,
            name: c.name,
            kind: c.kind,
            min_severity: c.min_severity,
            send_resolved: c.send_resolved,
            settings: c.settings,
            secrets: c
                .secrets
                .into_iter()
                .map(|(k, set)| {
                    (
                        k,
                        if set {
                            SecretState::Set
                        } else {
                            SecretState::Unset
                        },
                    )
                })
                .collect(),
            created_at: c.created_at_ms.map(rfc3339),
            updated_at: c.updated_at_ms.map(rfc3339),
        }
    }
}

/// How a test notification went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelTestView {
    /// The channel's name.
    pub channel: String,
    /// Whether the channel took the notification.
    pub delivered: bool,
    /// Why not, as the channel said it (URLs and secrets left out).
    pub error: Option<String>,
    /// How long the attempt took, ms.
    pub duration_ms: u64,
}

impl From<ChannelTestOutcome> for ChannelTestView {
    fn from(o: ChannelTestOutcome) -> Self {
        Self {
            channel: o.channel,
            delivered: o.delivered,
            error: o.error,
            duration_ms: o.duration_ms,
        }
    }
}

/// The fields of a `[[notification.channels]]` entry, as in `server.toml`:
/// these four plus the settings of its `type` (for `webhook`: `url`,
/// `headers`, `body_template`, `timeout_secs`; for `email`: `smtp_host`,
/// `smtp_port`, `smtp_username`, `smtp_password`, `from`, `recipients`,
/// `tls`, `timeout_secs`; see docs/configuration.md). Settings the type
/// does not take are refused. On update a secret setting left out keeps its
/// value; `null` clears it.
#[allow(dead_code, reason = "documents the body; the handlers read it as TOML")]
#[derive(Debug, ToSchema)]
pub struct ChannelDefinition {
    /// Unique name; default `<type>-1`.
    #[schema(min_length = 1)]
    name: Option<String>,
    /// `email`, `webhook`, `sms`, `dingtalk`, `weixin` or a custom type.
    #[schema(rename = "type", min_length = 1)]
    kind: String,
    /// `info` (default), `warning` or `critical`.
    min_severity: Option<String>,
    /// Send resolutions; default `true`.
    send_resolved: Option<bool>,
}

fn admin(state: &AppState) -> Result<&dyn ChannelAdmin, ApiError> {
    state
        .channels
        .as_deref()
        .ok_or_else(|| unavailable("the notification channels"))
}

/// Every channel, secrets shown as set or unset: the file's first, then
/// those made through the API in creation order.
#[utoipa::path(
    get,
    path = "/v1/notifications/channels",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The channels", body = Vec<ChannelView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No channel management on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    let channels = admin(&state)?.channels().await?;
    Ok(Json(channels.into_iter().map(ChannelView::from).collect()))
}

/// Adds a channel. The notifier uses it for the next event.
#[utoipa::path(
    post,
    path = "/v1/notifications/channels",
    tag = "notifications",
    request_body = ChannelDefinition,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Added and in use", body = ChannelView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "A channel of this name exists", body = ErrorBody),
        (status = 422, description = "A field the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No channel management on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let admin = admin(&state)?;
    let channel = ChannelView::from(admin.create(definition(body)?).await?);
    state
        .audit(
            &who.0,
            "channel.create",
            &channel.id,
            None,
            audited(&channel),
        )
        .await;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// The channel `id` as the API shows it.
async fn current(admin: &dyn ChannelAdmin, id: &str) -> Result<ChannelView, ApiError> {
    admin
        .channels()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .map(ChannelView::from)
        .ok_or_else(|| ApiError::not_found(format!("no channel `{}`", id.escape_debug())))
}

/// One channel, secrets shown as set or unset.
#[utoipa::path(
    get,
    path = "/v1/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 503, description = "No channel management on this server", body = ErrorBody),
    )
)]
pub(super) async fn get(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(current(admin(&state)?, &id).await?))
}

/// Replaces a channel made through the API. A secret setting left out of
/// the body keeps its value; `null` clears it.
#[utoipa::path(
    put,
    path = "/v1/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id")),
    request_body = ChannelDefinition,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Replaced and in use", body = ChannelView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "Another channel has this name, or the channel is the configuration file's", body = ErrorBody),
        (status = 422, description = "A field the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No channel management on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<ChannelView>, ApiError> {
    let admin = admin(&state)?;
    let (definition, cleared) = definition_clearing(body)?;
    let before = current(admin, &id).await?;
    let after = ChannelView::from(admin.update(&id, definition, &cleared).await?);
    state
        .audit(
            &who.0,
            "channel.update",
            &id,
            audited(&before),
            audited(&after),
        )
        .await;
    Ok(Json(after))
}

/// Deletes a channel made through the API. Notifications already queued
/// for it are still sent.
#[utoipa::path(
    delete,
    path = "/v1/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "The channel is the configuration file's", body = ErrorBody),
        (status = 503, description = "No channel management on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let admin = admin(&state)?;
    let before = current(admin, &id).await?;
    admin.delete(&id).await?;
    state
        .audit(&who.0, "channel.delete", &id, audited(&before), None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test notification through the channel now, in one attempt (no
/// retry, no silence window, no rate limit), and answers how it went. A
/// failed send is a 200 with `delivered: false` and the channel's error.
#[utoipa::path(
    post,
    path = "/v1/notifications/channels/{id}/test",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 200, description = "Tried; the outcome", body = ChannelTestView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 503, description = "No channel management on this server", body = ErrorBody),
    )
)]
pub(super) async fn test(
    State(state): State<AppState>,
    who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ChannelTestView>, ApiError> {
    let outcome = ChannelTestView::from(admin(&state)?.test(&id).await?);
    state
        .audit(&who.0, "channel.test", &id, None, audited(&outcome))
        .await;
    Ok(Json(outcome))
}
