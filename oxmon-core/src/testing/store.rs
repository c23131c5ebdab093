//! Conformance suite for [`MetricStore`] implementations.
//!
//! Every function expects a store that holds nothing of the agents it uses
//! (each check uses its own agent ids, so they can share one store);
//! [`run_all`] runs them all in an order that keeps them independent.
//!
//! One concern (the `MetricStore` contract, one public check a guarantee) kept
//! in one file: a backend runs it whole, and the checks share their fixtures.

use crate::alert::AlertEvent;
use crate::error::Error;
use crate::store::{
    AlertQuery, AppendOutcome, LatestQuery, MetricStore, MetricStoreExt, RangeQuery,
};
use crate::testing::{T0, sample_event};
use crate::types::{Labels, MetricBatch, Point, Sample, SeriesKey, Severity};
use crate::{DAY_MS, validate_batch};

fn batch(agent: &str, batch_id: Option<&str>, samples: Vec<Sample>) -> MetricBatch {
    MetricBatch {
        agent_id: agent.to_owned(),
        batch_id: batch_id.map(str::to_owned),
        timestamp_ms: T0,
        samples,
    }
}

fn s(metric: &str, labels: &Labels, ts: i64, value: f64) -> Sample {
    Sample::new(metric, labels.clone(), ts, value)
}

fn range(
    agent: &str,
    metric: &str,
    labels: Option<&Labels>,
    from_ms: i64,
    to_ms: i64,
) -> RangeQuery {
    RangeQuery {
        agent_id: agent.to_owned(),
        metric: metric.to_owned(),
        labels: labels.cloned(),
        from_ms,
        to_ms,
    }
}

fn pts(points: &[(i64, f64)]) -> Vec<Point> {
    points
        .iter()
        .map(|&(timestamp_ms, value)| Point {
            timestamp_ms,
            value,
        })
        .collect()
}

/// Runs every check of this suite against one store.
pub async fn run_all(store: &dyn MetricStore) {
    round_trip_keeps_every_series_apart(store).await;
    range_bounds_are_inclusive(store).await;
    values_round_trip_exactly(store).await;
    out_of_order_samples_come_back_sorted(store).await;
    same_timestamp_replaces(store).await;
    resent_batch_is_stored_once(store).await;
    invalid_batches_store_nothing(store).await;
    queries_span_midnight(store).await;
    latest_returns_newest_per_series(store).await;
    latest_pages_filter_and_count(store).await;
    agents_report_first_and_last_seen(store).await;
    alert_history_filters_and_pages(store).await;
    retention_keeps_recent_and_removes_old(store).await;
}

/// Several series of one metric (two mounts) stay separate and come back
/// ordered by labels, points oldest first.
pub async fn round_trip_keeps_every_series_apart(store: &dyn MetricStore) {
    let a = "conf-roundtrip";
    let root = Labels::new().with("mount", "/");
    let data = Labels::new().with("mount", "/data");
    let none = Labels::new();
    let samples = vec![
        s("disk.used_percent", &root, T0, 40.0),
        s("disk.used_percent", &data, T0, 90.0),
        s("cpu.usage", &none, T0, 5.0),
        s("disk.used_percent", &root, T0 + 10_000, 41.0),
        s("disk.used_percent", &data, T0 + 10_000, 91.0),
        s("cpu.usage", &none, T0 + 10_000, 6.0),
    ];
    let out = store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    assert_eq!(
        out,
        AppendOutcome::Stored { samples: 6 },
        "append must report the samples stored"
    );

    let all = store
        .query_range(&range(a, "disk.used_percent", None, T0, T0 + 10_000))
        .await
        .expect("query");
    assert_eq!(all.len(), 2, "two mounts are two series: {all:?}");
    assert_eq!(
        all[0].series,
        SeriesKey::new(a, "disk.used_percent", root.clone()),
        "series ordered by labels"
    );
    assert_eq!(all[0].points, pts(&[(T0, 40.0), (T0 + 10_000, 41.0)]));
    assert_eq!(
        all[1].series,
        SeriesKey::new(a, "disk.used_percent", data.clone())
    );
    assert_eq!(all[1].points, pts(&[(T0, 90.0), (T0 + 10_000, 91.0)]));

    let one = store
        .query_range(&range(a, "disk.used_percent", Some(&data), T0, T0 + 10_000))
        .await
        .expect("query");
    assert_eq!(one.len(), 1, "a label selector picks exactly one series");
    assert_eq!(one[0].series.labels, data);

    let cpu = store
        .series_points(&SeriesKey::new(a, "cpu.usage", none), T0, T0 + 10_000)
        .await
        .expect("query");
    assert_eq!(cpu, pts(&[(T0, 5.0), (T0 + 10_000, 6.0)]));

    let missing = store
        .query_range(&range(a, "no.such.metric", None, T0, T0 + 10_000))
        .await
        .expect("query");
    assert!(missing.is_empty(), "unknown metric gives no series");
    let other_labels = Labels::new().with("mount", "/nope");
    let missing = store
        .query_range(&range(
            a,
            "disk.used_percent",
            Some(&other_labels),
            T0,
            T0 + 10_000,
        ))
        .await
        .expect("query");
    assert!(missing.is_empty(), "unknown label set gives no series");
}

