//! `MemoryManagementStore`: users, agent whitelist and certificate data in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use oxmon_core::manage::{
    ApiToken, AuditLog, AuditPage, AuditQuery, AuditRecord, CertCheckResult, CertDomain,
    CertDomainUpdate, CertStore, CertificateDetails, DefinitionKind, DefinitionStore,
    DetailsFilter, DomainFilter, MAX_TOKENS_PER_USER, NewApiToken, NewCertDomain, NewSilence, Page,
    Role, Silence, SilenceStore, StoredDefinition, User, UserStore, UserUpdate, WhitelistEntry,
    WhitelistStore, check_admin_remains, validate_hash, validate_limit, validate_username,
};
use oxmon_core::notify_history::{
    DeliveryPage, DeliveryQuery, DeliveryRecord, MemoryHistory, NotificationHistory,
};
use oxmon_core::sync::RwLockExt;
use oxmon_core::{Error, Result};

/// Users, agent whitelist and certificate data kept in memory.
///
/// Public API for tests, examples and programs that need no persistence. It
/// honours the whole contract of [`UserStore`], [`WhitelistStore`] and
/// [`CertStore`] (it runs `oxmon_core::testing::manage`) except durability
/// across restarts, and keeps the newest 10,000 notification attempts
/// ([`NotificationHistory`]). Domain ids look like `mem-1`, `mem-2`, ...
#[derive(Debug, Default)]
pub struct MemoryManagementStore {
    users: RwLock<Users>,
    whitelist: RwLock<BTreeMap<String, WhitelistEntry>>,
    certs: RwLock<Certs>,
    definitions: RwLock<HashMap<DefinitionKind, Definitions>>,
    audit: RwLock<Vec<AuditRecord>>,
    silences: RwLock<Vec<Silence>>,
    history: MemoryHistory,
}

/// The definitions of one kind.
#[derive(Debug, Default)]
struct Definitions {
    last_id: u64,
    /// In creation order.
    list: Vec<StoredDefinition>,
}

#[derive(Debug, Default)]
struct Users {
    last_id: i64,
    by_id: BTreeMap<i64, User>,
    last_token_id: u64,
    /// API tokens by id.
    tokens: BTreeMap<u64, ApiToken>,
}

#[derive(Debug, Default)]
struct Certs {
    last_id: u64,
    domains: BTreeMap<String, CertDomain>,
    /// Check results in the order they were recorded.
    results: Vec<CertCheckResult>,
    details: BTreeMap<(String, u16), CertificateDetails>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read_locked()
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write_locked()
}

fn page<T: Clone>(matching: Vec<&T>, limit: usize, offset: usize) -> Page<T> {
    Page {
        total: matching.len() as u64,
        items: matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect(),
    }
}

impl MemoryManagementStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl NotificationHistory for MemoryManagementStore {
    async fn record(&self, record: DeliveryRecord) -> Result<()> {
        self.history.record(record).await
    }

    async fn query(&self, query: &DeliveryQuery) -> Result<DeliveryPage> {
        self.history.query(query).await
    }
}

#[async_trait]
impl UserStore for MemoryManagementStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<User> {
        validate_username(username)?;
        validate_hash("password hash", password_hash)?;
        let mut users = write(&self.users);
        if users.by_id.values().any(|u| u.username == username) {
            return Err(Error::Conflict(format!("user {username:?} already exists")));
        }
        users.last_id += 1;
        let user = User {
            id: users.last_id,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            token_version: 0,
            role,
            disabled: false,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        users.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let users = read(&self.users);
        Ok(users
            .by_id
            .values()
            .find(|u| u.username == username)
            .cloned())
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(read(&self.users).by_id.get(&id).cloned())
    }

    async fn set_password_hash(&self, id: i64, password_hash: &str, now_ms: i64) -> Result<u64> {
        validate_hash("password hash", password_hash)?;
        let mut users = write(&self.users);
        let user = users
            .by_id
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
        user.password_hash = password_hash.to_owned();
        user.token_version = user.token_version.saturating_add(1);
        user.updated_at_ms = now_ms;
        Ok(user.token_version)
    }

    async fn count_users(&self) -> Result<u64> {
        Ok(read(&self.users).by_id.len() as u64)
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        Ok(read(&self.users).by_id.values().cloned().collect())
    }

