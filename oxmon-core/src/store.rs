//! The metric store contract.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::AlertEvent;
use crate::error::Result;
use crate::types::{AgentInfo, Labels, MetricBatch, Point, Sample, SeriesKey, Severity};

/// What [`MetricStore::append`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch is durably stored.
    Stored {
        /// Number of samples written.
        samples: usize,
    },
    /// The batch id was stored before for this agent; nothing was written.
    Duplicate,
}

/// A range query over one metric of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    /// The agent.
    pub agent_id: String,
    /// The metric name.
    pub metric: String,
    /// `Some` selects the one series with exactly these labels; `None` selects
    /// every series of the metric.
    pub labels: Option<Labels>,
    /// Start, inclusive (ms since the epoch).
    pub from_ms: i64,
    /// End, inclusive (ms since the epoch).
    pub to_ms: i64,
}

/// The points of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoints {
    /// The series.
    pub series: SeriesKey,
    /// Its points, oldest first, at most one per timestamp.
    pub points: Vec<Point>,
}

/// Filters for alert history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only events of this severity.
    pub severity: Option<Severity>,
    /// Only events of this agent.
    pub agent_id: Option<String>,
    /// Only events at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only events at or before this time (ms).
    pub to_ms: Option<i64>,
    /// At most this many events.
    pub limit: usize,
    /// Skip this many events (after sorting newest first).
    pub offset: usize,
}

impl Default for AlertQuery {
    fn default() -> Self {
        Self {
            severity: None,
            agent_id: None,
            from_ms: None,
            to_ms: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// One page of alert history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPage {
    /// The events, newest first.
    pub events: Vec<AlertEvent>,
    /// How many events match the filters in total (ignoring limit and offset).
    pub total: u64,
}

/// Which of an agent's newest values [`MetricStore::latest_page`] returns.
///
/// The series are ordered by metric then labels (as [`MetricStore::latest`]);
/// `offset` and `limit` select a page of that order after filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestQuery {
    /// Only series whose metric name starts with this text (a prefix: `disk.`
    /// selects every disk metric, `cpu.usage` selects `cpu.usage` and any
    /// metric whose name extends it). `None` or empty: every series.
    pub metric: Option<String>,
    /// At most this many samples; at least 1.
    pub limit: usize,
    /// Skip this many matching samples first.
    pub offset: usize,
}

impl Default for LatestQuery {
    /// Every series, the first 1,000.
    fn default() -> Self {
        Self {
            metric: None,
            limit: 1000,
            offset: 0,
        }
    }
}

impl LatestQuery {
    /// Whether a metric name passes the filter.
    pub fn matches(&self, metric: &str) -> bool {
        self.metric
            .as_deref()
            .is_none_or(|prefix| metric.starts_with(prefix))
    }
}

/// One page of an agent's newest values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestPage {
    /// The newest sample of each series of the page, ordered by metric then labels.
    pub samples: Vec<Sample>,
    /// How many series match the filter in total (ignoring limit and offset).
    pub total: u64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Samples removed, when the store can count them cheaply (0 otherwise).
    pub samples_removed: u64,
    /// Partitions (files) removed, for partitioned stores.
    pub partitions_removed: u64,
}

