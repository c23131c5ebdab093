//! Which series the engine knows, named compactly: agent and metric names
//! are stored once and referred to by number, labels are packed into one
//! small block, and one hash table finds a series from a sample (the engine
//! used to keep a `SeriesKey`, its display string and a second copy of the
//! labels per series). A [`SeriesKey`] is rebuilt only when an event or a
//! listing needs one.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::sync::Arc;

use oxmon_core::cert::IS_VALID_METRIC;
use oxmon_core::{Labels, SeriesKey};
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::memory::{heap_block, reserve_quarter, table_bytes};
use crate::rule::Rule;

/// Labels as one block: for each pair, key length, key, value length, value
/// (lengths as LEB128). One heap block of a few bytes, where a `Labels` holds
/// a string per key and per value besides its own storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PackedLabels(Box<[u8]>);

impl PackedLabels {
    fn new(labels: &Labels) -> Self {
        let mut out = Vec::new();
        for (k, v) in labels.iter() {
            for s in [k, v] {
                let mut n = s.len();
                while n >= 0x80 {
                    out.push((n as u8) | 0x80);
                    n >>= 7;
                }
                out.push(n as u8);
                out.extend_from_slice(s.as_bytes());
            }
        }
        Self(out.into_boxed_slice())
    }

    /// The pairs, as bytes.
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = &self.0[..];
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let k = take_field(&mut rest);
            let v = take_field(&mut rest);
            Some((k, v))
        })
    }

    fn eq_labels(&self, labels: &Labels) -> bool {
        let mut mine = self.pairs();
        for (k, v) in labels.iter() {
            match mine.next() {
                Some((mk, mv)) if mk == k.as_bytes() && mv == v.as_bytes() => {}
                _ => return false,
            }
        }
        mine.next().is_none()
    }

    fn to_labels(&self) -> Labels {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.pairs().map(|(k, v)| (text(k), text(v))).collect()
    }
}

/// Reads one length-prefixed field off the front of `rest`.
fn take_field<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let mut n = 0usize;
    let mut shift = 0;
    while let Some((&b, tail)) = rest.split_first() {
        *rest = tail;
        n |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let (s, tail) = rest.split_at(n.min(rest.len()));
    *rest = tail;
    s
}

/// A series' identity.
#[derive(Debug, Clone)]
pub(crate) struct SeriesId {
    agent: u32,
    metric: u32,
    labels: PackedLabels,
}

impl SeriesId {
    fn is(&self, metric: u32, agent: u32, labels: &Labels) -> bool {
        self.metric == metric && self.agent == agent && self.labels.eq_labels(labels)
    }
}

/// An agent as one metric's index knows it.
#[derive(Debug, Clone, Copy)]
struct AgentEntry {
    agent: u32,
    /// Index into `rule_sets`: the metric's rules whose pattern matches the
    /// agent (0: none).
    rules: u32,
}

#[derive(Debug, Clone)]
struct MetricEntry {
    id: u32,
    rules: Box<[u32]>,
    agents: FxHashMap<Arc<str>, AgentEntry>,
}

/// What the index says about a sample's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No rule watches it (its metric, or its agent for this metric).
    Unwatched,
    /// It has state: its index.
    Known(u32),
    /// Not seen yet: resolve it.
    Unknown,
}

/// The series with state, by index, and the tables that find them.
#[derive(Debug, Clone)]
pub(crate) struct SeriesIndex {
    metrics: FxHashMap<String, MetricEntry>,
    metric_names: Vec<Box<str>>,
    /// The id of `certificate.is_valid`, when a rule watches it.
    validity_metric: Option<u32>,
    agent_names: Vec<Arc<str>>,
    agent_ids: FxHashMap<Arc<str>, u32>,
    /// Distinct sets of rules matching an agent; the first is empty.
    rule_sets: Vec<Box<[u32]>>,
    /// A series by the hash of (metric, agent, labels).
    by_hash: FxHashMap<u64, u32>,
    /// Series whose hash another series already had (in practice none).
    collided: Vec<u32>,
    ids: Vec<SeriesId>,
}

fn series_hash(metric: u32, agent: u32, labels: &Labels) -> u64 {
    FxBuildHasher.hash_one((metric, agent, labels))
}

