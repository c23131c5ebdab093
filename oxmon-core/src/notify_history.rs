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

/// Where the notifier records delivery attempts.
///
/// # Behavior
/// - `record` stores one attempt; records are never merged or rewritten.
/// - `recent` returns up to `limit` records, newest first (by
///   `attempted_at_ms`, then by insertion order).
///
/// # Errors
/// [`crate::Error::Unavailable`] or [`crate::Error::Storage`] from a backend;
/// the notifier logs them and carries on delivering.
#[async_trait]
pub trait NotificationHistory: Send + Sync + std::fmt::Debug {
    /// Stores one attempt.
    async fn record(&self, record: DeliveryRecord) -> crate::Result<()>;

    /// The newest records, at most `limit`.
    async fn recent(&self, limit: usize) -> crate::Result<Vec<DeliveryRecord>>;
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

    async fn recent(&self, limit: usize) -> crate::Result<Vec<DeliveryRecord>> {
        let records = self.records.locked();
        let mut out: Vec<(usize, &DeliveryRecord)> = records.iter().enumerate().collect();
        out.sort_by(|a, b| {
            b.1.attempted_at_ms
                .cmp(&a.1.attempted_at_ms)
                .then(b.0.cmp(&a.0))
        });
        Ok(out
            .into_iter()
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
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
