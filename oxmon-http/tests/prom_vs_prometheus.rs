//! PromQL against the real Prometheus: the same generated fleet (CPU, cores,
//! memory, disks, network counters with a reset, a gap and samples off the
//! 10 s grid) goes into oxmon's SQLite store and, through oxmon's own
//! remote write (`oxmon_transport::remote_write`), into a Prometheus 2.42
//! started on 127.0.0.1 with a temporary directory and its remote write
//! receiver on. A corpus of queries
//! (every supported function and operator, `by`/`without`, ranges and steps
//! that do not align with the samples) runs against both; every result
//! must agree within float tolerance. Prints the corpus pass count.
//! `OXMON_PEER_TESTS=0` skips it (scripts/test.sh installs Prometheus).
#![cfg(feature = "prometheus")]

use std::collections::BTreeMap;
use std::sync::Arc;

use oxmon_core::{Labels, MetricStore, MetricStoreExt, Sample};
use oxmon_http::AppState;
use std::sync::atomic::Ordering;

use oxmon_core::config::RemoteWriteConfig;
use oxmon_storage::{SqliteOptions, SqliteStore};
use oxmon_transport::remote_write::RemoteWriter;
use serde_json::Value;

mod common;
use common::prometheus::{Generated, prometheus, prometheus_receiving};
use common::{form_call, url_encode as enc};

/// 2026-02-08T10:00:00Z.
const T0: i64 = 1_770_544_800_000;
const S: i64 = 1000;
/// Three hours of 10 s samples.
const POINTS: i64 = 1080;

/// The fleet.
fn fleet() -> Vec<Generated> {
    let mut out = Vec::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for a in 1..=4_i64 {
        let agent = format!("a{a}");
        // a4 reports 3 s off the grid; a3 has a 10-minute gap.
        let times: Vec<i64> = (0..POINTS)
            .map(|k| T0 + k * 10 * S + if a == 4 { 3 * S } else { 0 })
            .filter(|t| a != 3 || !(T0 + 3_600 * S..T0 + 4_200 * S).contains(t))
            .collect();
        let series = |f: &mut dyn FnMut(usize, i64) -> f64| {
            times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, f(k, t)))
                .collect::<Vec<_>>()
        };
        let cpu = series(&mut |k, _| {
            ((20.0 + 10.0 * ((k as f64) / 7.0 + a as f64).sin() + noise() * 2.0) * 100.0).round()
                / 100.0
        });
        out.push((agent.clone(), "cpu.usage", vec![], cpu));
        for core in 0..2 {
            let c = series(&mut |k, _| {
                ((30.0 + 20.0 * ((k as f64) / (5.0 + core as f64)).cos() + noise()) * 10.0).round()
                    / 10.0
            });
            out.push((
                agent.clone(),
                "cpu.core_usage",
                vec![("core", core.to_string())],
                c,
            ));
        }
        let mem = series(&mut |k, _| 40.0 + a as f64 * 5.0 + k as f64 * 0.01);
        out.push((agent.clone(), "memory.used_percent", vec![], mem));
        for (m, base) in [("/", 50.0), ("/data", 70.0)] {
            let d = series(&mut |k, _| base + k as f64 * 0.002 * a as f64 + noise() * 0.1);
            out.push((
                agent.clone(),
                "disk.used_percent",
                vec![("mount", m.to_owned())],
                d,
            ));
        }
        // A counter; a2 restarts (resets to zero) half-way.
        let mut total = 0.0;
        let net = series(&mut |k, _| {
            if a == 2 && k == 540 {
                total = 0.0;
            }
            total += (1000.0 + noise() * 500.0).round();
            total
        });
        out.push((
            agent.clone(),
            "network.bytes_recv",
            vec![("interface", "eth0".to_owned())],
            net,
        ));
    }
    out
}

/// The fleet in oxmon's SQLite store (in `dir`) as agents send it: one
/// batch per agent and ten minutes, in time order; the store keeps a
/// change log for the remote write destination `prometheus`.
async fn oxmon(fleet: &[Generated], dir: &std::path::Path) -> (AppState, String, Arc<SqliteStore>) {
    let f = common::fixture().await;
    let store = Arc::new(
        SqliteStore::open(
            dir,
            SqliteOptions {
                synchronous_full: false,
                change_log_consumers: vec!["prometheus".into()],
                ..SqliteOptions::default()
            },
        )
        .unwrap(),
    );
    let mut batches: BTreeMap<(i64, &str), Vec<Sample>> = BTreeMap::new();
    for (agent, metric, labels, points) in fleet {
        let labels = labels
            .iter()
            .fold(Labels::new(), |l, (k, v)| l.with(*k, v.clone()));
        for &(t, v) in points {
            batches
                .entry((t.div_euclid(600 * S), agent.as_str()))
                .or_default()
                .push(Sample::new(*metric, labels.clone(), t, v));
        }
    }
    for ((_, agent), samples) in batches {
        store.append_samples(agent, samples).await.unwrap();
    }
    let state = f.state.with_metrics(store.clone() as Arc<dyn MetricStore>);
    let jwt = common::token(&state).await;
    (state, jwt, store)
}

