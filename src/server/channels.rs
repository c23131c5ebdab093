//! The notification channels of a running server: the configuration
//! file's, read-only, and those made through the REST API, kept in the
//! management store and switched into the running notifier
//! (`oxmon_http::ChannelAdmin`).

use std::collections::HashMap;
use std::sync::Arc;

use oxmon_core::config::{ChannelConfig, ConfigError, parse_channel};
use oxmon_core::manage::{DefinitionKind, ManagementStore, StoredDefinition};
use oxmon_core::sync::LockExt;
use oxmon_core::toml;
use oxmon_core::{Channel, Clock, Error, Result};
use oxmon_http::{CONFIG_ID_PREFIX, ChannelTestOutcome, DefinitionSource, ManagedChannel};
use oxmon_notify::{ChannelRegistry, Notifier, Route};
use tokio::sync::Mutex;

const CHANNEL: DefinitionKind = DefinitionKind::Channel;

/// Where a stored channel's errors point: the management database and the
/// channel's id.
fn origin(id: &str) -> String {
    format!("cert.db channel {id}")
}

/// A stored channel as its configuration.
fn parse_stored(stored: &StoredDefinition) -> std::result::Result<ChannelConfig, ConfigError> {
    parse_channel(stored.definition.clone(), &origin(&stored.id))
}

/// The channels of the file, then the stored ones, each checked like a file
/// entry by its plugin and against the file's names.
///
/// # Errors
/// The first stored channel that fails, naming it.
pub(super) fn combine(
    file: &[ChannelConfig],
    stored: &[StoredDefinition],
    registry: &ChannelRegistry,
) -> std::result::Result<Vec<ChannelConfig>, ConfigError> {
    let mut channels = file.to_vec();
    for s in stored {
        if file.iter().any(|c| c.name == s.name) {
            return Err(ConfigError {
                file: origin(&s.id),
                field: Some("name".into()),
                problem: format!(
                    "`{}` is also the name of a channel of the configuration file; rename the \
                     file's channel or delete this one (DELETE /v1/notifications/channels/{})",
                    s.name.escape_debug(),
                    s.id
                ),
            });
        }
        let channel = parse_stored(s)?;
        registry
            .validate(&channel)
            .map_err(ConfigError::within_channel)?;
        channels.push(channel);
    }
    Ok(channels)
}

/// What a built channel was built from: its type and settings.
type BuiltFrom = (String, toml::Table);
/// A built channel with what it was built from.
type Built = (BuiltFrom, Arc<dyn Channel>);

/// The server's [`oxmon_http::ChannelAdmin`].
#[derive(Debug)]
pub(super) struct ChannelManager {
    file: Vec<ChannelConfig>,
    store: Arc<dyn ManagementStore>,
    registry: ChannelRegistry,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    /// Each channel built, by name, with what it was built from: an
    /// unchanged channel is not rebuilt, so its route keeps its rate-limit
    /// window across other channels' changes.
    built: std::sync::Mutex<HashMap<String, Built>>,
    /// One change at a time, from validation to the notifier.
    changes: Mutex<()>,
}

