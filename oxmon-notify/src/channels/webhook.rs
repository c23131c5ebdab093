//! `type = "webhook"`: a JSON POST to any URL, with an optional body template.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{AlertEvent, Channel, ChannelPlugin, Notification, SendError, fmt_value};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::{http, render};

const KEYS: &[&str] = &["url", "body_template", "headers", "timeout_secs"];

/// The placeholders a `body_template` may use.
pub const PLACEHOLDERS: &[&str] = &[
    "agent_id",
    "metric",
    "value",
    "severity",
    "message",
    "threshold",
    "timestamp",
    "rule",
    "labels",
    "status",
];

/// The plugin for `type = "webhook"`.
///
/// Settings: `url` (required), `body_template` (optional, see
/// [`PLACEHOLDERS`]), `headers` (optional table of extra request headers),
/// `timeout_secs` (optional, default 10).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookPlugin;

/// A built webhook channel. `Debug` shows only the URL's scheme and host and
/// the header names: URLs and headers often carry keys.
pub struct WebhookChannel {
    name: String,
    url: Url,
    template: Option<String>,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("name", &self.name)
            .field("url", &http::redact(&self.url))
            .field("body_template", &self.template.is_some())
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl WebhookPlugin {
    fn parse(config: &ChannelConfig) -> Result<WebhookChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let url = http::url(config, "url")?;
        let template = config.optional_str("body_template")?.map(str::to_owned);
        if let Some(t) = &template {
            check_template(t).map_err(|p| ConfigError::channel(config, "body_template", p))?;
        }
        let mut headers = HeaderMap::new();
        match config.settings.get("headers") {
            None => {}
            Some(toml::Value::Table(table)) => {
                for (k, v) in table {
                    let field = format!("headers.{k}");
                    let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                        ConfigError::channel(config, &field, "is not a valid HTTP header name")
                    })?;
                    let toml::Value::String(v) = v else {
                        return Err(ConfigError::channel(config, &field, "must be a string"));
                    };
                    let mut value = HeaderValue::from_str(v).map_err(|_| {
                        ConfigError::channel(config, &field, "is not a valid HTTP header value")
                    })?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
            }
            Some(other) => {
                return Err(ConfigError::channel(
                    config,
                    "headers",
                    format!("must be a table of strings, got {}", other.type_str()),
                ));
            }
        }
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        let client = http::client(config, http::timeout(config)?)?;
        Ok(WebhookChannel {
            name: config.name.clone(),
            url,
            template,
            headers,
            client,
        })
    }
}

impl ChannelPlugin for WebhookPlugin {
    fn name(&self) -> &str {
        "webhook"
    }

    fn secret_settings(&self) -> &[&str] {
        &["url", "headers"]
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(Self::parse(config)?))
    }
}

/// Checks that every `{{...}}` is a known placeholder and that the template,
/// filled with sample values, is valid JSON.
fn check_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has an unclosed `{{`")?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{{{name}}}}}`, expected one of: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    let sample = Notification::single(AlertEvent {
        id: "sample".into(),
        rule: "rule".into(),
        series: oxmon_core::SeriesKey::new("agent", "metric", oxmon_core::Labels::new()),
        severity: oxmon_core::Severity::Warning,
        status: oxmon_core::AlertStatus::Firing,
        value: 1.5,
        threshold: Some(1.0),
        timestamp_ms: 0,
        fired_at_ms: 0,
        prediction: None,
        message: "a \"quoted\"\nmessage".into(),
    });
    let body = fill(t, &sample);
    serde_json::from_str::<serde_json::Value>(&body)
        .map(|_| ())
        .map_err(|e| {
            format!("does not produce valid JSON ({e}); put text placeholders inside quotes")
        })
}

/// The text of each placeholder for a notification. For several events:
/// distinct agents, metrics and rules joined by `, `, the highest severity,
/// the value and threshold of the most severe event, the latest time, and a
/// message made of the summary and every event's message.
fn field(name: &str, n: &Notification) -> String {
    let Some(top) = n.events.iter().max_by_key(|e| e.severity) else {
        return String::new();
    };
    let distinct = |f: fn(&AlertEvent) -> String| {
        let mut v: Vec<String> = n.events.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v.join(", ")
    };
    match name {
        "agent_id" => distinct(|e| e.agent_id().to_owned()),
        "metric" => distinct(|e| e.metric().to_owned()),
        "rule" => distinct(|e| e.rule.clone()),
        "labels" => distinct(|e| e.series.labels.to_string()),
        "value" => fmt_value(top.value),
        "threshold" => top.threshold.map(fmt_value).unwrap_or_default(),
        "severity" => n.severity().as_str().to_owned(),
        "status" => n.status().as_str().to_owned(),
        "timestamp" => oxmon_core::time::rfc3339_secs(
            n.events.iter().map(|e| e.timestamp_ms).max().unwrap_or(0),
        ),
        "message" => match render::summary(n) {
            None => top.message.clone(),
            Some(s) => {
                let msgs: Vec<&str> = n.events.iter().map(|e| e.message.as_str()).collect();
                format!("{s}\n{}", msgs.join("\n"))
            }
        },
        _ => String::new(),
    }
}

