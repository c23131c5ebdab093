//! Optional data sources of the read-only routes: what is firing now, and
//! how "active" an agent is.

use oxmon_core::Labels;
use serde::Serialize;
use utoipa::ToSchema;

/// Default expected report interval of an agent, in seconds.
pub const DEFAULT_ACTIVITY_INTERVAL_SECS: u64 = 10;
/// Default number of missed intervals before an agent counts as inactive.
pub const DEFAULT_ACTIVITY_MULTIPLE: u32 = 3;
/// Default largest span of a `/v1/metrics` query: 31 days.
pub const DEFAULT_MAX_QUERY_SPAN_SECS: u64 = 31 * 86_400;

/// One alert that is firing now, as `GET /v1/alerts/active` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActiveAlertView {
    /// Its id, for acknowledging or resolving it; the start of its events'
    /// ids in the history.
    pub id: String,
    /// Name of the rule that fires.
    pub rule: String,
    /// The agent of the series.
    pub agent_id: String,
    /// The metric of the series.
    pub metric: String,
    /// The labels of the series.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub labels: Labels,
    /// `info`, `warning` or `critical`.
    #[schema(value_type = String, example = "critical")]
    pub severity: oxmon_core::Severity,
    /// When it started firing, RFC 3339.
    pub since: String,
    /// The value that triggered it.
    pub value: f64,
    /// A human-readable sentence.
    pub message: String,
    /// Who acknowledged it (no reminders or escalations until it resolves).
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged, RFC 3339.
    pub acknowledged_at: Option<String>,
    /// The id of the alert that keeps it from being notified while it
    /// fires (inhibition: a critical alert of the same series, an offline
    /// agent, an `[[alert.inhibit]]` entry); `null` when none does.
    pub inhibited_by: Option<String>,
}

/// What is firing now, and taking it on: implemented by the alert engine's
/// state (the server wires it in with
/// [`crate::AppState::with_active_alerts`]).
#[async_trait::async_trait]
pub trait ActiveAlerts: Send + Sync + std::fmt::Debug {
    /// Every alert firing now.
    fn active(&self) -> Vec<ActiveAlertView>;

    /// Acknowledges the firing alert `id` for `by`: no reminders or
    /// escalations until it resolves.
    ///
    /// # Errors
    /// [`oxmon_core::Error::NotFound`] when no alert `id` fires;
    /// `Unavailable` (the default) where alerts cannot be acknowledged.
    async fn acknowledge(&self, id: &str, by: &str) -> oxmon_core::Result<ActiveAlertView> {
        let _ = (id, by);
        Err(oxmon_core::Error::unavailable(
            "alerts cannot be acknowledged on this server",
        ))
    }

    /// Resolves the firing alert `id` by hand for `by`; the resolution is
    /// stored and notified.
    ///
    /// # Errors
    /// As [`ActiveAlerts::acknowledge`].
    async fn resolve(&self, id: &str, by: &str) -> oxmon_core::Result<()> {
        let _ = (id, by);
        Err(oxmon_core::Error::unavailable(
            "alerts cannot be resolved on this server",
        ))
    }
}

/// When an agent counts as active: seen within `interval_secs x multiple`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Activity {
    pub(crate) interval_secs: u64,
    pub(crate) multiple: u32,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            interval_secs: DEFAULT_ACTIVITY_INTERVAL_SECS,
            multiple: DEFAULT_ACTIVITY_MULTIPLE,
        }
    }
}

impl Activity {
    /// The window in ms, saturating.
    fn window_ms(self) -> i64 {
        let ms = self
            .interval_secs
            .saturating_mul(u64::from(self.multiple))
            .saturating_mul(1000);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    /// Whether an agent last seen at `last_seen_ms` is active at `now_ms`.
    pub(crate) fn is_active(self, last_seen_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(last_seen_ms) <= self.window_ms()
    }
}

/// The server's own state, for `/v1/health` and `GET /metrics`.
#[async_trait::async_trait]
pub trait ServerStatus: Send + Sync + std::fmt::Debug {
    /// `ok`, or a sentence saying what is wrong with storage.
    fn storage_state(&self) -> String;

    /// The server's own metrics in the Prometheus text format (0.0.4).
    async fn prometheus(&self) -> String;
}

/// Runs certificate checks on demand: implemented by the server's
/// certificate scheduler (wired in with [`crate::AppState::with_certs`]).
#[async_trait::async_trait]
pub trait CertChecks: Send + Sync + std::fmt::Debug {
    /// Checks these domains now (sharing the scheduler's concurrency limit),
    /// records the results and returns them in the order given.
    async fn check_now(
        &self,
        domains: Vec<oxmon_core::manage::CertDomain>,
    ) -> Vec<oxmon_core::manage::CertCheckResult>;

