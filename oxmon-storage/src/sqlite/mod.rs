//! The SQLite backend (feature `sqlite`): day-partitioned metric storage with
//! compressed series chunks, and the management store (`cert.db`).

mod codec;
mod management;
mod partition;
mod read;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use oxmon_core::{
    AgentInfo, AlertEvent, AlertPage, AlertQuery, AppendOutcome, Clock, Error, Labels, MetricBatch,
    MetricStore, Point, RangeQuery, Result, RetentionReport, Sample, SeriesPoints, SystemClock,
    validate_batch,
};
use rusqlite::Connection;
use tokio::sync::oneshot;

pub use management::SqliteManagementStore;
pub use writer::CompactReport;

use writer::{Command, Writer};

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
    /// The time source of compaction and retention.
    pub clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartState {
    Ok,
    Broken(String),
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    /// agent -> metric -> labels -> newest point (nested so a lookup by a
    /// sample's borrowed names allocates nothing).
    latest: HashMap<String, AgentLatest>,
    /// agent -> (first seen, last seen).
    agents: BTreeMap<String, (i64, i64)>,
}

/// One agent's newest point per series: metric -> label set -> point, as
/// vectors sorted by metric and by labels. An agent has a few dozen metrics
/// with a few label sets each, where map nodes would be mostly empty (they
/// were most of this index's memory with a thousand agents).
#[derive(Debug, Default)]
pub(crate) struct AgentLatest(Vec<(String, Vec<(Labels, Point)>)>);

impl AgentLatest {
    /// Keeps `p` unless the series has a newer point.
    fn update(&mut self, metric: &str, labels: &Labels, p: Point) {
        let m = match self
            .0
            .binary_search_by(|(name, _)| name.as_str().cmp(metric))
        {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (metric.to_owned(), Vec::new()));
                i
            }
        };
        let sets = &mut self.0[m].1;
        match sets.binary_search_by(|(l, _)| l.cmp(labels)) {
            Ok(j) if sets[j].1.timestamp_ms > p.timestamp_ms => {}
            Ok(j) => sets[j].1 = p,
            Err(j) => sets.insert(j, (labels.clone(), p)),
        }
    }
}

/// State shared by the writer thread and the readers.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: SqliteOptions,
    pub(crate) partitions: RwLock<BTreeMap<i64, PartState>>,
    readers: Mutex<HashMap<i64, Vec<Connection>>>,
    index: RwLock<Index>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Maps a SQLite error to the core error kinds: a full disk, read-only files,
/// locks and unopenable files are `Unavailable` (retry later), the rest `Storage`.
pub(crate) fn map_err(context: &str, e: &rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(
            DiskFull | ReadOnly | CannotOpen | DatabaseBusy | DatabaseLocked | SystemIoFailure
            | OutOfMemory,
        ) => Error::Unavailable(format!("{context}: {e}")),
        _ => Error::Storage(format!("{context}: {e}")),
    }
}

