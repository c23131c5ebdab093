//! Alert engine throughput: 100 rules of mixed types over 10,000 series.
//!
//! Run with: cargo bench -p oxmon-alert --bench alert_engine
//! (builds oxmon-alert and criterion only: no tokio, SQLite or network crate)
//!
//! The series look like what the collectors produce for 100 agents (cpu,
//! per-core cpu, memory, disks, interfaces, load) plus 200 certificate
//! domains. The 100 rules spread over those metrics: thresholds with and
//! without duration, rates of change, trend predictions, certificate expiry.
//! Every sample reaches the rules of its metric (about 5). The engine is
//! warmed up past its longest window so the measurement is steady state.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxmon_alert::{AlertEngine, EngineOptions, Sample, SeriesHandle, ServerConfig};

#[path = "support/fleet.rs"]
mod fleet;
use fleet::{STEP_MS, T0, rules_toml, series, values};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn bench(c: &mut Criterion) {
    let config = ServerConfig::from_toml(&rules_toml(), "bench.toml").expect("rules");
    assert_eq!(config.alert.rules.len(), 100);
    let keys = series();
    let table = values(keys.len(), 64);
    let mut samples: Vec<Vec<Sample>> = table
        .iter()
        .map(|row| {
            keys.iter()
                .zip(row)
                .map(|(k, &v)| Sample::new(k.metric.clone(), k.labels.clone(), 0, v))
                .collect()
        })
        .collect();

    let rss_before = rss_bytes();
    let mut engine =
        AlertEngine::from_config(&config.alert.rules, EngineOptions::default()).expect("engine");
    let handles: Vec<Option<SeriesHandle>> = keys.iter().map(|k| engine.resolve(k)).collect();
    let mut out = Vec::new();
    let mut ts = T0;
    // Warm up past the longest window (3600 s = 360 scrapes).
    for scrape in 0..400 {
        ts += STEP_MS;
        for (h, &v) in handles.iter().zip(&table[scrape % table.len()]) {
            if let Some(h) = *h {
                engine.observe_handle(h, ts, v, &mut out);
            }
        }
        out.clear();
    }
    let stats = engine.stats();
    let rss_after = rss_bytes();
    eprintln!(
        "engine state: {} series, {} window points, {} events in 400 scrapes, RSS +{} KiB = {:.0} bytes per series",
        stats.series,
        stats.window_points,
        stats.events,
        rss_after.saturating_sub(rss_before) / 1024,
        rss_after.saturating_sub(rss_before) as f64 / stats.series as f64
    );

    let mut g = c.benchmark_group("alert_engine_100_rules_10k_series");
    g.throughput(Throughput::Elements(keys.len() as u64));
    let mut scrape = 0usize;
    g.bench_function("observe_by_handle", |b| {
        b.iter(|| {
            ts += STEP_MS;
            scrape += 1;
            for (h, &v) in handles.iter().zip(&table[scrape % table.len()]) {
                if let Some(h) = *h {
                    engine.observe_handle(h, ts, black_box(v), &mut out);
                }
            }
            out.clear();
        });
    });
    g.bench_function("observe_sample_with_lookup", |b| {
        b.iter(|| {
            ts += STEP_MS;
            scrape += 1;
            let n = samples.len();
            for (s, k) in samples[scrape % n].iter_mut().zip(&keys) {
                s.timestamp_ms = ts;
                engine.observe(&k.agent_id, black_box(s), &mut out);
            }
            out.clear();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
