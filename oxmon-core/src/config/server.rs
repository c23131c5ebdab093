//! `server.toml`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::inhibit::InhibitRule;
use super::notification::RawNotification;
use super::remote_write::RemoteWriteConfig;
use super::rules::validate_rule;
use super::{
    AuthConfig, ConfigError, Ctx, LogConfig, NotificationConfig, RuleConfig, parse_toml, read_file,
};

/// The server's configuration (`server.toml`). Defaults are the spec's.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// gRPC port for agents. Default 9090 (0 picks a free port).
    pub grpc_port: u16,
    /// REST API port. Default 8080 (0 picks a free port).
    pub http_port: u16,
    /// Address the gRPC server binds. Default `0.0.0.0` (agents are remote).
    pub grpc_bind: IpAddr,
    /// Address the REST API binds. Default `0.0.0.0`.
    pub http_bind: IpAddr,
    /// Certificate and key for gRPC over TLS; plaintext when absent.
    pub grpc_tls: Option<TlsFiles>,
    /// Where the SQLite files live. Default `data`.
    pub data_dir: PathBuf,
    /// Days of metric data kept. Default 7.
    pub retention_days: u32,
    /// Only whitelisted agents with their token may report. Default `false`:
    /// anyone who reaches the gRPC port can write metrics.
    pub require_agent_auth: bool,
    /// `[auth]`: REST API login.
    pub auth: AuthConfig,
    /// `[alert]`: the rules.
    pub alert: AlertConfig,
    /// `[notification]`: channels, silence windows, aggregation.
    pub notification: NotificationConfig,
    /// `[cert_check]`: certificate monitoring.
    pub cert_check: CertCheckConfig,
    /// `[local_agent]`: an agent inside the server process, for the host it runs on.
    pub local_agent: LocalAgentConfig,
    /// `[ingest]`: limits on what agents may send.
    pub ingest: IngestConfig,
    /// `[limits]`: connections and timeouts of the two listeners.
    pub limits: LimitsConfig,
    /// Origins allowed to call the REST API from a browser (CORS), such as
    /// `https://ops.example.com`, or `*`. Default: none (CORS off).
    pub cors_allowed_origins: Vec<String>,
    /// `[log]`: the log filter and format.
    pub log: LogConfig,
    /// `[[remote_write]]`: destinations that receive every stored sample
    /// (Prometheus remote write). Default: none.
    pub remote_write: Vec<RemoteWriteConfig>,
}

/// `[ingest]`: limits on what one batch may carry. Batches over a limit are
/// refused with INVALID_ARGUMENT or RESOURCE_EXHAUSTED (agents drop them
/// instead of re-sending); samples outside the time range are refused one
/// by one and counted in the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct IngestConfig {
    /// Most samples in one batch. Default 10,000 (an agent's collection is
    /// 60 to a few hundred). Counted on the wire before anything is decoded.
    pub max_samples_per_batch: usize,
    /// Longest metric name, bytes. Default 256.
    pub max_metric_name_len: usize,
    /// Most labels on one sample. Default 32.
    pub max_labels: usize,
    /// Longest label name, bytes. Default 128.
    pub max_label_name_len: usize,
    /// Longest label value, bytes. Default 1024.
    pub max_label_value_len: usize,
    /// Samples further in the future are refused, seconds. Default 600.
    pub max_future_secs: u64,
    /// Largest gRPC message, bytes, after decompression: a small compressed
    /// body cannot inflate past it. Default 4 MiB.
    pub max_message_bytes: usize,
    /// Most series one agent may have; a batch that would create more is
    /// refused with RESOURCE_EXHAUSTED, existing series keep flowing.
    /// Default 10,000.
    pub max_series_per_agent: usize,
    /// Most series in the whole store, same behaviour. Default 1,000,000.
    pub max_series: usize,
    /// Batches waiting for the storage writer, and stored batches waiting for
    /// the alert engine, at most (each queue). When either is full, ingest
    /// answers UNAVAILABLE and agents keep their batches. Default 1,024.
    pub max_queued_batches: usize,
    /// Group commit window, ms: batches arriving within it are written in one
    /// transaction (one WAL write and fsync), each acknowledged when it
    /// commits. Default 50; 0 commits each at once. Larger saves CPU and disk
    /// writes with many agents, and slows a single agent re-sending its
    /// buffer one batch at a time.
    pub commit_window_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_samples_per_batch: 10_000,
            max_metric_name_len: 256,
            max_labels: 32,
            max_label_name_len: 128,
            max_label_value_len: 1024,
            max_future_secs: 600,
            max_message_bytes: 4 * 1024 * 1024,
            max_series_per_agent: 10_000,
            max_series: 1_000_000,
            max_queued_batches: 1_024,
            commit_window_ms: 50,
        }
    }
}

