//! Parsing and validation of `agent.toml` and `server.toml`: every error names
//! the file and the field.
//!
//! One concern (the errors of every configuration field) kept in one file:
//! tests, one or more a field, sharing the parse-and-expect-error helpers.

use super::*;
use crate::types::Severity;

fn agent_err(text: &str) -> ConfigError {
    AgentConfig::from_toml(text, "agent.toml").expect_err("config should be rejected")
}

fn server_err(text: &str) -> ConfigError {
    ServerConfig::from_toml(text, "server.toml").expect_err("config should be rejected")
}

/// Asserts the error names `file`, the exact `field`, and mentions each of `words`.
#[track_caller]
fn assert_names(err: &ConfigError, file: &str, field: &str, words: &[&str]) {
    let msg = err.to_string();
    assert_eq!(err.file, file, "{msg}");
    assert_eq!(err.field.as_deref(), Some(field), "{msg}");
    assert!(
        msg.starts_with(&format!("{file}: field `{field}`: ")),
        "{msg}"
    );
    for w in words {
        assert!(msg.contains(w), "`{w}` missing in: {msg}");
    }
}

#[test]
fn empty_agent_file_gives_the_spec_defaults() {
    let c = AgentConfig::from_toml("", "agent.toml").unwrap();
    assert_eq!(c, AgentConfig::default());
    assert_eq!(c.server_endpoint, "127.0.0.1:9090");
    assert!(!c.tls);
    assert_eq!(c.auth_token, None);
    assert_eq!(c.collection_interval_secs, 10);
    assert_eq!(c.buffer_max_size, 1000);
    assert_eq!(c.agent_id_or("host-a"), "host-a");
}

#[test]
fn the_spec_agent_example_parses() {
    let c = AgentConfig::from_toml(
        r#"
agent_id = "web-server-01"
server_endpoint = "10.0.1.100:9090"
tls = true
auth_token = "your-token-here"
collection_interval_secs = 10
buffer_max_size = 1000
"#,
        "agent.toml",
    )
    .unwrap();
    assert_eq!(c.agent_id.as_deref(), Some("web-server-01"));
    assert!(c.tls);
    assert_eq!(
        c.auth_token.as_ref().map(|t| t.expose()),
        Some("your-token-here")
    );
    assert!(
        !format!("{c:?}").contains("your-token-here"),
        "Debug leaks the token"
    );
}

#[test]
fn agent_out_of_range_values_name_the_field() {
    assert_names(
        &agent_err("collection_interval_secs = 0"),
        "agent.toml",
        "collection_interval_secs",
        &["at least 1", "got 0"],
    );
    assert_names(
        &agent_err("collection_interval_secs = 100000"),
        "agent.toml",
        "collection_interval_secs",
        &["86400"],
    );
    assert_names(
        &agent_err("buffer_max_size = 0"),
        "agent.toml",
        "buffer_max_size",
        &["at least 1"],
    );
    assert_names(
        &agent_err("collection_interval_secs = -5"),
        "agent.toml",
        "collection_interval_secs",
        &["-5"],
    );
}

#[test]
fn agent_wrong_types_name_the_field() {
    assert_names(
        &agent_err("collection_interval_secs = \"ten\""),
        "agent.toml",
        "collection_interval_secs",
        &["ten"],
    );
    assert_names(
        &agent_err("tls = \"yes\""),
        "agent.toml",
        "tls",
        &["boolean"],
    );
    assert_names(
        &agent_err("buffer_max_size = 1.5"),
        "agent.toml",
        "buffer_max_size",
        &["1.5"],
    );
}

