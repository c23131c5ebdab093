//! Parsing of query-string values: every bad value is a 400 with a message.

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

/// An optional time parameter (an empty value counts as absent).
pub(crate) fn optional_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => parse_time(name, v).map(Some),
        _ => Ok(None),
    }
}

/// An optional unsigned integer within `min..=max`.
pub(crate) fn optional_uint(
    name: &str,
    value: Option<&str>,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
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

/// Refuses a free-text field longer than `max` bytes (422).
pub(crate) fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.len() > max => Err(ApiError::unprocessable(
            "invalid_input",
            format!("{field} must be at most {max} bytes"),
        )),
        _ => Ok(()),
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
}
