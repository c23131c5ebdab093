//! Alert rules, notification channels and silence windows made through the
//! API: named
//! definitions, each the TOML table a configuration file's entry would
//! hold, kept beside the rules and channels of the file.

use async_trait::async_trait;

use crate::error::Result;

/// What a stored definition defines. Each kind has its own ids and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    /// An `[[alert.rules]]` entry.
    Rule,
    /// A `[[notification.channels]]` entry. Its table holds the channel's
    /// credentials (`smtp_password`, `api_key`, ...), which the server needs
    /// to send: the store keeps them as given, and only the channel's
    /// plugin decides what of them may be shown.
    Channel,
    /// A `[[notification.silence_windows]]` entry. It has no name of its
    /// own: its name is what it covers (`SilenceWindow::describe`), so two
    /// equal windows conflict.
    SilenceWindow,
    /// A runtime setting overriding `server.toml` (`PUT /v1/settings`): its
    /// name is the setting's key (`retention_days`,
    /// `cert_check.tick_secs`), its table holds `value`.
    Setting,
}

impl DefinitionKind {
    /// Both kinds.
    pub const ALL: [Self; 4] = [
        Self::Rule,
        Self::Channel,
        Self::SilenceWindow,
        Self::Setting,
    ];

    /// `rule`, `channel`, `silence window` or `setting`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Rule => "rule",
            Self::Channel => "channel",
            Self::SilenceWindow => "silence window",
            Self::Setting => "setting",
        }
    }
}

/// A rule or channel made through the API: its fields exactly as the client
/// sent them (the TOML table a file would hold), validated before they are
/// stored. `Debug` names the fields but not their values, which may be
/// secrets.
#[derive(Clone, PartialEq)]
pub struct StoredDefinition {
    /// Store-generated id, unique within its kind and never reused.
    pub id: String,
    /// Its name (the `name` field), unique within its kind.
    pub name: String,
    /// Its fields, `name` and `type` included.
    pub definition: toml::Table,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for StoredDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDefinition")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("fields", &self.definition.keys().collect::<Vec<_>>())
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// The alert rules and notification channels made through the API.
///
/// # Behavior
/// - Names are unique within a kind; ids are assigned by the store, unique
///   within a kind and never reused.
/// - `list_definitions` returns a kind's definitions in creation order.
/// - The store keeps a definition as given: validating it is the caller's.
///
/// # Errors
/// See the [module docs](super) for the errors common to every method.
#[async_trait]
pub trait DefinitionStore: Send + Sync + std::fmt::Debug {
    /// Every stored definition of `kind`, oldest first.
    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<StoredDefinition>>;

    /// Stores a new definition with both timestamps `now_ms`.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`]: a stored one of `kind` has this name.
    async fn create_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition>;

    /// Replaces definition `id`'s name and fields, stamping `updated_at_ms`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no such `id` of `kind`;
    /// [`crate::Error::Conflict`]: another one of `kind` has this name.
    async fn update_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        name: &str,
        definition: &toml::Table,
        now_ms: i64,
    ) -> Result<StoredDefinition>;

    /// Deletes definition `id` of `kind`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no such `id` of `kind`.
    async fn delete_definition(&self, kind: DefinitionKind, id: &str) -> Result<()>;

    /// The definition `id` of `kind`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`]: no such `id` of `kind`.
    async fn get_definition(&self, kind: DefinitionKind, id: &str) -> Result<StoredDefinition> {
        self.list_definitions(kind)
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| {
                crate::Error::NotFound(format!("no {} `{}`", kind.noun(), id.escape_debug()))
            })
    }
}