/// `from_ms` and `to_ms` are inclusive; series without points in range are left out.
pub async fn range_bounds_are_inclusive(store: &dyn MetricStore) {
    let a = "conf-bounds";
    let l = Labels::new();
    let samples = (0..10)
        .map(|i| s("load.load_1", &l, T0 + i * 1000, i as f64))
        .collect();
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    let got = store
        .series_points(
            &SeriesKey::new(a, "load.load_1", l.clone()),
            T0 + 2000,
            T0 + 5000,
        )
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[
            (T0 + 2000, 2.0),
            (T0 + 3000, 3.0),
            (T0 + 4000, 4.0),
            (T0 + 5000, 5.0)
        ])
    );
    let got = store
        .series_points(
            &SeriesKey::new(a, "load.load_1", l.clone()),
            T0 + 3000,
            T0 + 3000,
        )
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[(T0 + 3000, 3.0)]),
        "from == to selects that instant"
    );
    let none = store
        .query_range(&range(a, "load.load_1", None, T0 + 20_000, T0 + 30_000))
        .await
        .expect("query");
    assert!(
        none.is_empty(),
        "a series without points in the range is left out: {none:?}"
    );
    let err = store
        .query_range(&range(a, "load.load_1", None, T0 + 5000, T0))
        .await;
    assert!(
        matches!(err, Err(Error::InvalidInput(_))),
        "from after to must be InvalidInput, got {err:?}"
    );
}

/// Values come back bit for bit (no lossy compression).
pub async fn values_round_trip_exactly(store: &dyn MetricStore) {
    let a = "conf-exact";
    let l = Labels::new().with("interface", "eth0");
    let values = [
        0.1 + 0.2,
        -0.0,
        1e308,
        -1e-308,
        5e-324,
        123_456_789.123_456_79,
        0.0,
        99.999_999_999,
        -42.5,
        3.0,
    ];
    let samples = values
        .iter()
        .enumerate()
        .map(|(i, &v)| s("network.bytes_recv", &l, T0 + i as i64 * 10_000, v))
        .collect();
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    let got = store
        .series_points(&SeriesKey::new(a, "network.bytes_recv", l), T0, T0 + DAY_MS)
        .await
        .expect("query");
    assert_eq!(got.len(), values.len());
    for (p, v) in got.iter().zip(values) {
        assert_eq!(
            p.value.to_bits(),
            v.to_bits(),
            "value {v:e} must round-trip exactly, got {:e}",
            p.value
        );
    }
}

/// Samples appended out of order (a buffered batch after newer ones) come back sorted.
pub async fn out_of_order_samples_come_back_sorted(store: &dyn MetricStore) {
    let a = "conf-order";
    let l = Labels::new();
    store
        .append(&batch(
            a,
            None,
            vec![
                s("cpu.usage", &l, T0 + 50_000, 5.0),
                s("cpu.usage", &l, T0 + 30_000, 3.0),
            ],
        ))
        .await
        .expect("append");
    store
        .append(&batch(
            a,
            None,
            vec![
                s("cpu.usage", &l, T0 + 10_000, 1.0),
                s("cpu.usage", &l, T0 + 40_000, 4.0),
            ],
        ))
        .await
        .expect("append");
    let got = store
        .series_points(&SeriesKey::new(a, "cpu.usage", l), T0, T0 + 60_000)
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[
            (T0 + 10_000, 1.0),
            (T0 + 30_000, 3.0),
            (T0 + 40_000, 4.0),
            (T0 + 50_000, 5.0)
        ])
    );
}

