//! The SQLite store on real files.
//!
//! One concern (the SQLite store's behaviour on real files) kept in one file:
//! tests of the store, sharing the store-opening and batch helpers.

use std::sync::Arc;

use oxmon_core::testing::T0;
use oxmon_core::{
    AppendOutcome, DAY_MS, Error, Labels, ManualClock, MetricBatch, MetricStore, MetricStoreExt,
    Point, RangeQuery, Sample, SeriesKey,
};

use super::{SqliteOptions, SqliteStore, partition};

fn options(clock: &ManualClock) -> SqliteOptions {
    SqliteOptions {
        clock: Arc::new(clock.clone()),
        synchronous_full: false,
        ..SqliteOptions::default()
    }
}

fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(dir, options(&ManualClock::new(T0))).expect("open store")
}

fn batch(agent: &str, id: Option<&str>, samples: Vec<Sample>) -> MetricBatch {
    MetricBatch {
        agent_id: agent.into(),
        batch_id: id.map(Into::into),
        timestamp_ms: T0,
        samples,
    }
}

fn cpu(ts: i64, v: f64) -> Sample {
    Sample::new("cpu.usage", Labels::new(), ts, v)
}

fn key(agent: &str) -> SeriesKey {
    SeriesKey::new(agent, "cpu.usage", Labels::new())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    oxmon_core::testing::store::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_passes_the_conformance_suite_after_compaction() {
    // Same suite, but with a compaction pass (everything older than "now") after every write.
    let dir = tempfile::tempdir().unwrap();
    let store = CompactingStore(open(dir.path()));
    oxmon_core::testing::store::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_window_groups_concurrent_batches_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            dir.path(),
            SqliteOptions {
                commit_window: std::time::Duration::from_millis(50),
                ..options(&ManualClock::new(T0))
            },
        )
        .unwrap(),
    );
    // The conformance suite holds with the window too.
    oxmon_core::testing::store::run_all(store.as_ref()).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let agent = format!("w-{i}");
                store
                    .append(&batch(
                        &agent,
                        Some(&format!("w-{i}")),
                        vec![cpu(T0 + i, 1.0)],
                    ))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap(),
            AppendOutcome::Stored { .. }
        ));
    }
    let store = Arc::into_inner(store).expect("sole owner");
    store.close();
    let reopened = open(dir.path());
    for i in 0..40 {
        let got = reopened
            .series_points(&key(&format!("w-{i}")), T0 - 1, T0 + 100)
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "w-{i}");
    }
}

#[derive(Debug)]
struct CompactingStore(SqliteStore);

