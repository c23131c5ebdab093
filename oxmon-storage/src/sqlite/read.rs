//! Queries over the partitions. Each partition is read in one transaction
//! (a WAL snapshot), so a compaction moving samples from raw rows into a
//! chunk is seen entirely or not at all: no sample is missed or doubled.

use std::collections::{BTreeMap, HashMap, HashSet};

use oxmon_core::{
    AlertEvent, AlertPage, AlertQuery, AlertStatus, DAY_MS, Error, Labels, Point, Prediction,
    RangeQuery, Result, SeriesKey, SeriesPoints, Severity,
};
use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

use super::index::IndexData;
use super::partition::{day_of, minute_of};
use super::{Shared, codec, map_err};

pub(crate) fn query_range(shared: &Shared, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
    let span = shared.options.chunk_span_ms;
    let mut out: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
    for day in shared.days(day_of(q.from_ms), day_of(q.to_ms)) {
        let found = shared.with_reader(day, |conn| read_partition(conn, q, span));
        match found {
            Ok(series) => {
                for (labels, points) in series {
                    out.entry(labels).or_default().extend(points);
                }
            }
            Err(e @ Error::Storage { .. }) => {
                tracing::warn!(error = %e, "skipping unreadable partition in a query");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(labels, points)| SeriesPoints {
            series: SeriesKey::new(q.agent_id.clone(), q.metric.clone(), labels),
            points,
        })
        .collect())
}

fn read_partition(
    conn: &Connection,
    q: &RangeQuery,
    span: i64,
) -> Result<Vec<(Labels, Vec<Point>)>> {
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| map_err("begin read", e))?;
    let mut series: Vec<(i64, Labels)> = Vec::new();
    {
        let mut st = match &q.labels {
            Some(_) => tx.prepare_cached(
                "SELECT id, labels FROM series WHERE agent_id = ?1 AND metric = ?2 AND labels = ?3",
            ),
            None => tx.prepare_cached(
                "SELECT id, labels FROM series WHERE agent_id = ?1 AND metric = ?2 AND ?3 IS NULL",
            ),
        }
        .map_err(|e| map_err("prepare", e))?;
        let labels = q.labels.as_ref().map(Labels::canonical);
        let rows = st
            .query_map(params![q.agent_id, q.metric, labels], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| map_err("series", e))?;
        for row in rows {
            let (id, text) = row.map_err(|e| map_err("series", e))?;
            series.push((id, Labels::from_canonical(&text)?));
        }
    }
    let mut out = Vec::with_capacity(series.len());
    {
        let mut chunks = tx
            .prepare_cached("SELECT data FROM chunks WHERE series_id = ?1 AND start_ts >= ?2 AND start_ts <= ?3 AND end_ts >= ?4 ORDER BY start_ts")
            .map_err(|e| map_err("prepare", e))?;
        let mut raw = tx
            .prepare_cached("SELECT ts, value FROM samples_raw WHERE minute = ?1 AND series_id = ?2 AND ts >= ?3 AND ts <= ?4 ORDER BY ts")
            .map_err(|e| map_err("prepare", e))?;
        // The minutes that hold raw samples in the range: one seek per minute.
        // Two queries: SQLite answers a lone min() or max() from the index
        // but scans the table for both in one statement.
        let bound = |sql: &str| -> Result<Option<i64>> {
            tx.query_row(sql, [], |r| r.get(0))
                .map_err(|e| map_err("raw bounds", e))
        };
        let raw_lo = bound("SELECT min(minute) FROM samples_raw")?;
        let raw_hi = bound("SELECT max(minute) FROM samples_raw")?;
        let minutes = match (raw_lo, raw_hi) {
            (Some(lo), Some(hi)) => minute_of(q.from_ms).max(lo)..=minute_of(q.to_ms).min(hi),
            #[allow(clippy::reversed_empty_ranges)] // no raw samples: no minutes
            _ => 1..=0,
        };
        let first_window = q.from_ms.div_euclid(span) * span;
        for (id, labels) in series {
            let mut compacted = Vec::new();
            let rows = chunks
                .query_map(params![id, first_window, q.to_ms, q.from_ms], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .map_err(|e| map_err("chunks", e))?;
            for data in rows {
                let data = data.map_err(|e| map_err("chunks", e))?;
                compacted.extend(
                    codec::decode(&data)?
                        .into_iter()
                        .filter(|p| p.timestamp_ms >= q.from_ms && p.timestamp_ms <= q.to_ms),
                );
            }
            let mut recent: Vec<Point> = Vec::new();
            for minute in minutes.clone() {
                let rows = raw
                    .query_map(params![minute, id, q.from_ms, q.to_ms], |r| {
                        Ok(Point {
                            timestamp_ms: r.get(0)?,
                            value: r.get(1)?,
                        })
                    })
                    .map_err(|e| map_err("raw", e))?;
                for row in rows {
                    recent.push(row.map_err(|e| map_err("raw", e))?);
                }
            }
            out.push((labels, codec::merge(compacted, recent)));
        }
    }
    tx.commit().map_err(|e| map_err("end read", e))?;
    Ok(out)
}

/// The agents with series in a partition (a scan of the series index, no samples read).
pub(crate) fn partition_agents(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn
        .prepare("SELECT DISTINCT agent_id FROM series")
        .map_err(|e| map_err("prepare", e))?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| map_err("agents", e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| map_err("agents", e))
}

/// Adds a partition to an index being rebuilt, partitions newest first.
///
/// - The newest point of every series the index does not know yet (a
///   series it knows was seen in a newer partition, whose points are all
///   newer): from the raw rows, or from the last chunk when it ends later
///   (decoded only then).
/// - The first sample time of the agents in `first_of` (those whose oldest
///   partition this is): from the raw rows and the first chunks, decoding
///   only chunks that may hold an earlier point than already found (a
///   chunk of one point needs no decoding: its end is its start).
///
/// One scan of the raw rows and one pass over the series (two primary-key
/// seeks each): linear in the partition's size.
pub(crate) fn index_partition(
    conn: &Connection,
    index: &mut IndexData,
    first_of: &HashSet<String>,
) -> Result<()> {
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| map_err("begin read", e))?;
    {
        // series id -> (first raw timestamp, newest raw point).
        let mut raw: FxHashMap<i64, (i64, Point)> = FxHashMap::default();
        let mut st = tx
            .prepare("SELECT series_id, ts, value FROM samples_raw")
            .map_err(|e| map_err("prepare", e))?;
        let mut rows = st.query([]).map_err(|e| map_err("raw", e))?;
        while let Some(r) = rows.next().map_err(|e| map_err("raw", e))? {
            let id: i64 = r.get(0).map_err(|e| map_err("raw", e))?;
            let p = Point {
                timestamp_ms: r.get(1).map_err(|e| map_err("raw", e))?,
                value: r.get(2).map_err(|e| map_err("raw", e))?,
            };
            raw.entry(id)
                .and_modify(|(first, last)| {
                    *first = (*first).min(p.timestamp_ms);
                    if p.timestamp_ms >= last.timestamp_ms {
                        *last = p;
                    }
                })
                .or_insert((p.timestamp_ms, p));
        }
        drop(rows);
        drop(st);
        let mut chunk_data = tx
            .prepare("SELECT data FROM chunks WHERE series_id = ?1 AND start_ts = ?2")
            .map_err(|e| map_err("prepare", e))?;
        let mut series = tx
            .prepare(
                "SELECT s.id, s.agent_id, s.metric, s.labels, f.start_ts, f.end_ts, f.count, l.start_ts, l.end_ts
                 FROM series s
                 LEFT JOIN chunks f ON f.series_id = s.id
                     AND f.start_ts = (SELECT min(start_ts) FROM chunks WHERE series_id = s.id)
                 LEFT JOIN chunks l ON l.series_id = s.id
                     AND l.start_ts = (SELECT max(start_ts) FROM chunks WHERE series_id = s.id)",
            )
            .map_err(|e| map_err("prepare", e))?;
        // agent -> (earliest time known, first chunks that may hold an earlier one).
        let mut firsts: HashMap<String, (i64, Vec<(i64, i64)>)> = HashMap::new();
        let mut rows = series.query([]).map_err(|e| map_err("series", e))?;
        while let Some(r) = rows.next().map_err(|e| map_err("series", e))? {
            let get = |e| map_err("series", e);
            let id: i64 = r.get(0).map_err(get)?;
            // Borrowed: nothing is allocated for a series the index knows.
            let text = |i: usize| -> Result<&str> {
                r.get_ref(i)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .map_err(|e| map_err("series", e))
            };
            let (agent, metric, labels) = (text(1)?, text(2)?, text(3)?);
            let first_chunk: Option<(i64, i64, i64)> = match (
                r.get(4).map_err(get)?,
                r.get(5).map_err(get)?,
                r.get(6).map_err(get)?,
            ) {
                (Some(start), Some(end), Some(count)) => Some((start, end, count)),
                _ => None,
            };
            let last_chunk: Option<(i64, i64)> =
                match (r.get(7).map_err(get)?, r.get(8).map_err(get)?) {
                    (Some(start), Some(end)) => Some((start, end)),
                    _ => None,
                };
            let raw = raw.get(&id).copied();
            if first_of.contains(agent) {
                let entry = match firsts.get_mut(agent) {
                    Some(e) => e,
                    None => firsts
                        .entry(agent.to_owned())
                        .or_insert_with(|| (i64::MAX, Vec::new())),
                };
                if let Some((first, _)) = raw {
                    entry.0 = entry.0.min(first);
                }
                match first_chunk {
                    Some((_, end, 1)) => entry.0 = entry.0.min(end),
                    Some((start, _, _)) => entry.1.push((start, id)),
                    None => {}
                }
            }
            let labels = Labels::from_canonical(labels)?;
            if index.contains(agent, metric, &labels) {
                continue;
            }
            let newest = match (raw, last_chunk) {
                (Some((_, p)), Some((_, end))) if p.timestamp_ms >= end => Some(p),
                (_, Some((start, _))) => {
                    let data: Vec<u8> = chunk_data
                        .query_row(params![id, start], |r| r.get(0))
                        .map_err(|e| map_err("chunk", e))?;
                    codec::decode(&data)?.last().copied()
                }
                (Some((_, p)), None) => Some(p),
                (None, None) => None,
            };
            if let Some(p) = newest {
                index.note_last(agent, metric, &labels, p);
            }
        }
        drop(rows);
        for (agent, (mut first, mut chunks)) in firsts {
            // Every point of a chunk is at or after its window's start.
            chunks.sort_unstable();
            for (start, id) in chunks {
                if start >= first {
                    break;
                }
                let data: Vec<u8> = chunk_data
                    .query_row(params![id, start], |r| r.get(0))
                    .map_err(|e| map_err("chunk", e))?;
                if let Some(&ts) = codec::decode_timestamps(&data)?.first() {
                    first = first.min(ts);
                }
            }
            if first != i64::MAX {
                index.note_seen(&agent, first, first);
            }
        }
    }
    tx.commit().map_err(|e| map_err("end read", e))?;
    Ok(())
}