/// Durable storage of samples and alert events.
///
/// Implementations: `oxmon_storage::MemoryStore` (always) and the SQLite store
/// (feature `sqlite`). Every implementation runs the conformance suite in
/// `oxmon_core::testing::store` (feature `testing`).
///
/// # Behavior
/// - **Atomic, durable appends.** `append` returns `Ok` only once every sample
///   of the batch is stored durably (it survives a crash of the process); on
///   `Err`, nothing of the batch is visible.
/// - **Idempotent batches.** A batch with a `batch_id` that this agent already
///   stored returns [`AppendOutcome::Duplicate`] and writes nothing. Ids are
///   remembered at least a day after the end of the UTC day of the batch's
///   newest sample (agents re-send within hours); a batch re-sent after a
///   store forgot its id is stored again, which changes nothing (one value
///   per timestamp, below). An
///   id names one batch: agents never reuse an id for different content
///   (stores may look the id up where that content would be stored).
/// - **Filed under the batch's agent.** Every sample is stored under
///   `batch.agent_id`, whatever its own `agent_id` says.
/// - **One value per timestamp.** A sample with the series and timestamp of a
///   stored one replaces it (last write wins), so re-sent data never doubles.
/// - **Queries** return series ordered by labels and points oldest first,
///   across any internal partitions; `from_ms` and `to_ms` are inclusive.
///
/// # Errors
/// - [`crate::Error::InvalidInput`]: empty agent id or metric name, non-finite
///   value, a timestamp before 1970 or after 9999, `from_ms > to_ms`, limit
///   of 0. Nothing is stored.
/// - [`crate::Error::Unavailable`]: the backend cannot write now (disk full,
///   read-only, shutting down). Nothing is stored; retry later.
/// - [`crate::Error::Storage`]: a failure that retrying will not fix.
#[async_trait]
pub trait MetricStore: Send + Sync + std::fmt::Debug {
    /// Stores a batch durably and atomically; see the trait docs.
    async fn append(&self, batch: &MetricBatch) -> Result<AppendOutcome>;

    /// The points of the selected series between two times, inclusive.
    /// Series without points in the range are left out.
    async fn query_range(&self, query: &RangeQuery) -> Result<Vec<SeriesPoints>>;

    /// The newest sample of every series of an agent, ordered by metric then
    /// labels. Empty when the agent is unknown.
    async fn latest(&self, agent_id: &str) -> Result<Vec<Sample>>;

    /// One page of [`MetricStore::latest`], filtered by metric name prefix,
    /// with the number of matching series.
    ///
    /// The default implementation filters and pages the result of
    /// `latest`; stores with large agents implement it without building the
    /// whole list.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when `limit` is 0; otherwise as `latest`.
    async fn latest_page(&self, agent_id: &str, query: &LatestQuery) -> Result<LatestPage> {
        check_latest_query(query)?;
        let mut total = 0u64;
        let mut samples = Vec::new();
        for s in self.latest(agent_id).await? {
            if !query.matches(&s.metric) {
                continue;
            }
            if total >= query.offset as u64 && samples.len() < query.limit {
                samples.push(s);
            }
            total += 1;
        }
        Ok(LatestPage { samples, total })
    }

    /// Every agent with stored samples, ordered by id.
    async fn agents(&self) -> Result<Vec<AgentInfo>>;

    /// Stores alert events (same durability as samples). An event whose `id`
    /// is already stored is replaced.
    async fn insert_alert_events(&self, events: &[AlertEvent]) -> Result<()>;

    /// Alert events matching the filters, newest first, with the total count.
    async fn query_alert_events(&self, query: &AlertQuery) -> Result<AlertPage>;

    /// Removes data older than `cutoff_ms`.
    ///
    /// Data at or after the cutoff is never removed. Partitioned stores remove
    /// whole partitions, so data up to one day older than the cutoff may stay;
    /// anything older than `cutoff_ms - DAY_MS` is gone afterwards.
    async fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionReport>;

    /// Where `consumer` of the change log stands, as last committed (a
    /// consumer the store has never seen starts at the log's end: it gets
    /// what is stored from now on).
    ///
    /// The change log holds every stored batch, in the order stores
    /// acknowledged them, for the consumers the store was opened with
    /// (remote write destinations); a batch leaves it once every consumer
    /// has committed past it, or with its partition at retention. Stores
    /// without a change log keep this default.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when the store keeps no change log or
    /// `consumer` is not one of its consumers.
    async fn change_cursor(&self, consumer: &str) -> Result<ChangeCursor> {
        Err(no_change_log(consumer))
    }

