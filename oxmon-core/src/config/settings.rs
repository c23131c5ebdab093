//! Typed reads of a free-form settings table (a channel's, a custom rule's),
//! with errors that name the field. [`ChannelConfig`](super::ChannelConfig)
//! and [`CustomRule`](super::CustomRule) expose these as methods.

use super::ConfigError;

/// A settings table and how to name one of its fields in an error.
pub(crate) struct Settings<'a, E: Fn(&str, String) -> ConfigError> {
    pub(crate) table: &'a toml::Table,
    pub(crate) error: E,
}

impl<'a, E: Fn(&str, String) -> ConfigError> Settings<'a, E> {
    fn wrong_type(&self, field: &str, expected: &str, got: &toml::Value) -> ConfigError {
        (self.error)(field, format!("must be {expected}, got {}", got.type_str()))
    }

    pub(crate) fn required_str(&self, field: &str) -> Result<&'a str, ConfigError> {
        match self.table.get(field) {
            None => Err((self.error)(field, "is required".to_owned())),
            Some(toml::Value::String(s)) if s.trim().is_empty() => {
                Err((self.error)(field, "must not be empty".to_owned()))
            }
            Some(toml::Value::String(s)) => Ok(s),
            Some(other) => Err(self.wrong_type(field, "a string", other)),
        }
    }

    pub(crate) fn optional_str(&self, field: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(field, "a string", other)),
        }
    }

    pub(crate) fn required_str_list(&self, field: &str) -> Result<Vec<String>, ConfigError> {
        let Some(value) = self.table.get(field) else {
            return Err((self.error)(field, "is required".to_owned()));
        };
        let toml::Value::Array(items) = value else {
            return Err(self.wrong_type(field, "a list of strings", value));
        };
        if items.is_empty() {
            return Err((self.error)(field, "must not be empty".to_owned()));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                toml::Value::String(_) => Err((self.error)(
                    &format!("{field}[{i}]"),
                    "must not be empty".to_owned(),
                )),
                other => Err(self.wrong_type(&format!("{field}[{i}]"), "a string", other)),
            })
            .collect()
    }

    pub(crate) fn optional_int(&self, field: &str) -> Result<Option<i64>, ConfigError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) => Ok(Some(*i)),
            Some(other) => Err(self.wrong_type(field, "an integer", other)),
        }
    }

    /// A finite number; an integer is accepted as a number.
    pub(crate) fn optional_f64(&self, field: &str) -> Result<Option<f64>, ConfigError> {
        let v = match self.table.get(field) {
            None => return Ok(None),
            Some(toml::Value::Float(f)) => *f,
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(other) => return Err(self.wrong_type(field, "a number", other)),
        };
        if v.is_finite() {
            Ok(Some(v))
        } else {
            Err((self.error)(
                field,
                format!("must be a finite number, got {v}"),
            ))
        }
    }

    pub(crate) fn deny_unknown(&self, known: &[&str], what: &str) -> Result<(), ConfigError> {
        match self.table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err((self.error)(
                key,
                format!(
                    "unknown key for {what} (is it misspelt?), expected one of: {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}
