//! The SQLite backend (feature `sqlite`).

mod management;

pub use management::SqliteManagementStore;

/// Placeholder until the metric store lands in this module.
#[derive(Debug)]
pub struct SqliteStore;

/// Placeholder until the metric store lands in this module.
#[derive(Debug)]
pub struct SqliteOptions;
