//! The in-memory index of the SQLite store: the newest point of every series
//! (for `latest`), each agent's first and last sample time (for `agents`),
//! and the series counts the caps are checked against.
//!
//! Shape, for memory and for time:
//! - per agent, metric -> label set -> newest point, as [`SortedMap`]s: a
//!   sorted vector while small (an agent has a few dozen metrics with a few
//!   label sets each, where B-tree nodes would be mostly empty) and a
//!   B-tree past [`SMALL`](super::sorted_map::SMALL) entries, so inserting
//!   and finding a series is O(log n) however many series an agent has and
//!   in whatever order they come;
//! - one lock per agent, plus short-lived locks on the agent table: the
//!   writer updates an agent in slices of [`UPDATE_SLICE`] samples and
//!   readers copy pages, so neither holds a lock for long and reading one
//!   agent never waits for writes to another.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use oxmon_core::sync::RwLockExt;
use oxmon_core::{Labels, LatestPage, LatestQuery, MetricBatch, Point, Sample};

use super::sorted_map::SortedMap;

/// Samples the writer applies per hold of an agent's lock.
const UPDATE_SLICE: usize = 1024;

/// Entries `latest` copies per hold of an agent's lock.
const READ_SLICE: usize = 4096;

/// One agent's newest point per series: metric -> label set -> point.
#[derive(Debug, Default)]
pub(crate) struct AgentLatest {
    metrics: SortedMap<String, SortedMap<Labels, Point>>,
    /// Number of series (label sets over all metrics).
    series: usize,
}

impl AgentLatest {
    /// Keeps `p` unless the series has a newer point; whether the series is new.
    pub(crate) fn update(&mut self, metric: &str, labels: &Labels, p: Point) -> bool {
        let (sets, _) =
            self.metrics
                .get_or_insert(metric, || metric.to_owned(), SortedMap::default);
        let (point, created) = sets.get_or_insert(labels, || labels.clone(), || p);
        if !created && point.timestamp_ms <= p.timestamp_ms {
            *point = p;
        }
        self.series += usize::from(created);
        created
    }

    /// Whether the series is known.
    pub(crate) fn contains(&self, metric: &str, labels: &Labels) -> bool {
        self.metrics
            .get(metric)
            .is_some_and(|sets| sets.get(labels).is_some())
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.series
    }

    /// The newest point of a series.
    #[cfg(test)]
    pub(crate) fn get(&self, metric: &str, labels: &Labels) -> Option<Point> {
        self.metrics.get(metric)?.get(labels).copied()
    }

    /// Metrics passing the filter, in order.
    fn matching<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a SortedMap<Labels, Point>)> + 'a {
        self.metrics
            .range_from(Bound::Included(prefix))
            .take_while(move |(m, _)| m.starts_with(prefix))
    }

    /// One page of `query`, with the number of matching series. Costs the
    /// number of matching metrics plus the page (plus the skipped part of
    /// one metric's label sets, when that metric is large).
    pub(crate) fn page(&self, query: &LatestQuery) -> LatestPage {
        let prefix = query.metric.as_deref().unwrap_or("");
        let total = if prefix.is_empty() {
            self.series
        } else {
            self.matching(prefix).map(|(_, sets)| sets.len()).sum()
        };
        let mut skip = query.offset;
        let mut samples = Vec::with_capacity(query.limit.min(total.saturating_sub(skip)));
        for (metric, sets) in self.matching(prefix) {
            if samples.len() >= query.limit {
                break;
            }
            if skip >= sets.len() {
                skip -= sets.len();
                continue;
            }
            let want = query.limit - samples.len();
            samples.extend(sets.skip(skip).take(want).map(|(labels, p)| {
                Sample::new(metric.clone(), labels.clone(), p.timestamp_ms, p.value)
            }));
            skip = 0;
        }
        LatestPage {
            samples,
            total: total as u64,
        }
    }

    /// Up to `limit` samples after the series `after` (exclusive; `None`:
    /// from the start), in order.
    fn slice_after(&self, after: Option<(&str, &Labels)>, limit: usize) -> Vec<Sample> {
        let mut out = Vec::new();
        let first = after.map_or(Bound::Unbounded, |(m, _)| Bound::Included(m));
        for (metric, sets) in self.metrics.range_from(first) {
            let start = match after {
                Some((m, l)) if m == metric.as_str() => Bound::Excluded(l),
                _ => Bound::Unbounded,
            };
            for (labels, p) in sets.range_from(start) {
                if out.len() >= limit {
                    return out;
                }
                out.push(Sample::new(
                    metric.clone(),
                    labels.clone(),
                    p.timestamp_ms,
                    p.value,
                ));
            }
        }
        out
    }
}

