//! The SQLite backend (feature `sqlite`): day-partitioned metric storage with
//! compressed series chunks, and the management store (`cert.db`).

mod changes;
mod codec;
mod compact;
mod index;
mod manage;
mod options;
mod partition;
mod private;
mod read;
mod retention;
mod sorted_map;
mod writer;

use async_trait::async_trait;
use oxmon_core::sync::LockExt;
use oxmon_core::sync::RwLockExt;
use oxmon_core::{
    AgentInfo, AlertEvent, AlertPage, AlertQuery, AppendOutcome, ChangeCursor, Changes, Error,
    LatestPage, LatestQuery, MetricBatch, MetricStore, RangeQuery, Result, RetentionReport, Sample,
    SeriesPoints, check_latest_query, validate_batch,
};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

pub use compact::CompactReport;
pub use manage::{SqliteManagementStore, read_stored_definitions};
pub use options::SqliteOptions;

use index::{Index, IndexData};
use writer::{Command, QueueSlot, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartState {
    Ok,
    Broken(String),
}

/// State shared by the writer thread and the readers.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: SqliteOptions,
    pub(crate) partitions: RwLock<BTreeMap<i64, PartState>>,
    readers: Mutex<HashMap<i64, Vec<Connection>>>,
    pub(crate) index: Index,
    /// Appends sent to the writer and not yet answered.
    pub(crate) queued: Arc<AtomicUsize>,
    /// Appends refused because the queue was full.
    queue_refusals: AtomicU64,
    /// Batches refused by a series cap.
    pub(crate) series_refusals: AtomicU64,
    /// Series names of each partition, for reading the change log.
    pub(crate) change_series: Mutex<HashMap<i64, changes::SeriesNames>>,
    /// When a change log read problem was last logged.
    pub(crate) change_log_warned: Mutex<Option<std::time::Instant>>,
    /// Days of data kept, 0 for all: `options.retention_days` until
    /// [`SqliteStore::set_retention_days`] changes it.
    retention_days: AtomicU32,
}

impl Shared {
    /// Days of data kept now; `None` keeps everything.
    pub(crate) fn retention_days(&self) -> Option<u32> {
        Some(self.retention_days.load(Ordering::Relaxed)).filter(|d| *d > 0)
    }
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
/// The SQLite error travels as the source.
pub(crate) fn map_err(context: &str, e: rusqlite::Error) -> Error {
    let message = format!("{context}: {e}");
    if is_transient(&e) {
        Error::unavailable_from(message, e)
    } else {
        Error::storage_from(message, e)
    }
}

/// Whether a SQLite error may go away by itself (a full disk, read-only or
/// unopenable files, locks, I/O, memory): `Unavailable` rather than `Storage`.
pub(crate) fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | ReadOnly
                | CannotOpen
                | DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | OutOfMemory,
        )
    )
}

