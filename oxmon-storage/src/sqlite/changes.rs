//! The change log: what each write transaction stored, for the consumers
//! the store was opened with (remote write destinations). A partition's
//! transaction (one group commit, one day) appends one row holding its
//! samples as (series id, timestamp, value), about 12 bytes a sample, in
//! the same transaction: samples are in the log exactly when they are
//! stored. Readers turn series ids back into agent, metric and labels
//! from the partition's `series` table. Each partition keeps each
//! consumer's position; rows every consumer has passed (and older than
//! `change_log_keep_ms`) are deleted.
//!
//! Sequence numbers come from `AUTOINCREMENT`, so they never repeat in a
//! partition even after every row was deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use oxmon_core::pack::{Reader, put_varint, unzigzag, zigzag};
use oxmon_core::{Change, ChangeCursor, Changes, Error, Labels, MetricBatch, Result, Sample};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{PartState, Shared, map_err};
use oxmon_core::sync::RwLockExt;

/// Created in every partition opened for writing (older files gain it).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stored_at INTEGER NOT NULL,
    samples BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS change_cursor (
    consumer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Rows read per query while filling one answer.
const ROWS_PER_QUERY: i64 = 256;

/// Gives each consumer a position in a partition just opened for writing:
/// the end of its log for a consumer new to it (it gets what comes next);
/// positions of consumers no longer configured are dropped.
pub(crate) fn register(conn: &Connection, consumers: &[String]) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    let tx = conn.unchecked_transaction()?;
    {
        let mut add = tx.prepare_cached(
            "INSERT OR IGNORE INTO change_cursor (consumer, seq)
             SELECT ?1, coalesce(max(seq), 0) FROM change_log",
        )?;
        for c in consumers {
            add.execute(params![c])?;
        }
        let known: Vec<String> = tx
            .prepare("SELECT consumer FROM change_cursor")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for gone in known.iter().filter(|k| !consumers.contains(k)) {
            tx.execute(
                "DELETE FROM change_cursor WHERE consumer = ?1",
                params![gone],
            )?;
        }
    }
    tx.commit()
}

/// The log row of one transaction, filled as its samples are written:
/// a count, then per sample its series id (varint), its timestamp as a
/// zigzag varint from the previous one, and its value's 8 bytes.
#[derive(Debug, Default)]
pub(crate) struct LogRow {
    bytes: Vec<u8>,
    count: u64,
    last_ts: i64,
}

impl LogRow {
    pub(crate) fn push(&mut self, series_id: i64, ts: i64, value: f64) {
        put_varint(&mut self.bytes, series_id.unsigned_abs());
        put_varint(&mut self.bytes, zigzag(ts.wrapping_sub(self.last_ts)));
        self.bytes.extend_from_slice(&value.to_bits().to_le_bytes());
        self.last_ts = ts;
        self.count += 1;
    }

