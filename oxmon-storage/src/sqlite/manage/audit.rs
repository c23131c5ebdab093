//! `audit_log`: every change made through the management API.

use async_trait::async_trait;
use oxmon_core::manage::{AuditLog, AuditPage, AuditQuery, AuditRecord};
use oxmon_core::{Error, Result};
use rusqlite::params;

use super::{SqliteManagementStore, db_err};

fn to_text(v: Option<&serde_json::Value>) -> Option<String> {
    v.map(serde_json::Value::to_string)
}

fn from_text(idx: usize, text: Option<String>) -> Result<Option<serde_json::Value>> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| Error::storage_from(format!("audit_log column {idx}: {e}"), e))
    })
    .transpose()
}

#[async_trait]
impl AuditLog for SqliteManagementStore {
    async fn record(&self, record: &AuditRecord) -> Result<()> {
        let r = record.clone();
        self.call(move |conn| {
            conn.prepare_cached(
                "INSERT INTO audit_log (at, actor, action, target, before, after) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    r.at_ms,
                    r.actor,
                    r.action,
                    r.target,
                    to_text(r.before.as_ref()),
                    to_text(r.after.as_ref())
                ])
            })
            .map_err(|e| db_err("recording a change in the audit log", e))?;
            Ok(())
        })
        .await
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage> {
        let q = query.clone();
        self.call(move |conn| {
            const FILTER: &str = "(?1 IS NULL OR actor = ?1) \
                 AND (?2 IS NULL OR substr(action, 1, length(?2)) = ?2) \
                 AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4)";
            let context = "reading the audit log";
            let total: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM audit_log WHERE {FILTER}"))
                .and_then(|mut st| {
                    st.query_row(params![q.actor, q.action, q.from_ms, q.to_ms], |r| r.get(0))
                })
                .map_err(|e| db_err(context, e))?;
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT at, actor, action, target, before, after FROM audit_log \
                     WHERE {FILTER} ORDER BY at DESC, id DESC LIMIT ?5 OFFSET ?6"
                ))
                .map_err(|e| db_err(context, e))?;
            let rows = st
                .query_map(
                    params![q.actor, q.action, q.from_ms, q.to_ms, limit, offset],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .map_err(|e| db_err(context, e))?;
            let mut records = Vec::new();
            for row in rows {
                let (at_ms, actor, action, target, before, after) =
                    row.map_err(|e| db_err(context, e))?;
                records.push(AuditRecord {
                    at_ms,
                    actor,
                    action,
                    target,
                    before: from_text(4, before)?,
                    after: from_text(5, after)?,
                });
            }
            Ok(AuditPage {
                total: u64::try_from(total).unwrap_or(0),
                records,
            })
        })
        .await
    }
}