/// A sample at the series and timestamp of a stored one replaces it: re-sent
/// data never doubles.
pub async fn same_timestamp_replaces(store: &dyn MetricStore) {
    let a = "conf-dup-ts";
    let l = Labels::new();
    store
        .append(&batch(a, None, vec![s("cpu.usage", &l, T0, 1.0)]))
        .await
        .expect("append");
    store
        .append(&batch(a, None, vec![s("cpu.usage", &l, T0, 2.0)]))
        .await
        .expect("append");
    store
        .append(&batch(
            a,
            None,
            vec![
                s("cpu.usage", &l, T0 + 1, 7.0),
                s("cpu.usage", &l, T0 + 1, 8.0),
            ],
        ))
        .await
        .expect("append");
    let got = store
        .series_points(&SeriesKey::new(a, "cpu.usage", l), T0, T0 + 10)
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[(T0, 2.0), (T0 + 1, 8.0)]),
        "last write wins, one point per timestamp"
    );
}

/// A batch id stored before for the same agent is a duplicate; another agent
/// may use the same id.
pub async fn resent_batch_is_stored_once(store: &dyn MetricStore) {
    let a = "conf-batch-a";
    let b = "conf-batch-b";
    let l = Labels::new();
    let first = batch(a, Some("batch-0001"), vec![s("cpu.usage", &l, T0, 1.0)]);
    assert_eq!(
        store.append(&first).await.expect("append"),
        AppendOutcome::Stored { samples: 1 }
    );
    let mut resent = first.clone();
    resent.samples[0].value = 99.0;
    assert_eq!(
        store.append(&resent).await.expect("append"),
        AppendOutcome::Duplicate,
        "same agent and batch id is a duplicate"
    );
    let got = store
        .series_points(&SeriesKey::new(a, "cpu.usage", l.clone()), T0, T0)
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[(T0, 1.0)]),
        "a duplicate batch must not be written"
    );
    let other = batch(b, Some("batch-0001"), vec![s("cpu.usage", &l, T0, 3.0)]);
    assert_eq!(
        store.append(&other).await.expect("append"),
        AppendOutcome::Stored { samples: 1 },
        "batch ids are per agent"
    );
    let next = batch(
        a,
        Some("batch-0002"),
        vec![s("cpu.usage", &l, T0 + 10_000, 2.0)],
    );
    assert_eq!(
        store.append(&next).await.expect("append"),
        AppendOutcome::Stored { samples: 1 }
    );
}

/// A batch with an invalid sample is refused with `InvalidInput` and stores nothing.
pub async fn invalid_batches_store_nothing(store: &dyn MetricStore) {
    let a = "conf-invalid";
    let l = Labels::new();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let b = batch(
            a,
            Some("bad-value"),
            vec![s("cpu.usage", &l, T0, 1.0), s("cpu.usage", &l, T0 + 1, bad)],
        );
        assert!(validate_batch(&b).is_err());
        let r = store.append(&b).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "value {bad} must be InvalidInput, got {r:?}"
        );
    }
    let r = store
        .append(&batch(a, None, vec![s("", &l, T0, 1.0)]))
        .await;
    assert!(
        matches!(r, Err(Error::InvalidInput(_))),
        "empty metric name must be InvalidInput, got {r:?}"
    );
    let r = store
        .append(&batch("", None, vec![s("cpu.usage", &l, T0, 1.0)]))
        .await;
    assert!(
        matches!(r, Err(Error::InvalidInput(_))),
        "empty agent id must be InvalidInput, got {r:?}"
    );
    let got = store
        .query_range(&range(a, "cpu.usage", None, T0 - DAY_MS, T0 + DAY_MS))
        .await
        .expect("query");
    assert!(
        got.is_empty(),
        "a refused batch must leave nothing behind: {got:?}"
    );
    // The refused batch id was not consumed.
    let ok = batch(a, Some("bad-value"), vec![s("cpu.usage", &l, T0, 1.0)]);
    assert_eq!(
        store.append(&ok).await.expect("append"),
        AppendOutcome::Stored { samples: 1 },
        "a refused batch id stays usable"
    );
}