    /// Why this checker would never check `domain` whatever it resolves to
    /// (an IP address in a range the server refuses), or `None`. Asked
    /// when a domain is added, which is then refused with 422 and this
    /// reason. Default: `None`, every domain is accepted.
    fn refuse_target(&self, domain: &str) -> Option<String> {
        let _ = domain;
        None
    }
}

/// Where an alert rule or a notification channel is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DefinitionSource {
    /// `[[alert.rules]]` or `[[notification.channels]]` of `server.toml`:
    /// read-only through the API.
    Config,
    /// Made through the API and kept in the management database.
    Api,
}

/// An alert rule with where it is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedRule {
    /// `config:<name>` for a rule of the file, the store's id otherwise.
    pub id: String,
    /// Where it is defined.
    pub source: DefinitionSource,
    /// The rule.
    pub rule: oxmon_core::config::RuleConfig,
    /// When it was made through the API (ms since the epoch).
    pub created_at_ms: Option<i64>,
    /// When it was last changed through the API (ms since the epoch).
    pub updated_at_ms: Option<i64>,
}

/// The prefix of the id of a rule or channel of the configuration file.
pub const CONFIG_ID_PREFIX: &str = "config:";

impl ManagedRule {
    /// A rule of the configuration file: id `config:<name>`, read-only.
    pub fn from_file(rule: &oxmon_core::config::RuleConfig) -> Self {
        Self {
            id: format!("{CONFIG_ID_PREFIX}{}", rule.name),
            source: DefinitionSource::Config,
            rule: rule.clone(),
            created_at_ms: None,
            updated_at_ms: None,
        }
    }
}

/// The alert rules of a server, and changing them while it runs:
/// implemented by the server over its alert engine and management store
/// (wired in with [`crate::AppState::with_rule_admin`]).
///
/// Every change is validated like a `[[alert.rules]]` entry and applies to
/// the running engine before the call returns.
///
/// # Errors
/// [`oxmon_core::Error::Config`] for a definition the file would refuse
/// (naming the field), [`oxmon_core::Error::NotFound`] for an unknown id,
/// [`oxmon_core::Error::Conflict`] for a taken name or a rule of the file.
#[async_trait::async_trait]
pub trait RuleAdmin: Send + Sync + std::fmt::Debug {
    /// Every rule: the file's first, then the API's in creation order.
    async fn rules(&self) -> oxmon_core::Result<Vec<ManagedRule>>;

    /// Adds a rule from its `[[alert.rules]]` fields.
    async fn create(&self, definition: toml::Table) -> oxmon_core::Result<ManagedRule>;

    /// Replaces rule `id` with these fields.
    async fn update(&self, id: &str, definition: toml::Table) -> oxmon_core::Result<ManagedRule>;

    /// Deletes rule `id`; its firing alerts resolve.
    async fn delete(&self, id: &str) -> oxmon_core::Result<()>;

    /// Sets rule `id`'s `enabled`; disabling resolves its firing alerts.
    async fn set_enabled(&self, id: &str, enabled: bool) -> oxmon_core::Result<ManagedRule>;
}

/// The rules of a configuration, read-only: what
/// [`crate::AppState::with_rules`] serves.
#[derive(Debug, Clone)]
pub(crate) struct StaticRules(pub(crate) Vec<oxmon_core::config::RuleConfig>);

impl StaticRules {
    fn read_only() -> oxmon_core::Error {
        oxmon_core::Error::Conflict(
            "this server's rules are read-only: they come from its configuration".into(),
        )
    }
}

#[async_trait::async_trait]
impl RuleAdmin for StaticRules {
    async fn rules(&self) -> oxmon_core::Result<Vec<ManagedRule>> {
        Ok(self.0.iter().map(ManagedRule::from_file).collect())
    }

    async fn create(&self, _: toml::Table) -> oxmon_core::Result<ManagedRule> {
        Err(Self::read_only())
    }

    async fn update(&self, _: &str, _: toml::Table) -> oxmon_core::Result<ManagedRule> {
        Err(Self::read_only())
    }

    async fn delete(&self, _: &str) -> oxmon_core::Result<()> {
        Err(Self::read_only())
    }

    async fn set_enabled(&self, _: &str, _: bool) -> oxmon_core::Result<ManagedRule> {
        Err(Self::read_only())
    }
}

