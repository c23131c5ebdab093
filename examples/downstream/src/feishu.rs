//! `type = "feishu"`: a Feishu (Lark) group custom bot.
//!
//! `POST <webhook_url>` with
//! `{"timestamp": "<s>", "sign": "<sign>", "msg_type": "text", "content": {"text": "..."}}`.
//! With a `secret` (the bot's "signature verification"), every attempt is
//! signed afresh: `sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret,
//! message = ""))`, the timestamp in seconds. The bot answers HTTP 200 with
//! `{"code": 0, "msg": "success"}`; any other `code` is a failure (11232,
//! "frequency limited", is worth retrying; 19021, a bad signature, is not).
//!
//! ```toml
//! [[notification.channels]]
//! type = "feishu"
//! webhook_url = "https://open.feishu.cn/open-apis/bot/v2/hook/<token>"
//! secret = "<signing secret>"   # optional
//! timeout_secs = 10             # optional
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use oxmon::core::config::{ChannelConfig, ConfigError};
use oxmon::core::{Channel, ChannelPlugin, Clock, Notification, Secret, SendError, SystemClock};
use sha2::Sha256;

const KEYS: &[&str] = &["webhook_url", "secret", "timeout_secs"];

/// Feishu's limit on a request body is 20 KB; the text is cut well below.
const MAX_TEXT_BYTES: usize = 18_000;

/// `code`s worth retrying: frequency limited, server busy.
const RETRYABLE: &[i64] = &[11232, 9499];

/// The plugin for `type = "feishu"`. The signature's timestamp comes from
/// the plugin's clock.
#[derive(Debug, Clone)]
pub struct FeishuPlugin {
    clock: Arc<dyn Clock>,
}

impl Default for FeishuPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl FeishuPlugin {
    /// A plugin whose channels sign with the system clock's time.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A plugin whose channels sign with `clock`'s time.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    fn parse(&self, config: &ChannelConfig) -> Result<FeishuChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let url = config.required_str("webhook_url")?;
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ConfigError::channel(config, "webhook_url", "must be an http(s) URL"))?;
        let secret = match config.optional_str("secret")? {
            None => None,
            Some(s) if s.trim().is_empty() => {
                return Err(ConfigError::channel(
                    config,
                    "secret",
                    "must not be empty when given",
                ));
            }
            Some(s) => Some(Secret::new(s.trim())),
        };
        let timeout = match config.optional_int("timeout_secs")? {
            None => 10,
            Some(t @ 1..=300) => t as u64,
            Some(t) => {
                return Err(ConfigError::channel(
                    config,
                    "timeout_secs",
                    format!("must be between 1 and 300, got {t}"),
                ));
            }
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::channel(config, "webhook_url", e))?;
        Ok(FeishuChannel {
            name: config.name.clone(),
            url,
            secret,
            client,
            clock: self.clock.clone(),
        })
    }
}

impl ChannelPlugin for FeishuPlugin {
    fn name(&self) -> &str {
        "feishu"
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(self.parse(config)?))
    }
}

/// A built Feishu bot channel. `Debug` hides the hook's token and the secret.
pub struct FeishuChannel {
    name: String,
    url: reqwest::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for FeishuChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeishuChannel")
            .field("name", &self.name)
            .field("host", &self.url.host_str())
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// `base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))`,
/// `timestamp` in seconds.
pub fn signature(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The request body for a notification, signed when there is a secret.
pub fn body(n: &Notification, secret: Option<&str>, timestamp_secs: i64) -> serde_json::Value {
    let mut text = format!(
        "{}\n\n{}",
        oxmon::notify::render::title(n),
        oxmon::notify::render::text(n)
    );
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n…");
    }
    let mut body = serde_json::json!({ "msg_type": "text", "content": { "text": text } });
    if let Some(secret) = secret {
        body["timestamp"] = timestamp_secs.to_string().into();
        body["sign"] = signature(secret, timestamp_secs).into();
    }
    body
}

#[async_trait]
impl Channel for FeishuChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let now = self.clock.now_ms().div_euclid(1000);
        let body = body(notification, self.secret.as_ref().map(Secret::expose), now);
        let answer = self
            .client
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::retryable(format!("feishu: {}", e.without_url())))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| {
            SendError::retryable(format!("feishu: reading the answer: {}", e.without_url()))
        })?;
        let snippet: String = text.chars().take(200).collect();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::retryable(format!(
                "feishu: HTTP {status}: {snippet}"
            )));
        }
        if !status.is_success() {
            return Err(SendError::permanent(format!(
                "feishu: HTTP {status}: {snippet}"
            )));
        }
        // The bot's own verdict is in the body: `code` (older bots answer
        // `StatusCode`).
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            SendError::permanent(format!("feishu: the answer is not JSON: {snippet}"))
        })?;
        let code = answer
            .get("code")
            .or_else(|| answer.get("StatusCode"))
            .and_then(serde_json::Value::as_i64);
        match code {
            Some(0) => Ok(()),
            Some(c) => {
                let msg = answer
                    .get("msg")
                    .or_else(|| answer.get("StatusMessage"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let msg: String = msg.chars().take(200).collect();
                let problem = format!("feishu: code {c}: {msg}");
                if RETRYABLE.contains(&c) {
                    Err(SendError::retryable(problem))
                } else {
                    Err(SendError::permanent(problem))
                }
            }
            None => Err(SendError::permanent(format!(
                "feishu: no code in the answer: {snippet}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_scheme() {
        // Computed independently with Python:
        // base64.b64encode(hmac.new(b"1767225600\nsecret0123", b"", hashlib.sha256).digest())
        assert_eq!(
            signature("secret0123", 1_767_225_600),
            "ANVYEcV9XLdL1qT6F3eXWGVaHZJERFc+xTt5RKfSYyo="
        );
    }

    #[test]
    fn settings_are_checked_naming_the_field() {
        let plugin = FeishuPlugin::new();
        let config = |text: &str| ChannelConfig::new("feishu", "fs", text.parse().unwrap());
        let err = |text: &str| plugin.validate(&config(text)).unwrap_err().to_string();
        assert!(err("").contains("webhook_url`: channel `fs` (feishu): is required"));
        assert!(err("webhook_url = 'ftp://x'").contains("must be an http(s) URL"));
        assert!(err("webhook_url = 'https://x'\nsecret = ' '").contains("secret"));
        assert!(err("webhook_url = 'https://x'\ntimeout_secs = 0").contains("timeout_secs"));
        assert!(err("webhook_url = 'https://x'\nsecrte = 'a'").contains("unknown key"));
        let channel = plugin
            .parse(&config("webhook_url = 'https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN7'\nsecret = 'SEC7'"))
            .unwrap();
        let debug = format!("{channel:?}");
        assert!(
            !debug.contains("TOKEN7") && !debug.contains("SEC7"),
            "{debug}"
        );
    }
}
