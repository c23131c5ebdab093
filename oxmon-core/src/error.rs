//! The error type of `oxmon-core` and of the contracts it defines.

use crate::config::ConfigError;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors returned by the traits of `oxmon-core` (stores, collectors) and by
/// configuration loading.
///
/// Implementations in other crates map their own failures onto these kinds,
/// so callers can react without knowing the backend: [`Error::Unavailable`]
/// is worth retrying, [`Error::InvalidInput`] never is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file or value is invalid; the message names the file and the field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The caller passed something the contract does not accept (empty metric name,
    /// non-finite value, `from` after `to`, ...). Retrying the same input fails again.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The requested item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The item already exists (a unique key such as an agent id or a domain).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend cannot serve the request right now (disk full, database locked,
    /// writer stopped). Nothing was stored; the same request may succeed later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A limit on what the caller may create was reached (series per agent,
    /// series in the store, ...); the message names the limit and the
    /// caller. Nothing of the request was done. Retrying the same request
    /// fails again until something is removed (retention) or the limit is
    /// raised; requests that create nothing new keep working.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The backend failed in a way that retrying will not fix (corrupt file,
    /// schema from a newer version, ...).
    #[error("storage error: {0}")]
    Storage(String),
    /// A collector could not read its source.
    #[error("collection failed: {0}")]
    Collect(String),
}

impl Error {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(Error::Unavailable("behind".into()).is_retryable());
        for e in [
            Error::ResourceExhausted("series cap".into()),
            Error::InvalidInput("x".into()),
            Error::Storage("x".into()),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
        assert_eq!(
            Error::ResourceExhausted("agent `a`: cap 10".into()).to_string(),
            "resource exhausted: agent `a`: cap 10"
        );
    }
}
