//! Remote write throughput into the real VictoriaMetrics on 127.0.0.1, on
//! the shared benchmark dataset, with the CPU it costs the sender; beside
//! it, in the same run, VictoriaMetrics importing the same samples through
//! its own `/api/v1/import` (its ingest ceiling on this machine).
//!
//! Run with:
//!   python3 ../shared/bench-data/gen_dataset.py --format promtext --out /tmp/ds.prom
//!   OXMON_DATASET=/tmp/ds.prom cargo bench -p oxmon-transport --features remote-write --bench remote_write
//!
//! The dataset is stored first (durably, with the change log on, 64
//! appends in flight: that ingest rate is printed too); then one
//! `RemoteWriter` (defaults but `send_deadline_ms = 0`; `OXMON_RW_BATCH`
//! and `OXMON_RW_CONCURRENCY` override batch size and concurrency) sends
//! it all to a fresh VictoriaMetrics (`-dedup.minScrapeInterval=1ms`, as
//! docs/scaling.md runs it). CPU is read from /proc (user + system) for
//! this process and for VictoriaMetrics over the drain.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oxmon_core::config::RemoteWriteConfig;
use oxmon_core::{Labels, ManualClock, MetricBatch, MetricStore, SystemClock};
use oxmon_storage::{SqliteOptions, SqliteStore};
use oxmon_transport::remote_write::RemoteWriter;

/// (agent, metric, labels).
type SeriesKey = (String, String, Labels);

#[path = "../../oxmon-storage/benches/dataset/mod.rs"]
mod dataset;

/// User + system CPU seconds of a process, from /proc/<pid>/stat.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