#[test]
fn agent_unknown_and_bad_values() {
    assert_names(
        &agent_err("colection_interval_secs = 5"),
        "agent.toml",
        "colection_interval_secs",
        &["unknown key", "collection_interval_secs"],
    );
    assert_names(
        &agent_err("agent_id = \"\""),
        "agent.toml",
        "agent_id",
        &["empty"],
    );
    assert_names(
        &agent_err("agent_id = \"web 01\""),
        "agent.toml",
        "agent_id",
        &["' '"],
    );
    assert_names(
        &agent_err("server_endpoint = \"10.0.0.1\""),
        "agent.toml",
        "server_endpoint",
        &["port"],
    );
    assert_names(
        &agent_err("server_endpoint = \"10.0.0.1:99999\""),
        "agent.toml",
        "server_endpoint",
        &["99999"],
    );
    assert_names(
        &agent_err("server_endpoint = \"ftp://a:1\""),
        "agent.toml",
        "server_endpoint",
        &["ftp"],
    );
    assert_names(
        &agent_err("tls = true\nserver_endpoint = \"http://a:1\""),
        "agent.toml",
        "server_endpoint",
        &["https"],
    );
    assert_names(
        &agent_err("auth_token = \"  \""),
        "agent.toml",
        "auth_token",
        &["empty"],
    );
    assert_names(
        &agent_err("tls_ca_file = \"ca.pem\""),
        "agent.toml",
        "tls_ca_file",
        &["tls"],
    );
    AgentConfig::from_toml(
        "server_endpoint = \"https://mon.example.com:443\"\ntls = true",
        "a",
    )
    .unwrap();
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let e = agent_err("collection_interval_secs = ");
    assert_eq!(e.field, None);
    let msg = e.to_string();
    assert!(msg.starts_with("agent.toml: invalid TOML"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn unreadable_file_is_named() {
    let e = AgentConfig::load("/nonexistent/oxmon/agent.toml").unwrap_err();
    assert_eq!(e.file, "/nonexistent/oxmon/agent.toml");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn empty_server_file_gives_the_spec_defaults() {
    let c = ServerConfig::from_toml("", "server.toml").unwrap();
    assert_eq!(c, ServerConfig::default());
    assert_eq!((c.grpc_port, c.http_port), (9090, 8080));
    assert_eq!(c.data_dir, std::path::PathBuf::from("data"));
    assert_eq!(c.retention_days, 7);
    assert!(!c.require_agent_auth);
    assert_eq!(c.auth.token_expire_secs, 86_400);
    assert_eq!(c.auth.default_username, "admin");
    assert!(c.auth.jwt_secret.is_none() && c.auth.default_password.is_none());
    assert_eq!(c.auth.login_max_failures, 5);
    assert_eq!(c.auth.login_window_secs, 300);
    assert_eq!(c.auth.login_max_failures_per_address, 20);
    assert_eq!(c.auth.login_user_failures_per_minute, 10);
    assert_eq!(c.auth.max_concurrent_password_checks, 0);
    assert_eq!(c.auth.password_check_queue, 32);
    assert_eq!(c.notification.aggregation_window_secs, 60);
    let cc = &c.cert_check;
    assert!(cc.enabled);
    assert!(cc.allow_private_targets);
    assert_eq!(
        (
            cc.default_interval_secs,
            cc.tick_secs,
            cc.connect_timeout_secs,
            cc.max_concurrent
        ),
        (86_400, 60, 10, 10)
    );
    assert_eq!(cc.agent_id, "cert-checker");
}

/// The spec's server configuration, as its README writes it, keys in its order.
const SPEC_SERVER: &str = r#"
grpc_port = 9090
http_port = 8080
data_dir = "data"
retention_days = 7
require_agent_auth = false

[[alert.rules]]
name = "high-cpu"
type = "threshold"
metric = "cpu.usage"
agent_pattern = "*"
operator = "greater_than"
value = 90.0
duration_secs = 300
severity = "critical"
silence_secs = 600

[[alert.rules]]
name = "memory-spike"
type = "rate_of_change"
metric = "memory.used_percent"
agent_pattern = "*"
rate_threshold = 20.0
window_secs = 300
severity = "warning"
silence_secs = 600

[[alert.rules]]
name = "disk-full-prediction"
type = "trend_prediction"
metric = "disk.used_percent"
agent_pattern = "*"
predict_threshold = 95.0
horizon_secs = 86400
min_data_points = 10
severity = "info"
silence_secs = 3600

[[alert.rules]]
name = "cert-expiry"
type = "cert_expiration"
metric = "certificate.days_until_expiry"
agent_pattern = "cert-checker"
severity = "critical"
warning_days = 30
critical_days = 7
silence_secs = 86400

[[notification.channels]]
type = "email"
min_severity = "warning"
smtp_host = "smtp.example.com"
smtp_port = 587
smtp_username = "alerts@example.com"
smtp_password = "your-password"
from = "alerts@example.com"
recipients = ["admin@example.com", "ops@example.com"]

[[notification.channels]]
type = "webhook"
min_severity = "info"
url = "https://hooks.slack.com/services/xxx/yyy/zzz"
body_template = '{"text": "[{{severity}}] {{agent_id}}: {{message}}"}'

[[notification.channels]]
type = "sms"
min_severity = "critical"
gateway_url = "https://sms-api.example.com/send"
api_key = "your-api-key"
phone_numbers = ["+8613800138000"]

[[notification.channels]]
type = "dingtalk"
min_severity = "warning"
webhook_url = "https://oapi.dingtalk.com/robot/send?access_token=YOUR_TOKEN"
secret = "SEC_YOUR_SECRET"

[[notification.channels]]
type = "weixin"
min_severity = "warning"
webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=YOUR_KEY"

[[notification.silence_windows]]
start_time = "02:00"
end_time = "04:00"
recurrence = "daily"

[cert_check]
enabled = true
default_interval_secs = 86400
tick_secs = 60
connect_timeout_secs = 10
max_concurrent = 10
"#;

#[test]
fn the_spec_server_example_parses_with_every_field() {
    let c = ServerConfig::from_toml(SPEC_SERVER, "server.toml").unwrap();
    let rules = &c.alert.rules;
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0].kind,
        RuleKind::Threshold {
            operator: Operator::GreaterThan,
            value: 90.0,
            duration_secs: 300,
            recovery_value: None,
        }
    );
    assert_eq!(
        (rules[0].severity, rules[0].silence_secs),
        (Severity::Critical, 600)
    );
    assert_eq!(
        rules[1].kind,
        RuleKind::RateOfChange {
            rate_threshold: 20.0,
            window_secs: 300,
            direction: RateDirection::Both
        }
    );
    assert_eq!(
        rules[2].kind,
        RuleKind::TrendPrediction {
            predict_threshold: 95.0,
            horizon_secs: 86_400,
            min_data_points: 10,
            window_secs: 3600,
            min_r_squared: None
        }
    );
    assert_eq!(
        rules[3].kind,
        RuleKind::CertExpiration {
            warning_days: 30.0,
            critical_days: 7.0
        }
    );
    assert_eq!(rules[3].agent_pattern, "cert-checker");

    let ch = &c.notification.channels;
    assert_eq!(
        ch.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
        ["email", "webhook", "sms", "dingtalk", "weixin"]
    );
    assert_eq!(ch[0].name, "email-1");
    assert_eq!(ch[0].min_severity, Severity::Warning);
    assert_eq!(
        ch[0]
            .settings
            .get("smtp_port")
            .and_then(toml::Value::as_integer),
        Some(587)
    );
    assert!(!ch[0].settings.contains_key("type") && !ch[0].settings.contains_key("min_severity"));
    assert_eq!(
        ch[0].required_str_list("recipients").unwrap(),
        ["admin@example.com", "ops@example.com"]
    );
    assert_eq!(ch[3].required_str("secret").unwrap(), "SEC_YOUR_SECRET");
    assert_eq!(
        c.notification.silence_windows[0].recurrence,
        Recurrence::Daily
    );
    assert_eq!(c.notification.silence_windows[0].start.minute_of_day(), 120);
}

#[test]
fn aggregation_window_written_after_the_channels_is_the_global_setting() {
    // As the spec writes it: the key follows the channel tables, so TOML files
    // it under the last channel. It still means the global window.
    let text = format!("{SPEC_SERVER}\n");
    let text = text.replace(
        "[[notification.silence_windows]]",
        "aggregation_window_secs = 120\n\n[[notification.silence_windows]]",
    );
    let c = ServerConfig::from_toml(&text, "server.toml").unwrap();
    assert_eq!(c.notification.aggregation_window_secs, 120);
    assert!(
        !c.notification.channels[4]
            .settings
            .contains_key("aggregation_window_secs")
    );
    // At the top level and in [notification] too.
    let c = ServerConfig::from_toml("aggregation_window_secs = 30", "s").unwrap();
    assert_eq!(c.notification.aggregation_window_secs, 30);
    let c = ServerConfig::from_toml("[notification]\naggregation_window_secs = 0", "s").unwrap();
    assert_eq!(c.notification.aggregation_window_secs, 0);
    let e =
        server_err("aggregation_window_secs = 30\n[notification]\naggregation_window_secs = 40");
    assert_names(
        &e,
        "server.toml",
        "notification.aggregation_window_secs",
        &["30", "40"],
    );
}

#[test]
fn server_out_of_range_and_wrong_types() {
    assert_names(
        &server_err("retention_days = 0"),
        "server.toml",
        "retention_days",
        &["at least 1"],
    );
    assert_names(
        &server_err("grpc_port = 70000"),
        "server.toml",
        "grpc_port",
        &["70000"],
    );
    assert_names(
        &server_err("http_port = \"8080\""),
        "server.toml",
        "http_port",
        &["string"],
    );
    assert_names(
        &server_err("grpc_port = 8080"),
        "server.toml",
        "http_port",
        &["differ"],
    );
    assert_names(
        &server_err("grpc_bind = \"localhost:1\""),
        "server.toml",
        "grpc_bind",
        &["IP address"],
    );
    assert_names(
        &server_err("require_agent_auth = 1"),
        "server.toml",
        "require_agent_auth",
        &["boolean"],
    );
    assert_names(
        &server_err("grpc_tls_cert_file = \"c.pem\""),
        "server.toml",
        "grpc_tls_key_file",
        &["required"],
    );
    assert_names(
        &server_err("[cert_check]\nmax_concurrent = 0"),
        "server.toml",
        "cert_check.max_concurrent",
        &["at least 1"],
    );
    assert_names(
        &server_err("[cert_check]\ntick_secs = 0"),
        "server.toml",
        "cert_check.tick_secs",
        &["at least 1"],
    );
    assert_names(
        &server_err("[cert_check]\ntick_sec = 5"),
        "server.toml",
        "cert_check.tick_sec",
        &["unknown key"],
    );
    assert_names(
        &server_err("retension_days = 5"),
        "server.toml",
        "retension_days",
        &["unknown key"],
    );
}

#[test]
fn auth_section() {
    let c = ServerConfig::from_toml(
        "[auth]\njwt_secret = \"0123456789abcdef0123456789abcdef\"\ntoken_expire_secs = 3600\ndefault_username = \"root\"\ndefault_password = \"a-long-password\"",
        "s",
    )
    .unwrap();
    assert_eq!(c.auth.token_expire_secs, 3600);
    assert_eq!(c.auth.default_username, "root");
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("0123456789abcdef") && !dbg.contains("a-long-password"),
        "{dbg}"
    );
    assert_names(
        &server_err("[auth]\njwt_secret = \"short\""),
        "server.toml",
        "auth.jwt_secret",
        &["32"],
    );
    assert_names(
        &server_err("[auth]\njwt_secret = \"your-secret-key\""),
        "server.toml",
        "auth.jwt_secret",
        &["example"],
    );
    assert_names(
        &server_err("[auth]\njwt_secret = \"please-change-this-secret-in-production\""),
        "server.toml",
        "auth.jwt_secret",
        &["example"],
    );
    assert_names(
        &server_err("[auth]\ntoken_expire_secs = 5"),
        "server.toml",
        "auth.token_expire_secs",
        &["60"],
    );
    assert_names(
        &server_err("[auth]\nlogin_max_failures = 0"),
        "server.toml",
        "auth.login_max_failures",
        &["at least 1"],
    );
    assert_names(
        &server_err("[auth]\nlogin_max_failures = 10\nlogin_max_failures_per_address = 5"),
        "server.toml",
        "auth.login_max_failures_per_address",
        &["at least 10"],
    );
    assert_names(
        &server_err("[auth]\nlogin_user_failures_per_minute = 0"),
        "server.toml",
        "auth.login_user_failures_per_minute",
        &["at least 1"],
    );
    assert_names(
        &server_err("[auth]\ndefault_username = \"\""),
        "server.toml",
        "auth.default_username",
        &["empty"],
    );
}

fn rule(body: &str) -> String {
    format!("[[alert.rules]]\nname = \"r\"\nmetric = \"cpu.usage\"\n{body}")
}

#[test]
fn rule_errors_name_the_rule_field() {
    // Another `type` is kept for the registry of the engine (which refuses a
    // type nobody registered, naming this field: oxmon-alert's registry
    // tests); its common keys are checked here.
    assert_names(
        &server_err(&rule("type = \"bogus\"\nsilence_secs = \"x\"")),
        "server.toml",
        "alert.rules[0].silence_secs",
        &["string"],
    );
    assert_names(
        &server_err("[[alert.rules]]\nname = \"r\"\ntype = \"bogus\"\nwindow = 5"),
        "server.toml",
        "alert.rules[0].metric",
        &["required"],
    );
    assert_names(
        &server_err("[[alert.rules]]\nmetric = \"m\"\ntype = \"bogus\""),
        "server.toml",
        "alert.rules[0].name",
        &["required"],
    );
    assert_names(
        &server_err(&rule("type = 5")),
        "server.toml",
        "alert.rules[0].type",
        &["string"],
    );
    assert_names(
        &server_err(&rule("value = 1.0")),
        "server.toml",
        "alert.rules[0].type",
        &["required"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"above\"\nvalue = 1.0",
        )),
        "server.toml",
        "alert.rules[0].operator",
        &["above", "greater_than"],
    );
    assert_names(
        &server_err(&rule("type = \"threshold\"\nvalue = 1.0")),
        "server.toml",
        "alert.rules[0].operator",
        &["required"],
    );
    assert_names(
        &server_err(&rule("type = \"threshold\"\noperator = \"gt\"")),
        "server.toml",
        "alert.rules[0].value",
        &["required"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"gt\"\nvalue = 1\nseverity = \"fatal\"",
        )),
        "server.toml",
        "alert.rules[0].severity",
        &["fatal", "info, warning, critical"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"gt\"\nvalue = 1\nduration_secs = -1",
        )),
        "server.toml",
        "alert.rules[0].duration_secs",
        &["-1"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"gt\"\nvalue = 1\nrate_threshold = 5.0",
        )),
        "server.toml",
        "alert.rules[0].rate_threshold",
        &["does not apply to a threshold rule"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"gt\"\nvalue = 1\nduraton_secs = 5",
        )),
        "server.toml",
        "alert.rules[0].duraton_secs",
        &["unknown key"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"gt\"\nvalue = 1\nagent_pattern = \"web-[ab\"",
        )),
        "server.toml",
        "alert.rules[0].agent_pattern",
        &["unclosed"],
    );
    assert_names(
        &server_err(
            "[[alert.rules]]\ntype = \"threshold\"\noperator = \"gt\"\nvalue = 1\nmetric = \"m\"",
        ),
        "server.toml",
        "alert.rules[0].name",
        &["required"],
    );
    assert_names(
        &server_err(
            "[[alert.rules]]\nname = \"x\"\ntype = \"threshold\"\noperator = \"gt\"\nvalue = 1",
        ),
        "server.toml",
        "alert.rules[0].metric",
        &["required"],
    );
    let dup = format!(
        "{}\n{}",
        rule("type = \"threshold\"\noperator = \"gt\"\nvalue = 1"),
        rule("type = \"threshold\"\noperator = \"lt\"\nvalue = 1")
    );
    assert_names(
        &server_err(&dup),
        "server.toml",
        "alert.rules[1].name",
        &["unique"],
    );
}

