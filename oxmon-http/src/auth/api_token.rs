//! Long-lived API tokens: `oxm_` and 43 random characters, stored as a
//! SHA-256 hash, acting for their user with at most their own role.

use oxmon_core::Clock;
use oxmon_core::manage::UserStore;
use oxmon_core::token::hash_token;

use super::{AuthError, AuthUser, generate_secret};

/// What every API token starts with, so a token is told from a JWT at a
/// glance (and by secret scanners).
pub const API_TOKEN_PREFIX: &str = "oxm_";

/// A last use is recorded at most this often per token (ms): a request
/// does not cost a write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A new API token: the prefix and 256 random bits.
pub fn generate_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", generate_secret())
}

/// The caller an API token stands for: its user, acting with the lesser of
/// the token's role and the user's current role.
///
/// # Errors
/// [`AuthError::InvalidToken`] for an unknown (or revoked) token,
/// [`AuthError::Expired`] after its expiry, [`AuthError::Revoked`] when its
/// user is gone or disabled; the store's errors.
pub async fn verify_api_token(
    token: &str,
    users: &dyn UserStore,
    clock: &dyn Clock,
) -> Result<AuthUser, AuthError> {
    let now = clock.now_ms();
    let stored = users
        .token_by_hash(&hash_token(token))
        .await?
        .ok_or(AuthError::InvalidToken)?;
    if stored.expires_at_ms.is_some_and(|at| now >= at) {
        return Err(AuthError::Expired);
    }
    let user = users
        .user_by_id(stored.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(AuthError::Revoked)?;
    if stored
        .last_used_ms
        .is_none_or(|last| now - last >= TOUCH_EVERY_MS)
    {
        // Best effort: a failed stamp (a token revoked meanwhile, a busy
        // store) does not fail the request.
        let _ = users.touch_token(&stored.id, now).await;
    }
    Ok(AuthUser {
        id: user.id,
        username: user.username,
        role: stored.role.min(user.role),
    })
}