/// The index as built at start (or after retention), before it is shared.
#[derive(Debug, Default)]
pub(crate) struct IndexData {
    pub(crate) latest: HashMap<String, AgentLatest>,
    /// agent -> (first seen, last seen).
    pub(crate) agents: BTreeMap<String, (i64, i64)>,
}

impl IndexData {
    /// Whether the series is known.
    pub(crate) fn contains(&self, agent: &str, metric: &str, labels: &Labels) -> bool {
        self.latest
            .get(agent)
            .is_some_and(|a| a.contains(metric, labels))
    }

    /// Records a series' newest point (and the agent's last seen).
    pub(crate) fn note_last(&mut self, agent: &str, metric: &str, labels: &Labels, p: Point) {
        let a = match self.latest.get_mut(agent) {
            Some(a) => a,
            None => self.latest.entry(agent.to_owned()).or_default(),
        };
        a.update(metric, labels, p);
        self.note_seen(agent, p.timestamp_ms, p.timestamp_ms);
    }

    /// Widens an agent's first and last seen to include `[first, last]`.
    pub(crate) fn note_seen(&mut self, agent: &str, first: i64, last: i64) {
        match self.agents.get_mut(agent) {
            Some(e) => {
                e.0 = e.0.min(first);
                e.1 = e.1.max(last);
            }
            None => {
                self.agents.insert(agent.to_owned(), (first, last));
            }
        }
    }
}

type AgentSlot = Arc<RwLock<AgentLatest>>;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read_locked()
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write_locked()
}

/// The shared index. Only the writer thread changes it (and `open`), so
/// the checks it makes before writing (the caps) cannot race.
#[derive(Debug, Default)]
pub(crate) struct Index {
    latest: RwLock<HashMap<String, AgentSlot>>,
    agents: RwLock<BTreeMap<String, (i64, i64)>>,
    series: AtomicUsize,
}

impl Index {
    /// Replaces the whole index.
    pub(crate) fn install(&self, data: IndexData) {
        let series = data.latest.values().map(AgentLatest::len).sum();
        let latest = data
            .latest
            .into_iter()
            .map(|(k, v)| (k, Arc::new(RwLock::new(v))))
            .collect();
        *write(&self.latest) = latest;
        *write(&self.agents) = data.agents;
        self.series.store(series, Ordering::Relaxed);
    }

    fn agent(&self, agent_id: &str) -> Option<AgentSlot> {
        read(&self.latest).get(agent_id).cloned()
    }

    /// Number of series in the index.
    pub(crate) fn series(&self) -> usize {
        self.series.load(Ordering::Relaxed)
    }

    /// Number of series of an agent.
    pub(crate) fn agent_series(&self, agent_id: &str) -> usize {
        self.agent(agent_id).map_or(0, |a| read(&a).len())
    }

    /// Runs `f` on an agent's series under its read lock (an empty agent
    /// when unknown). Keep `f` short: the writer waits for it.
    pub(crate) fn with_agent<T>(&self, agent_id: &str, f: impl FnOnce(&AgentLatest) -> T) -> T {
        match self.agent(agent_id) {
            Some(a) => f(&read(&a)),
            None => f(&AgentLatest::default()),
        }
    }

    /// Records a stored batch: newest points, new series, first and last seen.
    pub(crate) fn note_appended(&self, batch: &MetricBatch) {
        let (Some(min), Some(max)) = (
            batch.samples.iter().map(|s| s.timestamp_ms).min(),
            batch.samples.iter().map(|s| s.timestamp_ms).max(),
        ) else {
            return;
        };
        let slot = match self.agent(&batch.agent_id) {
            Some(a) => a,
            None => write(&self.latest)
                .entry(batch.agent_id.clone())
                .or_default()
                .clone(),
        };
        for slice in batch.samples.chunks(UPDATE_SLICE) {
            let mut agent = write(&slot);
            let mut created = 0;
            for s in slice {
                let p = Point {
                    timestamp_ms: s.timestamp_ms,
                    value: s.value,
                };
                created += usize::from(agent.update(&s.metric, &s.labels, p));
            }
            drop(agent);
            self.series.fetch_add(created, Ordering::Relaxed);
        }
        let mut agents = write(&self.agents);
        match agents.get_mut(batch.agent_id.as_str()) {
            Some(e) => {
                e.0 = e.0.min(min);
                e.1 = e.1.max(max);
            }
            None => {
                agents.insert(batch.agent_id.clone(), (min, max));
            }
        }
    }

    /// The newest sample of every series of an agent, copied a slice at a
    /// time (the lock is released between slices).
    pub(crate) fn latest(&self, agent_id: &str) -> Vec<Sample> {
        let Some(slot) = self.agent(agent_id) else {
            return Vec::new();
        };
        let mut out: Vec<Sample> = Vec::new();
        loop {
            let after = out.last().map(|s| (s.metric.as_str(), &s.labels));
            let slice = read(&slot).slice_after(after, READ_SLICE);
            let done = slice.len() < READ_SLICE;
            out.extend(slice);
            if done {
                return out;
            }
        }
    }