#[test]
fn rule_type_specific_checks() {
    assert_names(
        &server_err(&rule("type = \"rate_of_change\"\nrate_threshold = 0.0")),
        "server.toml",
        "alert.rules[0].rate_threshold",
        &["greater than 0"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"rate_of_change\"\nrate_threshold = 10.0\ndirection = \"sideways\"",
        )),
        "server.toml",
        "alert.rules[0].direction",
        &["sideways"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"rate_of_change\"\nrate_threshold = 10.0\nwindow_secs = 0",
        )),
        "server.toml",
        "alert.rules[0].window_secs",
        &["at least 1"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"trend_prediction\"\npredict_threshold = 95.0\nhorizon_secs = 60\nmin_data_points = 2",
        )),
        "server.toml",
        "alert.rules[0].min_data_points",
        &["at least 3"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"trend_prediction\"\npredict_threshold = 95.0\nhorizon_secs = 60\nmin_r_squared = 1.5",
        )),
        "server.toml",
        "alert.rules[0].min_r_squared",
        &["between 0 and 1"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"trend_prediction\"\npredict_threshold = 95.0",
        )),
        "server.toml",
        "alert.rules[0].horizon_secs",
        &["required"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"cert_expiration\"\nwarning_days = 7\ncritical_days = 30",
        )),
        "server.toml",
        "alert.rules[0].critical_days",
        &["warning_days"],
    );
    let c = ServerConfig::from_toml(
        "[[alert.rules]]\nname = \"c\"\ntype = \"cert_expiration\"\n[[alert.rules]]\nname = \"d\"\ntype = \"rate_of_change\"\nmetric = \"m\"\nrate_threshold = 5\ndirection = \"down\"",
        "s",
    )
    .unwrap();
    assert_eq!(c.alert.rules[0].metric, "certificate.days_until_expiry");
    assert_eq!(c.alert.rules[0].severity, Severity::Critical);
    assert_eq!(c.alert.rules[0].agent_pattern, "*");
    assert_eq!(
        c.alert.rules[1].kind,
        RuleKind::RateOfChange {
            rate_threshold: 5.0,
            window_secs: 300,
            direction: RateDirection::Down
        }
    );
    for (spelling, op) in [
        ("gt", Operator::GreaterThan),
        ("lt", Operator::LessThan),
        ("gte", Operator::GreaterEqual),
        ("lte", Operator::LessEqual),
        ("greater_equal", Operator::GreaterEqual),
        ("less_equal", Operator::LessEqual),
    ] {
        let c = ServerConfig::from_toml(
            &rule(&format!(
                "type = \"threshold\"\noperator = \"{spelling}\"\nvalue = 1"
            )),
            "s",
        )
        .unwrap();
        assert!(
            matches!(c.alert.rules[0].kind, RuleKind::Threshold { operator, .. } if operator == op),
            "{spelling}"
        );
    }
}

