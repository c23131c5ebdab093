//! `[[notification.channels]]`: the keys every channel has, and accessors to
//! the rest of its table for the plugin that handles it.

use super::ConfigError;
use super::settings::Settings;
use crate::types::Severity;

/// One `[[notification.channels]]` entry: the keys every channel has, plus the
/// free table handed to the plugin that `kind` selects. Its `Debug` shows
/// the setting names only: values may be passwords, API keys or URLs with
/// tokens in them.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// Unique name (`name` key; default `<type>-<position>`, such as `email-1`).
    pub name: String,
    /// The `type`: which plugin handles it.
    pub kind: String,
    /// Events below this severity skip the channel. Default `info`.
    pub min_severity: Severity,
    /// Notify when an alert resolves. Default `true`.
    pub send_resolved: bool,
    /// Everything else in the table, for the plugin to validate. May hold
    /// secrets: print it only through the plugin's redacting `Debug`.
    pub settings: toml::Table,
    /// Position in `[[notification.channels]]`, for error messages.
    pub index: usize,
    /// The file it came from, for error messages.
    pub origin: String,
}

impl std::fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("min_severity", &self.min_severity)
            .field("send_resolved", &self.send_resolved)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("index", &self.index)
            .field("origin", &self.origin)
            .finish()
    }
}

impl ChannelConfig {
    /// A channel configuration built in code (tests, embedding programs).
    pub fn new(kind: impl Into<String>, name: impl Into<String>, settings: toml::Table) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            min_severity: Severity::Info,
            send_resolved: true,
            settings,
            index: 0,
            origin: "<code>".to_owned(),
        }
    }

    fn settings(&self) -> Settings<'_, impl Fn(&str, String) -> ConfigError + '_> {
        Settings {
            table: &self.settings,
            error: |field: &str, problem: String| ConfigError::channel(self, field, problem),
        }
    }

    /// A required string setting.
    ///
    /// # Errors
    /// [`ConfigError`] naming the channel and the field when it is missing,
    /// not a string, or empty.
    pub fn required_str(&self, field: &str) -> Result<&str, ConfigError> {
        self.settings().required_str(field)
    }

    /// An optional string setting.
    ///
    /// # Errors
    /// [`ConfigError`] when present but not a string.
    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, ConfigError> {
        self.settings().optional_str(field)
    }

    /// A required, non-empty list of non-empty strings.
    ///
    /// # Errors
    /// [`ConfigError`] when missing, empty, or holding anything but non-empty strings.
    pub fn required_str_list(&self, field: &str) -> Result<Vec<String>, ConfigError> {
        self.settings().required_str_list(field)
    }

    /// An optional integer setting.
    ///
    /// # Errors
    /// [`ConfigError`] when present but not an integer.
    pub fn optional_int(&self, field: &str) -> Result<Option<i64>, ConfigError> {
        self.settings().optional_int(field)
    }

    /// Refuses settings outside `known`, so a misspelt key is reported
    /// instead of silently ignored.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unknown key.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ConfigError> {
        self.settings()
            .deny_unknown(known, &format!("a {} channel", self.kind))
    }
}
