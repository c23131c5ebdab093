//! Whole-day storage figures on the shared benchmark dataset: ingest rate
//! (durable appends, batches as agents send them) and bytes on disk per
//! sample after compaction.
//!
//! Run with:
//!   python3 ../shared/bench-data/gen_dataset.py --format promtext --out /tmp/ds.prom
//!   OXMON_DATASET=/tmp/ds.prom cargo bench -p oxmon-storage --bench storage_footprint
//!
//! (from the repository root; cargo runs the bench in `oxmon-storage/`, so a
//! relative `OXMON_DATASET` is taken from the repository root). The store
//! goes to a temporary directory under `OXMON_BENCH_DIR`, by default cargo's
//! `target/tmp`.
//!
//! The dataset is Prometheus text with ms timestamps, time-major; names use
//! `_` where oxmon uses `.`, and the `agent` label becomes the agent id. Each
//! (agent, timestamp) group is one batch, as an agent sends one collection.
//! `OXMON_INFLIGHT` (default 64) appends run concurrently, like that many
//! agents reporting at once. The dataset is parsed into memory first so the
//! ingest figure measures the store alone; `OXMON_STREAM=1` streams it
//! instead (for the 100-agent day, which does not fit in memory parsed; the
//! ingest rate is then bounded by parsing and only the size figure counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

mod dataset;
use dataset::batches;
use oxmon_storage::{Labels, ManualClock, MetricBatch, MetricStore, SqliteOptions, SqliteStore};

/// Bits Gorilla (Facebook's TSDB codec: delta-of-delta timestamps, XOR
/// floats) would use for a chunk: the alternative pco was measured against.
fn gorilla_bits(points: &[(i64, f64)]) -> u64 {
    let mut bits = 64 + 64; // first timestamp and value in full
    let (mut prev_ts, mut prev_delta) = (points.first().map_or(0, |p| p.0), 0i64);
    let mut prev_bits = points.first().map_or(0, |p| p.1.to_bits());
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for &(ts, v) in points.iter().skip(1) {
        let delta = ts - prev_ts;
        let dod = delta - prev_delta;
        bits += match dod {
            0 => 1,
            -63..=64 => 9,
            -255..=256 => 12,
            -2047..=2048 => 16,
            _ => 36,
        };
        (prev_ts, prev_delta) = (ts, delta);
        let x = v.to_bits() ^ prev_bits;
        prev_bits = v.to_bits();
        if x == 0 {
            bits += 1;
            continue;
        }
        let (l, t) = (x.leading_zeros().min(31), x.trailing_zeros());
        if lead != u32::MAX && l >= lead && t >= trail {
            bits += 2 + u64::from(64 - lead - trail);
        } else {
            bits += 2 + 5 + 6 + u64::from(64 - l - t);
            (lead, trail) = (l, t);
        }
    }
    bits
}

/// Compares the two codecs on the dataset's own 2-hour chunks.
fn compare_codecs(all: &[MetricBatch]) {
    let mut series: std::collections::HashMap<(String, String, Labels), Vec<(i64, f64)>> =
        std::collections::HashMap::new();
    for b in all {
        for s in &b.samples {
            series
                .entry((b.agent_id.clone(), s.metric.clone(), s.labels.clone()))
                .or_default()
                .push((s.timestamp_ms, s.value));
        }
    }
    let (mut pco_bytes, mut gorilla_bits_total, mut n) = (0u64, 0u64, 0u64);
    let config = pco::ChunkConfig::default();
    for points in series.values() {
        for chunk in points.chunk_by(|a, b| a.0 / 7_200_000 == b.0 / 7_200_000) {
            let ts: Vec<i64> = chunk.iter().map(|p| p.0).collect();
            let vs: Vec<f64> = chunk.iter().map(|p| p.1).collect();
            pco_bytes += (pco::standalone::simple_compress(&ts, &config).map_or(0, |b| b.len())
                + pco::standalone::simple_compress(&vs, &config).map_or(0, |b| b.len())
                + 9) as u64;
            gorilla_bits_total += gorilla_bits(chunk);
            n += chunk.len() as u64;
        }
    }
    eprintln!(
        "codecs on 2 h chunks: pco {:.2} bytes/sample, Gorilla (delta-of-delta + XOR) {:.2} bytes/sample",
        pco_bytes as f64 / n as f64,
        gorilla_bits_total as f64 / 8.0 / n as f64
    );
}

