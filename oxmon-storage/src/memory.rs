//! `MemoryStore`: the in-memory `MetricStore`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use oxmon_core::sync::RwLockExt;
use oxmon_core::{
    AgentInfo, AlertEvent, AlertPage, AlertQuery, AppendOutcome, Error, Labels, LatestPage,
    LatestQuery, MetricBatch, MetricStore, Point, RangeQuery, Result, RetentionReport, Sample,
    SeriesKey, SeriesPoints, check_latest_query, validate_batch,
};

/// A [`MetricStore`] that keeps everything in memory.
///
/// Public API for tests, examples and embedding programs that need no
/// persistence. It honours the whole `MetricStore` contract (it runs the
/// conformance suite) except durability across restarts.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Ordered by (agent, metric, labels), so one metric's series are adjacent.
    series: BTreeMap<SeriesKey, BTreeMap<i64, f64>>,
    /// Batch ids per agent, with the newest sample time of the batch (for retention).
    batch_ids: HashMap<String, HashMap<String, i64>>,
    events: HashMap<String, AlertEvent>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total number of stored samples.
    pub fn sample_count(&self) -> usize {
        self.read().series.values().map(BTreeMap::len).sum()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read_locked()
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write_locked()
    }
}

/// The series of one (agent, metric), in label order.
fn metric_series<'a>(
    series: &'a BTreeMap<SeriesKey, BTreeMap<i64, f64>>,
    agent_id: &'a str,
    metric: &'a str,
) -> impl Iterator<Item = (&'a SeriesKey, &'a BTreeMap<i64, f64>)> + 'a {
    let start = SeriesKey::new(agent_id, metric, Labels::new());
    series
        .range(start..)
        .take_while(move |(k, _)| k.agent_id == agent_id && k.metric == metric)
}

#[async_trait]
impl MetricStore for MemoryStore {
    async fn append(&self, batch: &MetricBatch) -> Result<AppendOutcome> {
        validate_batch(batch)?;
        let mut inner = self.write();
        if let Some(id) = &batch.batch_id {
            if inner
                .batch_ids
                .get(&batch.agent_id)
                .is_some_and(|ids| ids.contains_key(id))
            {
                return Ok(AppendOutcome::Duplicate);
            }
            let newest = batch
                .samples
                .iter()
                .map(|s| s.timestamp_ms)
                .max()
                .unwrap_or(batch.timestamp_ms);
            inner
                .batch_ids
                .entry(batch.agent_id.clone())
                .or_default()
                .insert(id.clone(), newest);
        }
        for s in &batch.samples {
            let key = SeriesKey::new(batch.agent_id.clone(), s.metric.clone(), s.labels.clone());
            inner
                .series
                .entry(key)
                .or_default()
                .insert(s.timestamp_ms, s.value);
        }
        Ok(AppendOutcome::Stored {
            samples: batch.samples.len(),
        })
    }

