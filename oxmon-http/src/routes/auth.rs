//! `POST /v1/auth/login` and `POST /v1/auth/password`.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use oxmon_core::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, LoginAttempt, check_password_strength};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ClientAddr};
use crate::state::AppState;
use oxmon_core::text::untrusted;

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

/// Releases the limiter's reservation when `result` is an error: the
/// password was never checked.
fn released<T>(
    state: &AppState,
    attempt: LoginAttempt,
    result: Result<T, ApiError>,
) -> Result<(T, LoginAttempt), ApiError> {
    match result {
        Ok(value) => Ok((value, attempt)),
        Err(e) => {
            state.limiter.release(attempt);
            Err(e)
        }
    }
}

/// Logs a wrong password: the user name escaped and cut, and the address.
fn log_failure(what: &str, username: &str, addr: Option<IpAddr>) {
    let addr = addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    tracing::warn!(user = %untrusted(username), %addr, "{what}: wrong password");
}

/// Exchanges a username and password for a JWT.
///
/// Attempts are counted before the password is checked: five failures of
/// one user from one address in five minutes, twenty from one address, or
/// ten a minute for one user from addresses that already failed answer 429
/// with `Retry-After` (the limits are set in `[auth]`). When every password
/// check slot and its queue are taken the answer is 503 with
/// `Retry-After: 1`.
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
        (status = 429, description = "Too many failed attempts; see `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password checks in progress; see `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let attempt = state
        .limiter
        .reserve(&req.username, addr, state.clock.now_ms())
        .map_err(ApiError::too_many_requests)?;
    let found = state
        .users
        .user_by_username(&req.username)
        .await
        .map_err(ApiError::from);
    let (user, attempt) = released(&state, attempt, found)?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let checked = state
        .verify_password(req.password.expose().to_owned(), stored)
        .await;
    let (ok, attempt) = released(&state, attempt, checked)?;
    match user {
        // A disabled user fails like a wrong password: the answer does not
        // tell which accounts exist.
        Some(user) if ok && !user.disabled => {
            state.limiter.succeeded(attempt);
            let issued = state.jwt.issue(&user, state.clock.now_ms())?;
            Ok(Json(LoginResponse {
                token: issued.token.expose().to_owned(),
                expires_in: issued.expires_in,
            }))
        }
        _ => {
            // The attempt stays counted as a failure.
            drop(attempt);
            log_failure("login", &req.username, addr);
            Err(ApiError::unauthorized(BAD_CREDENTIALS))
        }
    }
}

/// Changes the caller's password. Every token issued before stops working
/// at once; log in again with the new password. Wrong current passwords
/// count against the same limits as logins.
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
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Weak new password (the message says why) or wrong body shape", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password checks in progress; see `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn change_password(
    State(state): State<AppState>,
    who: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let attempt = state
        .limiter
        .reserve(&who.username, addr, state.clock.now_ms())
        .map_err(ApiError::too_many_requests)?;
    let found = state
        .users
        .user_by_id(who.id)
        .await
        .map_err(ApiError::from)
        .and_then(|u| u.ok_or_else(|| ApiError::unauthorized("token revoked")));
    let (user, attempt) = released(&state, attempt, found)?;
    let checked = state
        .verify_password(
            req.current_password.expose().to_owned(),
            Some(user.password_hash.clone()),
        )
        .await;
    let (ok, attempt) = released(&state, attempt, checked)?;
    if !ok {
        drop(attempt);
        log_failure("password change", &who.username, addr);
        return Err(ApiError::unauthorized("current password is wrong"));
    }
    state.limiter.succeeded(attempt);
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
    state
        .audit(&who, "user.change_password", &who.username, None, None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
