//! Remote write from a real SQLite store to a real HTTP receiver on
//! 127.0.0.1 that decodes what it gets and answers as scripted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use oxmon_core::config::RemoteWriteConfig;
use oxmon_core::testing::T0;
use oxmon_core::{Labels, ManualClock, MetricBatch, MetricStore, Sample as OxSample, Secret};
use oxmon_storage::{SqliteOptions, SqliteStore};

use super::*;

/// What the receiver got, and how it answers the next requests.
#[derive(Default)]
struct Received {
    /// (labels, timestamp, value) of every accepted sample.
    samples: Vec<(BTreeMap<String, String>, i64, f64)>,
    /// Headers of the last request.
    headers: Option<HeaderMap>,
    /// Answers to give before accepting again: status, Retry-After.
    script: VecDeque<(StatusCode, Option<&'static str>)>,
    requests: usize,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receiver() -> Receiver {
    receiver_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}

async fn receiver_on(listener: tokio::net::TcpListener) -> Receiver {
    let got = Arc::new(Mutex::new(Received::default()));
    let state = got.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut g = state.lock().unwrap();
                g.requests += 1;
                g.headers = Some(headers);
                if let Some((status, after)) = g.script.pop_front() {
                    let mut h = HeaderMap::new();
                    if let Some(a) = after {
                        h.insert("retry-after", a.parse().unwrap());
                    }
                    return (status, h, "scripted refusal");
                }
                let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                let request: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
                for ts in request.timeseries {
                    let labels: BTreeMap<String, String> =
                        ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
                    for s in ts.samples {
                        g.samples.push((labels.clone(), s.timestamp, s.value));
                    }
                }
                (StatusCode::NO_CONTENT, HeaderMap::new(), "")
            }
        }),
    );
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        url: format!("http://{addr}/api/v1/write"),
        got,
        task,
    }
}

fn store(dir: &std::path::Path, clock: &ManualClock) -> Arc<SqliteStore> {
    Arc::new(
        SqliteStore::open(
            dir,
            SqliteOptions {
                clock: Arc::new(clock.clone()),
                synchronous_full: false,
                change_log_consumers: vec!["vm".into()],
                change_log_keep_ms: 10_000,
                ..SqliteOptions::default()
            },
        )
        .unwrap(),
    )
}

fn config(url: &str) -> RemoteWriteConfig {
    let mut c = RemoteWriteConfig::new(url);
    c.name = Some("vm".into());
    c.send_deadline_ms = 0;
    c.batch_size = 100;
    c.max_backoff_ms = 200;
    c.resend_secs = 0;
    c
}

/// Stores `n` batches of 10 CPU samples (agent `web-<b % 3>`).
async fn fill(store: &SqliteStore, from: i64, n: i64) {
    for b in from..from + n {
        let samples = (0..10)
            .map(|i| {
                OxSample::new(
                    "cpu.usage",
                    Labels::new().with("core", i.to_string()),
                    T0 + b * 1_000,
                    (b * 10 + i) as f64,
                )
            })
            .collect();
        let batch =
            MetricBatch::new(format!("web-{}", b % 3), samples).with_batch_id(format!("b{b}"));
        store.append(&batch).await.unwrap();
    }
}

