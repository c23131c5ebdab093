//! First start: the API signing secret and the first administrator.

use std::io::Write;
use std::path::Path;

use oxmon_core::config::ServerConfig;
use oxmon_core::manage::UserStore;
use oxmon_core::{Clock, Secret};
use oxmon_http::auth::{Argon2Hasher, generate_agent_token};

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
        Ok(_) => Err(ServerError::Auth(format!(
            "{}: shorter than 32 characters; delete it to have a new one generated",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate_agent_token();
            write_private(&path, &secret)
                .map_err(|e| ServerError::Auth(format!("{}: cannot write: {e}", path.display())))?;
            tracing::info!(file = %path.display(), "generated the API signing secret");
            Ok(Secret::new(secret))
        }
        Err(e) => Err(ServerError::Auth(format!(
            "{}: cannot read: {e}",
            path.display()
        ))),
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
    let from_env = std::env::var("OXMON_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (password, generated) = match (&config.auth.default_password, from_env) {
        (Some(p), _) => (p.clone(), false),
        (None, Some(p)) => (Secret::new(p), false),
        (None, None) => (Secret::new(generate_agent_token()), true),
    };
    let hasher = hasher.clone();
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hasher.hash(to_hash.expose()))
        .await
        .map_err(|e| ServerError::Auth(format!("hashing the admin password: {e}")))?
        .map_err(|e| ServerError::Auth(format!("hashing the admin password: {e}")))?;
    users
        .create_user(&config.auth.default_username, &hash, clock.now_ms())
        .await?;
    tracing::info!(username = %config.auth.default_username, "created the first administrator");
    Ok(generated.then_some(password))
}
