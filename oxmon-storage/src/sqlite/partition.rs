//! Day partitions: `data_dir/YYYY-MM-DD.db`, one per UTC day.

use std::path::{Path, PathBuf};

use oxmon_core::{DAY_MS, Error, Result};
use rusqlite::{Connection, OpenFlags};

/// `PRAGMA application_id` of a partition: "OXMP".
pub(crate) const APPLICATION_ID: i32 = 0x4F58_4D50;
/// `PRAGMA user_version` this code writes. Version 2 keeps chunks in a
/// rowid table (appended, so its pages fill; version 1's WITHOUT ROWID
/// table of ~1 KB rows left about half of every page empty).
pub(crate) const SCHEMA_VERSION: i32 = 2;
/// Page size of new partitions. Chunks are ~1 KB rows: 4 KiB pages held 4
/// of them and left 15% of every page empty (1.54 bytes a sample on the
/// shared dataset), 8 KiB pages 8 % (1.42), 16 KiB 4 % (1.37) at twice the
/// bytes per dirty page in every commit. Older files keep theirs.
pub(crate) const PAGE_SIZE: u32 = 8192;
/// The oldest version this code reads and writes: version 1 partitions keep
/// their chunks table (the same columns and key), so every statement works
/// on both.
pub(crate) const OLDEST_SCHEMA_VERSION: i32 = 1;

/// Days since the epoch of a timestamp (UTC).
pub(crate) fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// `YYYY-MM-DD.db` of a day.
pub(crate) fn file_name(day: i64) -> String {
    let date = jiff::Timestamp::from_millisecond(day * DAY_MS)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| format!("day-{day}"));
    format!("{date}.db")
}

/// The day of a partition file name, `None` for other files.
pub(crate) fn parse_file_name(name: &str) -> Option<i64> {
    let date = name.strip_suffix(".db")?;
    if date.len() != 10 {
        return None;
    }
    let d: jiff::civil::Date = date.parse().ok()?;
    let ts = d
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    Some(day_of(ts.as_millisecond()))
}

pub(crate) fn path(dir: &Path, day: i64) -> PathBuf {
    dir.join(file_name(day))
}

