//! Opening `cert.db`: refusing files that are not ours, connection settings
//! and schema migrations.

use std::path::Path;
use std::time::Duration;

use oxmon_core::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

use super::db_err;

/// `PRAGMA application_id` of an oxmon management database: "OXMC".
pub(super) const APPLICATION_ID: i32 = 0x4F58_4D43;
/// The schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i32 = 4;

/// Version 2: the notification history (every delivery attempt).
const MIGRATION_V2: &str = "
CREATE TABLE notification_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    event_ids TEXT NOT NULL,      -- JSON list of alert event ids
    status TEXT NOT NULL,         -- sent, retrying, failed, silenced, deferred
    error TEXT,
    attempt INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL -- ms since the epoch
);
CREATE INDEX notification_history_by_time ON notification_history (attempted_at, id);
";
/// Version 3: user roles and disabling (users before it were all
/// administrators), API tokens, the audit log, ad-hoc silences, and alert rules made through the API (their
/// `[[alert.rules]]` fields as TOML text).
const MIGRATION_V3: &str = "
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'; -- viewer, operator, admin
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,                    -- the most it may do
    token_hash TEXT NOT NULL UNIQUE,       -- SHA-256 hex, never the token
    created_at INTEGER NOT NULL,           -- ms since the epoch
    expires_at INTEGER,                    -- NULL: never
    last_used INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,                   -- ms since the epoch
    actor TEXT NOT NULL,                   -- username
    action TEXT NOT NULL,                  -- rule.create, user.update, ...
    target TEXT NOT NULL,
    before TEXT,                           -- JSON as the API shows it, no secrets
    after TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE TABLE silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers TEXT NOT NULL,                -- JSON: agent, metric, rule, labels
    starts_at INTEGER NOT NULL,            -- ms since the epoch
    ends_at INTEGER NOT NULL,              -- expiring moves it to the time of expiry
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at); -- the active ones, not the history
CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,              -- the rule's fields, a TOML table
    created_at INTEGER NOT NULL,           -- ms since the epoch
    updated_at INTEGER NOT NULL
);
";
/// Version 4: notification channels, recurring silence windows and runtime
/// settings made through the API (their `[[notification.channels]]` and
/// `[[notification.silence_windows]]` fields as TOML text, credentials
/// included: the file is its owner's alone).
const MIGRATION_V4: &str = "
CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,              -- the channel's fields, a TOML table
    created_at INTEGER NOT NULL,           -- ms since the epoch
    updated_at INTEGER NOT NULL
);
CREATE TABLE settings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    name TEXT NOT NULL UNIQUE,             -- the key: retention_days, cert_check.tick_secs
    definition TEXT NOT NULL,              -- TOML: value = ...
    created_at INTEGER NOT NULL,           -- ms since the epoch
    updated_at INTEGER NOT NULL
);
CREATE TABLE silence_windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    name TEXT NOT NULL UNIQUE,             -- what it covers: 02:00-04:00 daily
    definition TEXT NOT NULL,              -- the window's fields, a TOML table
    created_at INTEGER NOT NULL,           -- ms since the epoch
    updated_at INTEGER NOT NULL
);
";
/// Every forward migration, in order: the one to version `n + 2` at `n`.
const MIGRATIONS: [&str; 3] = [MIGRATION_V2, MIGRATION_V3, MIGRATION_V4];
/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1: every table, index and trigger. Comments are kept by SQLite
/// and show up in the `sqlite3` shell's `.schema`.
const SCHEMA_V1: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,            -- opaque hash (argon2id), never a password
    token_version INTEGER NOT NULL DEFAULT 0 CHECK (token_version >= 0),
    created_at INTEGER NOT NULL,            -- ms since the epoch
    updated_at INTEGER NOT NULL             -- ms since the epoch
);
CREATE TABLE agent_whitelist (
    agent_id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,               -- hash of the agent token, never the token
    description TEXT,
    created_at INTEGER NOT NULL,            -- ms since the epoch
    updated_at INTEGER NOT NULL             -- ms since the epoch
);
CREATE TABLE cert_domains (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
    domain TEXT NOT NULL CHECK (domain <> '' AND domain = lower(domain)),
    port INTEGER NOT NULL DEFAULT 443 CHECK (port BETWEEN 1 AND 65535),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    check_interval_secs INTEGER CHECK (check_interval_secs >= 1),  -- NULL: the default
    note TEXT,
    created_at INTEGER NOT NULL,            -- ms since the epoch (values < 1e11 read as seconds)
    updated_at INTEGER NOT NULL,            -- ms since the epoch (values < 1e11 read as seconds)
    UNIQUE (domain, port)
);
CREATE TABLE cert_check_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- recording order
    domain_id TEXT NOT NULL REFERENCES cert_domains (id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    port INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,            -- ms since the epoch
    is_valid INTEGER NOT NULL CHECK (is_valid IN (0, 1)),
    days_until_expiry REAL,
    not_after INTEGER,                      -- ms since the epoch
    error TEXT
);
CREATE INDEX cert_check_results_by_domain_id ON cert_check_results (domain_id, checked_at, id);
CREATE INDEX cert_check_results_by_domain ON cert_check_results (domain, checked_at, id);
CREATE TABLE certificate_details (
    domain TEXT NOT NULL,
    port INTEGER NOT NULL,
    not_before INTEGER NOT NULL,            -- ms since the epoch
    not_after INTEGER NOT NULL,             -- ms since the epoch
    ip_addresses TEXT NOT NULL DEFAULT '[]',       -- JSON list of strings
    issuer_cn TEXT,
    issuer_o TEXT,
    subject_cn TEXT,
    subject_alt_names TEXT NOT NULL DEFAULT '[]',  -- JSON list of strings
    serial TEXT,
    fingerprint_sha256 TEXT,
    key_type TEXT,
    key_bits INTEGER,
    signature_algorithm TEXT,
    tls_version TEXT,
    cipher_suite TEXT,
    chain_valid INTEGER NOT NULL CHECK (chain_valid IN (0, 1)),
    chain_error TEXT,
    chain TEXT NOT NULL DEFAULT '[]',  -- JSON list of {subject, issuer, not_before_ms, not_after_ms}
    last_checked INTEGER NOT NULL,          -- ms since the epoch
    PRIMARY KEY (domain, port)
);
CREATE INDEX certificate_details_by_not_after ON certificate_details (not_after);
CREATE TRIGGER cert_domains_delete AFTER DELETE ON cert_domains BEGIN
    DELETE FROM cert_check_results WHERE domain_id = old.id;
    DELETE FROM certificate_details WHERE domain = old.domain AND port = old.port;