/// The same error again, for every caller of a failed group commit.
pub(crate) fn copy_err(e: &Error) -> Error {
    match e {
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
        other => Error::Storage(other.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Runs `f` on a pooled read connection of a partition.
    pub(crate) fn with_reader<T>(
        &self,
        day: i64,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let pooled = lock(&self.readers).get_mut(&day).and_then(Vec::pop);
        let conn = match pooled {
            Some(c) => c,
            None => partition::open_for_read(&partition::path(&self.dir, day))?,
        };
        let out = f(&conn);
        let mut readers = lock(&self.readers);
        if self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&day)
        {
            let pool = readers.entry(day).or_default();
            if pool.len() < 4 {
                pool.push(conn);
            }
        }
        out
    }

    /// Healthy partitions overlapping `[from_day, to_day]`, oldest first.
    pub(crate) fn days(&self, from_day: i64, to_day: i64) -> Vec<i64> {
        let parts = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        parts
            .range(from_day..=to_day)
            .filter(|(_, s)| **s == PartState::Ok)
            .map(|(d, _)| *d)
            .collect()
    }

    pub(crate) fn forget_partition(&self, day: i64) {
        lock(&self.readers).remove(&day);
        self.partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&day);
    }

    pub(crate) fn note_appended(&self, batch: &MetricBatch) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let Index { latest, agents } = &mut *index;
        let series = match latest.get_mut(batch.agent_id.as_str()) {
            Some(s) => s,
            None => latest.entry(batch.agent_id.clone()).or_default(),
        };
        for s in &batch.samples {
            series.update(
                &s.metric,
                &s.labels,
                Point {
                    timestamp_ms: s.timestamp_ms,
                    value: s.value,
                },
            );
        }
        let (Some(min), Some(max)) = (
            batch.samples.iter().map(|s| s.timestamp_ms).min(),
            batch.samples.iter().map(|s| s.timestamp_ms).max(),
        ) else {
            return;
        };
        let e = agents.entry(batch.agent_id.clone()).or_insert((min, max));
        e.0 = e.0.min(min);
        e.1 = e.1.max(max);
    }

    /// Recomputes latest values and first/last seen from the partitions.
    pub(crate) fn rebuild_index(&self) -> Result<()> {
        let mut index = Index::default();
        let days: Vec<i64> = self.days(i64::MIN, i64::MAX);
        for day in days {
            let stats = match self.with_reader(day, read::series_extremes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(partition = %partition::file_name(day), error = %e, "skipping unreadable partition");
                    continue;
                }
            };
            for (agent, metric, labels, first, last) in stats {
                let e = index
                    .agents
                    .entry(agent.clone())
                    .or_insert((first.timestamp_ms, last.timestamp_ms));
                e.0 = e.0.min(first.timestamp_ms);
                e.1 = e.1.max(last.timestamp_ms);
                index
                    .latest
                    .entry(agent)
                    .or_default()
                    .update(&metric, &labels, last);
            }
        }
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        Ok(())
    }
}