    /// Batches stored after `after`, oldest first, up to about `max_samples`
    /// samples (at least one batch when any is there), with the cursor past
    /// them. Reading moves nothing: [`MetricStore::commit_changes`] does.
    ///
    /// # Errors
    /// As [`MetricStore::change_cursor`]; [`crate::Error::Unavailable`] when
    /// the log cannot be read now.
    async fn read_changes(&self, after: &ChangeCursor, max_samples: usize) -> Result<Changes> {
        let _ = (after, max_samples);
        Err(no_change_log("the reader"))
    }

    /// Records durably that `consumer` has handled everything up to
    /// `cursor`; what every consumer has handled may then be removed (the
    /// SQLite store keeps the last `change_log_keep_ms` of it, for
    /// [`MetricStore::rewind_changes`]).
    ///
    /// # Errors
    /// As [`MetricStore::change_cursor`].
    async fn commit_changes(&self, consumer: &str, cursor: &ChangeCursor) -> Result<()> {
        let _ = cursor;
        Err(no_change_log(consumer))
    }

    /// The position `by_ms` of storing time before `cursor`: each
    /// partition's position moves back to before the first batch stored
    /// less than `by_ms` before the newest batch at or below it (as far
    /// back as the log still holds). For sending again what a receiver may
    /// have acknowledged and then lost in a crash.
    ///
    /// # Errors
    /// As [`MetricStore::read_changes`].
    async fn rewind_changes(&self, cursor: &ChangeCursor, by_ms: i64) -> Result<ChangeCursor> {
        let _ = (cursor, by_ms);
        Err(no_change_log("rewind"))
    }
}

fn no_change_log(consumer: &str) -> crate::Error {
    crate::Error::InvalidInput(format!(
        "this store keeps no change log (asked for by {consumer:?})"
    ))
}

/// A position in a store's change log: for each of the store's partitions
/// (a store-defined key, the day for the SQLite store), the sequence number
/// of the last batch read there. Compared and merged only by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeCursor(pub std::collections::BTreeMap<i64, i64>);

/// One stored batch from the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where it sits in the log: partition and sequence number, as in a
    /// [`ChangeCursor`].
    pub position: (i64, i64),
    /// When the store acknowledged it, by the store's clock (ms).
    pub stored_at_ms: i64,
    /// The batch as stored.
    pub batch: MetricBatch,
}

/// What [`MetricStore::read_changes`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The batches, oldest first (empty: nothing new).
    pub changes: Vec<Change>,
    /// The cursor past them.
    pub next: ChangeCursor,
}

/// Conveniences over [`MetricStore`], implemented for every store.
#[async_trait]
pub trait MetricStoreExt: MetricStore {
    /// The points of one series between two times, inclusive, oldest first.
    async fn series_points(
        &self,
        series: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Point>> {
        let query = RangeQuery {
            agent_id: series.agent_id.clone(),
            metric: series.metric.clone(),
            labels: Some(series.labels.clone()),
            from_ms,
            to_ms,
        };
        Ok(self
            .query_range(&query)
            .await?
            .into_iter()
            .flat_map(|s| s.points)
            .collect())
    }

    /// Appends samples of one agent as a batch without an id.
    async fn append_samples(&self, agent_id: &str, samples: Vec<Sample>) -> Result<AppendOutcome> {
        self.append(&MetricBatch::new(agent_id, samples)).await
    }
}

impl<T: MetricStore + ?Sized> MetricStoreExt for T {}

/// Checks the parts of a [`LatestQuery`] every store must refuse.
///
/// # Errors
/// [`crate::Error::InvalidInput`] when `limit` is 0.
pub fn check_latest_query(query: &LatestQuery) -> Result<()> {
    if query.limit == 0 {
        return Err(crate::Error::InvalidInput(
            "limit must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The last millisecond of the year 9999: the latest timestamp a store accepts.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Checks the parts of a batch every store must refuse, so implementations
/// share one definition of "invalid": [`crate::validate::check_batch`]
/// without size limits.
///
/// # Errors
/// [`crate::Error::InvalidInput`] naming the first offending sample.
pub fn validate_batch(batch: &MetricBatch) -> Result<()> {
    crate::validate::check_batch(batch, &crate::validate::SampleLimits::UNLIMITED)
}
