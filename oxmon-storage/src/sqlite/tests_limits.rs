//! The SQLite store's limits and series index, on real files: series caps,
//! the bounded writer queue, large agents, the index rebuilt at start, and
//! owner-only file modes.

use std::sync::Arc;

use oxmon_core::testing::T0;
use oxmon_core::{
    AppendOutcome, DAY_MS, Error, Labels, LatestQuery, ManualClock, MetricBatch, MetricStore,
    Sample,
};

use super::{SqliteOptions, SqliteStore};
use crate::MemoryStore;

const HOUR: i64 = 3_600_000;

fn options() -> SqliteOptions {
    SqliteOptions {
        clock: Arc::new(ManualClock::new(T0)),
        synchronous_full: false,
        ..SqliteOptions::default()
    }
}

fn batch(agent: &str, samples: Vec<Sample>) -> MetricBatch {
    MetricBatch {
        agent_id: agent.into(),
        batch_id: None,
        timestamp_ms: samples.iter().map(|s| s.timestamp_ms).max().unwrap_or(T0),
        samples,
    }
}

/// Series `m{i}` of an agent at one time.
fn series(ids: impl IntoIterator<Item = usize>, ts: i64) -> Vec<Sample> {
    ids.into_iter()
        .map(|i| Sample::new(format!("m{i}"), Labels::new(), ts, i as f64))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn series_caps_refuse_whole_batches_and_let_existing_series_flow() {
    let dir = tempfile::tempdir().unwrap();
    let capped = || SqliteOptions {
        max_series_per_agent: Some(5),
        max_series: Some(8),
        ..options()
    };
    let store = SqliteStore::open(dir.path(), capped()).unwrap();
    store.append(&batch("a", series(0..4, T0))).await.unwrap();
    assert_eq!(
        (store.series_count(), store.agent_series_count("a")),
        (4, 4)
    );

    // Two new series past the per-agent cap of 5: refused, nothing stored,
    // not even the sample of the existing series.
    let mut over = series(0..1, T0 + 1000);
    over.extend(series(4..6, T0 + 1000));
    let err = store.append(&batch("a", over)).await.unwrap_err();
    assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    for part in ["\"a\"", "2 new series", "5 series per agent", "4 exist"] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    assert_eq!(store.series_refusals(), 1);
    assert_eq!(store.series_count(), 4);
    let latest = store.latest("a").await.unwrap();
    assert_eq!(latest.len(), 4);
    assert!(
        latest.iter().all(|s| s.timestamp_ms == T0),
        "nothing written"
    );

    // Existing series keep flowing; one more new series fits exactly.
    store
        .append(&batch("a", series(0..4, T0 + 2000)))
        .await
        .unwrap();
    store
        .append(&batch("a", series(4..5, T0 + 2000)))
        .await
        .unwrap();
    assert_eq!(store.agent_series_count("a"), 5);

    // Another agent: a series repeated in its batch counts once.
    let mut b = series(0..3, T0);
    b.extend(series(0..3, T0 + 1000));
    store.append(&batch("b", b)).await.unwrap();
    assert_eq!(store.series_count(), 8);
    // The store-wide cap of 8 is reached.
    let err = store
        .append(&batch("c", series(0..1, T0)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
    assert!(err.to_string().contains("store's limit of 8"), "{err}");
    assert_eq!(store.series_refusals(), 2);
    assert!(store.latest("c").await.unwrap().is_empty());
    assert!(
        store
            .agents()
            .await
            .unwrap()
            .iter()
            .all(|a| a.agent_id != "c")
    );
    store.close();

    // The counts are rebuilt at start; the caps still hold.
    let store = SqliteStore::open(dir.path(), capped()).unwrap();
    assert_eq!(store.series_count(), 8);
    assert_eq!(store.agent_series_count("a"), 5);
    assert!(matches!(
        store.append(&batch("a", series(9..10, T0))).await,
        Err(Error::ResourceExhausted(_))
    ));
    store
        .append(&batch("b", series(0..3, T0 + 5000)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_batches_cannot_slip_past_a_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            dir.path(),
            SqliteOptions {
                max_series_per_agent: Some(10),
                // Group the concurrent batches into few commits.
                commit_window: std::time::Duration::from_millis(20),
                ..options()
            },
        )
        .unwrap(),
    );
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(&batch("a", series([i], T0))).await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => stored += 1,
            Err(Error::ResourceExhausted(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(stored, 10);
    assert_eq!(store.agent_series_count("a"), 10);
    assert_eq!(store.latest("a").await.unwrap().len(), 10);
    assert_eq!(store.series_refusals(), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_new_series_in_descending_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let store = SqliteStore::open(
        dir.path(),
        SqliteOptions {
            max_series_per_agent: Some(n),
            ..options()
        },
    )
    .unwrap();
    let label = |i: usize| Labels::new().with("id", format!("{i:06}"));
    let samples: Vec<Sample> = (0..n)
        .rev()
        .map(|i| {
            let metric = if i % 2 == 0 {
                "attack.even"
            } else {
                "attack.odd"
            };
            Sample::new(metric, label(i), T0 + i as i64, i as f64)
        })
        .collect();
    assert_eq!(
        store.append(&batch("a", samples)).await.unwrap(),
        AppendOutcome::Stored { samples: n }
    );
    assert_eq!(
        (store.series_count(), store.agent_series_count("a")),
        (n, n)
    );
    let latest = store.latest("a").await.unwrap();
    assert_eq!(latest.len(), n);
    assert!(
        latest
            .windows(2)
            .all(|w| (&w[0].metric, &w[0].labels) < (&w[1].metric, &w[1].labels)),
        "ordered by metric then labels"
    );
    let page = store
        .latest_page(
            "a",
            &LatestQuery {
                metric: Some("attack.odd".into()),
                limit: 1000,
                offset: 49_500,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 50_000);
    assert_eq!(page.samples.len(), 500);
    assert_eq!(page.samples[0].labels, label(99_001));
    assert_eq!(page.samples[0].value, 99_001.0);
    let first = store
        .latest_page("a", &LatestQuery::default())
        .await
        .unwrap();
    assert_eq!((first.samples.len(), first.total), (1000, n as u64));
    assert_eq!(first.samples[..], latest[..1000]);
    // The cap is exactly reached: one more new series is refused.
    assert!(matches!(
        store.append(&batch("a", series(0..1, T0))).await,
        Err(Error::ResourceExhausted(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_writer_queue_is_unavailable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            dir.path(),
            SqliteOptions {
                max_queued_batches: 2,
                ..options()
            },
        )
        .unwrap(),
    );
    // The writer cannot finish an append while another thread holds the
    // partition table's write lock.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let shared = store.shared.clone();
    let holder = std::thread::spawn(move || {
        let guard = shared.partitions.write().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(guard);
    });
    held_rx.recv().unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(&batch("a", series([i], T0))).await })
        })
        .collect();
    while store.queued_batches() < 2 {
        tokio::task::yield_now().await;
    }
    let err = store
        .append(&batch("a", series([9], T0)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("storage is behind: 2 batches queued"),
        "{err}"
    );
    assert_eq!(store.queue_refusals(), 1);
    // Other commands are not limited: a compaction waits in the queue.
    let compact = {
        let store = store.clone();
        tokio::spawn(async move { store.compact(T0).await })
    };
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    for t in waiting {
        t.await.unwrap().unwrap();
    }
    compact.await.unwrap().unwrap();
    assert_eq!(
        store.queued_batches(),
        0,
        "places are freed before the answer"
    );
    store.append(&batch("a", series([9], T0))).await.unwrap();
    assert_eq!(store.latest("a").await.unwrap().len(), 3);
}

#[test]
fn a_queue_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(
        dir.path(),
        SqliteOptions {
            max_queued_batches: 0,
            ..options()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_queued_batches"), "{err}");
}

/// Appends the same batches to both stores.
async fn both(sqlite: &SqliteStore, memory: &MemoryStore, b: MetricBatch) {
    sqlite.append(&b).await.unwrap();
    memory.append(&b).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_rebuilt_at_start_equals_the_one_built_by_appends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path(), options()).unwrap();
    let memory = MemoryStore::new();
    // a: days 0-2, with a metric of 100 label sets; b: day 1 only, points
    // off the window starts; c: days 0 and 2; d: one point.
    let days: [(&str, &[i64], i64); 3] = [
        ("a", &[0, 1, 2], 0),
        ("b", &[1], 7_000),
        ("c", &[0, 2], 3_000),
    ];
    for (agent, agent_days, offset) in days {
        for &day in agent_days {
            for k in 0..30 {
                let ts = T0 + day * DAY_MS + k * 600_000 + offset;
                let mut samples = vec![Sample::new("cpu", Labels::new(), ts, k as f64)];
                for mount in ["/", "/data", "/var"] {
                    let labels = Labels::new().with("mount", mount);
                    samples.push(Sample::new("disk", labels, ts, (day * 100 + k) as f64));
                }
                if agent == "a" {
                    for core in (0..100).rev() {
                        let labels = Labels::new().with("core", format!("{core:03}"));
                        samples.push(Sample::new("core", labels, ts, core as f64 + 0.5));
                    }
                }
                both(&sqlite, &memory, batch(agent, samples)).await;
            }
        }
    }
    let d = vec![Sample::new("up", Labels::new(), T0 + HOUR + 3_000, 1.0)];
    both(&sqlite, &memory, batch("d", d)).await;
    // Days 0 and 1 and the first window of day 2 become chunks.
    let report = sqlite.compact(T0 + 2 * DAY_MS + 3 * HOUR).await.unwrap();
    assert!(report.chunks_written > 0);
    // Late samples: raw rows in compacted days, older than the chunks' ends.
    for (agent, ts) in [("a", T0 + DAY_MS + 30_000), ("b", T0 + DAY_MS + 60_000)] {
        let late = vec![Sample::new("cpu", Labels::new(), ts, -1.0)];
        both(&sqlite, &memory, batch(agent, late)).await;
    }

    let agents = ["a", "b", "c", "d", "nobody"];
    let snapshot = |store: &SqliteStore| {
        (
            store.series_count(),
            agents.map(|a| store.agent_series_count(a)),
        )
    };
    let expected_latest = {
        let mut v = Vec::new();
        for a in agents {
            v.push(memory.latest(a).await.unwrap());
        }
        v
    };
    let expected_agents = memory.agents().await.unwrap();
    let mut built = Vec::new();
    for a in agents {
        built.push(sqlite.latest(a).await.unwrap());
    }
    assert_eq!(built, expected_latest, "built by appends");
    assert_eq!(sqlite.agents().await.unwrap(), expected_agents);
    let counts = snapshot(&sqlite);
    assert_eq!(counts, (104 + 4 + 4 + 1, [104, 4, 4, 1, 0]));
    sqlite.close();

    let reopened = SqliteStore::open(dir.path(), options()).unwrap();
    let mut rebuilt = Vec::new();
    for a in agents {
        rebuilt.push(reopened.latest(a).await.unwrap());
    }
    assert_eq!(rebuilt, expected_latest, "rebuilt at start");
    assert_eq!(reopened.agents().await.unwrap(), expected_agents);
    assert_eq!(snapshot(&reopened), counts);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_and_partitions_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    // The test process's umask is typically 022: without explicit modes
    // the directory would be 0755 and the files 0644.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = SqliteStore::open(&dir, options()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    store.append(&batch("a", series(0..3, T0))).await.unwrap();
    let db = dir.join("2026-01-01.db");
    let files: Vec<std::path::PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| dir.join(format!("2026-01-01.db{s}")))
        .filter(|p| p.exists())
        .collect();
    assert!(files.len() >= 2, "the database and its WAL: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    store.close();

    // Files and a directory left open by an older version are tightened at open.
    set(&dir, 0o755);
    set(&db, 0o644);
    let store = SqliteStore::open(&dir, options()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(store.latest("a").await.unwrap().len(), 3);
}
