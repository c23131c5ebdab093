//! `SqliteManagementStore`: users, agent whitelist and certificate data in
//! `data_dir/cert.db`.
//!
//! One connection behind a mutex, used from `spawn_blocking` so no SQLite
//! call runs on the async runtime; management traffic is small (logins,
//! whitelist edits, a certificate check per domain and interval), so one
//! connection serializes it without contention. The file is in WAL mode with
//! `synchronous = FULL`: a call that returned `Ok` survives power loss.
//!
//! # Schema (version 1, `PRAGMA user_version = 1`, `application_id = 0x4F584D43` "OXMC")
//! - `users (id, username, password_hash, token_version, created_at, updated_at)`
//! - `agent_whitelist (agent_id, token_hash, description, created_at, updated_at)`
//! - `cert_domains (id, domain, port, enabled, check_interval_secs, note,
//!   created_at, updated_at)`, `UNIQUE (domain, port)`
//! - `cert_check_results (id, domain_id, domain, port, checked_at, is_valid,
//!   days_until_expiry, not_after, error)`
//! - `certificate_details (domain, port, not_before, not_after, ip_addresses,
//!   issuer_cn, issuer_o, subject_cn, subject_alt_names, serial,
//!   fingerprint_sha256, key_type, key_bits, signature_algorithm, tls_version,
//!   cipher_suite, chain_valid, chain_error, chain, last_checked)`, one row
//!   per (domain, port); list columns hold JSON text.
//!
//! Every time column holds integer milliseconds since the epoch. Rows of
//! `cert_domains` added by hand with the spec's `strftime('%s','now')` hold
//! seconds instead: `created_at` and `updated_at` values below 10^11 are read
//! as seconds. Deleting a `cert_domains` row deletes its results and details
//! through triggers, so a `DELETE` in the `sqlite3` shell (where foreign keys
//! are off) cleans up too.

mod audit;
mod certs;
mod definitions;
mod history;
pub use definitions::read_stored_definitions;
mod schema;
mod silences;
#[cfg(test)]
mod tests;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oxmon_core::manage::WhitelistEntry;
use oxmon_core::sync::LockExt;
use oxmon_core::sync::RwLockExt;
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use rusqlite::{Connection, Row};

/// Users, agent whitelist and certificate data in `data_dir/cert.db`.
///
/// Implements [`oxmon_core::manage::UserStore`],
/// [`oxmon_core::manage::WhitelistStore`] and
/// [`oxmon_core::manage::CertStore`], and runs their conformance suite.
/// Cloning is cheap and shares the connection. Domain ids are 32 random hex
/// digits.
#[derive(Clone)]
pub struct SqliteManagementStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Whitelist entries recently read or written, so authenticating an
    /// agent's batch does not query SQLite every time. Changed only while
    /// the connection's lock is held, together with the row, so a token
    /// replaced or an agent deleted through this store is refused at once;
    /// a change made behind its back (the `sqlite3` shell) shows within
    /// [`WHITELIST_CACHE_TTL`].
    agents:
        std::sync::RwLock<std::collections::HashMap<String, (WhitelistEntry, std::time::Instant)>>,
}

/// How long a cached whitelist entry is trusted without reading the row.
pub(crate) const WHITELIST_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl Inner {
    fn cached_agent(&self, agent_id: &str) -> Option<WhitelistEntry> {
        let agents = self.agents.read_locked();
        let (entry, at) = agents.get(agent_id)?;
        (at.elapsed() < WHITELIST_CACHE_TTL).then(|| entry.clone())
    }

    /// Records what the row now is (`None`: no row). Call with the
    /// connection's lock held.
    fn cache_agent(&self, agent_id: &str, entry: Option<&WhitelistEntry>) {
        let mut agents = self.agents.write_locked();
        match entry {
            Some(e) => {
                agents.insert(agent_id.to_owned(), (e.clone(), std::time::Instant::now()));
            }
            None => {
                agents.remove(agent_id);
            }
        }
    }
}

impl fmt::Debug for SqliteManagementStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteManagementStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteManagementStore {
    /// Opens (creating if needed) the management database at `path`, usually
    /// `data_dir/cert.db`, creating missing parent directories, and brings
    /// its schema to the current version.
    ///
    /// Before anything is written, an existing file is inspected through a
    /// read-only connection; a file this version cannot use is left exactly
    /// as it was.
    ///
    /// # Errors
    /// - [`Error::Storage`]: the file is not a SQLite database, belongs to
    ///   another program (another `application_id`, or tables without ours),
    ///   or has a schema version newer than this build supports.
    /// - [`Error::Unavailable`]: the file or its directory cannot be created,
    ///   opened or written (permissions, read-only file system, disk full,
    ///   locked by another process).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || schema::open(&opened))
            .await
            .map_err(join_error)??;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                agents: std::sync::RwLock::default(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the connection on the blocking thread pool.
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.locked();
            f(&mut conn)
        })
        .await
        .map_err(join_error)?
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_cancelled() {
        Error::unavailable("management store: the runtime is shutting down")
    } else {
        Error::storage(format!("management store: a database task panicked: {e}"))
    }
}

/// Runs `f` in an immediate (write-locking) transaction and commits it, so a
/// commit failure is reported rather than lost when a statement is reset.
fn in_tx<T>(
    conn: &mut Connection,
    context: &str,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| db_err(context, e))?;
    let out = f(&tx)?;
    tx.commit().map_err(|e| db_err(context, e))?;
    Ok(out)
}

/// Maps a SQLite failure: a full disk, read-only or unopenable file and a
/// busy or locked database are [`Error::Unavailable`] (retry later);
/// everything else is [`Error::Storage`].
fn db_err(context: &str, e: rusqlite::Error) -> Error {
    super::map_err(context, e)
}

/// Whether `e` is a UNIQUE or PRIMARY KEY violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// `db_err`, except a unique violation becomes `conflict()`.
fn write_err(context: &str, e: rusqlite::Error, conflict: impl FnOnce() -> Error) -> Error {
    if is_unique_violation(&e) {
        conflict()
    } else {
        db_err(context, e)
    }
}

/// A `u64` stored as a non-negative INTEGER.
fn get_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, e.into()))
}

/// An optional `u64` stored as a non-negative INTEGER or NULL.
fn get_opt_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| {
        u64::try_from(v)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, e.into()))
    })
    .transpose()
}

/// A `u64` for an INTEGER column (callers validated it fits).
fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v)
        .map_err(|_| Error::InvalidInput(format!("{v} does not fit in a 64-bit signed integer")))
}

/// A limit or offset for SQL (`LIMIT -1` would mean "no limit", so saturate instead).
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
