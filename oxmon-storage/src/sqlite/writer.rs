//! The writer thread: the only writer of partition files. Group commit:
//! everything queued when it wakes is written in one transaction per
//! partition, then every caller gets its answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use oxmon_core::{
    AlertEvent, AppendOutcome, ChangeCursor, Error, Labels, MetricBatch, Result, RetentionReport,
};
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::changes;
use super::compact::CompactReport;
use super::partition::{self, batch_hash, day_of, minute_of};
use super::{PartState, Shared, copy_err, map_err};
use oxmon_core::sync::RwLockExt;

pub(crate) enum Command {
    Append {
        batch: MetricBatch,
        reply: oneshot::Sender<Result<AppendOutcome>>,
        /// Given back once the append is answered (or dropped unanswered).
        slot: QueueSlot,
    },
    Events {
        events: Vec<AlertEvent>,
        reply: oneshot::Sender<Result<()>>,
    },
    Compact {
        now_ms: i64,
        reply: oneshot::Sender<Result<CompactReport>>,
    },
    ExpireBatchIds {
        now_ms: i64,
        reply: oneshot::Sender<Result<u64>>,
    },
    Retention {
        cutoff_ms: i64,
        reply: oneshot::Sender<Result<RetentionReport>>,
    },
    CommitChanges {
        consumer: String,
        cursor: ChangeCursor,
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown,
}

/// A place among the appends waiting for the writer; given back when
/// dropped, which the writer does once it has answered the append.
#[derive(Debug)]
pub(crate) struct QueueSlot(Arc<AtomicUsize>);

impl QueueSlot {
    /// Takes a place if fewer than `max` are taken.
    ///
    /// # Errors
    /// The number taken, when the queue is full.
    pub(crate) fn reserve(
        taken: &Arc<AtomicUsize>,
        max: usize,
    ) -> std::result::Result<Self, usize> {
        taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Self(taken.clone()))
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(super) struct WritePartition {
    pub(super) conn: Connection,
    /// (agent, metric, canonical labels) -> series id.
    series: SeriesIds,
}

/// Series ids of a partition: agent -> metric -> labels -> id, looked up
/// with borrowed keys (no allocation, no canonical form per sample).
#[derive(Default)]
struct SeriesIds(FxHashMap<String, FxHashMap<String, FxHashMap<Labels, i64>>>);

impl SeriesIds {
    fn get(&self, agent: &str, metric: &str, labels: &Labels) -> Option<i64> {
        self.0.get(agent)?.get(metric)?.get(labels).copied()
    }

    fn insert(&mut self, agent: &str, metric: &str, labels: &Labels, id: i64) {
        self.0
            .entry(agent.to_owned())
            .or_default()
            .entry(metric.to_owned())
            .or_default()
            .insert(labels.clone(), id);
    }
}

pub(crate) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) open: HashMap<i64, WritePartition>,
    /// Change log positions last committed, per (consumer, day): a commit
    /// writes only the partitions whose position moved.
    committed: HashMap<(String, i64), i64>,
    /// Partitions whose batch ids were forgotten (late batches do not
    /// bring them back: their ids go with their newest day, not this one).
    ids_expired: HashSet<i64>,
}