impl ChannelManager {
    pub(super) fn new(
        file: Vec<ChannelConfig>,
        store: Arc<dyn ManagementStore>,
        registry: ChannelRegistry,
        notifier: Notifier,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            file,
            store,
            registry,
            notifier,
            clock,
            built: std::sync::Mutex::new(HashMap::new()),
            changes: Mutex::new(()),
        }
    }

    fn plugin(&self, kind: &str) -> Option<&dyn oxmon_core::ChannelPlugin> {
        self.registry.get(kind).map(|p| p.as_ref())
    }

    fn api_channel(&self, stored: &StoredDefinition, config: &ChannelConfig) -> ManagedChannel {
        let mut view = ManagedChannel::new(
            stored.id.clone(),
            DefinitionSource::Api,
            config,
            self.plugin(&config.kind),
        );
        view.created_at_ms = Some(stored.created_at_ms);
        view.updated_at_ms = Some(stored.updated_at_ms);
        view
    }

    /// Refuses a change to a channel of the file.
    fn refuse_file_channel(&self, id: &str) -> Result<()> {
        super::managed::refuse_file_entry(id, "channel", self.file.iter().map(|x| x.name.as_str()))
    }

    /// Checks a definition as the file's entry would be, by its plugin, and
    /// against the file's channel names.
    fn check(&self, definition: &toml::Table) -> Result<ChannelConfig> {
        let channel = parse_channel(definition.clone(), "request body").map_err(Error::Config)?;
        super::managed::refuse_file_name(
            &channel.name,
            "channel",
            self.file.iter().map(|x| x.name.as_str()),
        )?;
        self.registry
            .validate(&channel)
            .map_err(|e| Error::Config(e.within_channel()))?;
        Ok(channel)
    }

    /// Builds the route of every channel, reusing the channels that did not
    /// change, and switches the notifier to them.
    ///
    /// # Errors
    /// A stored channel that no longer validates.
    pub(super) async fn apply(&self) -> Result<()> {
        let stored = self.store.list_definitions(CHANNEL).await?;
        let configs = combine(&self.file, &stored, &self.registry).map_err(Error::Config)?;
        let mut built = self.built.locked();
        let mut next = HashMap::new();
        let mut routes = Vec::with_capacity(configs.len());
        for config in &configs {
            let from: BuiltFrom = (config.kind.clone(), config.settings.clone());
            let channel = match built.remove(&config.name) {
                Some((was, channel)) if was == from => channel,
                _ => self.registry.build(config).map_err(Error::Config)?,
            };
            routes.push(Route::from_config(config, channel.clone()));
            next.insert(config.name.clone(), (from, channel));
        }
        *built = next;
        drop(built);
        self.notifier.set_routes(routes);
        tracing::info!(channels = ?self.notifier.channels(), "notification channels ready");
        Ok(())
    }

    /// The channel's name for an id of either source.
    async fn name_of(&self, id: &str) -> Result<String> {
        if let Some(name) = id.strip_prefix(CONFIG_ID_PREFIX)
            && self.file.iter().any(|c| c.name == name)
        {
            return Ok(name.to_owned());
        }
        Ok(self.store.get_definition(CHANNEL, id).await?.name)
    }
}

#[async_trait::async_trait]
impl oxmon_http::ChannelAdmin for ChannelManager {
    async fn channels(&self) -> Result<Vec<ManagedChannel>> {
        let mut out: Vec<ManagedChannel> = self
            .file
            .iter()
            .map(|c| ManagedChannel::from_file(c, self.plugin(&c.kind)))
            .collect();
        for s in self.store.list_definitions(CHANNEL).await? {
            let config = parse_stored(&s).map_err(Error::Config)?;
            out.push(self.api_channel(&s, &config));
        }
        Ok(out)
    }

    async fn create(&self, definition: toml::Table) -> Result<ManagedChannel> {
        let _one = self.changes.lock().await;
        let config = self.check(&definition)?;
        let stored = self
            .store
            .create_definition(CHANNEL, &config.name, &definition, self.clock.now_ms())
            .await?;
        self.apply().await?;
        Ok(self.api_channel(&stored, &config))
    }

    async fn update(
        &self,
        id: &str,
        mut definition: toml::Table,
        cleared: &[String],
    ) -> Result<ManagedChannel> {
        let _one = self.changes.lock().await;
        self.refuse_file_channel(id)?;
        let before = self.store.get_definition(CHANNEL, id).await?;
        // A secret the client cannot see and did not send keeps its value,
        // as long as the channel keeps its type.
        let kind = |t: &toml::Table| t.get("type").and_then(|v| v.as_str().map(str::to_owned));
        if kind(&before.definition) == kind(&definition)
            && let Some(plugin) = kind(&definition).and_then(|k| self.registry.get(&k).cloned())
        {
            for (key, value) in &before.definition {
                if plugin.is_secret(key)
                    && !definition.contains_key(key)
                    && !cleared.iter().any(|c| c == key)
                {
                    definition.insert(key.clone(), value.clone());
                }
            }
        }
        let config = self.check(&definition)?;
        let stored = self
            .store
            .update_definition(CHANNEL, id, &config.name, &definition, self.clock.now_ms())
            .await?;
        self.apply().await?;
        Ok(self.api_channel(&stored, &config))
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let _one = self.changes.lock().await;
        self.refuse_file_channel(id)?;
        self.store.delete_definition(CHANNEL, id).await?;
        self.apply().await
    }

    async fn test(&self, id: &str) -> Result<ChannelTestOutcome> {
        let name = self.name_of(id).await?;
        let started = tokio::time::Instant::now();
        let result = self.notifier.send_test(&name).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let error = match result {
            Ok(()) => None,
            Err(oxmon_notify::Error::Send(e)) => Some(e.message),
            Err(oxmon_notify::Error::UnknownChannel(_)) => {
                return Err(Error::NotFound(format!(
                    "no channel `{}`",
                    id.escape_debug()
                )));
            }
            Err(e) => Some(e.to_string()),
        };
        Ok(ChannelTestOutcome {
            channel: name,
            delivered: error.is_none(),
            error,
            duration_ms,
        })
    }
}
