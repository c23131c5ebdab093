//! The error type of `oxmon-transport`.

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors setting up a transport (sending reports [`oxmon_core::TransportError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint or TLS settings are unusable.
    #[error("transport configuration: {0}")]
    Config(String),
}
