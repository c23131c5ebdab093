//! Log output of both programs: one `tracing` subscriber, set up from the
//! `[log]` section of `server.toml` or `agent.toml`.
//!
//! Lines go to stderr, as text (colours only on a terminal) or as one JSON
//! object per line. The environment variable `RUST_LOG`, when set and not
//! empty, replaces `[log] level`; a `RUST_LOG` that does not parse is
//! reported in the log and the configured level is used instead.

use std::io::IsTerminal;

use oxmon_core::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// The environment variable that overrides `[log] level`.
pub const ENV_VAR: &str = "RUST_LOG";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// `[log] level` is not a valid filter. A loaded configuration has been
    /// validated already, so this only happens to a [`LogConfig`] built in code.
    #[error("field `log.level`: {0}")]
    Level(String),
    /// A global subscriber was installed before.
    #[error("cannot install the log subscriber: {0}")]
    AlreadySet(String),
}

/// Installs the global subscriber for `config`, honouring `RUST_LOG`.
/// Call once, at start, after the configuration has loaded.
///
/// # Errors
/// [`LogError::Level`] for an invalid `config.level`,
/// [`LogError::AlreadySet`] when a subscriber is already installed.
pub fn init(config: &LogConfig) -> Result<(), LogError> {
    let from_env = std::env::var(ENV_VAR).ok();
    let (filter, env_problem) = filter(config, from_env.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        // `LogFormat` is non-exhaustive; text is the fallback.
        _ => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    installed.map_err(|e| LogError::AlreadySet(e.to_string()))?;
    if let Some(problem) = env_problem {
        tracing::warn!("{problem}");
    }
    Ok(())
}

/// The filter to use: `rust_log` when it is set, not empty and valid, else
/// `config.level`. The second value describes an invalid `rust_log` that was
/// ignored.
///
/// # Errors
/// [`LogError::Level`] when `config.level` is needed and invalid.
fn filter(
    config: &LogConfig,
    rust_log: Option<&str>,
) -> Result<(EnvFilter, Option<String>), LogError> {
    let mut problem = None;
    if let Some(env) = rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        match EnvFilter::builder().parse(env) {
            Ok(f) => return Ok((f, None)),
            Err(e) => {
                problem = Some(format!(
                    "{ENV_VAR}=`{env}` is not a valid log filter ({e}); using [log] level `{}`",
                    config.level
                ));
            }
        }
    }
    oxmon_core::config::validate_log_filter(&config.level).map_err(LogError::Level)?;
    let f = EnvFilter::builder()
        .parse(config.filter())
        .map_err(|e| LogError::Level(format!("`{}`: {e}", config.level)))?;
    Ok((f, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(level: &str) -> LogConfig {
        let mut c = LogConfig::default();
        c.level = level.to_owned();
        c
    }

    #[test]
    fn the_configured_level_is_used_without_rust_log() {
        for env in [None, Some(""), Some("  ")] {
            let (f, problem) = filter(&config("warn,oxmon=debug"), env).unwrap();
            let shown = f.to_string();
            assert!(
                shown.contains("oxmon=debug") && shown.contains("warn"),
                "{shown}"
            );
            assert_eq!(problem, None);
        }
    }

    #[test]
    fn rust_log_overrides_the_level() {
        let (f, problem) = filter(&config("info"), Some("oxmon_storage=trace")).unwrap();
        assert_eq!(f.to_string(), "oxmon_storage=trace");
        assert_eq!(problem, None);
    }

    #[test]
    fn an_invalid_rust_log_is_reported_and_the_level_used() {
        let (f, problem) = filter(&config("debug"), Some("oxmon=loud")).unwrap();
        assert_eq!(f.to_string(), "debug");
        let problem = problem.expect("reported");
        assert!(
            problem.contains("RUST_LOG=`oxmon=loud`") && problem.contains("`debug`"),
            "{problem}"
        );
    }

    #[test]
    fn an_invalid_level_built_in_code_is_an_error() {
        let e = filter(&config("verbose"), None).unwrap_err();
        assert!(e.to_string().starts_with("field `log.level`: "), "{e}");
    }

    /// What the configuration accepts, `EnvFilter` accepts too (after
    /// `LogConfig::filter` removes the spaces it would trip on).
    #[test]
    fn every_level_the_config_accepts_parses() {
        for level in [
            "info",
            "TRACE",
            "off",
            " warn , oxmon=debug ,",
            "error,oxmon_storage=trace,tonic::transport=off,h2=warn",
            "oxmon-http = Debug",
        ] {
            oxmon_core::config::validate_log_filter(level).unwrap();
            filter(&config(level), None)
                .unwrap_or_else(|e| panic!("`{level}` accepted by the config but not here: {e}"));
        }
    }
}
