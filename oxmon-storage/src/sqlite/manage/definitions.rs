//! `alert_rules`, `channels` and `silence_windows`: the rules, notification
//! channels and recurring silence windows made through the API, one table
//! per kind of the same shape.

use std::path::Path;

use async_trait::async_trait;
use oxmon_core::manage::{DefinitionKind, DefinitionStore, StoredDefinition};
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row, params};

use super::{SqliteManagementStore, db_err, in_tx, write_err};

const COLUMNS: &str = "id, name, definition, created_at, updated_at";

/// The table a kind lives in.
fn table(kind: DefinitionKind) -> &'static str {
    match kind {
        DefinitionKind::Rule => "alert_rules",
        DefinitionKind::Channel => "channels",
        DefinitionKind::SilenceWindow => "silence_windows",
        DefinitionKind::Setting => "settings",
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredDefinition> {
    let id: i64 = row.get(0)?;
    let text: String = row.get(2)?;
    let definition = text
        .parse::<toml::Table>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, e.into()))?;
    Ok(StoredDefinition {
        id: id.to_string(),
        name: row.get(1)?,
        definition,
        created_at_ms: row.get(3)?,
        updated_at_ms: row.get(4)?,
    })
}

/// The row id of `id`, or `NotFound` for anything that is not one.
fn row_id(kind: DefinitionKind, id: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(kind, id))
}

fn not_found(kind: DefinitionKind, id: &str) -> Error {
    Error::NotFound(format!("no {} `{}`", kind.noun(), id.escape_debug()))
}

fn conflict(kind: DefinitionKind, name: &str) -> Error {
    Error::Conflict(format!(
        "a {} named `{}` exists",
        kind.noun(),
        name.escape_debug()
    ))
}

/// The definitions of `kind` stored in the management database at `path`,
/// read without changing the file (no migration, no write): for
/// `--check-config`. Empty when there is no file, or it predates them.
///
/// # Errors
/// The file cannot be read as a database.
pub fn read_stored_definitions(path: &Path, kind: DefinitionKind) -> Result<Vec<StoredDefinition>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let context = format!("reading the stored {}s of {}", kind.noun(), path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_err(&context, e))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table(kind)],
            |r| r.get(0),
        )
        .map_err(|e| db_err(&context, e))?;
    if tables == 0 {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM {} ORDER BY id", table(kind));
    conn.prepare(&sql)
        .and_then(|mut s| s.query_map([], from_row)?.collect())
        .map_err(|e| db_err(&context, e))
}

#[async_trait]
impl DefinitionStore for SqliteManagementStore {
    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<StoredDefinition>> {
        self.call(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM {} ORDER BY id", table(kind));
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([], from_row)?.collect())
                .map_err(|e| db_err(&format!("list {}s", kind.noun()), e))
        })
        .await
    }

    async fn create_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition> {
        let (name, text) = (name.to_owned(), definition.to_string());
        self.call(move |conn| {
            let context = format!("create {}", kind.noun());
            in_tx(conn, &context, |tx| {
                let sql = format!(
                    "INSERT INTO {} (name, definition, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?3) RETURNING {COLUMNS}",
                    table(kind)
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![name, text, now_ms], from_row))
                    .map_err(|e| write_err(&context, e, || conflict(kind, &name)))
            })
        })
        .await
    }

    async fn update_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition> {
        let row = row_id(kind, id)?;
        let (id, name, text) = (id.to_owned(), name.to_owned(), definition.to_string());
        self.call(move |conn| {
            let context = format!("update {}", kind.noun());
            in_tx(conn, &context, |tx| {
                let sql = format!(
                    "UPDATE {} SET name = ?2, definition = ?3, updated_at = ?4 \
                     WHERE id = ?1 RETURNING {COLUMNS}",
                    table(kind)
                );
                match tx
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![row, name, text, now_ms], from_row))
                {
                    Ok(found) => Ok(found),
                    Err(rusqlite::Error::QueryReturnedNoRows) => Err(not_found(kind, &id)),
                    Err(e) => Err(write_err(&context, e, || conflict(kind, &name))),
                }
            })
        })
        .await
    }

    async fn delete_definition(&self, kind: DefinitionKind, id: &str) -> Result<()> {
        let row = row_id(kind, id)?;
        let id = id.to_owned();
        self.call(move |conn| {
            let context = format!("delete {}", kind.noun());
            in_tx(conn, &context, |tx| {
                let n = tx
                    .execute(&format!("DELETE FROM {} WHERE id = ?1", table(kind)), [row])
                    .map_err(|e| db_err(&context, e))?;
                if n == 0 {
                    return Err(not_found(kind, &id));
                }
                Ok(())
            })
        })
        .await
    }
}
