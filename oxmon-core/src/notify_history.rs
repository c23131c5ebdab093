//! Notification history: every delivery attempt, for operators and the API.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::sync::LockExt;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What became of one attempt to notify a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The far end accepted the notification.
    Sent,
    /// This attempt failed; another follows after a backoff.
    Retrying,
    /// The last attempt failed (permanent error, or retries exhausted).
    Failed,
    /// Not sent: inside a silence window.
    Silenced,
    /// Not sent now: over the channel's rate limit, folded into a later digest.
    Deferred,
}

impl DeliveryStatus {
    /// `sent`, `retrying`, `failed`, `silenced` or `deferred`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Silenced => "silenced",
            DeliveryStatus::Deferred => "deferred",
        }
    }

    /// Parses what [`DeliveryStatus::as_str`] returns.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Sent,
            DeliveryStatus::Retrying,
            DeliveryStatus::Failed,
            DeliveryStatus::Silenced,
            DeliveryStatus::Deferred,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One attempt to deliver a notification to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The channel's name.
    pub channel: String,
    /// Ids of the alert events the notification carried.
    pub event_ids: Vec<String>,
    /// The outcome.
    pub status: DeliveryStatus,
    /// The error, for `Retrying` and `Failed`.
    pub error: Option<String>,
    /// 1 for the first attempt, 2 for the first retry, ...; 0 when nothing was sent.
    pub attempt: u32,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// When the attempt started (ms since the epoch, from the notifier's clock).
    pub attempted_at_ms: i64,
}

/// Which delivery attempts to read: every field that is `Some` must match;
/// newest first, `limit` after `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this outcome.
    pub status: Option<DeliveryStatus>,
    /// Attempted at or after (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Attempted at or before (ms since the epoch).
    pub to_ms: Option<i64>,
    /// Most records returned.
    pub limit: usize,
    /// Records skipped first.
    pub offset: usize,
}

impl Default for DeliveryQuery {
    fn default() -> Self {
        Self {
            channel: None,
            status: None,
            from_ms: None,
            to_ms: None,
            limit: 100,
            offset: 0,
        }
    }
}

impl DeliveryQuery {
    /// Whether `r` passes the filters (not the paging).
    pub fn matches(&self, r: &DeliveryRecord) -> bool {
        self.channel.as_deref().is_none_or(|c| r.channel == c)
            && self.status.is_none_or(|s| r.status == s)
            && self.from_ms.is_none_or(|f| r.attempted_at_ms >= f)
            && self.to_ms.is_none_or(|t| r.attempted_at_ms <= t)
    }
}

/// One page of delivery attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    /// How many attempts pass the filters (ignoring the paging).
    pub total: u64,
    /// The page, newest first.
    pub records: Vec<DeliveryRecord>,
}

/// Where the notifier records delivery attempts.
///
/// # Behavior
/// - `record` stores one attempt; records are never merged or rewritten.
/// - `query` returns the attempts passing the filters, newest first (by
///   `attempted_at_ms`, then by insertion order), one page of them, and
///   how many pass.
///
/// # Errors
/// [`crate::Error::Unavailable`] or [`crate::Error::Storage`] from a backend;
/// the notifier logs them and carries on delivering.
#[async_trait]
pub trait NotificationHistory: Send + Sync + std::fmt::Debug {
    /// Stores one attempt.
    async fn record(&self, record: DeliveryRecord) -> crate::Result<()>;

    /// The newest records, at most `limit`.
    async fn query(&self, query: &DeliveryQuery) -> crate::Result<DeliveryPage>;

    /// Up to `limit` of the newest attempts.
    async fn recent(&self, limit: usize) -> crate::Result<Vec<DeliveryRecord>> {
        let query = DeliveryQuery {
            limit,
            ..DeliveryQuery::default()
        };
        Ok(self.query(&query).await?.records)
    }
}

/// A history kept in memory, bounded to the newest `capacity` records.
#[derive(Debug)]
pub struct MemoryHistory {
    capacity: usize,
    records: Mutex<VecDeque<DeliveryRecord>>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl MemoryHistory {
    /// A history that keeps the newest `capacity` records (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            records: Mutex::new(VecDeque::new()),
        }
    }

    /// Every record kept, oldest first.
    pub fn all(&self) -> Vec<DeliveryRecord> {
        let records = self.records.locked();
        records.iter().cloned().collect()
    }
}

#[async_trait]
impl NotificationHistory for MemoryHistory {
    async fn record(&self, record: DeliveryRecord) -> crate::Result<()> {
        let mut records = self.records.locked();
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
        Ok(())
    }

    async fn query(&self, query: &DeliveryQuery) -> crate::Result<DeliveryPage> {
        let records = self.records.locked();
        let mut out: Vec<(usize, &DeliveryRecord)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| query.matches(r))
            .collect();
        out.sort_by(|a, b| {
            b.1.attempted_at_ms
                .cmp(&a.1.attempted_at_ms)
                .then(b.0.cmp(&a.0))
        });
        Ok(DeliveryPage {
            total: out.len() as u64,
            records: out
                .into_iter()
                .skip(query.offset)
                .take(query.limit)
                .map(|(_, r)| r.clone())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at: i64, status: DeliveryStatus) -> DeliveryRecord {
        DeliveryRecord {
            channel: "c".into(),
            event_ids: vec!["e".into()],
            status,
            error: None,
            attempt: 1,
            duration_ms: 3,
            attempted_at_ms: at,
        }
    }

    #[tokio::test]
    async fn memory_history_is_bounded_and_newest_first() {
        let h = MemoryHistory::new(2);
        h.record(rec(10, DeliveryStatus::Retrying)).await.unwrap();
        h.record(rec(30, DeliveryStatus::Failed)).await.unwrap();
        h.record(rec(20, DeliveryStatus::Sent)).await.unwrap();
        let recent = h.recent(10).await.unwrap();
        assert_eq!(
            recent.iter().map(|r| r.attempted_at_ms).collect::<Vec<_>>(),
            [30, 20]
        );
        assert_eq!(h.recent(1).await.unwrap().len(), 1);
        for s in ["sent", "retrying", "failed", "silenced", "deferred"] {
            assert_eq!(DeliveryStatus::parse(s).unwrap().as_str(), s);
        }
    }
}