impl SeriesIndex {
    /// An index of the metrics `rules` watch.
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let mut metrics: FxHashMap<String, MetricEntry> = FxHashMap::default();
        let mut metric_names: Vec<Box<str>> = Vec::new();
        let mut watched: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        for (i, rule) in rules.iter().enumerate() {
            for m in rule.watched_metrics() {
                watched.entry(m.to_owned()).or_default().push(i as u32);
            }
        }
        let mut names: Vec<_> = watched.into_iter().collect();
        names.sort();
        for (name, rules) in names {
            let id = metric_names.len() as u32;
            metric_names.push(name.as_str().into());
            metrics.insert(
                name,
                MetricEntry {
                    id,
                    rules: rules.into_boxed_slice(),
                    agents: FxHashMap::default(),
                },
            );
        }
        Self {
            validity_metric: metrics.get(IS_VALID_METRIC).map(|m| m.id),
            metrics,
            metric_names,
            agent_names: Vec::new(),
            agent_ids: FxHashMap::default(),
            rule_sets: vec![Box::default()],
            by_hash: FxHashMap::default(),
            collided: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// The state of a sample's series, in one or two hash lookups.
    pub(crate) fn get(&self, metric: &str, agent: &str, labels: &Labels) -> Lookup {
        let Some(m) = self.metrics.get(metric) else {
            return Lookup::Unwatched;
        };
        let Some(a) = m.agents.get(agent) else {
            return Lookup::Unknown;
        };
        if a.rules == 0 {
            return Lookup::Unwatched;
        }
        let Some(&idx) = self.by_hash.get(&series_hash(m.id, a.agent, labels)) else {
            return Lookup::Unknown;
        };
        if self.ids[idx as usize].is(m.id, a.agent, labels) {
            return Lookup::Known(idx);
        }
        self.collided
            .iter()
            .copied()
            .find(|&i| self.ids[i as usize].is(m.id, a.agent, labels))
            .map_or(Lookup::Unknown, Lookup::Known)
    }

    /// The rules of `metric` that watch `agent`, with the ids to
    /// [`insert`](Self::insert) its series under; `None` when there are none.
    /// Remembers the agent either way.
    pub(crate) fn rules_for(
        &mut self,
        metric: &str,
        agent: &str,
        rules: &[Rule],
    ) -> Option<(u32, u32, &[u32])> {
        let Self {
            metrics,
            agent_names,
            agent_ids,
            rule_sets,
            ..
        } = self;
        let m = metrics.get_mut(metric)?;
        let entry = match m.agents.get(agent) {
            Some(&a) => a,
            None => {
                let (name, id) = match agent_ids.get_key_value(agent) {
                    Some((name, &id)) => (name.clone(), id),
                    None => {
                        let name: Arc<str> = Arc::from(agent);
                        let id = agent_names.len() as u32;
                        agent_names.push(name.clone());
                        agent_ids.insert(name.clone(), id);
                        (name, id)
                    }
                };
                let matching: Box<[u32]> = m
                    .rules
                    .iter()
                    .copied()
                    .filter(|&r| rules[r as usize].pattern.matches(agent))
                    .collect();
                let set = match rule_sets.iter().position(|s| *s == matching) {
                    Some(i) => i as u32,
                    None => {
                        rule_sets.push(matching);
                        (rule_sets.len() - 1) as u32
                    }
                };
                let a = AgentEntry {
                    agent: id,
                    rules: set,
                };
                m.agents.insert(name, a);
                a
            }
        };
        (entry.rules != 0).then(|| (m.id, entry.agent, &*rule_sets[entry.rules as usize]))
    }

    /// Records a new series (after [`get`](Self::get) said `Unknown`);
    /// returns its index.
    pub(crate) fn insert(&mut self, metric: u32, agent: u32, labels: &Labels) -> u32 {
        let idx = self.ids.len() as u32;
        reserve_quarter(&mut self.ids);
        self.ids.push(SeriesId {
            agent,
            metric,
            labels: PackedLabels::new(labels),
        });
        match self.by_hash.entry(series_hash(metric, agent, labels)) {
            Entry::Occupied(_) => self.collided.push(idx),
            Entry::Vacant(v) => {
                v.insert(idx);
            }
        }
        idx
    }

    /// The key of a series.
    pub(crate) fn key(&self, idx: u32) -> SeriesKey {
        let id = &self.ids[idx as usize];
        SeriesKey::new(
            &*self.agent_names[id.agent as usize],
            &*self.metric_names[id.metric as usize],
            id.labels.to_labels(),
        )
    }

    /// Whether the series is a `certificate.is_valid` one.
    pub(crate) fn is_validity(&self, idx: u32) -> bool {
        self.validity_metric == Some(self.ids[idx as usize].metric)
    }

    /// Approximate heap bytes, as [`crate::AlertEngine::approx_bytes`] counts them.
    pub(crate) fn approx_bytes(&self) -> usize {
        let metrics = table_bytes(&self.metrics)
            + self
                .metrics
                .iter()
                .map(|(k, m)| {
                    heap_block(k.capacity())
                        + heap_block(m.rules.len() * size_of::<u32>())
                        + table_bytes(&m.agents)
                })
                .sum::<usize>()
            + heap_block(self.metric_names.capacity() * size_of::<Box<str>>())
            + self
                .metric_names
                .iter()
                .map(|n| heap_block(n.len()))
                .sum::<usize>();
        let agents = heap_block(self.agent_names.capacity() * size_of::<Arc<str>>())
            + self
                .agent_names
                .iter()
                .map(|n| heap_block(2 * size_of::<usize>() + n.len()))
                .sum::<usize>()
            + table_bytes(&self.agent_ids);
        let rule_sets = heap_block(self.rule_sets.capacity() * size_of::<Box<[u32]>>())
            + self
                .rule_sets
                .iter()
                .map(|s| heap_block(s.len() * size_of::<u32>()))
                .sum::<usize>();
        let series = table_bytes(&self.by_hash)
            + heap_block(self.collided.capacity() * size_of::<u32>())
            + heap_block(self.ids.capacity() * size_of::<SeriesId>())
            + self
                .ids
                .iter()
                .map(|id| heap_block(id.labels.0.len()))
                .sum::<usize>();
        metrics + agents + rule_sets + series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_labels_round_trip_and_compare() {
        let long = "x".repeat(300);
        for labels in [
            Labels::new(),
            Labels::new().with("mount", "/data"),
            Labels::new()
                .with("core", "7")
                .with("", "")
                .with(long.as_str(), "é\"\\"),
        ] {
            let p = PackedLabels::new(&labels);
            assert_eq!(p.to_labels(), labels);
            assert!(p.eq_labels(&labels));
            assert!(!p.eq_labels(&labels.clone().with("extra", "1")));
        }
        let one = PackedLabels::new(&Labels::new().with("mount", "/data"));
        assert!(!one.eq_labels(&Labels::new()));
        assert!(!one.eq_labels(&Labels::new().with("mount", "/dat")));
        assert!(!one.eq_labels(&Labels::new().with("mount", "/data").with("a", "")));
        // One block of 13 bytes, not a B-tree node.
        assert_eq!(one.0.len(), 1 + 5 + 1 + 5);
    }

    #[test]
    fn series_sharing_a_hash_are_told_apart() {
        let rules = crate::RuleRegistry::new().compile(
            &oxmon_core::config::ServerConfig::from_toml(
                "[[alert.rules]]\nname = \"t\"\ntype = \"threshold\"\nmetric = \"m\"\noperator = \"gt\"\nvalue = 1.0\n",
                "t.toml",
            )
            .unwrap()
            .alert
            .rules,
        )
        .unwrap();
        let mut index = SeriesIndex::new(&rules);
        let (a, b) = (Labels::new().with("k", "a"), Labels::new().with("k", "b"));
        assert_eq!(index.get("m", "x", &a), Lookup::Unknown);
        assert_eq!(index.get("other", "x", &a), Lookup::Unwatched);
        let (metric, agent, _) = index.rules_for("m", "x", &rules).unwrap();
        let ia = index.insert(metric, agent, &a);
        // Make b's hash lead to a, as a collision would, and file b as collided.
        let ib = index.ids.len() as u32;
        index.ids.push(SeriesId {
            agent,
            metric,
            labels: PackedLabels::new(&b),
        });
        index.collided.push(ib);
        index.by_hash.insert(series_hash(metric, agent, &b), ia);
        assert_eq!(index.get("m", "x", &a), Lookup::Known(ia));
        assert_eq!(index.get("m", "x", &b), Lookup::Known(ib));
        assert_eq!(index.get("m", "x", &Labels::new()), Lookup::Unknown);
        assert_eq!(index.key(ib), SeriesKey::new("x", "m", b));
    }
}
