//! `alert_rules`: the alert rules made through the API.

use async_trait::async_trait;
use oxmon_core::manage::{RuleStore, StoredRule};
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, Row, params};

use super::{SqliteManagementStore, db_err, in_tx, write_err};

const RULE_COLUMNS: &str = "id, name, definition, created_at, updated_at";

fn rule_from_row(row: &Row<'_>) -> rusqlite::Result<StoredRule> {
    let id: i64 = row.get(0)?;
    let text: String = row.get(2)?;
    let definition = text
        .parse::<toml::Table>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, e.into()))?;
    Ok(StoredRule {
        id: id.to_string(),
        name: row.get(1)?,
        definition,
        created_at_ms: row.get(3)?,
        updated_at_ms: row.get(4)?,
    })
}

/// The row id of `id`, or `NotFound` for anything that is not one.
fn row_id(id: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no rule `{}`", id.escape_debug()))
}

fn conflict(name: &str) -> Error {
    Error::Conflict(format!("a rule named `{}` exists", name.escape_debug()))
}

/// The rules stored in the management database at `path`, read without
/// changing the file (no migration, no write): for `--check-config`. None
/// when there is no file, or it predates stored rules.
///
/// # Errors
/// The file cannot be read as a database.
pub fn read_stored_rules(path: &Path) -> Result<Vec<StoredRule>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let context = format!("reading the stored alert rules of {}", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_err(&context, e))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'alert_rules'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| db_err(&context, e))?;
    if tables == 0 {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id");
    conn.prepare(&sql)
        .and_then(|mut s| s.query_map([], rule_from_row)?.collect())
        .map_err(|e| db_err(&context, e))
}

#[async_trait]
impl RuleStore for SqliteManagementStore {
    async fn list_rules(&self) -> Result<Vec<StoredRule>> {
        self.call(|conn| {
            let sql = format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([], rule_from_row)?.collect())
                .map_err(|e| db_err("list rules", e))
        })
        .await
    }

    async fn create_rule(
        &self,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredRule> {
        let (name, text) = (name.to_owned(), definition.to_string());
        self.call(move |conn| {
            in_tx(conn, "create rule", |tx| {
                let sql = format!(
                    "INSERT INTO alert_rules (name, definition, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?3) RETURNING {RULE_COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![name, text, now_ms], rule_from_row))
                    .map_err(|e| write_err("create rule", e, || conflict(&name)))
            })
        })
        .await
    }

    async fn update_rule(
        &self,
        id: &str,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredRule> {
        let row = row_id(id)?;
        let (id, name, text) = (id.to_owned(), name.to_owned(), definition.to_string());
        self.call(move |conn| {
            in_tx(conn, "update rule", |tx| {
                let sql = format!(
                    "UPDATE alert_rules SET name = ?2, definition = ?3, updated_at = ?4 \
                     WHERE id = ?1 RETURNING {RULE_COLUMNS}"
                );
                match tx
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![row, name, text, now_ms], rule_from_row))
                {
                    Ok(rule) => Ok(rule),
                    Err(rusqlite::Error::QueryReturnedNoRows) => Err(not_found(&id)),
                    Err(e) => Err(write_err("update rule", e, || conflict(&name))),
                }
            })
        })
        .await
    }

    async fn delete_rule(&self, id: &str) -> Result<()> {
        let row = row_id(id)?;
        let id = id.to_owned();
        self.call(move |conn| {
            in_tx(conn, "delete rule", |tx| {
                let n = tx
                    .execute("DELETE FROM alert_rules WHERE id = ?1", [row])
                    .map_err(|e| db_err("delete rule", e))?;
                if n == 0 {
                    return Err(not_found(&id));
                }
                Ok(())
            })
        })
        .await
    }
}
