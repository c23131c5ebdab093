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
use oxmon_alert::{
    AlertEngine, EngineOptions, Labels, Sample, SeriesHandle, SeriesKey, ServerConfig,
};

const T0: i64 = 1_767_225_600_000;
const STEP_MS: i64 = 10_000;

fn rules_toml() -> String {
    let metrics = [
        ("cpu.usage", 90.0),
        ("cpu.core_usage", 95.0),
        ("memory.used_percent", 90.0),
        ("memory.swap_used", 1e9),
        ("disk.used_percent", 90.0),
        ("disk.available", 1e9),
        ("network.bytes_recv", 1e8),
        ("network.bytes_sent", 1e8),
        ("load.load_1", 8.0),
        ("load.load_5", 6.0),
    ];
    let mut out = String::new();
    for i in 0..96 {
        let (metric, v) = metrics[i % metrics.len()];
        let pattern = ["*", "agent-*", "agent-?[0-9]*", "*"][i % 4];
        let body = match (i / metrics.len()) % 4 {
            0 => format!(
                "type = \"threshold\"\noperator = \"gt\"\nvalue = {v:.1}\nduration_secs = {}",
                (i % 3) * 60
            ),
            1 => "type = \"rate_of_change\"\nrate_threshold = 30.0\nwindow_secs = 300".to_owned(),
            2 => format!(
                "type = \"trend_prediction\"\npredict_threshold = {v:.1}\nhorizon_secs = 86400\nwindow_secs = 3600\nmin_data_points = 30"
            ),
            _ => format!(
                "type = \"threshold\"\noperator = \"lt\"\nvalue = {:.1}\nduration_secs = 120",
                v / 100.0
            ),
        };
        out.push_str(&format!("[[alert.rules]]\nname = \"r{i}\"\nmetric = \"{metric}\"\nagent_pattern = \"{pattern}\"\n{body}\n\n"));
    }
    for i in 0..4 {
        out.push_str(&format!(
            "[[alert.rules]]\nname = \"cert{i}\"\ntype = \"cert_expiration\"\nagent_pattern = \"cert-checker\"\nwarning_days = {}\ncritical_days = 7\n\n",
            30 + i
        ));
    }
    out
}

/// 10,000 series: 100 agents x 98 series + 200 certificate domains.
fn series() -> Vec<SeriesKey> {
    let mut out = Vec::new();
    for a in 0..100 {
        let agent = format!("agent-{a:02}");
        let mut push =
            |metric: &str, labels: Labels| out.push(SeriesKey::new(agent.clone(), metric, labels));
        push("cpu.usage", Labels::new());
        for c in 0..28 {
            push("cpu.core_usage", Labels::new().with("core", c.to_string()));
        }
        for m in [
            "memory.total",
            "memory.used",
            "memory.available",
            "memory.used_percent",
            "memory.swap_total",
            "memory.swap_used",
        ] {
            push(m, Labels::new());
        }
        for mount in [
            "/", "/boot", "/data", "/var", "/home", "/srv", "/tmp", "/opt",
        ] {
            for m in [
                "disk.total",
                "disk.used",
                "disk.available",
                "disk.used_percent",
            ] {
                push(m, Labels::new().with("mount", mount));
            }
        }
        for iface in ["eth0", "eth1", "eth2", "eth3", "docker0", "wg0"] {
            for m in [
                "network.bytes_sent",
                "network.bytes_recv",
                "network.packets_sent",
                "network.packets_recv",
            ] {
                push(m, Labels::new().with("interface", iface));
            }
        }
        for m in ["load.load_1", "load.load_5", "load.load_15", "load.uptime"] {
            push(m, Labels::new());
        }
        for m in ["memory.cached", "memory.buffers", "process.count"] {
            push(m, Labels::new());
        }
    }
    for d in 0..100 {
        let l = Labels::new().with("domain", format!("site-{d}.example"));
        out.push(SeriesKey::new(
            "cert-checker",
            "certificate.days_until_expiry",
            l.clone(),
        ));
        out.push(SeriesKey::new("cert-checker", "certificate.is_valid", l));
    }
    assert_eq!(out.len(), 10_000);
    out
}

/// Deterministic random walks: `scrapes` rows of one value per series.
fn values(n_series: usize, scrapes: usize) -> Vec<Vec<f64>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut level: Vec<f64> = (0..n_series).map(|_| 20.0 + 60.0 * next()).collect();
    (0..scrapes)
        .map(|_| {
            level
                .iter_mut()
                .for_each(|v| *v = (*v + (next() - 0.5) * 4.0).clamp(0.0, 100.0));
            level.clone()
        })
        .collect()
}

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
