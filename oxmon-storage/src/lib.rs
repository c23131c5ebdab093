#![doc = include_str!("../README.md")]

mod error;
mod memory;

pub use error::{Error, Result};
pub use memory::MemoryStore;