/// Where the bytes of each partition go, per sample: SQLite's `dbstat`
/// (pages by table and index), free pages, and the chunks' encoded payload.
fn breakdown(dir: &std::path::Path, samples: u64) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "db") || path.ends_with("cert.db") {
            continue;
        }
        let Ok(conn) = rusqlite::Connection::open(&path) else {
            continue;
        };
        let per = |b: i64| b as f64 / samples as f64;
        let pages: rusqlite::Result<Vec<(String, i64, i64)>> = conn
            .prepare(
                "SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name ORDER BY 2 DESC",
            )
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            });
        match pages {
            Ok(rows) => {
                for (name, bytes, unused) in rows {
                    eprintln!(
                        "  {name}: {bytes} bytes = {:.3} bytes/sample ({:.3} unused in its pages)",
                        per(bytes),
                        per(unused)
                    );
                }
            }
            Err(e) => eprintln!("  (dbstat unavailable: {e})"),
        }
        let q = |sql: &str| {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .unwrap_or(-1)
        };
        let (page, free) = (q("PRAGMA page_size"), q("PRAGMA freelist_count"));
        eprintln!(
            "  {}: free pages {} = {:.3} bytes/sample; chunk payload {:.3} bytes/sample in {} chunks; {} batch ids",
            path.file_name().unwrap_or_default().to_string_lossy(),
            free,
            per(free * page),
            per(q("SELECT coalesce(sum(length(data)), 0) FROM chunks")),
            q("SELECT count(*) FROM chunks"),
            q("SELECT count(*) FROM batches"),
        );
    }
}

fn main() {
    let Some(path) = dataset::path() else {
        return;
    };
    let inflight: usize = std::env::var("OXMON_INFLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let stream = std::env::var("OXMON_STREAM").is_ok();
    let parsed: Option<Vec<MetricBatch>> = (!stream).then(|| {
        let t = Instant::now();
        let all: Vec<MetricBatch> = batches(&path).collect();
        eprintln!("parsed {} batches in {:.1?}", all.len(), t.elapsed());
        compare_codecs(&all);
        all
    });
    let start_ts = parsed
        .as_ref()
        .and_then(|b| b.first())
        .map_or(0, |b| b.timestamp_ms);
    let dir = tempfile::tempdir_in(
        std::env::var("OXMON_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").into()),
    )
    .expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = SqliteOptions { clock: Arc::new(ManualClock::new(start_ts)), ..SqliteOptions::default() };
        let store = Arc::new(SqliteStore::open(dir.path(), opts).expect("open"));
        let (tx, rx) = tokio::sync::mpsc::channel::<MetricBatch>(4 * inflight);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let samples = Arc::new(AtomicU64::new(0));
        let max_ts = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..inflight {
            let (store, rx, samples, max_ts) = (store.clone(), rx.clone(), samples.clone(), max_ts.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(b) = next else { break };
                    store.append(&b).await.expect("append");
                    samples.fetch_add(b.samples.len() as u64, Ordering::Relaxed);
                    max_ts.fetch_max(b.timestamp_ms, Ordering::Relaxed);
                }
            }));
        }
        let producer = std::thread::spawn(move || {
            let source: Box<dyn Iterator<Item = MetricBatch>> = match parsed {
                Some(all) => Box::new(all.into_iter()),
                None => Box::new(batches(&path)),
            };
            for b in source {
                if tx.blocking_send(b).is_err() {
                    break;
                }
            }
        });
        producer.join().expect("producer");
        for task in tasks {
            task.await.expect("task");
        }
        let ingest = t.elapsed();
        let samples = samples.load(Ordering::Relaxed);
        eprintln!(
            "ingest: {samples} samples durably in {ingest:.1?} = {:.0} samples/s ({inflight} appends in flight, synchronous=FULL{})",
            samples as f64 / ingest.as_secs_f64(),
            if stream { ", streamed: parse-bound" } else { "" }
        );
        let raw_bytes = dataset::dir_bytes(dir.path());
        let t = Instant::now();
        let report = store.compact(max_ts.load(Ordering::Relaxed) + 86_400_000).await.expect("compact");
        eprintln!("compaction: {} samples into {} chunks in {:.1?}", report.samples_compacted, report.chunks_written, t.elapsed());
        // A day after the day ends, the maintenance forgets its batch ids.
        let forgotten = store
            .expire_batch_ids(max_ts.load(Ordering::Relaxed) + 2 * 86_400_000)
            .await
            .expect("expire batch ids");
        eprintln!("batch ids forgotten a day after the day: {forgotten}");
        store.close();
        let bytes = dataset::dir_bytes(dir.path());
        eprintln!("before compaction (raw rows + WAL): {raw_bytes} bytes = {:.2} bytes/sample", raw_bytes as f64 / samples as f64);
        eprintln!("on disk after compaction: {bytes} bytes = {:.2} bytes/sample", bytes as f64 / samples as f64);
        breakdown(dir.path(), samples);
    });
}
