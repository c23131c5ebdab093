#![doc = include_str!("../README.md")]

mod error;
mod manage_memory;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::{Error, Result};
pub use manage_memory::MemoryManagementStore;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{CompactReport, SqliteManagementStore, SqliteOptions, SqliteStore};