fn filters(q: &AlertQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(s) = q.severity {
        clauses.push("severity = ?");
        args.push(Value::Text(s.as_str().to_owned()));
    }
    if let Some(a) = &q.agent_id {
        clauses.push("agent_id = ?");
        args.push(Value::Text(a.clone()));
    }
    if let Some(f) = q.from_ms {
        clauses.push("timestamp >= ?");
        args.push(Value::Integer(f));
    }
    if let Some(t) = q.to_ms {
        clauses.push("timestamp <= ?");
        args.push(Value::Integer(t));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

pub(crate) fn alert_events(shared: &Shared, q: &AlertQuery) -> Result<AlertPage> {
    let from_day = q.from_ms.map_or(i64::MIN, day_of);
    let to_day = q.to_ms.map_or(i64::MAX, day_of);
    let (where_sql, args) = filters(q);
    let mut total = 0u64;
    let mut skip = q.offset as u64;
    let mut events = Vec::new();
    for day in shared.days(from_day, to_day).into_iter().rev() {
        let page = shared.with_reader(day, |conn| {
            let count: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM alert_events {where_sql}"))
                .and_then(|mut st| st.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0)))
                .map_err(|e| map_err("count alert events", e))?;
            let count = count as u64;
            let want = q.limit.saturating_sub(events.len()) as u64;
            if skip >= count || want == 0 {
                return Ok((count, Vec::new()));
            }
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT id, rule_id, agent_id, metric_name, labels, severity, status, value, threshold, timestamp,
                     fired_at, prediction, message FROM alert_events {where_sql}
                     ORDER BY timestamp DESC, id DESC LIMIT {want} OFFSET {skip}"
                ))
                .map_err(|e| map_err("prepare", e))?;
            let rows = st
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, f64>(7)?,
                        r.get::<_, Option<f64>>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                        r.get::<_, Option<String>>(11)?,
                        r.get::<_, String>(12)?,
                    ))
                })
                .map_err(|e| map_err("alert events", e))?;
            let mut got = Vec::new();
            for row in rows {
                let (id, rule, agent, metric, labels, severity, status, value, threshold, ts, fired, prediction, message) =
                    row.map_err(|e| map_err("alert events", e))?;
                let prediction: Option<Prediction> = prediction.and_then(|p| serde_json::from_str(&p).ok());
                got.push(AlertEvent {
                    id,
                    rule,
                    series: SeriesKey::new(agent, metric, Labels::from_canonical(&labels)?),
                    severity: severity.parse::<Severity>().map_err(Error::storage)?,
                    status: if status == "resolved" { AlertStatus::Resolved } else { AlertStatus::Firing },
                    value,
                    threshold,
                    timestamp_ms: ts,
                    fired_at_ms: fired,
                    prediction,
                    message,
                });
            }
            Ok((count, got))
        });
        let (count, got) = match page {
            Ok(p) => p,
            Err(e @ Error::Storage { .. }) => {
                tracing::warn!(error = %e, "skipping unreadable partition in alert history");
                continue;
            }
            Err(e) => return Err(e),
        };
        total += count;
        skip = skip.saturating_sub(count);
        events.extend(got);
    }
    let _ = DAY_MS;
    Ok(AlertPage { events, total })
}