/// A notification channel as the API shows it: where it is defined, its
/// settings without the write-only ones, and which of those are set.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedChannel {
    /// `config:<name>` for a channel of the file, the store's id otherwise.
    pub id: String,
    /// Where it is defined.
    pub source: DefinitionSource,
    /// Its unique name.
    pub name: String,
    /// Its `type`.
    pub kind: String,
    /// Events below this severity skip it.
    pub min_severity: oxmon_core::Severity,
    /// Whether resolutions reach it.
    pub send_resolved: bool,
    /// Its settings that are not secrets.
    pub settings: toml::Table,
    /// Each write-only setting its plugin knows or it has: whether it is set.
    pub secrets: std::collections::BTreeMap<String, bool>,
    /// When it was made through the API (ms since the epoch).
    pub created_at_ms: Option<i64>,
    /// When it was last changed through the API (ms since the epoch).
    pub updated_at_ms: Option<i64>,
}

impl ManagedChannel {
    /// A channel of the configuration file: id `config:<name>`, read-only,
    /// its secrets hidden by what `plugin` says of them.
    pub fn from_file(
        config: &oxmon_core::config::ChannelConfig,
        plugin: Option<&dyn oxmon_core::ChannelPlugin>,
    ) -> Self {
        Self::new(
            format!("{CONFIG_ID_PREFIX}{}", config.name),
            DefinitionSource::Config,
            config,
            plugin,
        )
    }

    /// `config` as the API shows it: every setting `plugin` calls secret
    /// (all of them without a plugin) moved out of `settings` into
    /// `secrets` as set, with the plugin's other secret settings as unset.
    pub fn new(
        id: String,
        source: DefinitionSource,
        config: &oxmon_core::config::ChannelConfig,
        plugin: Option<&dyn oxmon_core::ChannelPlugin>,
    ) -> Self {
        let is_secret = |key: &str| plugin.is_none_or(|p| p.is_secret(key));
        let mut secrets: std::collections::BTreeMap<String, bool> = plugin
            .map(|p| p.secret_settings())
            .unwrap_or_default()
            .iter()
            .map(|k| ((*k).to_owned(), false))
            .collect();
        let mut settings = toml::Table::new();
        for (key, value) in &config.settings {
            if is_secret(key) {
                secrets.insert(key.clone(), true);
            } else {
                settings.insert(key.clone(), value.clone());
            }
        }
        Self {
            id,
            source,
            name: config.name.clone(),
            kind: config.kind.clone(),
            min_severity: config.min_severity,
            send_resolved: config.send_resolved,
            settings,
            secrets,
            created_at_ms: None,
            updated_at_ms: None,
        }
    }
}

/// How a test notification went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTestOutcome {
    /// The channel's name.
    pub channel: String,
    /// Whether the channel took it.
    pub delivered: bool,
    /// Why not, as the channel said it (URLs and secrets left out).
    pub error: Option<String>,
    /// How long the attempt took, ms.
    pub duration_ms: u64,
}

/// The notification channels of a server, and changing them while it runs:
/// implemented by the server over its notifier and management store (wired
/// in with [`crate::AppState::with_channel_admin`]).
///
/// Every change is validated like a `[[notification.channels]]` entry by
/// the channel's plugin and applies to the running notifier before the call
/// returns. Nothing returned holds a secret setting's value.
///
/// # Errors
/// [`oxmon_core::Error::Config`] for a definition the file would refuse
/// (naming the field), [`oxmon_core::Error::NotFound`] for an unknown id,
/// [`oxmon_core::Error::Conflict`] for a taken name or a channel of the file.
#[async_trait::async_trait]
pub trait ChannelAdmin: Send + Sync + std::fmt::Debug {
    /// Every channel: the file's first, then the API's in creation order.
    async fn channels(&self) -> oxmon_core::Result<Vec<ManagedChannel>>;

    /// Adds a channel from its `[[notification.channels]]` fields.
    async fn create(&self, definition: toml::Table) -> oxmon_core::Result<ManagedChannel>;

    /// Replaces channel `id` with these fields. A secret setting left out
    /// keeps its stored value unless it is named in `cleared`.
    async fn update(
        &self,
        id: &str,
        definition: toml::Table,
        cleared: &[String],
    ) -> oxmon_core::Result<ManagedChannel>;

    /// Deletes channel `id`.
    async fn delete(&self, id: &str) -> oxmon_core::Result<()>;

