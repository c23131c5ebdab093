//! `cert_domains`, `cert_check_results` and `certificate_details`.

use async_trait::async_trait;
use oxmon_core::manage::{
    CertCheckResult, CertDomain, CertDomainUpdate, CertStore, CertificateDetails, DetailsFilter,
    DomainFilter, NewCertDomain, Page, validate_limit,
};
use oxmon_core::{Error, Result};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    SqliteManagementStore, db_err, get_opt_u64, get_u64, in_tx, sql_count, to_i64, write_err,
};
use crate::memory_manage::name_item;

const DOMAIN_COLUMNS: &str =
    "id, domain, port, enabled, check_interval_secs, note, created_at, updated_at";
const RESULT_COLUMNS: &str =
    "domain_id, domain, port, checked_at, is_valid, days_until_expiry, not_after, error";
const DETAIL_COLUMNS: &str = "domain, port, not_before, not_after, ip_addresses, issuer_cn, \
     issuer_o, subject_cn, subject_alt_names, serial, fingerprint_sha256, key_type, key_bits, \
     signature_algorithm, tls_version, cipher_suite, chain_valid, chain_error, chain, last_checked";

/// Below this, a `cert_domains` time is seconds (a row added by hand with
/// `strftime('%s','now')`): 10^11 ms is 1973, 10^11 s is the year 5138.
const SECONDS_BELOW: i64 = 100_000_000_000;

fn ms_or_secs(v: i64) -> i64 {
    if (-SECONDS_BELOW..SECONDS_BELOW).contains(&v) {
        v.saturating_mul(1000)
    } else {
        v
    }
}

fn domain_from_row(row: &Row<'_>) -> rusqlite::Result<CertDomain> {
    Ok(CertDomain {
        id: row.get(0)?,
        domain: row.get(1)?,
        port: row.get(2)?,
        enabled: row.get(3)?,
        check_interval_secs: get_opt_u64(row, 4)?,
        note: row.get(5)?,
        created_at_ms: ms_or_secs(row.get(6)?),
        updated_at_ms: ms_or_secs(row.get(7)?),
    })
}

fn result_from_row(row: &Row<'_>) -> rusqlite::Result<CertCheckResult> {
    Ok(CertCheckResult {
        domain_id: row.get(0)?,
        domain: row.get(1)?,
        port: row.get(2)?,
        checked_at_ms: row.get(3)?,
        is_valid: row.get(4)?,
        days_until_expiry: row.get(5)?,
        not_after_ms: row.get(6)?,
        error: row.get(7)?,
    })
}

fn json_err(idx: usize, e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into())
}

fn strings(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| json_err(idx, e))
}

fn details_from_row(row: &Row<'_>) -> rusqlite::Result<CertificateDetails> {
    let chain: String = row.get(18)?;
    Ok(CertificateDetails {
        domain: row.get(0)?,
        port: row.get(1)?,
        not_before_ms: row.get(2)?,
        not_after_ms: row.get(3)?,
        ip_addresses: strings(row, 4)?,
        issuer_cn: row.get(5)?,
        issuer_o: row.get(6)?,
        subject_cn: row.get(7)?,
        subject_alt_names: strings(row, 8)?,
        serial: row.get(9)?,
        fingerprint_sha256: row.get(10)?,
        key_type: row.get(11)?,
        key_bits: row.get(12)?,
        signature_algorithm: row.get(13)?,
        tls_version: row.get(14)?,
        cipher_suite: row.get(15)?,
        chain_valid: row.get(16)?,
        chain_error: row.get(17)?,
        chain: serde_json::from_str(&chain).map_err(|e| json_err(18, e))?,
        last_checked_ms: row.get(19)?,
    })
}

fn domain_not_found(id: &str) -> Error {
    Error::NotFound(format!("certificate domain {id:?}"))
}