/// Runs a writer until `done` holds for what the receiver got (polling;
/// gives up after 20 s), then stops it.
async fn run_until(
    writer: RemoteWriter,
    store: Arc<SqliteStore>,
    clock: &ManualClock,
    got: &Arc<Mutex<Received>>,
    done: impl Fn(&Received) -> bool,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let task = tokio::spawn(writer.run(store, clock, async move {
        let _ = stopped.await;
    }));
    for _ in 0..400 {
        if done(&got.lock().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await.unwrap();
}

/// A receiver that first answers `script`, a store with 10 batches (100
/// samples) and a writer (concurrency 1) run until the receiver has them.
async fn through<const N: usize>(
    dir: &std::path::Path,
    clock: &ManualClock,
    script: [(StatusCode, Option<&'static str>); N],
) -> (
    Receiver,
    Arc<SqliteStore>,
    RemoteWriteConfig,
    Arc<RemoteWriteStats>,
) {
    let rx = receiver().await;
    rx.got.lock().unwrap().script = VecDeque::from(script);
    let store = store(dir, clock);
    let mut c = config(&rx.url);
    c.concurrency = 1;
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    let stats = writer.stats();
    fill(&store, 0, 10).await;
    run_until(writer, store.clone(), clock, &rx.got, |r| {
        r.samples.len() >= 100
    })
    .await;
    (rx, store, c, stats)
}

fn sample_keys(r: &Received) -> Vec<(String, String, i64)> {
    let mut keys: Vec<_> = r
        .samples
        .iter()
        .map(|(l, t, _)| (l["agent"].clone(), l["core"].clone(), *t))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stored_sample_arrives_once_and_a_restart_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let rx = receiver().await;
    let store = store(dir.path(), &clock);
    let writer = RemoteWriter::from_config(&config(&rx.url), "server.toml", 0).unwrap();
    let stats = writer.stats();
    let start = store.change_cursor("vm").await.unwrap();
    fill(&store, 0, 50).await;
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        r.samples.len() >= 500
    })
    .await;
    {
        let got = rx.got.lock().unwrap();
        let keys = sample_keys(&got);
        let mut unique = keys.clone();
        unique.dedup();
        assert_eq!((keys.len(), unique.len()), (500, 500), "each sample once");
        let (labels, _, _) = &got.samples[0];
        assert_eq!(labels["__name__"], "cpu_usage");
        assert!(labels["agent"].starts_with("web-"));
    }
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 500);
    assert_eq!(stats.lag_ms.load(Ordering::Relaxed), 0);
    // A new writer (a restarted server) sends only what came after.
    clock.advance_ms(11_000);
    fill(&store, 50, 5).await;
    let writer = RemoteWriter::from_config(&config(&rx.url), "server.toml", 0).unwrap();
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        r.samples.len() >= 550
    })
    .await;
    {
        let got = rx.got.lock().unwrap();
        assert_eq!(
            got.samples.len(),
            550,
            "nothing sent twice after the restart"
        );
        let headers = got.headers.as_ref().unwrap();
        assert_eq!(headers["content-encoding"], "snappy");
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    }
    let left = store.read_changes(&start, 1_000_000).await.unwrap();
    assert_eq!(
        left.changes.len(),
        5,
        "the log keeps, of what every destination has sent, only the last 10 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_for_a_while_gets_everything_and_a_permanent_refusal_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let (rx, store, c, stats) = through(
        dir.path(),
        &clock,
        [
            (StatusCode::SERVICE_UNAVAILABLE, None),
            (StatusCode::TOO_MANY_REQUESTS, Some("1")),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
        ],
    )
    .await;
    assert_eq!(
        sample_keys(&rx.got.lock().unwrap()).len(),
        100,
        "nothing lost, nothing doubled"
    );
    assert_eq!(
        stats.samples_failed.load(Ordering::Relaxed),
        300,
        "three failed attempts of 100"
    );
    assert!(
        stats
            .last_error
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("")
            .contains("500"),
        "the last failure is kept"
    );
    // A 400 is final: those samples are dropped, counted, and what follows flows.
    rx.got.lock().unwrap().script = VecDeque::from([(StatusCode::BAD_REQUEST, None)]);
    fill(&store, 10, 10).await;
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    let stats = writer.stats();
    let store2 = store.clone();
    let handle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fill(&store2, 20, 1).await;
    });
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        r.samples.len() >= 110
    })
    .await;
    handle.await.unwrap();
    assert_eq!(stats.samples_dropped.load(Ordering::Relaxed), 100);
    assert_eq!(rx.got.lock().unwrap().samples.len(), 110);
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_headers_external_labels_and_the_metric_lists_apply() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let rx = receiver().await;
    let store = store(dir.path(), &clock);
    let mut c = config(&rx.url);
    c.bearer_token = Some(Secret::from("s3cret"));
    c.headers.insert("X-Scope-OrgID".into(), "tenant-1".into());
    c.external_labels
        .insert("oxmon_server".into(), "eu-1".into());
    c.metrics_deny = vec!["memory.*".into()];
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    let stats = writer.stats();
    store
        .append(&MetricBatch::new(
            "db-1",
            vec![
                OxSample::new("cpu.usage", Labels::new(), T0, 1.0),
                OxSample::new("memory.used_percent", Labels::new(), T0, 2.0),
            ],
        ))
        .await
        .unwrap();
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        !r.samples.is_empty()
    })
    .await;
    let got = rx.got.lock().unwrap();
    let headers = got.headers.as_ref().unwrap();
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(headers["x-scope-orgid"], "tenant-1");
    assert_eq!(got.samples.len(), 1);
    assert_eq!(got.samples[0].0["oxmon_server"], "eu-1");
    assert_eq!(stats.samples_filtered.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_request_waits_for_the_send_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let rx = receiver().await;
    let store = store(dir.path(), &clock);
    let mut c = config(&rx.url);
    c.send_deadline_ms = 60_000;
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    fill(&store, 0, 1).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let task = tokio::spawn(writer.run(store.clone(), dyn_clock, async move {
        let _ = stopped.await;
    }));
    // Ten samples, fewer than batch_size: held while the clock stands still.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.got.lock().unwrap().requests, 0, "held for the deadline");
    clock.advance_ms(60_000);
    for _ in 0..100 {
        if rx.got.lock().unwrap().samples.len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rx.got.lock().unwrap().samples.len(),
        10,
        "sent at the deadline"
    );
    let _ = stop.send(());
    task.await.unwrap();
}

