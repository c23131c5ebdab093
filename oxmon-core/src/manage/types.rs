//! The records of the management stores and the rules every store applies to
//! them (validation, normalization, filters), so implementations share one
//! definition.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DAY_MS;
use crate::cert::{CertificateDetails, DEFAULT_CERT_PORT, normalize_domain, validate_port};
use crate::error::{Error, Result};

/// Default page size of the list filters (the spec's `limit` default).
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Longest accepted username, in bytes.
pub const MAX_USERNAME_LEN: usize = 128;
/// A user of the REST API.
///
/// `Debug` leaves the password hash out, and serializing skips it, so a
/// `User` can be logged or returned without exposing the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Store-assigned id, unique and never reused.
    pub id: i64,
    /// Unique login name, compared byte for byte.
    pub username: String,
    /// Opaque password hash (for example argon2id PHC text); hashing is the
    /// caller's job.
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    /// Starts at 0; every password change increments it, so tokens issued for
    /// an older version can be refused.
    pub token_version: u64,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in, and its tokens stop working at once.
    pub disabled: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// What a user (or an API token) may do. Ordered: each role may do what
/// the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything (never secrets).
    Viewer,
    /// A viewer who also acknowledges and resolves alerts, silences and
    /// test-sends notifications.
    Operator,
    /// Everything: users, tokens of others, the agent whitelist, rules,
    /// channels, certificate domains.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// `viewer`, `operator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown role `{}`, expected one of: viewer, operator, admin",
                    s.escape_debug()
                ))
            })
    }
}

/// A long-lived API token of a user, for scripts and integrations: sent as
/// `Authorization: Bearer`, acting with `role` (never more than its user's
/// role at the time of use). Only its hash is stored.
///
/// `Debug` leaves the hash out, and serializing skips it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Store-generated id, unique and never reused.
    pub id: String,
    /// What it is for, e.g. `grafana`.
    pub name: String,
    /// The user it acts for.
    pub user_id: i64,
    /// The most it may do.
    pub role: Role,
    /// Hash of the token ([`crate::token::hash_token`]).
    #[serde(skip_serializing, default)]
    pub token_hash: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// When it stops working, ms since the epoch; `None`: never.
    pub expires_at_ms: Option<i64>,
    /// When it was last used (to the minute), ms since the epoch.
    pub last_used_ms: Option<i64>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("token_hash", &"***")
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("last_used_ms", &self.last_used_ms)
            .finish()
    }
}

/// A token to store: what [`ApiToken`] holds but the store-made parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// What it is for; 1 to [`MAX_TOKEN_NAME_LEN`] bytes.
    pub name: String,
    /// The user it acts for.
    pub user_id: i64,
    /// The most it may do.
    pub role: Role,
    /// Hash of the token.
    pub token_hash: String,
    /// When it stops working; `None`: never.
    pub expires_at_ms: Option<i64>,
}

/// Longest token name, in bytes.
pub const MAX_TOKEN_NAME_LEN: usize = 128;
/// Most API tokens one user may hold.
pub const MAX_TOKENS_PER_USER: usize = 100;

impl NewApiToken {
    /// Checks the name and the hash.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.len() > MAX_TOKEN_NAME_LEN {
            return Err(Error::InvalidInput(format!(
                "a token name has 1 to {MAX_TOKEN_NAME_LEN} bytes and is not blank"
            )));
        }
        if self.name.chars().any(char::is_control) {
            return Err(Error::InvalidInput(
                "a token name has no control characters".into(),
            ));
        }
        validate_hash("token hash", &self.token_hash)
    }
}

/// A change to a user: the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new role.
    pub role: Option<Role>,
    /// Disable (`true`) or enable (`false`).
    pub disabled: Option<bool>,
}

impl UserUpdate {
    /// `user` with the change applied, stamped `now_ms`.
    pub fn applied(&self, user: &User, now_ms: i64) -> User {
        let mut next = user.clone();
        if let Some(role) = self.role {
            next.role = role;
        }
        if let Some(disabled) = self.disabled {
            next.disabled = disabled;
        }
        next.updated_at_ms = now_ms;
        next
    }
}

/// Refuses a change that would leave no enabled administrator (and nobody
/// able to manage users): `users` is every user before the change, `id` the
/// changed one and `after` what it becomes (`None`: deleted).
///
/// # Errors
/// [`Error::Conflict`] naming what would be lost.
pub fn check_admin_remains(users: &[User], id: i64, after: Option<&User>) -> Result<()> {
    let active_admin = |u: &&User| u.role == Role::Admin && !u.disabled;
    let had = users.iter().any(|u| active_admin(&u));
    let remains = users
        .iter()
        .filter(|u| u.id != id)
        .chain(after)
        .any(|u| active_admin(&u));
    if had && !remains {
        return Err(Error::Conflict(
            "that would leave no enabled administrator; make another user admin first".into(),
        ));
    }
    Ok(())
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"***")
            .field("token_version", &self.token_version)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// An agent allowed to report, with the hash of its token.
