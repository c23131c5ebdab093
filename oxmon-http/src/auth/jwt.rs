//! HS256 API tokens whose validity follows the user's `token_version`.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use oxmon_core::manage::{Role, User, UserStore};
use oxmon_core::{Clock, Secret};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// Shortest accepted signing secret, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The claims of an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string.
    pub sub: String,
    /// The username at issue time (informational).
    pub username: String,
    /// The user's `token_version` at issue time; a password change
    /// increments the stored version and so revokes this token.
    pub ver: u64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user id.
    pub id: i64,
    /// The current username.
    pub username: String,
    /// What the caller may do: the user's current role.
    pub role: Role,
}

/// A freshly signed token and its lifetime.
#[derive(Clone)]
pub struct IssuedToken {
    /// The compact JWT; give it to the client, never log it.
    pub token: Secret,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Signs and verifies API tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime_secs: u64,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("secret", &"***")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

impl JwtKeys {
    /// Keys for `secret`, issuing tokens valid for `lifetime` (whole
    /// seconds, at least one).
    ///
    /// # Errors
    /// [`AuthError::Secret`] when the secret is shorter than
    /// [`MIN_JWT_SECRET_LEN`] bytes or the lifetime is under a second.
    pub fn new(secret: &Secret, lifetime: Duration) -> Result<Self, AuthError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < MIN_JWT_SECRET_LEN {
            return Err(AuthError::Secret(format!(
                "must be at least {MIN_JWT_SECRET_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        if lifetime.as_secs() == 0 {
            return Err(AuthError::Secret(
                "token lifetime must be at least one second".to_owned(),
            ));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            lifetime_secs: lifetime.as_secs(),
        })
    }

    /// Token lifetime in seconds.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Signs a token for `user` at its current `token_version`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when signing fails.
    pub fn issue(&self, user: &User, now_ms: i64) -> Result<IssuedToken, AuthError> {
        let iat = now_ms.div_euclid(1000);
        let lifetime = i64::try_from(self.lifetime_secs).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.id.to_string(),
            username: user.username.clone(),
            ver: user.token_version,
            iat,
            exp: iat.saturating_add(lifetime),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing a token: {e}")))?;
        Ok(IssuedToken {
            token: Secret::new(token),
            expires_in: self.lifetime_secs,
        })
    }

    /// Checks the signature, the algorithm (HS256 only) and the expiry
    /// against `now_ms`; does not consult the user store.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] or [`AuthError::Expired`].
    pub fn decode(&self, token: &str, now_ms: i64) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the Clock, not the wall clock.
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        if claims.exp <= now_ms.div_euclid(1000) {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// Fully verifies a token: [`JwtKeys::decode`], then the user must still
    /// exist with the same `token_version`, so a password change revokes
    /// every older token at once.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`], [`AuthError::Expired`],
    /// [`AuthError::Revoked`], or [`AuthError::Store`] when the store fails.
    pub async fn verify(
        &self,
        token: &str,
        users: &dyn UserStore,
        clock: &dyn Clock,
    ) -> Result<AuthUser, AuthError> {
        let claims = self.decode(token, clock.now_ms())?;
        let id: i64 = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let user = users.user_by_id(id).await?.ok_or(AuthError::Revoked)?;
        if user.token_version != claims.ver || user.disabled {
            return Err(AuthError::Revoked);
        }
        Ok(AuthUser {
            id: user.id,
            username: user.username,
            role: user.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxmon_core::ManualClock;
    use oxmon_storage::MemoryManagementStore;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    #[tokio::test]
    async fn issue_verify_expire_revoke() {
        let clock = ManualClock::new(1_700_000_000_000);
        let store = MemoryManagementStore::new();
        let user = store
            .create_user(
                "admin",
                "hash",
                oxmon_core::manage::Role::Admin,
                clock.now_ms(),
            )
            .await
            .expect("user");
        let keys = JwtKeys::new(&Secret::new(SECRET), Duration::from_secs(60)).expect("keys");
        let issued = keys.issue(&user, clock.now_ms()).expect("issue");
        assert_eq!(issued.expires_in, 60);
        assert!(!format!("{issued:?}").contains(issued.token.expose()));
        let token = issued.token.expose();
        let who = keys.verify(token, &store, &clock).await.expect("valid");
        assert_eq!(who.username, "admin");

        // Tampered: flip a character of the signature.
        let mut tampered = token.to_owned();
        let last = tampered.pop().expect("non-empty");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            keys.verify(&tampered, &store, &clock).await,
            Err(AuthError::InvalidToken)
        ));
        // Another secret.
        let other =
            JwtKeys::new(&Secret::new("z".repeat(40)), Duration::from_secs(60)).expect("keys");
        assert!(matches!(
            other.verify(token, &store, &clock).await,
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            keys.verify("garbage", &store, &clock).await,
            Err(AuthError::InvalidToken)
        ));

        // Revoked by a password change.
        store
            .set_password_hash(user.id, "hash2", clock.now_ms())
            .await
            .expect("set");
        assert!(matches!(
            keys.verify(token, &store, &clock).await,
            Err(AuthError::Revoked)
        ));
        let user = store.user_by_id(user.id).await.expect("get").expect("some");
        let fresh = keys.issue(&user, clock.now_ms()).expect("issue");
        assert!(
            keys.verify(fresh.token.expose(), &store, &clock)
                .await
                .is_ok()
        );

        // Expired.
        clock.advance(Duration::from_secs(60));
        assert!(matches!(
            keys.verify(fresh.token.expose(), &store, &clock).await,
            Err(AuthError::Expired)
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKeys::new(&Secret::new("short"), Duration::from_secs(60)).is_err());
        assert!(JwtKeys::new(&Secret::new(SECRET), Duration::ZERO).is_err());
        let keys = JwtKeys::new(&Secret::new(SECRET), Duration::from_secs(1)).expect("keys");
        assert!(!format!("{keys:?}").contains(SECRET));
    }
}
