//! `SqliteManagementStore`: `data_dir/cert.db` (being written).

/// Users, agent whitelist and certificate data in `data_dir/cert.db`.
#[derive(Debug)]
pub struct SqliteManagementStore;