END;
CREATE TRIGGER cert_domains_move AFTER UPDATE OF domain, port ON cert_domains
WHEN old.domain IS NOT new.domain OR old.port IS NOT new.port BEGIN
    DELETE FROM certificate_details WHERE domain = old.domain AND port = old.port;
END;
";

/// What the header and catalogue of an existing file say.
#[derive(Debug, Clone, Copy)]
struct Identity {
    application_id: i32,
    user_version: i32,
    /// Whether the file holds any table, index, view or trigger.
    has_schema: bool,
}

fn identity(conn: &Connection) -> rusqlite::Result<Identity> {
    Ok(Identity {
        application_id: conn.query_row("PRAGMA application_id", [], |r| r.get(0))?,
        user_version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
        has_schema: conn.query_row("SELECT count(*) > 0 FROM sqlite_schema", [], |r| r.get(0))?,
    })
}

/// Refuses a file that is not an oxmon management database of a version
/// this build can use. An empty database is accepted.
fn check_identity(path: &Path, id: Identity) -> Result<()> {
    let shown = path.display();
    if id.application_id != 0 && id.application_id != APPLICATION_ID {
        return Err(Error::storage(format!(
            "{shown} belongs to another application (SQLite application_id {:#010x}, \
             oxmon's is {APPLICATION_ID:#010x}); refusing to use it as the management database",
            id.application_id
        )));
    }
    if id.application_id == 0 && id.has_schema {
        return Err(Error::storage(format!(
            "{shown} is a SQLite database of another program (it has tables but no oxmon \
             application_id); refusing to modify it: move it away or point data_dir elsewhere"
        )));
    }
    if id.user_version > SCHEMA_VERSION {
        return Err(Error::storage(format!(
            "{shown} has schema version {}, newer than this oxmon supports ({SCHEMA_VERSION}); \
             it was written by a newer oxmon: upgrade, or restore a backup",
            id.user_version
        )));
    }
    if id.user_version < 0 {
        return Err(Error::storage(format!(
            "{shown} has an invalid schema version {}",
            id.user_version
        )));
    }
    Ok(())
}

