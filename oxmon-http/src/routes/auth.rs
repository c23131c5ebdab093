//! `POST /v1/auth/login` and `POST /v1/auth/password`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, check_password_strength};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ClientAddr};
use crate::state::AppState;

/// Login credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

/// A signed API token.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// JWT to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"***")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: Secret,
    /// The new password (see the strength rules in `oxmon_http::auth`).
    #[schema(value_type = String, format = Password)]
    pub new_password: Secret,
}

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Exchanges a username and password for a JWT. Failures are rate limited
/// per username and client address (429 with `Retry-After`).
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Wrong body shape", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    )
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let now = state.clock.now_ms();
    state
        .limiter
        .check(&req.username, addr, now)
        .map_err(ApiError::too_many_requests)?;
    let user = state.users.user_by_username(&req.username).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state
        .verify_password(req.password.expose().to_owned(), stored)
        .await;
    match user {
        Some(user) if ok => {
            state.limiter.record_success(&req.username);
            let issued = state.jwt.issue(&user, state.clock.now_ms())?;
            Ok(Json(LoginResponse {
                token: issued.token.expose().to_owned(),
                expires_in: issued.expires_in,
            }))
        }
        _ => {
            state.limiter.record_failure(&req.username, addr, now);
            Err(ApiError::unauthorized(BAD_CREDENTIALS))
        }
    }
}

/// Changes the caller's password. Every token issued before stops working
/// at once; log in again with the new password.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Password changed; older tokens are revoked"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated, or wrong current password", body = ErrorBody),
        (status = 422, description = "Weak new password (the message says why) or wrong body shape", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    )
)]
pub(super) async fn change_password(
    State(state): State<AppState>,
    who: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now_ms();
    state
        .limiter
        .check(&who.username, addr, now)
        .map_err(ApiError::too_many_requests)?;
    let user = state
        .users
        .user_by_id(who.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("token revoked"))?;
    let ok = state
        .verify_password(
            req.current_password.expose().to_owned(),
            Some(user.password_hash.clone()),
        )
        .await;
    if !ok {
        state.limiter.record_failure(&who.username, addr, now);
        return Err(ApiError::unauthorized("current password is wrong"));
    }
    let new = req.new_password.expose();
    check_password_strength(&user.username, new)
        .map_err(|weak| ApiError::unprocessable("weak_password", weak.to_string()))?;
    if new == req.current_password.expose() {
        return Err(ApiError::unprocessable(
            "weak_password",
            "the new password must differ from the current one",
        ));
    }
    let hash = state.hash_password(new.to_owned()).await?;
    state
        .users
        .set_password_hash(user.id, &hash, state.clock.now_ms())
        .await?;
    state.limiter.record_success(&who.username);
    Ok(StatusCode::NO_CONTENT)
}