/// The same error again, for every caller of a failed group commit.
pub(crate) fn copy_err(e: &Error) -> Error {
    match e {
        Error::Unavailable { message, .. } => Error::unavailable(message.clone()),
        Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
        Error::ResourceExhausted(m) => Error::ResourceExhausted(m.clone()),
        other => Error::storage(other.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.locked()
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
        if self.partitions.read_locked().contains_key(&day) {
            let pool = readers.entry(day).or_default();
            if pool.len() < 4 {
                pool.push(conn);
            }
        }
        out
    }

    /// Healthy partitions overlapping `[from_day, to_day]`, oldest first.
    pub(crate) fn days(&self, from_day: i64, to_day: i64) -> Vec<i64> {
        let parts = self.partitions.read_locked();
        parts
            .range(from_day..=to_day)
            .filter(|(_, s)| **s == PartState::Ok)
            .map(|(d, _)| *d)
            .collect()
    }

    pub(crate) fn forget_partition(&self, day: i64) {
        lock(&self.readers).remove(&day);
        lock(&self.change_series).remove(&day);
        self.partitions.write_locked().remove(&day);
    }

    /// Rebuilds the index of newest points, first and last seen and series
    /// counts from the partitions: a scan of each partition's agents (oldest
    /// first, to know where each agent's first sample is), then the
    /// partitions newest first, each series' newest point read from the
    /// newest partition holding it. Linear in the data's series and raw
    /// rows; chunks are decoded only where a newest or first point needs it.
    pub(crate) fn rebuild_index(&self) -> Result<()> {
        let days: Vec<i64> = self.days(i64::MIN, i64::MAX);
        let mut oldest: HashMap<String, i64> = HashMap::new();
        for &day in &days {
            match self.with_reader(day, read::partition_agents) {
                Ok(agents) => {
                    for a in agents {
                        oldest.entry(a).or_insert(day);
                    }
                }
                Err(e) => {
                    tracing::warn!(partition = %partition::file_name(day), error = %e, "skipping unreadable partition");
                }
            }
        }
        let mut first_of: HashMap<i64, HashSet<String>> = HashMap::new();
        for (agent, day) in oldest {
            first_of.entry(day).or_default().insert(agent);
        }
        let mut data = IndexData::default();
        for &day in days.iter().rev() {
            let want = first_of.remove(&day).unwrap_or_default();
            if let Err(e) =
                self.with_reader(day, |conn| read::index_partition(conn, &mut data, &want))
            {
                tracing::warn!(partition = %partition::file_name(day), error = %e, "skipping unreadable partition");
            }
        }
        self.index.install(data);
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
/// - Bounded: series per agent and in total ([`SqliteOptions::max_series_per_agent`],
///   [`SqliteOptions::max_series`]) and appends waiting for the writer
///   ([`SqliteOptions::max_queued_batches`]); see those options.
/// - Unix file modes: the directory is created 0700 and the partitions 0600
///   whatever the umask; older files (and the directory, when it belongs to
///   this user and is not shared) lose their group and other access at open.
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
        if options.max_queued_batches == 0 {
            return Err(Error::InvalidInput(
                "max_queued_batches must be at least 1".into(),
            ));
        }
        private::create_dir(&dir).map_err(|e| {
            Error::unavailable_from(format!("{}: cannot create: {e}", dir.display()), e)
        })?;
        private::tighten_dir(&dir);
        let mut partitions = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            Error::unavailable_from(format!("{}: cannot read: {e}", dir.display()), e)
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(day) = name.to_str().and_then(partition::parse_file_name) else {
                continue;
            };
            let state = match partition::check(&entry.path()) {
                Ok(()) => {
                    // Files of older versions may be open to group or others.
                    if let Err(e) = private::prepare_file(&entry.path()) {
                        tracing::warn!(error = %e, "cannot restrict a partition's mode");
                    }
                    PartState::Ok
                }
                Err(e) => {
                    tracing::error!(error = %e, "partition skipped");
                    PartState::Broken(e.to_string())
                }
            };
            partitions.insert(day, state);
        }
        let shared = Arc::new(Shared {
            dir,
            retention_days: AtomicU32::new(options.retention_days.unwrap_or(0)),
            options,
            partitions: RwLock::new(partitions),
            readers: Mutex::new(HashMap::new()),
            index: Index::default(),
            queued: Arc::new(AtomicUsize::new(0)),
            queue_refusals: AtomicU64::new(0),
            series_refusals: AtomicU64::new(0),
            change_series: Mutex::new(HashMap::new()),
            change_log_warned: Mutex::new(None),
        });
        shared.rebuild_index()?;
        let mut writer = Writer::new(shared.clone());
        if let Some(days) = shared.retention_days() {
            let cutoff = shared.options.clock.now_ms() - i64::from(days) * oxmon_core::DAY_MS;
            writer.retention(cutoff)?;
        }
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("oxmon-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| {
                Error::unavailable_from(format!("cannot start the writer thread: {e}"), e)
            })?;
        Ok(Self {
            shared,
            tx: Mutex::new(tx),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Partitions that could not be used, with the reason (file named).
    pub fn broken_partitions(&self) -> Vec<String> {
        let parts = self.shared.partitions.read_locked();
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

    /// Number of series in the store (with samples in the kept partitions):
    /// what [`SqliteOptions::max_series`] is checked against.
    pub fn series_count(&self) -> usize {
        self.shared.index.series()
    }

    /// Number of series of one agent: what
    /// [`SqliteOptions::max_series_per_agent`] is checked against.
    pub fn agent_series_count(&self, agent_id: &str) -> usize {
        self.shared.index.agent_series(agent_id)
    }

    /// Batches refused since the store opened because they would have
    /// created series past a cap (`Error::ResourceExhausted`).
    pub fn series_refusals(&self) -> u64 {
        self.shared.series_refusals.load(Ordering::Relaxed)
    }

    /// Keeps `days` of data from the next maintenance on (`None`: all):
    /// `retention_days` changed while the server runs.
    pub fn set_retention_days(&self, days: Option<u32>) {
        self.shared
            .retention_days
            .store(days.unwrap_or(0), Ordering::Relaxed);
    }

    /// Appends waiting for the writer now (queued or being written).
    pub fn queued_batches(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Appends refused since the store opened because
    /// [`SqliteOptions::max_queued_batches`] were waiting (`Error::Unavailable`).
    pub fn queue_refusals(&self) -> u64 {
        self.shared.queue_refusals.load(Ordering::Relaxed)
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

    /// Forgets the batch ids of partitions whose day ended
    /// [`SqliteOptions::batch_ids_kept_ms`] before `now_ms` (the periodic
    /// maintenance does it by the store's clock); the number forgotten.
    ///
    /// # Errors
    /// As appends.
    pub async fn expire_batch_ids(&self, now_ms: i64) -> Result<u64> {
        self.command(|reply| Command::ExpireBatchIds { now_ms, reply })
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
            .map_err(|_| Error::unavailable("the store is closed"))?;
        rx.await
            .map_err(|_| Error::unavailable("the store's writer stopped"))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(|e| Error::unavailable_from(format!("reader task failed: {e}"), e))?
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
        let max = self.shared.options.max_queued_batches;
        let slot = QueueSlot::reserve(&self.shared.queued, max).map_err(|queued| {
            self.shared.queue_refusals.fetch_add(1, Ordering::Relaxed);
            Error::unavailable(format!(
                "storage is behind: {queued} batches queued (max_queued_batches {max}); retry later"
            ))
        })?;
        self.command(|reply| Command::Append {
            batch: batch.clone(),
            reply,
            slot,
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
        Ok(self.shared.index.latest(agent_id))
    }

    async fn latest_page(&self, agent_id: &str, query: &LatestQuery) -> Result<LatestPage> {
        check_latest_query(query)?;
        Ok(self
            .shared
            .index
            .with_agent(agent_id, |agent| agent.page(query)))
    }

    async fn agents(&self) -> Result<Vec<AgentInfo>> {
        Ok(self
            .shared
            .index
            .agents()
            .into_iter()
            .map(|(agent_id, first_seen_ms, last_seen_ms)| AgentInfo {
                agent_id,
                first_seen_ms,
                last_seen_ms,
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

    async fn change_cursor(&self, consumer: &str) -> Result<ChangeCursor> {
        changes::check_consumer(&self.shared.options.change_log_consumers, consumer)?;
        let consumer = consumer.to_owned();
        self.blocking(move |shared| changes::cursor(shared, &consumer))
            .await
    }

    async fn read_changes(&self, after: &ChangeCursor, max_samples: usize) -> Result<Changes> {
        if self.shared.options.change_log_consumers.is_empty() {
            return Err(Error::InvalidInput(
                "this store was opened without change log consumers".into(),
            ));
        }
        let after = after.clone();
        self.blocking(move |shared| changes::read(shared, &after, max_samples.max(1)))
            .await
    }

    async fn rewind_changes(&self, cursor: &ChangeCursor, by_ms: i64) -> Result<ChangeCursor> {
        if self.shared.options.change_log_consumers.is_empty() {
            return Err(Error::InvalidInput(
                "this store was opened without change log consumers".into(),
            ));
        }
        let cursor = cursor.clone();
        self.blocking(move |shared| changes::rewind(shared, &cursor, by_ms.max(0)))
            .await
    }

    async fn commit_changes(&self, consumer: &str, cursor: &ChangeCursor) -> Result<()> {
        let (consumer, cursor) = (consumer.to_owned(), cursor.clone());
        self.command(|reply| Command::CommitChanges {
            consumer,
            cursor,
            reply,
        })
        .await
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;
#[cfg(test)]
mod tests_limits;
