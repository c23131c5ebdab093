//! Tuning of the SQLite store, and what `server.toml` sets of it.

use std::sync::Arc;
use std::time::Duration;

use oxmon_core::{Clock, SystemClock};

#[cfg(doc)]
use super::SqliteStore;

/// Tuning of [`SqliteStore`]. Build it with struct update syntax:
/// `SqliteOptions { retention_days: Some(7), ..SqliteOptions::default() }`.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Days kept; partitions entirely older are deleted at start and by the
    /// periodic maintenance. `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Width of a compressed chunk's aligned window, ms. Must divide a day. Default 2 h.
    pub chunk_span_ms: i64,
    /// A window is compacted once it ended this long ago (late samples after
    /// that are merged into the chunk by the next pass). Default 5 min.
    pub compaction_lag_ms: i64,
    /// How often the writer compacts and applies retention. Default 60 s.
    pub maintenance_interval: Duration,
    /// `synchronous = FULL` (durable through power loss) rather than `NORMAL`
    /// (durable through process crashes). Default `true`.
    pub synchronous_full: bool,
    /// Largest partition size, in 4 KiB pages (a quota; a full partition
    /// refuses writes with `Unavailable`). Default none.
    pub max_page_count: Option<u64>,
    /// How long the writer waits for more batches before committing the ones
    /// it has (a group commit window). Each commit costs a WAL write and an
    /// fsync; with many small batches arriving spread out (1,000 agents
    /// every 10 s) a short window commits several at once, at the price of
    /// acknowledging each up to this much later. Default 0 (commit at once;
    /// batches that queue up while a commit runs are still grouped).
    pub commit_window: Duration,
    /// Most series one agent may have in the store (series with samples in
    /// the kept partitions). A batch that would create new series past it
    /// is refused as a whole with `Error::ResourceExhausted`, before any of
    /// it is written; batches on existing series keep being stored. `None`:
    /// no limit. Default 10,000.
    pub max_series_per_agent: Option<usize>,
    /// Most series in the whole store, enforced the same way. `None`: no
    /// limit. Default 1,000,000.
    pub max_series: Option<usize>,
    /// Most appends waiting for the writer (queued or being written). When
    /// that many are, `append` fails at once with `Error::Unavailable`
    /// ("storage is behind") instead of holding more batches in memory;
    /// agents keep their batches and re-send them. Other commands (alert
    /// events, compaction, retention) are not limited. At least 1; default 1,024.
    pub max_queued_batches: usize,
    /// The consumers of the change log (remote write destinations, by
    /// name). Empty (the default): no change log is kept. With consumers,
    /// every stored batch is also kept packed in its partition until every
    /// consumer has committed past it (`MetricStore::commit_changes`).
    pub change_log_consumers: Vec<String>,
    /// Batches stored this recently stay in the change log even when every
    /// consumer has passed them, ms, so a consumer can send them again
    /// (`MetricStore::rewind_changes`). Default 0.
    pub change_log_keep_ms: i64,
    /// How long after its day ends a partition keeps the ids of its
    /// batches (what makes a re-sent batch a duplicate), ms. Agents re-send
    /// within hours (their buffer holds about 3 h at the defaults); a batch
    /// re-sent later is stored again, which changes nothing (one value per
    /// timestamp). The periodic maintenance forgets them. Default 1 day.
    pub batch_ids_kept_ms: i64,
    /// The time source of compaction, retention and the change log.
    pub clock: Arc<dyn Clock>,
}

impl SqliteOptions {
    /// The options `server.toml` sets (`retention_days`, `[ingest]` and a
    /// change log consumer per `[[remote_write]]`),
    /// the rest at their defaults, time from `clock`.
    pub fn from_config(config: &oxmon_core::config::ServerConfig, clock: Arc<dyn Clock>) -> Self {
        let i = &config.ingest;
        Self {
            retention_days: Some(config.retention_days),
            commit_window: Duration::from_millis(i.commit_window_ms),
            max_series_per_agent: Some(i.max_series_per_agent),
            max_series: Some(i.max_series),
            max_queued_batches: i.max_queued_batches,
            change_log_consumers: config
                .remote_write
                .iter()
                .map(|rw| rw.destination_name())
                .collect(),
            change_log_keep_ms: config
                .remote_write
                .iter()
                .map(|rw| {
                    i64::try_from(rw.resend_secs)
                        .unwrap_or(0)
                        .saturating_mul(1000)
                })
                .max()
                .unwrap_or(0),
            clock,
            ..Self::default()
        }
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            retention_days: None,
            chunk_span_ms: 2 * 3_600_000,
            compaction_lag_ms: 5 * 60_000,
            maintenance_interval: Duration::from_secs(60),
            synchronous_full: true,
            max_page_count: None,
            commit_window: Duration::ZERO,
            max_series_per_agent: Some(10_000),
            max_series: Some(1_000_000),
            max_queued_batches: 1_024,
            change_log_consumers: Vec::new(),
            change_log_keep_ms: 0,
            batch_ids_kept_ms: oxmon_core::DAY_MS,
            clock: Arc::new(SystemClock),
        }
    }
}
