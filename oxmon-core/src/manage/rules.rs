//! Alert rules made through the API, kept beside the rules of the
//! configuration file.

use async_trait::async_trait;

use crate::error::Result;

/// An alert rule made through the API: its `[[alert.rules]]` fields exactly
/// as the client sent them (the TOML table a file would hold), validated
/// before they are stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    /// Store-generated id, unique and never reused.
    pub id: String,
    /// The rule's name (its `name` field), unique among stored rules.
    pub name: String,
    /// The rule's fields, `name` and `type` included.
    pub definition: toml::Table,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// The alert rules made through the API.
///
/// # Behavior
/// - Names are unique among stored rules; ids are assigned by the store and
///   never reused.
/// - `list_rules` returns the rules in creation order.
/// - The store keeps a definition as given: validating it is the caller's.
///
/// # Errors
/// See the [module docs](super) for the errors common to every method.
#[async_trait]
pub trait RuleStore: Send + Sync + std::fmt::Debug {
    /// Every stored rule, oldest first.
    async fn list_rules(&self) -> Result<Vec<StoredRule>>;

    /// Stores a new rule with both timestamps `now_ms`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`]: a stored rule has this name.
    async fn create_rule(
        &self,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredRule>;

    /// Replaces rule `id`'s name and definition, stamping `updated_at_ms`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no rule `id`; [`crate::Error::Conflict`]:
    /// another stored rule has this name.
    async fn update_rule(
        &self,
        id: &str,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredRule>;

    /// Deletes rule `id`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no rule `id`.
    async fn delete_rule(&self, id: &str) -> Result<()>;
}