/// Samples on both sides of midnight UTC (partition boundaries) come back together, in order.
pub async fn queries_span_midnight(store: &dyn MetricStore) {
    let a = "conf-midnight";
    let l = Labels::new();
    let midnight = T0 + 3 * DAY_MS;
    // One batch buffered across midnight.
    let samples = vec![
        s("cpu.usage", &l, midnight + 1, 4.0),
        s("cpu.usage", &l, midnight - 1, 2.0),
        s("cpu.usage", &l, midnight, 3.0),
        s("cpu.usage", &l, midnight - DAY_MS / 2, 1.0),
        s("cpu.usage", &l, midnight + DAY_MS + 5, 5.0),
    ];
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    let got = store
        .series_points(
            &SeriesKey::new(a, "cpu.usage", l.clone()),
            midnight - DAY_MS,
            midnight + 2 * DAY_MS,
        )
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[
            (midnight - DAY_MS / 2, 1.0),
            (midnight - 1, 2.0),
            (midnight, 3.0),
            (midnight + 1, 4.0),
            (midnight + DAY_MS + 5, 5.0)
        ])
    );
    let got = store
        .series_points(&SeriesKey::new(a, "cpu.usage", l), midnight, midnight)
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[(midnight, 3.0)]),
        "midnight itself belongs to the new day and is found"
    );
}

/// `latest` returns the newest sample of every series, ordered by metric then labels.
pub async fn latest_returns_newest_per_series(store: &dyn MetricStore) {
    let a = "conf-latest";
    let root = Labels::new().with("mount", "/");
    let data = Labels::new().with("mount", "/data");
    let none = Labels::new();
    let samples = vec![
        s("disk.used_percent", &data, T0 + 20_000, 71.0),
        s("disk.used_percent", &root, T0, 40.0),
        s("disk.used_percent", &root, T0 + 10_000, 41.0),
        s("cpu.usage", &none, T0, 5.0),
        s("disk.used_percent", &data, T0 + 10_000, 70.0),
    ];
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    // An older sample arriving late does not replace the latest.
    store
        .append(&batch(
            a,
            None,
            vec![s("cpu.usage", &none, T0 - 10_000, 1.0)],
        ))
        .await
        .expect("append");
    let latest = store.latest(a).await.expect("latest");
    let got: Vec<(String, Labels, i64, f64)> = latest
        .iter()
        .map(|x| (x.metric.clone(), x.labels.clone(), x.timestamp_ms, x.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("cpu.usage".to_owned(), none, T0, 5.0),
            ("disk.used_percent".to_owned(), root, T0 + 10_000, 41.0),
            ("disk.used_percent".to_owned(), data, T0 + 20_000, 71.0),
        ]
    );
    assert!(
        store
            .latest("conf-nobody")
            .await
            .expect("latest")
            .is_empty(),
        "unknown agent gives nothing"
    );
}

