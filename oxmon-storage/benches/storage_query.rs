//! Store read latency: a one-day range query of one series (8,640 points at
//! 10 s) and the latest values of one agent, through the async `MetricStore`
//! API of the SQLite store.
//!
//! Run with: cargo bench -p oxmon-storage --bench storage_query
//!
//! Set-up: 10 agents x 60 series (the collectors' shape) for one day at 10 s
//! (5,184,000 samples), compacted, plus the last two hours of a second day
//! left uncompacted (raw rows), as the store holds them during the day.
//! Besides criterion's mean, each case prints p50 and p99 over 2,000 calls.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use oxmon_storage::{
    Labels, ManualClock, MetricBatch, MetricStore, MetricStoreExt, Sample, SeriesKey,
    SqliteOptions, SqliteStore,
};

use oxmon_core::testing::agent_series;

const T0: i64 = 1_767_484_800_000; // 2026-01-04T00:00:00Z
const DAY: i64 = 86_400_000;
const STEP: i64 = 10_000;

async fn load(store: &Arc<SqliteStore>, from: i64, to: i64) {
    let series = agent_series();
    let mut tasks = Vec::new();
    for a in 0..10 {
        let agent = format!("agent-{a:02}");
        let series = series.clone();
        let store_ptr = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ts = from;
            let mut level = 40.0 + a as f64;
            while ts < to {
                level = (level + ((ts / STEP) % 7) as f64 * 0.1 - 0.3).clamp(0.0, 100.0);
                let samples = series
                    .iter()
                    .enumerate()
                    .map(|(i, (m, l))| {
                        Sample::new(
                            m.clone(),
                            l.clone(),
                            ts,
                            ((level + i as f64) * 10.0).round() / 10.0,
                        )
                    })
                    .collect();
                let b = MetricBatch {
                    agent_id: agent.clone(),
                    batch_id: Some(format!("{agent}-{ts}")),
                    timestamp_ms: ts,
                    samples,
                };
                store_ptr.append(&b).await.expect("append");
                ts += STEP;
            }
        }));
    }
    for t in tasks {
        t.await.expect("loader");
    }
}

fn percentiles(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort_unstable();
    (d[d.len() / 2], d[d.len() * 99 / 100])
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    // Loading uses synchronous = NORMAL to set up faster; reads do not depend on it.
    let opts = SqliteOptions {
        clock: Arc::new(ManualClock::new(T0)),
        synchronous_full: false,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path(), opts).expect("open"));
    rt.block_on(async {
        let t = Instant::now();
        load(&store, T0, T0 + DAY).await;
        store.compact(T0 + DAY + 3_600_000).await.expect("compact");
        load(&store, T0 + DAY, T0 + DAY + 2 * 3_600_000).await;
        eprintln!(
            "loaded 10 agents x 60 series for 26 h in {:.1?}",
            t.elapsed()
        );
    });
    let key = SeriesKey::new(
        "agent-03",
        "disk.used_percent",
        Labels::new().with("mount", "/data"),
    );
    let n = rt
        .block_on(store.series_points(&key, T0, T0 + DAY - 1))
        .expect("query")
        .len();
    assert_eq!(n, 8640, "one day at 10 s");

    let mut g = c.benchmark_group("sqlite_store");
    let cases: [(&str, i64, i64); 2] = [
        ("range_one_series_one_day", T0, T0 + DAY - 1),
        (
            "range_one_series_last_2h_raw",
            T0 + DAY,
            T0 + DAY + 2 * 3_600_000,
        ),
    ];
    for (name, from, to) in cases {
        let lat: Vec<Duration> = (0..2000)
            .map(|_| {
                let t = Instant::now();
                black_box(
                    rt.block_on(store.series_points(&key, from, to))
                        .expect("query"),
                );
                t.elapsed()
            })
            .collect();
        let (p50, p99) = percentiles(lat);
        eprintln!("{name}: p50 {p50:.1?}, p99 {p99:.1?}");
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(store.series_points(&key, from, to))
                        .expect("query"),
                )
            });
        });
    }
    let lat: Vec<Duration> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            black_box(rt.block_on(store.latest("agent-03")).expect("latest"));
            t.elapsed()
        })
        .collect();
    let (p50, p99) = percentiles(lat);
    eprintln!("latest_one_agent (60 series): p50 {p50:.1?}, p99 {p99:.1?}");
    g.bench_function("latest_one_agent", |b| {
        b.iter(|| black_box(rt.block_on(store.latest("agent-03")).expect("latest")));
    });
    g.finish();
    store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