/// Inspects an existing, non-empty file by reading its 100-byte SQLite
/// header through a read-only file handle.
///
/// Not through a read-only SQLite connection: on a WAL-mode file that
/// creates `-wal` and `-shm` files beside it. The header can be stale only
/// while another connection holds uncheckpointed changes in the WAL;
/// [`migrate`] checks again through SQL under the write lock before writing.
fn inspect(path: &Path) -> Result<()> {
    use std::io::Read;
    let shown = path.display();
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut header))
        .map_err(|e| Error::unavailable_from(format!("cannot read {shown}: {e}"), e))?;
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Err(Error::storage(format!(
            "{shown} is not a SQLite database (or is encrypted or damaged); refusing to use it \
             as the management database"
        )));
    }
    let field = |offset: usize| {
        header
            .get(offset..offset + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, i32::from_be_bytes)
    };
    // Offsets from the file format: 40 schema cookie (changes with every
    // CREATE or DROP, 0 while there never was a schema), 60 user_version,
    // 68 application_id.
    let id = Identity {
        application_id: field(68),
        user_version: field(60),
        has_schema: field(40) != 0,
    };
    check_identity(path, id)
}

/// Opens `path` for the store: checks, configures and migrates it.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::sqlite::private::create_dir(dir).map_err(|e| {
            Error::unavailable(format!(
                "cannot create the directory of {shown}: {e} (check the data_dir setting and \
                 its permissions)"
            ))
        })?;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(Error::storage(format!(
                "{shown} is a directory, not a database file"
            )));
        }
        Ok(meta) if meta.len() > 0 => inspect(path)?,
        _ => {}
    }
    // Owner-only before SQLite creates it (its -wal and -shm inherit the
    // mode): it holds password and token hashes.
    crate::sqlite::private::prepare_file(path).map_err(|e| {
        Error::unavailable(format!(
            "cannot create {shown}: {e} (is its directory writable?)"
        ))
    })?;
    let conn = Connection::open(path).map_err(|e| {
        db_err(
            &format!("cannot open {shown} for writing (is its directory writable?)"),
            e,
        )
    })?;
    configure(&conn, path)?;
    migrate(conn, path)
}

/// Busy timeout, WAL, `synchronous = FULL`, foreign keys.
fn configure(conn: &Connection, path: &Path) -> Result<()> {
    let shown = path.display();
    let context = format!("cannot set up {shown} (is it and its directory writable?)");
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_err(&context, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| db_err(&context, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::unavailable(format!(
            "{context}: could not switch to WAL mode, the journal mode stays {mode:?}"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(|e| db_err(&context, e))
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction.
fn migrate(mut conn: Connection, path: &Path) -> Result<Connection> {
    let context = format!("cannot initialise {}", path.display());
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db_err(&context, e))?;
    // Again under the write lock: another process may have written meanwhile.
    let id = identity(&tx).map_err(|e| db_err(&context, e))?;
    check_identity(path, id)?;
    let set_version = |tx: &rusqlite::Transaction<'_>| {
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
    };
    if !id.has_schema {
        tx.execute_batch(SCHEMA_V1)
            .and_then(|()| MIGRATIONS.iter().try_for_each(|m| tx.execute_batch(m)))
            .and_then(|()| set_version(&tx))
            .map_err(|e| db_err(&context, e))?;
    } else if id.user_version < SCHEMA_VERSION && id.user_version >= 1 {
        // Forward migrations, one step each: 1 -> 2 -> 3 -> 4.
        for step in &MIGRATIONS[usize::try_from(id.user_version - 1).unwrap_or(0)..] {
            tx.execute_batch(step).map_err(|e| db_err(&context, e))?;
        }
        set_version(&tx).map_err(|e| db_err(&context, e))?;
    } else if id.user_version != SCHEMA_VERSION {
        // Forward migrations from older versions go here, one step each.
        return Err(Error::storage(format!(
            "{context}: it has oxmon's application_id but schema version {}, which no \
             migration handles; the file looks damaged",
            id.user_version
        )));
    }
    tx.commit().map_err(|e| db_err(&context, e))?;
    Ok(conn)
}
