//! `[[notification.silence_windows]]`: times of day, weekdays, recurrences
//! and whether a window covers a local time.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Ctx};

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

/// Parses one `[[notification.silence_windows]]` table on its own (a window
/// sent to the REST API): the same checks as in a file, errors naming the
/// field as in the window (`end_time`, not
/// `notification.silence_windows[0].end_time`) and `origin` as the file.
///
/// # Errors
/// [`ConfigError`] naming `origin` and the field.
pub fn parse_silence_window(
    table: toml::Table,
    origin: &str,
) -> Result<SilenceWindow, ConfigError> {
    let raw: RawSilenceWindow =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError {
                file: origin.to_owned(),
                field: None,
                problem: e.message().to_owned(),
            })?;
    raw.validate(Ctx { file: origin }, 0).map_err(|mut e| {
        e.field = e.field.map(|f| {
            let own = f
                .strip_prefix("notification.silence_windows[0]")
                .unwrap_or(&f);
            own.strip_prefix('.').unwrap_or(own).to_owned()
        });
        e
    })
}

impl SilenceWindow {
    /// A name that says what the window covers and is the same for equal
    /// windows: `02:00-04:00 daily`, `22:00-06:00 mon,tue`.
    pub fn describe(&self) -> String {
        let days = match &self.recurrence {
            Recurrence::Daily => "daily".to_owned(),
            Recurrence::Weekly(days) => days
                .iter()
                .map(|d| {
                    serde_json::to_value(d)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(","),
        };
        let hm = |t: TimeOfDay| format!("{:02}:{:02}", t.hour, t.minute);
        format!("{}-{} {days}", hm(self.start), hm(self.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::silence_window as window;

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