#[async_trait::async_trait]
impl MetricStore for CompactingStore {
    async fn append(&self, batch: &MetricBatch) -> oxmon_core::Result<AppendOutcome> {
        let r = self.0.append(batch).await;
        self.0.compact(T0 + 1000 * DAY_MS).await.expect("compact");
        r
    }
    async fn query_range(
        &self,
        q: &RangeQuery,
    ) -> oxmon_core::Result<Vec<oxmon_core::SeriesPoints>> {
        self.0.query_range(q).await
    }
    async fn latest(&self, a: &str) -> oxmon_core::Result<Vec<Sample>> {
        self.0.latest(a).await
    }
    async fn latest_page(
        &self,
        a: &str,
        q: &oxmon_core::LatestQuery,
    ) -> oxmon_core::Result<oxmon_core::LatestPage> {
        self.0.latest_page(a, q).await
    }
    async fn agents(&self) -> oxmon_core::Result<Vec<oxmon_core::AgentInfo>> {
        self.0.agents().await
    }
    async fn insert_alert_events(&self, e: &[oxmon_core::AlertEvent]) -> oxmon_core::Result<()> {
        self.0.insert_alert_events(e).await
    }
    async fn query_alert_events(
        &self,
        q: &oxmon_core::AlertQuery,
    ) -> oxmon_core::Result<oxmon_core::AlertPage> {
        self.0.query_alert_events(q).await
    }
    async fn apply_retention(&self, c: i64) -> oxmon_core::Result<oxmon_core::RetentionReport> {
        self.0.apply_retention(c).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn samples_land_in_the_partition_of_their_own_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let midnight = T0 + DAY_MS;
    store
        .append(&batch(
            "a",
            Some("b1"),
            vec![cpu(midnight - 1, 1.0), cpu(midnight, 2.0)],
        ))
        .await
        .unwrap();
    store.close();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".db"))
        .collect();
    files.sort();
    assert_eq!(files, ["2026-01-01.db", "2026-01-02.db"]);
    for (file, ts) in [("2026-01-01.db", midnight - 1), ("2026-01-02.db", midnight)] {
        let conn = rusqlite::Connection::open(dir.path().join(file)).unwrap();
        let got: Vec<(String, String, i64)> = conn
            .prepare("SELECT agent_id, metric_name, timestamp FROM metrics")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            got,
            [("a".to_owned(), "cpu.usage".to_owned(), ts)],
            "{file}"
        );
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "alert_events",
                "batches",
                "chunks",
                "metrics",
                "samples_raw",
                "series"
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn data_and_batch_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let samples = (0..100).map(|i| cpu(T0 + i * 10_000, i as f64)).collect();
        store
            .append(&batch("a", Some("b1"), samples))
            .await
            .unwrap();
        store.compact(T0 + 3 * 3_600_000).await.unwrap();
        store
            .append(&batch("a", Some("b2"), vec![cpu(T0 + 5_000_000, 7.0)]))
            .await
            .unwrap();
    }
    let store = open(dir.path());
    let pts = store
        .series_points(&key("a"), T0, T0 + DAY_MS)
        .await
        .unwrap();
    assert_eq!(pts.len(), 101);
    assert_eq!(
        pts.last(),
        Some(&Point {
            timestamp_ms: T0 + 5_000_000,
            value: 7.0
        })
    );
    let latest = store.latest("a").await.unwrap();
    assert_eq!(
        (latest[0].timestamp_ms, latest[0].value),
        (T0 + 5_000_000, 7.0),
        "latest rebuilt from disk"
    );
    let agents = store.agents().await.unwrap();
    assert_eq!(
        (agents[0].first_seen_ms, agents[0].last_seen_ms),
        (T0, T0 + 5_000_000)
    );
    let again = store
        .append(&batch("a", Some("b1"), vec![cpu(T0, 99.0)]))
        .await
        .unwrap();
    assert_eq!(
        again,
        AppendOutcome::Duplicate,
        "batch ids survive a restart"
    );
}

