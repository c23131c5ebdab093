//! Management data contracts: users, the agent whitelist, certificate
//! domains, their check results and certificate details.
//!
//! Three small object-safe traits, one per concern, so a component takes only
//! what it needs (`Arc<dyn WhitelistStore>` for agent authentication,
//! `Arc<dyn CertStore>` for the certificate scheduler). One backend usually
//! implements all three over one database:
//! `oxmon_storage::MemoryManagementStore` (always) and
//! `oxmon_storage::SqliteManagementStore` (`data_dir/cert.db`, feature
//! `sqlite`). Every implementation runs the conformance suite in
//! `oxmon_core::testing::manage` (feature `testing`).
//!
//! # Common rules
//! - **Time comes from the caller.** Methods that stamp a record take
//!   `now_ms` (ms since the epoch, from a [`crate::Clock`]); stores never read
//!   the wall clock.
//! - **Secrets stay out.** Stores keep only opaque hashes of passwords and
//!   agent tokens, and the `Debug` output of [`User`] and [`WhitelistEntry`]
//!   leaves even the hashes out. The one exception is a channel made through
//!   the API ([`DefinitionKind::Channel`]): the server must send with its
//!   credentials, so they are kept as given (the database file is readable
//!   by its owner only), and `Debug` of [`StoredDefinition`] names fields
//!   without values.
//! - **Writes are atomic and durable** (for persistent stores): `Ok` means
//!   the change is committed; on `Err` nothing of the call is visible.
//! - **Errors**, common to every method: [`crate::Error::Unavailable`] when
//!   the backend cannot serve now (disk full, read-only, locked; retry
//!   later), [`crate::Error::Storage`] for failures that retrying will not fix
//!   (corrupt data). Each method lists its other errors.

use async_trait::async_trait;

use crate::error::Result;

mod audit;
mod definitions;
mod silences;
mod types;

/// The certificate model [`CertStore`] keeps, defined in [`crate::cert`].
pub use crate::cert::{
    CertCheckResult, CertificateDetails, ChainCertificate, DEFAULT_CERT_PORT, MAX_DOMAIN_LEN,
    normalize_domain, validate_port,
};
pub use audit::{AuditLog, AuditPage, AuditQuery, AuditRecord};
pub use definitions::{DefinitionKind, DefinitionStore, StoredDefinition};
pub use silences::{
    MAX_LABEL_MATCHERS, MAX_MATCHER_LEN, MAX_SILENCE_COMMENT_LEN, NewSilence, Silence,
    SilenceMatchers, SilenceStore,
};
pub use types::{
    ApiToken, CertDomain, CertDomainUpdate, DEFAULT_PAGE_LIMIT, DetailsFilter, DomainFilter,
    MAX_TOKEN_NAME_LEN, MAX_TOKENS_PER_USER, MAX_USERNAME_LEN, NewApiToken, NewCertDomain, Page,
    Role, User, UserUpdate, WhitelistEntry, check_admin_remains, validate_hash, validate_limit,
    validate_username, validate_whitelist_agent_id,
};

/// Users of the REST API and their password hashes.
///
/// # Behavior
/// - Usernames are unique and compared byte for byte (no case folding).
/// - Ids are assigned by the store, positive, and never reused, so a token
///   keyed by user id cannot outlive its user into another one.
/// - `token_version` starts at 0 and only [`UserStore::set_password_hash`]
///   changes it, by exactly one per call, atomically with the hash.
///
/// # Errors
/// See the module docs for the errors common to every method.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Creates an enabled user of `role` with `token_version` 0 and both
    /// timestamps `now_ms`.
    ///
    /// # Errors
    /// - [`crate::Error::Conflict`]: a user with this username exists.
    /// - [`crate::Error::InvalidInput`]: the username fails
    ///   [`validate_username`] or the hash is empty.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<User>;

    /// Every user, by id.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Applies `update` (role, disabled) and sets `updated_at_ms`; returns
    /// the user as it now is. The store refuses to leave no enabled
    /// administrator.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no user has this id.
    /// - [`crate::Error::Conflict`]: the change would leave no enabled
    ///   administrator.
    async fn update_user(&self, id: i64, update: &UserUpdate, now_ms: i64) -> Result<User>;

    /// Deletes a user and its API tokens. The store refuses to delete the
    /// last enabled administrator.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no user has this id.
    /// - [`crate::Error::Conflict`]: it is the last enabled administrator.
    async fn delete_user(&self, id: i64) -> Result<()>;

    /// Stores an API token of an existing user, stamped `now_ms`.
    ///
    /// # Errors
    /// - [`crate::Error::InvalidInput`]: [`NewApiToken::validate`] fails.
    /// - [`crate::Error::NotFound`]: no user has `user_id`.
    /// - [`crate::Error::ResourceExhausted`]: the user holds
    ///   [`MAX_TOKENS_PER_USER`] tokens.
    async fn create_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken>;

    /// The tokens of `user_id` (every user's with `None`), by id.
    async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>>;

    /// The token with this hash, or `None`.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;

    /// Records a use at `now_ms`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no token `id`.
    async fn touch_token(&self, id: &str, now_ms: i64) -> Result<()>;

    /// Revokes a token.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no token `id`.
    async fn delete_token(&self, id: &str) -> Result<()>;

    /// The user with this username, or `None`.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;

    /// The user with this id, or `None`.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;

    /// Replaces the password hash, increments `token_version` and sets
    /// `updated_at_ms`, all in one atomic step; returns the new version.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no user has this id.
    /// - [`crate::Error::InvalidInput`]: the hash is empty.
    async fn set_password_hash(&self, id: i64, password_hash: &str, now_ms: i64) -> Result<u64>;

    /// How many users exist.
    async fn count_users(&self) -> Result<u64>;
}

