//! `StubPlugin` and `StubChannel`: channels that record instead of sending.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::sync::LockExt;
use oxmon_core::{Channel, ChannelPlugin, Notification, SendError};

/// A channel that records what it was asked to send and can be told to fail.
///
/// Public API for users' tests, like lettre's `StubTransport`. Clones share
/// the same record.
#[derive(Debug, Clone)]
pub struct StubChannel {
    name: String,
    state: Arc<Mutex<StubState>>,
}

#[derive(Debug, Default)]
struct StubState {
    sent: Vec<Notification>,
    attempts: usize,
    next_failures: VecDeque<SendError>,
    always: Option<SendError>,
}

impl StubChannel {
    /// A stub channel that accepts everything.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, StubState> {
        self.state.locked()
    }

    /// The notifications delivered so far (failed attempts are not included).
    pub fn sent(&self) -> Vec<Notification> {
        self.state().sent.clone()
    }

    /// Every call to `send`, successful or not.
    pub fn attempts(&self) -> usize {
        self.state().attempts
    }

    /// Makes the next send fail with `error` (queued: call it twice for two failures).
    pub fn fail_next(&self, error: SendError) {
        self.state().next_failures.push_back(error);
    }

    /// Makes every send fail with `error` until called with `None`.
    pub fn fail_always(&self, error: Option<SendError>) {
        self.state().always = error;
    }
}

#[async_trait]
impl Channel for StubChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let mut state = self.state();
        state.attempts += 1;
        if let Some(err) = state.next_failures.pop_front() {
            return Err(err);
        }
        if let Some(err) = &state.always {
            return Err(err.clone());
        }
        state.sent.push(notification.clone());
        Ok(())
    }
}

/// The plugin for `type = "stub"` channels: builds [`StubChannel`]s and keeps
/// a handle on each, so a test can configure channels in TOML and inspect
/// what they received.
///
/// Settings: optional `fail = "retryable" | "permanent"` makes the channel fail.
#[derive(Debug, Clone, Default)]
pub struct StubPlugin {
    channels: Arc<Mutex<BTreeMap<String, StubChannel>>>,
}

impl StubPlugin {
    /// A plugin with no channels built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The channel built under `name`, if any.
    pub fn channel(&self, name: &str) -> Option<StubChannel> {
        self.channels.locked().get(name).cloned()
    }

    /// Every channel built so far.
    pub fn channels(&self) -> Vec<StubChannel> {
        self.channels.locked().values().cloned().collect()
    }

    fn failure(config: &ChannelConfig) -> Result<Option<SendError>, ConfigError> {
        config.deny_unknown(&["fail"])?;
        Ok(match config.optional_str("fail")? {
            None => None,
            Some("retryable") => Some(SendError::retryable("stub configured to fail (retryable)")),
            Some("permanent") => Some(SendError::permanent("stub configured to fail (permanent)")),
            Some(other) => {
                return Err(ConfigError::channel(
                    config,
                    "fail",
                    format!("unknown mode `{other}`, expected retryable or permanent"),
                ));
            }
        })
    }
}

impl ChannelPlugin for StubPlugin {
    fn name(&self) -> &str {
        "stub"
    }

    fn validate(&self, config: &ChannelConfig) -> Result<(), ConfigError> {
        Self::failure(config).map(|_| ())
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        let failure = Self::failure(config)?;
        let channel = StubChannel::new(config.name.clone());
        channel.fail_always(failure);
        self.channels
            .locked()
            .insert(config.name.clone(), channel.clone());
        Ok(Arc::new(channel))
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::config::ServerConfig;
    use oxmon_core::testing::channel::{ChannelHarness, FarEnd, run_all};

    use super::*;
    use crate::ChannelRegistry;

    struct StubHarness {
        plugin: StubPlugin,
        mode: Mutex<FarEnd>,
    }

    #[async_trait]
    impl ChannelHarness for StubHarness {
        fn plugin(&self) -> Arc<dyn ChannelPlugin> {
            Arc::new(self.plugin.clone())
        }

        fn valid_config(&self) -> ChannelConfig {
            ChannelConfig::new("stub", "stub-under-test", toml::Table::new())
        }

        fn invalid_configs(&self) -> Vec<(ChannelConfig, &'static str)> {
            let mut bad_mode = toml::Table::new();
            bad_mode.insert("fail".into(), "sometimes".into());
            let mut unknown = toml::Table::new();
            unknown.insert("fial".into(), "retryable".into());
            let mut wrong_type = toml::Table::new();
            wrong_type.insert("fail".into(), 1.into());
            vec![
                (ChannelConfig::new("stub", "bad-mode", bad_mode), "fail"),
                (ChannelConfig::new("stub", "typo", unknown), "fial"),
                (ChannelConfig::new("stub", "wrong-type", wrong_type), "fail"),
            ]
        }

        async fn received(&self) -> Vec<String> {
            self.plugin
                .channels()
                .iter()
                .flat_map(StubChannel::sent)
                .map(|n| format!("{}\n{}", crate::render::title(&n), crate::render::text(&n)))
                .collect()
        }

        async fn set_far_end(&self, mode: FarEnd) {
            *self.mode.lock().unwrap() = mode;
            let error = match mode {
                FarEnd::Accept => None,
                FarEnd::FailRetryable => Some(SendError::retryable("far end down")),
                FarEnd::FailPermanent => Some(SendError::permanent("far end refuses")),
            };
            for c in self.plugin.channels() {
                c.fail_always(error.clone());
            }
        }
    }

    #[tokio::test]
    async fn stub_plugin_passes_the_conformance_suite() {
        let h = StubHarness {
            plugin: StubPlugin::new(),
            mode: Mutex::new(FarEnd::Accept),
        };
        run_all(&h).await;
    }

    #[tokio::test]
    async fn stub_records_and_fails_on_demand() {
        let stub = StubChannel::new("s");
        let n = Notification {
            events: vec![oxmon_core::testing::sample_event(
                "e",
                "a",
                oxmon_core::Severity::Info,
                0,
            )],
        };
        stub.fail_next(SendError::retryable("once"));
        assert!(stub.send(&n).await.unwrap_err().is_retryable());
        stub.send(&n).await.unwrap();
        assert_eq!(stub.sent(), vec![n]);
        assert_eq!(stub.attempts(), 2);
    }

    #[test]
    fn a_downstream_plugin_handles_its_own_type_from_the_config_file() {
        let config = ServerConfig::from_toml(
            "[[notification.channels]]\ntype = \"stub\"\nname = \"pager\"\nmin_severity = \"critical\"\n\
             [[notification.channels]]\ntype = \"carrier-pigeon\"\n",
            "server.toml",
        )
        .unwrap();
        let plugin = StubPlugin::new();
        let mut registry = ChannelRegistry::with_builtin();
        registry.register(Arc::new(plugin.clone()));
        let channel = registry.build(&config.notification.channels[0]).unwrap();
        assert_eq!(channel.name(), "pager");
        assert!(plugin.channel("pager").is_some());
        let err = registry
            .build(&config.notification.channels[1])
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("notification.channels[1].type"));
        assert!(
            err.to_string().contains("carrier-pigeon") && err.to_string().contains("stub"),
            "{err}"
        );
    }
}
