#![doc = include_str!("../README.md")]

mod error;
mod registry;
mod stub;

pub use error::{Error, Result};
pub use registry::ChannelRegistry;
pub use stub::{StubChannel, StubPlugin};