/// Sends everything `store` holds to Prometheus's receiver with oxmon's
/// remote writer, and waits until all of it is accepted.
async fn remote_write(store: Arc<SqliteStore>, prom: &str, samples: usize) {
    let mut config = RemoteWriteConfig::new(format!("{prom}/api/v1/write"));
    config.name = Some("prometheus".into());
    config.send_deadline_ms = 0;
    let writer = RemoteWriter::from_config(&config, "test", 0).unwrap();
    let stats = writer.stats();
    let start = store
        .change_cursor("prometheus")
        .await
        .expect("the store keeps a change log");
    assert!(
        start.0.values().all(|&seq| seq == 0),
        "a new destination: {start:?}"
    );
    // A new consumer starts at the log's end; this one must see the log
    // from its start, so it is registered before the fleet is stored
    // (oxmon() opens the store with it) and reads from zero here.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(writer.run(
        store as Arc<dyn MetricStore>,
        Arc::new(oxmon_core::SystemClock),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut sent = 0;
    for _ in 0..600 {
        sent = stats.samples_sent.load(Ordering::Relaxed);
        let dropped = stats.samples_dropped.load(Ordering::Relaxed);
        assert_eq!(
            dropped,
            0,
            "Prometheus refused samples: {:?}",
            stats.last_error.lock().unwrap()
        );
        if sent as usize >= samples {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(sent as usize, samples, "every sample accepted once");
}

/// oxmon's answer and Prometheus's (at `base`) to the same request.
async fn both(
    state: &AppState,
    jwt: &str,
    http: &reqwest::Client,
    base: &str,
    path: &str,
) -> (Value, Value) {
    let ours = form_call(state, "GET", path, Some(format!("Bearer {jwt}")), None)
        .await
        .1;
    let theirs = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (ours, theirs)
}

/// A result as comparable data: labels (as JSON text) to its points.
fn normalise(body: &Value) -> Result<BTreeMap<String, Vec<(f64, f64)>>, String> {
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    let data = &body["data"];
    let num = |v: &Value| -> (f64, f64) {
        let parse = |s: &str| match s {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        };
        (
            v[0].as_f64().unwrap_or(f64::NAN),
            parse(v[1].as_str().unwrap_or("NaN")),
        )
    };
    let mut out = BTreeMap::new();
    match data["resultType"].as_str() {
        Some("scalar") => {
            out.insert("scalar".to_owned(), vec![num(&data["result"])]);
        }
        Some("vector") => {
            for e in data["result"].as_array().into_iter().flatten() {
                out.insert(e["metric"].to_string(), vec![num(&e["value"])]);
            }
        }
        Some("matrix") => {
            for e in data["result"].as_array().into_iter().flatten() {
                out.insert(
                    e["metric"].to_string(),
                    e["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(num)
                        .collect(),
                );
            }
        }
        other => return Err(format!("result type {other:?}")),
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn agree(
    ours: &BTreeMap<String, Vec<(f64, f64)>>,
    theirs: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), String> {
    if ours.keys().ne(theirs.keys()) {
        return Err(format!(
            "series differ: oxmon {:?} vs Prometheus {:?}",
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        ));
    }
    for (k, a) in ours {
        let b = &theirs[k];
        if a.len() != b.len() {
            return Err(format!("{k}: {} points vs {}", a.len(), b.len()));
        }
        for (x, y) in a.iter().zip(b) {
            if !close(x.0, y.0) || !close(x.1, y.1) {
                return Err(format!("{k}: {x:?} vs {y:?}"));
            }
        }
    }
    Ok(())
}

const INSTANT: &[&str] = &[
    "cpu_usage",
    "cpu_usage{agent=\"a1\"}",
    "cpu_usage{agent!=\"a1\"}",
    "cpu_usage{agent=~\"a[12]\"}",
    "cpu_usage{agent!~\"a1|a3\"}",
    "cpu_core_usage{core=\"1\"}",
    "{__name__=~\"disk_.*\",mount=\"/data\"}",
    "disk_used_percent offset 10m",
    "rate(network_bytes_recv[1m])",
    "rate(network_bytes_recv[5m])",
    "rate(network_bytes_recv[7m30s])",
    "irate(network_bytes_recv[5m])",
    "increase(network_bytes_recv[10m])",
    "increase(network_bytes_recv[95m])",
    "delta(cpu_usage[5m])",
    "idelta(cpu_usage[5m])",
    "deriv(disk_used_percent[30m])",
    "predict_linear(disk_used_percent[30m], 3600)",
    "changes(cpu_usage[5m])",
    "resets(network_bytes_recv[2h])",
    "avg_over_time(cpu_usage[5m])",
    "sum_over_time(cpu_usage[2m])",
    "count_over_time(cpu_usage[3m])",
    "min_over_time(cpu_usage[5m])",
    "max_over_time(cpu_usage[5m] offset 3m)",
    "last_over_time(cpu_usage[1m])",
    "present_over_time(cpu_usage[1m])",
    "stddev_over_time(cpu_usage[10m])",
    "stdvar_over_time(cpu_usage[10m])",
    "quantile_over_time(0.9, cpu_usage[10m])",
    "sum(cpu_usage)",
    "avg by (agent) (cpu_core_usage)",
    "max without (core) (cpu_core_usage)",
    "min by (mount) (disk_used_percent)",
    "count(cpu_core_usage)",
    "group by (agent) (disk_used_percent)",
    "stddev(cpu_usage)",
    "stdvar by (core) (cpu_core_usage)",
    "topk(2, cpu_usage)",
    "bottomk(2, disk_used_percent)",
    "topk by (mount) (1, disk_used_percent)",
    "quantile(0.75, cpu_usage)",
    "quantile by (core) (0.3, cpu_core_usage)",
    "count_values(\"v\", round(cpu_usage))",
    "sum by (agent) (rate(network_bytes_recv[5m]))",
    "cpu_usage * 2",
    "2 - cpu_usage",
    "cpu_usage ^ 2 % 7",
    "cpu_usage > 25",
    "25 < cpu_usage",
    "cpu_usage > bool 25",
    "cpu_usage == bool cpu_usage",
    "cpu_usage / on (agent) memory_used_percent",
    "cpu_core_usage + ignoring (core) group_left cpu_usage",
    "disk_used_percent / on (agent) group_left memory_used_percent",
    "memory_used_percent / on (agent) group_right disk_used_percent",
    "disk_used_percent > on (agent) group_left memory_used_percent",
    "cpu_usage and cpu_usage > 25",
    "cpu_usage or memory_used_percent",
    "cpu_usage unless cpu_usage{agent=\"a1\"}",
    "cpu_usage and on (agent) (memory_used_percent > 55)",
    "-cpu_usage",
    "abs(-cpu_usage)",
    "ceil(cpu_usage)",
    "floor(cpu_usage)",
    "round(cpu_usage, 5)",
    "clamp(cpu_usage, 15, 25)",
    "clamp_min(cpu_usage, 20)",
    "clamp_max(cpu_usage, 20)",
    "sqrt(cpu_usage)",
    "exp(cpu_usage / 100)",
    "ln(cpu_usage)",
    "log2(cpu_usage)",
    "log10(cpu_usage)",
    "sgn(cpu_usage - 20)",
    "time()",
    "vector(1)",
    "scalar(sum(cpu_usage))",
    "scalar(cpu_usage)",
    "timestamp(cpu_usage)",
    "sum(cpu_usage) / count(cpu_usage)",
    "cpu_usage - avg_over_time(cpu_usage[30m])",
    "rate(network_bytes_recv[1m]) / rate(network_bytes_recv[30m])",
    "1 + 2 * 3",
    "label_replace(cpu_usage, \"host\", \"node-$1\", \"agent\", \"a(.*)\")",
    "label_replace(cpu_usage, \"agent\", \"\", \"agent\", \"a1\")",
    "sort(cpu_usage)",
    "sort_desc(cpu_usage)",
    "sum by (agent) (rate(network_bytes_recv[5m])) / on (agent) group_left sum by (agent) (cpu_usage)",
];

const RANGE: &[(&str, i64, i64, &str)] = &[
    ("cpu_usage", 3_601, 4_320, "37s"),
    ("rate(network_bytes_recv[5m])", 2_003, 10_000, "300s"),
    ("avg by (agent) (cpu_usage)", 600, 7_200, "60s"),
    ("deriv(disk_used_percent[30m])", 7_000, 10_700, "123s"),
    ("sum(cpu_usage) / count(cpu_usage)", 0, 10_790, "15m"),
    ("increase(network_bytes_recv[1h])", 5_000, 9_000, "7m"),
    ("max_over_time(cpu_usage[5m]) > 28", 1_000, 3_000, "100s"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_promql_corpus_agrees_with_prometheus() {
    if std::env::var("OXMON_PEER_TESTS").as_deref() == Ok("0") {
        eprintln!("OXMON_PEER_TESTS=0: skipped");
        return;
    }
    let fleet = fleet();
    let dir = tempfile::tempdir().unwrap();
    let (state, jwt, store) = oxmon(&fleet, dir.path()).await;
    let prom = prometheus_receiving().await;
    let samples = fleet.iter().map(|(_, _, _, p)| p.len()).sum();
    remote_write(store, &prom.base, samples).await;
    let http = reqwest::Client::new();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut check = |what: String, ours: Value, theirs: Value| {
        let verdict = match (normalise(&ours), normalise(&theirs)) {
            (Ok(a), Ok(b)) => agree(&a, &b),
            (Err(a), Err(_)) => Err(format!(
                "both refused ({a}); the corpus holds only queries Prometheus answers"
            )),
            (Err(a), Ok(_)) => Err(format!("oxmon refused: {a}")),
            (Ok(_), Err(b)) => Err(format!("Prometheus refused: {b}")),
        };
        match verdict {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    };
    // Instant queries at times on, between and off the samples' grid.
    for q in INSTANT {
        for at in [T0 + 3_600 * S, T0 + 5_432_100, T0 + 10_779 * S + 500] {
            let path = format!(
                "/api/v1/query?query={}&time={}.{:03}",
                enc(q),
                at / 1000,
                at % 1000
            );
            let (ours, theirs) = both(&state, &jwt, &http, &prom.base, &path).await;
            check(format!("{q} @ {at}"), ours, theirs);
        }
    }
    for (q, from, to, step) in RANGE {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step}",
            enc(q),
            (T0 + from * S) / 1000,
            (T0 + to * S) / 1000
        );
        let (ours, theirs) = both(&state, &jwt, &http, &prom.base, &path).await;
        check(
            format!("range {q} [{from}..{to} step {step}]"),
            ours,
            theirs,
        );
    }
    let total = passed + failures.len();
    println!("PromQL corpus: {passed} of {total} results agree with Prometheus 2.42");
    assert!(
        failures.is_empty(),
        "{} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The query figures (docs/benchmarks.md): one day of 20 agents' CPU at
/// 10 s in oxmon's SQLite store behind its HTTP API on 127.0.0.1, and in
/// Prometheus; a one-day `query_range` (step 60 s) of one series and of
/// `avg by (agent) (cpu_usage)`, 50 times each, p50 and p99. Run with
/// `cargo test --release -p oxmon-http --all-features --test prom_vs_prometheus -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check: run it by hand (docs/benchmarks.md)"]
async fn query_figures_side_by_side_with_prometheus() {
    let day = 8_640;
    let fleet: Vec<Generated> = (1..=20)
        .map(|a| {
            let points = (0..day)
                .map(|k| (T0 + k * 10 * S, 20.0 + ((k + a * 37) % 600) as f64 / 10.0))
                .collect();
            (format!("a{a:02}"), "cpu.usage", vec![], points)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = oxmon_storage::SqliteStore::open(
        dir.path().join("data"),
        oxmon_storage::SqliteOptions::default(),
    )
    .unwrap();
    let store = Arc::new(store);
    for (agent, metric, _, points) in &fleet {
        for chunk in points.chunks(2_000) {
            let samples = chunk
                .iter()
                .map(|&(t, v)| Sample::new(*metric, Labels::new(), t, v))
                .collect();
            store.append_samples(agent, samples).await.unwrap();
        }
    }
    // A past day, compacted into chunks as the store's maintenance does a
    // few minutes after the samples arrive.
    store.compact(T0 + 2 * 86_400 * S).await.unwrap();
    let f = common::fixture().await;
    let state = f.state.with_metrics(store as Arc<dyn MetricStore>);
    let jwt = common::token(&state).await;
    let oxmon_base = common::serve_on_loopback(state).await;
    let prom = prometheus(&fleet).await;
    let http = reqwest::Client::new();
    let window = format!(
        "start={}&end={}&step=60",
        T0 / 1000,
        (T0 + 86_400 * S) / 1000
    );
    for q in ["cpu_usage{agent=\"a07\"}", "avg by (agent) (cpu_usage)"] {
        let path = format!("/api/v1/query_range?query={}&{window}", enc(q));
        for (who, base, auth) in [
            ("oxmon", &oxmon_base, Some(jwt.as_str())),
            ("Prometheus", &prom.base, None),
        ] {
            let mut times = Vec::new();
            for i in 0..55 {
                let mut req = http.get(format!("{base}{path}"));
                if let Some(t) = auth {
                    req = req.bearer_auth(t);
                }
                let started = std::time::Instant::now();
                let body = req.send().await.unwrap().bytes().await.unwrap();
                let took = started.elapsed();
                let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
                assert_eq!(parsed["status"], "success", "{who}: {parsed}");
                // The first five warm the caches.
                if i >= 5 {
                    times.push(took);
                }
            }
            times.sort();
            let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            println!("{q} | {who}: p50 {:?}, p99 {:?}", p(0.5), p(0.99));
        }
    }
}
