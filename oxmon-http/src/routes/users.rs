//! Users and their roles: `GET/POST /v1/users`, `PUT/DELETE
//! /v1/users/{username}`. Administrators only.
//!
//! Disabling or deleting a user revokes its tokens at once (every request
//! reads the user), and a role change applies to its next request. The
//! store refuses to leave no enabled administrator (409).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::Secret;
use oxmon_core::manage::{Role, User, UserUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::check_password_strength;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson, ApiPath};
use crate::rfc3339;
use crate::state::{AppState, audited};

/// A user, never with its password hash.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UserView {
    /// The login name.
    pub username: String,
    /// `viewer`, `operator` or `admin`.
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
    /// A disabled user cannot log in and its tokens do not work.
    pub disabled: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            username: u.username,
            role: u.role,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at_ms),
            updated_at: rfc3339(u.updated_at_ms),
        }
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique login name: at most 128 bytes, no control characters or
    /// surrounding spaces.
    #[schema(min_length = 1, max_length = 128)]
    pub username: String,
    /// Its password (see the strength rules in `oxmon_http::auth`).
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
    /// `viewer`, `operator` or `admin`.
    #[schema(value_type = String, example = "viewer")]
    pub role: Role,
}

/// A change to a user; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// A new role.
    #[schema(value_type = Option<String>, example = "operator")]
    pub role: Option<Role>,
    /// Disable (`true`: its tokens stop working at once) or enable.
    pub disabled: Option<bool>,
    /// A new password (strength rules apply); revokes its tokens.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
}

async fn user_named(state: &AppState, username: &str) -> Result<User, ApiError> {
    state
        .users
        .user_by_username(username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user {:?}", username.escape_debug())))
}

/// Every user.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The users, by creation", body = Vec<UserView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AdminUser,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.users.list_users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Adds a user.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    request_body = CreateUserRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Added", body = UserView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "Invalid username, weak password (the message says why) or wrong body shape", body = ErrorBody),
        (status = 503, description = "Too many password operations in progress; see `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    oxmon_core::manage::validate_username(&req.username)?;
    check_password_strength(&req.username, req.password.expose())
        .map_err(|weak| ApiError::unprocessable("weak_password", weak.to_string()))?;
    let hash = state
        .hash_password(req.password.expose().to_owned())
        .await?;
    let user = state
        .users
        .create_user(&req.username, &hash, req.role, state.clock.now_ms())
        .await?;
    let view = UserView::from(user);
    state
        .audit(&who.0, "user.create", &view.username, None, audited(&view))
        .await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Changes a user's role, enables or disables it, or sets its password.
#[utoipa::path(
    put,
    path = "/v1/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The login name")),
    request_body = UpdateUserRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Changed", body = UserView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It would leave no enabled administrator", body = ErrorBody),
        (status = 422, description = "Weak password (the message says why) or wrong body shape", body = ErrorBody),
        (status = 503, description = "Too many password operations in progress; see `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(username): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    let user = user_named(&state, &username).await?;
    let now = state.clock.now_ms();
    let hash = match &req.password {
        Some(password) => {
            check_password_strength(&user.username, password.expose())
                .map_err(|weak| ApiError::unprocessable("weak_password", weak.to_string()))?;
            Some(state.hash_password(password.expose().to_owned()).await?)
        }
        None => None,
    };
    let update = UserUpdate {
        role: req.role,
        disabled: req.disabled,
    };
    let mut changed = state.users.update_user(user.id, &update, now).await?;
    let password_changed = hash.is_some();
    if let Some(hash) = hash {
        changed.token_version = state.users.set_password_hash(user.id, &hash, now).await?;
    }
    let before = UserView::from(user);
    let after = UserView::from(changed);
    let action = if password_changed {
        "user.update_password"
    } else {
        "user.update"
    };
    state
        .audit(
            &who.0,
            action,
            &before.username,
            audited(&before),
            audited(&after),
        )
        .await;
    Ok(Json(after))
}

/// Deletes a user; its tokens stop working at once.
#[utoipa::path(
    delete,
    path = "/v1/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The login name")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It is the last enabled administrator", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user = user_named(&state, &username).await?;
    state.users.delete_user(user.id).await?;
    let before = UserView::from(user);
    state
        .audit(&who.0, "user.delete", &username, audited(&before), None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