/// `[limits]`: what the REST and gRPC listeners accept. A connection over
/// a limit is closed at once; a connection that moves no bytes for the idle
/// timeout is closed. `0` turns a count limit off. `docs/security.md`
/// explains each.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// REST connections open at once. Default 512.
    pub http_max_connections: usize,
    /// REST connections open at once from one address. Default 64.
    pub http_max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers. Default 10.
    pub http_header_timeout_secs: u64,
    /// Seconds a REST connection may move no bytes before it is closed;
    /// never less than `http_request_timeout_secs` (a request being handled
    /// moves no bytes). Idle HTTP/1 connections also close after
    /// `http_header_timeout_secs` waiting for their next request. Default 60.
    pub http_idle_timeout_secs: u64,
    /// Seconds a REST request may take before it is answered 503. Default 60.
    pub http_request_timeout_secs: u64,
    /// gRPC connections open at once (one per agent). Default 4,096.
    pub grpc_max_connections: usize,
    /// gRPC connections open at once from one address. Default 0 (no limit:
    /// agents behind one NAT share an address).
    pub grpc_max_connections_per_address: usize,
    /// Seconds a gRPC connection may move no bytes before it is closed
    /// (agents report every few seconds and reconnect); never less than
    /// `grpc_request_timeout_secs`. Default 300.
    pub grpc_idle_timeout_secs: u64,
    /// Concurrent requests on one gRPC connection (HTTP/2 streams). Default 8.
    pub grpc_max_concurrent_streams: u32,
    /// Batches handled at once over all gRPC connections; more are answered
    /// UNAVAILABLE at once (agents retry). Default 64.
    pub grpc_max_concurrent_requests: usize,
    /// Seconds a gRPC request may take, body included. Default 30.
    pub grpc_request_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            http_max_connections: 512,
            http_max_connections_per_address: 64,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_request_timeout_secs: 60,
            grpc_max_connections: 4_096,
            grpc_max_connections_per_address: 0,
            grpc_idle_timeout_secs: 300,
            grpc_max_concurrent_streams: 8,
            grpc_max_concurrent_requests: 64,
            grpc_request_timeout_secs: 30,
        }
    }
}

/// `[local_agent]`: collects this host's metrics inside the server process
/// and ingests them without the network (and without agent auth: it is the
/// server itself).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LocalAgentConfig {
    /// Run it. Default `false` in a config file; the server's built-in
    /// defaults (no file) turn it on.
    pub enabled: bool,
    /// Its agent id. Default: the host name.
    pub agent_id: Option<String>,
    /// Seconds between collections. Default 10.
    pub collection_interval_secs: u64,
}

impl Default for LocalAgentConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            agent_id: None,
            collection_interval_secs: 10,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_port: 9090,
            http_port: 8080,
            grpc_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            http_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            grpc_tls: None,
            data_dir: PathBuf::from("data"),
            retention_days: 7,
            require_agent_auth: false,
            auth: AuthConfig::default(),
            alert: AlertConfig::default(),
            notification: NotificationConfig::default(),
            cert_check: CertCheckConfig::default(),
            local_agent: LocalAgentConfig::default(),
            ingest: IngestConfig::default(),
            limits: LimitsConfig::default(),
            cors_allowed_origins: Vec::new(),
            log: LogConfig::default(),
            remote_write: Vec::new(),
        }
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert_file: PathBuf,
    /// Private key, PEM.
    pub key_file: PathBuf,
}

/// `[alert]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertConfig {
    /// The rules, in file order.
    pub rules: Vec<RuleConfig>,
    /// `[[alert.inhibit]]`: alerts that keep others from being notified.
    pub inhibit: Vec<InhibitRule>,
    /// While a critical alert fires, a warning alert of the same series
    /// (another rule on the same disk, say) is not notified. Default `true`.
    pub critical_inhibits_warning: bool,
    /// While an agent is offline (an `agent_offline` rule fires), its
    /// other alerts are not notified. Default `true`.
    pub offline_inhibits_agent: bool,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            inhibit: Vec::new(),
            critical_inhibits_warning: true,
            offline_inhibits_agent: true,
        }
    }
}

