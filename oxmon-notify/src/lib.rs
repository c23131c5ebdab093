#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod channels;
mod dispatch;
mod error;
#[cfg(feature = "_http")]
mod http;
mod registry;
pub mod render;
mod stub;

pub use dispatch::{
    Notifier, NotifierOptions, RateLimit, RetryPolicy, Route, SilencePolicy, silence_matches,
};
pub use error::{Error, Result};
pub use registry::ChannelRegistry;
pub use stub::{StubChannel, StubPlugin};

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items the channels and the notifier take and return, so
/// that `oxmon-notify` alone is enough to send notifications or to write a
/// channel type of one's own (`ChannelPlugin`, `Channel` with
/// `#[async_trait]`, `ChannelConfig`'s typed getters, `SendError`).
#[doc(no_inline)]
pub use oxmon_core::config::{ChannelConfig, ConfigError, NotificationConfig, ServerConfig};
#[doc(no_inline)]
pub use oxmon_core::{
    AlertEvent, AlertStatus, Channel, ChannelPlugin, Clock, Labels, ManualClock, Notification,
    SendError, SendErrorKind, SeriesKey, Severity, SystemClock, async_trait, notify_history,
};
