#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod alert;
pub mod cert;
mod channel;
mod clock;
mod collector;
pub mod config;
mod error;
pub mod manage;
pub mod notify_history;
pub mod pack;
pub mod prom;
mod rule;
mod secret;
mod store;
pub mod sync;
pub mod text;
pub mod time;
pub mod token;
mod transport;
mod types;
pub mod validate;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use alert::{AlertEvent, AlertStatus, Prediction};
pub use channel::{
    Channel, ChannelPlugin, FmtValue, Notification, SendError, SendErrorKind, fmt_value,
    looks_secret,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use collector::{CollectContext, Collector};
pub use error::{BoxError, Error, Result};
pub use rule::{Breach, RuleEvaluator, RulePlugin, Verdict};
pub use secret::Secret;
pub use store::{
    AlertPage, AlertQuery, AppendOutcome, Change, ChangeCursor, Changes, LatestPage, LatestQuery,
    MAX_TIMESTAMP_MS, MetricStore, MetricStoreExt, RangeQuery, RetentionReport, SeriesPoints,
    check_latest_query, validate_batch,
};
/// The TOML crate whose tables this crate's API takes (rule and channel
/// settings, stored rule definitions), so users need no version of their own.
pub use toml;
pub use transport::{
    Ack, BatchHandler, Credentials, Transport, TransportError, TransportErrorKind,
};
pub use types::{AgentInfo, Labels, MetricBatch, Point, Sample, SeriesKey, Severity};

/// The attribute of the async traits here (`MetricStore`, `Channel`,
/// `Transport`, `BatchHandler`, ...): put `#[async_trait]` on an `impl` of
/// one of them without a dependency on `async-trait` of your own.
pub use async_trait::async_trait;

pub use time::DAY_MS;
