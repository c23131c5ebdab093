//! Authentication building blocks, independent of the HTTP framework:
//! argon2id password hashing and strength rules, the bounded pool that runs
//! the hashing, HS256 JWTs revocable through the user's token version,
//! long-lived API tokens, random agent tokens and the login limiter.

mod api_token;
mod jwt;
mod limiter;
mod password;
mod pool;

pub use api_token::{API_TOKEN_PREFIX, generate_api_token, verify_api_token};
pub use jwt::{AuthUser, Claims, IssuedToken, JwtKeys, MIN_JWT_SECRET_LEN};
pub use limiter::{LoginAttempt, LoginLimiter, LoginLimits, MAX_TRACKED_KEYS, RetryAfter};
pub use password::{
    Argon2Hasher, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, WeakPassword, check_password_strength,
};
pub use pool::{DEFAULT_PASSWORD_QUEUE, PasswordPool, PoolBusy, available_cores};

use base64::Engine as _;
use rand::RngExt as _;

/// Why an authentication step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is not a well-formed JWT, or its signature does not match
    /// (tampered, or signed with another secret), or it is no API token
    /// this server knows (unknown or revoked).
    #[error("invalid token")]
    InvalidToken,
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token was issued for an older password (or a deleted user).
    #[error("token revoked")]
    Revoked,
    /// The signing secret is unusable (too short).
    #[error("jwt secret: {0}")]
    Secret(String),
    /// Hashing or signing failed; the message says which step.
    #[error("internal: {0}")]
    Internal(String),
    /// The user store failed.
    #[error(transparent)]
    Store(#[from] oxmon_core::Error),
}

/// A new secret: 256 random bits from the thread's CSPRNG, URL-safe base64
/// without padding (43 characters). Agent tokens (store only
/// [`oxmon_core::token::hash_token`] of one), the API's signing
/// secret and generated passwords are made with it.
pub fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_tokens_are_long_random_and_url_safe() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