/// Fills a template; every value is JSON-escaped (without the surrounding
/// quotes), so it is safe inside a JSON string literal.
fn fill(t: &str, n: &Notification) -> String {
    let mut out = String::with_capacity(t.len() + 128);
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = field(after[..end].trim(), n);
        let quoted = serde_json::Value::String(value).to_string();
        out.push_str(&quoted[1..quoted.len() - 1]);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The default body: `{"title", "status", "severity", "count", "summary", "events": [...]}`
/// with every field of every event (see `render::event_json`).
fn default_body(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "title": crate::render::title(n),
        "status": n.status().as_str(),
        "severity": n.severity().as_str(),
        "count": n.events.len(),
        "summary": render::summary(n),
        "events": n.events.iter().map(render::event_json).collect::<Vec<_>>(),
    })
}

impl WebhookChannel {
    fn body(&self, n: &Notification) -> Result<serde_json::Value, SendError> {
        match &self.template {
            None => Ok(default_body(n)),
            Some(t) => serde_json::from_str(&fill(t, n)).map_err(|e| {
                SendError::permanent(format!("body_template produced invalid JSON: {e}"))
            }),
        }
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let body = self.body(notification)?;
        http::post_json(&self.client, self.url.clone(), self.headers.clone(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::Severity;
    use oxmon_core::testing::{T0, sample_event};

    use super::*;

    fn config(settings: &str) -> ChannelConfig {
        ChannelConfig::new("webhook", "hook", toml::from_str(settings).unwrap())
    }

    #[test]
    fn template_values_are_json_escaped() {
        let t = r#"{"text": "[{{severity}}] {{agent_id}}: {{message}}", "v": {{value}}, "th": "{{threshold}}", "l": "{{labels}}", "s": "{{status}}", "r": "{{rule}}", "m": "{{metric}}", "t": "{{timestamp}}"}"#;
        check_template(t).unwrap();
        let n = Notification::single(sample_event("1", "web-1", Severity::Critical, T0));
        let v: serde_json::Value = serde_json::from_str(&fill(t, &n)).unwrap();
        assert_eq!(
            v["text"],
            "[critical] web-1: disk \"/data\" is 97.25% full\nsecond line, ünïcödé ✓"
        );
        assert_eq!(v["v"], 97.25);
        assert_eq!(v["th"], "90");
        assert_eq!(v["l"], "{mount=\"/data\"}");
        assert_eq!(v["s"], "firing");
        assert_eq!(v["r"], "conformance-rule");
        assert_eq!(v["m"], "disk.used_percent");
        assert_eq!(v["t"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn bad_templates_and_headers_are_refused_naming_the_field() {
        for (settings, field) in [
            (
                "url = 'http://x/'\nbody_template = '{\"a\": \"{{agent}}\"}'",
                "body_template",
            ),
            (
                "url = 'http://x/'\nbody_template = '{\"a\": {{message}}}'",
                "body_template",
            ),
            (
                "url = 'http://x/'\nbody_template = '{{agent_id'",
                "body_template",
            ),
            (
                "url = 'http://x/'\n[headers]\n'bad header' = 'x'",
                "headers.bad header",
            ),
            ("url = 'http://x/'\nheaders = 'x'", "headers"),
            ("url = 'ftp://x/'", "url"),
            ("url = 'not a url'", "url"),
            ("url = 'http://x/'\ntimeout_secs = 0", "timeout_secs"),
        ] {
            let err = WebhookPlugin.validate(&config(settings)).unwrap_err();
            assert!(
                err.field.as_deref().unwrap().ends_with(field),
                "{settings}: {err}"
            );
            assert!(err.to_string().contains("`hook`"), "{err}");
        }
    }

    #[test]
    fn debug_hides_url_path_and_header_values() {
        let c = WebhookPlugin::parse(&config(
            "url = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET'\n[headers]\nAuthorization = 'Bearer topsecret'",
        ))
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("XXXXSECRET") && !d.contains("topsecret"), "{d}");
        assert!(
            d.contains("hooks.slack.com") && d.contains("authorization"),
            "{d}"
        );
    }
}
