//! Silence windows evaluated in the configured IANA time zone, and the
//! ad-hoc silences made through the API.

use jiff::tz::TimeZone;
use oxmon_core::AlertEvent;
use oxmon_core::config::{SilenceWindow, Weekday};
use oxmon_core::manage::Silence;

/// Whether ad-hoc silence `s` matches `event`: every matcher given must
/// (agent and metric as globs, the rule by name, labels equal). Whether it
/// is active is [`Silence::is_active`].
pub fn silence_matches(s: &Silence, event: &AlertEvent) -> bool {
    let m = &s.matchers;
    let glob = |pattern: &Option<String>, value: &str| {
        pattern
            .as_deref()
            .is_none_or(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(value)))
    };
    glob(&m.agent, &event.series.agent_id)
        && glob(&m.metric, &event.series.metric)
        && m.rule.as_deref().is_none_or(|r| r == event.rule)
        && m.labels
            .iter()
            .all(|(k, v)| event.series.labels.get(k) == Some(v.as_str()))
}

/// The `[[notification.silence_windows]]` and the zone they are written in.
#[derive(Debug, Clone)]
pub struct SilencePolicy {
    windows: Vec<SilenceWindow>,
    zone: TimeZone,
}

impl Default for SilencePolicy {
    fn default() -> Self {
        Self::new(Vec::new(), TimeZone::UTC)
    }
}

impl SilencePolicy {
    /// Windows evaluated in `zone`.
    pub fn new(windows: Vec<SilenceWindow>, zone: TimeZone) -> Self {
        Self { windows, zone }
    }

    /// Windows in the zone named by `timezone` (IANA, such as `Asia/Shanghai`),
    /// or the host's zone when `None`.
    ///
    /// # Errors
    /// The name when it is not a known zone.
    pub fn in_zone(windows: Vec<SilenceWindow>, timezone: Option<&str>) -> Result<Self, String> {
        let zone = match timezone {
            Some(name) => TimeZone::get(name).map_err(|_| format!("unknown time zone `{name}`"))?,
            None => TimeZone::system(),
        };
        Ok(Self::new(windows, zone))
    }

    /// The same windows in the zone named by `timezone` (the host's when
    /// `None`).
    ///
    /// # Errors
    /// The name when it is not a known zone.
    pub fn in_other_zone(&self, timezone: Option<&str>) -> Result<Self, String> {
        Self::in_zone(self.windows.clone(), timezone)
    }

    /// These windows in the same zone.
    #[must_use]
    pub fn with_windows(&self, windows: Vec<SilenceWindow>) -> Self {
        Self::new(windows, self.zone.clone())
    }

    /// Whether `ms` (since the epoch) falls inside any window, in local time.
    pub fn is_silenced(&self, ms: i64) -> bool {
        if self.windows.is_empty() {
            return false;
        }
        let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
            return false;
        };
        let local = ts.to_zoned_datetime(self.zone.clone());
        let day = Weekday::ALL[usize::from(local.weekday().to_monday_zero_offset().unsigned_abs())];
        let minute =
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        self.windows.iter().any(|w| w.contains(day, minute))
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::config::Recurrence;
    use oxmon_core::testing::{T0, silence_window as window};

    use super::*;

    // T0, 2026-01-01T00:00:00Z, is a Thursday; Asia/Shanghai is UTC+8 all year.
    const H: i64 = 3_600_000;

    #[test]
    fn windows_cross_midnight_in_a_non_utc_zone() {
        let p = SilencePolicy::in_zone(
            vec![window("22:00", "02:00", Recurrence::Daily)],
            Some("Asia/Shanghai"),
        )
        .unwrap();
        // 08:00 Shanghai: outside.
        assert!(!p.is_silenced(T0));
        // 14:00Z = 22:00 Shanghai: inside; 17:59Z = 01:59: inside; 18:00Z = 02:00: outside.
        assert!(p.is_silenced(T0 + 14 * H));
        assert!(p.is_silenced(T0 + 18 * H - 60_000));
        assert!(!p.is_silenced(T0 + 18 * H));
        // The same window in UTC is silent at 23:00Z, which is 07:00 in Shanghai.
        let utc = SilencePolicy::in_zone(
            vec![window("22:00", "02:00", Recurrence::Daily)],
            Some("UTC"),
        )
        .unwrap();
        assert!(utc.is_silenced(T0 + 23 * H));
        assert!(!p.is_silenced(T0 + 23 * H));
    }

    #[test]
    fn weekly_windows_use_the_local_weekday() {
        // Friday 23:00 to Saturday 01:00, Shanghai time.
        let p = SilencePolicy::in_zone(
            vec![window(
                "23:00",
                "01:00",
                Recurrence::Weekly(vec![Weekday::Fri]),
            )],
            Some("Asia/Shanghai"),
        )
        .unwrap();
        // Thursday 2026-01-01T15:30Z = Thursday 23:30 Shanghai: not Friday.
        assert!(!p.is_silenced(T0 + 15 * H + 30 * 60_000));
        // Friday 2026-01-02T15:30Z = Friday 23:30 Shanghai: silent; 16:30Z = Saturday 00:30: silent.
        assert!(p.is_silenced(T0 + 39 * H + 30 * 60_000));
        assert!(p.is_silenced(T0 + 40 * H + 30 * 60_000));
        assert!(!p.is_silenced(T0 + 41 * H + 30 * 60_000));
        assert!(SilencePolicy::in_zone(vec![], Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn an_ad_hoc_silence_matches_every_given_matcher() {
        use oxmon_core::Severity;
        use oxmon_core::manage::{Silence, SilenceMatchers};
        use oxmon_core::testing::sample_event;

        let event = sample_event("e", "web-1", Severity::Critical, T0);
        let silence = |matchers: SilenceMatchers| Silence {
            id: "1".into(),
            matchers,
            starts_at_ms: T0,
            ends_at_ms: T0 + 1,
            created_by: "ann".into(),
            comment: String::new(),
            created_at_ms: T0,
        };
        let m = |agent: Option<&str>,
                 metric: Option<&str>,
                 rule: Option<&str>,
                 labels: &[(&str, &str)]| {
            silence(SilenceMatchers {
                agent: agent.map(Into::into),
                metric: metric.map(Into::into),
                rule: rule.map(Into::into),
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            })
        };
        for (s, expected) in [
            (m(Some("web-*"), None, None, &[]), true),
            (m(Some("db-*"), None, None, &[]), false),
            (m(None, Some("disk.*"), None, &[("mount", "/data")]), true),
            (m(None, Some("disk.*"), None, &[("mount", "/")]), false),
            (m(None, None, Some("conformance-rule"), &[]), true),
            (m(None, None, Some("other"), &[]), false),
            (m(Some("web-1"), Some("cpu.*"), None, &[]), false),
            (m(None, None, None, &[("absent", "x")]), false),
        ] {
            assert_eq!(silence_matches(&s, &event), expected, "{:?}", s.matchers);
        }
    }
}