#[test]
fn rules_serialize_with_all_fields_for_the_api() {
    let c = ServerConfig::from_toml(SPEC_SERVER, "server.toml").unwrap();
    let json = serde_json::to_value(&c.alert.rules[0]).unwrap();
    assert_eq!(json["type"], "threshold");
    assert_eq!(json["operator"], "greater_than");
    assert_eq!(json["value"], 90.0);
    assert_eq!(json["duration_secs"], 300);
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["agent_pattern"], "*");
}

#[test]
fn channel_errors_name_the_channel_entry() {
    assert_names(
        &server_err("[[notification.channels]]\nurl = \"x\""),
        "server.toml",
        "notification.channels[0].type",
        &["required"],
    );
    assert_names(
        &server_err("[[notification.channels]]\ntype = \"webhook\"\nmin_severity = \"loud\""),
        "server.toml",
        "notification.channels[0].min_severity",
        &["loud"],
    );
    assert_names(
        &server_err(
            "[[notification.channels]]\ntype = \"webhook\"\nname = \"a\"\n[[notification.channels]]\ntype = \"sms\"\nname = \"a\"",
        ),
        "server.toml",
        "notification.channels[1].name",
        &["unique"],
    );
    let c = ServerConfig::from_toml(
        "[[notification.channels]]\ntype = \"dingtalk\"\nname = \"ops\"\nsend_resolved = false",
        "server.toml",
    )
    .unwrap();
    let ch = &c.notification.channels[0];
    assert!(!ch.send_resolved);
    // What plugins report through the helpers.
    let e = ch.required_str("webhook_url").unwrap_err();
    assert_names(
        &e,
        "server.toml",
        "notification.channels[0].webhook_url",
        &["channel `ops` (dingtalk)", "required"],
    );
    let e = ch.required_str_list("recipients").unwrap_err();
    assert_names(
        &e,
        "server.toml",
        "notification.channels[0].recipients",
        &["required"],
    );
    let mut ch = ch.clone();
    ch.settings
        .insert("recipients".into(), toml::Value::Array(vec![]));
    ch.settings
        .insert("webhok_url".into(), toml::Value::String("x".into()));
    assert_names(
        &ch.required_str_list("recipients").unwrap_err(),
        "server.toml",
        "notification.channels[0].recipients",
        &["empty"],
    );
    assert_names(
        &ch.deny_unknown(&["webhook_url", "recipients"]).unwrap_err(),
        "server.toml",
        "notification.channels[0].webhok_url",
        &["unknown key"],
    );
}

