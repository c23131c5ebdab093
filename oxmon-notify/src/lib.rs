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

pub use dispatch::{Notifier, NotifierOptions, RateLimit, RetryPolicy, Route, SilencePolicy};
pub use error::{Error, Result};
pub use registry::ChannelRegistry;
pub use stub::{StubChannel, StubPlugin};