/// The agent whitelist: which agents may report, and the hash of each one's
/// token.
///
/// # Behavior
/// - `agent_id` is unique; an entry is only ever added explicitly (agents are
///   never registered automatically).
/// - Updates set `updated_at_ms` and leave `created_at_ms` alone.
/// - A deleted agent id may be added again, as a new entry.
///
/// # Errors
/// See the module docs for the errors common to every method.
#[async_trait]
pub trait WhitelistStore: Send + Sync + std::fmt::Debug {
    /// Adds an agent with both timestamps `now_ms`.
    ///
    /// # Errors
    /// - [`crate::Error::Conflict`]: the agent id is already whitelisted.
    /// - [`crate::Error::InvalidInput`]: the agent id fails
    ///   [`crate::config::validate_agent_id`] or the hash is empty.
    async fn add_agent(
        &self,
        agent_id: &str,
        token_hash: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry>;

    /// The entry of this agent, or `None`.
    async fn get_agent(&self, agent_id: &str) -> Result<Option<WhitelistEntry>>;

    /// Every entry, ordered by agent id (byte order).
    async fn list_agents(&self) -> Result<Vec<WhitelistEntry>>;

    /// Replaces the description (`None` clears it); returns the updated entry.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: the agent is not whitelisted.
    async fn update_agent_description(
        &self,
        agent_id: &str,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<WhitelistEntry>;

    /// Replaces the token hash, so the old token stops working at once;
    /// returns the updated entry.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: the agent is not whitelisted.
    /// - [`crate::Error::InvalidInput`]: the hash is empty.
    async fn replace_agent_token_hash(
        &self,
        agent_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<WhitelistEntry>;

    /// Removes the agent from the whitelist.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: the agent is not whitelisted.
    async fn delete_agent(&self, agent_id: &str) -> Result<()>;
}

/// Certificate domains, their check history and the details of their
/// certificates.
///
/// # Behavior
/// - **Domains** are unique per (domain, port); the domain is stored
///   normalized ([`normalize_domain`]: ASCII lower case), so `Example.com`
///   and `example.com` are the same domain. Ids are generated by the store,
///   unique, and never reused.
/// - **Lists** are ordered by (domain, port, id), filtered, then paged; the
///   page carries the total count of matching items.
/// - **Check results** form an append-only history per domain id. "Latest"
///   means greatest `checked_at_ms`; among equal times, the one recorded last.
/// - **Details** are one record per (domain, port) that exists as a domain;
///   an upsert replaces the record.
/// - **Deleting a domain** deletes its check results and its details in the
///   same atomic step. Changing a domain's port deletes the details of the
///   old (domain, port), which no longer describe a monitored endpoint;
///   check results keep the port they were taken on.
///
/// # Errors
/// See the module docs for the errors common to every method.
#[async_trait]
pub trait CertStore: Send + Sync + std::fmt::Debug {
    /// Adds a domain with both timestamps `now_ms`; returns it with its id.
    ///
    /// # Errors
    /// - [`crate::Error::Conflict`]: the (domain, port) exists.
    /// - [`crate::Error::InvalidInput`]: see [`NewCertDomain::normalized`].
    async fn add_domain(&self, domain: &NewCertDomain, now_ms: i64) -> Result<CertDomain>;

    /// Adds several domains atomically: all of them, in order, or none.
    ///
    /// # Errors
    /// The error of the first failing item, in order; its message names the
    /// item's domain and port and, in a batch of several, its index
    /// (`item 1 (b.com:443): ...`):
    /// - [`crate::Error::Conflict`]: it exists, or repeats an earlier item.
    /// - [`crate::Error::InvalidInput`]: it is invalid.
    ///
    /// Nothing is stored in either case. An empty batch stores nothing and
    /// returns an empty list.
    async fn add_domains(&self, domains: &[NewCertDomain], now_ms: i64) -> Result<Vec<CertDomain>>;

    /// The domain with this id, or `None`.
    async fn get_domain(&self, id: &str) -> Result<Option<CertDomain>>;

    /// Domains matching the filter, ordered by (domain, port, id), with the total.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`]: `limit` is 0.
    async fn list_domains(&self, filter: &DomainFilter) -> Result<Page<CertDomain>>;

    /// Applies an update, setting `updated_at_ms`; returns the updated domain.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no domain has this id.
    /// - [`crate::Error::Conflict`]: the new port makes an existing (domain, port).
    /// - [`crate::Error::InvalidInput`]: see [`CertDomainUpdate::validate`].
    async fn update_domain(
        &self,
        id: &str,
        update: &CertDomainUpdate,
        now_ms: i64,
    ) -> Result<CertDomain>;

    /// Deletes a domain with its check results and details.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no domain has this id.
    async fn delete_domain(&self, id: &str) -> Result<()>;

    /// Appends a check result to the history of `result.domain_id`.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no domain has this id (for example it was
    ///   deleted while the check ran).
    /// - [`crate::Error::InvalidInput`]: see [`CertCheckResult::normalized`],
    ///   or `result.domain` is not the domain of that id.
    async fn record_check_result(&self, result: &CertCheckResult) -> Result<()>;

    /// The latest result of every domain that has one, ordered by (domain,
    /// port, id) of the domain.
    async fn latest_check_results(&self) -> Result<Vec<CertCheckResult>>;

    /// The latest result for a domain name, across its ports, or `None`.
    async fn latest_check_result(&self, domain: &str) -> Result<Option<CertCheckResult>>;

    /// At most `limit` results of one domain, newest first.
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no domain has this id.
    /// - [`crate::Error::InvalidInput`]: `limit` is 0.
    async fn check_history(&self, domain_id: &str, limit: usize) -> Result<Vec<CertCheckResult>>;

    /// Inserts or replaces the details of (`details.domain`, `details.port`).
    ///
    /// # Errors
    /// - [`crate::Error::NotFound`]: no domain has this (domain, port).
    /// - [`crate::Error::InvalidInput`]: see [`CertificateDetails::normalized`].
    async fn upsert_details(&self, details: &CertificateDetails) -> Result<()>;

    /// The details of a domain name, or `None`. When it is monitored on
    /// several ports: the most recently checked, then the lowest port.
    async fn get_details(&self, domain: &str) -> Result<Option<CertificateDetails>>;

    /// Details matching the filter (see [`DetailsFilter::matches`]; expiry is
    /// measured from `now_ms`), ordered by (domain, port), with the total.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`]: `limit` is 0.
    async fn list_details(
        &self,
        filter: &DetailsFilter,
        now_ms: i64,
    ) -> Result<Page<CertificateDetails>>;

    /// Every domain (only enabled or disabled ones with `Some`), ordered by
    /// (domain, port, id). Provided: reads [`CertStore::list_domains`] page
    /// by page.
    async fn all_domains(&self, enabled: Option<bool>) -> Result<Vec<CertDomain>> {
        const PAGE: usize = 1000;
        let mut all = Vec::new();
        loop {
            let page = self
                .list_domains(&DomainFilter {
                    enabled,
                    search: None,
                    limit: PAGE,
                    offset: all.len(),
                })
                .await?;
            let n = page.items.len();
            all.extend(page.items);
            if n < PAGE || all.len() as u64 >= page.total {
                return Ok(all);
            }
        }
    }
}

/// Everything the server keeps besides metrics: users, the agent
/// whitelist, certificate domains and results, the notification history
/// the alert rules and channels made through the API, ad-hoc silences and
/// the audit log.
/// Implemented for every type that implements the seven traits
/// (`oxmon_storage`'s SQLite and memory stores do).
pub trait ManagementStore:
    UserStore
    + WhitelistStore
    + CertStore
    + DefinitionStore
    + SilenceStore
    + AuditLog
    + crate::notify_history::NotificationHistory
{
}

impl<T> ManagementStore for T where
    T: UserStore
        + WhitelistStore
        + CertStore
        + DefinitionStore
        + SilenceStore
        + AuditLog
        + crate::notify_history::NotificationHistory
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn debug_leaves_hashes_out() {
        let user = User {
            id: 1,
            username: "admin".into(),
            password_hash: "$argon2id$v=19$secret-hash".into(),
            token_version: 3,
            role: Role::Admin,
            disabled: false,
            created_at_ms: 1,
            updated_at_ms: 2,
        };
        let text = format!("{user:?}");
        assert!(!text.contains("secret-hash"), "{text}");
        assert!(text.contains("admin") && text.contains("token_version: 3"));
        let entry = WhitelistEntry {
            agent_id: "web-1".into(),
            token_hash: "token-hash-value".into(),
            description: None,
            created_at_ms: 1,
            updated_at_ms: 1,
        };
        let text = format!("{entry:?}");
        assert!(
            !text.contains("token-hash-value") && text.contains("web-1"),
            "{text}"
        );
        let json = serde_json::to_string(&entry).expect("serialize");
        assert!(!json.contains("token-hash-value"), "{json}");
    }

    #[test]
    fn domains_are_normalized_or_refused() {
        assert_eq!(
            normalize_domain("Example.COM").ok().as_deref(),
            Some("example.com")
        );
        assert_eq!(normalize_domain("::1").ok().as_deref(), Some("::1"));
        for bad in [
            "",
            "https://a.com",
            "a.com:443",
            "a .com",
            "a.com/x",
            "u@a.com",
        ] {
            assert!(
                matches!(normalize_domain(bad), Err(Error::InvalidInput(_))),
                "{bad:?} must be refused"
            );
        }
        assert!(normalize_domain(&"a".repeat(MAX_DOMAIN_LEN + 1)).is_err());
    }

    #[test]
    fn new_domain_defaults_match_the_spec() {
        let parsed: NewCertDomain = serde_json::from_str(r#"{"domain": "a.com"}"#).expect("json");
        assert_eq!(parsed, NewCertDomain::new("a.com"));
        let parsed: NewCertDomain =
            serde_json::from_str(r#"{"domain": "b.com", "port": 8443}"#).expect("json");
        assert_eq!(parsed.port, 8443);
        assert!(
            NewCertDomain::new("a.com")
                .with_port(0)
                .normalized()
                .is_err()
        );
        let mut zero = NewCertDomain::new("a.com");
        zero.check_interval_secs = Some(0);
        assert!(zero.normalized().is_err());
        zero.check_interval_secs = Some(u64::MAX);
        assert!(zero.normalized().is_err());
    }

    #[test]
    fn usernames_are_checked() {
        assert!(validate_username("admin").is_ok());
        for bad in ["", " admin", "admin\n", "a\u{7}b"] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
        assert!(validate_username(&"u".repeat(MAX_USERNAME_LEN + 1)).is_err());
    }

    #[test]
    fn details_filter_semantics() {
        let now = 1_000 * crate::DAY_MS;
        let d = CertificateDetails {
            not_before_ms: now - 10 * crate::DAY_MS,
            not_after_ms: now + 30 * crate::DAY_MS,
            ip_addresses: vec!["10.0.0.1".into()],
            issuer_cn: Some("R3".into()),
            issuer_o: Some("Let's Encrypt".into()),
            chain_valid: true,
            ..CertificateDetails::new("a.com", 443, now)
        };
        let f = |days, ip: Option<&str>, issuer: Option<&str>| DetailsFilter {
            expiring_within_days: days,
            ip_address: ip.map(str::to_owned),
            issuer: issuer.map(str::to_owned),
            ..DetailsFilter::default()
        };
        assert!(
            f(Some(30), None, None).matches(&d, now),
            "boundary is inclusive"
        );
        assert!(!f(Some(29), None, None).matches(&d, now));
        assert!(f(None, Some("10.0.0.1"), None).matches(&d, now));
        assert!(
            !f(None, Some("10.0.0"), None).matches(&d, now),
            "ip is exact"
        );
        assert!(f(None, None, Some("let's")).matches(&d, now));
        assert!(f(None, None, Some("r3")).matches(&d, now));
        assert!(!f(None, None, Some("digicert")).matches(&d, now));
    }
}
