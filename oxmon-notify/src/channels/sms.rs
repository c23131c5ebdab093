//! `type = "sms"`: a generic SMS gateway, one JSON POST per phone number.
//!
//! Request shape (documented in the README):
//!
//! ```text
//! POST <gateway_url>
//! Authorization: Bearer <api_key>
//! Content-Type: application/json
//!
//! {"phone": "+8613800138000", "message": "[CRITICAL] high-cpu on web-1: cpu.usage = 97.5 at 2026-02-06T10:30:00Z"}
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{Channel, ChannelPlugin, Notification, SendError, SendErrorKind};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::{http, render};

const KEYS: &[&str] = &["gateway_url", "api_key", "phone_numbers", "timeout_secs"];

/// Longest SMS text, in characters (two concatenated UCS-2 parts).
pub const MAX_SMS_CHARS: usize = 134;

/// The plugin for `type = "sms"`.
///
/// Settings: `gateway_url`, `api_key`, `phone_numbers` (all required),
/// `timeout_secs` (optional, default 10).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmsPlugin;

/// A built SMS channel. `Debug` hides the API key and the gateway path.
pub struct SmsChannel {
    name: String,
    url: Url,
    auth: HeaderValue,
    phones: Vec<String>,
    client: reqwest::Client,
}

impl fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsChannel")
            .field("name", &self.name)
            .field("gateway_url", &http::redact(&self.url))
            .field("api_key", &"***")
            .field("phone_numbers", &self.phones)
            .finish_non_exhaustive()
    }
}

fn valid_phone(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or(p);
    let count = digits.bytes().filter(u8::is_ascii_digit).count();
    (5..=20).contains(&count)
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
}

impl SmsPlugin {
    fn parse(config: &ChannelConfig) -> Result<SmsChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let url = http::url(config, "gateway_url")?;
        let key = config.required_str("api_key")?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| ConfigError::channel(config, "api_key", "must be printable ASCII"))?;
        auth.set_sensitive(true);
        let phones = config.required_str_list("phone_numbers")?;
        if let Some(i) = phones.iter().position(|p| !valid_phone(p)) {
            return Err(ConfigError::channel(
                config,
                &format!("phone_numbers[{i}]"),
                format!(
                    "`{}` is not a phone number (digits, optional leading +)",
                    phones[i]
                ),
            ));
        }
        let client = http::client(config, http::timeout(config)?)?;
        Ok(SmsChannel {
            name: config.name.clone(),
            url,
            auth,
            phones,
            client,
        })
    }
}

impl ChannelPlugin for SmsPlugin {
    fn name(&self) -> &str {
        "sms"
    }

    fn secret_settings(&self) -> &[&str] {
        &["gateway_url", "api_key"]
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(Self::parse(config)?))
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn name(&self) -> &str {
        &self.name
    }

    /// Sends to every number, even after one fails. Fails when any number
    /// failed: permanent if any failure was permanent, else retryable (a
    /// retry sends to every number again).
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let text = render::short_text(notification, MAX_SMS_CHARS);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        let mut failures: Vec<(String, SendError)> = Vec::new();
        for phone in &self.phones {
            let body = serde_json::json!({ "phone": phone, "message": text });
            if let Err(e) =
                http::post_json(&self.client, self.url.clone(), headers.clone(), &body).await
            {
                failures.push((phone.clone(), e));
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        let permanent = failures
            .iter()
            .any(|(_, e)| e.kind == SendErrorKind::Permanent);
        let retry_after = failures
            .iter()
            .filter_map(|(_, e)| match e.kind {
                SendErrorKind::Retryable { retry_after } => retry_after,
                SendErrorKind::Permanent => None,
            })
            .max();
        let message = failures
            .iter()
            .map(|(p, e)| format!("{p}: {e}"))
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!(
            "{} of {} numbers failed: {message}",
            failures.len(),
            self.phones.len()
        );
        Err(match (permanent, retry_after) {
            (true, _) => SendError::permanent(message),
            (false, Some(after)) => SendError::retry_after(message, after),
            (false, None) => SendError::retryable(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_and_key_are_checked_and_hidden() {
        assert!(valid_phone("+8613800138000") && valid_phone("0049 30-1234567"));
        assert!(!valid_phone("call me") && !valid_phone("+12") && !valid_phone(""));
        let c = |s: &str| ChannelConfig::new("sms", "pager", toml::from_str(s).unwrap());
        let err = SmsPlugin
            .validate(&c(
                "gateway_url = 'http://x/'\napi_key = 'k'\nphone_numbers = ['+8613800138000', 'x']",
            ))
            .unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("notification.channels[0].phone_numbers[1]")
        );
        let ch = parse_for_test(
            "gateway_url = 'http://x/send/tok'\napi_key = 'sk-hidden'\nphone_numbers = ['+8613800138000']",
        );
        let d = format!("{ch:?}");
        assert!(!d.contains("sk-hidden") && !d.contains("tok"), "{d}");
    }

    fn parse_for_test(s: &str) -> SmsChannel {
        {
            SmsPlugin::parse(&ChannelConfig::new(
                "sms",
                "pager",
                toml::from_str(s).unwrap(),
            ))
            .unwrap()
        }
    }
}