fn get_domain(conn: &Connection, id: &str) -> rusqlite::Result<Option<CertDomain>> {
    let sql = format!("SELECT {DOMAIN_COLUMNS} FROM cert_domains WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], domain_from_row)
        .optional()
}

fn domain_exists(conn: &Connection, domain: &str, port: u16) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM cert_domains WHERE domain = ?1 AND port = ?2")?
        .query_row(params![domain, port], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Checks a batch in order: the valid prefix, and the error of the first
/// invalid or repeated item (reported only if no earlier item conflicts
/// with the database, so "the first failing item" is the same as in order).
fn check_batch(domains: &[NewCertDomain]) -> (Vec<NewCertDomain>, Option<Error>) {
    let mut checked: Vec<NewCertDomain> = Vec::with_capacity(domains.len());
    for (i, item) in domains.iter().enumerate() {
        let new = match item.normalized() {
            Ok(new) => new,
            Err(e) => return (checked, Some(name_item(domains.len(), i, item, e))),
        };
        let repeat = checked
            .iter()
            .position(|c| c.domain == new.domain && c.port == new.port);
        if let Some(j) = repeat {
            let e = Error::Conflict(format!("{}:{} repeats item {j}", new.domain, new.port));
            return (checked, Some(name_item(domains.len(), i, item, e)));
        }
        checked.push(new);
    }
    (checked, None)
}

fn insert_domains(
    conn: &mut Connection,
    originals: &[NewCertDomain],
    checked: &[NewCertDomain],
    pending: Option<Error>,
    now_ms: i64,
) -> Result<Vec<CertDomain>> {
    in_tx(conn, "add certificate domains", |tx| {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO cert_domains (domain, port, enabled, check_interval_secs, note, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
            )
            .map_err(|e| db_err("add certificate domains", e))?;
        let mut added = Vec::with_capacity(checked.len());
        for (i, (new, original)) in checked.iter().zip(originals).enumerate() {
            let interval = new.check_interval_secs.map(to_i64).transpose()?;
            let row = params![
                new.domain,
                new.port,
                new.enabled,
                interval,
                new.note,
                now_ms
            ];
            let id: String = stmt.query_row(row, |r| r.get(0)).map_err(|e| {
                write_err("add certificate domain", e, || {
                    let m = format!("{}:{} already exists", new.domain, new.port);
                    name_item(originals.len(), i, original, Error::Conflict(m))
                })
            })?;
            added.push(CertDomain {
                id,
                domain: new.domain.clone(),
                port: new.port,
                enabled: new.enabled,
                check_interval_secs: new.check_interval_secs,
                note: new.note.clone(),
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
            });
        }
        match pending {
            Some(e) => Err(e),
            None => Ok(added),
        }
    })
}

fn encode_err(e: serde_json::Error) -> Error {
    Error::storage(format!("encode certificate details: {e}"))
}

fn upsert_details(conn: &mut Connection, d: &CertificateDetails) -> Result<()> {
    let ips = serde_json::to_string(&d.ip_addresses).map_err(encode_err)?;
    let sans = serde_json::to_string(&d.subject_alt_names).map_err(encode_err)?;
    let chain = serde_json::to_string(&d.chain).map_err(encode_err)?;
    in_tx(conn, "store certificate details", |tx| {
        let exists = domain_exists(tx, &d.domain, d.port).map_err(|e| db_err("find domain", e))?;
        if !exists {
            return Err(Error::NotFound(format!(
                "certificate domain {}:{}",
                d.domain, d.port
            )));
        }
        let sql = format!(
            "INSERT OR REPLACE INTO certificate_details ({DETAIL_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
             ?19, ?20)"
        );
        tx.prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    d.domain,
                    d.port,
                    d.not_before_ms,
                    d.not_after_ms,
                    ips,
                    d.issuer_cn,
                    d.issuer_o,
                    d.subject_cn,
                    sans,
                    d.serial,
                    d.fingerprint_sha256,
                    d.key_type,
                    d.key_bits,
                    d.signature_algorithm,
                    d.tls_version,
                    d.cipher_suite,
                    d.chain_valid,
                    d.chain_error,
                    chain,
                    d.last_checked_ms,
                ])
            })
            .map_err(|e| db_err("store certificate details", e))?;
        Ok(())
    })
}

/// `WHERE` of `list_domains`: ?1 enabled, ?2 search text.
const DOMAIN_FILTER: &str =
    "(?1 IS NULL OR enabled = ?1) AND (?2 IS NULL OR instr(domain, ?2) > 0)";

/// `WHERE` of `list_details`: ?1 latest `not_after`, ?2 address, ?3 issuer
/// text in lower case (SQLite's `lower` folds ASCII only, like the contract).
const DETAILS_FILTER: &str = "(?1 IS NULL OR not_after <= ?1) \
     AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(certificate_details.ip_addresses) \
          WHERE json_each.value = ?2)) \
     AND (?3 IS NULL OR instr(lower(issuer_cn), ?3) > 0 OR instr(lower(issuer_o), ?3) > 0)";

