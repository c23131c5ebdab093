//! One complete collection outside the schedule (`agent --once`), and the
//! JSON-lines form the agent program prints it in.

use std::io::{self, Write};
use std::time::Duration;

use oxmon_core::{Clock, CollectContext, Collector, Labels, MetricBatch};
use serde::Serialize;

use crate::run::{CollectFailure, run_collectors};

/// One complete collection: collects once to prime the collectors that need
/// two readings (CPU usage, network rates), waits `gap` (blocking the
/// thread), then collects again and returns that second collection, every
/// sample stamped with the clock's time at its start.
///
/// `gap` should be at least a second: CPU time advances in clock ticks
/// (10 ms) and rates over a tiny interval are noisy.
pub fn collect_once(
    collectors: &mut [Box<dyn Collector>],
    agent_id: &str,
    clock: &dyn Clock,
    gap: Duration,
) -> (MetricBatch, Vec<CollectFailure>) {
    let mut samples = Vec::new();
    let prime = CollectContext {
        agent_id,
        timestamp_ms: clock.now_ms(),
    };
    run_collectors(collectors, &prime, &mut samples);
    samples.clear();
    if !gap.is_zero() {
        std::thread::sleep(gap);
    }
    let ctx = CollectContext {
        agent_id,
        timestamp_ms: clock.now_ms(),
    };
    let failures = run_collectors(collectors, &ctx, &mut samples);
    (MetricBatch::new(agent_id, samples), failures)
}

/// Writes a batch's samples as JSON lines, one sample per line with exactly
/// the fields `agent_id` (the batch's), `metric`, `labels` (an object, keys
/// sorted), `timestamp_ms` and `value`.
///
/// # Errors
/// The writer's I/O error.
pub fn write_json_lines(batch: &MetricBatch, out: &mut impl Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        agent_id: &'a str,
        metric: &'a str,
        labels: &'a Labels,
        timestamp_ms: i64,
        value: f64,
    }
    for s in &batch.samples {
        let line = Line {
            agent_id: &batch.agent_id,
            metric: &s.metric,
            labels: &s.labels,
            timestamp_ms: s.timestamp_ms,
            value: s.value,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use crate::{CollectorOptions, default_collectors};
    use oxmon_core::{ManualClock, Sample};

    use super::*;

    #[test]
    fn json_lines_have_exactly_the_sample_fields() {
        let batch = MetricBatch::new(
            "web-1",
            vec![
                Sample::new("cpu.usage", Labels::new(), 1_000, 12.5),
                Sample::new(
                    "disk.used_percent",
                    Labels::new().with("mount", "/data \"x\""),
                    1_000,
                    40.0,
                ),
            ],
        );
        let mut out = Vec::new();
        write_json_lines(&batch, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"agent_id":"web-1","metric":"cpu.usage","labels":{},"timestamp_ms":1000,"value":12.5}"#
        );
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["labels"]["mount"], "/data \"x\"");
    }

    #[test]
    fn once_returns_the_second_collection_with_one_timestamp() {
        let clock = ManualClock::new(1_767_225_600_000);
        let mut collectors = default_collectors(&CollectorOptions::default());
        let (batch, failures) =
            collect_once(&mut collectors, "web-1", &clock, Duration::from_millis(200));
        assert_eq!(batch.agent_id, "web-1");
        let samples = &batch.samples;
        assert!(failures.is_empty(), "{failures:?}");
        assert!(samples.iter().any(|s| s.metric == "memory.total"));
        assert!(
            samples.iter().any(|s| s.metric == "cpu.usage"),
            "the second collection has CPU usage"
        );
        assert!(samples.iter().all(|s| s.timestamp_ms == 1_767_225_600_000));
    }
}