/// Removes the files of the partition of `day` (the database, its WAL and
/// shared-memory files); a file already gone is no error.
pub(crate) fn remove(dir: &Path, day: i64) -> Result<()> {
    let db = path(dir, day);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::unavailable(format!(
                    "removing {}: {e}",
                    Path::new(&p).display()
                )));
            }
        }
    }
    Ok(())
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (agent_id, metric, labels)
);
-- Acknowledged samples not yet compacted (the write-ahead part). Keyed by
-- minute first, so a commit of samples of many series touches the few pages
-- of the current minute instead of one page per series.
-- `value` has no declared type on purpose: REAL affinity would store
-- integral floats as integers and lose the sign of -0.0.
CREATE TABLE samples_raw (
    minute INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value NOT NULL,
    PRIMARY KEY (minute, series_id, ts)
) WITHOUT ROWID;
-- Compressed samples of one series over one aligned window. A rowid table:
-- chunks are appended in rowid order and fill their pages (as a WITHOUT
-- ROWID table keyed by series, inserts landed all over the b-tree and
-- pages of ~1 KB rows stayed half empty); the unique index finds them.
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (series_id, start_ts)
);
-- Batch ids seen, for idempotent re-sends (kept with the batch's newest day),
-- as a 64-bit hash of (agent id, batch id): 10 bytes a batch instead of ~60.
CREATE TABLE batches (
    id_hash INTEGER PRIMARY KEY
);
CREATE TABLE alert_events (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    labels TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL,
    timestamp INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    prediction TEXT,
    message TEXT NOT NULL
);
CREATE INDEX alert_events_by_time ON alert_events (timestamp);
-- Readable recent (not yet compacted) samples, for the sqlite3 shell.
CREATE VIEW metrics AS
    SELECT s.agent_id, s.metric AS metric_name, s.labels, r.ts AS timestamp, r.value
    FROM samples_raw r JOIN series s ON s.id = r.series_id;
";

/// Checks a partition file without modifying it.
///
/// # Errors
/// [`Error::Storage`] naming the file when it is not a readable oxmon
/// partition of a supported schema version.
pub(crate) fn check(path: &Path) -> Result<()> {
    let name = path.display();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| crate::sqlite::map_err(&format!("{name}: cannot open"), e))?;
    // I/O failures are retryable (`Unavailable`); anything else means the
    // file is not a readable database.
    let unreadable = |e: rusqlite::Error| {
        if crate::sqlite::is_transient(&e) {
            Error::unavailable_from(format!("{name}: cannot read: {e}"), e)
        } else {
            Error::storage_from(format!("{name}: unreadable (corrupt?): {e}"), e)
        }
    };
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(unreadable)?;
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Error::storage_from(format!("{name}: {e}"), e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(unreadable)?;
    match (app, version) {
        (APPLICATION_ID, OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION) => Ok(()),
        (APPLICATION_ID, v) if v > SCHEMA_VERSION => Err(Error::storage(format!(
            "{name}: written by a newer oxmon (schema version {v}; this version reads up to {SCHEMA_VERSION}); left untouched"
        ))),
        (APPLICATION_ID, v) => Err(Error::storage(format!(
            "{name}: unknown schema version {v}; left untouched"
        ))),
        (0, 0) if tables == 0 => Ok(()),
        _ => Err(Error::storage(format!(
            "{name}: not an oxmon partition (application id {app:#x}); left untouched"
        ))),
    }
}

/// Opens (creating if needed) a partition for writing, with the schema in place.
pub(crate) fn open_for_write(
    path: &Path,
    synchronous_full: bool,
    max_page_count: Option<u64>,
) -> Result<Connection> {
    if path.exists() {
        check(path)?;
    }
    let name = path.display();
    // Owner-only before SQLite creates it (its -wal and -shm inherit the mode).
    crate::sqlite::private::prepare_file(path)
        .map_err(|e| Error::unavailable_from(format!("{name}: cannot create: {e}"), e))?;
    let conn =
        Connection::open(path).map_err(|e| crate::sqlite::map_err(&format!("{name}: open"), e))?;
    let init = |conn: &Connection| -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            // auto_vacuum must be chosen before the first table exists.
            conn.execute_batch(&format!(
                "PRAGMA page_size = {PAGE_SIZE}; PRAGMA auto_vacuum = INCREMENTAL;"
            ))?;
            conn.execute_batch("PRAGMA journal_mode = WAL;")?;
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))?;
            tx.commit()?;
        } else {
            conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        }
        conn.execute_batch(if synchronous_full {
            "PRAGMA synchronous = FULL;"
        } else {
            "PRAGMA synchronous = NORMAL;"
        })?;
        // 4 MiB: SQLite scans the whole page-cache hash table at every
        // commit of this connection (pcache1TruncateUnsafe), so the cache
        // size is a per-commit CPU cost; with raw rows keyed by minute a
        // commit touches few pages, and the OS page cache backs the rest.
        // (16 MiB spent ~10% of the server's CPU there with 1,000 agents.)
        conn.execute_batch("PRAGMA cache_size = -4096;")?;
        if let Some(pages) = max_page_count {
            // The option counts 4 KiB pages whatever the file's page size.
            let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages = (pages.saturating_mul(4096) / size.max(1).unsigned_abs()).max(1);
            conn.execute_batch(&format!("PRAGMA max_page_count = {pages};"))?;
        }
        Ok(())
    };
    init(&conn).map_err(|e| crate::sqlite::map_err(&format!("{name}: initialise"), e))?;
    Ok(conn)
}

/// Opens a partition for reading.
pub(crate) fn open_for_read(path: &Path) -> Result<Connection> {
    let name = path.display();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| crate::sqlite::map_err(&format!("{name}: open for reading"), e))?;
    conn.execute_batch("PRAGMA query_only = 1; PRAGMA cache_size = -8192;")
        .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(5)))
        .map_err(|e| crate::sqlite::map_err(&format!("{name}: open for reading"), e))?;
    Ok(conn)
}

/// Minutes since the epoch: the first key of `samples_raw`.
pub(crate) fn minute_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(60_000)
}

/// The stored form of a batch id: FNV-1a 64 of agent and id.
pub(crate) fn batch_hash(agent: &str, batch_id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent.bytes().chain([0]).chain(batch_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let day = day_of(1_767_225_600_000);
        assert_eq!(file_name(day), "2026-01-01.db");
        assert_eq!(parse_file_name("2026-01-01.db"), Some(day));
        assert_eq!(
            day_of(1_767_225_600_000 - 1),
            day - 1,
            "the last ms of the previous day"
        );
        for other in [
            "cert.db",
            "2026-01-01.db-wal",
            "2026-13-01.db",
            "jwt.secret",
            "20260101.db",
        ] {
            assert_eq!(parse_file_name(other), None, "{other}");
        }
    }
}
