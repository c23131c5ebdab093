//! Cost of one collection cycle on this machine: every default collector
//! once (what the agent does every `collection_interval_secs`), each
//! collector alone, and the sysinfo fallback for comparison.
//!
//! Run with: cargo bench -p oxmon-collector --bench collectors
//!
//! Real reads of /proc and real statvfs calls: the figures depend on the
//! machine (number of cores, mounts and interfaces). Samples are built
//! exactly as the agent builds them (labels, strings), so allocation is
//! included. The sysinfo CPU source skips refreshes less than 200 ms apart,
//! so its CPU figure here is a lower bound.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use oxmon_collector::{
    Backend, CollectContext, Collector, CollectorOptions, Sample, default_collectors,
};

const T0: i64 = 1_767_225_600_000;

fn options(backend: Backend) -> CollectorOptions {
    let mut o = CollectorOptions::default();
    o.backend = backend;
    o
}

fn cycle(collectors: &mut [Box<dyn Collector>], out: &mut Vec<Sample>) -> usize {
    out.clear();
    let ctx = CollectContext {
        agent_id: black_box("bench-agent"),
        timestamp_ms: black_box(T0),
    };
    for c in collectors.iter_mut() {
        // A failing collector still costs its attempt, as in the agent.
        let _ = c.collect(&ctx, out);
    }
    out.len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("collection_cycle");
    for (name, backend) in [("procfs", Backend::Procfs), ("sysinfo", Backend::Sysinfo)] {
        let mut collectors = default_collectors(&options(backend));
        let mut out = Vec::with_capacity(128);
        cycle(&mut collectors, &mut out); // prime the rate and CPU readings
        let samples = cycle(&mut collectors, &mut out);
        eprintln!("{name}: {samples} samples per cycle");
        group.bench_function(name, |b| b.iter(|| cycle(&mut collectors, &mut out)));
    }
    group.finish();

    let mut group = c.benchmark_group("collector");
    for backend in [Backend::Procfs, Backend::Sysinfo] {
        for collector in default_collectors(&options(backend)) {
            let label = format!("{}/{backend:?}", collector.name()).to_lowercase();
            let mut one = vec![collector];
            let mut out = Vec::with_capacity(64);
            cycle(&mut one, &mut out);
            group.bench_function(label, |b| b.iter(|| cycle(&mut one, &mut out)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
