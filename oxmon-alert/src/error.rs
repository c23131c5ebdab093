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
    /// A rule's configuration is refused: an unknown `type`, or a custom
    /// rule its plugin refuses. Names the file and the field.
    #[error(transparent)]
    Config(#[from] oxmon_core::config::ConfigError),
    /// A [`RulePlugin`](oxmon_core::RulePlugin) claims a built-in `type`.
    #[error("rule type `{0}` is built in; a plugin cannot replace it")]
    BuiltinType(String),
}