#[test]
fn silence_window_errors_and_forms() {
    let w = |body: &str| format!("[[notification.silence_windows]]\n{body}");
    assert_names(
        &server_err(&w("start_time = \"25:00\"\nend_time = \"04:00\"")),
        "server.toml",
        "notification.silence_windows[0].start_time",
        &["25:00", "HH:MM"],
    );
    assert_names(
        &server_err(&w("start_time = \"02:00\"\nend_time = \"4pm\"")),
        "server.toml",
        "notification.silence_windows[0].end_time",
        &["4pm"],
    );
    assert_names(
        &server_err(&w("start_time = \"02:00\"\nend_time = \"02:00\"")),
        "server.toml",
        "notification.silence_windows[0].end_time",
        &["differ"],
    );
    assert_names(
        &server_err(&w(
            "start_time = \"02:00\"\nend_time = \"04:00\"\nrecurrence = \"monthly\"",
        )),
        "server.toml",
        "notification.silence_windows[0].recurrence",
        &["monthly"],
    );
    assert_names(
        &server_err(&w(
            "start_time = \"02:00\"\nend_time = \"04:00\"\nrecurrence = \"weekly\"",
        )),
        "server.toml",
        "notification.silence_windows[0].days",
        &["required"],
    );
    assert_names(
        &server_err(&w(
            "start_time = \"02:00\"\nend_time = \"04:00\"\nrecurrence = \"weekly\"\ndays = [\"mon\", \"funday\"]",
        )),
        "server.toml",
        "notification.silence_windows[0].days[1]",
        &["funday"],
    );
    assert_names(
        &server_err(&w("start_time = \"02:00\"")),
        "server.toml",
        "notification.silence_windows[0]",
        &["end_time"],
    );
    let c = ServerConfig::from_toml(
        &w("start_time = \"22:00\"\nend_time = \"06:00\"\nrecurrence = \"weekly\"\ndays = [\"Saturday\", \"sun\"]"),
        "s",
    )
    .unwrap();
    assert_eq!(
        c.notification.silence_windows[0].recurrence,
        Recurrence::Weekly(vec![Weekday::Sat, Weekday::Sun])
    );
}

#[test]
fn timezone_is_an_iana_name() {
    let c = ServerConfig::from_toml("[notification]\ntimezone = \"Asia/Shanghai\"", "s").unwrap();
    assert_eq!(c.notification.timezone.as_deref(), Some("Asia/Shanghai"));
    assert_names(
        &server_err("[notification]\ntimezone = \"Mars/Olympus\""),
        "server.toml",
        "notification.timezone",
        &["Mars/Olympus", "IANA"],
    );
}

#[test]
fn local_agent_section() {
    let c = ServerConfig::from_toml(
        "[local_agent]\nenabled = true\nagent_id = \"mon-1\"\ncollection_interval_secs = 5",
        "s",
    )
    .unwrap();
    assert!(c.local_agent.enabled);
    assert_eq!(c.local_agent.agent_id.as_deref(), Some("mon-1"));
    assert!(
        !ServerConfig::default().local_agent.enabled,
        "off unless asked for"
    );
    assert_names(
        &server_err("[local_agent]\ncollection_interval_secs = 0"),
        "server.toml",
        "local_agent.collection_interval_secs",
        &["at least 1"],
    );
    assert_names(
        &server_err("[local_agent]\nagent_id = \"a b\""),
        "server.toml",
        "local_agent.agent_id",
        &["' '"],
    );
}

