//! `type = "dingtalk"`: a DingTalk group robot, markdown messages, optional signing.
//!
//! `POST <webhook_url>[&timestamp=<ms>&sign=<sign>]` with
//! `{"msgtype": "markdown", "markdown": {"title": "...", "text": "..."}}`.
//! With a `secret`, every attempt is signed afresh:
//! `sign = urlencode(base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret)))`.
//! The robot answers HTTP 200 with `{"errcode": 0}`; a non-zero `errcode` is a
//! failure (130101, "sending too fast", is worth retrying).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{Channel, ChannelPlugin, Clock, Notification, Secret, SendError, SystemClock};
use reqwest::Url;
use reqwest::header::HeaderMap;
use sha2::Sha256;

use crate::{http, render};

const KEYS: &[&str] = &["webhook_url", "secret", "timeout_secs"];

/// DingTalk's limit on markdown text, in bytes.
pub const MAX_MARKDOWN_BYTES: usize = 20_000;

/// `errcode`s worth retrying: system busy, sending too fast.
const RETRYABLE: &[i64] = &[-1, 130101];

/// The plugin for `type = "dingtalk"`.
///
/// Settings: `webhook_url` (required), `secret` (optional, the robot's
/// `SEC...` signing secret), `timeout_secs` (optional, default 10).
/// The signature's timestamp comes from the plugin's clock.
#[derive(Debug, Clone)]
pub struct DingTalkPlugin {
    clock: Arc<dyn Clock>,
}

impl Default for DingTalkPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl DingTalkPlugin {
    /// A plugin whose channels sign with the system clock's time.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A plugin whose channels sign with `clock`'s time (tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    fn parse(&self, config: &ChannelConfig) -> Result<DingTalkChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let url = http::url(config, "webhook_url")?;
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
        let client = http::client(config, http::timeout(config)?)?;
        Ok(DingTalkChannel {
            name: config.name.clone(),
            url,
            secret,
            client,
            clock: self.clock.clone(),
        })
    }
}

impl ChannelPlugin for DingTalkPlugin {
    fn name(&self) -> &str {
        "dingtalk"
    }

    fn secret_settings(&self) -> &[&str] {
        &["webhook_url", "secret"]
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(self.parse(config)?))
    }
}

/// A built DingTalk robot channel. `Debug` hides the access token and the secret.
pub struct DingTalkChannel {
    name: String,
    url: Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DingTalkChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingTalkChannel")
            .field("name", &self.name)
            .field("webhook_url", &http::redact(&self.url))
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// `base64(HMAC-SHA256(key = secret, message = timestamp_ms + "\n" + secret))`,
/// before URL encoding.
pub fn signature(secret: &str, timestamp_ms: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` with `timestamp` and the URL-encoded `sign` appended to its query
/// (which may already hold `access_token`).
pub fn signed_url(url: &Url, secret: &str, timestamp_ms: i64) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &signature(secret, timestamp_ms));
    url
}

/// The request body for a notification.
pub(crate) fn body(n: &Notification) -> serde_json::Value {
    let text = render::truncate_with_marker(&render::markdown(n), MAX_MARKDOWN_BYTES);
    serde_json::json!({ "msgtype": "markdown", "markdown": { "title": crate::render::title(n), "text": text } })
}

#[async_trait]
impl Channel for DingTalkChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let url = match &self.secret {
            Some(s) => signed_url(&self.url, s.expose(), self.clock.now_ms()),
            None => self.url.clone(),
        };
        let answer =
            http::post_json(&self.client, url, HeaderMap::new(), &body(notification)).await?;
        http::check_errcode(&answer, RETRYABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python:
    // base64.b64encode(hmac.new(b"SECtest0123456789abcdef",
    //     b"1767225600000\nSECtest0123456789abcdef", hashlib.sha256).digest())
    // and urllib.parse.quote_plus of it.
    const SECRET: &str = "SECtest0123456789abcdef";
    const TS: i64 = 1_767_225_600_000;
    const SIGN: &str = "K/OaowEa1KlFrnpLz8sTdHygAhQhOC3qD9Nzperaes4=";
    const SIGN_ENCODED: &str = "K%2FOaowEa1KlFrnpLz8sTdHygAhQhOC3qD9Nzperaes4%3D";

    #[test]
    fn signature_matches_the_known_vector() {
        assert_eq!(signature(SECRET, TS), SIGN);
    }

    #[test]
    fn signing_appends_to_an_existing_query_or_starts_one() {
        let with = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc").unwrap();
        assert_eq!(
            signed_url(&with, SECRET, TS).as_str(),
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp={TS}&sign={SIGN_ENCODED}"
            )
        );
        let without = Url::parse("http://127.0.0.1:9/robot").unwrap();
        assert_eq!(
            signed_url(&without, SECRET, TS).as_str(),
            format!("http://127.0.0.1:9/robot?timestamp={TS}&sign={SIGN_ENCODED}")
        );
    }

    #[test]
    fn debug_hides_token_and_secret() {
        let c = DingTalkPlugin::new()
            .parse(&ChannelConfig::new(
                "dingtalk",
                "dt",
                toml::from_str("webhook_url = 'https://oapi.dingtalk.com/robot/send?access_token=TOKEN9'\nsecret = 'SECsecret9'").unwrap(),
            ))
            .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("TOKEN9") && !d.contains("SECsecret9"), "{d}");
    }
}