    async fn update_user(&self, id: i64, update: &UserUpdate, now_ms: i64) -> Result<User> {
        let mut users = write(&self.users);
        let user = users
            .by_id
            .get(&id)
            .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
        let next = update.applied(user, now_ms);
        let all: Vec<User> = users.by_id.values().cloned().collect();
        check_admin_remains(&all, id, Some(&next))?;
        users.by_id.insert(id, next.clone());
        Ok(next)
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        let mut users = write(&self.users);
        if !users.by_id.contains_key(&id) {
            return Err(Error::NotFound(format!("user {id}")));
        }
        let all: Vec<User> = users.by_id.values().cloned().collect();
        check_admin_remains(&all, id, None)?;
        users.by_id.remove(&id);
        users.tokens.retain(|_, t| t.user_id != id);
        Ok(())
    }

    async fn create_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken> {
        token.validate()?;
        let mut users = write(&self.users);
        if !users.by_id.contains_key(&token.user_id) {
            return Err(Error::NotFound(format!("user {}", token.user_id)));
        }
        let held = users
            .tokens
            .values()
            .filter(|t| t.user_id == token.user_id)
            .count();
        if held >= MAX_TOKENS_PER_USER {
            return Err(Error::ResourceExhausted(format!(
                "a user holds at most {MAX_TOKENS_PER_USER} API tokens; revoke one first"
            )));
        }
        users.last_token_id += 1;
        let id = users.last_token_id;
        let stored = ApiToken {
            id: id.to_string(),
            name: token.name.clone(),
            user_id: token.user_id,
            role: token.role,
            token_hash: token.token_hash.clone(),
            created_at_ms: now_ms,
            expires_at_ms: token.expires_at_ms,
            last_used_ms: None,
        };
        users.tokens.insert(id, stored.clone());
        Ok(stored)
    }

    async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
        Ok(read(&self.users)
            .tokens
            .values()
            .filter(|t| user_id.is_none_or(|u| t.user_id == u))
            .cloned()
            .collect())
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        Ok(read(&self.users)
            .tokens
            .values()
            .find(|t| t.token_hash == token_hash)
            .cloned())
    }

    async fn touch_token(&self, id: &str, now_ms: i64) -> Result<()> {
        let mut users = write(&self.users);
        let token = id
            .parse::<u64>()
            .ok()
            .and_then(|n| users.tokens.get_mut(&n))
            .ok_or_else(|| Error::NotFound(format!("no token {id:?}")))?;
        token.last_used_ms = Some(now_ms);
        Ok(())
    }

    async fn delete_token(&self, id: &str) -> Result<()> {
        let mut users = write(&self.users);
        id.parse::<u64>()
            .ok()
            .and_then(|n| users.tokens.remove(&n))
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("no token {id:?}")))
    }
}

fn agent_not_found(agent_id: &str) -> Error {
    Error::NotFound(format!("agent {agent_id:?} is not whitelisted"))
}

