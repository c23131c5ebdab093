//! The error type of `oxmon-alert`.

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the alert engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule cannot be compiled.
    #[error("rule `{rule}`: {problem}")]
    InvalidRule {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        problem: String,
    },
    /// Two rules share a name.
    #[error("rule `{0}` is defined twice; rule names must be unique")]
    DuplicateRule(String),
}