///
/// `Debug` leaves the token hash out, and serializing skips it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhitelistEntry {
    /// Unique agent id (rules of [`crate::config::validate_agent_id`]).
    pub agent_id: String,
    /// Opaque hash of the agent's token; the token itself is never stored.
    #[serde(skip_serializing, default)]
    pub token_hash: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change (description or token), ms since the epoch.
    pub updated_at_ms: i64,
}

impl fmt::Debug for WhitelistEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhitelistEntry")
            .field("agent_id", &self.agent_id)
            .field("token_hash", &"***")
            .field("description", &self.description)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// A monitored certificate endpoint: a domain name and a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDomain {
    /// Store-generated id, unique and never reused.
    pub id: String,
    /// Host name (ASCII lower case) or IP address.
    pub domain: String,
    /// TCP port, 1 to 65535.
    pub port: u16,
    /// Whether the scheduler checks it.
    pub enabled: bool,
    /// Seconds between checks; `None` uses the configured default.
    pub check_interval_secs: Option<u64>,
    /// Free text for operators.
    pub note: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

fn default_port() -> u16 {
    DEFAULT_CERT_PORT
}

fn default_enabled() -> bool {
    true
}

/// A certificate domain to add. Deserializes from the spec's request bodies
/// (`{"domain": "b.com", "port": 8443}`): `port` defaults to 443 and
/// `enabled` to `true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCertDomain {
    /// Host name or IP address; stored in ASCII lower case.
    pub domain: String,
    /// TCP port, 1 to 65535.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Whether the scheduler checks it.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds between checks (at least 1); `None` uses the configured default.
    #[serde(default)]
    pub check_interval_secs: Option<u64>,
    /// Free text for operators.
    #[serde(default)]
    pub note: Option<String>,
}

impl NewCertDomain {
    /// `domain` on port 443, enabled, default interval, no note.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            port: DEFAULT_CERT_PORT,
            enabled: true,
            check_interval_secs: None,
            note: None,
        }
    }

    /// The same domain on another port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// A copy with the domain normalized, after checking every field.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid domain (see [`normalize_domain`]),
    /// port 0, or an interval of 0 or above `i64::MAX`.
    pub fn normalized(&self) -> Result<Self> {
        validate_port(self.port)?;
        validate_interval(self.check_interval_secs)?;
        Ok(Self {
            domain: normalize_domain(&self.domain)?,
            ..self.clone()
        })
    }
}

/// Changes to a certificate domain; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDomainUpdate {
    /// New port.
    #[serde(default)]
    pub port: Option<u16>,
    /// New enabled flag.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `Some(None)` clears the interval (back to the default), `Some(Some(n))`
    /// sets it. (With serde, JSON `null` reads as `None`: an API that needs to
    /// clear should map its own request type.)
    #[serde(default)]
    pub check_interval_secs: Option<Option<u64>>,
    /// `Some(None)` clears the note, `Some(Some(text))` sets it.
    #[serde(default)]
    pub note: Option<Option<String>>,
}

impl CertDomainUpdate {
    /// Checks the fields that are set.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for port 0 or an interval of 0 or above `i64::MAX`.
    pub fn validate(&self) -> Result<()> {
        if let Some(port) = self.port {
            validate_port(port)?;
        }
        if let Some(interval) = self.check_interval_secs {
            validate_interval(interval)?;
        }
        Ok(())
    }

    /// Applies the update to `domain` (after [`Self::validate`]), setting
    /// `updated_at_ms`.
    pub fn apply_to(&self, domain: &mut CertDomain, now_ms: i64) {
        if let Some(port) = self.port {
            domain.port = port;
        }
        if let Some(enabled) = self.enabled {
            domain.enabled = enabled;
        }
        if let Some(interval) = self.check_interval_secs {
            domain.check_interval_secs = interval;
        }
        if let Some(note) = &self.note {
            domain.note.clone_from(note);
        }
        domain.updated_at_ms = now_ms;
    }
}

/// Filters and page of [`super::CertStore::list_domains`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainFilter {
    /// Only domains with this enabled flag.
    pub enabled: Option<bool>,
    /// Only domains whose name contains this text (ASCII case-insensitive);
    /// empty matches every domain.
    pub search: Option<String>,
    /// At most this many items (at least 1).
    pub limit: usize,
    /// Skip this many matching items.
    pub offset: usize,
}