/// `[cert_check]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CertCheckConfig {
    /// Run the certificate scheduler. Default `true`.
    pub enabled: bool,
    /// Seconds between checks of a domain without its own interval. Default 86400.
    pub default_interval_secs: u64,
    /// Seconds between scheduler ticks. Default 60.
    pub tick_secs: u64,
    /// TLS connect timeout per domain, seconds. Default 10.
    pub connect_timeout_secs: u64,
    /// Most checks at once. Default 10.
    pub max_concurrent: usize,
    /// Agent id of the `certificate.*` samples. Default `cert-checker`.
    pub agent_id: String,
    /// Extra CA certificates (PEM) trusted besides the bundled web roots.
    pub ca_file: Option<PathBuf>,
    /// Check domains that resolve to loopback, private (RFC 1918, fc00::/7),
    /// link-local or other non-global addresses. Default `true`, so
    /// internal certificates can be monitored. Whoever may add domains can
    /// then make the server connect to internal hosts and ports: set it to
    /// `false` on an internet-facing server. With `false`, such an IP
    /// address is refused when added, and a name resolving to one is
    /// refused at each check, before any connection.
    pub allow_private_targets: bool,
}

impl Default for CertCheckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_interval_secs: 86_400,
            tick_secs: 60,
            connect_timeout_secs: 10,
            max_concurrent: 10,
            agent_id: "cert-checker".to_owned(),
            ca_file: None,
            allow_private_targets: true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    grpc_port: Option<u16>,
    http_port: Option<u16>,
    grpc_bind: Option<IpAddr>,
    http_bind: Option<IpAddr>,
    grpc_tls_cert_file: Option<PathBuf>,
    grpc_tls_key_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    retention_days: Option<u32>,
    require_agent_auth: Option<bool>,
    /// The spec writes it at the top level; `[notification]` is accepted too.
    aggregation_window_secs: Option<u64>,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    alert: RawAlert,
    #[serde(default)]
    notification: RawNotification,
    #[serde(default)]
    cert_check: CertCheckConfig,
    #[serde(default)]
    local_agent: LocalAgentConfig,
    #[serde(default)]
    ingest: IngestConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    cors_allowed_origins: Vec<String>,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    remote_write: Vec<RemoteWriteConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    #[serde(default)]
    rules: Vec<toml::Table>,
    #[serde(default)]
    inhibit: Vec<InhibitRule>,
    critical_inhibits_warning: Option<bool>,
    offline_inhibits_agent: Option<bool>,
}