#[test]
fn collectors_section() {
    let c = AgentConfig::from_toml(
        "[collectors]\nbackend = \"procfs\"\nproc_root = \"/host/proc\"\ndisk_mounts_exclude = [\"/snap/*\"]\ninterfaces_exclude = [\"veth*\"]\ninclude_loopback = true",
        "agent.toml",
    )
    .unwrap();
    assert_eq!(c.collectors.backend, super::Backend::Procfs);
    assert_eq!(c.collectors.disk_mounts_exclude, ["/snap/*"]);
    assert!(c.collectors.include_loopback);
    assert_names(
        &agent_err("[collectors]\nbackend = \"wmi\""),
        "agent.toml",
        "collectors.backend",
        &["wmi", "auto", "procfs", "sysinfo"],
    );
    assert_names(
        &agent_err("[collectors]\ninterfaces_exclude = [\"eth[0\"]"),
        "agent.toml",
        "collectors.interfaces_exclude[0]",
        &["unclosed"],
    );
    assert_names(
        &agent_err("[collectors]\ninclude_lo = true"),
        "agent.toml",
        "collectors.include_lo",
        &["unknown key"],
    );
}

#[test]
fn ingest_section() {
    let c = ServerConfig::from_toml(
        "[ingest]\nmax_samples_per_batch = 5000\nmax_future_secs = 60",
        "s",
    )
    .unwrap();
    assert_eq!(c.ingest.max_samples_per_batch, 5000);
    assert_eq!(c.ingest.max_future_secs, 60);
    assert_eq!(c.ingest.max_labels, 32);
    assert_names(
        &server_err("[ingest]\nmax_samples_per_batch = 0"),
        "server.toml",
        "ingest.max_samples_per_batch",
        &["at least 1"],
    );
    assert_names(
        &server_err("[ingest]\nmax_message_bytes = 10"),
        "server.toml",
        "ingest.max_message_bytes",
        &["1024"],
    );
    assert_names(
        &server_err("[ingest]\nmax_points = 10"),
        "server.toml",
        "ingest.max_points",
        &["unknown key"],
    );
}

#[test]
fn cors_origins() {
    let c = ServerConfig::from_toml(
        "cors_allowed_origins = [\"https://ops.example.com\", \"*\"]",
        "s",
    )
    .unwrap();
    assert_eq!(c.cors_allowed_origins.len(), 2);
    assert!(
        ServerConfig::default().cors_allowed_origins.is_empty(),
        "CORS off by default"
    );
    assert_names(
        &server_err("cors_allowed_origins = [\"ops.example.com\"]"),
        "server.toml",
        "cors_allowed_origins[0]",
        &["not an origin"],
    );
    assert_names(
        &server_err("cors_allowed_origins = [\"https://a.com/path\"]"),
        "server.toml",
        "cors_allowed_origins[0]",
        &["not an origin"],
    );
}

#[test]
fn commit_window_is_bounded() {
    let e = server_err("[ingest]\ncommit_window_ms = 5000");
    assert!(e.to_string().contains("ingest.commit_window_ms"), "{e}");
    let c = ServerConfig::from_toml("[ingest]\ncommit_window_ms = 0\n", "server.toml").unwrap();
    assert_eq!(c.ingest.commit_window_ms, 0);
    assert_eq!(ServerConfig::default().ingest.commit_window_ms, 50);
}

#[test]
fn log_section_defaults_and_values() {
    for c in [
        AgentConfig::from_toml("", "agent.toml").unwrap().log,
        ServerConfig::from_toml("", "server.toml").unwrap().log,
    ] {
        assert_eq!(c, LogConfig::default());
        assert_eq!((c.level.as_str(), c.format), ("info", LogFormat::Text));
    }
    let text = "[log]\nlevel = \" WARN , oxmon = debug,tonic::transport=off,\"\nformat = \"json\"";
    let agent = AgentConfig::from_toml(text, "agent.toml").unwrap();
    let server = ServerConfig::from_toml(text, "server.toml").unwrap();
    assert_eq!(agent.log, server.log);
    assert_eq!(agent.log.format, LogFormat::Json);
    assert_eq!(
        agent.log.filter(),
        "warn,oxmon=debug,tonic::transport=off",
        "normalised for EnvFilter, which refuses spaces"
    );
}

#[test]
fn bad_log_settings_name_the_file_and_field() {
    let cases: [(&str, &[&str]); 8] = [
        ("level = \"\"", &["must not be empty"]),
        ("level = \" , \"", &["must not be empty"]),
        (
            "level = \"verbose\"",
            &["`verbose` is not a level", "debug"],
        ),
        ("level = \"inf\"", &["`inf` is not a level"]),
        ("level = \"info,oxmon=loud\"", &["`loud` is not a level"]),
        ("level = \"info,oxmon=\"", &["level after `=` is missing"]),
        ("level = \"=debug\"", &["is not a target"]),
        (
            "level = \"oxmon[span]=debug\"",
            &["span and field filters go in RUST_LOG"],
        ),
    ];
    for (body, words) in cases {
        let text = format!("[log]\n{body}");
        assert_names(&agent_err(&text), "agent.toml", "log.level", words);
        assert_names(&server_err(&text), "server.toml", "log.level", words);
    }
    assert_names(
        &agent_err("[log]\nlevel = 3"),
        "agent.toml",
        "log.level",
        &["invalid type"],
    );
    assert_names(
        &server_err("[log]\nformat = \"xml\""),
        "server.toml",
        "log.format",
        &["xml", "text", "json"],
    );
    assert_names(
        &server_err("[log]\nlevl = \"debug\""),
        "server.toml",
        "log.levl",
        &["unknown key"],
    );
}

