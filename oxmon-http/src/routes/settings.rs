//! Runtime settings: `GET /v1/settings`, `PUT /v1/settings`. The settings
//! of `server.toml` a running server can change (`retention_days`,
//! `require_agent_auth`, the notifier's aggregation window and time zone,
//! `[cert_check]` scheduling), each shown with where its value comes from;
//! a change is checked by the file's code and applies at once.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::definition::definition;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson};
use crate::rfc3339;
use crate::sources::{DefinitionSource, ManagedSetting, SettingsAdmin};
use crate::state::{AppState, audited, unavailable};

/// One runtime setting.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SettingView {
    /// Its place in `server.toml`: `retention_days`, `require_agent_auth`,
    /// `notification.aggregation_window_secs`, `notification.timezone`,
    /// `cert_check.enabled`, `cert_check.default_interval_secs`,
    /// `cert_check.tick_secs`, `cert_check.connect_timeout_secs`,
    /// `cert_check.max_concurrent`.
    pub key: String,
    /// Its value now; `null` for an unset optional one (the timezone: the
    /// host's zone).
    #[schema(value_type = Option<Value>)]
    pub value: Option<toml::Value>,
    /// `config` (the file's value or the default) or `api` (set here,
    /// overriding the file, kept across restarts).
    pub source: DefinitionSource,
    /// The file's value (or the default): what `null` in a `PUT` returns to.
    #[schema(value_type = Option<Value>)]
    pub file_value: Option<toml::Value>,
    /// When it was last set here, RFC 3339.
    pub updated_at: Option<String>,
}

impl From<ManagedSetting> for SettingView {
    fn from(s: ManagedSetting) -> Self {
        Self {
            key: s.key,
            value: s.value,
            source: s.source,
            file_value: s.file_value,
            updated_at: s.updated_at_ms.map(rfc3339),
        }
    }
}

fn admin(state: &AppState) -> Result<&dyn SettingsAdmin, ApiError> {
    state
        .settings
        .as_deref()
        .ok_or_else(|| unavailable("runtime settings"))
}

/// Every runtime setting, its value now and where it comes from.
#[utoipa::path(
    get,
    path = "/v1/settings",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = Vec<SettingView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No runtime settings on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<SettingView>>, ApiError> {
    let settings = admin(&state)?.settings().await?;
    Ok(Json(settings.into_iter().map(Into::into).collect()))
}

/// Changes settings: an object of keys to values, as in `server.toml`
/// (`{"retention_days": 30, "cert_check.tick_secs": 30}`); `null` returns
/// a key to the file's value. All or nothing, checked by the file's code,
/// applied to the running server before the answer, kept across restarts.
#[utoipa::path(
    put,
    path = "/v1/settings",
    tag = "settings",
    request_body(content = Object, description = "Keys to new values, `null` to reset"),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Applied; every setting after it", body = Vec<SettingView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 422, description = "A key that cannot change while the server runs, or a value the configuration file would refuse (the message names it)", body = ErrorBody),
        (status = 503, description = "No runtime settings on this server, or storage unavailable", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Vec<SettingView>>, ApiError> {
    let admin = admin(&state)?;
    let mut changes: BTreeMap<String, Option<toml::Value>> = BTreeMap::new();
    let mut set = Map::new();
    for (key, value) in body {
        if value.is_null() {
            changes.insert(key, None);
        } else {
            set.insert(key, value);
        }
    }
    for (key, value) in definition(set)? {
        changes.insert(key, Some(value));
    }
    let keys: Vec<String> = changes.keys().cloned().collect();
    let before: Vec<SettingView> = admin
        .settings()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let after: Vec<SettingView> = admin
        .update(changes)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    // The changed settings, by key: the audit log keeps objects.
    let changed = |all: &[SettingView]| -> BTreeMap<String, SettingView> {
        all.iter()
            .filter(|s| keys.contains(&s.key))
            .map(|s| (s.key.clone(), s.clone()))
            .collect()
    };
    state
        .audit(
            &who.0,
            "settings.update",
            &keys.join(","),
            audited(&changed(&before)),
            audited(&changed(&after)),
        )
        .await;
    Ok(Json(after))
}