/// `latest_page` filters by metric name prefix, pages in `latest`'s order
/// and counts every matching series.
pub async fn latest_pages_filter_and_count(store: &dyn MetricStore) {
    let a = "conf-latest-page";
    let mount = |m: &str| Labels::new().with("mount", m);
    let series: Vec<(&str, Labels)> = vec![
        ("memory.used", Labels::new()),
        ("disk.used_percent", mount("/data")),
        ("disk.used", mount("/var")),
        ("cpu.usage", Labels::new()),
        ("disk.used", mount("/")),
        ("disk.used_percent", mount("/")),
        ("disk.used", mount("/data")),
    ];
    let samples = series
        .iter()
        .enumerate()
        .map(|(i, (m, l))| s(m, l, T0 + i as i64, i as f64))
        .collect();
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    let all = store.latest(a).await.expect("latest");
    assert_eq!(all.len(), 7);
    let page = |metric: Option<&str>, limit: usize, offset: usize| {
        let q = LatestQuery {
            metric: metric.map(str::to_owned),
            limit,
            offset,
        };
        async move { store.latest_page(a, &q).await.expect("latest_page") }
    };
    let names = |p: &crate::store::LatestPage| -> Vec<(String, Option<String>)> {
        p.samples
            .iter()
            .map(|x| (x.metric.clone(), x.labels.get("mount").map(str::to_owned)))
            .collect()
    };
    let everything = page(None, 1000, 0).await;
    assert_eq!(
        (everything.samples.clone(), everything.total),
        (all.clone(), 7)
    );
    assert_eq!(page(Some(""), 1000, 0).await.samples, all, "empty filter");
    let first = page(None, 2, 0).await;
    assert_eq!((first.samples.as_slice(), first.total), (&all[..2], 7));
    let middle = page(None, 3, 3).await;
    assert_eq!((middle.samples.as_slice(), middle.total), (&all[3..6], 7));
    let past = page(None, 3, 10).await;
    assert!(past.samples.is_empty());
    assert_eq!(past.total, 7, "the total ignores the offset");
    let disks = page(Some("disk."), 3, 1).await;
    assert_eq!(disks.total, 5);
    let some = |m: &str| Some(m.to_owned());
    assert_eq!(
        names(&disks),
        vec![
            ("disk.used".to_owned(), some("/data")),
            ("disk.used".to_owned(), some("/var")),
            ("disk.used_percent".to_owned(), some("/")),
        ]
    );
    let percent = page(Some("disk.used_percent"), 10, 0).await;
    assert_eq!(percent.total, 2);
    assert_eq!(percent.samples[1].value, 1.0, "the /data series");
    let none = page(Some("nothing"), 10, 0).await;
    assert_eq!((none.samples.len(), none.total), (0, 0));
    let unknown = store
        .latest_page("conf-nobody", &LatestQuery::default())
        .await
        .expect("unknown agent");
    assert_eq!((unknown.samples.len(), unknown.total), (0, 0));
    let zero = LatestQuery {
        limit: 0,
        ..LatestQuery::default()
    };
    assert!(matches!(
        store.latest_page(a, &zero).await,
        Err(Error::InvalidInput(_))
    ));
}

/// `agents` lists every agent with stored samples, ordered by id, with the
/// earliest and latest sample times.
pub async fn agents_report_first_and_last_seen(store: &dyn MetricStore) {
    let l = Labels::new();
    for (agent, times) in [
        ("conf-seen-b", [T0 + 5000, T0 + 1000]),
        ("conf-seen-a", [T0 + 2000, T0 + 9000]),
    ] {
        let samples = times.iter().map(|&t| s("cpu.usage", &l, t, 1.0)).collect();
        store
            .append(&batch(agent, None, samples))
            .await
            .expect("append");
    }
    let agents = store.agents().await.expect("agents");
    let ids: Vec<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "agents are ordered by id");
    let a = agents
        .iter()
        .find(|a| a.agent_id == "conf-seen-a")
        .expect("agent a listed");
    assert_eq!((a.first_seen_ms, a.last_seen_ms), (T0 + 2000, T0 + 9000));
    let b = agents
        .iter()
        .find(|a| a.agent_id == "conf-seen-b")
        .expect("agent b listed");
    assert_eq!((b.first_seen_ms, b.last_seen_ms), (T0 + 1000, T0 + 5000));
}

