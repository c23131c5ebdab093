//! `[notification]`: channels, silence windows, aggregation, time zone.

use serde::{Deserialize, Serialize};

use super::settings::Settings;
use super::{ConfigError, Ctx};
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

/// A time of day, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TimeOfDay {
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
}

impl TimeOfDay {
    /// Parses `HH:MM` (24-hour clock, `H:MM` accepted).
    ///
    /// # Errors
    /// A sentence with the offending text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a time of day, expected HH:MM (00:00 to 23:59)");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty()
            || h.len() > 2
            || m.len() != 2
            || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let hour: u8 = h.parse().map_err(|_| bad())?;
        let minute: u8 = m.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(Self { hour, minute })
    }

    /// Minutes since midnight.
    pub fn minute_of_day(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Parses `mon` or `monday` (any case), and so on.
    ///
    /// # Errors
    /// A sentence with the offending text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let l = s.trim().to_ascii_lowercase();
        Weekday::ALL
            .into_iter()
            .find(|d| {
                let short = d.short();
                l == short || l == d.long()
            })
            .ok_or_else(|| {
                format!("unknown day `{s}`, expected mon, tue, wed, thu, fri, sat or sun")
            })
    }

    fn short(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }

    fn long(self) -> &'static str {
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ][self.index()]
    }

    /// 0 for Monday to 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The day before.
    pub fn previous(self) -> Self {
        Weekday::ALL[(self.index() + 6) % 7]
    }
}

/// When a silence window recurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Recurrence {
    /// Every day (`recurrence = "daily"`).
    Daily,
    /// On the listed days (`recurrence = "weekly"` with `days = [...]`, or the
    /// shorthands `"weekdays"` and `"weekends"`). A window crossing midnight
    /// belongs to the day it starts on.
    Weekly(Vec<Weekday>),
}

/// A recurring period in which notifications are suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilenceWindow {
    /// Start, inclusive, local time.
    pub start: TimeOfDay,
    /// End, exclusive, local time. Earlier than `start` means the window
    /// crosses midnight (`22:00` to `02:00`).
    pub end: TimeOfDay,
    /// Which days it applies to.
    pub recurrence: Recurrence,
}

