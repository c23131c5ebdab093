//! The error type of `oxmon-storage`.

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the storage backends. Converted into [`oxmon_core::Error`] at the
/// `MetricStore` boundary, keeping retryable failures retryable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input the store does not accept.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The store cannot serve the request now; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<Error> for oxmon_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput(m) => oxmon_core::Error::InvalidInput(m),
            Error::Unavailable(m) => oxmon_core::Error::Unavailable(m),
        }
    }
}
