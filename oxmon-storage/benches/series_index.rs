//! The SQLite store's series index under high cardinality (issue #14):
//! appending one batch of 100,000 new series (labels in ascending and in
//! descending order) to a fresh store, and opening a store that holds
//! 1,000,000 series on disk (the index rebuild at start).
//!
//! Run with: cargo bench -p oxmon-storage --bench series_index
//!
//! Knobs: `OXMON_SERIES_INDEX_BATCH` (new series per appended batch, default
//! 100,000), `OXMON_SERIES_INDEX_AGENTS` and `OXMON_SERIES_INDEX_PER_AGENT`
//! (the on-disk dataset: 100 agents x 10,000 series by default, each series
//! with one compacted and one raw sample, written in descending label order),
//! `OXMON_SERIES_INDEX_ONCE=1` (time each case once and print it instead of
//! running criterion: for slow code).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use oxmon_storage::{
    Labels, ManualClock, MetricBatch, MetricStore, Sample, SqliteOptions, SqliteStore,
};

const T0: i64 = 1_767_484_800_000; // 2026-01-04T00:00:00Z
const HOUR: i64 = 3_600_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options() -> SqliteOptions {
    SqliteOptions {
        clock: Arc::new(ManualClock::new(T0 + 3 * HOUR)),
        synchronous_full: false,
        // No background maintenance while timing.
        maintenance_interval: Duration::from_secs(86_400),
        // The index itself is measured, not the caps.
        max_series_per_agent: None,
        max_series: None,
        ..SqliteOptions::default()
    }
}

/// One batch of `n` series of one metric, labels `id=000000..`, ascending or descending.
fn batch(agent: &str, n: usize, descending: bool, ts: i64) -> MetricBatch {
    let samples = (0..n)
        .map(|i| {
            let id = if descending { n - 1 - i } else { i };
            Sample::new(
                "attack.series",
                Labels::new().with("id", format!("{id:07}")),
                ts,
                id as f64,
            )
        })
        .collect();
    MetricBatch {
        agent_id: agent.into(),
        batch_id: None,
        timestamp_ms: ts,
        samples,
    }
}

/// Time to append one batch of `n` new series to a fresh store.
fn insert_once(rt: &tokio::runtime::Runtime, n: usize, descending: bool) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path(), options()).expect("open");
    let b = batch("agent-0", n, descending, T0 + 60_000);
    let t = Instant::now();
    black_box(rt.block_on(store.append(black_box(&b))).expect("append"));
    let took = t.elapsed();
    store.close();
    took
}

/// Builds the on-disk dataset: every series with a compacted sample (first
/// window of the day) and a raw one (third window).
fn build_dataset(rt: &tokio::runtime::Runtime, dir: &Path, agents: usize, per_agent: usize) {
    let t = Instant::now();
    let store = SqliteStore::open(dir, options()).expect("open");
    rt.block_on(async {
        for ts in [T0 + 60_000, T0 + 2 * HOUR + 60_000] {
            for a in 0..agents {
                let agent = format!("agent-{a:03}");
                store
                    .append(&batch(&agent, per_agent, true, ts))
                    .await
                    .expect("append");
            }
            if ts == T0 + 60_000 {
                store.compact(T0 + 3 * HOUR).await.expect("compact");
            }
        }
    });
    store.close();
    eprintln!(
        "dataset: {agents} agents x {per_agent} series (one chunk and one raw sample each) built in {:.1?}",
        t.elapsed()
    );
}

fn open_once(rt: &tokio::runtime::Runtime, dir: &Path, expect: usize) -> Duration {
    let t = Instant::now();
    let store = SqliteStore::open(dir, options()).expect("open");
    let took = t.elapsed();
    let agents = rt.block_on(store.agents()).expect("agents");
    let latest = rt
        .block_on(store.latest(&agents[0].agent_id))
        .expect("latest");
    assert_eq!(agents.len() * latest.len(), expect, "series after reopen");
    store.close();
    took
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = knob("OXMON_SERIES_INDEX_BATCH", 100_000);
    let agents = knob("OXMON_SERIES_INDEX_AGENTS", 100);
    let per_agent = knob("OXMON_SERIES_INDEX_PER_AGENT", 10_000);
    let once = std::env::var("OXMON_SERIES_INDEX_ONCE").is_ok_and(|v| v == "1");

    let data = tempfile::tempdir().expect("tempdir");
    build_dataset(&rt, data.path(), agents, per_agent);

    if once {
        for (name, descending) in [("ascending", false), ("descending", true)] {
            let took = insert_once(&rt, n, descending);
            eprintln!("insert {n} new series, {name}: {took:.2?}");
        }
        let took = open_once(&rt, data.path(), agents * per_agent);
        eprintln!("open with {} series: {took:.2?}", agents * per_agent);
        return;
    }

    let mut g = c.benchmark_group("series_index");
    g.sample_size(10);
    for (name, descending) in [("ascending", false), ("descending", true)] {
        g.bench_function(format!("insert_{n}_new_series_{name}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| insert_once(&rt, n, descending)).sum());
        });
    }
    g.bench_function(format!("open_with_{}_series", agents * per_agent), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| open_once(&rt, data.path(), agents * per_agent))
                .sum()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
