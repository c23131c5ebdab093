//! `[notification]`: channels, silence windows, aggregation, time zone.

use serde::Deserialize;

use super::channel::ChannelConfig;
use super::silence::{RawSilenceWindow, SilenceWindow};
use super::{ConfigError, Ctx};
use crate::types::Severity;

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
    /// What the aggregation window groups into one notification per
    /// channel: events of one rule (default) or of one agent.
    pub group_by: GroupBy,
}

/// How `[notification] group_by` groups events within the aggregation
/// window (firing and resolved events are always apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One notification per rule (the spec's behaviour).
    #[default]
    Rule,
    /// One notification per agent: what fires together on a host arrives
    /// as one message, with the count and the list.
    Agent,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            silence_windows: Vec::new(),
            aggregation_window_secs: 60,
            timezone: None,
            group_by: GroupBy::Rule,
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
    group_by: Option<GroupBy>,
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
            // TOML puts every key written after a `[[notification.channels]]`
            // header into that channel, so the spec's `aggregation_window_secs = 60`
            // at the end of the file lands here. Accept it as the global setting.
            if let Some(v) = table.remove("aggregation_window_secs") {
                let at = format!("notification.channels[{i}].aggregation_window_secs");
                let toml::Value::Integer(v) = v else {
                    return Err(ctx.err(at, "must be a whole number of seconds"));
                };
                let v = u64::try_from(v)
                    .map_err(|_| ctx.err(&at, format!("must not be negative, got {v}")))?;
                match aggregation {
                    Some(existing) if existing != v => {
                        return Err(ctx.err(
                            at,
                            format!(
                                "is {v} but aggregation_window_secs is already {existing}; it is a global setting: \
                                 write it once, before the [[notification.channels]] tables"
                            ),
                        ));
                    }
                    _ => aggregation = Some(v),
                }
            }
            let channel = validate_channel(table, ctx, i)?;
            if !names.insert(channel.name.clone()) {
                return Err(ctx.err(
                    format!("notification.channels[{i}].name"),
                    format!(
                        "`{}` is used by another channel; names must be unique",
                        channel.name
                    ),
                ));
            }
            channels.push(channel);
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
            group_by: self.group_by.unwrap_or_default(),
        })
    }
}

/// One `[[notification.channels]]` table: its `type`, `name` (default
/// `<type>-<position>`), `min_severity` and `send_resolved`; every other key
/// stays in `settings` for the channel's plugin.
fn validate_channel(
    mut table: toml::Table,
    ctx: Ctx<'_>,
    i: usize,
) -> Result<ChannelConfig, ConfigError> {
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
    let min_severity = match table.remove("min_severity") {
        None => Severity::Info,
        Some(toml::Value::String(s)) => s
            .parse()
            .map_err(|p: String| ctx.err(at("min_severity"), p))?,
        Some(other) => {
            return Err(ctx.err(at("min_severity"), format!("must be a string, got {other}")));
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
    Ok(ChannelConfig {
        name,
        kind,
        min_severity,
        send_resolved,
        settings: table,
        index: i,
        origin: ctx.file.to_owned(),
    })
}

/// Parses one `[[notification.channels]]` table on its own (a channel sent
/// to the REST API): the same checks as in a file, errors naming the field
/// as in the channel (`min_severity`, not `notification.channels[0].min_severity`)
/// and `origin` as the file. The settings are left for the channel's plugin
/// to check ([`ConfigError::within_channel`] reads its errors the same way).
///
/// # Errors
/// [`ConfigError`] naming `origin` and the field.
pub fn parse_channel(table: toml::Table, origin: &str) -> Result<ChannelConfig, ConfigError> {
    validate_channel(table, Ctx { file: origin }, 0).map_err(ConfigError::within_channel)
}

impl ConfigError {
    /// The error of a channel checked on its own (see [`parse_channel`]),
    /// its field named as in the channel: `notification.channels[0].url`
    /// becomes `url`.
    #[must_use]
    pub fn within_channel(mut self) -> Self {
        self.field = self.field.map(|f| {
            let own = f.strip_prefix("notification.channels[0]").unwrap_or(&f);
            own.strip_prefix('.').unwrap_or(own).to_owned()
        });
        self
    }
}