/// Most commands handled in one group commit.
const MAX_GROUP: usize = 4096;

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            open: HashMap::new(),
            committed: HashMap::new(),
            ids_expired: HashSet::new(),
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Command>) {
        let interval = self.shared.options.maintenance_interval;
        let mut last_maintenance = std::time::Instant::now();
        loop {
            let first = match rx.recv_timeout(interval) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut appends = Vec::new();
            let mut slots = Vec::new();
            let mut shutdown = false;
            // Returns whether the command asks the writer to stop.
            let handle =
                |c: Command, appends: &mut Vec<_>, slots: &mut Vec<_>, w: &mut Self| match c {
                    Command::Append { batch, reply, slot } => {
                        appends.push((batch, reply));
                        slots.push(slot);
                        false
                    }
                    Command::Events { events, reply } => {
                        let _ = reply.send(w.insert_events(&events));
                        false
                    }
                    Command::ExpireBatchIds { now_ms, reply } => {
                        let _ = reply.send(w.expire_batch_ids(now_ms));
                        false
                    }
                    Command::Compact { now_ms, reply } => {
                        let _ = reply.send(w.compact(now_ms));
                        false
                    }
                    Command::Retention { cutoff_ms, reply } => {
                        let _ = reply.send(w.retention(cutoff_ms));
                        false
                    }
                    Command::CommitChanges {
                        consumer,
                        cursor,
                        reply,
                    } => {
                        let _ = reply.send(w.commit_changes(&consumer, &cursor));
                        false
                    }
                    Command::Shutdown => true,
                };
            if let Some(c) = first {
                shutdown |= handle(c, &mut appends, &mut slots, &mut self);
                // Group commit: what is queued now, and what arrives within
                // the commit window (wall time is fine here: it only paces
                // commits, it never stamps data).
                let window = self.shared.options.commit_window;
                let until = std::time::Instant::now() + window;
                while appends.len() < MAX_GROUP && !shutdown {
                    let next = match rx.try_recv() {
                        Ok(c) => Ok(c),
                        Err(_) if window.is_zero() || appends.is_empty() => break,
                        Err(_) => {
                            let left = until.saturating_duration_since(std::time::Instant::now());
                            if left.is_zero() {
                                break;
                            }
                            rx.recv_timeout(left)
                        }
                    };
                    match next {
                        Ok(c) => shutdown |= handle(c, &mut appends, &mut slots, &mut self),
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => shutdown = true,
                    }
                }
            }
            if !appends.is_empty() {
                self.append_group(appends, slots);
            }
            if shutdown {
                return;
            }
            if last_maintenance.elapsed() >= interval {
                last_maintenance = std::time::Instant::now();
                self.maintenance();
            }
        }
    }

    /// Periodic compaction and retention, by the store's clock.
    fn maintenance(&mut self) {
        let now = self.shared.options.clock.now_ms();
        if let Err(e) = self.compact(now) {
            tracing::warn!(error = %e, "compaction failed; will retry");
        }
        if let Err(e) = self.expire_batch_ids(now) {
            tracing::warn!(error = %e, "forgetting old batch ids failed; will retry");
        }
        if let Some(days) = self.shared.retention_days() {
            let cutoff = now - i64::from(days) * oxmon_core::DAY_MS;
            if let Err(e) = self.retention(cutoff) {
                tracing::warn!(error = %e, "retention failed; will retry");
            }
        }
    }

    pub(super) fn partition(&mut self, day: i64) -> Result<&mut WritePartition> {
        if let Some(PartState::Broken(reason)) = self.shared.partitions.read_locked().get(&day) {
            return Err(Error::storage(reason.clone()));
        }
        if !self.open.contains_key(&day) {
            let path = partition::path(&self.shared.dir, day);
            let conn = partition::open_for_write(
                &path,
                self.shared.options.synchronous_full,
                self.shared.options.max_page_count,
            )?;
            let consumers = &self.shared.options.change_log_consumers;
            if !consumers.is_empty() {
                changes::register(&conn, consumers)
                    .map_err(|e| map_err(&format!("{}: change log", path.display()), e))?;
            }
            self.shared
                .partitions
                .write_locked()
                .insert(day, PartState::Ok);
            self.open.insert(
                day,
                WritePartition {
                    conn,
                    series: SeriesIds::default(),
                },
            );
        }
        self.open
            .get_mut(&day)
            .ok_or_else(|| Error::storage("partition vanished"))
    }

    fn append_group(
        &mut self,
        group: Vec<(MetricBatch, oneshot::Sender<Result<AppendOutcome>>)>,
        slots: Vec<QueueSlot>,
    ) {
        // Which batches are duplicates (of stored ones, or of an earlier one in this group)?
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut results: Vec<Option<Result<AppendOutcome>>> = Vec::with_capacity(group.len());
        let mut newest_day: Vec<i64> = Vec::with_capacity(group.len());
        for (batch, _) in &group {
            let day = batch
                .samples
                .iter()
                .map(|s| day_of(s.timestamp_ms))
                .max()
                .unwrap_or(day_of(batch.timestamp_ms));
            newest_day.push(day);
            let dup = match &batch.batch_id {
                None => Ok(false),
                Some(id) => {
                    if !seen.insert((batch.agent_id.clone(), id.clone())) {
                        Ok(true)
                    } else {
                        self.batch_seen(day, &batch.agent_id, id)
                    }
                }
            };
            results.push(match dup {
                Ok(true) => Some(Ok(AppendOutcome::Duplicate)),
                Ok(false) if batch.samples.is_empty() && batch.batch_id.is_none() => {
                    Some(Ok(AppendOutcome::Stored { samples: 0 }))
                }
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            });
        }
        self.check_caps(&group, &mut results);
        // Samples per day, oldest day first; the batch id goes with the newest day,
        // written only if every older part of the batch was stored.
        let mut days: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, (batch, _)) in group.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let mut batch_days: Vec<i64> = batch
                .samples
                .iter()
                .map(|s| day_of(s.timestamp_ms))
                .collect();
            batch_days.push(newest_day[i]);
            batch_days.sort_unstable();
            batch_days.dedup();
            for d in batch_days {
                days.entry(d).or_default().push(i);
            }
        }
        for (day, members) in days {
            let live: Vec<usize> = members
                .into_iter()
                .filter(|&i| results[i].is_none())
                .collect();
            if live.is_empty() {
                continue;
            }
            let written = self.write_day(day, &group, &live, &newest_day);
            if let Err(e) = written {
                for &i in &live {
                    results[i] = Some(Err(copy_err(&e)));
                }
            }
        }
        let mut slots = slots.into_iter();
        for (i, (batch, reply)) in group.into_iter().enumerate() {
            let result = results[i].take().unwrap_or(Ok(AppendOutcome::Stored {
                samples: batch.samples.len(),
            }));
            if let Ok(AppendOutcome::Stored { .. }) = result {
                self.shared.index.note_appended(&batch);
            }
            // The place in the queue is free before the caller hears back.
            drop(slots.next());
            let _ = reply.send(result);
        }
    }

    /// Refuses, before anything is written, each batch that would create
    /// series past a cap. New series of the batches accepted earlier in the
    /// group count as existing; the writer is the only one adding series,
    /// so nothing can slip in between this check and the write.
    fn check_caps(
        &self,
        group: &[(MetricBatch, oneshot::Sender<Result<AppendOutcome>>)],
        results: &mut [Option<Result<AppendOutcome>>],
    ) {
        let options = &self.shared.options;
        if options.max_series_per_agent.is_none() && options.max_series.is_none() {
            return;
        }
        let index = &self.shared.index;
        let mut reserved_total = 0usize;
        let mut reserved: HashMap<&str, HashSet<(&str, &Labels)>> = HashMap::new();
        for (i, (batch, _)) in group.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let agent = batch.agent_id.as_str();
            let pending = reserved.entry(agent).or_default();
            let (stored, new) = index.with_agent(agent, |a| {
                let mut new: HashSet<(&str, &Labels)> = HashSet::new();
                for s in &batch.samples {
                    let key = (s.metric.as_str(), &s.labels);
                    if !pending.contains(&key) && !a.contains(key.0, key.1) {
                        new.insert(key);
                    }
                }
                (a.len(), new)
            });
            if new.is_empty() {
                continue;
            }
            let existing = stored + pending.len();
            let total = index.series() + reserved_total;
            let refusal = match (options.max_series_per_agent, options.max_series) {
                (Some(cap), _) if existing + new.len() > cap => Some(format!(
                    "agent {agent:?}: the batch would create {} new series, past the limit of {cap} series per agent ({existing} exist); batches on existing series are still accepted",
                    new.len()
                )),
                (_, Some(cap)) if total + new.len() > cap => Some(format!(
                    "agent {agent:?}: the batch would create {} new series, past the store's limit of {cap} series ({total} exist); batches on existing series are still accepted",
                    new.len()
                )),
                _ => None,
            };
            if let Some(message) = refusal {
                self.shared.series_refusals.fetch_add(1, Ordering::Relaxed);
                results[i] = Some(Err(Error::ResourceExhausted(message)));
                continue;
            }
            reserved_total += new.len();
            pending.extend(new);
        }
    }

    fn batch_seen(&mut self, day: i64, agent: &str, id: &str) -> Result<bool> {
        let path = partition::path(&self.shared.dir, day);
        if !self.open.contains_key(&day) && !path.exists() {
            return Ok(false);
        }
        let p = self.partition(day)?;
        p.conn
            .prepare_cached("SELECT 1 FROM batches WHERE id_hash = ?1")
            .and_then(|mut st| {
                st.query_row(params![batch_hash(agent, id)], |_| Ok(()))
                    .optional()
            })
            .map(|r| r.is_some())
            .map_err(|e| map_err("batch lookup", e))
    }

    fn write_day(
        &mut self,
        day: i64,
        group: &[(MetricBatch, oneshot::Sender<Result<AppendOutcome>>)],
        members: &[usize],
        newest_day: &[i64],
    ) -> Result<()> {
        let log_changes = !self.shared.options.change_log_consumers.is_empty();
        let now_ms = self.shared.options.clock.now_ms();
        let p = self.partition(day)?;
        let tx = p
            .conn
            .unchecked_transaction()
            .map_err(|e| map_err("begin", e))?;
        let mut new_series: Vec<(String, String, Labels, i64)> = Vec::new();
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO samples_raw (minute, series_id, ts, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (minute, series_id, ts) DO UPDATE SET value = excluded.value",
                )
                .map_err(|e| map_err("prepare", e))?;
            let mut insert_series = tx
                .prepare_cached("INSERT INTO series (agent_id, metric, labels) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
                .map_err(|e| map_err("prepare", e))?;
            let mut find_series = tx
                .prepare_cached(
                    "SELECT id FROM series WHERE agent_id = ?1 AND metric = ?2 AND labels = ?3",
                )
                .map_err(|e| map_err("prepare", e))?;
            let mut insert_batch = tx
                .prepare_cached("INSERT OR IGNORE INTO batches (id_hash) VALUES (?1)")
                .map_err(|e| map_err("prepare", e))?;
            let mut local = SeriesIds::default();
            let mut log = changes::LogRow::default();
            for &i in members {
                let batch = &group[i].0;
                for s in batch
                    .samples
                    .iter()
                    .filter(|s| day_of(s.timestamp_ms) == day)
                {
                    let (agent, metric) = (batch.agent_id.as_str(), s.metric.as_str());
                    let known = p
                        .series
                        .get(agent, metric, &s.labels)
                        .or_else(|| local.get(agent, metric, &s.labels));
                    let id = match known {
                        Some(id) => id,
                        None => {
                            let canonical = s.labels.canonical();
                            insert_series
                                .execute(params![agent, metric, canonical])
                                .map_err(|e| map_err("insert series", e))?;
                            let id: i64 = find_series
                                .query_row(params![agent, metric, canonical], |r| r.get(0))
                                .map_err(|e| map_err("series id", e))?;
                            local.insert(agent, metric, &s.labels, id);
                            new_series.push((
                                agent.to_owned(),
                                metric.to_owned(),
                                s.labels.clone(),
                                id,
                            ));
                            id
                        }
                    };
                    upsert
                        .execute(params![
                            minute_of(s.timestamp_ms),
                            id,
                            s.timestamp_ms,
                            s.value
                        ])
                        .map_err(|e| map_err("insert sample", e))?;
                    if log_changes {
                        log.push(id, s.timestamp_ms, s.value);
                    }
                }
                if newest_day[i] == day
                    && let Some(id) = &batch.batch_id
                {
                    insert_batch
                        .execute(params![batch_hash(&batch.agent_id, id)])
                        .map_err(|e| map_err("insert batch id", e))?;
                }
            }
            if log_changes {
                log.insert(&tx, now_ms)?;
            }
        }
        tx.commit().map_err(|e| map_err("commit", e))?;
        for (agent, metric, labels, id) in new_series {
            p.series.insert(&agent, &metric, &labels, id);
        }
        Ok(())
    }

    /// Forgets the batch ids of every partition whose day ended
    /// `batch_ids_kept_ms` before `now_ms` (agents re-send within hours; a
    /// batch re-sent later is stored again, which changes nothing: one
    /// value per timestamp). Returns the ids forgotten.
    pub(crate) fn expire_batch_ids(&mut self, now_ms: i64) -> Result<u64> {
        let keep = self.shared.options.batch_ids_kept_ms;
        let days: Vec<i64> = self
            .shared
            .partitions
            .read_locked()
            .iter()
            .filter(|(d, s)| {
                **s == PartState::Ok
                    && (**d + 1)
                        .saturating_mul(oxmon_core::DAY_MS)
                        .saturating_add(keep)
                        <= now_ms
                    && !self.ids_expired.contains(*d)
            })
            .map(|(d, _)| *d)
            .collect();
        let mut forgotten = 0;
        for day in days {
            let p = self.partition(day)?;
            let n = p
                .conn
                .execute("DELETE FROM batches", [])
                .map_err(|e| map_err("forget batch ids", e))?;
            if n > 0 {
                super::compact::incremental_vacuum(&p.conn)?;
            }
            forgotten += n as u64;
            self.ids_expired.insert(day);
        }
        Ok(forgotten)
    }

    /// Records a consumer's change log positions, partition by partition
    /// (only those that moved, only partitions that still exist). A
    /// partition that fails does not keep the others from being recorded;
    /// the first failure is returned.
    fn commit_changes(&mut self, consumer: &str, cursor: &ChangeCursor) -> Result<()> {
        changes::check_consumer(&self.shared.options.change_log_consumers, consumer)?;
        let keep_ms = self.shared.options.change_log_keep_ms.max(0);
        let mut first_error = None;
        for (&day, &seq) in &cursor.0 {
            let key = (consumer.to_owned(), day);
            if self.committed.get(&key) == Some(&seq) {
                continue;
            }
            if self.shared.partitions.read_locked().get(&day) != Some(&PartState::Ok) {
                continue;
            }
            let done = self
                .partition(day)
                .and_then(|p| changes::commit(&p.conn, consumer, seq, keep_ms));
            match done {
                Ok(()) => {
                    self.committed.insert(key, seq);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let live = self.shared.partitions.read_locked().clone();
        self.committed.retain(|(_, d), _| live.contains_key(d));
        first_error.map_or(Ok(()), Err)
    }

    fn insert_events(&mut self, events: &[AlertEvent]) -> Result<()> {
        let mut by_day: BTreeMap<i64, Vec<&AlertEvent>> = BTreeMap::new();
        for e in events {
            by_day.entry(day_of(e.timestamp_ms)).or_default().push(e);
        }
        for (day, events) in by_day {
            let p = self.partition(day)?;
            let tx = p
                .conn
                .unchecked_transaction()
                .map_err(|e| map_err("begin", e))?;
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO alert_events (id, rule_id, agent_id, metric_name, labels, severity, status,
                         value, threshold, timestamp, fired_at, prediction, message)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .map_err(|e| map_err("prepare", e))?;
                for e in events {
                    let prediction = e
                        .prediction
                        .as_ref()
                        .and_then(|p| serde_json::to_string(p).ok());
                    st.execute(params![
                        e.id,
                        e.rule,
                        e.series.agent_id,
                        e.series.metric,
                        e.series.labels.canonical(),
                        e.severity.as_str(),
                        e.status.as_str(),
                        e.value,
                        e.threshold,
                        e.timestamp_ms,
                        e.fired_at_ms,
                        prediction,
                        e.message,
                    ])
                    .map_err(|e| map_err("insert alert event", e))?;
                }
            }
            tx.commit().map_err(|e| map_err("commit", e))?;
        }
        Ok(())
    }
}