#[test]
fn bad_settings_name_their_field() {
    let mut c = RemoteWriteConfig::new("http://127.0.0.1:1/api/v1/write");
    c.metrics_allow = vec!["cpu.[".into()];
    let e = RemoteWriter::from_config(&c, "server.toml", 2).unwrap_err();
    assert!(
        e.to_string().contains("remote_write[2].metrics_allow[0]"),
        "{e}"
    );
    let mut c = RemoteWriteConfig::new("https://127.0.0.1:1/api/v1/write");
    c.ca_file = Some("/nonexistent/ca.pem".into());
    let e = RemoteWriter::from_config(&c, "server.toml", 0).unwrap_err();
    assert!(e.to_string().contains("remote_write[0].ca_file"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_server_sends_its_last_seconds_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let rx = receiver().await;
    let store = store(dir.path(), &clock);
    let mut c = config(&rx.url);
    c.resend_secs = 10;
    fill(&store, 0, 20).await;
    clock.advance_ms(60_000);
    fill(&store, 20, 5).await;
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        r.samples.len() >= 250
    })
    .await;
    assert_eq!(rx.got.lock().unwrap().samples.len(), 250);
    // The receiver may have lost what it acknowledged last: a restarted
    // writer sends the last 10 s of what was sent (the 5 batches stored
    // a minute after the others) again, and nothing older.
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    let stats = writer.stats();
    run_until(writer, store.clone(), &clock, &rx.got, |r| {
        r.samples.len() >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got.lock().unwrap().samples.len(), 300);
    assert_eq!(stats.samples_resent.load(Ordering::Relaxed), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_receiver_was_unreachable_the_seconds_before_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first = receiver_on(listener).await;
    let store = store(dir.path(), &clock);
    let mut c = config(&first.url);
    c.resend_secs = 10;
    let writer = RemoteWriter::from_config(&c, "server.toml", 0).unwrap();
    let stats = writer.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let task = tokio::spawn(writer.run(store.clone(), dyn_clock, async move {
        let _ = stopped.await;
    }));
    fill(&store, 0, 10).await;
    for _ in 0..200 {
        if first.got.lock().unwrap().samples.len() >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(first.got.lock().unwrap().samples.len(), 100);
    // The receiver dies (whatever it acknowledged last may be lost) ...
    first.task.abort();
    let _ = first.task.await;
    // A minute passes: the window is measured from what was sent, not from now.
    clock.advance_ms(60_000);
    fill(&store, 10, 10).await;
    for _ in 0..200 {
        if stats.samples_failed.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        stats.samples_failed.load(Ordering::Relaxed) > 0,
        "unreachable"
    );
    // ... and comes back on the same address: it gets what came since and,
    // again, the 10 s before it went away.
    let second = receiver_on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    for _ in 0..400 {
        if second.got.lock().unwrap().samples.len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = sample_keys(&second.got.lock().unwrap());
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        200,
        "everything stored, the lost seconds included"
    );
    assert!(stats.samples_resent.load(Ordering::Relaxed) >= 100);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_at_the_receiver_are_retried_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    // A token that expired, a wrong path behind a proxy, a redirect, a body
    // too large: each fixed at the receiver later; none drops the samples.
    let (rx, _store, _, stats) = through(
        dir.path(),
        &clock,
        [
            (StatusCode::UNAUTHORIZED, None),
            (StatusCode::NOT_FOUND, None),
            (StatusCode::PERMANENT_REDIRECT, None),
            (StatusCode::PAYLOAD_TOO_LARGE, None),
        ],
    )
    .await;
    assert_eq!(sample_keys(&rx.got.lock().unwrap()).len(), 100);
    assert_eq!(stats.samples_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(stats.samples_failed.load(Ordering::Relaxed), 400);
    assert_eq!(
        rx.got.lock().unwrap().requests,
        5,
        "four refusals, then accepted"
    );
}