#[async_trait]
impl WhitelistStore for MemoryManagementStore {
    async fn add_agent(
        &self,
        agent_id: &str,
        token_hash: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        oxmon_core::manage::validate_whitelist_agent_id(agent_id)?;
        validate_hash("token hash", token_hash)?;
        let mut whitelist = write(&self.whitelist);
        if whitelist.contains_key(agent_id) {
            return Err(Error::Conflict(format!(
                "agent {agent_id:?} is already whitelisted"
            )));
        }
        let entry = WhitelistEntry {
            agent_id: agent_id.to_owned(),
            token_hash: token_hash.to_owned(),
            description: description.map(str::to_owned),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        whitelist.insert(agent_id.to_owned(), entry.clone());
        Ok(entry)
    }

    async fn get_agent(&self, agent_id: &str) -> Result<Option<WhitelistEntry>> {
        Ok(read(&self.whitelist).get(agent_id).cloned())
    }

    async fn list_agents(&self) -> Result<Vec<WhitelistEntry>> {
        Ok(read(&self.whitelist).values().cloned().collect())
    }

    async fn update_agent_description(
        &self,
        agent_id: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        let mut whitelist = write(&self.whitelist);
        let entry = whitelist
            .get_mut(agent_id)
            .ok_or_else(|| agent_not_found(agent_id))?;
        entry.description = description.map(str::to_owned);
        entry.updated_at_ms = now_ms;
        Ok(entry.clone())
    }

    async fn replace_agent_token_hash(
        &self,
        agent_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<WhitelistEntry> {
        validate_hash("token hash", token_hash)?;
        let mut whitelist = write(&self.whitelist);
        let entry = whitelist
            .get_mut(agent_id)
            .ok_or_else(|| agent_not_found(agent_id))?;
        entry.token_hash = token_hash.to_owned();
        entry.updated_at_ms = now_ms;
        Ok(entry.clone())
    }

    async fn delete_agent(&self, agent_id: &str) -> Result<()> {
        write(&self.whitelist)
            .remove(agent_id)
            .map(drop)
            .ok_or_else(|| agent_not_found(agent_id))
    }
}

impl Certs {
    fn taken(&self, domain: &str, port: u16) -> bool {
        self.domains
            .values()
            .any(|d| d.domain == domain && d.port == port)
    }

    /// Domains in contract order: (domain, port, id).
    fn sorted_domains(&self) -> Vec<&CertDomain> {
        let mut all: Vec<_> = self.domains.values().collect();
        all.sort_by(|a, b| (&a.domain, a.port, &a.id).cmp(&(&b.domain, b.port, &b.id)));
        all
    }

    /// The latest of the results matching `pick`: greatest check time, the
    /// last recorded among equals.
    fn latest(&self, pick: impl Fn(&CertCheckResult) -> bool) -> Option<&CertCheckResult> {
        self.results
            .iter()
            .filter(|r| pick(r))
            .max_by_key(|r| r.checked_at_ms)
    }

    /// Validates every item against the store and the earlier items, then
    /// inserts them all; on error nothing is inserted.
    fn insert_all(&mut self, domains: &[NewCertDomain], now_ms: i64) -> Result<Vec<CertDomain>> {
        let mut checked: Vec<NewCertDomain> = Vec::with_capacity(domains.len());
        for (i, item) in domains.iter().enumerate() {
            let name = |e: Error| name_item(domains.len(), i, item, e);
            let new = item.normalized().map_err(name)?;
            if self.taken(&new.domain, new.port) {
                return Err(name(Error::Conflict(format!(
                    "{}:{} already exists",
                    new.domain, new.port
                ))));
            }
            if let Some(j) = checked
                .iter()
                .position(|c| c.domain == new.domain && c.port == new.port)
            {
                return Err(name(Error::Conflict(format!(
                    "{}:{} repeats item {j}",
                    new.domain, new.port
                ))));
            }
            checked.push(new);
        }
        let mut added = Vec::with_capacity(checked.len());
        for new in checked {
            self.last_id += 1;
            let domain = CertDomain {
                id: format!("mem-{}", self.last_id),
                domain: new.domain,
                port: new.port,
                enabled: new.enabled,
                check_interval_secs: new.check_interval_secs,
                note: new.note,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
            };
            self.domains.insert(domain.id.clone(), domain.clone());
            added.push(domain);
        }
        Ok(added)
    }
}

/// Prefixes the error of item `i` of a batch with its index and domain (a
/// single add keeps the plain message).
pub(crate) fn name_item(len: usize, i: usize, item: &NewCertDomain, e: Error) -> Error {
    if len <= 1 {
        return e;
    }
    let at = |m: String| format!("item {i} ({}:{}): {m}", item.domain, item.port);
    match e {
        Error::Conflict(m) => Error::Conflict(at(m)),
        Error::InvalidInput(m) => Error::InvalidInput(at(m)),
        other => other,
    }
}

fn domain_not_found(id: &str) -> Error {
    Error::NotFound(format!("certificate domain {id:?}"))
}

#[async_trait]
impl CertStore for MemoryManagementStore {
    async fn add_domain(&self, domain: &NewCertDomain, now_ms: i64) -> Result<CertDomain> {
        let mut added = write(&self.certs).insert_all(std::slice::from_ref(domain), now_ms)?;
        added
            .pop()
            .ok_or_else(|| Error::storage("add_domain stored nothing"))
    }

    async fn add_domains(&self, domains: &[NewCertDomain], now_ms: i64) -> Result<Vec<CertDomain>> {
        write(&self.certs).insert_all(domains, now_ms)
    }

    async fn get_domain(&self, id: &str) -> Result<Option<CertDomain>> {
        Ok(read(&self.certs).domains.get(id).cloned())
    }

    async fn list_domains(&self, filter: &DomainFilter) -> Result<Page<CertDomain>> {
        validate_limit(filter.limit)?;
        let certs = read(&self.certs);
        let matching = certs
            .sorted_domains()
            .into_iter()
            .filter(|d| filter.matches(d))
            .collect();
        Ok(page(matching, filter.limit, filter.offset))
    }

    async fn update_domain(
        &self,
        id: &str,
        update: &CertDomainUpdate,
        now_ms: i64,
    ) -> Result<CertDomain> {
        update.validate()?;
        let mut certs = write(&self.certs);
        let mut domain = certs
            .domains
            .get(id)
            .cloned()
            .ok_or_else(|| domain_not_found(id))?;
        let old_port = domain.port;
        update.apply_to(&mut domain, now_ms);
        if domain.port != old_port {
            if certs.taken(&domain.domain, domain.port) {
                return Err(Error::Conflict(format!(
                    "{}:{} already exists",
                    domain.domain, domain.port
                )));
            }
            certs.details.remove(&(domain.domain.clone(), old_port));
        }
        certs.domains.insert(id.to_owned(), domain.clone());
        Ok(domain)
    }

    async fn delete_domain(&self, id: &str) -> Result<()> {
        let mut certs = write(&self.certs);
        let domain = certs
            .domains
            .remove(id)
            .ok_or_else(|| domain_not_found(id))?;
        certs.results.retain(|r| r.domain_id != id);
        certs.details.remove(&(domain.domain, domain.port));
        Ok(())
    }

    async fn record_check_result(&self, result: &CertCheckResult) -> Result<()> {
        let result = result.normalized()?;
        let mut certs = write(&self.certs);
        let domain = certs
            .domains
            .get(&result.domain_id)
            .ok_or_else(|| domain_not_found(&result.domain_id))?;
        if domain.domain != result.domain {
            return Err(Error::InvalidInput(format!(
                "check result for {} names domain id {:?}, which is {}",
                result.domain, result.domain_id, domain.domain
            )));
        }
        certs.results.push(result);
        Ok(())
    }

    async fn latest_check_results(&self) -> Result<Vec<CertCheckResult>> {
        let certs = read(&self.certs);
        Ok(certs
            .sorted_domains()
            .into_iter()
            .filter_map(|d| certs.latest(|r| r.domain_id == d.id).cloned())
            .collect())
    }

    async fn latest_check_result(&self, domain: &str) -> Result<Option<CertCheckResult>> {
        let domain = domain.to_ascii_lowercase();
        Ok(read(&self.certs).latest(|r| r.domain == domain).cloned())
    }

    async fn check_history(&self, domain_id: &str, limit: usize) -> Result<Vec<CertCheckResult>> {
        validate_limit(limit)?;
        let certs = read(&self.certs);
        if !certs.domains.contains_key(domain_id) {
            return Err(domain_not_found(domain_id));
        }
        // Recording order is the tie-break: reverse it, then a stable sort by time.
        let mut history: Vec<_> = certs
            .results
            .iter()
            .rev()
            .filter(|r| r.domain_id == domain_id)
            .collect();
        history.sort_by_key(|r| std::cmp::Reverse(r.checked_at_ms));
        Ok(history.into_iter().take(limit).cloned().collect())
    }

    async fn upsert_details(&self, details: &CertificateDetails) -> Result<()> {
        let details = details.normalized()?;
        let mut certs = write(&self.certs);
        if !certs.taken(&details.domain, details.port) {
            return Err(Error::NotFound(format!(
                "certificate domain {}:{}",
                details.domain, details.port
            )));
        }
        certs
            .details
            .insert((details.domain.clone(), details.port), details);
        Ok(())
    }

    async fn get_details(&self, domain: &str) -> Result<Option<CertificateDetails>> {
        let domain = domain.to_ascii_lowercase();
        let certs = read(&self.certs);
        // BTreeMap order puts the lowest port first; `max_by_key` keeps the
        // last maximum, so iterate ports from the highest down.
        Ok(certs
            .details
            .values()
            .rev()
            .filter(|d| d.domain == domain)
            .max_by_key(|d| d.last_checked_ms)
            .cloned())
    }

    async fn list_details(
        &self,
        filter: &DetailsFilter,
        now_ms: i64,
    ) -> Result<Page<CertificateDetails>> {
        validate_limit(filter.limit)?;
        let certs = read(&self.certs);
        let matching = certs
            .details
            .values()
            .filter(|d| filter.matches(d, now_ms))
            .collect();
        Ok(page(matching, filter.limit, filter.offset))
    }
}

#[async_trait]
impl SilenceStore for MemoryManagementStore {
    async fn create_silence(&self, silence: &NewSilence, now_ms: i64) -> Result<Silence> {
        silence.validate()?;
        let mut silences = write(&self.silences);
        let stored = Silence {
            id: format!("mem-silence-{}", silences.len() + 1),
            matchers: silence.matchers.clone(),
            starts_at_ms: silence.starts_at_ms,
            ends_at_ms: silence.ends_at_ms,
            created_by: silence.created_by.clone(),
            comment: silence.comment.clone(),
            created_at_ms: now_ms,
        };
        silences.push(stored.clone());
        Ok(stored)
    }

    async fn list_silences(&self) -> Result<Vec<Silence>> {
        Ok(read(&self.silences).iter().rev().cloned().collect())
    }

    async fn active_silences(&self, now_ms: i64) -> Result<Vec<Silence>> {
        Ok(read(&self.silences)
            .iter()
            .rev()
            .filter(|s| s.is_active(now_ms))
            .cloned()
            .collect())
    }

    async fn expire_silence(&self, id: &str, now_ms: i64) -> Result<Silence> {
        let mut silences = write(&self.silences);
        let s = silences
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::NotFound(format!("no silence {id:?}")))?;
        s.ends_at_ms = s.ends_at_ms.min(now_ms);
        Ok(s.clone())
    }
}

#[async_trait]
impl AuditLog for MemoryManagementStore {
    async fn record(&self, record: &AuditRecord) -> Result<()> {
        write(&self.audit).push(record.clone());
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage> {
        let audit = read(&self.audit);
        let mut matching: Vec<(usize, &AuditRecord)> = audit
            .iter()
            .enumerate()
            .filter(|(_, r)| query.matches(r))
            .collect();
        matching.sort_by(|a, b| b.1.at_ms.cmp(&a.1.at_ms).then(b.0.cmp(&a.0)));
        Ok(AuditPage {
            total: matching.len() as u64,
            records: matching
                .into_iter()
                .skip(query.offset)
                .take(query.limit)
                .map(|(_, r)| r.clone())
                .collect(),
        })
    }
}

fn definition_conflict(kind: DefinitionKind, name: &str) -> Error {
    Error::Conflict(format!("a {} named `{name}` exists", kind.noun()))
}

fn definition_not_found(kind: DefinitionKind, id: &str) -> Error {
    Error::NotFound(format!("no {} `{id}`", kind.noun()))
}

#[async_trait]
impl DefinitionStore for MemoryManagementStore {
    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<StoredDefinition>> {
        Ok(read(&self.definitions)
            .get(&kind)
            .map(|d| d.list.clone())
            .unwrap_or_default())
    }

