//! `type = "weixin"`: a WeCom (WeChat Work) group robot, markdown messages.
//!
//! `POST <webhook_url>` with `{"msgtype": "markdown", "markdown": {"content": "..."}}`,
//! the content cut to 4096 bytes on a UTF-8 boundary. The robot answers HTTP
//! 200 with `{"errcode": 0}`; a non-zero `errcode` is a failure (45009, the
//! rate limit, and -1, "system busy", are worth retrying).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{Channel, ChannelPlugin, Notification, SendError};
use reqwest::Url;
use reqwest::header::HeaderMap;

use crate::{http, render};

const KEYS: &[&str] = &["webhook_url", "timeout_secs"];

/// WeCom's limit on markdown content, in bytes.
pub const MAX_MARKDOWN_BYTES: usize = 4096;

/// `errcode`s worth retrying: system busy, API frequency limit.
const RETRYABLE: &[i64] = &[-1, 45009];

/// The plugin for `type = "weixin"`.
///
/// Settings: `webhook_url` (required, `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`),
/// `timeout_secs` (optional, default 10).
#[derive(Debug, Clone, Copy, Default)]
pub struct WeixinPlugin;

/// A built WeCom robot channel. `Debug` hides the robot key.
pub struct WeixinChannel {
    name: String,
    url: Url,
    client: reqwest::Client,
}

impl fmt::Debug for WeixinChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeixinChannel")
            .field("name", &self.name)
            .field("webhook_url", &http::redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl WeixinPlugin {
    fn parse(config: &ChannelConfig) -> Result<WeixinChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let url = http::url(config, "webhook_url")?;
        let client = http::client(config, http::timeout(config)?)?;
        Ok(WeixinChannel {
            name: config.name.clone(),
            url,
            client,
        })
    }
}

impl ChannelPlugin for WeixinPlugin {
    fn name(&self) -> &str {
        "weixin"
    }

    fn secret_settings(&self) -> &[&str] {
        &["webhook_url"]
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(Self::parse(config)?))
    }
}

/// The request body for a notification.
pub(crate) fn body(n: &Notification) -> serde_json::Value {
    let content = render::truncate_with_marker(&render::markdown(n), MAX_MARKDOWN_BYTES);
    serde_json::json!({ "msgtype": "markdown", "markdown": { "content": content } })
}

#[async_trait]
impl Channel for WeixinChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let answer = http::post_json(
            &self.client,
            self.url.clone(),
            HeaderMap::new(),
            &body(notification),
        )
        .await?;
        http::check_errcode(&answer, RETRYABLE)
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::Severity;
    use oxmon_core::testing::{T0, sample_event};

    use super::*;

    #[test]
    fn long_markdown_is_cut_to_4096_bytes_on_a_char_boundary() {
        let mut e = sample_event("1", "web-1", Severity::Critical, T0);
        e.message = "磁盘空间不足".repeat(1000);
        let b = body(&Notification::single(e));
        let content = b["markdown"]["content"].as_str().unwrap();
        assert!(
            content.len() <= MAX_MARKDOWN_BYTES && content.len() > 4000,
            "{}",
            content.len()
        );
        assert!(content.starts_with("### [CRITICAL]"));
    }

    #[test]
    fn debug_hides_the_key() {
        let c = WeixinPlugin::parse(&ChannelConfig::new(
            "weixin",
            "wx",
            toml::from_str(
                "webhook_url = 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY123'",
            )
            .unwrap(),
        ))
        .unwrap();
        assert!(!format!("{c:?}").contains("KEY123"));
    }
}