#[test]
fn other_rule_types_keep_their_fields_for_the_registry() {
    let c = ServerConfig::from_toml(
        &format!(
            "{}\n{}",
            rule("type = \"jump\"\nmax_increase = 50\nwindow_secs = 60\nseverity = \"critical\""),
            "[[alert.rules]]\nname = \"t\"\nmetric = \"m\"\ntype = \"threshold\"\noperator = \"gt\"\nvalue = 1"
        ),
        "server.toml",
    )
    .expect("valid");
    let r = &c.alert.rules[0];
    assert_eq!(r.kind.type_name(), "jump");
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(r.silence_secs, 600);
    let RuleKind::Custom(custom) = &r.kind else {
        panic!("custom rule expected: {:?}", r.kind)
    };
    assert_eq!(custom.settings.len(), 2, "{custom:?}");
    assert_eq!(custom.optional_int("max_increase"), Ok(Some(50)));
    assert_eq!(custom.required_f64("max_increase"), Ok(50.0));
    assert_names(
        &custom.required_f64("nope").unwrap_err(),
        "server.toml",
        "alert.rules[0].nope",
        &["required for a jump rule"],
    );
    assert_names(
        &custom.deny_unknown(&["max_increase"]).unwrap_err(),
        "server.toml",
        "alert.rules[0].window_secs",
        &["unknown key for a jump rule", "max_increase"],
    );
    // As the API shows it: the entry as written.
    let json = serde_json::to_value(r).expect("serializes");
    assert_eq!(json["type"], "jump");
    assert_eq!(json["max_increase"], 50);
    assert_eq!(json["name"], "r");
    assert_eq!(c.alert.rules[1].kind.type_name(), "threshold");
}

#[test]
fn a_rule_on_its_own_is_checked_like_a_file_entry_with_its_own_field_names() {
    let parse = |text: &str| parse_rule(text.parse().expect("toml"), "request body");
    let ok = parse(
        "name = \"cpu\"\ntype = \"threshold\"\nmetric = \"cpu.usage\"\noperator = \"greater_than\"\nvalue = 90.0",
    )
    .expect("valid");
    let from_file = ServerConfig::from_toml(
        "[[alert.rules]]\nname = \"cpu\"\ntype = \"threshold\"\nmetric = \"cpu.usage\"\noperator = \"greater_than\"\nvalue = 90.0",
        "server.toml",
    )
    .expect("valid");
    assert_eq!(ok, from_file.alert.rules[0], "the same rule either way");
    // Every kind of refusal names the rule's own field, with the file's words.
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "name = \"x\"\ntype = \"threshold\"\nmetric = \"m\"\nvalue = 1.0",
            "operator",
            &["required", "threshold"],
        ),
        (
            "name = \"x\"\ntype = \"threshold\"\nmetric = \"m\"\noperator = \"greater_than\"\nvalue = 1.0\nrate_threshold = 2.0",
            "rate_threshold",
            &["does not apply"],
        ),
        (
            "type = \"threshold\"\nmetric = \"m\"",
            "name",
            &["required"],
        ),
        (
            "name = \"x\"\ntype = \"cert_expiration\"\nseverity = \"loud\"",
            "severity",
            &["loud"],
        ),
        ("name = \"x\"", "type", &["required", "threshold"]),
    ];
    for (text, field, words) in cases {
        let err = parse(text).expect_err(text);
        assert_names(&err, "request body", field, words);
    }
    // A type no built-in knows keeps its settings for its plugin.
    let custom =
        parse("name = \"j\"\ntype = \"jump\"\nmetric = \"m\"\nmax_increase = 5").expect("custom");
    assert!(
        matches!(custom.kind, RuleKind::Custom(ref c) if c.settings.contains_key("max_increase"))
    );
}

#[test]
fn absence_rules_hysteresis_and_keep_firing_parse_and_refuse_with_the_field() {
    let text = "[[alert.rules]]\nname = \"down\"\ntype = \"agent_offline\"\nagent_pattern = \"web-*\"\n\
                [[alert.rules]]\nname = \"no-disk\"\ntype = \"absent\"\nmetric = \"disk.used_percent\"\n\
                after_secs = 300\nlabels = { mount = \"/\" }\n\
                [[alert.rules]]\nname = \"hot\"\ntype = \"threshold\"\nmetric = \"cpu.usage\"\n\
                operator = \">\"\nvalue = 90.0\nrecovery_value = 80.0\nkeep_firing_secs = 120\n";
    let c = ServerConfig::from_toml(text, "server.toml").unwrap();
    let [down, absent, hot] = &c.alert.rules[..] else {
        panic!("three rules");
    };
    assert_eq!(down.kind, RuleKind::AgentOffline { after_secs: 120 });
    assert_eq!(
        (down.metric.as_str(), down.severity),
        (AGENT_OFFLINE_METRIC, Severity::Critical)
    );
    assert_eq!(
        absent.kind,
        RuleKind::Absent {
            after_secs: 300,
            labels: [("mount".to_owned(), "/".to_owned())].into(),
        }
    );
    assert_eq!(absent.severity, Severity::Warning);
    assert!(matches!(
        hot.kind,
        RuleKind::Threshold { recovery_value: Some(r), .. } if r == 80.0
    ));
    assert_eq!((hot.keep_firing_secs, down.keep_firing_secs), (120, 0));

    // What the API shows goes back in as it is.
    for rule in &c.alert.rules {
        let json = serde_json::to_value(rule).unwrap();
        let table: toml::Table = serde_json::from_value(json).unwrap();
        assert_eq!(&parse_rule(table, "api").unwrap(), rule);
    }

    assert_names(
        &server_err(&rule("type = \"agent_offline\"")),
        "server.toml",
        "alert.rules[0].metric",
        &["does not apply", "any report"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \">\"\nvalue = 90.0\nrecovery_value = 95.0",
        )),
        "server.toml",
        "alert.rules[0].recovery_value",
        &["clear side", "at most 90"],
    );
    assert_names(
        &server_err(&rule(
            "type = \"threshold\"\noperator = \"lt\"\nvalue = 10.0\nrecovery_value = 5.0",
        )),
        "server.toml",
        "alert.rules[0].recovery_value",
        &["at least 10"],
    );
    assert_names(
        &server_err(&rule("type = \"absent\"\nafter_secs = 0")),
        "server.toml",
        "alert.rules[0].after_secs",
        &["at least 1"],
    );
    assert_names(
        &server_err(&rule("type = \"absent\"\nrecovery_value = 1.0")),
        "server.toml",
        "alert.rules[0].recovery_value",
        &["does not apply to an absent rule"],
    );
}