async fn all_points(store: &SqliteStore) -> Vec<Point> {
    store
        .series_points(&key("a"), T0, T0 + DAY_MS)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_packs_windows_and_late_samples_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // 3 hours at 10 s: windows [0, 2h) and [2h, 4h).
    let samples: Vec<Sample> = (0..1080)
        .map(|i| cpu(T0 + i * 10_000, (i % 100) as f64 / 4.0))
        .collect();
    store
        .append(&batch("a", None, samples.clone()))
        .await
        .unwrap();
    // At T0 + 2h05m only the first window is complete (lag 5 min).
    let r = store
        .compact(T0 + 2 * 3_600_000 + 5 * 60_000)
        .await
        .unwrap();
    assert_eq!((r.chunks_written, r.samples_compacted), (1, 720));
    let expected: Vec<Point> = samples.iter().map(Sample::point).collect();
    assert_eq!(
        all_points(&store).await,
        expected,
        "chunk + raw merge to the same series"
    );
    // A late sample inside the compacted window, one replacing a value, and a new one.
    store
        .append(&batch(
            "a",
            None,
            vec![cpu(T0 + 5, 0.5), cpu(T0 + 10_000, 42.0)],
        ))
        .await
        .unwrap();
    let mut expected2 = expected.clone();
    expected2.insert(
        1,
        Point {
            timestamp_ms: T0 + 5,
            value: 0.5,
        },
    );
    expected2[2].value = 42.0;
    assert_eq!(
        all_points(&store).await,
        expected2,
        "late samples visible before the next compaction"
    );
    let r = store.compact(T0 + DAY_MS).await.unwrap();
    assert_eq!(
        r.chunks_written, 2,
        "the old window is rewritten with the late samples, the second packed"
    );
    assert_eq!(all_points(&store).await, expected2, "and after it");
    let conn = rusqlite::Connection::open(dir.path().join("2026-01-01.db")).unwrap();
    let raw: i64 = conn
        .query_row("SELECT count(*) FROM samples_raw", [], |r| r.get(0))
        .unwrap();
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!((raw, chunks), (0, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_newer_and_corrupt_partitions_are_skipped_untouched() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .append(&batch("a", None, vec![cpu(T0, 1.0)]))
            .await
            .unwrap();
        store
            .append(&batch("a", None, vec![cpu(T0 + DAY_MS, 2.0)]))
            .await
            .unwrap();
    }
    // Day 3: a newer schema; day 4: a foreign SQLite file; day 2: overwritten with garbage.
    let newer = partition::path(dir.path(), partition::day_of(T0 + 2 * DAY_MS));
    let c = rusqlite::Connection::open(&newer).unwrap();
    c.execute_batch(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = 99; CREATE TABLE x(y);",
        partition::APPLICATION_ID
    ))
    .unwrap();
    drop(c);
    let foreign = partition::path(dir.path(), partition::day_of(T0 + 3 * DAY_MS));
    let c = rusqlite::Connection::open(&foreign).unwrap();
    c.execute_batch("CREATE TABLE photos(id);").unwrap();
    drop(c);
    let corrupt = partition::path(dir.path(), partition::day_of(T0 + DAY_MS));
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", corrupt.display()));
    }
    std::fs::write(
        &corrupt,
        b"this is not a database, it is a haiku about disks",
    )
    .unwrap();
    let before: Vec<Vec<u8>> = [&newer, &foreign, &corrupt]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let store = open(dir.path());
    let broken = store.broken_partitions().join("\n");
    assert!(
        broken.contains("2026-01-02.db") && broken.contains("corrupt"),
        "{broken}"
    );
    assert!(
        broken.contains("2026-01-03.db") && broken.contains("newer oxmon (schema version 99"),
        "{broken}"
    );
    assert!(
        broken.contains("2026-01-04.db") && broken.contains("not an oxmon partition"),
        "{broken}"
    );
    // The healthy partition keeps working.
    let pts = store
        .series_points(&key("a"), T0 - DAY_MS, T0 + 10 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        pts,
        [Point {
            timestamp_ms: T0,
            value: 1.0
        }]
    );
    store
        .append(&batch("a", None, vec![cpu(T0 + 100, 3.0)]))
        .await
        .unwrap();
    // Writing into a broken day is an error naming the file, and nothing is stored.
    let err = store
        .append(&batch("a", None, vec![cpu(T0 + 2 * DAY_MS + 5, 9.0)]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Storage { .. }) && err.to_string().contains("2026-01-03.db"),
        "{err}"
    );
    store.close();
    let after: Vec<Vec<u8>> = [&newer, &foreign, &corrupt]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(
        before, after,
        "broken partitions are left byte for byte as they were"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_partition_refuses_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        max_page_count: Some(40),
        ..options(&ManualClock::new(T0))
    };
    let store = SqliteStore::open(dir.path(), opts).unwrap();
    let mut stored = 0usize;
    let mut refused = None;
    for b in 0..200 {
        let samples: Vec<Sample> = (0..200)
            .map(|i| {
                Sample::new(
                    format!("m{b}"),
                    Labels::new().with("i", i.to_string()),
                    T0 + i,
                    1.0,
                )
            })
            .collect();
        match store
            .append(&batch("a", Some(&format!("b{b}")), samples))
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => {
                refused = Some((b, e));
                break;
            }
        }
    }
    let (b, err) = refused.expect("the quota must be reached");
    assert!(
        matches!(err, Error::Unavailable { .. }),
        "a full disk is retryable: {err}"
    );
    assert!(err.to_string().contains("full"), "{err}");
    // The refused batch left nothing behind; the stored ones are intact.
    let refused_metric = store
        .query_range(&RangeQuery {
            agent_id: "a".into(),
            metric: format!("m{b}"),
            labels: None,
            from_ms: T0,
            to_ms: T0 + 1000,
        })
        .await
        .unwrap();
    assert!(refused_metric.is_empty());
    let ok = store
        .query_range(&RangeQuery {
            agent_id: "a".into(),
            metric: "m0".into(),
            labels: None,
            from_ms: T0,
            to_ms: T0 + 1000,
        })
        .await
        .unwrap();
    assert_eq!(ok.len(), 200);
    assert!(stored > 0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_directory_is_unavailable_not_acknowledged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_ok() {
        // Running as root: permissions do not apply; nothing to test here.
        return;
    }
    let store = SqliteStore::open(&ro, options(&ManualClock::new(T0))).unwrap();
    let err = store
        .append(&batch("a", None, vec![cpu(T0, 1.0)]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_whole_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 10 * DAY_MS);
    {
        let store = SqliteStore::open(dir.path(), options(&clock)).unwrap();
        for d in 0..10 {
            store
                .append(&batch("a", None, vec![cpu(T0 + d * DAY_MS + 1, d as f64)]))
                .await
                .unwrap();
        }
    }
    // Reopen with 7 days of retention at T0 + 10 days: days 0..=2 are entirely older.
    let opts = SqliteOptions {
        retention_days: Some(7),
        ..options(&clock)
    };
    let store = SqliteStore::open(dir.path(), opts).unwrap();
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".db")
        })
        .count();
    assert_eq!(files, 7);
    let pts = store
        .series_points(&key("a"), T0, T0 + 20 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(pts.first().map(|p| p.value), Some(3.0));
    let agents = store.agents().await.unwrap();
    assert_eq!(
        agents[0].first_seen_ms,
        T0 + 3 * DAY_MS + 1,
        "first seen follows retention"
    );
}

