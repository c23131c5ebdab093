//! Queries over the partitions. Each partition is read in one transaction
//! (a WAL snapshot), so a compaction moving samples from raw rows into a
//! chunk is seen entirely or not at all: no sample is missed or doubled.

use std::collections::BTreeMap;

use oxmon_core::{
    AlertEvent, AlertPage, AlertQuery, AlertStatus, DAY_MS, Error, Labels, Point, Prediction,
    RangeQuery, Result, SeriesKey, SeriesPoints, Severity,
};
use rusqlite::{Connection, params};

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
            Err(e @ Error::Storage(_)) => {
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
        .map_err(|e| map_err("begin read", &e))?;
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
        .map_err(|e| map_err("prepare", &e))?;
        let labels = q.labels.as_ref().map(Labels::canonical);
        let rows = st
            .query_map(params![q.agent_id, q.metric, labels], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| map_err("series", &e))?;
        for row in rows {
            let (id, text) = row.map_err(|e| map_err("series", &e))?;
            series.push((id, Labels::from_canonical(&text)?));
        }
    }
    let mut out = Vec::with_capacity(series.len());
    {
        let mut chunks = tx
            .prepare_cached("SELECT data FROM chunks WHERE series_id = ?1 AND start_ts >= ?2 AND start_ts <= ?3 AND end_ts >= ?4 ORDER BY start_ts")
            .map_err(|e| map_err("prepare", &e))?;
        let mut raw = tx
            .prepare_cached("SELECT ts, value FROM samples_raw WHERE minute = ?1 AND series_id = ?2 AND ts >= ?3 AND ts <= ?4 ORDER BY ts")
            .map_err(|e| map_err("prepare", &e))?;
        // The minutes that hold raw samples in the range: one seek per minute.
        // Two queries: SQLite answers a lone min() or max() from the index
        // but scans the table for both in one statement.
        let bound = |sql: &str| -> Result<Option<i64>> {
            tx.query_row(sql, [], |r| r.get(0))
                .map_err(|e| map_err("raw bounds", &e))
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
                .map_err(|e| map_err("chunks", &e))?;
            for data in rows {
                let data = data.map_err(|e| map_err("chunks", &e))?;
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
                    .map_err(|e| map_err("raw", &e))?;
                for row in rows {
                    recent.push(row.map_err(|e| map_err("raw", &e))?);
                }
            }
            out.push((labels, codec::merge(compacted, recent)));
        }
    }
    tx.commit().map_err(|e| map_err("end read", &e))?;
    Ok(out)
}

/// (agent, metric, labels, first point, last point) of a series in a partition.
pub(crate) type SeriesExtremes = (String, String, Labels, Point, Point);

/// Per series of a partition: its first and last point.
pub(crate) fn series_extremes(conn: &Connection) -> Result<Vec<SeriesExtremes>> {
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| map_err("begin read", &e))?;
    let mut out = Vec::new();
    {
        let mut series = tx
            .prepare("SELECT id, agent_id, metric, labels FROM series")
            .map_err(|e| map_err("prepare", &e))?;
        // Raw extremes of every series in one pass (start-up and retention only).
        let mut raw_extremes: std::collections::HashMap<i64, (i64, i64)> =
            std::collections::HashMap::new();
        {
            let mut st = tx
                .prepare("SELECT series_id, min(ts), max(ts) FROM samples_raw GROUP BY series_id")
                .map_err(|e| map_err("prepare", &e))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| map_err("raw", &e))?;
            for row in rows {
                let (id, lo, hi) = row.map_err(|e| map_err("raw", &e))?;
                raw_extremes.insert(id, (lo, hi));
            }
        }
        let mut raw_value = tx
            .prepare(
                "SELECT value FROM samples_raw WHERE minute = ?1 AND series_id = ?2 AND ts = ?3",
            )
            .map_err(|e| map_err("prepare", &e))?;
        let mut first_chunk = tx
            .prepare("SELECT data FROM chunks WHERE series_id = ?1 ORDER BY start_ts ASC LIMIT 1")
            .map_err(|e| map_err("prepare", &e))?;
        let mut last_chunk = tx
            .prepare("SELECT data FROM chunks WHERE series_id = ?1 ORDER BY start_ts DESC LIMIT 1")
            .map_err(|e| map_err("prepare", &e))?;
        let rows: Vec<(i64, String, String, String)> = series
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| map_err("series", &e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| map_err("series", &e))?;
        for (id, agent, metric, labels) in rows {
            let mut first: Option<Point> = None;
            let mut last: Option<Point> = None;
            let mut consider = |p: Point| {
                if first.is_none_or(|f| p.timestamp_ms < f.timestamp_ms) {
                    first = Some(p);
                }
                if last.is_none_or(|l| p.timestamp_ms >= l.timestamp_ms) {
                    last = Some(p);
                }
            };
            for st in [&mut first_chunk, &mut last_chunk] {
                let data: Option<Vec<u8>> = st.query_row(params![id], |r| r.get(0)).ok();
                if let Some(points) = data.map(|d| codec::decode(&d)).transpose()? {
                    points.first().copied().map(&mut consider);
                    points.last().copied().map(&mut consider);
                }
            }
            let (min, max) = raw_extremes
                .get(&id)
                .map_or((None, None), |&(lo, hi)| (Some(lo), Some(hi)));
            for ts in [min, max].into_iter().flatten() {
                let value: f64 = raw_value
                    .query_row(params![minute_of(ts), id, ts], |r| r.get(0))
                    .map_err(|e| map_err("raw", &e))?;
                consider(Point {
                    timestamp_ms: ts,
                    value,
                });
            }
            if let (Some(f), Some(l)) = (first, last) {
                out.push((agent, metric, Labels::from_canonical(&labels)?, f, l));
            }
        }
    }
    tx.commit().map_err(|e| map_err("end read", &e))?;
    Ok(out)
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
                .map_err(|e| map_err("count alert events", &e))?;
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
                .map_err(|e| map_err("prepare", &e))?;
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
                .map_err(|e| map_err("alert events", &e))?;
            let mut got = Vec::new();
            for row in rows {
                let (id, rule, agent, metric, labels, severity, status, value, threshold, ts, fired, prediction, message) =
                    row.map_err(|e| map_err("alert events", &e))?;
                let prediction: Option<Prediction> = prediction.and_then(|p| serde_json::from_str(&p).ok());
                got.push(AlertEvent {
                    id,
                    rule,
                    series: SeriesKey::new(agent, metric, Labels::from_canonical(&labels)?),
                    severity: severity.parse::<Severity>().map_err(Error::Storage)?,
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
            Err(e @ Error::Storage(_)) => {
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
