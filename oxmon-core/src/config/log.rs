//! `[log]`: the same section in `agent.toml` and `server.toml`.
//!
//! The level is a filter in the `RUST_LOG` syntax, restricted to what a
//! configuration file needs: a default level and `target=level` overrides,
//! comma-separated (`"info"`, `"warn,oxmon=debug"`). A bare word that is not
//! a level is refused, where `RUST_LOG` would silently read it as a target
//! (`"inf"` would mean "everything from the crate `inf`"). Span and field
//! filters stay available through `RUST_LOG`, which overrides the level.

use serde::Deserialize;

use super::{ConfigError, Ctx};

/// The levels a filter may name, least verbose first.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `[log]`: what both programs log and how.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LogConfig {
    /// The filter: a level and `target=level` overrides, comma-separated.
    /// Default `"info"`. The environment variable `RUST_LOG`, when set,
    /// replaces it.
    pub level: String,
    /// How each line is written to stderr. Default [`LogFormat::Text`].
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogConfig {
    /// The level filter with spaces and empty directives removed and levels
    /// in lower case: `" WARN , oxmon = debug,"` gives `"warn,oxmon=debug"`.
    /// This is the form to hand to `tracing_subscriber::EnvFilter`, which
    /// does not accept spaces around directives.
    ///
    /// Only meaningful for a level that [`validate_log_filter`] accepts.
    pub fn filter(&self) -> String {
        directives(&self.level)
            .map(|d| match d.split_once('=') {
                Some((target, level)) => {
                    format!("{}={}", target.trim(), level.trim().to_ascii_lowercase())
                }
                None => d.to_ascii_lowercase(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(crate) fn validate(&self, ctx: Ctx<'_>) -> Result<(), ConfigError> {
        validate_log_filter(&self.level).map_err(|p| ctx.err("log.level", p))
    }
}

fn directives(filter: &str) -> impl Iterator<Item = &str> {
    filter.split(',').map(str::trim).filter(|d| !d.is_empty())
}

fn is_level(s: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s))
}

/// Checks a log filter: comma-separated directives, each a level (`off`,
/// `error`, `warn`, `info`, `debug`, `trace`; any case) or `target=level`
/// where the target is a module path (letters, digits, `_`, `-`, `::`).
///
/// # Errors
/// A sentence naming the offending directive.
pub fn validate_log_filter(filter: &str) -> Result<(), String> {
    if directives(filter).next().is_none() {
        return Err(
            "must not be empty; use a level such as \"info\", or \"warn,oxmon=debug\"".to_owned(),
        );
    }
    let expected = "expected off, error, warn, info, debug or trace";
    for d in directives(filter) {
        match d.split_once('=') {
            None if is_level(d) => {}
            None => {
                return Err(format!(
                    "`{d}` is not a level; {expected}, or target=level such as oxmon=debug"
                ));
            }
            Some((target, level)) => {
                let (target, level) = (target.trim(), level.trim());
                let target_ok = !target.is_empty()
                    && target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
                if !target_ok {
                    return Err(format!(
                        "`{d}`: `{target}` is not a target (a module path such as \
                         oxmon_storage or tonic::transport); span and field filters go in RUST_LOG"
                    ));
                }
                if level.is_empty() {
                    return Err(format!("`{d}`: the level after `=` is missing; {expected}"));
                }
                if !is_level(level) {
                    return Err(format!("`{d}`: `{level}` is not a level; {expected}"));
                }
            }
        }
    }
    Ok(())
}
