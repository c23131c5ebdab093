//! The notification history in `cert.db` (schema version 2).

use async_trait::async_trait;
use oxmon_core::notify_history::{
    DeliveryPage, DeliveryQuery, DeliveryRecord, DeliveryStatus, NotificationHistory,
};
use oxmon_core::{Error, Result};
use rusqlite::params;

use super::{SqliteManagementStore, db_err};

#[async_trait]
impl NotificationHistory for SqliteManagementStore {
    async fn record(&self, record: DeliveryRecord) -> Result<()> {
        self.call(move |conn| {
            let ids = serde_json::to_string(&record.event_ids)
                .map_err(|e| Error::InvalidInput(format!("event ids: {e}")))?;
            conn.execute(
                "INSERT INTO notification_history
                 (channel, event_ids, status, error, attempt, duration_ms, attempted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    record.channel,
                    ids,
                    record.status.as_str(),
                    record.error,
                    record.attempt,
                    i64::try_from(record.duration_ms).unwrap_or(i64::MAX),
                    record.attempted_at_ms,
                ],
            )
            .map_err(|e| db_err("recording a notification attempt", e))?;
            Ok(())
        })
        .await
    }

    async fn query(&self, query: &DeliveryQuery) -> Result<DeliveryPage> {
        let q = query.clone();
        self.call(move |conn| {
            const FILTER: &str = "(?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR attempted_at >= ?3) AND (?4 IS NULL OR attempted_at <= ?4)";
            let context = "reading the notification history";
            let status = q.status.map(DeliveryStatus::as_str);
            let total: i64 = conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM notification_history WHERE {FILTER}"
                ))
                .and_then(|mut st| {
                    st.query_row(params![q.channel, status, q.from_ms, q.to_ms], |r| r.get(0))
                })
                .map_err(|e| db_err(context, e))?;
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT channel, event_ids, status, error, attempt, duration_ms, attempted_at
                     FROM notification_history WHERE {FILTER}
                     ORDER BY attempted_at DESC, id DESC LIMIT ?5 OFFSET ?6"
                ))
                .map_err(|e| db_err(context, e))?;
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
            let rows = st
                .query_map(
                    params![q.channel, status, q.from_ms, q.to_ms, limit, offset],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, u32>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    },
                )
                .map_err(|e| db_err(context, e))?;
            let mut records = Vec::new();
            for row in rows {
                let (channel, ids, status, error, attempt, duration, at) =
                    row.map_err(|e| db_err(context, e))?;
                records.push(DeliveryRecord {
                    channel,
                    event_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    status: DeliveryStatus::parse(&status).ok_or_else(|| {
                        Error::storage(format!("notification_history: unknown status `{status}`"))
                    })?,
                    error,
                    attempt,
                    duration_ms: u64::try_from(duration).unwrap_or(0),
                    attempted_at_ms: at,
                });
            }
            Ok(DeliveryPage {
                total: u64::try_from(total).unwrap_or(0),
                records,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::notify_history::MemoryHistory;

    use super::*;

    fn rec(channel: &str, at: i64, status: DeliveryStatus) -> DeliveryRecord {
        DeliveryRecord {
            channel: channel.into(),
            event_ids: vec![format!("ev-{at}"), "ev-x".into()],
            status,
            error: (status == DeliveryStatus::Failed).then(|| "HTTP 500 \"boom\"".to_owned()),
            attempt: 3,
            duration_ms: 12,
            attempted_at_ms: at,
        }
    }

    /// What every history must do; the in-memory one is the reference.
    async fn check(h: &dyn NotificationHistory) {
        for (i, s) in [
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::Silenced,
            DeliveryStatus::Retrying,
            DeliveryStatus::Deferred,
        ]
        .into_iter()
        .enumerate()
        {
            h.record(rec("ops", 1_000 + i as i64, s)).await.unwrap();
        }
        let recent = h.recent(3).await.unwrap();
        assert_eq!(
            recent.iter().map(|r| r.attempted_at_ms).collect::<Vec<_>>(),
            [1_004, 1_003, 1_002],
            "newest first, limited"
        );
        assert_eq!(
            recent[2],
            rec("ops", 1_002, DeliveryStatus::Silenced),
            "every field round-trips"
        );
        let all = h.recent(100).await.unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[3].error.as_deref(), Some("HTTP 500 \"boom\""));

        // Filters and paging.
        h.record(rec("mail", 1_010, DeliveryStatus::Failed))
            .await
            .unwrap();
        let q = |f: fn(&mut DeliveryQuery)| {
            let mut q = DeliveryQuery::default();
            f(&mut q);
            q
        };
        let times = |p: &DeliveryPage| {
            p.records
                .iter()
                .map(|r| r.attempted_at_ms)
                .collect::<Vec<_>>()
        };
        let failed = h
            .query(&q(|q| q.status = Some(DeliveryStatus::Failed)))
            .await
            .unwrap();
        assert_eq!((failed.total, times(&failed)), (2, vec![1_010, 1_001]));
        let mail = h
            .query(&q(|q| q.channel = Some("mail".into())))
            .await
            .unwrap();
        assert_eq!((mail.total, times(&mail)), (1, vec![1_010]));
        let window = h
            .query(&q(|q| {
                q.from_ms = Some(1_001);
                q.to_ms = Some(1_003);
            }))
            .await
            .unwrap();
        assert_eq!(
            (window.total, times(&window)),
            (3, vec![1_003, 1_002, 1_001])
        );
        let page = h
            .query(&q(|q| {
                q.limit = 2;
                q.offset = 1;
            }))
            .await
            .unwrap();
        assert_eq!((page.total, times(&page)), (6, vec![1_004, 1_003]));
        let none = h
            .query(&q(|q| q.channel = Some("nobody".into())))
            .await
            .unwrap();
        assert_eq!((none.total, none.records.len()), (0, 0));
    }

    #[tokio::test]
    async fn sqlite_history_behaves_like_the_memory_history() {
        check(&MemoryHistory::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteManagementStore::open(dir.path().join("cert.db"))
            .await
            .unwrap();
        check(&store).await;
        drop(store);
        let again = SqliteManagementStore::open(dir.path().join("cert.db"))
            .await
            .unwrap();
        assert_eq!(
            again.recent(10).await.unwrap().len(),
            6,
            "the history survives a restart"
        );
    }

    #[tokio::test]
    async fn a_version_1_file_is_migrated_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.db");
        {
            let store = SqliteManagementStore::open(&path).await.unwrap();
            oxmon_core::manage::WhitelistStore::add_agent(&store, "web-1", "hash", None, 1)
                .await
                .unwrap();
        }
        // Turn it back into a version 1 file.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE notification_history; DROP TABLE channels; DROP TABLE silence_windows; DROP TABLE settings; DROP TABLE alert_rules; DROP TABLE api_tokens; DROP TABLE audit_log; DROP TABLE silences; ALTER TABLE users DROP COLUMN role; ALTER TABLE users DROP COLUMN disabled; PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);
        let store = SqliteManagementStore::open(&path).await.unwrap();
        store
            .record(rec("ops", 5, DeliveryStatus::Sent))
            .await
            .unwrap();
        assert_eq!(
            store.recent(1).await.unwrap().len(),
            1,
            "the migration created the table"
        );
        assert!(
            oxmon_core::manage::WhitelistStore::get_agent(&store, "web-1")
                .await
                .unwrap()
                .is_some(),
            "data kept"
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            v,
            super::super::schema::SCHEMA_VERSION,
            "migrated to the newest version"
        );
    }
}
