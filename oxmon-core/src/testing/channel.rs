//! Conformance suite for [`ChannelPlugin`] implementations and the channels they build.
//!
//! The caller provides a [`ChannelHarness`]: the plugin, configurations, and
//! a view of the far end (an HTTP receiver, an SMTP server, a stub's record)
//! that can be told to fail.

use std::sync::Arc;

use async_trait::async_trait;

use crate::alert::AlertStatus;
use crate::channel::{ChannelPlugin, Notification, SendErrorKind};
use crate::config::ChannelConfig;
use crate::testing::{T0, sample_event};
use crate::types::Severity;

/// How the far end should answer the next sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarEnd {
    /// Accept.
    Accept,
    /// Fail in a way worth retrying (HTTP 500, timeout, SMTP 4xx).
    FailRetryable,
    /// Fail in a way not worth retrying (HTTP 400, bad signature, SMTP 5xx).
    FailPermanent,
}

/// What the suite needs from the caller.
#[async_trait]
pub trait ChannelHarness: Send + Sync {
    /// The plugin under test.
    fn plugin(&self) -> Arc<dyn ChannelPlugin>;
    /// A configuration pointing at the harness's far end.
    fn valid_config(&self) -> ChannelConfig;
    /// Broken configurations, each with the settings field its error must name.
    fn invalid_configs(&self) -> Vec<(ChannelConfig, &'static str)>;
    /// Everything the far end has received so far, as text (request bodies, mail data).
    async fn received(&self) -> Vec<String>;
    /// Makes the far end answer the following sends this way.
    async fn set_far_end(&self, mode: FarEnd);
}

/// Runs every check of this suite.
pub async fn run_all(h: &dyn ChannelHarness) {
    plugin_name_matches_the_config_type(h);
    invalid_configs_name_channel_and_field(h);
    delivers_every_event_field(h).await;
    failures_are_classified(h).await;
}

/// The plugin's name is the `type` its configurations carry.
pub fn plugin_name_matches_the_config_type(h: &dyn ChannelHarness) {
    let plugin = h.plugin();
    assert_eq!(
        plugin.name(),
        h.valid_config().kind,
        "plugin name must equal the config `type`"
    );
}

/// Every broken configuration is refused by `validate` and `build`, and the
/// error names the channel and the field.
pub fn invalid_configs_name_channel_and_field(h: &dyn ChannelHarness) {
    let plugin = h.plugin();
    plugin
        .validate(&h.valid_config())
        .expect("the valid config must validate");
    let invalid = h.invalid_configs();
    assert!(
        !invalid.is_empty(),
        "the harness must provide broken configurations"
    );
    for (config, field) in invalid {
        let err = plugin
            .validate(&config)
            .expect_err("a broken config must be refused");
        let msg = err.to_string();
        let path = err.field.clone().unwrap_or_default();
        assert!(
            path.ends_with(field),
            "error must name field `{field}`: {msg}"
        );
        assert!(
            msg.contains(&config.name),
            "error must name channel `{}`: {msg}",
            config.name
        );
        assert!(
            plugin.build(&config).is_err(),
            "build must refuse what validate refuses: {msg}"
        );
    }
}

/// A send reaches the far end once, carrying the agent, metric, severity,
/// value and message (quotes, newlines and non-ASCII intact); resolved events too.
pub async fn delivers_every_event_field(h: &dyn ChannelHarness) {
    h.set_far_end(FarEnd::Accept).await;
    let channel = h.plugin().build(&h.valid_config()).expect("build");
    assert_eq!(
        channel.name(),
        h.valid_config().name,
        "a channel is named after its config"
    );
    let before = h.received().await.len();
    let event = sample_event(
        "conf-channel-1",
        "conformance-agent-7",
        Severity::Critical,
        T0,
    );
    channel
        .send(&Notification::single(event))
        .await
        .expect("send to an accepting far end");
    let received = h.received().await;
    assert_eq!(
        received.len(),
        before + 1,
        "one notification is one delivery"
    );
    let text = received.last().expect("delivery").clone();
    for needle in ["conformance-agent-7", "disk.used_percent", "97.25"] {
        assert!(
            text.contains(needle),
            "delivery must contain `{needle}`: {text}"
        );
    }
    assert!(
        text.to_lowercase().contains("critical"),
        "delivery must contain the severity: {text}"
    );

    let mut resolved = sample_event(
        "conf-channel-2",
        "conformance-agent-8",
        Severity::Warning,
        T0 + 60_000,
    );
    resolved.status = AlertStatus::Resolved;
    channel
        .send(&Notification::single(resolved))
        .await
        .expect("send resolved");
    let received = h.received().await;
    let text = received.last().expect("delivery");
    assert!(text.contains("conformance-agent-8"), "{text}");
    assert!(
        text.to_lowercase().contains("resolved"),
        "a resolved notification says so: {text}"
    );
}

/// Far-end failures come back as errors with the right kind, never as success.
pub async fn failures_are_classified(h: &dyn ChannelHarness) {
    let channel = h.plugin().build(&h.valid_config()).expect("build");
    let n = Notification::single(sample_event(
        "conf-channel-3",
        "conformance-agent-9",
        Severity::Warning,
        T0,
    ));
    h.set_far_end(FarEnd::FailRetryable).await;
    let err = channel
        .send(&n)
        .await
        .expect_err("a failing far end must not be reported as success");
    assert!(
        matches!(err.kind, SendErrorKind::Retryable { .. }),
        "expected retryable: {err:?}"
    );
    h.set_far_end(FarEnd::FailPermanent).await;
    let err = channel
        .send(&n)
        .await
        .expect_err("a refusing far end must not be reported as success");
    assert_eq!(
        err.kind,
        SendErrorKind::Permanent,
        "expected permanent: {err:?}"
    );
    h.set_far_end(FarEnd::Accept).await;
    channel
        .send(&n)
        .await
        .expect("the channel recovers when the far end does");
}
