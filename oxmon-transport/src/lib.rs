#![doc = include_str!("../README.md")]

mod error;
mod in_process;

pub use error::{Error, Result};
pub use in_process::InProcessTransport;
