//! The notification channel contract.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::alert::{AlertEvent, AlertStatus};
use crate::config::{ChannelConfig, ConfigError};
use crate::types::Severity;

/// What a channel is asked to deliver: one or more alert events (more than one
/// when the notifier aggregated events of the same rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The events, at least one.
    pub events: Vec<AlertEvent>,
}

impl Notification {
    /// A notification of one event.
    pub fn single(event: AlertEvent) -> Self {
        Self {
            events: vec![event],
        }
    }

    /// The highest severity among the events (`Info` when empty).
    pub fn severity(&self) -> Severity {
        self.events
            .iter()
            .map(|e| e.severity)
            .max()
            .unwrap_or(Severity::Info)
    }

    /// `Resolved` when every event is resolved, else `Firing`.
    pub fn status(&self) -> AlertStatus {
        if !self.events.is_empty()
            && self
                .events
                .iter()
                .all(|e| e.status == AlertStatus::Resolved)
        {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }
}

/// Formats a value without noise: integers without decimals, others with up to 2.
pub fn fmt_value(v: f64) -> String {
    FmtValue(v).to_string()
}

/// [`fmt_value`] as a [`Display`](fmt::Display), to write a value into a
/// message without a string of its own. The same text as
/// `format!("{v:.2}")` with trailing zeros (and a trailing point) trimmed,
/// integers below 10^15 without decimals; other values below 2^53 / 100
/// (about 9 x 10^13) are rounded here with integer arithmetic (exactly,
/// ties to even, as the standard formatter does), the rest go through the
/// standard formatter. Width and fill (`{:>8}`) are not applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FmtValue(pub f64);

impl fmt::Display for FmtValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        // Integral and exact below 10^15 (`{:.0}` keeps the sign of -0), or
        // rounded to hundredths here.
        let h = if v.fract() == 0.0 && v.abs() < 1e15 {
            Some(v.abs() as u64 * 100)
        } else {
            hundredths(v)
        };
        match h {
            Some(h) => {
                // Digits from the right: up to 2 decimals, a point, up to 18
                // integer digits, a sign.
                let mut buf = [0u8; 24];
                let mut at = buf.len();
                let mut put = |b: u8| {
                    at -= 1;
                    buf[at] = b;
                };
                let (mut int, frac) = (h / 100, (h % 100) as u8);
                if frac != 0 {
                    if frac % 10 != 0 {
                        put(b'0' + frac % 10);
                    }
                    put(b'0' + frac / 10);
                    put(b'.');
                }
                loop {
                    put(b'0' + (int % 10) as u8);
                    int /= 10;
                    if int == 0 {
                        break;
                    }
                }
                if v.is_sign_negative() {
                    put(b'-');
                }
                // Only ASCII digits, '.' and '-' were written.
                f.write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
            }
            None => {
                let mut buf = String::with_capacity(32);
                fmt::Write::write_fmt(&mut buf, format_args!("{v:.2}"))?;
                f.write_str(buf.trim_end_matches('0').trim_end_matches('.'))
            }
        }
    }
}

/// `|v|` rounded to hundredths as an integer (`1.005` -> 100: the exact
/// binary value is below 1.005), ties to even; `None` for values that are
/// not finite or not below 2^53 / 100.
fn hundredths(v: f64) -> Option<u64> {
    if !v.is_finite() || v.abs() >= (1u64 << 53) as f64 / 100.0 {
        return None;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    // |v| = m * 2^e exactly.
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let n = m * 100; // < 2^60
    // |v| < 2^47, so e < 0.
    let s = u32::try_from(-e).ok()?;
    if s > 61 {
        // n < 2^60 <= 2^(s - 2): below a half, rounds to 0.
        return Some(0);
    }
    let q = n >> s;
    let r = n - (q << s);
    let half = 1u64 << (s - 1);
    Some(if r > half || (r == half && q & 1 == 1) {
        q + 1
    } else {
        q
    })
}

/// How a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendErrorKind {
    /// Worth retrying: timeout, connection refused, HTTP 5xx or 429.
    Retryable {
        /// How long the far end asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Retrying will fail the same way: HTTP 4xx, bad signature, rejected recipient.
    Permanent,
}

/// A failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Retryable or permanent.
    pub kind: SendErrorKind,
    /// What went wrong, for logs and notification history.
    pub message: String,
}