    /// Appends the row inside the transaction storing its samples.
    pub(crate) fn insert(self, tx: &Transaction<'_>, stored_at_ms: i64) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut blob = Vec::with_capacity(self.bytes.len() + 10);
        put_varint(&mut blob, self.count);
        blob.extend_from_slice(&self.bytes);
        tx.prepare_cached("INSERT INTO change_log (stored_at, samples) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![stored_at_ms, blob]))
            .map(drop)
            .map_err(|e| map_err("change log", e))
    }
}

/// A row's samples: (series id, timestamp, value); `None` when the bytes
/// are not such a row.
fn decode(blob: &[u8]) -> Option<Vec<(i64, i64, f64)>> {
    let mut r = Reader(blob);
    let count = usize::try_from(r.varint()?).ok()?;
    // Every sample takes at least 10 bytes.
    if count > blob.len() / 10 + 1 {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut ts = 0i64;
    for _ in 0..count {
        let id = i64::try_from(r.varint()?).ok()?;
        ts = ts.wrapping_add(unzigzag(r.varint()?));
        let value = f64::from_bits(u64::from_le_bytes(r.take(8)?.try_into().ok()?));
        out.push((id, ts, value));
    }
    r.is_empty().then_some(out)
}

/// A partition's series by id (agent, metric, labels), as far as read.
#[derive(Debug, Default)]
pub(crate) struct SeriesNames {
    max_id: i64,
    by_id: HashMap<i64, (Arc<str>, Arc<str>, Labels)>,
}

impl SeriesNames {
    /// Reads the series made since the last call.
    fn refresh(&mut self, conn: &Connection) -> Result<()> {
        let mut st = conn
            .prepare_cached("SELECT id, agent_id, metric, labels FROM series WHERE id > ?1")
            .map_err(|e| map_err("change log series", e))?;
        let rows = st
            .query_map(params![self.max_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| map_err("change log series", e))?;
        for row in rows {
            let (id, agent, metric, labels) = row.map_err(|e| map_err("change log series", e))?;
            self.max_id = self.max_id.max(id);
            match Labels::from_canonical(&labels) {
                Ok(labels) => {
                    self.by_id.insert(id, (agent.into(), metric.into(), labels));
                }
                Err(e) => {
                    tracing::error!(id, error = %e, "a series' labels are unreadable; its samples are skipped");
                }
            }
        }
        Ok(())
    }
}

/// Records a consumer's position (never moving it back) and deletes the
/// rows every consumer has passed, except those stored within `keep_ms`
/// before the newest of them (measured from what was sent, not from now:
/// a consumer stuck for an hour still finds the seconds before its outage
/// to send again). Runs on the writer thread.
pub(crate) fn commit(conn: &Connection, consumer: &str, seq: i64, keep_ms: i64) -> Result<()> {
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| map_err("begin", e))?;
    tx.execute(
        "INSERT INTO change_cursor (consumer, seq) VALUES (?1, ?2)
         ON CONFLICT (consumer) DO UPDATE SET seq = max(seq, excluded.seq)",
        params![consumer, seq],
    )
    .and_then(|_| {
        tx.execute(
            "DELETE FROM change_log WHERE seq <= (SELECT min(seq) FROM change_cursor)
             AND stored_at <= (SELECT stored_at FROM change_log
                               WHERE seq <= (SELECT min(seq) FROM change_cursor)
                               ORDER BY seq DESC LIMIT 1) - ?1",
            params![keep_ms],
        )
    })
    .map_err(|e| map_err("change log commit", e))?;
    tx.commit().map_err(|e| map_err("commit", e))
}

/// Whether the change log tables are missing (a partition never opened for
/// writing since the log existed): nothing to read there.
fn missing_table(e: &rusqlite::Error) -> bool {
    e.to_string().contains("no such table")
}

/// Where `consumer` stands: its committed position in each partition, or
/// the partition's end where it has none.
pub(crate) fn cursor(shared: &Shared, consumer: &str) -> Result<ChangeCursor> {
    let mut cursor = ChangeCursor::default();
    for day in healthy_days(shared) {
        let seq = shared.with_reader(day, |conn| {
            let read = || -> rusqlite::Result<i64> {
                let own: Option<i64> = conn
                    .query_row(
                        "SELECT seq FROM change_cursor WHERE consumer = ?1",
                        params![consumer],
                        |r| r.get(0),
                    )
                    .optional()?;
                match own {
                    Some(seq) => Ok(seq),
                    None => {
                        conn.query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| {
                            r.get(0)
                        })
                    }
                }
            };
            match read() {
                Ok(seq) => Ok(Some(seq)),
                Err(e) if missing_table(&e) => Ok(None),
                Err(e) => Err(map_err("change cursor", e)),
            }
        })?;
        if let Some(seq) = seq {
            cursor.0.insert(day, seq);
        }
    }
    Ok(cursor)
}

fn healthy_days(shared: &Shared) -> Vec<i64> {
    shared
        .partitions
        .read_locked()
        .iter()
        .filter(|(_, s)| **s == PartState::Ok)
        .map(|(d, _)| *d)
        .collect()
}

/// Batches after `after`, oldest partition first, up to about
/// `max_samples` samples. Partitions absent from `after` are read from
/// their start (they were made after the cursor); positions of partitions
/// gone (retention) are dropped from the cursor returned.
pub(crate) fn read(shared: &Shared, after: &ChangeCursor, max_samples: usize) -> Result<Changes> {
    let days = healthy_days(shared);
    let mut next = ChangeCursor(
        after
            .0
            .iter()
            .filter(|(d, _)| days.contains(d))
            .map(|(d, s)| (*d, *s))
            .collect(),
    );
    let mut changes = Vec::new();
    let mut samples = 0usize;
    for day in days {
        if samples >= max_samples && !changes.is_empty() {
            break;
        }
        // A partition that cannot be read now keeps its position and does
        // not hold up the others.
        if let Err(e) = read_day(
            shared,
            day,
            &mut next,
            &mut changes,
            &mut samples,
            max_samples,
        ) {
            warn_now_and_then(shared, day, &e);
        }
    }
    Ok(Changes { changes, next })
}

/// Reads one partition's rows after its position in `next` into `changes`,
/// moving the position past each row read.
fn read_day(
    shared: &Shared,
    day: i64,
    next: &mut ChangeCursor,
    changes: &mut Vec<Change>,
    samples: &mut usize,
    max_samples: usize,
) -> Result<()> {
    let mut from = next.0.get(&day).copied().unwrap_or(0);
    loop {
        let rows: Vec<(i64, i64, Vec<u8>)> = shared.with_reader(day, |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT seq, stored_at, samples FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .and_then(|mut st| {
                    st.query_map(params![from, ROWS_PER_QUERY], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                });
            match rows {
                Ok(rows) => Ok(rows),
                Err(e) if missing_table(&e) => Ok(Vec::new()),
                Err(e) => Err(map_err("change log read", e)),
            }
        })?;
        let full = rows.len() as i64 == ROWS_PER_QUERY;
        for (seq, stored_at_ms, bytes) in rows {
            if *samples >= max_samples && !changes.is_empty() {
                return Ok(());
            }
            let Some(points) = decode(&bytes) else {
                tracing::error!(
                    day,
                    seq,
                    "a change log row is not readable (corrupt?); skipped"
                );
                from = seq;
                next.0.insert(day, seq);
                continue;
            };
            let named = batches(shared, day, points)?;
            from = seq;
            next.0.insert(day, seq);
            *samples += named.iter().map(|b| b.samples.len()).sum::<usize>();
            changes.extend(named.into_iter().map(|batch| Change {
                position: (day, seq),
                stored_at_ms,
                batch,
            }));
        }
        if !full || *samples >= max_samples {
            return Ok(());
        }
    }
}

/// Logs a partition that cannot be read, at most once a minute (readers
/// poll several times a second).
fn warn_now_and_then(shared: &Shared, day: i64, e: &Error) {
    let mut last = shared
        .change_log_warned
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60)) {
        *last = Some(std::time::Instant::now());
        tracing::warn!(day, error = %e, "change log: a partition cannot be read now; the others go on");
    }
}