impl Default for DomainFilter {
    fn default() -> Self {
        Self {
            enabled: None,
            search: None,
            limit: DEFAULT_PAGE_LIMIT,
            offset: 0,
        }
    }
}

impl DomainFilter {
    /// Whether `domain` passes the filters (ignoring limit and offset).
    pub fn matches(&self, domain: &CertDomain) -> bool {
        self.enabled.is_none_or(|e| e == domain.enabled)
            && self
                .search
                .as_deref()
                .is_none_or(|s| domain.domain.contains(&s.to_ascii_lowercase()))
    }
}

/// One page of a list, with the number of items matching the filters in
/// total (ignoring limit and offset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match the filters in total.
    pub total: u64,
}

/// Filters and page of [`super::CertStore::list_details`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailsFilter {
    /// Only certificates whose `not_after` is at most this many days after
    /// `now_ms` (already expired ones included).
    pub expiring_within_days: Option<u32>,
    /// Only certificates of domains that resolved to exactly this address.
    pub ip_address: Option<String>,
    /// Only certificates whose issuer CN or O contains this text (ASCII
    /// case-insensitive).
    pub issuer: Option<String>,
    /// At most this many items (at least 1).
    pub limit: usize,
    /// Skip this many matching items.
    pub offset: usize,
}

impl Default for DetailsFilter {
    fn default() -> Self {
        Self {
            expiring_within_days: None,
            ip_address: None,
            issuer: None,
            limit: DEFAULT_PAGE_LIMIT,
            offset: 0,
        }
    }
}

impl DetailsFilter {
    /// The latest `not_after_ms` that `expiring_within_days` accepts, if set.
    pub fn expiry_cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        self.expiring_within_days
            .map(|days| now_ms.saturating_add(i64::from(days).saturating_mul(DAY_MS)))
    }

    /// Whether `details` pass the filters (ignoring limit and offset).
    pub fn matches(&self, details: &CertificateDetails, now_ms: i64) -> bool {
        let contains = |field: &Option<String>, needle: &str| {
            field
                .as_deref()
                .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
        };
        self.expiry_cutoff_ms(now_ms)
            .is_none_or(|cutoff| details.not_after_ms <= cutoff)
            && self
                .ip_address
                .as_deref()
                .is_none_or(|ip| details.ip_addresses.iter().any(|a| a == ip))
            && self.issuer.as_deref().is_none_or(|issuer| {
                let needle = issuer.to_ascii_lowercase();
                contains(&details.issuer_cn, &needle) || contains(&details.issuer_o, &needle)
            })
    }
}

/// Checks a page limit.
///
/// # Errors
/// [`Error::InvalidInput`] when `limit` is 0.
pub fn validate_limit(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(Error::InvalidInput("limit must be at least 1".into()));
    }
    Ok(())
}

/// Checks a username: 1 to [`MAX_USERNAME_LEN`] bytes, no control
/// characters, no leading or trailing whitespace.
///
/// # Errors
/// [`Error::InvalidInput`] saying what is wrong.
pub fn validate_username(username: &str) -> Result<()> {
    if username.is_empty() {
        return Err(Error::InvalidInput("username must not be empty".into()));
    }
    if username.len() > MAX_USERNAME_LEN {
        return Err(Error::InvalidInput(format!(
            "username must be at most {MAX_USERNAME_LEN} bytes, got {}",
            username.len()
        )));
    }
    if username.chars().any(char::is_control) || username.trim() != username {
        return Err(Error::InvalidInput(format!(
            "username {username:?} has control characters or surrounding whitespace"
        )));
    }
    Ok(())
}

/// Checks a password or token hash: not empty.
///
/// # Errors
/// [`Error::InvalidInput`] naming `what`.
pub fn validate_hash(what: &str, hash: &str) -> Result<()> {
    if hash.is_empty() {
        return Err(Error::InvalidInput(format!("{what} must not be empty")));
    }
    Ok(())
}

/// Checks an agent id before it enters the whitelist (the rules of
/// [`crate::config::validate_agent_id`]).
///
/// # Errors
/// [`Error::InvalidInput`] naming the id.
pub fn validate_whitelist_agent_id(agent_id: &str) -> Result<()> {
    crate::config::validate_agent_id(agent_id)
        .map_err(|e| Error::InvalidInput(format!("agent id {agent_id:?}: {e}")))
}

fn validate_interval(interval: Option<u64>) -> Result<()> {
    match interval {
        Some(0) => Err(Error::InvalidInput(
            "check_interval_secs must be at least 1, got 0".into(),
        )),
        Some(n) if i64::try_from(n).is_err() => Err(Error::InvalidInput(format!(
            "check_interval_secs {n} is too large"
        ))),
        _ => Ok(()),
    }
}
