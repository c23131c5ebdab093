//! Tests of the SQLite management store: the conformance suite on a real
//! file, persistence, refusing files that are not ours, and the spec's
//! `sqlite3` shell commands.

use std::path::Path;

use oxmon_core::manage::{
    CertCheckResult, CertStore, DomainFilter, NewCertDomain, UserStore, WhitelistStore,
};
use oxmon_core::testing::T0;
use oxmon_core::testing::manage::cert_checks::full_details;
use rusqlite::Connection;

use super::schema::{APPLICATION_ID, SCHEMA_VERSION};
use super::*;

async fn open_in(dir: &Path) -> SqliteManagementStore {
    SqliteManagementStore::open(dir.join("cert.db"))
        .await
        .expect("open")
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("raw connection")
}

fn pragma(conn: &Connection, name: &str) -> String {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| {
        r.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| format!("{v:?}"))
    .expect("pragma")
}

#[tokio::test]
async fn conforms_to_the_management_contracts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_in(dir.path()).await;
    oxmon_core::testing::manage::run_all(&store, &store, &store).await;
    oxmon_core::testing::manage::definitions::run_all(&store).await;
    oxmon_core::testing::manage::audit::run_all(&store).await;
    oxmon_core::testing::manage::silences::run_all(&store).await;
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("data").join("nested");
    let store = open_in(&nested).await;
    let user = store
        .create_user("admin", "hash-0", oxmon_core::manage::Role::Admin, T0)
        .await
        .expect("user");
    store
        .set_password_hash(user.id, "hash-1", T0 + 1)
        .await
        .expect("password");
    store
        .add_agent("web-1", "th", Some("web"), T0)
        .await
        .expect("agent");
    let domain = store
        .add_domain(&NewCertDomain::new("example.com"), T0)
        .await
        .expect("domain");
    let result = CertCheckResult {
        domain_id: domain.id.clone(),
        domain: "example.com".into(),
        port: 443,
        checked_at_ms: T0,
        is_valid: true,
        days_until_expiry: Some(42.5),
        not_after_ms: Some(T0 + 42 * oxmon_core::DAY_MS),
        error: None,
    };
    store.record_check_result(&result).await.expect("result");
    let details = full_details("example.com", 443, 42);
    store.upsert_details(&details).await.expect("details");
    drop(store);

    let store = open_in(&nested).await;
    let user = store
        .user_by_username("admin")
        .await
        .expect("get")
        .expect("user");
    assert_eq!(
        (user.password_hash.as_str(), user.token_version),
        ("hash-1", 1)
    );
    let agent = store.get_agent("web-1").await.expect("get").expect("agent");
    assert_eq!(agent.description.as_deref(), Some("web"));
    assert_eq!(
        store.get_domain(&domain.id).await.expect("get"),
        Some(domain)
    );
    let latest = store
        .latest_check_result("example.com")
        .await
        .expect("latest");
    assert_eq!(latest, Some(result));
    assert_eq!(
        store.get_details("example.com").await.expect("get"),
        Some(details)
    );
    // Ids stay unique across restarts.
    let other = store
        .create_user("second", "h", oxmon_core::manage::Role::Admin, T0)
        .await
        .expect("user");
    assert!(other.id > user.id);
    drop(store);

    let conn = raw(&nested.join("cert.db"));
    assert_eq!(pragma(&conn, "journal_mode"), "Text(\"wal\")");
    assert_eq!(
        pragma(&conn, "user_version"),
        format!("Integer({SCHEMA_VERSION})")
    );
    assert_eq!(
        pragma(&conn, "application_id"),
        format!("Integer({APPLICATION_ID})")
    );
}

/// The file's bytes and the names in its directory.
fn snapshot(path: &Path) -> (Vec<u8>, Vec<String>) {
    let bytes = std::fs::read(path).expect("read file");
    let dir = path.parent().expect("parent");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    (bytes, names)
}

async fn assert_refused(path: &Path, expect: &str) {
    let before = snapshot(path);
    let err = SqliteManagementStore::open(path)
        .await
        .expect_err("must refuse");
    let msg = err.to_string();
    eprintln!("refused as expected: {msg}");
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert!(msg.contains(expect), "message should say {expect:?}: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "message names the file: {msg}"
    );
    let after = snapshot(path);
    assert_eq!(after.1, before.1, "no file may appear or vanish beside it");
    let first_change = before.0.iter().zip(&after.0).position(|(a, b)| a != b);
    assert!(
        before.0 == after.0,
        "the refused file must stay as it was: {} bytes before, {} after, first change at {:?}",
        before.0.len(),
        after.0.len(),
        first_change
    );
}

