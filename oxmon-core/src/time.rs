//! Time in oxmon: milliseconds since the Unix epoch (`i64`) everywhere, from
//! a [`Clock`](crate::Clock). The constants and conversions every crate
//! shares are defined here, once.

/// Milliseconds in one UTC day, the width of a storage partition.
pub const DAY_MS: i64 = 86_400_000;

/// Seconds (from configuration) as milliseconds, saturating at `i64::MAX`.
pub fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The days from `from_ms` to `to_ms`, fractional (negative when `to_ms`
/// is earlier).
pub fn days_between(from_ms: i64, to_ms: i64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / DAY_MS as f64
}

/// A time as RFC 3339 UTC with its milliseconds when it has any
/// (`2026-02-08T10:00:00Z`, `2026-02-08T10:00:00.25Z`): the REST API's form.
/// A time outside what RFC 3339 can write is given as the epoch.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// A time as RFC 3339 UTC to the second (`2026-02-06T10:30:00Z`): the form
/// of notifications and alert messages. A time outside what RFC 3339 can
/// write is given as its number of milliseconds.
pub fn rfc3339_secs(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(secs_to_ms(90), 90_000);
        assert_eq!(secs_to_ms(u64::MAX), i64::MAX);
        assert_eq!(days_between(0, DAY_MS / 2), 0.5);
        assert_eq!(days_between(DAY_MS, 0), -1.0);
    }

    #[test]
    fn formats() {
        assert_eq!(rfc3339(1_770_544_800_000), "2026-02-08T10:00:00Z");
        assert_eq!(rfc3339(1_770_544_800_250), "2026-02-08T10:00:00.25Z");
        assert_eq!(rfc3339(i64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(1_770_544_800_250), "2026-02-08T10:00:00Z");
        assert_eq!(rfc3339_secs(i64::MAX), i64::MAX.to_string());
    }
}
