//! One destination's HTTP side: the client (timeouts, CA, authentication,
//! headers), one POST and what its answer means, and the retry backoff.

use std::time::Duration;

use oxmon_core::config::{ConfigError, RemoteWriteConfig};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Most bytes of a refusal's body kept for the error.
const ERROR_BODY: usize = 512;

/// Why a request was not accepted.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Try again (after the given wait when the receiver named one).
    Retry(String, Option<Duration>),
    /// The receiver could not be reached (refused, reset, timed out, or a
    /// proxy in front of it answered 502, 503 or 504): try again, and
    /// suspect it lost what it acknowledged last.
    Unreachable(String, Option<Duration>),
    /// The receiver will never take this request.
    Permanent(String),
}

#[derive(Debug)]
pub(crate) struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    pub(crate) max_backoff: Duration,
}

impl Sender {
    pub(crate) fn new(
        config: &RemoteWriteConfig,
        file: &str,
        index: usize,
    ) -> Result<Self, ConfigError> {
        let err =
            |f: &str, p: String| ConfigError::field(file, format!("remote_write[{index}].{f}"), p);
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| err("url", format!("is not a valid URL ({e})")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            reqwest::header::CONTENT_ENCODING,
            HeaderValue::from_static("snappy"),
        );
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| err(&format!("headers.{k}"), e.to_string()))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|e| err(&format!("headers.{k}"), e.to_string()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let auth = match (&config.bearer_token, &config.basic_auth) {
            (Some(token), _) => Some(format!("Bearer {}", token.expose())),
            (None, Some(basic)) => {
                use base64::Engine as _;
                let pair = format!("{}:{}", basic.username, basic.password.expose());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, None) => None,
        };
        if let Some(auth) = auth {
            let mut value = HeaderValue::from_str(&auth)
                .map_err(|_| err("bearer_token", "holds characters a header cannot".into()))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let timeout = Duration::from_secs(config.timeout_secs);
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("oxmon/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .pool_max_idle_per_host(config.concurrency)
            // A redirect would turn the POST into a GET, or carry the
            // extra headers to another host: a 3xx is an error to fix.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| err("ca_file", format!("{}: cannot read: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                err(
                    "ca_file",
                    format!("{}: not PEM certificates: {e}", ca.display()),
                )
            })?;
            if certs.is_empty() {
                return Err(err(
                    "ca_file",
                    format!("{}: holds no certificate", ca.display()),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
            .build()
            .map_err(|e| err("url", format!("cannot create an HTTP client: {e}")))?;
        Ok(Self {
            client,
            url,
            max_backoff: Duration::from_millis(config.max_backoff_ms),
        })
    }

    /// POSTs one encoded request.
    pub(crate) async fn post(&self, body: Vec<u8>) -> Result<(), Failure> {
        let response = self
            .client
            .post(self.url.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Without the URL: it may carry a tenant or key in its path.
                Failure::Unreachable(format!("request failed: {}", e.without_url()), None)
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(response.headers());
        let text = error_text(response).await;
        // Quoted with escapes: the receiver's text is not ours to log raw.
        let message = format!("HTTP {status}: {text:?}");
        Err(match status.as_u16() {
            // The receiver read the samples and will never take them.
            400 | 409 | 422 => Failure::Permanent(message),
            502..=504 => Failure::Unreachable(message, after),
            // 429, 5xx, and what a fix of the configuration or the
            // receiver cures (401, 403, 404, 413, 3xx, ...): kept and
            // retried; the lag shows it.
            _ => Failure::Retry(message, after),
        })
    }
}

/// The start of an error answer's body, read no further than
/// `ERROR_BODY` bytes.
async fn error_text(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(ERROR_BODY - body.len())]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `Retry-After` in delta-seconds (what receivers send), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Exponential backoff from 100 ms, doubling up to a cap.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_millis(100).min(max),
            max,
        }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }

    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(100).min(self.max);
    }
}
