//! The messages of Prometheus remote write 1.0 (`prompb`), the parts a
//! sender fills, and the request body: the protobuf, snappy block format.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use oxmon_core::{Labels, MetricBatch};
use rustc_hash::{FxHashMap, FxHasher};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The labels, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Its name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Which metrics go out, and the labels every series gains.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    pub(crate) allow: Vec<glob::Pattern>,
    pub(crate) deny: Vec<glob::Pattern>,
    pub(crate) external_labels: BTreeMap<String, String>,
}

impl Shape {
    fn sends(&self, metric: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| p.matches(metric)))
            && !self.deny.iter().any(|p| p.matches(metric))
    }
}

/// Requests built from stored batches: one per shard (a series always in
/// the same shard, so each series' samples go out in order), and the
/// samples left out by the allow and deny lists.
pub(crate) struct Built {
    pub(crate) shards: Vec<WriteRequest>,
    pub(crate) samples: Vec<usize>,
    pub(crate) filtered: u64,
}

/// Spreads the batches' samples over `shards` requests, each series once
/// per request with its samples in time order.
pub(crate) fn build<'a>(
    batches: impl IntoIterator<Item = &'a MetricBatch>,
    shape: &Shape,
    shards: usize,
) -> Built {
    let shards = shards.max(1);
    let mut out = Built {
        shards: vec![WriteRequest::default(); shards],
        samples: vec![0; shards],
        filtered: 0,
    };
    let mut verdicts: FxHashMap<&str, bool> = FxHashMap::default();
    // (agent, metric, labels) -> (shard, index in that shard's series)
    let mut slots: FxHashMap<(&str, &str, &Labels), (usize, usize)> = FxHashMap::default();
    for batch in batches {
        for s in &batch.samples {
            let sends = *verdicts
                .entry(s.metric.as_str())
                .or_insert_with(|| shape.sends(&s.metric));
            if !sends {
                out.filtered += 1;
                continue;
            }
            let key = (batch.agent_id.as_str(), s.metric.as_str(), &s.labels);
            let (shard, i) = *slots.entry(key).or_insert_with(|| {
                let mut h = FxHasher::default();
                key.hash(&mut h);
                let shard = (h.finish() % shards as u64) as usize;
                let series = &mut out.shards[shard].timeseries;
                series.push(TimeSeries {
                    labels: labels(&batch.agent_id, &s.metric, &s.labels, shape),
                    samples: Vec::new(),
                });
                (shard, series.len() - 1)
            });
            out.shards[shard].timeseries[i].samples.push(Sample {
                value: s.value,
                timestamp: s.timestamp_ms,
            });
            out.samples[shard] += 1;
        }
    }
    for request in &mut out.shards {
        for series in &mut request.timeseries {
            if !series.samples.is_sorted_by_key(|p| p.timestamp) {
                series.samples.sort_by_key(|p| p.timestamp);
            }
        }
    }
    out
}

/// The series' labels by the shared mapping (`oxmon_core::prom`), then
/// the external labels it does not have, sorted by name.
fn labels(agent: &str, metric: &str, own: &Labels, shape: &Shape) -> Vec<Label> {
    let mut all = oxmon_core::prom::series_labels(agent, metric, own);
    for (k, v) in &shape.external_labels {
        all.entry(k.clone()).or_insert_with(|| v.clone());
    }
    all.into_iter()
        .map(|(name, value)| Label { name, value })
        .collect()
}

/// A request cut into requests of at most `max` samples, in order, each
/// with its sample count; a series with more than `max` samples is cut
/// into pieces that follow each other. Empty requests are left out.
pub(crate) fn split(request: WriteRequest, max: usize) -> Vec<(WriteRequest, usize)> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut current = WriteRequest::default();
    let mut n = 0;
    for mut series in request.timeseries {
        while !series.samples.is_empty() {
            if n == max {
                out.push((std::mem::take(&mut current), n));
                n = 0;
            }
            let room = max - n;
            let piece = if series.samples.len() > room {
                let rest = series.samples.split_off(room);
                TimeSeries {
                    labels: series.labels.clone(),
                    samples: std::mem::replace(&mut series.samples, rest),
                }
            } else {
                TimeSeries {
                    labels: std::mem::take(&mut series.labels),
                    samples: std::mem::take(&mut series.samples),
                }
            };
            n += piece.samples.len();
            current.timeseries.push(piece);
        }
    }
    if n > 0 {
        out.push((current, n));
    }
    out
}

