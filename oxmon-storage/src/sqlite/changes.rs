//! The change log: every stored batch, packed, in the partition of its
//! newest day, written in the same transaction as the batch's samples and
//! id (so a batch is in the log exactly when it is stored), for the
//! consumers the store was opened with (remote write destinations). Each
//! partition keeps each consumer's position; rows every consumer has
//! passed are deleted.
//!
//! Sequence numbers come from `AUTOINCREMENT`, so they never repeat in a
//! partition even after every row was deleted.

use oxmon_core::pack::PackedBatch;
use oxmon_core::{Change, ChangeCursor, Changes, Error, MetricBatch, Result};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{PartState, Shared, map_err};
use oxmon_core::sync::RwLockExt;

/// Created in every partition opened for writing (older files gain it).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stored_at INTEGER NOT NULL,
    batch BLOB NOT NULL
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

/// Appends a stored batch to the log, inside the transaction storing it.
pub(crate) fn append(tx: &Transaction<'_>, stored_at_ms: i64, batch: &MetricBatch) -> Result<()> {
    let bytes = PackedBatch::pack(batch).to_bytes();
    tx.prepare_cached("INSERT INTO change_log (stored_at, batch) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![stored_at_ms, bytes]))
        .map(drop)
        .map_err(|e| map_err("change log", e))
}

/// Records a consumer's positions (never moving one back) and deletes the
/// rows every consumer has passed that were stored at or before
/// `keep_before_ms`. Runs on the writer thread.
pub(crate) fn commit(
    conn: &Connection,
    consumer: &str,
    seq: i64,
    keep_before_ms: i64,
) -> Result<()> {
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
            "DELETE FROM change_log WHERE seq <= (SELECT min(seq) FROM change_cursor) AND stored_at <= ?1",
            params![keep_before_ms],
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
        let mut from = next.0.get(&day).copied().unwrap_or(0);
        loop {
            let rows: Vec<(i64, i64, Vec<u8>)> = shared.with_reader(day, |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT seq, stored_at, batch FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
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
                if samples >= max_samples && !changes.is_empty() {
                    return Ok(Changes { changes, next });
                }
                from = seq;
                next.0.insert(day, seq);
                match PackedBatch::from_bytes(&bytes).and_then(|p| p.unpack()) {
                    Some(batch) => {
                        samples += batch.samples.len();
                        changes.push(Change {
                            position: (day, seq),
                            stored_at_ms,
                            batch,
                        });
                    }
                    None => tracing::error!(
                        day,
                        seq,
                        "a change log row is not a batch (corrupt?); skipped"
                    ),
                }
            }
            if !full || samples >= max_samples {
                break;
            }
        }
    }
    Ok(Changes { changes, next })
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

/// Each partition's position moved back by `by_ms` of storing time (see
/// `MetricStore::rewind_changes`).
pub(crate) fn rewind(shared: &Shared, cursor: &ChangeCursor, by_ms: i64) -> Result<ChangeCursor> {
    let mut out = cursor.clone();
    for (&day, seq) in &mut out.0 {
        if shared.partitions.read_locked().get(&day) != Some(&PartState::Ok) {
            continue;
        }
        let back = shared.with_reader(day, |conn| {
            let read = || -> rusqlite::Result<Option<i64>> {
                let newest: Option<i64> = conn.query_row(
                    "SELECT stored_at FROM change_log WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
                    params![*seq],
                    |r| r.get(0),
                ).optional()?;
                let Some(newest) = newest else {
                    return Ok(None);
                };
                let since = newest.saturating_sub(by_ms);
                conn.query_row(
                    "SELECT min(seq) - 1 FROM change_log WHERE seq <= ?1 AND stored_at >= ?2",
                    params![*seq, since],
                    |r| r.get(0),
                )
            };
            match read() {
                Ok(v) => Ok(v),
                Err(e) if missing_table(&e) => Ok(None),
                Err(e) => Err(map_err("change log rewind", e)),
            }
        })?;
        if let Some(back) = back {
            *seq = back.min(*seq);
        }
    }
    Ok(out)
}
