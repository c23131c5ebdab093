//! Reading what a query needs from the metric store: the catalog of series
//! under their Prometheus labels, and, for each selector of a query, the
//! points of its series over the query's window, within the limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use oxmon_core::{Labels, RangeQuery};
use promql_parser::label::Matcher;
use promql_parser::parser::{Expr, VectorSelector};

use super::PromError;
use super::eval::{self, offset_ms};
use super::value::{NAME, PromLabels, Series};
use crate::state::AppState;

/// Most series one query may read.
pub(crate) const MAX_SERIES: usize = 10_000;
/// How many store reads one query runs at once.
const PARALLEL_READS: usize = 8;
/// Most samples one query may load.
pub(crate) const MAX_SAMPLES: usize = 5_000_000;

/// One series the store has.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) labels: PromLabels,
    agent: String,
    metric: String,
    own: Labels,
}

/// A series' Prometheus labels (the mapping remote write uses too).
pub(crate) fn prom_labels(agent: &str, metric: &str, own: &Labels) -> PromLabels {
    oxmon_core::prom::series_labels(agent, metric, own)
}

/// How long a catalog is used before it is read again, ms: a new series
/// is queryable this long after its first sample at the latest.
const CATALOG_TTL_MS: i64 = 10_000;

/// The catalog of series last read, and when (shared by the state's
/// clones).
#[derive(Debug, Clone, Default)]
pub struct CatalogCache(Arc<tokio::sync::Mutex<Option<Read>>>);

/// A catalog and when it was read (ms).
type Read = (i64, Arc<Vec<Entry>>);

/// Every series the store has (its newest values name them), read at most
/// once every ten seconds: a query costs no walk over every agent.
pub(crate) async fn catalog(state: &AppState) -> Result<Arc<Vec<Entry>>, PromError> {
    let mut cached = state.prom_catalog.0.lock().await;
    let now = state.clock.now_ms();
    if let Some((at, entries)) = cached.as_ref()
        && now - at < CATALOG_TTL_MS
        && now >= *at
    {
        return Ok(entries.clone());
    }
    let entries = Arc::new(read_catalog(state).await?);
    *cached = Some((now, entries.clone()));
    Ok(entries)
}

async fn read_catalog(state: &AppState) -> Result<Vec<Entry>, PromError> {
    let store = state
        .metrics()
        .map_err(|_| PromError::unavailable("no metric store on this server"))?;
    let mut out = Vec::new();
    for agent in store.agents().await? {
        for s in store.latest(&agent.agent_id).await? {
            out.push(Entry {
                labels: prom_labels(&agent.agent_id, &s.metric, &s.labels),
                agent: agent.agent_id.clone(),
                metric: s.metric,
                own: s.labels,
            });
        }
    }
    Ok(out)
}

fn matches(m: &Matcher, labels: &PromLabels) -> bool {
    m.is_match(labels.get(&m.name).map_or("", String::as_str))
}

/// Whether the selector selects a series with `labels`.
pub(crate) fn selects(vs: &VectorSelector, labels: &PromLabels) -> bool {
    if vs
        .name
        .as_ref()
        .is_some_and(|n| labels.get(NAME) != Some(n))
    {
        return false;
    }
    let all = |set: &[Matcher]| set.iter().all(|m| matches(m, labels));
    if vs.matchers.or_matchers.is_empty() {
        all(&vs.matchers.matchers)
    } else {
        vs.matchers.or_matchers.iter().any(|set| all(set))
    }
}

/// For each selector of `expr`, its series' points from what the earliest
/// evaluation (at `start`) reads back to the latest (at `end`).
pub(crate) async fn load(
    state: &AppState,
    expr: &Expr,
    start: i64,
    end: i64,
) -> Result<HashMap<String, Vec<Series>>, PromError> {
    let mut wanted = Vec::new();
    eval::selectors(expr, &mut wanted).map_err(PromError::bad_data)?;
    let mut data = HashMap::new();
    if wanted.is_empty() {
        return Ok(data);
    }
    let store = state
        .metrics()
        .map_err(|_| PromError::unavailable("no metric store on this server"))?;
    let catalog = catalog(state).await?;
    let (mut series_count, mut samples) = (0usize, 0usize);
    // One read per selector text: `x` and `x[1h]` share a key and so the
    // widest span of the two.
    let mut widest: BTreeMap<String, (VectorSelector, i64)> = BTreeMap::new();
    for (vs, span) in wanted {
        if span > super::MAX_RANGE_MS {
            return Err(PromError::bad_data(format!(
                "the range of `{vs}` is longer than 31 days"
            )));
        }
        let entry = widest.entry(eval::selector_key(&vs)).or_insert((vs, span));
        entry.1 = entry.1.max(span);
    }
    for (key, (vs, span)) in widest {
        let offset = offset_ms(&vs);
        let (from, to) = (
            start.saturating_sub(offset).saturating_sub(span),
            end.saturating_sub(offset),
        );
        // The selected series, by where they live.
        let mut by_metric: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
        for e in catalog.iter().filter(|e| selects(&vs, &e.labels)) {
            series_count += 1;
            if series_count > MAX_SERIES {
                return Err(PromError::bad_data(format!(
                    "the query selects more than {MAX_SERIES} series"
                )));
            }
            by_metric.entry((&e.agent, &e.metric)).or_default().push(e);
        }
        // A few reads at once: the store's readers work in parallel.
        let mut series = Vec::new();
        let mut pending = tokio::task::JoinSet::new();
        let mut groups = by_metric.into_iter();
        loop {
            while pending.len() < PARALLEL_READS
                && let Some(((agent, metric), entries)) = groups.next()
            {
                let store = store.clone();
                let query = RangeQuery {
                    agent_id: agent.to_owned(),
                    metric: metric.to_owned(),
                    labels: None,
                    from_ms: from,
                    to_ms: to,
                };
                let wanted: Vec<(Labels, PromLabels)> = entries
                    .iter()
                    .map(|e| (e.own.clone(), e.labels.clone()))
                    .collect();
                pending.spawn(async move { (store.query_range(&query).await, wanted) });
            }
            let Some(done) = pending.join_next().await else {
                break;
            };
            let (found, wanted) = done.map_err(|e| PromError::unavailable(e.to_string()))?;
            for s in found? {
                if let Some((_, labels)) = wanted.iter().find(|(own, _)| *own == s.series.labels) {
                    samples += s.points.len();
                    if samples > MAX_SAMPLES {
                        return Err(PromError::bad_data(format!(
                            "the query loads more than {MAX_SAMPLES} samples"
                        )));
                    }
                    series.push(Series {
                        labels: labels.clone(),
                        points: s.points.iter().map(|p| (p.timestamp_ms, p.value)).collect(),
                    });
                }
            }
        }
        // The same order whatever finished first.
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        data.insert(key, series);
    }
    Ok(data)
}
