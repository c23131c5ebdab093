//! Conformance suites (feature `testing`).
//!
//! Public async functions that check an implementation against its trait's
//! contract, in the manner of `object_store`'s integration module. Every
//! implementation in oxmon runs them, and so can a downstream one:
//!
//! ```no_run
//! # use oxmon_core::MetricStore;
//! # #[derive(Debug)] struct MyStore;
//! # #[oxmon_core::async_trait] impl MetricStore for MyStore {
//! #     async fn append(&self, _: &oxmon_core::MetricBatch) -> oxmon_core::Result<oxmon_core::AppendOutcome> { unimplemented!() }
//! #     async fn query_range(&self, _: &oxmon_core::RangeQuery) -> oxmon_core::Result<Vec<oxmon_core::SeriesPoints>> { unimplemented!() }
//! #     async fn latest(&self, _: &str) -> oxmon_core::Result<Vec<oxmon_core::Sample>> { unimplemented!() }
//! #     async fn agents(&self) -> oxmon_core::Result<Vec<oxmon_core::AgentInfo>> { unimplemented!() }
//! #     async fn insert_alert_events(&self, _: &[oxmon_core::AlertEvent]) -> oxmon_core::Result<()> { unimplemented!() }
//! #     async fn query_alert_events(&self, _: &oxmon_core::AlertQuery) -> oxmon_core::Result<oxmon_core::AlertPage> { unimplemented!() }
//! #     async fn apply_retention(&self, _: i64) -> oxmon_core::Result<oxmon_core::RetentionReport> { unimplemented!() }
//! # }
//! # impl MyStore { async fn open_temp() -> Self { MyStore } }
//! // In the implementing crate's tests, under #[tokio::test]:
//! async fn my_store_conforms() {
//!     let store = MyStore::open_temp().await;
//!     oxmon_core::testing::store::run_all(&store).await;
//! }
//! ```
//!
//! The suites panic with a message describing the broken guarantee.

pub mod channel;
pub mod manage;
pub mod store;
pub mod transport;

use crate::alert::{AlertEvent, AlertStatus};
use crate::config::{Recurrence, SilenceWindow, TimeOfDay};
use crate::types::{Labels, SeriesKey, Severity};

/// 2026-01-01T00:00:00Z in milliseconds: the suites' reference time.
pub const T0: i64 = 1_767_225_600_000;

/// A firing event with every field set, for suites and tests.
pub fn sample_event(id: &str, agent: &str, severity: Severity, timestamp_ms: i64) -> AlertEvent {
    AlertEvent {
        id: id.to_owned(),
        rule: "conformance-rule".to_owned(),
        series: SeriesKey::new(
            agent,
            "disk.used_percent",
            Labels::new().with("mount", "/data"),
        ),
        severity,
        status: AlertStatus::Firing,
        value: 97.25,
        threshold: Some(90.0),
        timestamp_ms,
        fired_at_ms: timestamp_ms - 300_000,
        prediction: None,
        message: "disk \"/data\" is 97.25% full\nsecond line, ünïcödé ✓".to_owned(),
    }
}

/// A silence window from `HH:MM` start and end, for tests.
///
/// # Panics
/// When `start` or `end` is not a time of day.
pub fn silence_window(start: &str, end: &str, recurrence: Recurrence) -> SilenceWindow {
    SilenceWindow {
        start: TimeOfDay::parse(start).unwrap(),
        end: TimeOfDay::parse(end).unwrap(),
        recurrence,
    }
}

/// (metric, labels) of the 60 series one agent reports, in the shape of
/// the shared benchmark dataset (`shared/bench-data`): CPU total and 25
/// cores, memory, three mounts, three interfaces, load. For benches and
/// load tests.
pub fn agent_series() -> Vec<(String, Labels)> {
    let mut out = vec![("cpu.usage".to_owned(), Labels::new())];
    for c in 0..25 {
        out.push((
            "cpu.core_usage".into(),
            Labels::new().with("core", c.to_string()),
        ));
    }
    for m in [
        "total",
        "used",
        "available",
        "used_percent",
        "swap_total",
        "swap_used",
    ] {
        out.push((format!("memory.{m}"), Labels::new()));
    }
    for mount in ["/", "/data", "/var"] {
        for m in ["total", "used", "available", "used_percent"] {
            out.push((format!("disk.{m}"), Labels::new().with("mount", mount)));
        }
    }
    for nic in ["eth0", "eth1", "bond0"] {
        for m in ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv"] {
            out.push((format!("network.{m}"), Labels::new().with("interface", nic)));
        }
    }
    for m in ["load_1", "load_5", "load_15", "uptime"] {
        out.push((format!("load.{m}"), Labels::new()));
    }
    out
}