/// The request body: protobuf, then snappy's block format.
pub(crate) fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    // Compressing a buffer in memory fails only past snappy's 4 GiB limit,
    // which batch_size (at most 100,000 samples) keeps far away.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use oxmon_core::Sample as OxSample;

    use super::*;

    fn decode(body: &[u8]) -> WriteRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        prost::Message::decode(raw.as_slice()).unwrap()
    }

    #[test]
    fn samples_go_out_under_prometheus_names_each_series_once_in_time_order() {
        let mount = Labels::new().with("mount", "/").with("agent", "spoof");
        let first = MetricBatch::new(
            "web-1",
            vec![
                OxSample::new("cpu.usage", Labels::new(), 2_000, 10.0),
                OxSample::new("disk.used_percent", mount.clone(), 2_000, 50.0),
                OxSample::new("memory.used", Labels::new(), 2_000, 1.0),
            ],
        );
        let late = MetricBatch::new(
            "web-1",
            vec![OxSample::new("cpu.usage", Labels::new(), 1_000, 5.0)],
        );
        let shape = Shape {
            deny: vec![glob::Pattern::new("memory.*").unwrap()],
            external_labels: [
                ("region".to_owned(), "eu".to_owned()),
                ("agent".to_owned(), "no".to_owned()),
            ]
            .into(),
            ..Shape::default()
        };
        let built = build([&first, &late], &shape, 1);
        assert_eq!(built.filtered, 1);
        assert_eq!(built.samples, [3]);
        let back = decode(&encode(&built.shards[0]));
        assert_eq!(back, built.shards[0], "the body decodes as sent");
        let cpu = &back.timeseries[0];
        let names: Vec<(&str, &str)> = cpu
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("__name__", "cpu_usage"),
                ("agent", "web-1"),
                ("region", "eu")
            ],
            "sorted, the series' own agent wins over the external label"
        );
        let times: Vec<i64> = cpu.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [1_000, 2_000], "one series, oldest first");
        let disk = &back.timeseries[1];
        assert!(
            disk.labels
                .iter()
                .any(|l| l.name == "exported_agent" && l.value == "spoof")
        );
    }

    #[test]
    fn requests_are_cut_at_batch_size() {
        let series = |n: usize| TimeSeries {
            labels: Vec::new(),
            samples: vec![
                Sample {
                    value: 1.0,
                    timestamp: 0
                };
                n
            ],
        };
        let request = WriteRequest {
            timeseries: vec![series(3), series(3), series(5), series(1), series(0)],
        };
        let parts = split(request, 4);
        let sizes: Vec<usize> = parts.iter().map(|(_, n)| *n).collect();
        assert_eq!(sizes, [4, 4, 4], "12 samples in requests of at most 4");
        let pieces: Vec<usize> = parts
            .iter()
            .flat_map(|(r, _)| r.timeseries.iter().map(|t| t.samples.len()))
            .collect();
        assert_eq!(
            pieces,
            [3, 1, 2, 2, 3, 1],
            "series cut where a request fills, in order"
        );
        assert!(split(WriteRequest::default(), 4).is_empty());
    }

    #[test]
    fn a_series_stays_in_one_shard() {
        let batches: Vec<MetricBatch> = (0..20)
            .map(|t| {
                MetricBatch::new(
                    "a",
                    (0..50)
                        .map(|i| OxSample::new("m", Labels::new().with("i", i.to_string()), t, 1.0))
                        .collect(),
                )
            })
            .collect();
        let built = build(&batches, &Shape::default(), 4);
        assert_eq!(built.samples.iter().sum::<usize>(), 1_000);
        assert!(built.samples.iter().all(|&n| n > 0), "{:?}", built.samples);
        let series: usize = built.shards.iter().map(|r| r.timeseries.len()).sum();
        assert_eq!(series, 50, "each series once, in one shard");
    }
}
