//! End-to-end ingest: many concurrent agents send 1,000-point batches over
//! loopback gRPC (gzip, as the agent's client sends) into the server's ingest
//! path and the SQLite store (`synchronous = FULL`: acknowledged = durable).
//!
//! Run with: cargo bench --bench grpc_ingest
//! (`OXMON_UNCOMPRESSED=1`: the clients send without compression)
//!
//! A batch is an agent's backlog of 60 series (the collectors' shape and
//! labels) over about 17 collections: 1,000 points. 64 agents send at once,
//! each waiting for its acknowledgement before the next batch. Besides
//! criterion's throughput, it prints the p50/p99 batch latency.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxmon::core::config::AgentConfig;
use oxmon::core::{Labels, ManualClock, MetricBatch, Sample, Transport};
use oxmon::storage::{SqliteOptions, SqliteStore};
use oxmon::transport::Ingest;
use oxmon::transport::grpc::{GrpcServerOptions, GrpcTransport, serve};

const AGENTS: usize = 64;
const BATCHES_PER_AGENT: usize = 10;
const T0: i64 = 1_767_484_800_000;

/// Batch `n` of an agent: 1,000 points from consecutive 10 s collections.
fn batch(agent: &str, series: &[(String, Labels)], n: usize, round: usize) -> MetricBatch {
    let start = (round * BATCHES_PER_AGENT + n) * 1000;
    let samples = (start..start + 1000)
        .map(|i| {
            let (m, l) = &series[i % series.len()];
            let ts = T0 + (i / series.len()) as i64 * 10_000;
            Sample::new(m.clone(), l.clone(), ts, ((i * 37) % 1000) as f64 / 10.0)
        })
        .collect();
    MetricBatch {
        agent_id: agent.into(),
        batch_id: Some(format!("{agent}-{round}-{n}")),
        timestamp_ms: T0,
        samples,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir_in("target").expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0 + 86_400_000));
    let store = Arc::new(
        SqliteStore::open(
            dir.path(),
            SqliteOptions {
                clock: clock.clone(),
                ..SqliteOptions::default()
            },
        )
        .expect("store"),
    );
    let ingest = Arc::new(Ingest::new(store.clone(), None, clock).with_limits(
        oxmon::transport::IngestLimits {
            max_age_ms: i64::MAX / 4,
            ..oxmon::transport::IngestLimits::default()
        },
    ));
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(
            listener,
            ingest,
            GrpcServerOptions::default(),
            std::future::pending(),
        ));
        addr
    });
    let series = Arc::new(oxmon::core::testing::agent_series());
    // `OXMON_UNCOMPRESSED=1`: batches sent without compression (the
    // original protocol as any client speaks it).
    let uncompressed = std::env::var("OXMON_UNCOMPRESSED").is_ok_and(|v| v == "1");
    let clients: Vec<(String, Arc<GrpcTransport>)> = (0..AGENTS)
        .map(|a| {
            let id = format!("agent-{a:03}");
            let mut config = AgentConfig::default();
            config.server_endpoint = addr.to_string();
            let t = rt
                .block_on(async { GrpcTransport::connect(&config, &id) })
                .expect("client");
            let t = if uncompressed { t.uncompressed() } else { t };
            (id, Arc::new(t))
        })
        .collect();
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let mut round = 0usize;
    let mut g = c.benchmark_group("grpc_ingest_sqlite");
    g.sample_size(10);
    g.throughput(Throughput::Elements(
        (AGENTS * BATCHES_PER_AGENT * 1000) as u64,
    ));
    g.bench_function("64_agents_1000_point_batches", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let r = round;
                let t = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = clients
                        .iter()
                        .map(|(id, client)| {
                            let (id, client, series, latencies) = (
                                id.clone(),
                                client.clone(),
                                series.clone(),
                                latencies.clone(),
                            );
                            tokio::spawn(async move {
                                for n in 0..BATCHES_PER_AGENT {
                                    let b = batch(&id, &series, n, r);
                                    let start = Instant::now();
                                    client.send(&b).await.expect("send");
                                    latencies.lock().expect("lock").push(start.elapsed());
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("agent");
                    }
                });
                total += t.elapsed();
            }
            total
        });
    });
    g.finish();
    let report = |what: &str, l: &mut Vec<Duration>| {
        l.sort_unstable();
        if !l.is_empty() {
            let (p50, p99, max) = (l[l.len() / 2], l[l.len() * 99 / 100], l[l.len() - 1]);
            eprintln!(
                "{what}: {} batches, p50 {p50:.1?}, p99 {p99:.1?}, max {max:.1?}",
                l.len()
            );
        }
    };
    report(
        "closed loop (64 agents back to back, saturated)",
        &mut latencies.lock().expect("lock"),
    );
    // Open loop at the target rate: 300,000 samples/s offered, each agent
    // sending one 1,000-point batch every 64 x 1000 / 300,000 s, for 10 s.
    let period = Duration::from_secs_f64(AGENTS as f64 * 1000.0 / 300_000.0);
    let open: Arc<Mutex<Vec<Duration>>> = Arc::default();
    rt.block_on(async {
        let tasks: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(a, (id, client))| {
                let (id, client, series, open) =
                    (id.clone(), client.clone(), series.clone(), open.clone());
                tokio::spawn(async move {
                    // Stagger the agents over the period.
                    tokio::time::sleep(period.mul_f64(a as f64 / AGENTS as f64)).await;
                    let mut tick = tokio::time::interval(period);
                    for n in 0..(10.0 / period.as_secs_f64()) as usize {
                        tick.tick().await;
                        let b = batch(
                            &id,
                            &series,
                            n % BATCHES_PER_AGENT,
                            10_000 + n / BATCHES_PER_AGENT,
                        );
                        let start = Instant::now();
                        client.send(&b).await.expect("send");
                        open.lock().expect("lock").push(start.elapsed());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("agent");
        }
    });
    report(
        "open loop at 300,000 samples/s offered",
        &mut open.lock().expect("lock"),
    );
    store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
