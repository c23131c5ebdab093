//! Parsing of query-string values: every bad value is a 400 with a message.

use serde::Deserialize;

use crate::error::ApiError;

/// Parses an ISO 8601 / RFC 3339 time into ms since the epoch. Accepts a
/// timestamp with an offset (`2026-02-06T00:00:00Z`, `...+08:00`), a civil
/// date-time without one (taken as UTC) or a date (its midnight, UTC).
pub(crate) fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    let bad = || {
        ApiError::bad_request(format!(
            "`{name}`: `{text}` is not an ISO 8601 time such as 2026-02-06T00:00:00Z"
        ))
    };
    let ts = if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        ts
    } else if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        jiff::tz::TimeZone::UTC
            .to_timestamp(dt)
            .map_err(|_| bad())?
    } else if let Ok(d) = text.parse::<jiff::civil::Date>() {
        jiff::tz::TimeZone::UTC
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    let ms = ts.as_millisecond();
    if (0..=oxmon_core::MAX_TIMESTAMP_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}`: `{text}` is outside 1970-01-01 to 9999-12-31"
        )))
    }
}

/// A required parameter: 400 when missing or empty.
pub(crate) fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, ApiError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "missing required query parameter `{name}`"
        ))),
    }
}

/// A typed parameter that is present must have a value: `offset=` is a
/// 400 naming it, not the default.
fn non_empty<'a>(name: &str, value: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
    match value.map(str::trim) {
        Some("") => Err(ApiError::bad_request(format!(
            "`{name}` is empty; give a value or leave the parameter out"
        ))),
        other => Ok(other),
    }
}

/// An optional time parameter; present, it must be a time.
pub(crate) fn optional_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    non_empty(name, value)?
        .map(|v| parse_time(name, v))
        .transpose()
}

/// An optional `true` or `false`.
pub(crate) fn optional_bool(name: &str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match non_empty(name, value)? {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "`{name}`: `{other}` is not true or false"
        ))),
    }
}

/// An optional unsigned integer within `min..=max`; present, it must be one.
pub(crate) fn optional_uint(
    name: &str,
    value: Option<&str>,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    let Some(v) = non_empty(name, value)? else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!(
            "`{name}`: `{v}` is not an integer from {min} to {max}"
        ))),
    }
}

/// An optional text parameter, trimmed; empty counts as absent.
pub(crate) fn optional_text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `limit` (1 to `max`, default `default`) and `offset` (default 0) of a
/// paged list.
pub(crate) fn page(
    limit: Option<&str>,
    offset: Option<&str>,
    default: u64,
    max: u64,
) -> Result<(u64, u64), ApiError> {
    let limit = optional_uint("limit", limit, 1, max)?.unwrap_or(default);
    let offset = optional_uint("offset", offset, 0, u64::from(u32::MAX))?.unwrap_or(0);
    Ok((limit, offset))
}

/// Refuses a free-text field longer than `max` characters (422): what the
/// OpenAPI document's `maxLength` says.
pub(crate) fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        // More bytes than `max` is needed for more characters; count only then.
        Some(v) if v.len() > max && v.chars().count() > max => Err(ApiError::unprocessable(
            "invalid_input",
            format!("{field} must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// The `from`, `to`, `limit` and `offset` of a paged log (the alert
/// history, the notification log, the audit log): optional times in order,
/// and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogWindow {
    pub(crate) from_ms: Option<i64>,
    pub(crate) to_ms: Option<i64>,
    pub(crate) limit: u64,
    pub(crate) offset: u64,
}

/// The raw `from`, `to`, `limit` and `offset` of a paged log's query
/// string, flattened into each log's parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct WindowParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl WindowParams {
    /// The window: times in order, `limit` 1 to `max` (default `default`).
    pub(crate) fn parse(&self, default: u64, max: u64) -> Result<LogWindow, ApiError> {
        let from_ms = optional_time("from", self.from.as_deref())?;
        let to_ms = optional_time("to", self.to.as_deref())?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            check_order(f, t)?;
        }
        let (limit, offset) = page(self.limit.as_deref(), self.offset.as_deref(), default, max)?;
        Ok(LogWindow {
            from_ms,
            to_ms,
            limit,
            offset,
        })
    }
}

impl LogWindow {
    /// The page size, for a store query.
    pub(crate) fn limit_usize(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// The offset, for a store query.
    pub(crate) fn offset_usize(&self) -> usize {
        usize::try_from(self.offset).unwrap_or(usize::MAX)
    }
}

/// Refuses `from` after `to`.
pub(crate) fn check_order(from_ms: i64, to_ms: i64) -> Result<(), ApiError> {
    if from_ms > to_ms {
        Err(ApiError::bad_request("`from` is after `to`"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_iso_8601_forms() {
        let z = parse_time("from", "2026-02-06T00:00:00Z").unwrap();
        assert_eq!(z, 1_770_336_000_000);
        assert_eq!(parse_time("from", "2026-02-06T08:00:00+08:00").unwrap(), z);
        assert_eq!(parse_time("from", "2026-02-06T00:00:00").unwrap(), z);
        assert_eq!(parse_time("from", "2026-02-06").unwrap(), z);
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "1969-12-31T00:00:00Z",
            "-009999-01-01T00:00:00Z",
        ] {
            assert!(parse_time("from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(optional_uint("limit", Some("5"), 1, 10).unwrap(), Some(5));
        assert_eq!(optional_uint("limit", None, 1, 10).unwrap(), None);
        for bad in ["0", "11", "-1", "x", "1.5", "99999999999999999999999"] {
            assert!(optional_uint("limit", Some(bad), 1, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn present_typed_parameters_need_a_value() {
        for empty in ["", "  "] {
            let e = optional_uint("offset", Some(empty), 0, 10).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
            assert!(e.to_string().contains("`offset` is empty"), "{e}");
            assert!(optional_time("from", Some(empty)).is_err());
            assert!(optional_bool("enabled", Some(empty)).is_err());
        }
        assert_eq!(
            optional_bool("enabled", Some("false")).unwrap(),
            Some(false)
        );
        assert!(optional_bool("enabled", Some("yes")).is_err());
        assert_eq!(optional_time("from", None).unwrap(), None);
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_len("note", Some(&"é".repeat(10)), 10).is_ok());
        assert!(check_len("note", Some(&"é".repeat(11)), 10).is_err());
        assert!(check_len("note", Some(&"x".repeat(11)), 10).is_err());
    }
}
