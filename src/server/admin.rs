//! First start: the API signing secret and the first administrator.

use std::io::Write;
use std::path::Path;

use oxmon_core::config::ServerConfig;
use oxmon_core::manage::UserStore;
use oxmon_core::{Clock, Secret};
use oxmon_http::auth::{Argon2Hasher, check_password_strength, generate_secret};

use super::ServerError;

/// Name of the generated signing secret in the data directory.
pub(crate) const JWT_SECRET_FILE: &str = "jwt.secret";

/// The configured `jwt_secret`, else the one kept in `data_dir/jwt.secret`,
/// generated (256 random bits, file mode 0600) the first time.
pub(crate) fn jwt_secret(config: &ServerConfig) -> Result<Secret, ServerError> {
    if let Some(s) = &config.auth.jwt_secret {
        return Ok(s.clone());
    }
    let path = config.data_dir.join(JWT_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => Ok(Secret::new(s.trim())),
        Ok(_) => Err(ServerError::auth(format!(
            "{}: shorter than 32 characters; delete it to have a new one generated",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate_secret();
            write_private(&path, &secret).map_err(|e| {
                ServerError::auth_from(format!("{}: cannot write: {e}", path.display()), e)
            })?;
            tracing::info!(file = %path.display(), "generated the API signing secret");
            Ok(Secret::new(secret))
        }
        Err(e) => Err(ServerError::auth_from(
            format!("{}: cannot read: {e}", path.display()),
            e,
        )),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The environment variable that may carry the first administrator's
/// password.
pub(crate) const ADMIN_PASSWORD_ENV: &str = "OXMON_ADMIN_PASSWORD";

/// Where the first administrator's password comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminPasswordSource {
    /// `[auth] default_password` in the configuration file.
    ConfigFile,
    /// The environment variable `OXMON_ADMIN_PASSWORD`.
    Environment,
}

impl std::fmt::Display for AdminPasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConfigFile => f.write_str("field `auth.default_password`"),
            Self::Environment => write!(f, "environment variable {ADMIN_PASSWORD_ENV}"),
        }
    }
}

/// The first administrator's password: `[auth] default_password`, else
/// `env_password` (from `OXMON_ADMIN_PASSWORD`; empty counts as unset),
/// else a generated one (`true` in the second place). A given password
/// must pass the rules of a password change.
fn choose_password(
    config: &ServerConfig,
    env_password: Option<String>,
) -> Result<(Secret, bool), ServerError> {
    let env_password = env_password.filter(|p| !p.is_empty());
    let (password, source) = match (&config.auth.default_password, env_password) {
        (Some(p), _) => (p.clone(), AdminPasswordSource::ConfigFile),
        (None, Some(p)) => (Secret::new(p), AdminPasswordSource::Environment),
        (None, None) => return Ok((Secret::new(generate_secret()), true)),
    };
    check_password_strength(&config.auth.default_username, password.expose()).map_err(|weak| {
        ServerError::WeakAdminPassword {
            from: source,
            reason: weak.to_string(),
        }
    })?;
    Ok((password, false))
}

/// Checks the first administrator's password from the configuration or
/// the environment, before anything starts.
pub(crate) fn check_first_password(config: &ServerConfig) -> Result<(), ServerError> {
    choose_password(config, std::env::var(ADMIN_PASSWORD_ENV).ok()).map(|_| ())
}

/// Creates the first administrator when there is no user yet. The password
/// comes from `[auth] default_password`, else `OXMON_ADMIN_PASSWORD`, else
/// it is generated and returned, to be shown once.
pub(crate) async fn ensure_admin(
    users: &dyn UserStore,
    config: &ServerConfig,
    hasher: &Argon2Hasher,
    clock: &dyn Clock,
) -> Result<Option<Secret>, ServerError> {
    if users.count_users().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = choose_password(config, std::env::var(ADMIN_PASSWORD_ENV).ok())?;
    let hasher = hasher.clone();
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hasher.hash(to_hash.expose()))
        .await
        .map_err(|e| ServerError::auth_from(format!("hashing the admin password: {e}"), e))?
        .map_err(|e| ServerError::auth_from(format!("hashing the admin password: {e}"), e))?;
    users
        .create_user(
            &config.auth.default_username,
            &hash,
            oxmon_core::manage::Role::Admin,
            clock.now_ms(),
        )
        .await?;
    tracing::info!(username = %config.auth.default_username, "created the first administrator");
    Ok(generated.then_some(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(password: Option<&str>) -> ServerConfig {
        let mut c = ServerConfig::default();
        c.auth.default_password = password.map(Secret::new);
        c
    }

    fn refusal(config: &ServerConfig, env: Option<&str>) -> String {
        match choose_password(config, env.map(str::to_owned)) {
            Err(e @ ServerError::WeakAdminPassword { .. }) => e.to_string(),
            other => panic!("expected a weak-password refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_weak_configured_password_is_refused_naming_the_field() {
        let why = refusal(&config(Some("a")), None);
        assert!(why.starts_with("field `auth.default_password`: "), "{why}");
        assert!(why.contains("at least 10"), "{why}");
        // The file wins over the environment, and is what gets checked.
        let why = refusal(&config(Some("admin")), Some("Strong-Passw0rd-1"));
        assert!(why.contains("auth.default_password"), "{why}");
    }

    #[test]
    fn a_weak_environment_password_is_refused_naming_the_variable() {
        for weak in ["a", "password123", "aaaaaaaaaaaaaaa"] {
            let why = refusal(&config(None), Some(weak));
            assert!(
                why.starts_with("environment variable OXMON_ADMIN_PASSWORD: "),
                "{why}"
            );
        }
        let mut c = config(None);
        c.auth.default_username = "Operator-Main-1".to_owned();
        assert!(refusal(&c, Some("operator-main-1")).contains("username"));
    }

    #[test]
    fn strong_given_and_generated_passwords_pass() {
        let (p, generated) =
            choose_password(&config(Some("Strong-Passw0rd-1")), None).expect("config");
        assert_eq!((p.expose(), generated), ("Strong-Passw0rd-1", false));
        let (p, generated) =
            choose_password(&config(None), Some("Env-Passw0rd-22".to_owned())).expect("env");
        assert_eq!((p.expose(), generated), ("Env-Passw0rd-22", false));
        // An empty variable counts as unset: a password is generated, and
        // it passes the same rules.
        for env in [None, Some(String::new())] {
            let (p, generated) = choose_password(&config(None), env).expect("generated");
            assert!(generated);
            check_password_strength("admin", p.expose()).expect("generated is strong");
        }
    }
}
