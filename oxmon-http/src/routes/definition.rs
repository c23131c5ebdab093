//! Request bodies that carry a configuration file's entry
//! (`[[alert.rules]]`, `[[notification.channels]]`) as JSON.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON body as the TOML table a file would hold. JSON `null` has no TOML
/// form: leave the field out instead.
pub(super) fn definition(body: Map<String, Value>) -> Result<toml::Table, ApiError> {
    fn value(v: Value, at: &str) -> Result<toml::Value, ApiError> {
        Ok(match v {
            Value::Null => {
                return Err(ApiError::unprocessable(
                    "invalid_config",
                    format!("field `{at}`: null is not a value; leave the field out instead"),
                ));
            }
            Value::Bool(b) => toml::Value::Boolean(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => toml::Value::String(s),
            Value::Array(items) => toml::Value::Array(
                items
                    .into_iter()
                    .map(|v| value(v, at))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => toml::Value::Table(table(map, at)?),
        })
    }
    fn table(map: Map<String, Value>, at: &str) -> Result<toml::Table, ApiError> {
        map.into_iter()
            .map(|(k, v)| {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                Ok((k, value(v, &path)?))
            })
            .collect()
    }
    table(body, "")
}

/// As [`definition`], but a top-level `null` names a setting to clear
/// (returned apart) rather than being refused: how an update removes a
/// write-only secret it cannot see.
pub(super) fn definition_clearing(
    mut body: Map<String, Value>,
) -> Result<(toml::Table, Vec<String>), ApiError> {
    let cleared: Vec<String> = body
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    body.retain(|_, v| !v.is_null());
    Ok((definition(body)?, cleared))
}
