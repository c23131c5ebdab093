//! `[[remote_write]]`: destinations that receive every stored sample in
//! Prometheus remote write 1.0 (VictoriaMetrics, Prometheus, Mimir, Thanos,
//! Cortex, Grafana Cloud).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Ctx};
use crate::Secret;

/// One `[[remote_write]]` destination. `Debug` shows the URL without its
/// query and the headers' names only (either may carry a key).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteWriteConfig {
    /// The receiver's URL, such as `http://vm:8428/api/v1/write`.
    pub url: String,
    /// The destination's name: it keys the durable position, so renaming a
    /// destination starts it afresh. Default: the URL's host, port and path.
    #[serde(default)]
    pub name: Option<String>,
    /// `Authorization: Bearer` token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Extra request headers (such as `X-Scope-OrgID` for Mimir).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// PEM file of the CA certificates that sign an `https` receiver's
    /// certificate (in addition to the system's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Labels added to every series sent (such as `oxmon_server = "eu-1"`);
    /// a series' own label of the same name wins.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Only metrics matching one of these globs (oxmon names: `cpu.*`) are
    /// sent. Default: every metric.
    #[serde(default)]
    pub metrics_allow: Vec<String>,
    /// Metrics matching one of these globs are not sent.
    #[serde(default)]
    pub metrics_deny: Vec<String>,
    /// Most samples in one request. Default 2,000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest a stored sample waits for a fuller request, ms. Default 5,000.
    #[serde(default = "default_send_deadline_ms")]
    pub send_deadline_ms: u64,
    /// Requests in flight at once. Default 4.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds one request may take. Default 30.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Longest wait between retries of a failed request, ms (backoff
    /// doubles from 100 ms; a `Retry-After` is honoured up to 10 minutes).
    /// Default 30,000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// After the receiver could not be reached (and when the server
    /// starts), what was stored this many seconds before the last accepted
    /// request is sent again: a receiver that crashed loses what it had
    /// acknowledged but not yet written (VictoriaMetrics 1.79 writes its
    /// files every 5 s, so a SIGKILL loses up to about 12 s). Receivers take
    /// a re-sent sample as the same sample (VictoriaMetrics with
    /// `-dedup.minScrapeInterval`, Prometheus, Mimir). 0 turns it off.
    /// Default 15.
    #[serde(default = "default_resend_secs")]
    pub resend_secs: u64,
}

/// `basic_auth = { username = "...", password = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.split(['?', '#']).next().unwrap_or("");
        f.debug_struct("RemoteWriteConfig")
            .field("url", &url)
            .field("name", &self.name)
            .field("bearer_token", &self.bearer_token)
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("ca_file", &self.ca_file)
            .field("external_labels", &self.external_labels)
            .field("metrics_allow", &self.metrics_allow)
            .field("metrics_deny", &self.metrics_deny)
            .field("batch_size", &self.batch_size)
            .field("send_deadline_ms", &self.send_deadline_ms)
            .field("concurrency", &self.concurrency)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .field("resend_secs", &self.resend_secs)
            .finish()
    }
}

/// Most samples one read of the change log holds (`batch_size ×
/// concurrency`): what a destination keeps in memory at once.
pub(crate) const MAX_SAMPLES_IN_FLIGHT: usize = 400_000;

