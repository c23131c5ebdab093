//! A rule of a type a plugin adds: its table, and accessors to it for the
//! plugin that builds it.

use serde::Serialize;

use super::ConfigError;
use super::settings::Settings;

/// A rule of a type that is not built in: its `type`, the fields that are
/// not common to every rule, and where it was written, so the plugin that
/// builds it reports errors naming the file and the field.
#[derive(Clone)]
#[non_exhaustive]
pub struct CustomRule {
    /// The `type`.
    pub type_name: String,
    /// Every key of the entry except the common ones (`name`, `type`,
    /// `metric`, `agent_pattern`, `severity`, `silence_secs`, `enabled`).
    pub settings: toml::Table,
    /// Position in `[[alert.rules]]`, for error messages.
    pub index: usize,
    /// The file (or other origin) it came from, for error messages.
    pub origin: String,
}

impl PartialEq for CustomRule {
    /// Same type and settings: where it was written does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.type_name == other.type_name && self.settings == other.settings
    }
}

impl std::fmt::Debug for CustomRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomRule")
            .field("type_name", &self.type_name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Serialize for CustomRule {
    /// `type` and the settings, as the entry reads in the file.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.settings.len() + 1))?;
        map.serialize_entry("type", &self.type_name)?;
        for (k, v) in &self.settings {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl CustomRule {
    /// A custom rule built in code (tests, embedding programs).
    pub fn new(type_name: impl Into<String>, settings: toml::Table) -> Self {
        Self {
            type_name: type_name.into(),
            settings,
            index: 0,
            origin: "<code>".to_owned(),
        }
    }

    /// An error about one of this rule's fields, naming the file and
    /// `alert.rules[i].field`.
    pub fn error(&self, field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::field(
            self.origin.clone(),
            format!("alert.rules[{}].{field}", self.index),
            problem,
        )
    }

    fn settings(&self) -> Settings<'_, impl Fn(&str, String) -> ConfigError + '_> {
        Settings {
            table: &self.settings,
            error: |field: &str, problem: String| self.error(field, problem),
        }
    }

    /// A required string setting.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field when it is missing, empty or not a string.
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

    /// An optional integer setting.
    ///
    /// # Errors
    /// [`ConfigError`] when present but not an integer.
    pub fn optional_int(&self, field: &str) -> Result<Option<i64>, ConfigError> {
        self.settings().optional_int(field)
    }

    /// An optional finite number (an integer is accepted).
    ///
    /// # Errors
    /// [`ConfigError`] when present but not a finite number.
    pub fn optional_f64(&self, field: &str) -> Result<Option<f64>, ConfigError> {
        self.settings().optional_f64(field)
    }

    /// A required finite number (an integer is accepted).
    ///
    /// # Errors
    /// [`ConfigError`] when missing or not a finite number.
    pub fn required_f64(&self, field: &str) -> Result<f64, ConfigError> {
        self.optional_f64(field)?
            .ok_or_else(|| self.error(field, format!("is required for a {} rule", self.type_name)))
    }

    /// Refuses settings outside `known`, so a misspelt key is reported
    /// instead of silently ignored.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unknown key.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ConfigError> {
        self.settings()
            .deny_unknown(known, &format!("a {} rule", self.type_name))
    }
}
