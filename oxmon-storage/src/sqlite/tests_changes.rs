//! The change log on real files: what remote write reads.

use std::sync::Arc;

use oxmon_core::testing::T0;
use oxmon_core::{
    AppendOutcome, ChangeCursor, DAY_MS, Error, Labels, ManualClock, MetricBatch, MetricStore,
    Sample,
};

use super::{SqliteOptions, SqliteStore, partition};

fn open_with(dir: &std::path::Path, consumers: &[&str]) -> SqliteStore {
    open_at(dir, consumers, &ManualClock::new(T0), 0)
}

fn open_at(
    dir: &std::path::Path,
    consumers: &[&str],
    clock: &ManualClock,
    keep_ms: i64,
) -> SqliteStore {
    SqliteStore::open(
        dir,
        SqliteOptions {
            clock: Arc::new(clock.clone()),
            change_log_keep_ms: keep_ms,
            synchronous_full: false,
            change_log_consumers: consumers.iter().map(|c| (*c).to_owned()).collect(),
            ..SqliteOptions::default()
        },
    )
    .expect("open store")
}

/// A batch whose samples carry its id as the label `batch` (the log keeps
/// samples, not batch ids).
fn batch(id: &str, times: &[i64]) -> MetricBatch {
    let samples = times
        .iter()
        .map(|&t| Sample::new("cpu.usage", Labels::new().with("batch", id), t, 1.0))
        .collect();
    MetricBatch::new("web-1", samples).with_batch_id(id)
}

fn id_of(b: &MetricBatch) -> String {
    b.samples[0]
        .labels
        .get("batch")
        .unwrap_or_default()
        .to_owned()
}

/// The ids of the batches read after `after`, and the cursor past them.
async fn ids(store: &SqliteStore, after: &ChangeCursor) -> (Vec<String>, ChangeCursor) {
    let read = store.read_changes(after, 1_000_000).await.expect("read");
    let ids = read.changes.iter().map(|c| id_of(&c.batch)).collect();
    (ids, read.next)
}

