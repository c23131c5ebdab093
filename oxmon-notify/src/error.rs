//! The error type of `oxmon-notify`.

use oxmon_core::SendError;
use oxmon_core::config::ConfigError;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the notification crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A channel configuration is invalid; names the channel and the field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A delivery failed (after any retries).
    #[error("delivery failed: {0}")]
    Send(#[from] SendError),
    /// No channel of that name is configured.
    #[error("no channel named `{0}`")]
    UnknownChannel(String),
}
