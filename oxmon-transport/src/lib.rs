#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "forward")]
pub mod forward;
#[cfg(feature = "grpc")]
pub mod grpc;
mod in_process;
mod ingest;
pub mod net;
#[cfg(feature = "remote-write")]
pub mod remote_write;

pub use error::{Error, Result};
pub use in_process::InProcessTransport;
pub use ingest::{Ingest, IngestLimits, IngestObserver, IngestStats, ObserverSlot, REFUSAL_KINDS};

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items the transports and the ingest path take and
/// return, so that `oxmon-transport` alone is enough to carry batches or to
/// write a transport or a server side of one's own (`Transport`,
/// `BatchHandler` with `#[async_trait]`).
#[doc(no_inline)]
pub use oxmon_core::config::AgentConfig;
#[doc(no_inline)]
pub use oxmon_core::manage::WhitelistStore;
#[doc(no_inline)]
pub use oxmon_core::{
    Ack, BatchHandler, Clock, Credentials, Labels, ManualClock, MetricBatch, MetricStore, Sample,
    Secret, SystemClock, Transport, TransportError, TransportErrorKind, async_trait,
};