impl SendError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: SendErrorKind::Retryable { retry_after: None },
            message: message.into(),
        }
    }

    /// A failure worth retrying after the given delay.
    pub fn retry_after(message: impl Into<String>, after: Duration) -> Self {
        Self {
            kind: SendErrorKind::Retryable {
                retry_after: Some(after),
            },
            message: message.into(),
        }
    }

    /// A failure not worth retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: SendErrorKind::Permanent,
            message: message.into(),
        }
    }

    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, SendErrorKind::Retryable { .. })
    }
}

/// A configured destination for notifications: one `[[notification.channels]]` entry.
///
/// # Behavior
/// - `send` delivers the notification once and returns `Ok` only when the far
///   end accepted it (HTTP 2xx *and* no error code in the body for APIs that
///   report errors that way, SMTP accepted by the server).
/// - It applies its own request timeout and never hangs.
/// - It does not retry: the dispatcher retries according to the error kind.
///
/// # Errors
/// [`SendError`], classified as retryable or permanent.
#[async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// The channel's instance name (from its config, unique).
    fn name(&self) -> &str;

    /// Delivers the notification once.
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}

/// A factory for one channel `type` (`email`, `webhook`, or a downstream crate's own).
///
/// # Behavior
/// - `name` is the `type` value that selects this plugin in the config.
/// - `validate` checks the channel's free-form settings without side effects.
/// - `build` validates too, then returns a ready channel. It does no network I/O.
///
/// # Errors
/// [`ConfigError`] naming the channel and the field (for example a missing
/// `webhook_url`, a malformed URL, empty `recipients`).
pub trait ChannelPlugin: Send + Sync + std::fmt::Debug {
    /// The `type` this plugin handles.
    fn name(&self) -> &str;

    /// Checks a channel configuration (`--check-config`, start-up). The
    /// default builds the channel and drops it, which is right when
    /// [`ChannelPlugin::build`] does no I/O, as it should not.
    ///
    /// # Errors
    /// The [`ConfigError`] naming the field.
    fn validate(&self, config: &ChannelConfig) -> Result<(), ConfigError> {
        self.build(config).map(drop)
    }

    /// Builds a channel from a configuration, without I/O (no connection,
    /// no request): sending is [`Channel::send`]'s work.
    ///
    /// # Errors
    /// The [`ConfigError`] naming the field.
    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError>;

    /// The settings of this `type` that hold credentials (a password, an
    /// API key, a signing secret, a URL carrying a token): the REST API
    /// takes them but never shows them, only whether they are set. Whatever
    /// this lists, a setting whose name [looks secret](looks_secret) is
    /// treated so too.
    fn secret_settings(&self) -> &[&str] {
        &[]
    }

    /// Whether setting `key` is write-only: listed by
    /// [`ChannelPlugin::secret_settings`] or [named like a secret](looks_secret).
    fn is_secret(&self, key: &str) -> bool {
        self.secret_settings().contains(&key) || looks_secret(key)
    }
}

