#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "forward")]
pub mod forward;
#[cfg(feature = "grpc")]
pub mod grpc;
mod in_process;
mod ingest;
pub mod net;

pub use error::{Error, Result};
pub use in_process::InProcessTransport;
pub use ingest::{Ingest, IngestLimits, IngestObserver, IngestStats, ObserverSlot, REFUSAL_KINDS};