struct Vm(Child, String);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn victoria_metrics(dir: &std::path::Path) -> Vm {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .args([
            "-retentionPeriod=100y",
            "-search.latencyOffset=0",
            "-dedup.minScrapeInterval=1ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics (apt install victoria-metrics)");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vm(child, base)
}

/// Samples VictoriaMetrics holds between `from_ms` and `to_ms`.
async fn count(vm: &Vm, from_ms: i64, to_ms: i64) -> f64 {
    let http = reqwest::Client::new();
    let _ = http
        .get(format!("{}/internal/force_flush", vm.1))
        .send()
        .await;
    let hours = (to_ms - from_ms) / 3_600_000 + 1;
    let body: serde_json::Value = http
        .post(format!("{}/api/v1/query", vm.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "query=sum(count_over_time(%7B__name__%3D~%22.%2B%22%7D%5B{hours}h%5D))&time={}&nocache=1",
            to_ms / 1000 + 1
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("VictoriaMetrics answered {body}");
            0.0
        })
}

/// Stores every batch, 64 appends in flight; the time it took.
async fn ingest(store: &Arc<SqliteStore>, all: &Arc<Vec<MetricBatch>>) -> Duration {
    let t = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, all, next) = (store.clone(), all.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(b) = all.get(next.fetch_add(1, Ordering::Relaxed)) {
                store.append(b).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    t.elapsed()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Some(path) = dataset::path() else {
        return;
    };
    let all: Arc<Vec<MetricBatch>> = Arc::new(dataset::batches(&path).collect());
    let total: usize = all.iter().map(|b| b.samples.len()).sum();
    let start_ts = all.first().map_or(0, |b| b.timestamp_ms);
    let end_ts = all.iter().map(|b| b.timestamp_ms).max().unwrap_or(0);
    let work = tempfile::tempdir_in(
        std::env::var("OXMON_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").into()),
    )
    .expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The same ingest without and with the change log: what keeping it costs.
        let mut store = None;
        // Twice each, alternating: the first pass of a run warms the machine.
        for (pass, consumers) in [
            Vec::new(),
            vec!["vm".to_owned()],
            Vec::new(),
            vec!["vm".to_owned()],
        ]
        .into_iter()
        .enumerate()
        {
            let with_log = !consumers.is_empty();
            let options = SqliteOptions {
                clock: Arc::new(ManualClock::new(start_ts)),
                change_log_consumers: consumers,
                ..SqliteOptions::default()
            };
            let dir = work.path().join(format!("oxmon-{pass}"));
            let s = Arc::new(SqliteStore::open(&dir, options).expect("open"));
            let ingest = ingest(&s, &all).await;
            eprintln!(
                "store ingest, change log {}: {total} samples in {ingest:.1?} = {:.0} samples/s (synchronous=FULL, 64 in flight); {:.2} bytes per sample on disk",
                if with_log { "on" } else { "off" },
                total as f64 / ingest.as_secs_f64(),
                dataset::dir_bytes(&dir) as f64 / total as f64,
            );
            if with_log {
                store = Some(s);
            } else {
                drop(s);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        let store = store.expect("stored");

        let vm = victoria_metrics(&work.path().join("vm")).await;
        let mut config = RemoteWriteConfig::new(format!("{}/api/v1/write", vm.1));
        config.name = Some("vm".into());
        config.send_deadline_ms = 0;
        config.resend_secs = 0;
        config.batch_size = env("OXMON_RW_BATCH", config.batch_size);
        config.concurrency = env("OXMON_RW_CONCURRENCY", config.concurrency);
        let writer = RemoteWriter::from_config(&config, "bench", 0).expect("writer");
        let stats = writer.stats();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let vm_pid = vm.0.id().to_string();
        let (own0, vm0) = (cpu_secs("self"), cpu_secs(&vm_pid));
        let t = Instant::now();
        let task = tokio::spawn(writer.run(store.clone(), Arc::new(SystemClock), async move {
            let _ = stopped.await;
        }));
        while (stats.samples_sent.load(Ordering::Relaxed) as usize) < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drain = t.elapsed();
        let (own, vm_cpu) = (cpu_secs("self") - own0, cpu_secs(&vm_pid) - vm0);
        let _ = stop.send(());
        task.await.expect("writer");
        let held = count(&vm, start_ts, end_ts).await;
        eprintln!(
            "remote write into VictoriaMetrics: {total} samples in {drain:.1?} = {:.0} samples/s (batch_size {}, concurrency {}); oxmon CPU {own:.1} s ({:.2} µs per sample), VictoriaMetrics CPU {vm_cpu:.1} s; VictoriaMetrics holds {held}",
            total as f64 / drain.as_secs_f64(),
            config.batch_size,
            config.concurrency,
            own * 1e6 / total as f64,
        );
        assert_eq!(held as usize, total, "every sample arrived");
        drop(vm);

        // The peer's own path in the same run: the same samples as JSON lines
        // into a fresh VictoriaMetrics's /api/v1/import, 4 requests at once.
        let vm = victoria_metrics(&work.path().join("vm-import")).await;
        let mut series: HashMap<SeriesKey, (Vec<i64>, Vec<f64>)> = HashMap::new();
        for b in all.iter() {
            for s in &b.samples {
                let e = series
                    .entry((b.agent_id.clone(), s.metric.clone(), s.labels.clone()))
                    .or_default();
                e.0.push(s.timestamp_ms);
                e.1.push(s.value);
            }
        }
        let mut bodies = vec![String::new(); 16];
        for (i, ((agent, metric, labels), (ts, vs))) in series.into_iter().enumerate() {
            let metric_obj = oxmon_core::prom::series_labels(&agent, &metric, &labels);
            let line = serde_json::json!({"metric": metric_obj, "values": vs, "timestamps": ts});
            bodies[i % 16].push_str(&line.to_string());
            bodies[i % 16].push('\n');
        }
        let vm_pid = vm.0.id().to_string();
        let vm0 = cpu_secs(&vm_pid);
        let t = Instant::now();
        let http = reqwest::Client::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(4));
        let mut sends = Vec::new();
        for body in bodies {
            let request = http.post(format!("{}/api/v1/import", vm.1)).body(body);
            let limit = limit.clone();
            sends.push(tokio::spawn(async move {
                let _permit = limit.acquire().await;
                request.send().await.map(|r| r.status())
            }));
        }
        for s in sends {
            let status = s.await.unwrap().expect("import");
            assert!(status.is_success(), "{status}");
        }
        let held = loop {
            let n = count(&vm, start_ts, end_ts).await;
            if n as usize >= total {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let import = t.elapsed();
        eprintln!(
            "VictoriaMetrics /api/v1/import of the same samples: {import:.1?} = {:.0} samples/s (until queryable), VictoriaMetrics CPU {:.1} s; holds {held}",
            total as f64 / import.as_secs_f64(),
            cpu_secs(&vm_pid) - vm0
        );
    });
}