/// The SQLite metric store: `data_dir/YYYY-MM-DD.db` per UTC day.
///
/// - Samples go to the partition of their own timestamp. Acknowledged
///   samples are first appended to `samples_raw` (WAL, one writer thread,
///   group commit, prepared statements, `synchronous = FULL`), then compacted
///   per series into pco-compressed chunks of an aligned window
///   ([`SqliteOptions::chunk_span_ms`]). Queries merge chunks with raw
///   samples (raw wins on equal timestamps, so late samples for a compacted
///   window are correct at once and merged into the chunk later).
/// - Reads use their own pooled connections inside `spawn_blocking`; writes
///   go to the writer thread: nothing blocks the async runtime.
/// - A partition that is corrupt, foreign or from a newer schema is reported
///   ([`SqliteStore::broken_partitions`]), left untouched and skipped;
///   the others keep working.
/// - A batch spanning several days is written one partition at a time, oldest
///   first, with its batch id in the newest: if a later partition fails the
///   batch is refused, and its re-send rewrites the same values (no duplicates).
#[derive(Debug)]
pub struct SqliteStore {
    shared: Arc<Shared>,
    tx: Mutex<Sender<Command>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (creating the directory if needed) the store in `dir`, checks
    /// every partition, builds the in-memory index of latest values, applies
    /// retention, and starts the writer thread. Blocking: call it at start-up.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the directory cannot be created or read.
    pub fn open(dir: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if options.chunk_span_ms <= 0 || oxmon_core::DAY_MS % options.chunk_span_ms != 0 {
            return Err(Error::InvalidInput(format!(
                "chunk_span_ms {} must divide a day",
                options.chunk_span_ms
            )));
        }
        crate::private::private_dir(&dir)
            .map_err(|e| Error::Unavailable(format!("{}: cannot create: {e}", dir.display())))?;
        let mut partitions = BTreeMap::new();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::Unavailable(format!("{}: cannot read: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(day) = name.to_str().and_then(partition::parse_file_name) else {
                continue;
            };
            let state = match partition::check(&entry.path()) {
                Ok(()) => PartState::Ok,
                Err(e) => {
                    tracing::error!(error = %e, "partition skipped");
                    PartState::Broken(e.to_string())
                }
            };
            partitions.insert(day, state);
        }
        let shared = Arc::new(Shared {
            dir,
            options,
            partitions: RwLock::new(partitions),
            readers: Mutex::new(HashMap::new()),
            index: RwLock::new(Index::default()),
        });
        shared.rebuild_index()?;
        let mut writer = Writer::new(shared.clone());
        if let Some(days) = shared.options.retention_days {
            let cutoff = shared.options.clock.now_ms() - i64::from(days) * oxmon_core::DAY_MS;
            writer.retention(cutoff)?;
        }
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("oxmon-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            shared,
            tx: Mutex::new(tx),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Partitions that could not be used, with the reason (file named).
    pub fn broken_partitions(&self) -> Vec<String> {
        let parts = self
            .shared
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner());
        parts
            .values()
            .filter_map(|s| {
                if let PartState::Broken(r) = s {
                    Some(r.clone())
                } else {
                    None
                }
            })
            .collect()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Compacts now every window that ended `compaction_lag_ms` before `now_ms`.
    ///
    /// # Errors
    /// As appends.
    pub async fn compact(&self, now_ms: i64) -> Result<CompactReport> {
        self.command(|reply| Command::Compact { now_ms, reply })
            .await
    }

    /// Stops the writer after it has written everything queued.
    pub fn close(&self) {
        let _ = lock(&self.tx).send(Command::Shutdown);
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        lock(&self.tx)
            .send(make(reply))
            .map_err(|_| Error::Unavailable("the store is closed".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("the store's writer stopped".into()))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(|e| Error::Unavailable(format!("reader task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl MetricStore for SqliteStore {
    async fn append(&self, batch: &MetricBatch) -> Result<AppendOutcome> {
        validate_batch(batch)?;
        self.command(|reply| Command::Append {
            batch: batch.clone(),
            reply,
        })
        .await
    }

    async fn query_range(&self, query: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        if query.from_ms > query.to_ms {
            return Err(Error::InvalidInput(format!(
                "from ({}) is after to ({})",
                query.from_ms, query.to_ms
            )));
        }
        let q = query.clone();
        self.blocking(move |shared| read::query_range(shared, &q))
            .await
    }

    async fn latest(&self, agent_id: &str) -> Result<Vec<Sample>> {
        let index = self.shared.index.read().unwrap_or_else(|e| e.into_inner());
        Ok(index
            .latest
            .get(agent_id)
            .map(|series| {
                series
                    .0
                    .iter()
                    .flat_map(|(metric, by_labels)| {
                        by_labels.iter().map(move |(labels, p)| {
                            Sample::new(
                                agent_id,
                                metric.clone(),
                                labels.clone(),
                                p.timestamp_ms,
                                p.value,
                            )
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn agents(&self) -> Result<Vec<AgentInfo>> {
        let index = self.shared.index.read().unwrap_or_else(|e| e.into_inner());
        Ok(index
            .agents
            .iter()
            .map(|(id, &(first, last))| AgentInfo {
                agent_id: id.clone(),
                first_seen_ms: first,
                last_seen_ms: last,
            })
            .collect())
    }

    async fn insert_alert_events(&self, events: &[AlertEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let events = events.to_vec();
        self.command(|reply| Command::Events { events, reply })
            .await
    }

    async fn query_alert_events(&self, query: &AlertQuery) -> Result<AlertPage> {
        if query.limit == 0 {
            return Err(Error::InvalidInput("limit must be at least 1".into()));
        }
        let q = query.clone();
        self.blocking(move |shared| read::alert_events(shared, &q))
            .await
    }

    async fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionReport> {
        self.command(|reply| Command::Retention { cutoff_ms, reply })
            .await
    }
}

#[cfg(test)]
mod tests;
