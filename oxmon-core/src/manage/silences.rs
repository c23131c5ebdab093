//! Ad-hoc silences: for a while, no notifications for the alerts they
//! match, like Alertmanager's silences. Expired ones are kept for history.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which alerts a silence matches: every field given must match; an empty
/// matcher set is refused (it would silence everything by accident).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatchers {
    /// Agents, a glob (`web-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Metrics, a glob (`disk.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// One rule, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Labels that must be equal (`{"mount": "/data"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A silence to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSilence {
    /// What it matches.
    pub matchers: SilenceMatchers,
    /// From when (ms since the epoch).
    pub starts_at_ms: i64,
    /// Until when (ms), after `starts_at_ms`.
    pub ends_at_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Longest silence comment, in bytes.
pub const MAX_SILENCE_COMMENT_LEN: usize = 1024;
/// Longest matcher value (a glob, a name, a label), in bytes.
pub const MAX_MATCHER_LEN: usize = 256;
/// Most label matchers of one silence.
pub const MAX_LABEL_MATCHERS: usize = 16;

impl NewSilence {
    /// Checks the matchers (not all empty; globs well formed; bounded) and
    /// the time range.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        let m = &self.matchers;
        if m.agent.is_none() && m.metric.is_none() && m.rule.is_none() && m.labels.is_empty() {
            return Err(Error::InvalidInput(
                "a silence needs at least one matcher (agent, metric, rule or labels)".into(),
            ));
        }
        if m.labels.len() > MAX_LABEL_MATCHERS {
            return Err(Error::InvalidInput(format!(
                "at most {MAX_LABEL_MATCHERS} label matchers"
            )));
        }
        let values = [&m.agent, &m.metric, &m.rule]
            .into_iter()
            .flatten()
            .chain(m.labels.keys())
            .chain(m.labels.values());
        for v in values {
            if v.is_empty() || v.len() > MAX_MATCHER_LEN {
                return Err(Error::InvalidInput(format!(
                    "a matcher value has 1 to {MAX_MATCHER_LEN} bytes"
                )));
            }
        }
        for (name, glob) in [("agent", &m.agent), ("metric", &m.metric)] {
            if let Some(g) = glob {
                crate::config::rules::validate_glob(g)
                    .map_err(|p| Error::InvalidInput(format!("matchers.{name}: {p}")))?;
            }
        }
        if self.ends_at_ms <= self.starts_at_ms {
            return Err(Error::InvalidInput("a silence ends after it starts".into()));
        }
        if self.comment.len() > MAX_SILENCE_COMMENT_LEN {
            return Err(Error::InvalidInput(format!(
                "a comment has at most {MAX_SILENCE_COMMENT_LEN} bytes"
            )));
        }
        Ok(())
    }
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Store-generated id.
    pub id: String,
    /// What it matches.
    pub matchers: SilenceMatchers,
    /// From when (ms).
    pub starts_at_ms: i64,
    /// Until when (ms); expiring a silence moves it to the time of expiry.
    pub ends_at_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was made (ms).
    pub created_at_ms: i64,
}

impl Silence {
    /// Whether it silences at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        (self.starts_at_ms..self.ends_at_ms).contains(&now_ms)
    }
}

/// The ad-hoc silences.
///
/// # Errors
/// See the [module docs](super) for the errors common to every method.
#[async_trait]
pub trait SilenceStore: Send + Sync + std::fmt::Debug {
    /// Stores a silence stamped `now_ms`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: [`NewSilence::validate`] fails.
    async fn create_silence(&self, silence: &NewSilence, now_ms: i64) -> Result<Silence>;

    /// Every silence, expired ones too, newest first.
    async fn list_silences(&self) -> Result<Vec<Silence>>;

    /// The silences active at `now_ms` ([`Silence::is_active`]), newest
    /// first: what the notifier asks for each event, so a store answers it
    /// without reading the expired history.
    async fn active_silences(&self, now_ms: i64) -> Result<Vec<Silence>>;

    /// Ends silence `id` at `now_ms` (if it would end later); it stays
    /// listed.
    ///
    /// # Errors
    /// [`Error::NotFound`]: no silence `id`.
    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Silence>;
}