mod model {
    //! The SQLite store against the in-memory reference model.

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::MemoryStore;

    #[derive(Debug, Clone)]
    enum Op {
        /// (series index, minute offset, value) samples; with a fresh batch id or none.
        Append(Vec<(u8, i64, i32)>, bool),
        /// Re-send the n-th earlier batch (modulo their count), as an agent does.
        Resend(usize),
        /// Compact as if now were this many minutes after T0.
        Compact(i64),
        /// Query a series (or all, with None) over a minute range.
        Query(Option<u8>, i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let sample = (0u8..3, 0i64..(3 * 24 * 60), -1000i32..1000);
        prop_oneof![
            4 => (prop::collection::vec(sample, 1..40), any::<bool>()).prop_map(|(s, b)| Op::Append(s, b)),
            1 => any::<usize>().prop_map(Op::Resend),
            1 => (0i64..(4 * 24 * 60)).prop_map(Op::Compact),
            2 => (prop::option::of(0u8..3), 0i64..(3 * 24 * 60), 0i64..(3 * 24 * 60)).prop_map(|(s, a, b)| Op::Query(s, a.min(b), a.max(b))),
        ]
    }

    fn labels(i: u8) -> Labels {
        Labels::new().with("mount", format!("/m{i}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any interleaving of appends (late, duplicate, across midnight),
        /// compactions and queries gives the reference model's answers.
        #[test]
        fn sqlite_equals_the_reference_model(ops in prop::collection::vec(op(), 1..40)) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let opts = SqliteOptions { compaction_lag_ms: 60_000, ..options(&ManualClock::new(T0)) };
                let sqlite = SqliteStore::open(dir.path(), opts).unwrap();
                let model = MemoryStore::new();
                let mut sent: Vec<MetricBatch> = Vec::new();
                for op in ops {
                    match op {
                        Op::Resend(n) if !sent.is_empty() => {
                            let b = sent[n % sent.len()].clone();
                            prop_assert_eq!(sqlite.append(&b).await.unwrap(), model.append(&b).await.unwrap());
                        }
                        Op::Resend(_) => {}
                        Op::Append(samples, id) => {
                            let samples: Vec<Sample> = samples
                                .into_iter()
                                .map(|(s, m, v)| Sample::new("disk.used_percent", labels(s), T0 + m * 60_000 + i64::from(s), f64::from(v) / 8.0))
                                .collect();
                            let id = id.then(|| format!("b{}", sent.len()));
                            let b = batch("a", id.as_deref(), samples);
                            let got = sqlite.append(&b).await.unwrap();
                            let want = model.append(&b).await.unwrap();
                            prop_assert_eq!(got, want);
                            sent.push(b);
                        }
                        Op::Compact(min) => {
                            sqlite.compact(T0 + min * 60_000).await.unwrap();
                        }
                        Op::Query(s, from, to) => {
                            let q = RangeQuery {
                                agent_id: "a".into(),
                                metric: "disk.used_percent".into(),
                                labels: s.map(labels),
                                from_ms: T0 + from * 60_000,
                                to_ms: T0 + to * 60_000 + 59_999,
                            };
                            prop_assert_eq!(sqlite.query_range(&q).await.unwrap(), model.query_range(&q).await.unwrap());
                        }
                    }
                }
                prop_assert_eq!(sqlite.latest("a").await.unwrap(), model.latest("a").await.unwrap());
                prop_assert_eq!(sqlite.agents().await.unwrap(), model.agents().await.unwrap());
                Ok(())
            })?;
        }
    }