/// Whether a setting's name says it holds a credential: it contains
/// `password`, `passwd`, `secret`, `token`, `key`, `auth`, `credential`,
/// `header` or `url` (URLs of chat robots and webhooks carry their access
/// token), in any case. Deliberately broad: a setting hidden by mistake
/// costs a look at the configuration, one shown by mistake leaks.
pub fn looks_secret(key: &str) -> bool {
    const WORDS: [&str; 9] = [
        "password",
        "passwd",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
        "header",
        "url",
    ];
    let key = key.to_ascii_lowercase();
    WORDS.iter().any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Labels, SeriesKey};

    fn event(agent: &str, status: AlertStatus, sev: Severity) -> AlertEvent {
        AlertEvent {
            id: "e1".into(),
            rule: "high-cpu".into(),
            series: SeriesKey::new(agent, "cpu.usage", Labels::new()),
            severity: sev,
            status,
            value: 97.5,
            threshold: Some(90.0),
            timestamp_ms: 1_770_373_800_000,
            fired_at_ms: 1_770_373_500_000,
            prediction: None,
            message: "cpu.usage 97.5 > 90 for 300s".into(),
        }
    }

    #[test]
    fn a_notification_is_as_severe_as_its_worst_event_and_resolved_when_all_are() {
        let many = Notification {
            events: vec![
                event("web-1", AlertStatus::Firing, Severity::Warning),
                event("web-2", AlertStatus::Firing, Severity::Critical),
                event("web-2", AlertStatus::Resolved, Severity::Info),
            ],
        };
        assert_eq!(many.severity(), Severity::Critical);
        assert_eq!(many.status(), AlertStatus::Firing);
        let resolved =
            Notification::single(event("web-1", AlertStatus::Resolved, Severity::Warning));
        assert_eq!(resolved.status(), AlertStatus::Resolved);
        assert_eq!(Notification { events: vec![] }.severity(), Severity::Info);
    }

    #[test]
    fn values_format_without_noise() {
        assert_eq!(fmt_value(90.0), "90");
        assert_eq!(fmt_value(97.456), "97.46");
        assert_eq!(fmt_value(0.5), "0.5");
        assert_eq!(crate::time::rfc3339_secs(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn send_error_kinds() {
        assert!(SendError::retryable("timeout").is_retryable());
        assert!(SendError::retry_after("429", Duration::from_secs(3)).is_retryable());
        assert!(!SendError::permanent("400").is_retryable());
    }
}

#[cfg(test)]
mod fmt_value_tests {
    use super::*;
    use proptest::prelude::*;

    /// What `fmt_value` printed before `FmtValue`: the standard formatter.
    fn reference(v: f64) -> String {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{v:.0}")
        } else {
            let s = format!("{v:.2}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }

    #[test]
    fn edge_values_print_as_the_standard_formatter_does() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            0.125,
            0.375,
            1.005,
            2.675,
            0.015,
            0.025,
            0.045,
            -0.001,
            -0.005,
            0.005,
            0.0049999,
            99.995,
            99.994999,
            100.0,
            1e-300,
            -1e-300,
            5e-324,
            1e14,
            1e15,
            1e15 + 0.5,
            9.0e13,
            9.007e13,
            4.5e13 + 0.125,
            1e16,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            12.3,
            7.1,
            0.1,
            0.2,
            0.3,
        ] {
            assert_eq!(FmtValue(v).to_string(), reference(v), "{v:e}");
        }
        assert_eq!(fmt_value(2.5), "2.5");
        assert_eq!(fmt_value(-0.001), "-0");
        assert_eq!(fmt_value(1.005), "1");
        assert_eq!(fmt_value(0.125), "0.12");
        assert_eq!(fmt_value(0.375), "0.38");
    }

    proptest! {
        #[test]
        fn any_value_prints_as_the_standard_formatter_does(
            v in prop_oneof![
                any::<f64>(),
                -1e6f64..1e6,
                -200.0f64..200.0,
                (-100_000_000i64..100_000_000).prop_map(|k| k as f64 / 1000.0),
                (-1_000_000i64..1_000_000).prop_map(|k| k as f64 / 8.0 + 0.005),
                (0u32..64, -1_000_000i64..1_000_000).prop_map(|(s, k)| k as f64 / f64::from(1u32 << (s % 31))),
            ]
        ) {
            prop_assert_eq!(FmtValue(v).to_string(), reference(v));
        }
    }
}