#[tokio::test]
async fn refuses_a_newer_schema_without_touching_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.db");
    open_in(dir.path())
        .await
        .add_agent("a", "h", None, T0)
        .await
        .expect("add");
    let conn = raw(&path);
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .expect("bump version");
    drop(conn);
    assert_refused(&path, "newer than this oxmon supports").await;
}

#[tokio::test]
async fn refuses_foreign_files_without_touching_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = dir.path().join("notes.db");
    let conn = raw(&tables);
    conn.execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep me');")
        .expect("foreign db");
    drop(conn);
    assert_refused(&tables, "another program").await;

    let other_app = dir.path().join("other.db");
    let conn = raw(&other_app);
    conn.execute_batch("PRAGMA application_id = 42; PRAGMA user_version = 1;")
        .expect("other app");
    drop(conn);
    assert_refused(&other_app, "belongs to another application").await;

    let text = dir.path().join("text.db");
    std::fs::write(
        &text,
        "this is not a database, but it is long enough to look like one ".repeat(20),
    )
    .expect("write");
    assert_refused(&text, "not a SQLite database").await;
}

#[tokio::test]
async fn accepts_an_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cert.db"), b"").expect("touch");
    let store = open_in(dir.path()).await;
    assert_eq!(store.count_users().await.expect("count"), 0);
}

/// A directory where this process cannot create files: a read-only
/// temporary directory, or (when running as root, which ignores modes)
/// `/sys`, a read-only file system on Linux. `None` if there is neither.
fn unwritable_dir(tmp: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let ro = tmp.join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let probe = |dir: &Path| {
        let file = dir.join("oxmon-write-probe");
        let created = std::fs::write(&file, b"x").is_ok();
        if created {
            let _ = std::fs::remove_file(&file);
        }
        !created
    };
    if probe(&ro) {
        return Some(ro);
    }
    let sys = Path::new("/sys");
    (sys.is_dir() && probe(sys)).then(|| sys.to_path_buf())
}

#[tokio::test]
async fn unwritable_locations_give_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    match unwritable_dir(dir.path()) {
        Some(ro) => {
            let path = ro.join("cert.db");
            let err = SqliteManagementStore::open(&path)
                .await
                .expect_err("must fail");
            let msg = err.to_string();
            eprintln!("failed as expected: {msg}");
            assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
            assert!(
                msg.contains(&path.display().to_string()),
                "names the file: {msg}"
            );
            assert!(msg.contains("writable"), "says what to check: {msg}");
            assert!(!path.exists());
        }
        None => eprintln!("no unwritable directory available; skipping that part"),
    }
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let err = SqliteManagementStore::open(file.join("cert.db"))
        .await
        .expect_err("parent is a file");
    assert!(
        err.to_string().contains("cannot create the directory"),
        "{err}"
    );
    let err = SqliteManagementStore::open(dir.path())
        .await
        .expect_err("a directory");
    assert!(err.to_string().contains("is a directory"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    let _ = std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755));
}

/// `cert.db` holds password and token hashes: owner-only whatever the umask,
/// with the directory created for it, and tightened when an older version
/// left it readable.
#[cfg(unix)]
#[tokio::test]
async fn cert_db_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("cert.db");
    let store = SqliteManagementStore::open(&path).await.expect("open");
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&path), 0o600);
    let wal = dir.path().join("data").join("cert.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let _store = SqliteManagementStore::open(&path).await.expect("reopen");
    assert_eq!(mode(&path), 0o600);
}

/// The spec's "SQLite 常用命令" work on the file, including a hand-made row
/// stamped in seconds and a `DELETE` in a shell where foreign keys are off.
#[tokio::test]
async fn spec_shell_commands_work_on_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.db");
    let store = open_in(dir.path()).await;
    store
        .create_user("admin", "h", oxmon_core::manage::Role::Admin, T0)
        .await
        .expect("user");
    let shell = raw(&path);
    shell
        .execute_batch(
            "SELECT id, username, created_at FROM users LIMIT 20;
             INSERT INTO cert_domains (id, domain, port, enabled, created_at, updated_at)
             VALUES ('manual-001', 'example.com', 443, 1, strftime('%s','now'), strftime('%s','now'));",
        )
        .expect("spec insert");
    let (created_s, _): (i64, i64) = shell
        .query_row(
            "SELECT created_at, updated_at FROM cert_domains WHERE id = 'manual-001'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("select");
    let manual = store
        .get_domain("manual-001")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        manual.created_at_ms,
        created_s * 1000,
        "seconds are read as seconds"
    );
    assert!(manual.enabled);
    assert_eq!((manual.port, manual.check_interval_secs), (443, None));
    let page = store
        .list_domains(&DomainFilter::default())
        .await
        .expect("list");
    assert_eq!(page.total, 1);

    let result = CertCheckResult {
        domain_id: "manual-001".into(),
        domain: "example.com".into(),
        port: 443,
        checked_at_ms: T0,
        is_valid: true,
        days_until_expiry: Some(1.0),
        not_after_ms: None,
        error: None,
    };
    store.record_check_result(&result).await.expect("result");
    store
        .upsert_details(&full_details("example.com", 443, 1))
        .await
        .expect("details");
    shell
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             UPDATE cert_domains SET enabled = 0, updated_at = strftime('%s','now') WHERE id = 'manual-001';",
        )
        .expect("spec update");
    let updated = store
        .get_domain("manual-001")
        .await
        .expect("get")
        .expect("row");
    assert!(!updated.enabled);
    shell
        .execute("DELETE FROM cert_domains WHERE id = 'manual-001'", [])
        .expect("spec delete");
    let count = |table: &str| -> i64 {
        shell
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    };
    assert_eq!(
        count("cert_check_results"),
        0,
        "trigger removed the results"
    );
    assert_eq!(
        count("certificate_details"),
        0,
        "trigger removed the details"
    );
    let bad = shell.execute(
        "INSERT INTO cert_domains (domain, port, created_at, updated_at) VALUES ('x.com', 0, 0, 0)",
        [],
    );
    assert!(bad.is_err(), "CHECK constraints hold in the shell too");
}

