//! Conformance suites (feature `testing`).
//!
//! Public async functions that check an implementation against its trait's
//! contract, in the manner of `object_store`'s integration module. Every
//! implementation in oxmon runs them, and so can a downstream one:
//!
//! ```ignore
//! #[tokio::test]
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
