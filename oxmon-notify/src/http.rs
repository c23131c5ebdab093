//! What the web channels (webhook, sms, dingtalk, weixin) share: settings,
//! the HTTP client, response classification and URL redaction.

use std::time::Duration;

use oxmon_core::SendError;
use oxmon_core::config::{ChannelConfig, ConfigError};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

/// Request timeout when the channel sets no `timeout_secs`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `Retry-After` honoured; a far end asking for more gets this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The optional `timeout_secs` setting (1 to 300, default 10).
pub(crate) fn timeout(config: &ChannelConfig) -> Result<Duration, ConfigError> {
    match config.optional_int("timeout_secs")? {
        None => Ok(DEFAULT_TIMEOUT),
        Some(s @ 1..=300) => Ok(Duration::from_secs(s.unsigned_abs())),
        Some(s) => Err(ConfigError::channel(
            config,
            "timeout_secs",
            format!("must be between 1 and 300 seconds, got {s}"),
        )),
    }
}

/// A required `http` or `https` URL with a host.
pub(crate) fn url(config: &ChannelConfig, field: &str) -> Result<Url, ConfigError> {
    let text = config.required_str(field)?;
    // Never echo the URL: webhook URLs carry their access key.
    let url = Url::parse(text.trim())
        .map_err(|e| ConfigError::channel(config, field, format!("is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::channel(
            config,
            field,
            format!(
                "must be an http:// or https:// URL with a host, got scheme `{}`",
                url.scheme()
            ),
        ));
    }
    Ok(url)
}

/// An HTTP client whose every request (connect included) ends within `timeout`.
pub(crate) fn client(
    config: &ChannelConfig,
    timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("oxmon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ConfigError::channel(config, "type", format!("cannot create an HTTP client: {e}"))
        })
}

/// A URL with the key-bearing parts hidden, for `Debug` and logs:
/// `https://oapi.dingtalk.com/***` keeps scheme, host and port only.
pub(crate) fn redact(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}/***", url.scheme()),
        None => format!("{}://{host}/***", url.scheme()),
    }
}

/// Classifies a transport-level failure. The URL is stripped from the
/// message: it may hold the channel's key.
pub(crate) fn transport_error(e: reqwest::Error) -> SendError {
    let e = e.without_url();
    if e.is_builder() {
        SendError::permanent(format!("cannot build the request: {e}"))
    } else if e.is_timeout() {
        SendError::retryable(format!("request timed out: {e}"))
    } else {
        SendError::retryable(format!("request failed: {e}"))
    }
}

/// How long a `Retry-After` header asks to wait: delta-seconds, or an HTTP
/// date measured against the response's own `Date` header (so no local
/// clock is read). Capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
        let now = jiff::fmt::rfc2822::parse(date).ok()?.timestamp();
        let ms = at
            .as_millisecond()
            .saturating_sub(now.as_millisecond())
            .max(0);
        Duration::from_millis(ms.unsigned_abs())
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Sorts an HTTP status into success, retryable (5xx, 429, 408) or permanent
/// (other 4xx and anything unexpected). `body` is quoted, shortened, in the error.
pub(crate) fn check_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("HTTP {status}: {}", snippet(body));
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Err(match retry_after(headers) {
            Some(after) => SendError::retry_after(message, after),
            None => SendError::retryable(message),
        })
    } else {
        Err(SendError::permanent(message))
    }
}

/// POSTs a JSON body and classifies the answer; returns the response body on 2xx.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: Url,
    headers: HeaderMap,
    body: &serde_json::Value,
) -> Result<String, SendError> {
    let response = client
        .post(url)
        .headers(headers)
        .json(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(transport_error)?;
    check_status(status, &headers, &text)?;
    Ok(text)
}

/// Checks the `{"errcode": 0, "errmsg": "ok"}` answer of the DingTalk and WeCom
/// robots, which report failures with HTTP 200. Codes in `retryable` (rate
/// limits, "system busy") are worth retrying; others are permanent.
#[cfg(any(feature = "dingtalk", feature = "weixin"))]
pub(crate) fn check_errcode(body: &str, retryable: &[i64]) -> Result<(), SendError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| {
        SendError::retryable(format!("unexpected answer (not JSON): {}", snippet(body)))
    })?;
    let Some(code) = value.get("errcode").and_then(serde_json::Value::as_i64) else {
        return Err(SendError::retryable(format!(
            "answer without errcode: {}",
            snippet(body)
        )));
    };
    if code == 0 {
        return Ok(());
    }
    let msg = value
        .get("errmsg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let message = format!("errcode {code}: {}", snippet(msg));
    if retryable.contains(&code) {
        Err(SendError::retryable(message))
    } else {
        Err(SendError::permanent(message))
    }
}

/// At most 200 bytes of a response body, cut on a character boundary.
pub(crate) fn snippet(body: &str) -> &str {
    crate::render::truncate_utf8(body.trim(), 200)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{DATE, HeaderValue};

    use super::*;

    #[test]
    fn status_classification() {
        let h = HeaderMap::new();
        assert!(check_status(StatusCode::OK, &h, "").is_ok());
        assert!(
            check_status(StatusCode::BAD_GATEWAY, &h, "")
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            !check_status(StatusCode::FORBIDDEN, &h, "no")
                .unwrap_err()
                .is_retryable()
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let err = check_status(StatusCode::TOO_MANY_REQUESTS, &h, "slow down").unwrap_err();
        assert_eq!(
            err.kind,
            oxmon_core::SendErrorKind::Retryable {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(err.message.contains("429") && err.message.contains("slow down"));
    }

    #[test]
    fn retry_after_as_a_date_is_measured_against_the_date_header() {
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&h), None, "no Date header: no reference");
        h.insert(
            DATE,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[cfg(any(feature = "dingtalk", feature = "weixin"))]
    #[test]
    fn errcode_classification() {
        assert!(check_errcode(r#"{"errcode":0,"errmsg":"ok"}"#, &[]).is_ok());
        let e = check_errcode(r#"{"errcode":310000,"errmsg":"sign not match"}"#, &[130101])
            .unwrap_err();
        assert!(
            !e.is_retryable() && e.message.contains("sign not match"),
            "{e:?}"
        );
        assert!(
            check_errcode(r#"{"errcode":130101,"errmsg":"too fast"}"#, &[130101])
                .unwrap_err()
                .is_retryable()
        );
        assert!(check_errcode("<html>", &[]).unwrap_err().is_retryable());
    }

    #[test]
    fn redaction_keeps_only_scheme_and_host() {
        let u =
            Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY").unwrap();
        assert_eq!(redact(&u), "https://qyapi.weixin.qq.com/***");
        let u = Url::parse("http://127.0.0.1:8080/hook/abc").unwrap();
        assert_eq!(redact(&u), "http://127.0.0.1:8080/***");
    }
}
