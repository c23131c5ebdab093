//! The audit log: every change made through the management API, who made
//! it and when, with the record before and after (never a secret).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it was made, ms since the epoch.
    pub at_ms: i64,
    /// Who made it (a username).
    pub actor: String,
    /// What was done, `<kind>.<verb>`: `rule.create`, `user.update`,
    /// `alert.acknowledge`, ...
    pub action: String,
    /// What it was done to: a rule id, a username, an agent id, ...
    pub target: String,
    /// The record before, as the API shows it (no secrets); `None` for a
    /// creation.
    pub before: Option<serde_json::Value>,
    /// The record after, as the API shows it (no secrets); `None` for a
    /// deletion.
    pub after: Option<serde_json::Value>,
}

/// Which records to read: every field that is `Some` must match; newest
/// first, `limit` after `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this (`rule.` for every rule change).
    pub action: Option<String>,
    /// Made at or after (ms).
    pub from_ms: Option<i64>,
    /// Made at or before (ms).
    pub to_ms: Option<i64>,
    /// Most records returned.
    pub limit: usize,
    /// Records skipped first.
    pub offset: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            actor: None,
            action: None,
            from_ms: None,
            to_ms: None,
            limit: 100,
            offset: 0,
        }
    }
}

impl AuditQuery {
    /// Whether `r` passes the filters (not the paging).
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.actor.as_deref().is_none_or(|a| r.actor == a)
            && self
                .action
                .as_deref()
                .is_none_or(|a| r.action.starts_with(a))
            && self.from_ms.is_none_or(|f| r.at_ms >= f)
            && self.to_ms.is_none_or(|t| r.at_ms <= t)
    }
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// How many records pass the filters (ignoring the paging).
    pub total: u64,
    /// The page, newest first.
    pub records: Vec<AuditRecord>,
}

/// Where changes are recorded.
///
/// # Behavior
/// - `record` appends; records are never changed or removed through this
///   trait.
/// - `query` returns the records passing the filters, newest first (by
///   `at_ms`, then by insertion order).
///
/// # Errors
/// See the [module docs](super) for the errors common to every method.
#[async_trait]
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    /// Appends a record.
    async fn record(&self, record: &AuditRecord) -> Result<()>;

    /// One page of the records passing `query`.
    async fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage>;
}