/// Alert history: filters, newest first, total count, limit and offset, replace by id.
pub async fn alert_history_filters_and_pages(store: &dyn MetricStore) {
    let h = |i: i64| T0 + 100 * DAY_MS + i * 60_000;
    let events: Vec<AlertEvent> = (0..10)
        .map(|i| {
            let agent = if i % 2 == 0 {
                "conf-alert-even"
            } else {
                "conf-alert-odd"
            };
            let sev = [Severity::Info, Severity::Warning, Severity::Critical][(i % 3) as usize];
            sample_event(&format!("conf-ev-{i}"), agent, sev, h(i))
        })
        .collect();
    store
        .insert_alert_events(&events)
        .await
        .expect("insert events");
    let window = |q: AlertQuery| AlertQuery {
        from_ms: Some(h(0)),
        to_ms: Some(h(9)),
        ..q
    };

    let all = store
        .query_alert_events(&window(AlertQuery::default()))
        .await
        .expect("query");
    assert_eq!(all.total, 10);
    let ids: Vec<&str> = all.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"conf-ev-9"), "newest first: {ids:?}");
    assert_eq!(ids.last(), Some(&"conf-ev-0"));
    assert_eq!(
        all.events[0], events[9],
        "events round-trip with every field"
    );

    let crit = store
        .query_alert_events(&window(AlertQuery {
            severity: Some(Severity::Critical),
            ..Default::default()
        }))
        .await
        .expect("query");
    assert_eq!(crit.total, 3);
    assert!(crit.events.iter().all(|e| e.severity == Severity::Critical));

    let odd = store
        .query_alert_events(&window(AlertQuery {
            agent_id: Some("conf-alert-odd".into()),
            ..Default::default()
        }))
        .await
        .expect("query");
    assert_eq!(odd.total, 5);
    assert!(
        odd.events
            .iter()
            .all(|e| e.series.agent_id == "conf-alert-odd")
    );

    let span = store
        .query_alert_events(&AlertQuery {
            from_ms: Some(h(2)),
            to_ms: Some(h(4)),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(
        span.events
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["conf-ev-4", "conf-ev-3", "conf-ev-2"],
        "from and to are inclusive"
    );

    let page = store
        .query_alert_events(&window(AlertQuery {
            limit: 3,
            offset: 2,
            ..Default::default()
        }))
        .await
        .expect("query");
    assert_eq!(page.total, 10, "total ignores limit and offset");
    assert_eq!(
        page.events
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["conf-ev-7", "conf-ev-6", "conf-ev-5"]
    );
    let past_end = store
        .query_alert_events(&window(AlertQuery {
            limit: 5,
            offset: 50,
            ..Default::default()
        }))
        .await
        .expect("query");
    assert!(past_end.events.is_empty());
    assert_eq!(past_end.total, 10);

    let mut replaced = events[3].clone();
    replaced.message = "replaced".to_owned();
    store
        .insert_alert_events(&[replaced])
        .await
        .expect("replace");
    let again = store
        .query_alert_events(&window(AlertQuery::default()))
        .await
        .expect("query");
    assert_eq!(again.total, 10, "an event id is stored once");
    assert_eq!(
        again
            .events
            .iter()
            .find(|e| e.id == "conf-ev-3")
            .map(|e| e.message.as_str()),
        Some("replaced")
    );

    let r = store
        .query_alert_events(&AlertQuery {
            limit: 0,
            ..Default::default()
        })
        .await;
    assert!(
        matches!(r, Err(Error::InvalidInput(_))),
        "limit 0 is InvalidInput, got {r:?}"
    );
}

/// Retention never removes data at or after the cutoff and removes everything
/// older than one day before it.
pub async fn retention_keeps_recent_and_removes_old(store: &dyn MetricStore) {
    let a = "conf-retention";
    let l = Labels::new();
    // Far in the past, so other checks' data (around T0) is newer than the cutoff.
    let old_day = T0 - 400 * DAY_MS;
    let cutoff = old_day + 10 * DAY_MS + DAY_MS / 2;
    let samples = vec![
        s("cpu.usage", &l, old_day, 1.0),
        s("cpu.usage", &l, cutoff - DAY_MS - 1, 2.0),
        s("cpu.usage", &l, cutoff, 3.0),
        s("cpu.usage", &l, cutoff + 1000, 4.0),
    ];
    store
        .append(&batch(a, None, samples))
        .await
        .expect("append");
    store
        .append(&batch(a, None, vec![s("load.load_5", &l, T0, 0.5)]))
        .await
        .expect("append");
    store
        .insert_alert_events(&[sample_event(
            "conf-old-event",
            a,
            Severity::Warning,
            old_day,
        )])
        .await
        .expect("events");
    store.apply_retention(cutoff).await.expect("retention");
    let got = store
        .series_points(
            &SeriesKey::new(a, "cpu.usage", l.clone()),
            old_day - DAY_MS,
            cutoff + DAY_MS,
        )
        .await
        .expect("query");
    assert_eq!(
        got,
        pts(&[(cutoff, 3.0), (cutoff + 1000, 4.0)]),
        "older than cutoff - 1 day removed, cutoff onwards kept"
    );
    let ev = store
        .query_alert_events(&AlertQuery {
            agent_id: Some(a.into()),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(ev.total, 0, "old alert events are removed with their day");
    let recent = store
        .series_points(&SeriesKey::new(a, "load.load_5", l), T0, T0)
        .await
        .expect("query");
    assert_eq!(
        recent,
        pts(&[(T0, 0.5)]),
        "retention must not touch newer data"
    );
}
