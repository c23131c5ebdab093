//! Domain types: samples, series, batches, severities, agents.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The labels of a series: a canonical map, sorted by key.
///
/// Two label sets with the same pairs are equal and serialize identically,
/// whatever order they were built in (the original implementation used a hash
/// map and produced a different series per process).
///
/// Kept as a sorted vector of pairs: a series has a handful of labels, and
/// every index of series holds a copy, so a map's node (over 500 bytes for
/// one label) would be most of the memory of a large installation.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a label, builder style.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds or replaces a label.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical text form: a JSON object with keys in sorted order
    /// (`{}` for no labels). Stores use it as the series' label key, so it is
    /// stable across versions.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Writes the canonical form ([`Labels::canonical`]) to `out`, without
    /// building the string (to hash it, say).
    ///
    /// # Errors
    /// What `out` returns.
    pub fn write_canonical(&self, out: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(out, self).map_err(std::io::Error::from)
    }

    /// Parses the canonical form produced by [`Labels::canonical`].
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when the text is not a JSON object of strings.
    pub fn from_canonical(text: &str) -> crate::Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| crate::Error::InvalidInput(format!("labels `{text}`: {e}")))
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        Labels(map.into_iter().collect())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    /// A later pair with the same key replaces an earlier one.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(String, String)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Stable, so of equal keys the later pair stays later; dedup then
        // keeps the first of a run with the last one's value. No map node
        // per series (ingest builds one `Labels` per point).
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Labels(pairs)
    }
}

impl Serialize for Labels {
    /// A JSON object (any map), keys in sorted order.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(Labels::from)
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            // `{v:?}` quotes and escapes; printable ASCII other than a
            // quote or backslash needs no escape and is written as is.
            if v.bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            {
                f.write_str(k)?;
                f.write_str("=\"")?;
                f.write_str(v)?;
                f.write_str("\"")?;
            } else {
                write!(f, "{k}={v:?}")?;
            }
        }
        f.write_str("}")
    }
}

/// A series: one agent's metric with one label set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    /// The agent that reported it.
    pub agent_id: String,
    /// The metric name, such as `disk.used_percent`.
    pub metric: String,
    /// The labels, such as `{mount="/"}`.
    pub labels: Labels,
}

impl SeriesKey {
    /// Builds a series key.
    pub fn new(agent_id: impl Into<String>, metric: impl Into<String>, labels: Labels) -> Self {
        Self {
            agent_id: agent_id.into(),
            metric: metric.into(),
            labels,
        }
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agent_id, self.metric)?;
        if !self.labels.is_empty() {
            write!(f, "{}", self.labels)?;
        }
        Ok(())
    }
}

/// One measurement of an agent's series. The agent is not part of it: a
/// sample belongs to the [`MetricBatch`] (or the query) that carries it, and
/// the batch names the agent once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The metric name, such as `cpu.usage`.
    pub metric: String,
    /// The labels, canonical and sorted.
    pub labels: Labels,
    /// When it was measured, milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// Builds a sample.
    pub fn new(metric: impl Into<String>, labels: Labels, timestamp_ms: i64, value: f64) -> Self {
        Self {
            metric: metric.into(),
            labels,
            timestamp_ms,
            value,
        }
    }

    /// The series this sample belongs to when `agent_id` reported it.
    pub fn series_key(&self, agent_id: &str) -> SeriesKey {
        SeriesKey::new(agent_id, self.metric.clone(), self.labels.clone())
    }

    /// The point part of the sample.
    pub fn point(&self) -> Point {
        Point {
            timestamp_ms: self.timestamp_ms,
            value: self.value,
        }
    }
}

/// A timestamped value of a known series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// What an agent sends in one report: the samples of one or more
/// collections, all of them the agent's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBatch {
    /// The reporting agent, once for every sample of the batch. The server
    /// files the samples under this id after authenticating it.
    pub agent_id: String,
    /// Identifies the batch for idempotent re-sends: a store acknowledges a
    /// batch id it has already stored as a duplicate without storing it again.
    pub batch_id: Option<String>,
    /// When the agent built the batch (ms since the epoch). Informational only:
    /// each sample carries its own timestamp.
    pub timestamp_ms: i64,
    /// The samples, each of `agent_id`'s series.
    pub samples: Vec<Sample>,
}

impl MetricBatch {
    /// A batch of `agent_id`'s samples without an id, stamped with the newest
    /// sample's time.
    pub fn new(agent_id: impl Into<String>, samples: Vec<Sample>) -> Self {
        let timestamp_ms = samples.iter().map(|s| s.timestamp_ms).max().unwrap_or(0);
        Self {
            agent_id: agent_id.into(),
            batch_id: None,
            timestamp_ms,
            samples,
        }
    }

