//! What makes a sample or a batch invalid, defined once: the agent drops
//! such samples before sending, ingest refuses such batches with the
//! configured limits, and every store refuses them.

use crate::error::{Error, Result};
use crate::store::MAX_TIMESTAMP_MS;
use crate::types::{MetricBatch, Sample};

/// How large a sample's names may be. [`SampleLimits::default`] is what the
/// server accepts unless `[ingest]` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SampleLimits {
    /// Longest metric name, bytes. Default 256.
    pub max_metric_len: usize,
    /// Most labels on one sample. Default 32.
    pub max_labels: usize,
    /// Longest label name, bytes. Default 128.
    pub max_label_name_len: usize,
    /// Longest label value, bytes. Default 1024.
    pub max_label_value_len: usize,
}

impl SampleLimits {
    /// No size limit: only what no store can keep (an empty name, a
    /// non-finite value) is invalid.
    pub const UNLIMITED: Self = Self {
        max_metric_len: usize::MAX,
        max_labels: usize::MAX,
        max_label_name_len: usize::MAX,
        max_label_value_len: usize::MAX,
    };

    /// These limits.
    pub const fn new(
        max_metric_len: usize,
        max_labels: usize,
        max_label_name_len: usize,
        max_label_value_len: usize,
    ) -> Self {
        Self {
            max_metric_len,
            max_labels,
            max_label_name_len,
            max_label_value_len,
        }
    }
}

impl Default for SampleLimits {
    fn default() -> Self {
        Self::new(256, 32, 128, 1024)
    }
}

/// Why a sample is invalid (a metric name, a label, a value), or `None`.
/// The timestamp is not judged here: its window is the receiver's
/// ([`check_batch`] requires 1970 to 9999).
pub fn check_sample(s: &Sample, limits: &SampleLimits) -> Option<String> {
    if s.metric.is_empty() {
        return Some("empty metric name".to_owned());
    }
    if s.metric.len() > limits.max_metric_len {
        return Some(format!(
            "metric name of {} bytes, at most {}",
            s.metric.len(),
            limits.max_metric_len
        ));
    }
    if s.labels.len() > limits.max_labels {
        return Some(format!(
            "{} labels, at most {}",
            s.labels.len(),
            limits.max_labels
        ));
    }
    for (k, v) in s.labels.iter() {
        if k.is_empty()
            || k.len() > limits.max_label_name_len
            || v.len() > limits.max_label_value_len
        {
            return Some(format!(
                "label `{}`: names must be 1 to {} bytes, values at most {}",
                k.chars().take(40).collect::<String>(),
                limits.max_label_name_len,
                limits.max_label_value_len
            ));
        }
    }
    if !s.value.is_finite() {
        return Some(format!("value {} is not finite", s.value));
    }
    None
}

/// Checks a batch: an agent id, and every sample valid under `limits`
/// ([`check_sample`]) with a timestamp from 1970 to 9999.
///
/// # Errors
/// [`Error::InvalidInput`] naming the first offending sample.
pub fn check_batch(batch: &MetricBatch, limits: &SampleLimits) -> Result<()> {
    if batch.agent_id.is_empty() {
        return Err(Error::InvalidInput("batch has an empty agent id".into()));
    }
    for (i, s) in batch.samples.iter().enumerate() {
        if !(0..=MAX_TIMESTAMP_MS).contains(&s.timestamp_ms) {
            return Err(Error::InvalidInput(format!(
                "sample {i} ({}): timestamp {} ms is outside 1970-01-01 to 9999-12-31",
                s.metric, s.timestamp_ms
            )));
        }
        if let Some(problem) = check_sample(s, limits) {
            return Err(Error::InvalidInput(sample_error(i, s, &problem)));
        }
    }
    Ok(())
}

/// `sample {i} ({metric}): {problem}`, the metric name cut short.
pub fn sample_error(index: usize, s: &Sample, problem: &str) -> String {
    if s.metric.is_empty() {
        format!("sample {index}: {problem}")
    } else {
        let metric: String = s.metric.chars().take(64).collect();
        format!("sample {index} ({metric}): {problem}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Labels;

    fn sample(metric: &str, labels: Labels, value: f64) -> Sample {
        Sample::new(metric, labels, 1_000, value)
    }

    #[test]
    fn every_kind_of_invalid_sample_is_named() {
        let l = SampleLimits::new(8, 1, 4, 4);
        let ok = sample("cpu", Labels::new().with("k", "v"), 1.0);
        assert_eq!(check_sample(&ok, &l), None);
        let cases = [
            (sample("", Labels::new(), 1.0), "empty metric name"),
            (
                sample("too.long.name", Labels::new(), 1.0),
                "metric name of 13 bytes, at most 8",
            ),
            (
                sample("cpu", Labels::new().with("a", "1").with("b", "2"), 1.0),
                "2 labels, at most 1",
            ),
            (sample("cpu", Labels::new().with("", "1"), 1.0), "label ``"),
            (
                sample("cpu", Labels::new().with("k", "12345"), 1.0),
                "values at most 4",
            ),
            (
                sample("cpu", Labels::new(), f64::NAN),
                "value NaN is not finite",
            ),
            (sample("cpu", Labels::new(), f64::INFINITY), "not finite"),
        ];
        for (s, want) in cases {
            let got = check_sample(&s, &l).unwrap_or_default();
            assert!(got.contains(want), "{want} not in {got}");
        }
        let empty = sample("", Labels::new(), 1.0);
        assert_eq!(
            check_sample(&empty, &SampleLimits::UNLIMITED).as_deref(),
            Some("empty metric name")
        );
    }

    #[test]
    fn a_batch_needs_an_agent_and_samples_in_range() {
        let mut b = MetricBatch {
            agent_id: "a".into(),
            batch_id: None,
            timestamp_ms: 1_000,
            samples: vec![sample("cpu", Labels::new(), 1.0)],
        };
        assert!(check_batch(&b, &SampleLimits::UNLIMITED).is_ok());
        b.samples[0].timestamp_ms = -1;
        let e = check_batch(&b, &SampleLimits::UNLIMITED).unwrap_err();
        assert!(
            e.to_string().contains("sample 0 (cpu): timestamp -1 ms"),
            "{e}"
        );
        b.samples[0].timestamp_ms = 1;
        b.samples[0].value = f64::NAN;
        let e = check_batch(&b, &SampleLimits::UNLIMITED).unwrap_err();
        assert!(
            e.to_string()
                .contains("sample 0 (cpu): value NaN is not finite"),
            "{e}"
        );
        b.agent_id.clear();
        assert!(check_batch(&b, &SampleLimits::UNLIMITED).is_err());
    }
}
