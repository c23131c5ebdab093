//! `users` and `agent_whitelist`.

use async_trait::async_trait;
use oxmon_core::manage::{
    ApiToken, MAX_TOKENS_PER_USER, NewApiToken, Role, User, UserStore, UserUpdate, WhitelistEntry,
    WhitelistStore, check_admin_remains, validate_hash, validate_username,
};
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use std::sync::Arc;

use super::{SqliteManagementStore, db_err, get_u64, in_tx, write_err};

const USER_COLUMNS: &str =
    "id, username, password_hash, token_version, role, disabled, created_at, updated_at";
const AGENT_COLUMNS: &str = "agent_id, token_hash, description, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        token_version: get_u64(row, 3)?,
        role: role_at(row, 4)?,
        disabled: row.get(5)?,
        created_at_ms: row.get(6)?,
        updated_at_ms: row.get(7)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, name, user_id, role, token_hash, created_at, expires_at, last_used";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let id: i64 = row.get(0)?;
    Ok(ApiToken {
        id: id.to_string(),
        name: row.get(1)?,
        user_id: row.get(2)?,
        role: role_at(row, 3)?,
        token_hash: row.get(4)?,
        created_at_ms: row.get(5)?,
        expires_at_ms: row.get(6)?,
        last_used_ms: row.get(7)?,
    })
}

fn role_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let text: String = row.get(idx)?;
    text.parse::<Role>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into()))
}

/// Every user, by id, in the transaction.
fn all_users(tx: &rusqlite::Transaction<'_>) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    tx.prepare_cached(&sql)
        .and_then(|mut s| s.query_map([], user_from_row)?.collect())
        .map_err(|e| db_err("read users", e))
}

fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<WhitelistEntry> {
    Ok(WhitelistEntry {
        agent_id: row.get(0)?,
        token_hash: row.get(1)?,
        description: row.get(2)?,
        created_at_ms: row.get(3)?,
        updated_at_ms: row.get(4)?,
    })
}

fn agent_not_found(agent_id: &str) -> Error {
    Error::NotFound(format!("agent {agent_id:?} is not whitelisted"))
}

