//! The runtime settings of a running server (`retention_days`,
//! `require_agent_auth`, the notifier's aggregation window and zone,
//! `[cert_check]` scheduling): the file's values, overridden by those set
//! through the REST API, kept in the management store and applied to the
//! running parts (`oxmon_http::SettingsAdmin`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use oxmon_collector::cert::CertChecker;
use oxmon_core::config::{ConfigError, RUNTIME_SETTINGS, ServerConfig};
use oxmon_core::manage::{DefinitionKind, ManagementStore, StoredDefinition};
use oxmon_core::toml;
use oxmon_core::{Clock, Error, Result};
use oxmon_http::{DefinitionSource, ManagedSetting};
use oxmon_notify::Notifier;
use oxmon_storage::SqliteStore;
use oxmon_transport::Ingest;
use tokio::sync::Mutex;

const SETTING: DefinitionKind = DefinitionKind::Setting;

/// Where stored settings' errors point.
const ORIGIN: &str = "cert.db settings";

/// The stored overrides, by key.
fn overrides(stored: &[StoredDefinition]) -> BTreeMap<&str, &toml::Value> {
    stored
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.definition.get("value")?)))
        .collect()
}

/// The file's configuration with the stored overrides in place.
///
/// # Errors
/// A stored override the file's check refuses (a key no longer a runtime
/// setting, a value out of range), naming it.
pub(super) fn effective(
    file: &ServerConfig,
    stored: &[StoredDefinition],
) -> std::result::Result<ServerConfig, ConfigError> {
    file.with_overrides(overrides(stored), ORIGIN)
}

/// The running parts a setting changes.
#[derive(Debug)]
pub(super) struct Targets {
    pub(super) notifier: Notifier,
    pub(super) ingest: Arc<Ingest>,
    pub(super) checker: CertChecker,
    pub(super) sqlite: Option<Arc<SqliteStore>>,
    /// What the retention task of a store the server did not open reads.
    pub(super) retention_days: Arc<AtomicU32>,
}

/// The server's [`oxmon_http::SettingsAdmin`].
#[derive(Debug)]
pub(super) struct SettingsManager {
    file: ServerConfig,
    store: Arc<dyn ManagementStore>,
    targets: Targets,
    clock: Arc<dyn Clock>,
    /// One change at a time, from validation to the running parts.
    changes: Mutex<()>,
}

impl SettingsManager {
    pub(super) fn new(
        file: ServerConfig,
        store: Arc<dyn ManagementStore>,
        targets: Targets,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            file,
            store,
            targets,
            clock,
            changes: Mutex::new(()),
        }
    }

    /// Applies the effective settings to the running parts.
    ///
    /// # Errors
    /// A stored override that no longer validates, or a CA file that
    /// cannot be read.
    pub(super) async fn apply(&self) -> Result<()> {
        let stored = self.store.list_definitions(SETTING).await?;
        let config = effective(&self.file, &stored).map_err(Error::Config)?;
        self.apply_config(&config)
    }

    fn apply_config(&self, config: &ServerConfig) -> Result<()> {
        let t = &self.targets;
        t.checker
            .reconfigure(&config.cert_check)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        t.notifier
            .set_silence_zone(config.notification.timezone.as_deref())
            .map_err(Error::InvalidInput)?;
        t.notifier
            .set_aggregation_window(std::time::Duration::from_secs(
                config.notification.aggregation_window_secs,
            ));
        if !t.ingest.set_auth_required(config.require_agent_auth) {
            return Err(Error::InvalidInput(
                "require_agent_auth: this server has no agent whitelist".into(),
            ));
        }
        t.retention_days
            .store(config.retention_days, Ordering::Relaxed);
        if let Some(sqlite) = &t.sqlite {
            sqlite.set_retention_days(Some(config.retention_days));
        }
        Ok(())
    }

    fn view(&self, stored: &[StoredDefinition], config: &ServerConfig) -> Vec<ManagedSetting> {
        RUNTIME_SETTINGS
            .iter()
            .map(|key| {
                let set = stored.iter().find(|s| s.name == *key);
                ManagedSetting {
                    key: (*key).to_owned(),
                    value: config.runtime_setting(key),
                    source: if set.is_some() {
                        DefinitionSource::Api
                    } else {
                        DefinitionSource::Config
                    },
                    file_value: self.file.runtime_setting(key),
                    updated_at_ms: set.map(|s| s.updated_at_ms),
                }
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl oxmon_http::SettingsAdmin for SettingsManager {
    async fn settings(&self) -> Result<Vec<ManagedSetting>> {
        let stored = self.store.list_definitions(SETTING).await?;
        let config = effective(&self.file, &stored).map_err(Error::Config)?;
        Ok(self.view(&stored, &config))
    }

    async fn update(
        &self,
        changes: BTreeMap<String, Option<toml::Value>>,
    ) -> Result<Vec<ManagedSetting>> {
        let _one = self.changes.lock().await;
        let stored = self.store.list_definitions(SETTING).await?;
        // The overrides after the change, checked as a whole first.
        let mut next: BTreeMap<&str, &toml::Value> = overrides(&stored);
        for (key, value) in &changes {
            match value {
                Some(v) => next.insert(key.as_str(), v),
                None => next.remove(key.as_str()),
            };
        }
        let config = self
            .file
            .with_overrides(next, "request body")
            .map_err(Error::Config)?;
        // Checked against the running parts (a CA file, a zone) before a
        // byte is stored.
        self.apply_config(&config)?;
        if let Err(e) = self.store_changes(&stored, changes).await {
            // Back to what is stored, which the running parts ran before.
            if let Err(again) = self.apply().await {
                tracing::error!(error = %again, "cannot restore the stored settings");
            }
            return Err(e);
        }
        let stored = self.store.list_definitions(SETTING).await?;
        Ok(self.view(&stored, &config))
    }
}

impl SettingsManager {
    async fn store_changes(
        &self,
        stored: &[StoredDefinition],
        changes: BTreeMap<String, Option<toml::Value>>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        for (key, value) in changes {
            let existing = stored.iter().find(|s| s.name == key);
            match (value, existing) {
                (Some(v), Some(s)) => {
                    let table = toml::Table::from_iter([("value".to_owned(), v)]);
                    self.store
                        .update_definition(SETTING, &s.id, &key, &table, now)
                        .await?;
                }
                (Some(v), None) => {
                    let table = toml::Table::from_iter([("value".to_owned(), v)]);
                    self.store
                        .create_definition(SETTING, &key, &table, now)
                        .await?;
                }
                (None, Some(s)) => self.store.delete_definition(SETTING, &s.id).await?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}
