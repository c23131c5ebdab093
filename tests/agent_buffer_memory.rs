//! What a full buffer costs in resident memory: 1000 real collections of
//! this machine pushed into a `BatchBuffer`, RSS measured before and after.
//! A figure for docs/benchmarks.md, not a pass/fail check (RSS depends
//! on the allocator), hence ignored by default:
//!
//! cargo test --release --test agent_buffer_memory -- --ignored --nocapture

use oxmon::collector::{CollectorOptions, default_collectors};
use oxmon::core::{CollectContext, MetricBatch};
use oxmon::transport::forward::BatchBuffer;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn a_full_default_buffer_in_resident_memory() {
    let mut collectors = default_collectors(&CollectorOptions::default());
    let mut buffer = BatchBuffer::new(1000);
    let mut samples = 0;
    let before = rss_kib();
    for i in 0..1000_i64 {
        let ctx = CollectContext {
            agent_id: "web-server-01",
            timestamp_ms: 1_767_225_600_000 + i * 10_000,
        };
        let mut out = Vec::new();
        for c in &mut collectors {
            let _ = c.collect(&ctx, &mut out);
        }
        samples += out.len();
        buffer.push(MetricBatch {
            agent_id: "web-server-01".into(),
            batch_id: Some(format!("web-server-01/19a3b2c4d5e6f7a8b/{i}")),
            timestamp_ms: ctx.timestamp_ms,
            samples: out,
        });
    }
    let after = rss_kib();
    eprintln!(
        "1000 batches, {samples} samples: RSS +{} KiB, buffer heap {} KiB",
        after.saturating_sub(before),
        buffer.heap_bytes() / 1024
    );
    assert_eq!(buffer.len(), 1000);
}