/// Days whose series names are kept for reading the change log (readers
/// are at most a few days behind; older days are read again when needed).
const NAMED_DAYS: usize = 3;

/// A row's samples as one batch per agent, series ids named from the
/// partition's `series` table.
fn batches(shared: &Shared, day: i64, points: Vec<(i64, i64, f64)>) -> Result<Vec<MetricBatch>> {
    let lock = || {
        shared
            .change_series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    // Out of the shared map while SQLite is read, so the lock (which the
    // writer takes when retention drops a day) is never held over I/O.
    let mut names = lock().remove(&day).unwrap_or_default();
    if points
        .iter()
        .any(|(id, _, _)| !names.by_id.contains_key(id))
    {
        shared.with_reader(day, |conn| names.refresh(conn))?;
    }
    let mut by_agent: BTreeMap<Arc<str>, Vec<Sample>> = BTreeMap::new();
    for (id, ts, value) in points {
        let Some((agent, metric, labels)) = names.by_id.get(&id) else {
            tracing::error!(day, id, "a change log sample names no series; skipped");
            continue;
        };
        by_agent.entry(agent.clone()).or_default().push(Sample::new(
            metric.as_ref(),
            labels.clone(),
            ts,
            value,
        ));
    }
    let mut cache = lock();
    if shared.partitions.read_locked().contains_key(&day) {
        cache.insert(day, names);
        while cache.len() > NAMED_DAYS {
            let Some(oldest) = cache.keys().copied().filter(|d| *d != day).min() else {
                break;
            };
            cache.remove(&oldest);
        }
    }
    drop(cache);
    Ok(by_agent
        .into_iter()
        .map(|(agent, samples)| MetricBatch::new(agent.as_ref(), samples))
        .collect())
}

/// Checks a consumer name against the store's consumers.
pub(crate) fn check_consumer(consumers: &[String], consumer: &str) -> Result<()> {
    if consumers.iter().any(|c| c == consumer) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{consumer:?} is not a consumer of this store's change log (consumers: {consumers:?})"
        )))
    }
}

/// Positions moved back by `by_ms` of storing time from the newest batch
/// at or below `cursor` in any partition (see
/// `MetricStore::rewind_changes`): one moment for every partition, so an
/// older day's last rows are not sent again with today's.
pub(crate) fn rewind(shared: &Shared, cursor: &ChangeCursor, by_ms: i64) -> Result<ChangeCursor> {
    let live = |day: &i64| shared.partitions.read_locked().get(day) == Some(&PartState::Ok);
    let query = |day: i64, sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<Option<i64>> {
        shared.with_reader(day, |conn| {
            match conn
                .query_row(sql, args, |r| r.get::<_, Option<i64>>(0))
                .optional()
            {
                Ok(v) => Ok(v.flatten()),
                Err(e) if missing_table(&e) => Ok(None),
                Err(e) => Err(map_err("change log rewind", e)),
            }
        })
    };
    let mut newest: Option<i64> = None;
    for (&day, &seq) in cursor.0.iter().filter(|(d, _)| live(d)) {
        let at = query(
            day,
            "SELECT max(stored_at) FROM change_log WHERE seq <= ?1",
            &[&seq],
        )?;
        newest = newest.max(at);
    }
    let Some(newest) = newest else {
        return Ok(cursor.clone());
    };
    let since = newest.saturating_sub(by_ms);
    let mut out = cursor.clone();
    for (&day, seq) in out.0.iter_mut().filter(|(d, _)| live(d)) {
        let first = query(
            day,
            "SELECT min(seq) FROM change_log WHERE seq <= ?1 AND stored_at >= ?2",
            &[&*seq, &since],
        )?;
        if let Some(first) = first {
            *seq = (first - 1).min(*seq);
        }
    }
    Ok(out)
}
