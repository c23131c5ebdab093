//! `ChannelRegistry`: which plugin handles which channel `type`.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{Channel, ChannelPlugin};

/// Maps channel `type`s to plugins and builds channels from configurations.
///
/// `with_builtin()` registers the plugins of the enabled features, one line
/// each; a downstream crate adds its own with [`ChannelRegistry::register`].
#[derive(Debug, Clone, Default)]
pub struct ChannelRegistry {
    plugins: BTreeMap<String, Arc<dyn ChannelPlugin>>,
}

impl ChannelRegistry {
    /// A registry with no plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every built-in plugin whose feature is enabled.
    pub fn with_builtin() -> Self {
        #[allow(unused_mut)] // with no channel feature enabled
        let mut r = Self::new();
        #[cfg(feature = "email")]
        r.register(Arc::new(crate::channels::email::EmailPlugin));
        #[cfg(feature = "webhook")]
        r.register(Arc::new(crate::channels::webhook::WebhookPlugin));
        #[cfg(feature = "sms")]
        r.register(Arc::new(crate::channels::sms::SmsPlugin));
        #[cfg(feature = "dingtalk")]
        r.register(Arc::new(crate::channels::dingtalk::DingTalkPlugin::new()));
        #[cfg(feature = "weixin")]
        r.register(Arc::new(crate::channels::weixin::WeixinPlugin));
        r
    }

    /// Adds a plugin, returning the one it replaces for the same `type`.
    pub fn register(&mut self, plugin: Arc<dyn ChannelPlugin>) -> Option<Arc<dyn ChannelPlugin>> {
        self.plugins.insert(plugin.name().to_owned(), plugin)
    }

    /// The plugin for a `type`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ChannelPlugin>> {
        self.plugins.get(kind)
    }

    /// The registered `type`s, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    fn plugin_for(&self, config: &ChannelConfig) -> Result<&Arc<dyn ChannelPlugin>, ConfigError> {
        self.get(&config.kind).ok_or_else(|| {
            ConfigError::field(
                config.origin.clone(),
                format!("notification.channels[{}].type", config.index),
                format!(
                    "channel `{}`: unknown type `{}`, registered types: {}",
                    config.name,
                    config.kind,
                    if self.plugins.is_empty() {
                        "(none)".to_owned()
                    } else {
                        self.kinds().join(", ")
                    }
                ),
            )
        })
    }

    /// Validates a channel configuration with its plugin.
    ///
    /// # Errors
    /// Unknown `type`, or the plugin's error naming the channel and field.
    pub fn validate(&self, config: &ChannelConfig) -> Result<(), ConfigError> {
        self.plugin_for(config)?.validate(config)
    }

    /// Builds a channel with its plugin.
    ///
    /// # Errors
    /// Unknown `type`, or the plugin's error naming the channel and field.
    pub fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        self.plugin_for(config)?.build(config)
    }

    /// Builds every channel, stopping at the first invalid one.
    ///
    /// # Errors
    /// As [`ChannelRegistry::build`].
    pub fn build_all(
        &self,
        configs: &[ChannelConfig],
    ) -> Result<Vec<Arc<dyn Channel>>, ConfigError> {
        configs.iter().map(|c| self.build(c)).collect()
    }
}

#[cfg(all(
    test,
    feature = "email",
    feature = "webhook",
    feature = "sms",
    feature = "dingtalk",
    feature = "weixin"
))]
mod tests {
    use super::*;

    #[test]
    fn builtin_registers_every_enabled_channel() {
        let r = ChannelRegistry::with_builtin();
        assert_eq!(r.kinds(), ["dingtalk", "email", "sms", "webhook", "weixin"]);
        let cfg = ChannelConfig::new("weixin", "wx", toml::Table::new());
        let err = r.validate(&cfg).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("notification.channels[0].webhook_url")
        );
        assert!(err.to_string().contains("`wx`"), "{err}");
    }
}
