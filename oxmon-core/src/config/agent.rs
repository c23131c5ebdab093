//! `agent.toml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Ctx, LogConfig, parse_toml, read_file};
use crate::secret::Secret;

/// The agent's configuration (`agent.toml`). Defaults are the spec's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Unique id of this host. When absent, the agent uses the host name.
    pub agent_id: Option<String>,
    /// The server's gRPC address, `host:port` or `http(s)://host:port`. Default `127.0.0.1:9090`.
    pub server_endpoint: String,
    /// Use TLS (rustls) for gRPC. Default `false`.
    pub tls: bool,
    /// Extra CA certificate (PEM) to trust, for servers with a private CA.
    pub tls_ca_file: Option<PathBuf>,
    /// Bearer token from the server's whitelist; required when the server
    /// has `require_agent_auth = true`.
    pub auth_token: Option<Secret>,
    /// Seconds between collections. Default 10.
    pub collection_interval_secs: u64,
    /// Batches kept while the server is unreachable; the oldest are dropped
    /// beyond it. Default 1000.
    pub buffer_max_size: usize,
    /// `[collectors]`: what to collect from.
    pub collectors: CollectorsConfig,
    /// `[log]`: the log filter and format.
    pub log: LogConfig,
}

/// Where the collectors read the system's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `Procfs` when the proc file system is readable at the configured
    /// `proc_root` (Linux), `Sysinfo` otherwise.
    #[default]
    Auto,
    /// The kernel's own files (`/proc/stat`, `/proc/meminfo`,
    /// `/proc/self/mountinfo` with `statvfs`, `/proc/net/dev`,
    /// `/proc/loadavg`, `/proc/uptime`): exact and the cheapest. Linux only.
    Procfs,
    /// The `sysinfo` crate: portable (macOS, Windows, BSDs). Disk "used" is
    /// then `total - available`, which counts blocks reserved for root as
    /// used (sysinfo does not expose the free block count).
    Sysinfo,
}

/// `[collectors]` of `agent.toml`: which disks and interfaces to report.
/// Patterns are globs (`*`, `?`, `[...]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CollectorsConfig {
    /// `auto` (the kernel's files on Linux, else sysinfo), `procfs` or `sysinfo`.
    pub backend: Backend,
    /// The proc file system, e.g. `/host/proc` for an agent in a container. Default `/proc`.
    pub proc_root: PathBuf,
    /// Mount points to report (empty: every mount that passes the other filters).
    pub disk_mounts_include: Vec<String>,
    /// Mount points never reported, e.g. `["/snap/*", "/boot/efi"]`.
    pub disk_mounts_exclude: Vec<String>,
    /// File-system types never reported. `None`: the built-in list of pseudo
    /// and network file systems (proc, sysfs, tmpfs, overlay, nfs, ...).
    pub disk_fs_types_exclude: Option<Vec<String>>,
    /// Interfaces to report (empty: all).
    pub interfaces_include: Vec<String>,
    /// Interfaces never reported, e.g. `["veth*", "docker*"]`.
    pub interfaces_exclude: Vec<String>,
    /// Report the loopback interface too. Default `false`.
    pub include_loopback: bool,
}

impl Default for CollectorsConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            proc_root: PathBuf::from("/proc"),
            disk_mounts_include: Vec::new(),
            disk_mounts_exclude: Vec::new(),
            disk_fs_types_exclude: None,
            interfaces_include: Vec::new(),
            interfaces_exclude: Vec::new(),
            include_loopback: false,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            agent_id: None,
            server_endpoint: "127.0.0.1:9090".to_owned(),
            tls: false,
            tls_ca_file: None,
            auth_token: None,
            collection_interval_secs: 10,
            buffer_max_size: 1000,
            collectors: CollectorsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Longest accepted agent id, in bytes.
pub const MAX_AGENT_ID_LEN: usize = 128;

impl AgentConfig {
    /// Reads and validates an `agent.toml`.
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
        let config: Self = parse_toml(text, origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks ranges and formats; `origin` names the source in errors.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let ctx = Ctx { file: origin };
        if let Some(id) = &self.agent_id {
            validate_agent_id(id).map_err(|p| ctx.err("agent_id", p))?;
        }
        validate_endpoint(&self.server_endpoint, self.tls)
            .map_err(|p| ctx.err("server_endpoint", p))?;
        ctx.at_least("collection_interval_secs", self.collection_interval_secs, 1)?;
        if self.collection_interval_secs > 86_400 {
            return Err(ctx.err(
                "collection_interval_secs",
                format!(
                    "must be at most 86400 (one day), got {}",
                    self.collection_interval_secs
                ),
            ));
        }
        ctx.at_least("buffer_max_size", self.buffer_max_size, 1)?;
        if let Some(token) = &self.auth_token
            && token.expose().trim().is_empty()
        {
            return Err(ctx.err("auth_token", "must not be empty (remove the key instead)"));
        }
        let c = &self.collectors;
        for (field, list) in [
            ("disk_mounts_include", &c.disk_mounts_include),
            ("disk_mounts_exclude", &c.disk_mounts_exclude),
            ("interfaces_include", &c.interfaces_include),
            ("interfaces_exclude", &c.interfaces_exclude),
        ] {
            for (i, pattern) in list.iter().enumerate() {
                super::rules::validate_glob(pattern)
                    .map_err(|p| ctx.err(format!("collectors.{field}[{i}]"), p))?;
            }
        }
        if self.tls_ca_file.is_some() && !self.tls {
            return Err(ctx.err(
                "tls_ca_file",
                "is set but `tls = false`; enable tls or remove it",
            ));
        }
        self.log.validate(ctx)?;
        Ok(())
    }

    /// The agent id to use: the configured one, else `hostname`.
    pub fn agent_id_or(&self, hostname: &str) -> String {
        self.agent_id.clone().unwrap_or_else(|| hostname.to_owned())
    }
}

/// Checks an agent id: 1 to 128 bytes, no whitespace or control characters.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_agent_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_AGENT_ID_LEN {
        return Err(format!(
            "must be at most {MAX_AGENT_ID_LEN} bytes, got {}",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| c.is_whitespace() || c.is_control()) {
        // The id may come from a client: shown escaped and cut short.
        return Err(format!(
            "`{}` contains the character {c:?}; use letters, digits, `-`, `_`, `.`",
            crate::text::untrusted(id)
        ));
    }
    Ok(())
}

fn validate_endpoint(endpoint: &str, tls: bool) -> Result<(), String> {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, endpoint),
    };
    match scheme {
        None => {}
        Some("https") => {}
        Some("http") if tls => {
            return Err(format!(
                "`{endpoint}` uses http:// but `tls = true`; use https:// or host:port"
            ));
        }
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "unsupported scheme `{other}` in `{endpoint}`, expected http or https"
            ));
        }
    }
    let authority = rest.trim_end_matches('/');
    let Some((host, port)) = authority.rsplit_once(':') else {
        return Err(format!(
            "`{endpoint}` has no port; expected host:port such as 127.0.0.1:9090"
        ));
    };
    if host.is_empty() {
        return Err(format!("`{endpoint}` has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "`{endpoint}`: port `{port}` is not a number in 1..=65535"
        )),
    }
}