fn log_rows(dir: &std::path::Path, day_ms: i64) -> i64 {
    let conn = rusqlite::Connection::open(partition::path(dir, partition::day_of(day_ms))).unwrap();
    conn.query_row("SELECT count(*) FROM change_log", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stored_batch_is_read_once_in_order_and_duplicates_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(dir.path(), &["vm"]);
    let start = store.change_cursor("vm").await.unwrap();
    for id in ["b1", "b2", "b1", "b3"] {
        store.append(&batch(id, &[T0, T0 + 10_000])).await.unwrap();
    }
    // A batch across midnight: its part of each day, with that day.
    let midnight = (T0 / DAY_MS + 1) * DAY_MS;
    let across = batch("b4", &[midnight - 1_000, midnight + 1_000]);
    store.append(&across).await.unwrap();
    let read = store.read_changes(&start, 1_000_000).await.unwrap();
    let got: Vec<String> = read.changes.iter().map(|c| id_of(&c.batch)).collect();
    assert_eq!(got, ["b1", "b2", "b3", "b4", "b4"]);
    let parts: Vec<&Sample> = read.changes[3..]
        .iter()
        .flat_map(|c| &c.batch.samples)
        .collect();
    assert_eq!(
        parts.into_iter().cloned().collect::<Vec<_>>(),
        across.samples,
        "every sample comes back as stored"
    );
    assert_eq!(read.changes[0].batch.agent_id, "web-1");
    assert_eq!(read.changes[0].batch.samples.len(), 2);
    assert_eq!(
        read.changes[0].stored_at_ms, T0,
        "stamped by the store's clock"
    );
    let (again, _) = ids(&store, &read.next).await;
    assert!(again.is_empty(), "nothing after the end: {again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn positions_survive_a_restart_and_what_all_consumers_passed_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_with(dir.path(), &["a", "b"]);
        let start = store.change_cursor("a").await.unwrap();
        for id in ["1", "2", "3"] {
            store.append(&batch(id, &[T0])).await.unwrap();
        }
        let first_two = store.read_changes(&start, 2).await.unwrap();
        assert_eq!(first_two.changes.len(), 2, "about max_samples samples");
        store.commit_changes("a", &first_two.next).await.unwrap();
        let (all, end) = ids(&store, &start).await;
        assert_eq!(all, ["1", "2", "3"]);
        store.commit_changes("b", &first_two.next).await.unwrap();
        assert_eq!(log_rows(dir.path(), T0), 1, "both passed 1 and 2");
        store.commit_changes("b", &end).await.unwrap();
        assert_eq!(log_rows(dir.path(), T0), 1, "a has not passed 3");
        let back = store.commit_changes("b", &first_two.next).await;
        assert!(back.is_ok(), "an older position is no error");
        store.close();
    }
    let store = open_with(dir.path(), &["a", "b"]);
    let a = store.change_cursor("a").await.unwrap();
    let (rest, _) = ids(&store, &a).await;
    assert_eq!(rest, ["3"], "a resumes after what it committed");
    let b = store.change_cursor("b").await.unwrap();
    assert!(ids(&store, &b).await.0.is_empty(), "b never moves back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_consumer_starts_at_the_end_and_an_old_one_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_with(dir.path(), &["old"]);
        store.append(&batch("1", &[T0])).await.unwrap();
        store.close();
    }
    let store = open_with(dir.path(), &["new"]);
    let start = store.change_cursor("new").await.unwrap();
    store.append(&batch("2", &[T0])).await.unwrap();
    assert_eq!(ids(&store, &start).await.0, ["2"]);
    let (_, end) = ids(&store, &start).await;
    store.commit_changes("new", &end).await.unwrap();
    assert_eq!(
        log_rows(dir.path(), T0),
        0,
        "the removed consumer holds nothing back"
    );
    let refused = store.change_cursor("old").await.unwrap_err();
    assert!(
        matches!(refused, Error::InvalidInput(ref m) if m.contains("\"old\"")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_batch_for_an_older_day_is_read_after_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(dir.path(), &["vm"]);
    let start = store.change_cursor("vm").await.unwrap();
    store.append(&batch("today", &[T0])).await.unwrap();
    let (first, cursor) = ids(&store, &start).await;
    assert_eq!(first, ["today"]);
    // Store-and-forward: yesterday's batch arrives now, in a new partition.
    store
        .append(&batch("yesterday", &[T0 - DAY_MS]))
        .await
        .unwrap();
    store.append(&batch("today-2", &[T0 + 1])).await.unwrap();
    let (late, _) = ids(&store, &cursor).await;
    assert_eq!(late, ["yesterday", "today-2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sequence_numbers_never_repeat_after_the_log_was_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(dir.path(), &["vm"]);
    let start = store.change_cursor("vm").await.unwrap();
    store.append(&batch("1", &[T0])).await.unwrap();
    let (_, end) = ids(&store, &start).await;
    store.commit_changes("vm", &end).await.unwrap();
    assert_eq!(log_rows(dir.path(), T0), 0);
    store.close();
    let store = open_with(dir.path(), &["vm"]);
    let at = store.change_cursor("vm").await.unwrap();
    assert_eq!(at, end);
    assert_eq!(
        store.append(&batch("2", &[T0])).await.unwrap(),
        AppendOutcome::Stored { samples: 1 }
    );
    assert_eq!(
        ids(&store, &at).await.0,
        ["2"],
        "not hidden behind the old position"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_without_consumers_keeps_no_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(dir.path(), &[]);
    store.append(&batch("1", &[T0])).await.unwrap();
    for e in [
        store.change_cursor("vm").await.map(drop).unwrap_err(),
        store
            .read_changes(&ChangeCursor::default(), 10)
            .await
            .map(drop)
            .unwrap_err(),
        store
            .commit_changes("vm", &ChangeCursor::default())
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }
    let conn =
        rusqlite::Connection::open(partition::path(dir.path(), partition::day_of(T0))).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'change_log'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "no table, no cost");
}

#[tokio::test(flavor = "multi_thread")]
async fn rewinding_goes_back_by_storing_time_within_what_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open_at(dir.path(), &["vm"], &clock, 30_000);
    let start = store.change_cursor("vm").await.unwrap();
    for (id, at) in [("1", 0), ("2", 5_000), ("3", 20_000)] {
        clock.set_ms(T0 + at);
        store.append(&batch(id, &[T0])).await.unwrap();
    }
    let (_, end) = ids(&store, &start).await;
    store.commit_changes("vm", &end).await.unwrap();
    assert_eq!(
        log_rows(dir.path(), T0),
        3,
        "kept: stored within the last 30 s"
    );
    for (by, expect) in [
        (0, vec!["3"]),
        (10_000, vec!["3"]),
        (16_000, vec!["2", "3"]),
        (60_000, vec!["1", "2", "3"]),
    ] {
        let back = store.rewind_changes(&end, by).await.unwrap();
        assert_eq!(ids(&store, &back).await.0, expect, "rewound by {by} ms");
    }
    let middle = store.read_changes(&start, 1).await.unwrap().next;
    let back = store.rewind_changes(&middle, 60_000).await.unwrap();
    assert_eq!(
        ids(&store, &back).await.0,
        ["1", "2", "3"],
        "from an earlier position"
    );
    // Past the window, a moving commit removes what every consumer passed.
    clock.set_ms(T0 + 60_000);
    store.append(&batch("4", &[T0])).await.unwrap();
    let (_, end) = ids(&store, &end).await;
    store.commit_changes("vm", &end).await.unwrap();
    assert_eq!(
        log_rows(dir.path(), T0),
        1,
        "only the newest is within 30 s"
    );
    let back = store.rewind_changes(&end, 60_000).await.unwrap();
    assert_eq!(
        ids(&store, &back).await.0,
        ["4"],
        "as far back as the log holds"
    );
}