    /// The same batch with an id for idempotent re-sends.
    #[must_use]
    pub fn with_batch_id(mut self, batch_id: impl Into<String>) -> Self {
        self.batch_id = Some(batch_id.into());
        self
    }
}

/// How serious an alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The spec's spelling: `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    /// Parses `info`, `warning` (or `warn`), `critical` (or `crit`), ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "critical" | "crit" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity `{s}`, expected one of: info, warning, critical"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the server knows about an agent that has reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's id.
    pub agent_id: String,
    /// Timestamp (ms) of the earliest sample stored for it.
    pub first_seen_ms: i64,
    /// Timestamp (ms) of the latest sample stored for it.
    pub last_seen_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Values written as they are (printable ASCII) read exactly as
        /// `{:?}` writes them, and so do the rest.
        #[test]
        fn labels_display_quotes_values_as_debug_does(
            v in prop_oneof!["[ -~]{0,12}", "\\PC{0,6}", ".{0,6}"],
        ) {
            let labels = Labels::new().with("k", v.clone()).with("a", "x");
            prop_assert_eq!(labels.to_string(), format!("{{a=\"x\",k={v:?}}}"));
        }
    }

    #[test]
    fn labels_are_canonical_whatever_the_insertion_order() {
        let a = Labels::new().with("mount", "/").with("device", "sda1");
        let b = Labels::new().with("device", "sda1").with("mount", "/");
        assert_eq!(a, b);
        assert_eq!(a.canonical(), r#"{"device":"sda1","mount":"/"}"#);
        assert_eq!(Labels::from_canonical(&a.canonical()).unwrap(), a);
        assert_eq!(Labels::new().canonical(), "{}");
        assert!(Labels::from_canonical("[1]").is_err());
    }

    /// Collecting pairs is inserting them in order: sorted by key, a later
    /// pair of a key replacing an earlier one.
    #[test]
    fn collected_labels_keep_the_last_pair_of_a_key() {
        let pairs = [
            ("b", "1"),
            ("a", "1"),
            ("b", "2"),
            ("c", "1"),
            ("a", "2"),
            ("b", "3"),
            ("", "x"),
        ];
        for n in 0..=pairs.len() {
            let collected: Labels = pairs[..n].iter().copied().collect();
            let mut inserted = Labels::new();
            for (k, v) in &pairs[..n] {
                inserted.insert(*k, *v);
            }
            assert_eq!(collected, inserted, "first {n} pairs");
        }
        let all: Labels = pairs.iter().copied().collect();
        assert_eq!(
            all.iter().collect::<Vec<_>>(),
            [("", "x"), ("a", "2"), ("b", "3"), ("c", "1")]
        );
    }

    #[test]
    fn labels_behave_as_a_sorted_map() {
        let mut l = Labels::new().with("b", "2").with("a", "1").with("c", "3");
        l.insert("b", "two");
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "two"), ("c", "3")]
        );
        assert_eq!((l.get("b"), l.get("z"), l.len()), (Some("two"), None, 3));
        // A later duplicate wins, as in a map.
        let from: Labels = [("k", "first"), ("k", "second")].into_iter().collect();
        assert_eq!(from.get("k"), Some("second"));
        assert_eq!(from.len(), 1);
        // Ordering and equality are those of the map of pairs.
        let m = |pairs: &[(&str, &str)]| pairs.iter().copied().collect::<Labels>();
        let maps = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<String, String>>()
        };
        for (x, y) in [
            (&[("a", "1")][..], &[("a", "2")][..]),
            (&[("a", "1"), ("b", "1")][..], &[("a", "1")][..]),
            (&[][..], &[("a", "")][..]),
            (&[("b", "0")][..], &[("a", "9"), ("c", "0")][..]),
        ] {
            assert_eq!(m(x).cmp(&m(y)), maps(x).cmp(&maps(y)), "{x:?} vs {y:?}");
        }
        // JSON: an object, also when nested.
        let json = serde_json::to_string(&SeriesKey::new("a", "m", m(&[("x", "\"")]))).unwrap();
        assert_eq!(json, r#"{"agent_id":"a","metric":"m","labels":{"x":"\""}}"#);
        let back: SeriesKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.labels.get("x"), Some("\""));
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        assert_eq!("Critical".parse::<Severity>().unwrap(), Severity::Critical);
        assert_eq!("warn".parse::<Severity>().unwrap(), Severity::Warning);
        let err = "fatal".parse::<Severity>().unwrap_err();
        assert!(
            err.contains("fatal") && err.contains("info, warning, critical"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&Severity::Warning).unwrap(),
            "\"warning\""
        );
    }

    #[test]
    fn series_key_display_is_readable() {
        let key = SeriesKey::new(
            "web-1",
            "disk.used_percent",
            Labels::new().with("mount", "/"),
        );
        assert_eq!(key.to_string(), r#"web-1/disk.used_percent{mount="/"}"#);
    }
}
