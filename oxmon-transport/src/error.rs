//! The error type of `oxmon-transport`.

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors setting up a transport (sending reports [`oxmon_core::TransportError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint or TLS settings are unusable.
    #[error("transport configuration: {message}")]
    Config {
        /// Which setting, and what is wrong with it.
        message: String,
        /// The underlying error (an unreadable file, a TLS or URI error).
        #[source]
        source: Option<oxmon_core::BoxError>,
    },
}

impl Error {
    /// [`Error::Config`] without an underlying error.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Config`] caused by `source`.
    pub fn config_from(
        message: impl Into<String>,
        source: impl Into<oxmon_core::BoxError>,
    ) -> Self {
        Error::Config {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}
