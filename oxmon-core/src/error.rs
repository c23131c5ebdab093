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
    #[error("unavailable: {message}")]
    Unavailable {
        /// What could not be done, with the cause's text.
        message: String,
        /// The underlying error (SQLite, I/O), when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A limit on what the caller may create was reached (series per agent,
    /// series in the store, ...); the message names the limit and the
    /// caller. Nothing of the request was done. Retrying the same request
    /// fails again until something is removed (retention) or the limit is
    /// raised; requests that create nothing new keep working.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The backend failed in a way that retrying will not fix (corrupt file,
    /// schema from a newer version, ...).
    #[error("storage error: {message}")]
    Storage {
        /// What failed, with the cause's text.
        message: String,
        /// The underlying error (SQLite, I/O), when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A collector could not read its source.
    #[error("collection failed: {0}")]
    Collect(String),
}

/// An underlying error carried as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// [`Error::Unavailable`] without an underlying error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Unavailable`] caused by `source`.
    pub fn unavailable_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// [`Error::Storage`] without an underlying error.
    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Storage`] caused by `source`.
    pub fn storage_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(Error::unavailable("behind").is_retryable());
        let io = std::io::Error::other("disk on fire");
        let e = Error::storage_from("partition 2026-01-01: cannot read: disk on fire", io);
        assert_eq!(
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .as_deref(),
            Some("disk on fire"),
            "the cause travels with the error"
        );
        for e in [
            Error::ResourceExhausted("series cap".into()),
            Error::InvalidInput("x".into()),
            Error::storage("x"),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
        assert_eq!(
            Error::ResourceExhausted("agent `a`: cap 10".into()).to_string(),
            "resource exhausted: agent `a`: cap 10"
        );
    }
}
