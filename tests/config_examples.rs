//! The example configurations parse, with every field set to what they say.

use oxmon::core::Severity;
use oxmon::core::config::{LogConfig, Recurrence, RuleKind, Weekday};
use oxmon::{AgentConfig, ServerConfig};

fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn agent_example_parses() {
    let c = AgentConfig::load(path("agent.example.toml")).expect("agent example");
    assert_eq!(c.agent_id.as_deref(), Some("web-server-01"));
    assert_eq!(c.server_endpoint, "127.0.0.1:9090");
    assert!(!c.tls);
    assert_eq!((c.collection_interval_secs, c.buffer_max_size), (10, 1000));
    assert_eq!(
        c.log,
        LogConfig::default(),
        "the example shows the defaults"
    );
}

#[test]
fn server_example_parses_with_every_section() {
    let c = ServerConfig::load(path("server.example.toml")).expect("server example");
    assert_eq!(
        (c.grpc_port, c.http_port, c.retention_days),
        (9090, 8080, 7)
    );
    assert!(!c.require_agent_auth);
    assert!(
        c.auth.jwt_secret.is_none(),
        "the example must not ship a signing secret"
    );
    assert!(
        c.auth.default_password.is_none(),
        "the example must not ship a password"
    );
    let types: Vec<&str> = c.alert.rules.iter().map(|r| r.kind.type_name()).collect();
    assert_eq!(
        types,
        [
            "agent_offline",
            "threshold",
            "rate_of_change",
            "trend_prediction",
            "cert_expiration"
        ]
    );
    assert!(
        matches!(c.alert.rules[3].kind, RuleKind::TrendPrediction { min_r_squared: Some(r), .. } if r == 0.5)
    );
    let kinds: Vec<&str> = c
        .notification
        .channels
        .iter()
        .map(|ch| ch.kind.as_str())
        .collect();
    assert_eq!(kinds, ["email", "webhook", "sms", "dingtalk", "weixin"]);
    assert_eq!(c.notification.channels[0].name, "ops-mail");
    assert_eq!(c.notification.channels[0].min_severity, Severity::Warning);
    assert_eq!(c.notification.aggregation_window_secs, 60);
    assert_eq!(c.notification.timezone.as_deref(), Some("Asia/Shanghai"));
    assert_eq!(c.notification.silence_windows.len(), 2);
    assert_eq!(
        c.notification.silence_windows[1].recurrence,
        Recurrence::Weekly(vec![Weekday::Sat, Weekday::Sun])
    );
    assert!(c.cert_check.enabled);
    assert_eq!(c.cert_check.agent_id, "cert-checker");
    assert_eq!(
        c.log,
        LogConfig::default(),
        "the example shows the defaults"
    );
}

#[test]
fn server_example_channels_and_rules_pass_the_full_check() {
    let c = ServerConfig::load(path("server.example.toml")).expect("server example");
    oxmon::server::check(&c).expect("every example channel is accepted by its plugin");
    let mut bad = c.clone();
    bad.notification.channels[1]
        .settings
        .insert("url".into(), "not a url".into());
    let err = oxmon::server::check(&bad).expect_err("a bad webhook url is refused");
    assert!(
        err.to_string().contains("notification.channels[1].url"),
        "{err}"
    );
}
