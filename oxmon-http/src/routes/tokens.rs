//! Long-lived API tokens of the caller: `GET/POST /v1/auth/tokens`,
//! `DELETE /v1/auth/tokens/{id}`. Self-service for every user (a token
//! never gets more than its user's role); an administrator sees and revokes
//! every user's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::manage::{ApiToken, NewApiToken, Role};
use oxmon_core::token::hash_token;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, generate_api_token};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::rfc3339;
use crate::state::{AppState, audited};

/// Longest accepted lifetime: ten years, in seconds.
const MAX_EXPIRES_IN_SECS: u64 = 10 * 366 * 86_400;

/// An API token, never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiTokenView {
    /// Its id (for revoking it).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The user it acts for.
    pub username: String,
    /// The most it may do (never more than its user's role).
    #[schema(value_type = String, example = "viewer")]
    pub role: Role,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// When it stops working, RFC 3339; `null`: never.
    pub expires_at: Option<String>,
    /// When it was last used (to the minute), RFC 3339.
    pub last_used_at: Option<String>,
}

impl ApiTokenView {
    fn new(t: ApiToken, username: String) -> Self {
        Self {
            id: t.id,
            name: t.name,
            username,
            role: t.role,
            created_at: rfc3339(t.created_at_ms),
            expires_at: t.expires_at_ms.map(rfc3339),
            last_used_at: t.last_used_ms.map(rfc3339),
        }
    }
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What it is for, e.g. `grafana`.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// The most it may do; at most the caller's role (the default).
    #[schema(value_type = Option<String>, example = "viewer")]
    pub role: Option<Role>,
    /// Lifetime in seconds; left out: it does not expire.
    #[schema(minimum = 1, maximum = 316_224_000)]
    pub expires_in_secs: Option<u64>,
}

/// A new token with its secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateTokenResponse {
    /// Send as `Authorization: Bearer <token>`. Shown only here: the server
    /// keeps a hash.
    pub token: String,
    /// The token's record.
    #[serde(flatten)]
    pub info: ApiTokenView,
}

/// The caller's API tokens; an administrator's answer lists every user's.
#[utoipa::path(
    get,
    path = "/v1/auth/tokens",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens, by id, never their secrets", body = Vec<ApiTokenView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    who: AuthUser,
) -> Result<Json<Vec<ApiTokenView>>, ApiError> {
    let of = (who.role < Role::Admin).then_some(who.id);
    let tokens = state.users.list_tokens(of).await?;
    let users = state.users.list_users().await?;
    let name = |id: i64| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.username.clone())
            .unwrap_or_default()
    };
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| {
                let username = name(t.user_id);
                ApiTokenView::new(t, username)
            })
            .collect(),
    ))
}

/// Makes an API token for the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/tokens",
    tag = "auth",
    request_body = CreateTokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Made; the token is shown only here", body = CreateTokenResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "A role above the caller's", body = ErrorBody),
        (status = 422, description = "Blank name or wrong body shape", body = ErrorBody),
        (status = 507, description = "The caller holds the most tokens a user may", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    who: AuthUser,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreateTokenResponse>), ApiError> {
    let role = req.role.unwrap_or(who.role);
    if role > who.role {
        return Err(ApiError::forbidden(format!(
            "a token may not do more than its user: `{}` is {}",
            who.username.escape_debug(),
            who.role
        )));
    }
    let now = state.clock.now_ms();
    let expires_at_ms = match req.expires_in_secs {
        Some(0) => {
            return Err(ApiError::unprocessable(
                "invalid_input",
                "expires_in_secs must be at least 1",
            ));
        }
        Some(secs) if secs > MAX_EXPIRES_IN_SECS => {
            return Err(ApiError::unprocessable(
                "invalid_input",
                format!("expires_in_secs must be at most {MAX_EXPIRES_IN_SECS}"),
            ));
        }
        Some(secs) => {
            Some(now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)))
        }
        None => None,
    };
    let token = generate_api_token();
    let stored = state
        .users
        .create_token(
            &NewApiToken {
                name: req.name,
                user_id: who.id,
                role,
                token_hash: hash_token(&token),
                expires_at_ms,
            },
            now,
        )
        .await?;
    let info = ApiTokenView::new(stored, who.username.clone());
    state
        .audit(&who, "token.create", &info.id, None, audited(&info))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreateTokenResponse { token, info }),
    ))
}

/// Revokes one of the caller's tokens (an administrator: anyone's); it
/// stops working at once.
#[utoipa::path(
    delete,
    path = "/v1/auth/tokens/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The token's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such token of the caller's", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    who: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let of = (who.role < Role::Admin).then_some(who.id);
    let Some(token) = state
        .users
        .list_tokens(of)
        .await?
        .into_iter()
        .find(|t| t.id == id)
    else {
        return Err(ApiError::not_found(format!(
            "no token {:?} of yours",
            id.escape_debug()
        )));
    };
    state.users.delete_token(&id).await?;
    state
        .audit(&who, "token.revoke", &id, audited(&token), None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
