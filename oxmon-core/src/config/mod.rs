//! The configuration model shared by every crate and both programs.
//!
//! [`AgentConfig`] is `agent.toml`, [`ServerConfig`] is `server.toml`. Both
//! parse with the spec's defaults, reject unknown keys where a typo would
//! silently change behaviour, and validate after parsing. Every error is a
//! [`ConfigError`] naming the file, the field and the problem:
//!
//! ```text
//! agent.toml: field `collection_interval_secs`: must be at least 1, got 0
//! ```

mod agent;
mod auth;
mod channel;
mod custom_rule;
mod inhibit;
mod log;
mod notification;
mod remote_write;
pub(crate) mod rules;
mod runtime;
mod server;
mod settings;
mod silence;

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;

pub use agent::{AgentConfig, Backend, CollectorsConfig, MAX_AGENT_ID_LEN, validate_agent_id};
pub use auth::AuthConfig;
pub use channel::ChannelConfig;
pub use custom_rule::CustomRule;
pub use inhibit::InhibitRule;
pub use log::{LogConfig, LogFormat, validate_log_filter};
pub use notification::{GroupBy, NotificationConfig, parse_channel};
pub use remote_write::{BasicAuth, RemoteWriteConfig};
pub use rules::{
    AGENT_OFFLINE_METRIC, BUILTIN_RULE_TYPES, Operator, RateDirection, RuleConfig, RuleKind,
    parse_rule,
};
pub use runtime::RUNTIME_SETTINGS;
pub use server::{
    AlertConfig, CertCheckConfig, IngestConfig, LimitsConfig, LocalAgentConfig, ServerConfig,
    TlsFiles,
};
pub use silence::{Recurrence, SilenceWindow, TimeOfDay, Weekday, parse_silence_window};

/// A configuration problem: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or other origin) the configuration came from.
    pub file: String,
    /// The dotted path of the offending field (`alert.rules[2].operator`),
    /// `None` for problems of the file as a whole (syntax, unreadable).
    pub field: Option<String>,
    /// What is wrong, including the offending value where there is one.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{field}`: {}", self.file, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

impl ConfigError {
    /// An error about one field.
    pub fn field(
        file: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            field: Some(field.into()),
            problem: problem.into(),
        }
    }

    /// An error about one field of a notification channel, as a channel plugin
    /// reports it: the field path names the channel entry and the message names
    /// the channel.
    pub fn channel(channel: &ChannelConfig, field: &str, problem: impl fmt::Display) -> Self {
        Self {
            file: channel.origin.clone(),
            field: Some(format!("notification.channels[{}].{field}", channel.index)),
            problem: format!("channel `{}` ({}): {problem}", channel.name, channel.kind),
        }
    }
}

/// Validation context: knows the file and builds errors for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::field(self.file, field, problem)
    }

    /// `value >= min` or an error naming the field.
    pub(crate) fn at_least<T: PartialOrd + fmt::Display>(
        &self,
        field: &str,
        value: T,
        min: T,
    ) -> Result<(), ConfigError> {
        if value < min {
            return Err(self.err(field, format!("must be at least {min}, got {value}")));
        }
        Ok(())
    }
}

/// Reads a file to a string, naming the file when it cannot be read.
pub(crate) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        field: None,
        problem: format!("cannot read the file: {e}"),
    })
}

/// Parses TOML text into `T`, turning syntax and type errors into
/// [`ConfigError`]s that carry the path of the offending field.
pub(crate) fn parse_toml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        field: None,
        problem: format!("invalid TOML: {}", e.to_string().trim_end()),
    })?;
    deserialize_at(toml::Value::Table(table), file, "")
}

/// Deserializes one TOML value into `T`; errors carry the path of the
/// offending field, after `prefix` (the value's own path, `""` for the whole
/// file).
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    value: toml::Value,
    file: &str,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // toml appends "in `parent`" on a new line; the path already says where.
        let inner = inner
            .split("\nin `")
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned();
        // serde_path_to_error puts an unknown key at the end of the path.
        let problem = match inner.strip_prefix("unknown field `") {
            Some(rest) => match rest.split_once(", expected ") {
                Some((_, expected)) => {
                    format!("unknown key (is it misspelt?), expected {expected}")
                }
                None => "unknown key (is it misspelt?)".to_owned(),
            },
            None => inner,
        };
        match (prefix, path.as_str()) {
            ("", ".") => ConfigError {
                file: file.to_owned(),
                field: None,
                problem,
            },
            ("", path) => ConfigError::field(file, path, problem),
            (prefix, ".") => ConfigError::field(file, prefix, problem),
            (prefix, path) => ConfigError::field(file, format!("{prefix}.{path}"), problem),
        }
    })
}

#[cfg(test)]
mod tests;
