//! The server's own state for `/v1/health` and `GET /metrics`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use oxmon_core::notify_history::{
    DeliveryPage, DeliveryQuery, DeliveryRecord, DeliveryStatus, NotificationHistory,
};
use oxmon_core::{Clock, MetricStore};
use oxmon_storage::SqliteStore;
use oxmon_transport::net::{ListenerStats, ListenerStatsHandle};
use oxmon_transport::remote_write::RemoteWriteStats;
use oxmon_transport::{Ingest, REFUSAL_KINDS};

/// Counts alert events as the alert task emits them.
#[derive(Debug, Default)]
pub(crate) struct AlertCounters {
    pub(crate) fired: AtomicU64,
    pub(crate) resolved: AtomicU64,
}

/// A notification history that also counts deliveries by outcome.
#[derive(Debug)]
pub(crate) struct CountingHistory {
    inner: Arc<dyn NotificationHistory>,
    sent: AtomicU64,
    failed: AtomicU64,
}

impl CountingHistory {
    pub(crate) fn new(inner: Arc<dyn NotificationHistory>) -> Self {
        Self {
            inner,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl NotificationHistory for CountingHistory {
    async fn record(&self, record: DeliveryRecord) -> oxmon_core::Result<()> {
        match record.status {
            DeliveryStatus::Sent => self.sent.fetch_add(1, Ordering::Relaxed),
            DeliveryStatus::Failed => self.failed.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        self.inner.record(record).await
    }

    async fn query(&self, query: &DeliveryQuery) -> oxmon_core::Result<DeliveryPage> {
        self.inner.query(query).await
    }
}

/// What `/v1/health` and `GET /metrics` report.
#[derive(Debug)]
pub(crate) struct Status {
    pub(crate) store: Arc<dyn MetricStore>,
    /// The SQLite store's own gauges, when the server runs on it.
    pub(crate) sqlite: Option<Arc<SqliteStore>>,
    pub(crate) ingests: Vec<Arc<Ingest>>,
    /// Each listener's connection counters, by name (`grpc`, `http`).
    pub(crate) connections: Vec<(&'static str, ListenerStatsHandle)>,
    pub(crate) alerts: Arc<AlertCounters>,
    pub(crate) notifications: Arc<CountingHistory>,
    /// Each remote write destination's counters, by name.
    pub(crate) remote_write: Vec<(String, Arc<RemoteWriteStats>)>,
    pub(crate) data_dir: PathBuf,
    pub(crate) clock: Arc<dyn Clock>,
    /// An agent is active when seen within this many ms.
    pub(crate) active_within_ms: i64,
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

#[async_trait]
impl oxmon_http::ServerStatus for Status {
    fn storage_state(&self) -> String {
        let broken = self
            .sqlite
            .as_ref()
            .map(|s| s.broken_partitions())
            .unwrap_or_default();
        if broken.is_empty() {
            "ok".to_owned()
        } else {
            format!("degraded: {}", broken.join("; "))
        }
    }

    async fn prometheus(&self) -> String {
        let stats: Vec<_> = self.ingests.iter().map(|i| i.stats()).collect();
        let sum =
            |f: &dyn Fn(&oxmon_transport::IngestStats) -> u64| stats.iter().map(f).sum::<u64>();
        let now = self.clock.now_ms();
        let agents = self.store.agents().await.unwrap_or_default();
        let active = agents
            .iter()
            .filter(|a| now - a.last_seen_ms <= self.active_within_ms)
            .count() as u64;
        let storage_bytes: u64 = std::fs::read_dir(&self.data_dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let mut out = String::new();
        let one = |v: u64| vec![(String::new(), v)];
        metric(
            &mut out,
            "oxmon_samples_ingested_total",
            "counter",
            "Samples stored.",
            &one(sum(&|s| s.samples_stored)),
        );
        metric(
            &mut out,
            "oxmon_batches_ingested_total",
            "counter",
            "Batches stored.",
            &one(sum(&|s| s.batches_stored)),
        );
        metric(
            &mut out,
            "oxmon_batches_duplicate_total",
            "counter",
            "Re-sent batches acknowledged without storing.",
            &one(sum(&|s| s.duplicates)),
        );
        metric(
            &mut out,
            "oxmon_samples_rejected_total",
            "counter",
            "Samples refused one by one (time range).",
            &one(sum(&|s| s.rejected_samples)),
        );
        let refused: Vec<(String, u64)> = REFUSAL_KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                (
                    format!("{{reason=\"{kind}\"}}"),
                    stats.iter().map(|s| s.refused[i]).sum(),
                )
            })
            .collect();
        metric(
            &mut out,
            "oxmon_batches_rejected_total",
            "counter",
            "Batches refused, by reason.",
            &refused,
        );
        let listeners: Vec<_> = self
            .connections
            .iter()
            .map(|(name, h)| (*name, h.get()))
            .collect();
        let per = |f: &dyn Fn(&ListenerStats) -> u64| -> Vec<(String, u64)> {
            listeners
                .iter()
                .map(|(name, s)| (format!("{{listener=\"{name}\"}}"), f(s)))
                .collect()
        };
        metric(
            &mut out,
            "oxmon_connections_open",
            "gauge",
            "Connections open now, by listener.",
            &per(&|s| s.open as u64),
        );
        metric(
            &mut out,
            "oxmon_connections_refused_total",
            "counter",
            "Connections closed at once because a connection limit was reached.",
            &per(&|s| s.refused),
        );
        metric(
            &mut out,
            "oxmon_connections_idle_closed_total",
            "counter",
            "Connections closed after the idle timeout.",
            &per(&|s| s.timed_out),
        );
        if let Some(sq) = &self.sqlite {
            metric(
                &mut out,
                "oxmon_series",
                "gauge",
                "Series in the kept partitions.",
                &one(sq.series_count() as u64),
            );
            metric(
                &mut out,
                "oxmon_series_refused_batches_total",
                "counter",
                "Batches refused because they would create series past a cap.",
                &one(sq.series_refusals()),
            );
            metric(
                &mut out,
                "oxmon_storage_queued_batches",
                "gauge",
                "Batches waiting for the storage writer.",
                &one(sq.queued_batches() as u64),
            );
            metric(
                &mut out,
                "oxmon_storage_queue_refusals_total",
                "counter",
                "Batches refused because the storage writer queue was full.",
                &one(sq.queue_refusals()),
            );
        }
        metric(
            &mut out,
            "oxmon_agents",
            "gauge",
            "Agents with stored samples.",
            &one(agents.len() as u64),
        );
        metric(
            &mut out,
            "oxmon_agents_active",
            "gauge",
            "Agents seen recently.",
            &one(active),
        );
        metric(
            &mut out,
            "oxmon_alerts_total",
            "counter",
            "Alert events, by status.",
            &[
                (
                    "{status=\"firing\"}".to_owned(),
                    self.alerts.fired.load(Ordering::Relaxed),
                ),
                (
                    "{status=\"resolved\"}".to_owned(),
                    self.alerts.resolved.load(Ordering::Relaxed),
                ),
            ],
        );
        metric(
            &mut out,
            "oxmon_notifications_total",
            "counter",
            "Notification deliveries, by outcome.",
            &[
                (
                    "{outcome=\"sent\"}".to_owned(),
                    self.notifications.sent.load(Ordering::Relaxed),
                ),
                (
                    "{outcome=\"failed\"}".to_owned(),
                    self.notifications.failed.load(Ordering::Relaxed),
                ),
            ],
        );
        metric(
            &mut out,
            "oxmon_storage_bytes",
            "gauge",
            "Size of the data directory's files.",
            &one(storage_bytes),
        );
        if let Some(sq) = &self.sqlite {
            metric(
                &mut out,
                "oxmon_storage_broken_partitions",
                "gauge",
                "Partitions that could not be used.",
                &one(sq.broken_partitions().len() as u64),
            );
        }
        self.remote_write_metrics(&mut out);
        out
    }
}

impl Status {
    /// `oxmon_remote_write_*`, one series per destination.
    fn remote_write_metrics(&self, out: &mut String) {
        if self.remote_write.is_empty() {
            return;
        }
        let per = |f: &dyn Fn(&RemoteWriteStats) -> u64| -> Vec<(String, u64)> {
            self.remote_write
                .iter()
                .map(|(name, s)| (format!("{{destination=\"{name}\"}}"), f(s)))
                .collect()
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, f) in [
            (
                "oxmon_remote_write_samples_sent_total",
                "Samples the destination accepted.",
                &(|s: &RemoteWriteStats| load(&s.samples_sent))
                    as &dyn Fn(&RemoteWriteStats) -> u64,
            ),
            (
                "oxmon_remote_write_samples_failed_total",
                "Samples of failed attempts (retried).",
                &|s: &RemoteWriteStats| load(&s.samples_failed),
            ),
            (
                "oxmon_remote_write_samples_dropped_total",
                "Samples the destination refused for good (a 4xx), not sent again.",
                &|s: &RemoteWriteStats| load(&s.samples_dropped),
            ),
            (
                "oxmon_remote_write_samples_resent_total",
                "Samples sent again after the destination was unreachable or the server started (resend_secs).",
                &|s: &RemoteWriteStats| load(&s.samples_resent),
            ),
            (
                "oxmon_remote_write_samples_filtered_total",
                "Samples left out by metrics_allow / metrics_deny.",
                &|s: &RemoteWriteStats| load(&s.samples_filtered),
            ),
        ] {
            metric(out, name, "counter", help, &per(f));
        }
        let _ = writeln!(
            out,
            "# HELP oxmon_remote_write_lag_seconds How long the oldest sample not yet sent has been stored (0: everything sent).\n# TYPE oxmon_remote_write_lag_seconds gauge"
        );
        for (name, s) in &self.remote_write {
            let lag = s.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "oxmon_remote_write_lag_seconds{{destination=\"{name}\"}} {lag}"
            );
        }
    }
}