    /// Sample i's time: a minute apart, every 7th one (from 100 on) 100 minutes late.
    fn late_ts(i: i64) -> i64 {
        if i >= 100 && i % 7 == 3 {
            T0 + (i - 100) * 60_000 + 30_000
        } else {
            T0 + i * 60_000
        }
    }

    /// Compaction running while ingest and queries run: a query never sees a
    /// sample twice or out of order, and always sees every sample acknowledged
    /// before it started.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_racing_ingest_and_queries() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteOptions {
            chunk_span_ms: 3_600_000,
            compaction_lag_ms: 0,
            ..options(&ManualClock::new(T0))
        };
        let store = Arc::new(SqliteStore::open(dir.path(), opts).unwrap());
        let acked = Arc::new(AtomicI64::new(-1));
        let done = Arc::new(AtomicBool::new(false));
        let total = 3000i64;
        let writer = {
            let (store, acked) = (store.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0..total {
                    // 1 minute apart, so hour windows complete as we go; every 7th sample is late.
                    let ts = late_ts(i);
                    store
                        .append(&batch("a", Some(&format!("b{i}")), vec![cpu(ts, i as f64)]))
                        .await
                        .unwrap();
                    acked.store(i, Ordering::SeqCst);
                }
            })
        };
        let compactor = {
            let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let upto = acked.load(Ordering::SeqCst).max(0);
                    store.compact(T0 + upto * 60_000).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut checks = 0;
        while acked.load(Ordering::SeqCst) < total - 1 {
            let before = acked.load(Ordering::SeqCst);
            let pts = store
                .series_points(&key("a"), T0, T0 + 10 * DAY_MS)
                .await
                .unwrap();
            assert!(
                pts.windows(2)
                    .all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
                "sorted, no duplicates"
            );
            let seen: BTreeMap<i64, f64> = pts.iter().map(|p| (p.timestamp_ms, p.value)).collect();
            for i in 0..=before {
                assert_eq!(
                    seen.get(&late_ts(i)),
                    Some(&(i as f64)),
                    "acknowledged sample {i} missing"
                );
            }
            checks += 1;
        }
        writer.await.unwrap();
        done.store(true, Ordering::SeqCst);
        compactor.await.unwrap();
        let pts = store
            .series_points(&key("a"), T0, T0 + 10 * DAY_MS)
            .await
            .unwrap();
        assert_eq!(pts.len() as i64, total);
        assert!(checks > 3, "the reader ran during ingest ({checks} checks)");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unopenable_partition_file_is_unavailable_not_acknowledged() {
    // Works as root too: a directory where the day's file should be cannot be
    // opened as a database by anyone.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    std::fs::create_dir(partition::path(dir.path(), partition::day_of(T0 + DAY_MS))).unwrap();
    let err = store
        .append(&batch("a", Some("b1"), vec![cpu(T0 + DAY_MS, 1.0)]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains("2026-01-02.db"),
        "the error names the file: {err}"
    );
    // Other days keep working, and the refused batch id was not consumed.
    store
        .append(&batch("a", None, vec![cpu(T0, 1.0)]))
        .await
        .unwrap();
    std::fs::remove_dir(partition::path(dir.path(), partition::day_of(T0 + DAY_MS))).unwrap();
    let again = store
        .append(&batch("a", Some("b1"), vec![cpu(T0 + DAY_MS, 1.0)]))
        .await
        .unwrap();
    assert_eq!(again, AppendOutcome::Stored { samples: 1 });
}

/// A partition written by schema version 1 (chunks in a WITHOUT ROWID
/// table) is read, written and compacted as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_partition_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn =
            rusqlite::Connection::open(partition::path(dir.path(), partition::day_of(T0))).unwrap();
        let old_chunks = "CREATE TABLE chunks (
    series_id INTEGER NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) WITHOUT ROWID;";
        let start = partition::SCHEMA.find("CREATE TABLE chunks").unwrap();
        let end = start + partition::SCHEMA[start..].find(");").unwrap() + 2;
        let v1 = format!(
            "{}{old_chunks}{}",
            &partition::SCHEMA[..start],
            &partition::SCHEMA[end..]
        );
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; {v1} PRAGMA application_id = {}; PRAGMA user_version = 1;",
            partition::APPLICATION_ID
        ))
        .unwrap();
    }
    let store = open(dir.path());
    assert!(
        store.broken_partitions().is_empty(),
        "{:?}",
        store.broken_partitions()
    );
    let samples: Vec<Sample> = (0..1080).map(|i| cpu(T0 + i * 10_000, i as f64)).collect();
    store
        .append(&batch("a", None, samples.clone()))
        .await
        .unwrap();
    store.compact(T0 + DAY_MS).await.unwrap();
    // A late sample merged into the compacted window (INSERT OR REPLACE on the old key).
    store
        .append(&batch("a", None, vec![cpu(T0 + 5, 0.5)]))
        .await
        .unwrap();
    store.compact(T0 + DAY_MS).await.unwrap();
    let mut expected: Vec<Point> = samples.iter().map(Sample::point).collect();
    expected.insert(
        1,
        Point {
            timestamp_ms: T0 + 5,
            value: 0.5,
        },
    );
    assert_eq!(all_points(&store).await, expected);
}

/// Batch ids are forgotten a day after their day ends (by the maintenance,
/// here called directly); a batch re-sent after that is stored again and
/// changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn batch_ids_are_forgotten_a_day_after_their_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = batch("a", Some("b-1"), vec![cpu(T0, 1.0)]);
    assert_eq!(
        store.append(&first).await.unwrap(),
        AppendOutcome::Stored { samples: 1 }
    );
    let day_end = (T0 / DAY_MS + 1) * DAY_MS;
    assert_eq!(
        store.expire_batch_ids(day_end + DAY_MS - 1).await.unwrap(),
        0
    );
    assert_eq!(
        store.append(&first).await.unwrap(),
        AppendOutcome::Duplicate
    );
    assert_eq!(store.expire_batch_ids(day_end + DAY_MS).await.unwrap(), 1);
    assert_eq!(
        store.append(&first).await.unwrap(),
        AppendOutcome::Stored { samples: 1 },
        "stored again"
    );
    assert_eq!(
        store.series_points(&key("a"), T0, T0).await.unwrap(),
        vec![Point {
            timestamp_ms: T0,
            value: 1.0
        }],
        "one value per timestamp: nothing doubled"
    );
}
