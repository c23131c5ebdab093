//! `silences`: ad-hoc silences, expired ones kept.

use async_trait::async_trait;
use oxmon_core::manage::{NewSilence, Silence, SilenceMatchers, SilenceStore};
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteManagementStore, db_err, in_tx};

const COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, created_at";

fn silence_from_row(row: &Row<'_>) -> rusqlite::Result<Silence> {
    let id: i64 = row.get(0)?;
    let text: String = row.get(1)?;
    let matchers: SilenceMatchers = serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, e.into()))?;
    Ok(Silence {
        id: id.to_string(),
        matchers,
        starts_at_ms: row.get(2)?,
        ends_at_ms: row.get(3)?,
        created_by: row.get(4)?,
        comment: row.get(5)?,
        created_at_ms: row.get(6)?,
    })
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no silence {:?}", id.escape_debug()))
}

#[async_trait]
impl SilenceStore for SqliteManagementStore {
    async fn create_silence(&self, silence: &NewSilence, now_ms: i64) -> Result<Silence> {
        silence.validate()?;
        let s = silence.clone();
        let matchers = serde_json::to_string(&s.matchers)
            .map_err(|e| Error::storage_from(format!("silence matchers: {e}"), e))?;
        self.call(move |conn| {
            in_tx(conn, "create silence", |tx| {
                let sql = format!(
                    "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, \
                     created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut st| {
                        st.query_row(
                            params![
                                matchers,
                                s.starts_at_ms,
                                s.ends_at_ms,
                                s.created_by,
                                s.comment,
                                now_ms
                            ],
                            silence_from_row,
                        )
                    })
                    .map_err(|e| db_err("create silence", e))
            })
        })
        .await
    }

    async fn list_silences(&self) -> Result<Vec<Silence>> {
        self.call(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM silences ORDER BY id DESC");
            conn.prepare_cached(&sql)
                .and_then(|mut st| st.query_map([], silence_from_row)?.collect())
                .map_err(|e| db_err("list silences", e))
        })
        .await
    }

    async fn active_silences(&self, now_ms: i64) -> Result<Vec<Silence>> {
        self.call(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM silences WHERE ends_at > ?1 AND starts_at <= ?1 \
                 ORDER BY id DESC"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut st| st.query_map([now_ms], silence_from_row)?.collect())
                .map_err(|e| db_err("read the active silences", e))
        })
        .await
    }

    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Silence> {
        let Ok(row) = id.parse::<i64>() else {
            return Err(not_found(id));
        };
        let id = id.to_owned();
        self.call(move |conn| {
            in_tx(conn, "expire silence", |tx| {
                let sql = format!(
                    "UPDATE silences SET ends_at = min(ends_at, ?2) WHERE id = ?1 \
                     RETURNING {COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut st| {
                        st.query_row(params![row, now_ms], silence_from_row)
                            .optional()
                    })
                    .map_err(|e| db_err("expire silence", e))?
                    .ok_or_else(|| not_found(&id))
            })
        })
        .await
    }
}
