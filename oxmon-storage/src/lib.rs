#![doc = include_str!("../README.md")]

mod memory;
mod memory_manage;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
pub use memory_manage::MemoryManagementStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{
    CompactReport, SqliteManagementStore, SqliteOptions, SqliteStore, read_stored_definitions,
};

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items the stores take and return, so that
/// `oxmon-storage` alone is enough to use them: the `MetricStore` contract
/// and its queries, the samples, the clock of `SqliteOptions`, and the
/// management store traits (`manage`) and notification history
/// (`notify_history`) that `MemoryManagementStore` and
/// `SqliteManagementStore` implement.
#[doc(no_inline)]
pub use oxmon_core::{
    AgentInfo, AlertEvent, AlertPage, AlertQuery, AppendOutcome, Clock, Labels, LatestPage,
    LatestQuery, ManualClock, MetricBatch, MetricStore, MetricStoreExt, Point, RangeQuery,
    RetentionReport, Sample, SeriesKey, SeriesPoints, SystemClock, async_trait, manage,
    notify_history,
};