#[tokio::test]
async fn concurrent_password_changes_get_distinct_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_in(dir.path()).await;
    let user = store
        .create_user("admin", "h", oxmon_core::manage::Role::Admin, T0)
        .await
        .expect("user");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .set_password_hash(user.id, &format!("h{i}"), T0 + i)
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.expect("join").expect("set"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<u64>>());
}

#[test]
fn sqlite_failures_map_to_retryable_or_permanent() {
    let failure = |code| {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("detail".into()))
    };
    for code in [
        rusqlite::ffi::SQLITE_FULL,
        rusqlite::ffi::SQLITE_READONLY,
        rusqlite::ffi::SQLITE_CANTOPEN,
        rusqlite::ffi::SQLITE_BUSY,
        rusqlite::ffi::SQLITE_LOCKED,
    ] {
        let e = db_err("write", failure(code));
        assert!(e.is_retryable(), "code {code}: {e:?}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "the SQLite error travels as the source"
        );
        assert!(e.to_string().contains("write"), "{e}");
    }
    for code in [rusqlite::ffi::SQLITE_CORRUPT, rusqlite::ffi::SQLITE_NOTADB] {
        assert!(
            matches!(db_err("read", failure(code)), Error::Storage { .. }),
            "code {code}"
        );
    }
    let unique = failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE);
    assert!(is_unique_violation(&unique));
    assert!(!is_unique_violation(&failure(
        rusqlite::ffi::SQLITE_CONSTRAINT_CHECK
    )));
}

#[tokio::test]
async fn a_version_2_file_gains_the_later_tables_and_keeps_its_data() {
    use oxmon_core::manage::{DefinitionKind, DefinitionStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.db");
    let store = open_in(dir.path()).await;
    store.add_agent("kept", "h", None, T0).await.expect("add");
    drop(store);
    // What an oxmon of schema version 2 left behind.
    let conn = raw(&path);
    conn.execute_batch(
        "DROP TABLE channels; DROP TABLE silence_windows; DROP TABLE settings; DROP TABLE alert_rules; DROP TABLE api_tokens; DROP TABLE audit_log; DROP TABLE silences; \
         ALTER TABLE users DROP COLUMN role; \
         ALTER TABLE users DROP COLUMN disabled; PRAGMA user_version = 2;",
    )
    .expect("downgrade");
    conn.execute(
        "INSERT INTO users (username, password_hash, token_version, created_at, updated_at) \
         VALUES ('old-admin', 'h', 0, 1, 1)",
        [],
    )
    .expect("a user of version 2");
    drop(conn);
    let store = open_in(dir.path()).await;
    assert!(store.get_agent("kept").await.expect("get").is_some());
    let old = store
        .user_by_username("old-admin")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (old.role, old.disabled),
        (oxmon_core::manage::Role::Admin, false),
        "users before roles were administrators and stay so"
    );
    let table: toml::Table = "name = \"r\"".parse().expect("toml");
    for kind in DefinitionKind::ALL {
        assert!(store.list_definitions(kind).await.expect("list").is_empty());
        store
            .create_definition(kind, "r", &table, T0)
            .await
            .expect("create");
    }
    drop(store);
    assert_eq!(
        pragma(&raw(&path), "user_version"),
        format!("Integer({SCHEMA_VERSION})")
    );
    let store = open_in(dir.path()).await;
    for kind in DefinitionKind::ALL {
        assert_eq!(
            store.list_definitions(kind).await.expect("list")[0].definition,
            table
        );
    }
}