fn default_batch_size() -> usize {
    2_000
}
fn default_send_deadline_ms() -> u64 {
    5_000
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_resend_secs() -> u64 {
    15
}

impl RemoteWriteConfig {
    /// A destination with every default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: None,
            bearer_token: None,
            basic_auth: None,
            headers: BTreeMap::new(),
            ca_file: None,
            external_labels: BTreeMap::new(),
            metrics_allow: Vec::new(),
            metrics_deny: Vec::new(),
            batch_size: default_batch_size(),
            send_deadline_ms: default_send_deadline_ms(),
            concurrency: default_concurrency(),
            timeout_secs: default_timeout_secs(),
            max_backoff_ms: default_max_backoff_ms(),
            resend_secs: default_resend_secs(),
        }
    }

    /// The name keying the destination's position: `name`, or the URL
    /// without scheme, credentials, query and fragment.
    pub fn destination_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.trim_end_matches('/').to_owned()
    }

    pub(crate) fn validate(&self, ctx: Ctx<'_>, i: usize) -> Result<(), ConfigError> {
        let field = |f: &str| format!("remote_write[{i}].{f}");
        let Some(("http" | "https", rest)) = self.url.split_once("://") else {
            return Err(ctx.err(
                field("url"),
                "must be an http:// or https:// URL, such as http://127.0.0.1:8428/api/v1/write",
            ));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.contains('@') {
            return Err(ctx.err(
                field("url"),
                "must name a host and carry no credentials (use basic_auth or bearer_token)",
            ));
        }
        let name = self.destination_name();
        if name.is_empty()
            || name.len() > 200
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-[]".contains(c))
        {
            return Err(ctx.err(
                field("name"),
                "must be 1 to 200 characters of letters, digits and . _ : / - [ ]",
            ));
        }
        if self.bearer_token.is_some() && self.basic_auth.is_some() {
            return Err(ctx.err(field("bearer_token"), "and basic_auth cannot both be set"));
        }
        for (k, v) in &self.headers {
            let token = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token || v.bytes().any(|b| (b < 0x20 && b != b'\t') || b >= 0x7f) {
                return Err(ctx.err(
                    field(&format!("headers.{k}")),
                    "is not a valid HTTP header name and value",
                ));
            }
            let lower = k.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "content-type"
                    | "content-encoding"
                    | "content-length"
                    | "host"
                    | "x-prometheus-remote-write-version"
            ) || (lower == "authorization"
                && (self.bearer_token.is_some() || self.basic_auth.is_some()))
            {
                return Err(ctx.err(
                    field(&format!("headers.{k}")),
                    "is set by remote write itself",
                ));
            }
        }
        for k in self.external_labels.keys() {
            let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with("__");
            if !ok {
                return Err(ctx.err(
                    field(&format!("external_labels.{k}")),
                    "must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                ));
            }
        }
        if !(1..=100_000).contains(&self.batch_size) {
            return Err(ctx.err(
                field("batch_size"),
                format!("must be 1 to 100000, got {}", self.batch_size),
            ));
        }
        if self.send_deadline_ms > 60_000 {
            return Err(ctx.err(
                field("send_deadline_ms"),
                format!("must be at most 60000, got {}", self.send_deadline_ms),
            ));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(ctx.err(
                field("concurrency"),
                format!("must be 1 to 64, got {}", self.concurrency),
            ));
        }
        if self.batch_size.saturating_mul(self.concurrency) > MAX_SAMPLES_IN_FLIGHT {
            return Err(ctx.err(
                field("batch_size"),
                format!(
                    "times concurrency ({} × {}) is more than {MAX_SAMPLES_IN_FLIGHT} samples held at once",
                    self.batch_size, self.concurrency
                ),
            ));
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err(ctx.err(
                field("timeout_secs"),
                format!("must be 1 to 300, got {}", self.timeout_secs),
            ));
        }
        if !(100..=600_000).contains(&self.max_backoff_ms) {
            return Err(ctx.err(
                field("max_backoff_ms"),
                format!("must be 100 to 600000, got {}", self.max_backoff_ms),
            ));
        }
        if self.resend_secs > 600 {
            return Err(ctx.err(
                field("resend_secs"),
                format!("must be at most 600, got {}", self.resend_secs),
            ));
        }
        Ok(())
    }
}

/// Checks every destination and that their names differ.
pub(crate) fn validate_all(list: &[RemoteWriteConfig], ctx: Ctx<'_>) -> Result<(), ConfigError> {
    for (i, rw) in list.iter().enumerate() {
        rw.validate(ctx, i)?;
        let name = rw.destination_name();
        if list[..i].iter().any(|o| o.destination_name() == name) {
            return Err(ctx.err(
                format!("remote_write[{i}].name"),
                format!("`{name}` names another destination too; give each a distinct name"),
            ));
        }
    }
    Ok(())
}
