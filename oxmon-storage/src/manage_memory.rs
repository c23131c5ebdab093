//! `MemoryManagementStore`: the in-memory management store (being written).

/// In-memory users, agent whitelist and certificate data.
#[derive(Debug, Default)]
pub struct MemoryManagementStore;
