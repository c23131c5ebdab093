//! `[auth]`: REST API login, the first administrator, and the limits on
//! password guessing.

use serde::Deserialize;

use super::{ConfigError, Ctx};
use crate::secret::Secret;

/// `[auth]`: REST API login, the first administrator, and the limits on
/// password guessing (oxmon-http's `LoginLimiter` and `PasswordPool` say
/// exactly how they combine).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Secret that signs API tokens (at least 32 characters). When absent, one
    /// is generated and kept in `data_dir`, so tokens survive restarts.
    pub jwt_secret: Option<Secret>,
    /// Token lifetime in seconds. Default 86400.
    pub token_expire_secs: u64,
    /// The first administrator's user name. Default `admin`.
    pub default_username: String,
    /// The first administrator's password. When absent: env `OXMON_ADMIN_PASSWORD`,
    /// else a random password printed once at first start. Either must meet
    /// the password rules of a password change; the server refuses to start
    /// otherwise.
    pub default_password: Option<Secret>,
    /// Wrong passwords for one user from one address within
    /// `login_window_secs` before that address is refused for that user
    /// (429). Default 5.
    pub login_max_failures: usize,
    /// The window of `login_max_failures` and
    /// `login_max_failures_per_address`, seconds. Default 300.
    pub login_window_secs: u64,
    /// Wrong passwords from one address, whatever the user, within
    /// `login_window_secs` before the address is refused. Default 20.
    pub login_max_failures_per_address: usize,
    /// Password checks per minute for one user from addresses that already
    /// failed for it (addresses without a failure are never refused by this
    /// limit). Default 10.
    pub login_user_failures_per_minute: usize,
    /// Password checks (argon2) running at once. Default 0: one per core.
    pub max_concurrent_password_checks: usize,
    /// Requests that may wait for a password check slot; more are answered
    /// 503 with `Retry-After`. Default 32.
    pub password_check_queue: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            token_expire_secs: 86_400,
            default_username: "admin".to_owned(),
            default_password: None,
            login_max_failures: 5,
            login_window_secs: 300,
            login_max_failures_per_address: 20,
            login_user_failures_per_minute: 10,
            max_concurrent_password_checks: 0,
            password_check_queue: 32,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("token_expire_secs", &self.token_expire_secs)
            .field("default_username", &self.default_username)
            .field(
                "default_password",
                &self.default_password.as_ref().map(|_| "***"),
            )
            .field("login_max_failures", &self.login_max_failures)
            .field("login_window_secs", &self.login_window_secs)
            .field(
                "login_max_failures_per_address",
                &self.login_max_failures_per_address,
            )
            .field(
                "login_user_failures_per_minute",
                &self.login_user_failures_per_minute,
            )
            .field(
                "max_concurrent_password_checks",
                &self.max_concurrent_password_checks,
            )
            .field("password_check_queue", &self.password_check_queue)
            .finish()
    }
}

/// Secrets copied from documentation that must never sign real tokens.
const EXAMPLE_SECRETS: &[&str] = [
    "change-me",
    "changeme",
    "secret",
    "your-secret-key",
    "your-jwt-secret",
    "example",
    "oxmon",
]
.as_slice();

impl AuthConfig {
    /// Checks the section (`server.toml` validation calls it).
    pub(crate) fn validate(&self, ctx: Ctx<'_>) -> Result<(), ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            let s = secret.expose();
            if EXAMPLE_SECRETS.iter().any(|e| s.eq_ignore_ascii_case(e)) || s.contains("change") {
                return Err(ctx.err(
                    "auth.jwt_secret",
                    "is an example value; remove it to have one generated, or set a random one",
                ));
            }
            if s.chars().count() < 32 {
                return Err(ctx.err(
                    "auth.jwt_secret",
                    format!(
                        "must be at least 32 characters, got {} (remove it to have one generated)",
                        s.chars().count()
                    ),
                ));
            }
        }
        ctx.at_least("auth.token_expire_secs", self.token_expire_secs, 60)?;
        if self.default_username.trim().is_empty() {
            return Err(ctx.err("auth.default_username", "must not be empty"));
        }
        // `default_password` is checked against the password rules where
        // they live (the REST API's), when the server starts.
        ctx.at_least("auth.login_max_failures", self.login_max_failures, 1)?;
        ctx.at_least("auth.login_window_secs", self.login_window_secs, 1)?;
        ctx.at_least(
            "auth.login_max_failures_per_address",
            self.login_max_failures_per_address,
            self.login_max_failures,
        )?;
        ctx.at_least(
            "auth.login_user_failures_per_minute",
            self.login_user_failures_per_minute,
            1,
        )?;
        Ok(())
    }
}