    async fn create_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition> {
        let mut all = write(&self.definitions);
        let defs = all.entry(kind).or_default();
        if defs.list.iter().any(|d| d.name == name) {
            return Err(definition_conflict(kind, name));
        }
        defs.last_id += 1;
        let stored = StoredDefinition {
            id: format!("mem-{}-{}", kind.noun(), defs.last_id),
            name: name.to_owned(),
            definition: definition.clone(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        defs.list.push(stored.clone());
        Ok(stored)
    }

    async fn update_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition> {
        let mut all = write(&self.definitions);
        let defs = all.entry(kind).or_default();
        if defs.list.iter().any(|d| d.name == name && d.id != id) {
            return Err(definition_conflict(kind, name));
        }
        let found = defs
            .list
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| definition_not_found(kind, id))?;
        found.name = name.to_owned();
        found.definition = definition.clone();
        found.updated_at_ms = now_ms;
        Ok(found.clone())
    }

    async fn delete_definition(&self, kind: DefinitionKind, id: &str) -> Result<()> {
        let mut all = write(&self.definitions);
        let defs = all.entry(kind).or_default();
        let before = defs.list.len();
        defs.list.retain(|d| d.id != id);
        if defs.list.len() == before {
            return Err(definition_not_found(kind, id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conforms_to_the_management_contracts() {
        let store = MemoryManagementStore::new();
        oxmon_core::testing::manage::run_all(&store, &store, &store).await;
        oxmon_core::testing::manage::definitions::run_all(&store).await;
        oxmon_core::testing::manage::audit::run_all(&store).await;
        oxmon_core::testing::manage::silences::run_all(&store).await;
    }

    #[tokio::test]
    async fn single_add_errors_keep_the_plain_message() {
        let store = MemoryManagementStore::new();
        let d = NewCertDomain::new("a.example");
        store.add_domain(&d, 1).await.expect("add");
        let err = store.add_domain(&d, 2).await.expect_err("conflict");
        assert_eq!(err.to_string(), "conflict: a.example:443 already exists");
        let batch = [NewCertDomain::new("b.example"), d];
        let err = store.add_domains(&batch, 2).await.expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "conflict: item 1 (a.example:443): a.example:443 already exists"
        );
    }
}