impl SilenceWindow {
    /// Whether the window covers a local time given as weekday and minute of day.
    pub fn contains(&self, day: Weekday, minute_of_day: u16) -> bool {
        let (s, e) = (self.start.minute_of_day(), self.end.minute_of_day());
        let on = |d: Weekday| match &self.recurrence {
            Recurrence::Daily => true,
            Recurrence::Weekly(days) => days.contains(&d),
        };
        if s < e {
            on(day) && minute_of_day >= s && minute_of_day < e
        } else {
            // Crosses midnight: the evening part belongs to today, the morning
            // part to the window that started yesterday.
            (on(day) && minute_of_day >= s) || (on(day.previous()) && minute_of_day < e)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSilenceWindow {
    start_time: String,
    end_time: String,
    recurrence: Option<String>,
    days: Option<Vec<String>>,
}

impl RawSilenceWindow {
    pub(crate) fn validate(self, ctx: Ctx<'_>, i: usize) -> Result<SilenceWindow, ConfigError> {
        let at = |f: &str| format!("notification.silence_windows[{i}].{f}");
        let start = TimeOfDay::parse(&self.start_time).map_err(|p| ctx.err(at("start_time"), p))?;
        let end = TimeOfDay::parse(&self.end_time).map_err(|p| ctx.err(at("end_time"), p))?;
        if start == end {
            return Err(ctx.err(
                at("end_time"),
                "must differ from start_time (an empty or whole-day window is ambiguous)",
            ));
        }
        let days = |list: &[String]| -> Result<Vec<Weekday>, ConfigError> {
            if list.is_empty() {
                return Err(ctx.err(at("days"), "must list at least one day"));
            }
            list.iter()
                .enumerate()
                .map(|(j, d)| {
                    Weekday::parse(d).map_err(|p| ctx.err(format!("{}[{j}]", at("days")), p))
                })
                .collect()
        };
        let recurrence = match (self.recurrence.as_deref().unwrap_or("daily"), &self.days) {
            ("daily", None) => Recurrence::Daily,
            ("weekly", Some(list)) => Recurrence::Weekly(days(list)?),
            ("weekly", None) => {
                return Err(ctx.err(at("days"), "is required when recurrence = \"weekly\""));
            }
            ("weekdays", None) => Recurrence::Weekly(Weekday::ALL[..5].to_vec()),
            ("weekends", None) => Recurrence::Weekly(Weekday::ALL[5..].to_vec()),
            ("daily" | "weekdays" | "weekends", Some(_)) => {
                return Err(ctx.err(at("days"), "only applies with recurrence = \"weekly\""));
            }
            (other, _) => {
                return Err(ctx.err(
                    at("recurrence"),
                    format!(
                        "unknown recurrence `{other}`, expected daily, weekly, weekdays or weekends"
                    ),
                ));
            }
        };
        Ok(SilenceWindow {
            start,
            end,
            recurrence,
        })
    }
}

/// `[notification]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NotificationConfig {
    /// The channels.
    pub channels: Vec<ChannelConfig>,
    /// Periods in which nothing is sent.
    pub silence_windows: Vec<SilenceWindow>,
    /// Events of one rule within this many seconds go out as one notification. Default 60; 0 sends each at once.
    pub aggregation_window_secs: u64,
    /// IANA time zone of the silence windows (`Asia/Shanghai`); `None` uses the host's zone.
    pub timezone: Option<String>,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            silence_windows: Vec::new(),
            aggregation_window_secs: 60,
            timezone: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotification {
    #[serde(default)]
    channels: Vec<toml::Table>,
    #[serde(default)]
    silence_windows: Vec<RawSilenceWindow>,
    aggregation_window_secs: Option<u64>,
    timezone: Option<String>,
}

impl RawNotification {
    /// `top_level_aggregation` is `aggregation_window_secs` written at the top of the file.
    pub(crate) fn validate(
        self,
        ctx: Ctx<'_>,
        top_level_aggregation: Option<u64>,
    ) -> Result<NotificationConfig, ConfigError> {
        let mut aggregation = match (top_level_aggregation, self.aggregation_window_secs) {
            (Some(a), Some(b)) if a != b => {
                return Err(ctx.err(
                    "notification.aggregation_window_secs",
                    format!("is {b} but the top-level aggregation_window_secs is {a}; keep one"),
                ));
            }
            (a, b) => a.or(b),
        };
        let mut channels = Vec::with_capacity(self.channels.len());
        let mut names = std::collections::HashSet::new();
        for (i, mut table) in self.channels.into_iter().enumerate() {
            let at = |f: &str| format!("notification.channels[{i}].{f}");
            let kind = match table.remove("type") {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
                Some(other) => {
                    return Err(ctx.err(
                        at("type"),
                        format!("must be a non-empty string, got {other}"),
                    ));
                }
                None => {
                    return Err(ctx.err(
                        at("type"),
                        "is required (email, webhook, sms, dingtalk, weixin, ...)",
                    ));
                }
            };
            let name = match table.remove("name") {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
                None => format!("{kind}-{}", i + 1),
                Some(other) => {
                    return Err(ctx.err(
                        at("name"),
                        format!("must be a non-empty string, got {other}"),
                    ));
                }
            };
            if !names.insert(name.clone()) {
                return Err(ctx.err(
                    at("name"),
                    format!("`{name}` is used by another channel; names must be unique"),
                ));
            }
            let min_severity = match table.remove("min_severity") {
                None => Severity::Info,
                Some(toml::Value::String(s)) => s
                    .parse()
                    .map_err(|p: String| ctx.err(at("min_severity"), p))?,
                Some(other) => {
                    return Err(
                        ctx.err(at("min_severity"), format!("must be a string, got {other}"))
                    );
                }
            };
            let send_resolved = match table.remove("send_resolved") {
                None => true,
                Some(toml::Value::Boolean(b)) => b,
                Some(other) => {
                    return Err(ctx.err(
                        at("send_resolved"),
                        format!("must be true or false, got {other}"),
                    ));
                }
            };
            // TOML puts every key written after a `[[notification.channels]]`
            // header into that channel, so the spec's `aggregation_window_secs = 60`
            // at the end of the file lands here. Accept it as the global setting.
            if let Some(v) = table.remove("aggregation_window_secs") {
                let toml::Value::Integer(v) = v else {
                    return Err(ctx.err(
                        at("aggregation_window_secs"),
                        "must be a whole number of seconds",
                    ));
                };
                let v = u64::try_from(v).map_err(|_| {
                    ctx.err(
                        at("aggregation_window_secs"),
                        format!("must not be negative, got {v}"),
                    )
                })?;
                match aggregation {
                    Some(existing) if existing != v => {
                        return Err(ctx.err(
                            at("aggregation_window_secs"),
                            format!(
                                "is {v} but aggregation_window_secs is already {existing}; it is a global setting: \
                                 write it once, before the [[notification.channels]] tables"
                            ),
                        ));
                    }
                    _ => aggregation = Some(v),
                }
            }
            channels.push(ChannelConfig {
                name,
                kind,
                min_severity,
                send_resolved,
                settings: table,
                index: i,
                origin: ctx.file.to_owned(),
            });
        }
        let silence_windows = self
            .silence_windows
            .into_iter()
            .enumerate()
            .map(|(i, w)| w.validate(ctx, i))
            .collect::<Result<_, _>>()?;
        if let Some(tz) = &self.timezone {
            jiff::tz::TimeZone::get(tz).map_err(|_| {
                ctx.err("notification.timezone", format!("unknown time zone `{tz}`, expected an IANA name such as Asia/Shanghai or UTC"))
            })?;
        }
        Ok(NotificationConfig {
            channels,
            silence_windows,
            aggregation_window_secs: aggregation.unwrap_or(60),
            timezone: self.timezone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(s: &str, e: &str, r: Recurrence) -> SilenceWindow {
        SilenceWindow {
            start: TimeOfDay::parse(s).unwrap(),
            end: TimeOfDay::parse(e).unwrap(),
            recurrence: r,
        }
    }

    #[test]
    fn daily_window() {
        let w = window("02:00", "04:00", Recurrence::Daily);
        assert!(!w.contains(Weekday::Mon, 119));
        assert!(w.contains(Weekday::Mon, 120));
        assert!(w.contains(Weekday::Sun, 239));
        assert!(!w.contains(Weekday::Sun, 240));
    }

    #[test]
    fn window_across_midnight() {
        let w = window("22:00", "02:00", Recurrence::Daily);
        assert!(w.contains(Weekday::Tue, 23 * 60));
        assert!(w.contains(Weekday::Tue, 0));
        assert!(w.contains(Weekday::Tue, 119));
        assert!(!w.contains(Weekday::Tue, 120));
        assert!(!w.contains(Weekday::Tue, 21 * 60 + 59));
    }

    #[test]
    fn weekly_window_across_midnight_belongs_to_its_start_day() {
        let w = window("23:00", "01:00", Recurrence::Weekly(vec![Weekday::Fri]));
        assert!(w.contains(Weekday::Fri, 23 * 60 + 30));
        assert!(w.contains(Weekday::Sat, 30));
        assert!(!w.contains(Weekday::Fri, 30));
        assert!(!w.contains(Weekday::Sat, 23 * 60 + 30));
        assert_eq!(Weekday::Mon.previous(), Weekday::Sun);
    }

    #[test]
    fn time_of_day_parsing() {
        assert_eq!(TimeOfDay::parse("02:05").unwrap().minute_of_day(), 125);
        assert_eq!(TimeOfDay::parse("9:30").unwrap().minute_of_day(), 570);
        for bad in [
            "24:00", "12:60", "1200", "ab:cd", "12:5", "", "-1:00", "12:00:00",
        ] {
            let e = TimeOfDay::parse(bad).unwrap_err();
            assert!(e.contains("HH:MM"), "{bad}: {e}");
        }
    }
}