#[async_trait]
impl CertStore for SqliteManagementStore {
    async fn add_domain(&self, domain: &NewCertDomain, now_ms: i64) -> Result<CertDomain> {
        let mut added = self
            .add_domains(std::slice::from_ref(domain), now_ms)
            .await?;
        added
            .pop()
            .ok_or_else(|| Error::storage("add_domain stored nothing"))
    }

    async fn add_domains(&self, domains: &[NewCertDomain], now_ms: i64) -> Result<Vec<CertDomain>> {
        let (checked, pending) = check_batch(domains);
        if checked.is_empty() {
            return pending.map_or(Ok(Vec::new()), Err);
        }
        let originals = domains.to_vec();
        self.call(move |conn| insert_domains(conn, &originals, &checked, pending, now_ms))
            .await
    }

    async fn get_domain(&self, id: &str) -> Result<Option<CertDomain>> {
        let id = id.to_owned();
        self.call(move |conn| get_domain(conn, &id).map_err(|e| db_err("read domain", e)))
            .await
    }

    async fn list_domains(&self, filter: &DomainFilter) -> Result<Page<CertDomain>> {
        validate_limit(filter.limit)?;
        let enabled = filter.enabled;
        let search = filter.search.as_deref().map(str::to_ascii_lowercase);
        let (limit, offset) = (sql_count(filter.limit), sql_count(filter.offset));
        self.call(move |conn| {
            let run = |conn: &Connection| -> rusqlite::Result<Page<CertDomain>> {
                let sql = format!(
                    "SELECT {DOMAIN_COLUMNS} FROM cert_domains WHERE {DOMAIN_FILTER} \
                     ORDER BY domain, port, id LIMIT ?3 OFFSET ?4"
                );
                let items = conn
                    .prepare_cached(&sql)?
                    .query_map(params![enabled, search, limit, offset], domain_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let sql = format!("SELECT count(*) FROM cert_domains WHERE {DOMAIN_FILTER}");
                let total = conn
                    .prepare_cached(&sql)?
                    .query_row(params![enabled, search], |r| get_u64(r, 0))?;
                Ok(Page { items, total })
            };
            run(conn).map_err(|e| db_err("list certificate domains", e))
        })
        .await
    }

    async fn update_domain(
        &self,
        id: &str,
        update: &CertDomainUpdate,
        now_ms: i64,
    ) -> Result<CertDomain> {
        update.validate()?;
        let (id, update) = (id.to_owned(), update.clone());
        self.call(move |conn| {
            in_tx(conn, "update certificate domain", |tx| {
                let mut domain = get_domain(tx, &id)
                    .map_err(|e| db_err("read domain", e))?
                    .ok_or_else(|| domain_not_found(&id))?;
                update.apply_to(&mut domain, now_ms);
                let interval = domain.check_interval_secs.map(to_i64).transpose()?;
                tx.prepare_cached(
                    "UPDATE cert_domains SET port = ?2, enabled = ?3, check_interval_secs = ?4, \
                     note = ?5, updated_at = ?6 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        domain.port,
                        domain.enabled,
                        interval,
                        domain.note,
                        now_ms
                    ])
                })
                .map_err(|e| {
                    write_err("update certificate domain", e, || {
                        Error::Conflict(format!("{}:{} already exists", domain.domain, domain.port))
                    })
                })?;
                Ok(domain)
            })
        })
        .await
    }

    async fn delete_domain(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.call(move |conn| {
            in_tx(conn, "delete certificate domain", |tx| {
                // The `cert_domains_delete` trigger removes results and details.
                let deleted = tx
                    .prepare_cached("DELETE FROM cert_domains WHERE id = ?1")
                    .and_then(|mut s| s.execute([&id]))
                    .map_err(|e| db_err("delete certificate domain", e))?;
                if deleted == 0 {
                    return Err(domain_not_found(&id));
                }
                Ok(())
            })
        })
        .await
    }

    async fn record_check_result(&self, result: &CertCheckResult) -> Result<()> {
        let r = result.normalized()?;
        self.call(move |conn| {
            in_tx(conn, "record check result", |tx| {
                let domain = get_domain(tx, &r.domain_id)
                    .map_err(|e| db_err("read domain", e))?
                    .ok_or_else(|| domain_not_found(&r.domain_id))?;
                if domain.domain != r.domain {
                    return Err(Error::InvalidInput(format!(
                        "check result for {} names domain id {:?}, which is {}",
                        r.domain, r.domain_id, domain.domain
                    )));
                }
                let sql = format!(
                    "INSERT INTO cert_check_results ({RESULT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                );
                tx.prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.execute(params![
                            r.domain_id,
                            r.domain,
                            r.port,
                            r.checked_at_ms,
                            r.is_valid,
                            r.days_until_expiry,
                            r.not_after_ms,
                            r.error
                        ])
                    })
                    .map_err(|e| db_err("record check result", e))?;
                Ok(())
            })
        })
        .await
    }

    async fn latest_check_results(&self) -> Result<Vec<CertCheckResult>> {
        self.call(|conn| {
            let sql = format!(
                "SELECT {} FROM cert_domains d JOIN cert_check_results r ON r.id = \
                 (SELECT id FROM cert_check_results WHERE domain_id = d.id \
                  ORDER BY checked_at DESC, id DESC LIMIT 1) \
                 ORDER BY d.domain, d.port, d.id",
                RESULT_COLUMNS
                    .split(", ")
                    .map(|c| format!("r.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([], result_from_row)?.collect())
                .map_err(|e| db_err("read latest check results", e))
        })
        .await
    }

    async fn latest_check_result(&self, domain: &str) -> Result<Option<CertCheckResult>> {
        let domain = domain.to_ascii_lowercase();
        self.call(move |conn| {
            let sql = format!(
                "SELECT {RESULT_COLUMNS} FROM cert_check_results WHERE domain = ?1 \
                 ORDER BY checked_at DESC, id DESC LIMIT 1"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([domain], result_from_row).optional())
                .map_err(|e| db_err("read latest check result", e))
        })
        .await
    }

    async fn check_history(&self, domain_id: &str, limit: usize) -> Result<Vec<CertCheckResult>> {
        validate_limit(limit)?;
        let (domain_id, limit) = (domain_id.to_owned(), sql_count(limit));
        self.call(move |conn| {
            let run = |conn: &Connection| -> rusqlite::Result<Option<Vec<CertCheckResult>>> {
                if get_domain(conn, &domain_id)?.is_none() {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT {RESULT_COLUMNS} FROM cert_check_results WHERE domain_id = ?1 \
                     ORDER BY checked_at DESC, id DESC LIMIT ?2"
                );
                let rows = conn
                    .prepare_cached(&sql)?
                    .query_map(params![domain_id, limit], result_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Some(rows))
            };
            run(conn)
                .map_err(|e| db_err("read check history", e))?
                .ok_or_else(|| domain_not_found(&domain_id))
        })
        .await
    }

    async fn upsert_details(&self, details: &CertificateDetails) -> Result<()> {
        let details = details.normalized()?;
        self.call(move |conn| upsert_details(conn, &details)).await
    }

    async fn get_details(&self, domain: &str) -> Result<Option<CertificateDetails>> {
        let domain = domain.to_ascii_lowercase();
        self.call(move |conn| {
            let sql = format!(
                "SELECT {DETAIL_COLUMNS} FROM certificate_details WHERE domain = ?1 \
                 ORDER BY last_checked DESC, port LIMIT 1"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([domain], details_from_row).optional())
                .map_err(|e| db_err("read certificate details", e))
        })
        .await
    }

    async fn list_details(
        &self,
        filter: &DetailsFilter,
        now_ms: i64,
    ) -> Result<Page<CertificateDetails>> {
        validate_limit(filter.limit)?;
        let cutoff = filter.expiry_cutoff_ms(now_ms);
        let ip = filter.ip_address.clone();
        let issuer = filter.issuer.as_deref().map(str::to_ascii_lowercase);
        let (limit, offset) = (sql_count(filter.limit), sql_count(filter.offset));
        self.call(move |conn| {
            let run = |conn: &Connection| -> rusqlite::Result<Page<CertificateDetails>> {
                let sql = format!(
                    "SELECT {DETAIL_COLUMNS} FROM certificate_details WHERE {DETAILS_FILTER} \
                     ORDER BY domain, port LIMIT ?4 OFFSET ?5"
                );
                let items = conn
                    .prepare_cached(&sql)?
                    .query_map(params![cutoff, ip, issuer, limit, offset], details_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let sql =
                    format!("SELECT count(*) FROM certificate_details WHERE {DETAILS_FILTER}");
                let total = conn
                    .prepare_cached(&sql)?
                    .query_row(params![cutoff, ip, issuer], |r| get_u64(r, 0))?;
                Ok(Page { items, total })
            };
            run(conn).map_err(|e| db_err("list certificate details", e))
        })
        .await
    }
}