#[test]
fn notifications_group_by_rule_or_agent() {
    let c = ServerConfig::from_toml("", "server.toml").unwrap();
    assert_eq!(c.notification.group_by, GroupBy::Rule);
    assert!(c.alert.critical_inhibits_warning && c.alert.offline_inhibits_agent);
    let c = ServerConfig::from_toml(
        "[alert]\noffline_inhibits_agent = false\n[notification]\ngroup_by = \"agent\"\n",
        "server.toml",
    )
    .unwrap();
    assert_eq!(c.notification.group_by, GroupBy::Agent);
    assert!(!c.alert.offline_inhibits_agent && c.alert.critical_inhibits_warning);
    let err = server_err("[notification]\ngroup_by = \"host\"\n");
    assert_eq!(err.field.as_deref(), Some("notification.group_by"), "{err}");
    assert!(err.to_string().contains("agent"), "{err}");
}

#[test]
fn remote_write_destinations_parse_with_defaults_and_bad_ones_name_the_field() {
    let c = ServerConfig::from_toml(
        r#"
[[remote_write]]
url = "http://127.0.0.1:8428/api/v1/write"

[[remote_write]]
url = "https://mimir.example.com/api/v1/push"
name = "mimir"
basic_auth = { username = "oxmon", password = "pw" }
headers = { X-Scope-OrgID = "ops" }
external_labels = { oxmon_server = "eu-1" }
metrics_deny = ["certificate.*"]
batch_size = 5000
concurrency = 8
"#,
        "server.toml",
    )
    .unwrap();
    assert_eq!(c.remote_write.len(), 2);
    let vm = &c.remote_write[0];
    assert_eq!(vm.destination_name(), "127.0.0.1:8428/api/v1/write");
    assert_eq!(
        (
            vm.batch_size,
            vm.send_deadline_ms,
            vm.concurrency,
            vm.timeout_secs
        ),
        (2_000, 5_000, 4, 30)
    );
    let mimir = &c.remote_write[1];
    assert_eq!(mimir.destination_name(), "mimir");
    assert_eq!(mimir.basic_auth.as_ref().unwrap().password.expose(), "pw");
    assert!(
        !format!("{mimir:?}").contains("pw\""),
        "the password stays hidden"
    );
    for (body, field, words) in [
        (
            "url = \"ftp://x/y\"",
            "remote_write[0].url",
            &["http://"][..],
        ),
        (
            "url = \"http://user:pw@x/y\"",
            "remote_write[0].url",
            &["credentials"][..],
        ),
        (
            "url = \"http://x/y\"\nbatch_size = 0",
            "remote_write[0].batch_size",
            &["1 to 100000"][..],
        ),
        (
            "url = \"http://x/y\"\nconcurrency = 1000",
            "remote_write[0].concurrency",
            &["1 to 64"][..],
        ),
        (
            "url = \"http://x/y\"\nbearer_token = \"t\"\nbasic_auth = { username = \"u\", password = \"p\" }",
            "remote_write[0].bearer_token",
            &["basic_auth"][..],
        ),
        (
            "url = \"http://x/y\"\nheaders = { Content-Encoding = \"gzip\" }",
            "remote_write[0].headers.Content-Encoding",
            &["remote write itself"][..],
        ),
        (
            "url = \"http://x/y\"\nexternal_labels = { 1bad = \"v\" }",
            "remote_write[0].external_labels.1bad",
            &["label name"][..],
        ),
        (
            "url = \"http://x/y\"\nname = \"a b\"",
            "remote_write[0].name",
            &["letters"][..],
        ),
        (
            "url = \"http://x/y\"\nbatch = 5",
            "remote_write[0].batch",
            &["unknown"][..],
        ),
        (
            "url = \"http://x/y\"\nbatch_size = 100000\nconcurrency = 8",
            "remote_write[0].batch_size",
            &["held at once"][..],
        ),
        (
            "url = \"http://x/y\"\nheaders = { X-Key = \"caf\u{e9}\" }",
            "remote_write[0].headers.X-Key",
            &["header"][..],
        ),
    ] {
        let e = server_err(&format!("[[remote_write]]\n{body}\n"));
        assert_names(&e, "server.toml", field, words);
    }
    let twice = server_err(
        "[[remote_write]]\nurl = \"http://vm/api/v1/write\"\n[[remote_write]]\nurl = \"http://vm/api/v1/write\"\n",
    );
    assert_names(&twice, "server.toml", "remote_write[1].name", &["distinct"]);
    let keyed = ServerConfig::from_toml(
        "[[remote_write]]\nurl = \"https://x/push?api_key=k1\"\nheaders = { X-Key = \"k2\" }\n",
        "server.toml",
    )
    .unwrap();
    let shown = format!("{:?}", keyed.remote_write[0]);
    assert!(!shown.contains("k1") && !shown.contains("k2"), "{shown}");
}