    async fn query_range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        if q.from_ms > q.to_ms {
            return Err(Error::InvalidInput(format!(
                "from ({}) is after to ({})",
                q.from_ms, q.to_ms
            )));
        }
        let inner = self.read();
        let to_points = |key: &SeriesKey, points: &BTreeMap<i64, f64>| {
            let points: Vec<Point> = points
                .range(q.from_ms..=q.to_ms)
                .map(|(&timestamp_ms, &value)| Point {
                    timestamp_ms,
                    value,
                })
                .collect();
            (!points.is_empty()).then(|| SeriesPoints {
                series: key.clone(),
                points,
            })
        };
        Ok(match &q.labels {
            Some(labels) => {
                let key = SeriesKey::new(q.agent_id.clone(), q.metric.clone(), labels.clone());
                inner
                    .series
                    .get(&key)
                    .and_then(|p| to_points(&key, p))
                    .into_iter()
                    .collect()
            }
            None => metric_series(&inner.series, &q.agent_id, &q.metric)
                .filter_map(|(k, p)| to_points(k, p))
                .collect(),
        })
    }

    async fn latest(&self, agent_id: &str) -> Result<Vec<Sample>> {
        let inner = self.read();
        let start = SeriesKey::new(agent_id, "", Labels::new());
        Ok(inner
            .series
            .range(start..)
            .take_while(|(k, _)| k.agent_id == agent_id)
            .filter_map(|(k, points)| {
                points
                    .last_key_value()
                    .map(|(&ts, &v)| Sample::new(k.metric.clone(), k.labels.clone(), ts, v))
            })
            .collect())
    }

    async fn latest_page(&self, agent_id: &str, query: &LatestQuery) -> Result<LatestPage> {
        check_latest_query(query)?;
        let inner = self.read();
        let prefix = query.metric.as_deref().unwrap_or("");
        let start = SeriesKey::new(agent_id, prefix, Labels::new());
        let mut total = 0u64;
        let mut samples = Vec::new();
        let matching = inner
            .series
            .range(start..)
            .take_while(|(k, _)| k.agent_id == agent_id && k.metric.starts_with(prefix));
        for (k, points) in matching {
            let Some((&ts, &v)) = points.last_key_value() else {
                continue;
            };
            if total >= query.offset as u64 && samples.len() < query.limit {
                samples.push(Sample::new(k.metric.clone(), k.labels.clone(), ts, v));
            }
            total += 1;
        }
        Ok(LatestPage { samples, total })
    }

    async fn agents(&self) -> Result<Vec<AgentInfo>> {
        let inner = self.read();
        let mut agents: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (k, points) in &inner.series {
            let (Some((&first, _)), Some((&last, _))) =
                (points.first_key_value(), points.last_key_value())
            else {
                continue;
            };
            let e = agents.entry(k.agent_id.as_str()).or_insert((first, last));
            e.0 = e.0.min(first);
            e.1 = e.1.max(last);
        }
        Ok(agents
            .into_iter()
            .map(|(id, (first, last))| AgentInfo {
                agent_id: id.to_owned(),
                first_seen_ms: first,
                last_seen_ms: last,
            })
            .collect())
    }

    async fn insert_alert_events(&self, events: &[AlertEvent]) -> Result<()> {
        let mut inner = self.write();
        for e in events {
            inner.events.insert(e.id.clone(), e.clone());
        }
        Ok(())
    }

    async fn query_alert_events(&self, q: &AlertQuery) -> Result<AlertPage> {
        if q.limit == 0 {
            return Err(Error::InvalidInput("limit must be at least 1".into()));
        }
        let inner = self.read();
        let mut matching: Vec<&AlertEvent> = inner
            .events
            .values()
            .filter(|e| q.severity.is_none_or(|s| e.severity == s))
            .filter(|e| q.agent_id.as_deref().is_none_or(|a| e.series.agent_id == a))
            .filter(|e| q.from_ms.is_none_or(|f| e.timestamp_ms >= f))
            .filter(|e| q.to_ms.is_none_or(|t| e.timestamp_ms <= t))
            .collect();
        matching.sort_by(|a, b| {
            b.timestamp_ms
                .cmp(&a.timestamp_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        let total = matching.len() as u64;
        let events = matching
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .cloned()
            .collect();
        Ok(AlertPage { events, total })
    }

    async fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionReport> {
        let mut inner = self.write();
        let mut removed = 0u64;
        inner.series.retain(|_, points| {
            let keep = points.split_off(&cutoff_ms);
            removed += points.len() as u64;
            *points = keep;
            !points.is_empty()
        });
        for ids in inner.batch_ids.values_mut() {
            ids.retain(|_, newest| *newest >= cutoff_ms);
        }
        inner.events.retain(|_, e| e.timestamp_ms >= cutoff_ms);
        Ok(RetentionReport {
            samples_removed: removed,
            partitions_removed: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_passes_the_conformance_suite() {
        let store = MemoryStore::new();
        oxmon_core::testing::store::run_all(&store).await;
        assert!(store.sample_count() > 0);
    }

    #[tokio::test]
    async fn retention_counts_removed_samples() {
        let store = MemoryStore::new();
        let samples = (0..10)
            .map(|i| Sample::new("m", Labels::new(), i * 1000, 1.0))
            .collect();
        store
            .append(&MetricBatch {
                agent_id: "a".into(),
                batch_id: None,
                timestamp_ms: 0,
                samples,
            })
            .await
            .unwrap();
        let report = store.apply_retention(4000).await.unwrap();
        assert_eq!(report.samples_removed, 4);
        assert_eq!(store.sample_count(), 6);
    }
}