#[async_trait]
impl UserStore for SqliteManagementStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<User> {
        validate_username(username)?;
        validate_hash("password hash", password_hash)?;
        let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
        self.call(move |conn| {
            in_tx(conn, "create user", |tx| {
                let sql = format!(
                    "INSERT INTO users (username, password_hash, token_version, role, disabled, \
                 created_at, updated_at) VALUES (?1, ?2, 0, ?3, 0, ?4, ?4) RETURNING {USER_COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.query_row(
                            params![username, password_hash, role.as_str(), now_ms],
                            user_from_row,
                        )
                    })
                    .map_err(|e| {
                        write_err("create user", e, || {
                            Error::Conflict(format!("user {username:?} already exists"))
                        })
                    })
            })
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_owned();
        self.call(move |conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([username], user_from_row).optional())
                .map_err(|e| db_err("read user", e))
        })
        .await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.call(move |conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([id], user_from_row).optional())
                .map_err(|e| db_err("read user", e))
        })
        .await
    }

    async fn set_password_hash(&self, id: i64, password_hash: &str, now_ms: i64) -> Result<u64> {
        validate_hash("password hash", password_hash)?;
        let password_hash = password_hash.to_owned();
        self.call(move |conn| {
            in_tx(conn, "change password", |tx| {
                // One statement: the hash and the version change together or not at all.
                tx.prepare_cached(
                    "UPDATE users SET password_hash = ?2, token_version = token_version + 1, \
                 updated_at = ?3 WHERE id = ?1 RETURNING token_version",
                )
                .and_then(|mut s| {
                    s.query_row(params![id, password_hash, now_ms], |r| get_u64(r, 0))
                        .optional()
                })
                .map_err(|e| db_err("change password", e))?
                .ok_or_else(|| Error::NotFound(format!("user {id}")))
            })
        })
        .await
    }

    async fn count_users(&self) -> Result<u64> {
        self.call(|conn| {
            conn.query_row("SELECT count(*) FROM users", [], |r| get_u64(r, 0))
                .map_err(|e| db_err("count users", e))
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.call(|conn| in_tx(conn, "list users", all_users)).await
    }

    async fn update_user(&self, id: i64, update: &UserUpdate, now_ms: i64) -> Result<User> {
        let update = update.clone();
        self.call(move |conn| {
            in_tx(conn, "update user", |tx| {
                let users = all_users(tx)?;
                let user = users
                    .iter()
                    .find(|u| u.id == id)
                    .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
                let next = update.applied(user, now_ms);
                check_admin_remains(&users, id, Some(&next))?;
                tx.execute(
                    "UPDATE users SET role = ?2, disabled = ?3, updated_at = ?4 WHERE id = ?1",
                    params![id, next.role.as_str(), next.disabled, now_ms],
                )
                .map_err(|e| db_err("update user", e))?;
                Ok(next)
            })
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            in_tx(conn, "delete user", |tx| {
                let users = all_users(tx)?;
                if !users.iter().any(|u| u.id == id) {
                    return Err(Error::NotFound(format!("user {id}")));
                }
                check_admin_remains(&users, id, None)?;
                // Its tokens go with it (ON DELETE CASCADE).
                tx.execute("DELETE FROM users WHERE id = ?1", [id])
                    .map_err(|e| db_err("delete user", e))?;
                Ok(())
            })
        })
        .await
    }

    async fn create_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken> {
        token.validate()?;
        let token = token.clone();
        self.call(move |conn| {
            in_tx(conn, "create token", |tx| {
                let held: i64 = tx
                    .query_row(
                        "SELECT count(*) FROM api_tokens WHERE user_id = ?1",
                        [token.user_id],
                        |r| r.get(0),
                    )
                    .map_err(|e| db_err("create token", e))?;
                if usize::try_from(held).unwrap_or(usize::MAX) >= MAX_TOKENS_PER_USER {
                    return Err(Error::ResourceExhausted(format!(
                        "a user holds at most {MAX_TOKENS_PER_USER} API tokens; revoke one first"
                    )));
                }
                let sql = format!(
                    "INSERT INTO api_tokens (name, user_id, role, token_hash, created_at, \
                     expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {TOKEN_COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.query_row(
                            params![
                                token.name,
                                token.user_id,
                                token.role.as_str(),
                                token.token_hash,
                                now_ms,
                                token.expires_at_ms
                            ],
                            token_from_row,
                        )
                    })
                    .map_err(|e| match &e {
                        rusqlite::Error::SqliteFailure(f, _)
                            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                        {
                            Error::NotFound(format!("user {}", token.user_id))
                        }
                        _ => write_err("create token", e, || {
                            Error::Conflict("that token exists".into())
                        }),
                    })
            })
        })
        .await
    }

    async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
        self.call(move |conn| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ?1 IS NULL OR user_id = ?1 \
                 ORDER BY id"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([user_id], token_from_row)?.collect())
                .map_err(|e| db_err("list tokens", e))
        })
        .await
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let token_hash = token_hash.to_owned();
        self.call(move |conn| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?1");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([token_hash], token_from_row).optional())
                .map_err(|e| db_err("read token", e))
        })
        .await
    }

    async fn touch_token(&self, id: &str, now_ms: i64) -> Result<()> {
        let id = id.to_owned();
        self.call(move |conn| {
            let n = conn
                .execute(
                    "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1",
                    params![id, now_ms],
                )
                .map_err(|e| db_err("record token use", e))?;
            if n == 0 {
                return Err(Error::NotFound(format!("no token {id:?}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_token(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.call(move |conn| {
            let n = conn
                .execute("DELETE FROM api_tokens WHERE id = ?1", [&id])
                .map_err(|e| db_err("revoke token", e))?;
            if n == 0 {
                return Err(Error::NotFound(format!("no token {id:?}")));
            }
            Ok(())
        })
        .await
    }
}

impl SqliteManagementStore {
    /// Runs an `UPDATE agent_whitelist ... WHERE agent_id = ?1 RETURNING` statement.
    async fn update_agent(
        &self,
        agent_id: &str,
        set: &'static str,
        value: Option<String>,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        let agent_id = agent_id.to_owned();
        let inner = Arc::clone(&self.inner);
        self.call(move |conn| {
            let updated = in_tx(conn, "update whitelist entry", |tx| {
                let sql = format!(
                    "UPDATE agent_whitelist SET {set} = ?2, updated_at = ?3 WHERE agent_id = ?1 \
                 RETURNING {AGENT_COLUMNS}"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.query_row(params![agent_id, value, now_ms], agent_from_row)
                            .optional()
                    })
                    .map_err(|e| db_err("update whitelist entry", e))?
                    .ok_or_else(|| agent_not_found(&agent_id))
            });
            match &updated {
                Ok(entry) => inner.cache_agent(&agent_id, Some(entry)),
                // Unknown now, or the outcome is unsure: read the row next time.
                Err(_) => inner.cache_agent(&agent_id, None),
            }
            updated
        })
        .await
    }
}

#[async_trait]
impl WhitelistStore for SqliteManagementStore {
    async fn add_agent(
        &self,
        agent_id: &str,
        token_hash: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        oxmon_core::manage::validate_whitelist_agent_id(agent_id)?;
        validate_hash("token hash", token_hash)?;
        let entry = WhitelistEntry {
            agent_id: agent_id.to_owned(),
            token_hash: token_hash.to_owned(),
            description: description.map(str::to_owned),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        let inner = Arc::clone(&self.inner);
        self.call(move |conn| {
            conn.prepare_cached(
                "INSERT INTO agent_whitelist (agent_id, token_hash, description, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.agent_id,
                    entry.token_hash,
                    entry.description,
                    now_ms
                ])
            })
            .map_err(|e| {
                write_err("whitelist agent", e, || {
                    Error::Conflict(format!("agent {:?} is already whitelisted", entry.agent_id))
                })
            })?;
            inner.cache_agent(&entry.agent_id, Some(&entry));
            Ok(entry)
        })
        .await
    }

    async fn get_agent(&self, agent_id: &str) -> Result<Option<WhitelistEntry>> {
        if let Some(entry) = self.inner.cached_agent(agent_id) {
            return Ok(Some(entry));
        }
        let agent_id = agent_id.to_owned();
        let inner = Arc::clone(&self.inner);
        self.call(move |conn| {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agent_whitelist WHERE agent_id = ?1");
            let entry = conn
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row([&agent_id], agent_from_row).optional())
                .map_err(|e| db_err("read whitelist entry", e))?;
            inner.cache_agent(&agent_id, entry.as_ref());
            Ok(entry)
        })
        .await
    }

    async fn list_agents(&self) -> Result<Vec<WhitelistEntry>> {
        self.call(|conn| {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agent_whitelist ORDER BY agent_id");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([], agent_from_row)?.collect())
                .map_err(|e| db_err("list whitelist", e))
        })
        .await
    }

    async fn update_agent_description(
        &self,
        agent_id: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        let description = description.map(str::to_owned);
        self.update_agent(agent_id, "description", description, now_ms)
            .await
    }

    async fn replace_agent_token_hash(
        &self,
        agent_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        validate_hash("token hash", token_hash)?;
        let token_hash = Some(token_hash.to_owned());
        self.update_agent(agent_id, "token_hash", token_hash, now_ms)
            .await
    }

    async fn delete_agent(&self, agent_id: &str) -> Result<()> {
        let agent_id = agent_id.to_owned();
        let inner = Arc::clone(&self.inner);
        self.call(move |conn| {
            inner.cache_agent(&agent_id, None);
            let deleted = conn
                .prepare_cached("DELETE FROM agent_whitelist WHERE agent_id = ?1")
                .and_then(|mut s| s.execute([&agent_id]))
                .map_err(|e| db_err("delete whitelist entry", e))?;
            if deleted == 0 {
                return Err(agent_not_found(&agent_id));
            }
            Ok(())
        })
        .await
    }
}