impl ServerConfig {
    /// Reads and validates a `server.toml`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the field and the problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        Self::from_toml(&read_file(path)?, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError`] naming `origin`, the field and the problem.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawServer = parse_toml(text, origin)?;
        let ctx = Ctx { file: origin };
        let d = ServerConfig::default();
        let grpc_tls = match (raw.grpc_tls_cert_file, raw.grpc_tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file,
                key_file,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ctx.err(
                    "grpc_tls_key_file",
                    "is required when grpc_tls_cert_file is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ctx.err(
                    "grpc_tls_cert_file",
                    "is required when grpc_tls_key_file is set",
                ));
            }
        };
        for (i, inhibit) in raw.alert.inhibit.iter().enumerate() {
            super::inhibit::validate_inhibit(inhibit, ctx, i)?;
        }
        let mut rules: Vec<RuleConfig> = Vec::with_capacity(raw.alert.rules.len());
        for (i, r) in raw.alert.rules.into_iter().enumerate() {
            let rule = validate_rule(r, ctx, i)?;
            if rules.iter().any(|other| other.name == rule.name) {
                return Err(ctx.err(
                    format!("alert.rules[{i}].name"),
                    format!(
                        "`{}` is used by another rule; names must be unique",
                        rule.name
                    ),
                ));
            }
            rules.push(rule);
        }
        let config = ServerConfig {
            grpc_port: raw.grpc_port.unwrap_or(d.grpc_port),
            http_port: raw.http_port.unwrap_or(d.http_port),
            grpc_bind: raw.grpc_bind.unwrap_or(d.grpc_bind),
            http_bind: raw.http_bind.unwrap_or(d.http_bind),
            grpc_tls,
            data_dir: raw.data_dir.unwrap_or(d.data_dir),
            retention_days: raw.retention_days.unwrap_or(d.retention_days),
            require_agent_auth: raw.require_agent_auth.unwrap_or(d.require_agent_auth),
            auth: raw.auth,
            alert: AlertConfig {
                rules,
                inhibit: raw.alert.inhibit,
                critical_inhibits_warning: raw.alert.critical_inhibits_warning.unwrap_or(true),
                offline_inhibits_agent: raw.alert.offline_inhibits_agent.unwrap_or(true),
            },
            notification: raw
                .notification
                .validate(ctx, raw.aggregation_window_secs)?,
            cert_check: raw.cert_check,
            local_agent: raw.local_agent,
            ingest: raw.ingest,
            limits: raw.limits,
            cors_allowed_origins: raw.cors_allowed_origins,
            log: raw.log,
            remote_write: raw.remote_write,
        };
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks ranges and cross-field rules; `origin` names the source in errors.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let ctx = Ctx { file: origin };
        if self.grpc_port != 0 && self.grpc_port == self.http_port {
            return Err(ctx.err(
                "http_port",
                format!("must differ from grpc_port ({})", self.grpc_port),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ctx.err("data_dir", "must not be empty"));
        }
        ctx.at_least("retention_days", self.retention_days, 1)?;
        self.auth.validate(ctx)?;
        let c = &self.cert_check;
        ctx.at_least(
            "cert_check.default_interval_secs",
            c.default_interval_secs,
            1,
        )?;
        ctx.at_least("cert_check.tick_secs", c.tick_secs, 1)?;
        ctx.at_least("cert_check.connect_timeout_secs", c.connect_timeout_secs, 1)?;
        ctx.at_least("cert_check.max_concurrent", c.max_concurrent, 1)?;
        super::agent::validate_agent_id(&c.agent_id)
            .map_err(|p| ctx.err("cert_check.agent_id", p))?;
        let la = &self.local_agent;
        if let Some(id) = &la.agent_id {
            super::agent::validate_agent_id(id).map_err(|p| ctx.err("local_agent.agent_id", p))?;
        }
        for (n, origin) in self.cors_allowed_origins.iter().enumerate() {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if origin != "*"
                && (!scheme_ok || origin.trim_end_matches('/').matches('/').count() != 2)
            {
                return Err(ctx.err(
                    format!("cors_allowed_origins[{n}]"),
                    format!("`{origin}` is not an origin; expected `*` or scheme://host[:port] such as https://ops.example.com"),
                ));
            }
        }
        let i = &self.ingest;
        ctx.at_least("ingest.max_samples_per_batch", i.max_samples_per_batch, 1)?;
        ctx.at_least("ingest.max_metric_name_len", i.max_metric_name_len, 1)?;
        ctx.at_least("ingest.max_label_name_len", i.max_label_name_len, 1)?;
        ctx.at_least("ingest.max_message_bytes", i.max_message_bytes, 1024)?;
        ctx.at_least("ingest.max_series_per_agent", i.max_series_per_agent, 1)?;
        ctx.at_least("ingest.max_series", i.max_series, 1)?;
        ctx.at_least("ingest.max_queued_batches", i.max_queued_batches, 1)?;
        let l = &self.limits;
        ctx.at_least(
            "limits.http_header_timeout_secs",
            l.http_header_timeout_secs,
            1,
        )?;
        ctx.at_least("limits.http_idle_timeout_secs", l.http_idle_timeout_secs, 1)?;
        ctx.at_least(
            "limits.http_request_timeout_secs",
            l.http_request_timeout_secs,
            1,
        )?;
        ctx.at_least("limits.grpc_idle_timeout_secs", l.grpc_idle_timeout_secs, 1)?;
        ctx.at_least(
            "limits.grpc_max_concurrent_streams",
            l.grpc_max_concurrent_streams,
            1,
        )?;
        ctx.at_least(
            "limits.grpc_max_concurrent_requests",
            l.grpc_max_concurrent_requests,
            1,
        )?;
        ctx.at_least(
            "limits.grpc_request_timeout_secs",
            l.grpc_request_timeout_secs,
            1,
        )?;
        super::remote_write::validate_all(&self.remote_write, ctx)?;
        if i.commit_window_ms > 1000 {
            return Err(ctx.err(
                "ingest.commit_window_ms",
                format!(
                    "{} is more than 1000 ms (every acknowledgement would wait that long)",
                    i.commit_window_ms
                ),
            ));
        }
        ctx.at_least(
            "local_agent.collection_interval_secs",
            la.collection_interval_secs,
            1,
        )?;
        self.log.validate(ctx)?;
        Ok(())
    }
}
