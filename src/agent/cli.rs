//! What the reference agent program (`examples/agent.rs`) needs beyond the
//! runtime: its arguments, its configuration, its `--once` mode.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxmon_collector::{CollectorOptions, default_collectors};
use oxmon_core::SystemClock;
use oxmon_core::config::{AgentConfig, ConfigError, validate_agent_id};

use super::once::{collect_once, write_json_lines};

/// How to call the agent program.
pub const USAGE: &str = "usage: agent [CONFIG] [--once]

  CONFIG   agent.toml (default: built-in defaults: agent id = host name,
           server 127.0.0.1:9090)
  --once   print one collection as JSON lines on stdout and exit, without
           contacting a server
  Logs go to stderr as [log] in agent.toml says (level, format);
  RUST_LOG overrides the level (default: info)";

/// The agent program's command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AgentArgs {
    /// The configuration file, if given.
    pub config: Option<PathBuf>,
    /// `--once`: print one collection and exit.
    pub once: bool,
    /// `--help`: print [`USAGE`] and exit.
    pub help: bool,
}

impl AgentArgs {
    /// Parses the arguments (without the program name).
    ///
    /// # Errors
    /// A message for an unknown option or a second file name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut out = AgentArgs::default();
        for arg in args {
            match arg.to_str() {
                Some("--once") => out.once = true,
                Some("-h" | "--help") => out.help = true,
                Some(s) if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
                _ if out.config.is_some() => {
                    return Err(format!(
                        "more than one configuration file (`{}`)",
                        arg.to_string_lossy()
                    ));
                }
                _ => out.config = Some(PathBuf::from(arg)),
            }
        }
        Ok(out)
    }
}

/// Loads `path`, or the built-in defaults when there is none.
///
/// # Errors
/// The [`ConfigError`] naming the file, the field and the problem.
pub fn load_config(path: Option<&Path>) -> Result<AgentConfig, ConfigError> {
    match path {
        Some(p) => AgentConfig::load(p),
        None => Ok(AgentConfig::default()),
    }
}

/// The agent id to report under: the configured one, else the host name
/// (`localhost` when even that is unknown).
///
/// # Errors
/// A message when the host name is not a valid agent id (set `agent_id`).
pub fn agent_id(config: &AgentConfig) -> Result<String, String> {
    let host = oxmon_collector::host_name().unwrap_or_else(|| "localhost".to_owned());
    let id = config.agent_id_or(&host);
    validate_agent_id(&id)
        .map_err(|p| format!("agent id from the host name: {p}; set `agent_id` in agent.toml"))?;
    Ok(id)
}

/// `--once`: collects with the collectors `options` describes, waits `gap`
/// for the second reading that rates and CPU usage need, writes the second
/// collection to `out` as JSON lines (see [`write_json_lines`]). Collector
/// failures are logged; the other collectors' samples are still written.
///
/// # Errors
/// The writer's I/O error.
pub fn print_once(
    agent_id: &str,
    options: &CollectorOptions,
    gap: Duration,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut collectors = default_collectors(options);
    let (samples, failures) = collect_once(&mut collectors, agent_id, &SystemClock, gap);
    for f in failures {
        tracing::warn!(collector = %f.collector, error = %f.message, "collector failed");
    }
    write_json_lines(&samples, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<AgentArgs, String> {
        AgentArgs::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]).unwrap(), AgentArgs::default());
        let a = parse(&["/etc/oxmon/agent.toml", "--once"]).unwrap();
        assert_eq!(
            a.config.as_deref(),
            Some(Path::new("/etc/oxmon/agent.toml"))
        );
        assert!(a.once && !a.help);
        assert!(parse(&["--help"]).unwrap().help);
        assert!(parse(&["--oops"]).unwrap_err().contains("--oops"));
        assert!(parse(&["a.toml", "b.toml"]).unwrap_err().contains("b.toml"));
    }

    #[test]
    fn a_bad_config_names_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "collection_interval_secs = 0\n").unwrap();
        let err = load_config(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("agent.toml") && err.contains("collection_interval_secs"),
            "{err}"
        );
        assert_eq!(load_config(None).unwrap(), AgentConfig::default());
    }

    #[test]
    fn the_agent_id_defaults_to_the_host_name() {
        let mut c = AgentConfig::default();
        let id = agent_id(&c).unwrap();
        assert!(!id.is_empty());
        c.agent_id = Some("web-01".into());
        assert_eq!(agent_id(&c).unwrap(), "web-01");
    }
}

/// The collector options `agent.toml`'s `[collectors]` section asks for.
pub fn collector_options(config: &oxmon_core::config::CollectorsConfig) -> CollectorOptions {
    let mut o = CollectorOptions::default();
    o.backend = match config.backend.as_str() {
        "procfs" => oxmon_collector::Backend::Procfs,
        "sysinfo" => oxmon_collector::Backend::Sysinfo,
        _ => oxmon_collector::Backend::Auto,
    };
    o.proc_root.clone_from(&config.proc_root);
    o.disk_mounts_include
        .clone_from(&config.disk_mounts_include);
    o.disk_mounts_exclude
        .clone_from(&config.disk_mounts_exclude);
    if let Some(types) = &config.disk_fs_types_exclude {
        o.disk_fs_types_exclude.clone_from(types);
    }
    o.interfaces_include.clone_from(&config.interfaces_include);
    o.interfaces_exclude.clone_from(&config.interfaces_exclude);
    o.include_loopback = config.include_loopback;
    o
}

#[cfg(test)]
mod collector_option_tests {
    use super::*;

    #[test]
    fn the_collectors_section_reaches_the_collectors() {
        let config = AgentConfig::from_toml(
            "[collectors]\nbackend = \"sysinfo\"\ninterfaces_exclude = [\"veth*\"]\ninclude_loopback = true\ndisk_fs_types_exclude = [\"tmpfs\"]",
            "agent.toml",
        )
        .unwrap();
        let o = collector_options(&config.collectors);
        assert_eq!(o.backend, oxmon_collector::Backend::Sysinfo);
        assert_eq!(o.interfaces_exclude, ["veth*"]);
        assert!(o.include_loopback);
        assert_eq!(o.disk_fs_types_exclude, ["tmpfs"]);
        let d = collector_options(&AgentConfig::default().collectors);
        assert_eq!(
            d.disk_fs_types_exclude,
            CollectorOptions::default().disk_fs_types_exclude
        );
    }
}