    /// Sends a test notification through channel `id` now, in one attempt.
    ///
    /// # Errors
    /// Only for an unknown channel or a stopped notifier: a failed send is
    /// an outcome.
    async fn test(&self, id: &str) -> oxmon_core::Result<ChannelTestOutcome>;
}

/// A recurring silence window with where it is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedWindow {
    /// `config:<n>` (its position in the file, from 0) for a window of the
    /// file, the store's id otherwise.
    pub id: String,
    /// Where it is defined.
    pub source: DefinitionSource,
    /// The window.
    pub window: oxmon_core::config::SilenceWindow,
    /// When it was made through the API (ms since the epoch).
    pub created_at_ms: Option<i64>,
}

impl ManagedWindow {
    /// The windows of the configuration file, read-only, ids `config:0`, ...
    pub fn from_file(windows: &[oxmon_core::config::SilenceWindow]) -> Vec<Self> {
        windows
            .iter()
            .enumerate()
            .map(|(i, w)| Self {
                id: format!("{CONFIG_ID_PREFIX}{i}"),
                source: DefinitionSource::Config,
                window: w.clone(),
                created_at_ms: None,
            })
            .collect()
    }
}

/// The recurring silence windows of a server, and changing them while it
/// runs: implemented by the server over its notifier and management store
/// (wired in with [`crate::AppState::with_window_admin`]).
///
/// # Errors
/// [`oxmon_core::Error::Config`] for a window the file would refuse (naming
/// the field), [`oxmon_core::Error::NotFound`] for an unknown id,
/// [`oxmon_core::Error::Conflict`] for an equal window or one of the file.
#[async_trait::async_trait]
pub trait WindowAdmin: Send + Sync + std::fmt::Debug {
    /// Every window: the file's first, then the API's in creation order.
    async fn windows(&self) -> oxmon_core::Result<Vec<ManagedWindow>>;

    /// Adds a window from its `[[notification.silence_windows]]` fields; it
    /// silences from the next event on.
    async fn create(&self, definition: toml::Table) -> oxmon_core::Result<ManagedWindow>;

    /// Deletes window `id`.
    async fn delete(&self, id: &str) -> oxmon_core::Result<()>;
}

/// The windows of a configuration, read-only: what
/// [`crate::AppState::with_silences`] serves.
#[derive(Debug, Clone)]
pub(crate) struct StaticWindows(pub(crate) Vec<oxmon_core::config::SilenceWindow>);

#[async_trait::async_trait]
impl WindowAdmin for StaticWindows {
    async fn windows(&self) -> oxmon_core::Result<Vec<ManagedWindow>> {
        Ok(ManagedWindow::from_file(&self.0))
    }

    async fn create(&self, _: toml::Table) -> oxmon_core::Result<ManagedWindow> {
        Err(windows_read_only())
    }

    async fn delete(&self, _: &str) -> oxmon_core::Result<()> {
        Err(windows_read_only())
    }
}

fn windows_read_only() -> oxmon_core::Error {
    oxmon_core::Error::Conflict(
        "this server's silence windows are read-only: they come from its configuration".into(),
    )
}

/// A runtime setting: its value now and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedSetting {
    /// Its key, as its place in `server.toml` (`retention_days`,
    /// `cert_check.tick_secs`).
    pub key: String,
    /// Its value now; `None` for an unset optional one.
    pub value: Option<toml::Value>,
    /// `config` (the file's value or the default) or `api` (set through
    /// the API, overriding the file).
    pub source: DefinitionSource,
    /// The file's value (or the default), what a reset returns to.
    pub file_value: Option<toml::Value>,
    /// When the API last set it (ms since the epoch).
    pub updated_at_ms: Option<i64>,
}

/// The settings of `server.toml` a running server can change, and
/// changing them: implemented by the server (wired in with
/// [`crate::AppState::with_settings_admin`]).
///
/// # Errors
/// [`oxmon_core::Error::Config`] for a key that is not a runtime setting or
/// a value the file would refuse (naming the field).
#[async_trait::async_trait]
pub trait SettingsAdmin: Send + Sync + std::fmt::Debug {
    /// Every runtime setting.
    async fn settings(&self) -> oxmon_core::Result<Vec<ManagedSetting>>;

    /// Sets each key to its value (`None`: back to the file's), all or
    /// none, applied to the running server before it returns; the settings
    /// after.
    async fn update(
        &self,
        changes: std::collections::BTreeMap<String, Option<toml::Value>>,
    ) -> oxmon_core::Result<Vec<ManagedSetting>>;
}
