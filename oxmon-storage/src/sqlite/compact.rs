//! Compaction: raw samples of every window old enough are packed into
//! encoded chunks, one aligned window of one partition per transaction.

use std::collections::BTreeMap;

use oxmon_core::{Point, Result};
use rusqlite::{Connection, OptionalExtension, params};

use super::partition::minute_of;
use super::writer::Writer;
use super::{PartState, codec, map_err};
use oxmon_core::sync::RwLockExt;

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Chunks written (new or rewritten with late samples).
    pub chunks_written: u64,
    /// Raw samples moved into chunks.
    pub samples_compacted: u64,
}

impl Writer {
    /// Packs raw samples of every window that ended `compaction_lag` ago into chunks.
    pub(crate) fn compact(&mut self, now_ms: i64) -> Result<CompactReport> {
        let span = self.shared.options.chunk_span_ms;
        let bound = (now_ms - self.shared.options.compaction_lag_ms).div_euclid(span) * span;
        let days: Vec<i64> = self
            .shared
            .partitions
            .read_locked()
            .iter()
            .filter(|(d, s)| matches!(s, PartState::Ok) && **d * oxmon_core::DAY_MS < bound)
            .map(|(d, _)| *d)
            .collect();
        let mut report = CompactReport::default();
        for day in days {
            let p = self.partition(day)?;
            let r = compact_partition(&p.conn, span, bound)?;
            report.chunks_written += r.chunks_written;
            report.samples_compacted += r.samples_compacted;
        }
        Ok(report)
    }
}

/// Gives a partition's free pages back to the file system.
pub(crate) fn incremental_vacuum(conn: &Connection) -> Result<()> {
    let mut vacuum = conn
        .prepare("PRAGMA incremental_vacuum")
        .map_err(|e| map_err("incremental vacuum", e))?;
    let mut rows = vacuum
        .query([])
        .map_err(|e| map_err("incremental vacuum", e))?;
    while rows
        .next()
        .map_err(|e| map_err("incremental vacuum", e))?
        .is_some()
    {}
    Ok(())
}

fn compact_partition(conn: &Connection, span: i64, bound: i64) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    let first: Option<i64> = conn
        .query_row("SELECT min(minute) FROM samples_raw", [], |r| r.get(0))
        .map_err(|e| map_err("read raw", e))?;
    let Some(first_minute) = first else {
        return Ok(report);
    };
    // One aligned window at a time, so memory holds one window of raw samples.
    let mut window = (first_minute * 60_000).div_euclid(span) * span;
    while window + span <= bound {
        let (lo, hi) = (minute_of(window), minute_of(window + span));
        let tx = conn
            .unchecked_transaction()
            .map_err(|e| map_err("begin", e))?;
        {
            let mut raw = tx
                .prepare_cached("SELECT series_id, ts, value FROM samples_raw WHERE minute >= ?1 AND minute < ?2")
                .map_err(|e| map_err("prepare", e))?;
            let rows = raw
                .query_map(params![lo, hi], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        Point {
                            timestamp_ms: r.get(1)?,
                            value: r.get(2)?,
                        },
                    ))
                })
                .map_err(|e| map_err("read raw", e))?;
            // Rows come minute by minute; each series' points are in time order.
            let mut series: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
            for row in rows {
                let (id, p) = row.map_err(|e| map_err("read raw", e))?;
                series.entry(id).or_default().push(p);
            }
            let mut existing = tx
                .prepare_cached("SELECT data FROM chunks WHERE series_id = ?1 AND start_ts = ?2")
                .map_err(|e| map_err("prepare", e))?;
            let mut write = tx
                .prepare_cached("INSERT OR REPLACE INTO chunks (series_id, start_ts, end_ts, count, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(|e| map_err("prepare", e))?;
            for (id, points) in series {
                report.samples_compacted += points.len() as u64;
                let old: Option<Vec<u8>> = existing
                    .query_row(params![id, window], |r| r.get(0))
                    .optional()
                    .map_err(|e| map_err("read chunk", e))?;
                let merged = match old {
                    Some(data) => codec::merge(codec::decode(&data)?, points),
                    None => points,
                };
                let Some(last) = merged.last() else { continue };
                let data = codec::encode(&merged)?;
                write
                    .execute(params![
                        id,
                        window,
                        last.timestamp_ms,
                        merged.len() as i64,
                        data
                    ])
                    .map_err(|e| map_err("write chunk", e))?;
                report.chunks_written += 1;
            }
            tx.execute(
                "DELETE FROM samples_raw WHERE minute >= ?1 AND minute < ?2",
                params![lo, hi],
            )
            .map_err(|e| map_err("delete raw", e))?;
        }
        tx.commit().map_err(|e| map_err("commit", e))?;
        window += span;
    }
    if report.chunks_written > 0 {
        // Give the pages of the deleted raw rows back to the file system.
        incremental_vacuum(conn)?;
    }
    Ok(report)
}