    /// Every agent with (first seen, last seen), by id.
    pub(crate) fn agents(&self) -> Vec<(String, i64, i64)> {
        read(&self.agents)
            .iter()
            .map(|(id, &(f, l))| (id.clone(), f, l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ts: i64, v: f64) -> Point {
        Point {
            timestamp_ms: ts,
            value: v,
        }
    }

    fn id(i: usize) -> Labels {
        Labels::new().with("id", format!("{i:06}"))
    }

    #[test]
    fn typical_agents_stay_vectors() {
        // The collectors' shape: 20 metrics, up to 25 label sets each.
        let mut a = AgentLatest::default();
        for m in 0..20 {
            for l in 0..if m == 0 { 25 } else { 2 } {
                a.update(&format!("m{m}"), &id(l), p(1, 1.0));
            }
        }
        assert!(matches!(a.metrics, SortedMap::Small(_)));
        assert_eq!(a.len(), 25 + 19 * 2);
    }

    #[test]
    fn agent_latest_keeps_the_newest_point_and_counts_series() {
        let mut a = AgentLatest::default();
        assert!(a.update("cpu", &Labels::new(), p(10, 1.0)));
        assert!(
            !a.update("cpu", &Labels::new(), p(5, 2.0)),
            "older: kept out"
        );
        assert!(
            !a.update("cpu", &Labels::new(), p(10, 3.0)),
            "same time: replaces"
        );
        assert_eq!(a.get("cpu", &Labels::new()), Some(p(10, 3.0)));
        assert_eq!(a.len(), 1);
        assert!(a.contains("cpu", &Labels::new()));
        assert!(!a.contains("cpu", &id(1)));
        assert!(!a.contains("mem", &Labels::new()));
    }

    #[test]
    fn pages_and_slices_walk_every_series_once_in_order() {
        let mut a = AgentLatest::default();
        let n = 500;
        // Descending, over several metrics: both levels become trees.
        for i in (0..n).rev() {
            a.update(&format!("m.{:03}", i % 100), &id(i), p(i as i64, i as f64));
        }
        assert_eq!(a.len(), n);
        let everything = a.page(&LatestQuery {
            metric: None,
            limit: n,
            offset: 0,
        });
        assert_eq!(everything.total, n as u64);
        let keys: Vec<(String, Labels)> = everything
            .samples
            .iter()
            .map(|s| (s.metric.clone(), s.labels.clone()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "ordered by metric then labels"
        );
        // Pages of 7 put together give the whole list.
        let mut paged = Vec::new();
        for offset in (0..n).step_by(7) {
            paged.extend(
                a.page(&LatestQuery {
                    metric: None,
                    limit: 7,
                    offset,
                })
                .samples,
            );
        }
        assert_eq!(paged, everything.samples);
        // So do slices after a cursor.
        let mut sliced: Vec<Sample> = Vec::new();
        loop {
            let after = sliced.last().map(|s| (s.metric.as_str(), &s.labels));
            let s = a.slice_after(after, 9);
            if s.is_empty() {
                break;
            }
            sliced.extend(s);
        }
        assert_eq!(sliced, everything.samples);
        // A prefix: metrics m.010 .. m.019 (5 series each).
        let q = LatestQuery {
            metric: Some("m.01".into()),
            limit: 3,
            offset: 4,
        };
        let page = a.page(&q);
        assert_eq!(page.total, 50);
        let got: Vec<&str> = page.samples.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(got, ["m.010", "m.011", "m.011"]);
    }

    #[test]
    fn the_shared_index_counts_series_and_agents() {
        let index = Index::default();
        let batch = |agent: &str, from: usize, to: usize, ts: i64| MetricBatch {
            agent_id: agent.into(),
            batch_id: None,
            timestamp_ms: ts,
            samples: (from..to)
                .rev()
                .map(|i| Sample::new("m", id(i), ts, i as f64))
                .collect(),
        };
        index.note_appended(&batch("a", 0, 3000, 100));
        index.note_appended(&batch("a", 2000, 4000, 50));
        index.note_appended(&batch("b", 0, 10, 200));
        assert_eq!(index.series(), 4010);
        assert_eq!(index.agent_series("a"), 4000);
        assert_eq!(index.agent_series("nobody"), 0);
        let latest = index.latest("a");
        assert_eq!(latest.len(), 4000);
        assert_eq!(latest[2500].timestamp_ms, 100, "older batch kept out");
        assert_eq!(latest[3500].timestamp_ms, 50);
        assert_eq!(
            index.agents(),
            vec![("a".to_owned(), 50, 100), ("b".to_owned(), 200, 200)]
        );
        index.install(IndexData::default());
        assert_eq!((index.series(), index.agents().len()), (0, 0));
    }
}
