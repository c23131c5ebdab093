//! The web channels against real HTTP receivers on 127.0.0.1 that imitate
//! the DingTalk, WeCom, SMS gateway and webhook APIs.
#![cfg(all(
    feature = "webhook",
    feature = "sms",
    feature = "dingtalk",
    feature = "weixin"
))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use common::http::{Receiver, Reply, Request};
use hmac::{Hmac, KeyInit, Mac};
use oxmon_core::config::ChannelConfig;
use oxmon_core::testing::channel::{ChannelHarness, FarEnd, run_all};
use oxmon_core::testing::{T0, sample_event};
use oxmon_core::{Channel, ChannelPlugin, ManualClock, Notification, SendErrorKind, Severity};
use oxmon_notify::channels::{
    dingtalk::DingTalkPlugin, sms::SmsPlugin, webhook::WebhookPlugin, weixin::WeixinPlugin,
};

const OK_ROBOT: &str = r#"{"errcode":0,"errmsg":"ok"}"#;
const SECRET: &str = "SECconformance-secret";

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Plain,
    Robot,
}

struct Harness {
    plugin: Arc<dyn ChannelPlugin>,
    kind: &'static str,
    settings: String,
    invalid: Vec<(&'static str, &'static str)>,
    api: Api,
    receiver: Receiver,
}

impl Harness {
    fn config(&self, settings: &str) -> ChannelConfig {
        ChannelConfig::new(
            self.kind,
            format!("{}-under-test", self.kind),
            toml::from_str(settings).unwrap(),
        )
    }
}

#[async_trait]
impl ChannelHarness for Harness {
    fn plugin(&self) -> Arc<dyn ChannelPlugin> {
        self.plugin.clone()
    }
    fn valid_config(&self) -> ChannelConfig {
        self.config(&self.settings)
    }
    fn invalid_configs(&self) -> Vec<(ChannelConfig, &'static str)> {
        self.invalid
            .iter()
            .map(|(s, f)| (self.config(s), *f))
            .collect()
    }
    async fn received(&self) -> Vec<String> {
        self.receiver
            .requests()
            .into_iter()
            .map(|r| r.body)
            .collect()
    }
    async fn set_far_end(&self, mode: FarEnd) {
        self.receiver.set_default(match (mode, self.api) {
            (FarEnd::Accept, Api::Plain) => Reply::new(200, "{}"),
            (FarEnd::Accept, Api::Robot) => Reply::new(200, OK_ROBOT),
            (FarEnd::FailRetryable, _) => Reply::new(503, "down"),
            (FarEnd::FailPermanent, Api::Plain) => Reply::new(400, "bad request"),
            (FarEnd::FailPermanent, Api::Robot) => Reply::new(
                200,
                r#"{"errcode":310000,"errmsg":"keywords not in content"}"#,
            ),
        });
    }
}

async fn harness(kind: &'static str) -> Harness {
    let receiver = Receiver::start(Reply::new(200, "{}")).await;
    type Setup = (
        Arc<dyn ChannelPlugin>,
        String,
        Vec<(&'static str, &'static str)>,
        Api,
    );
    let (plugin, settings, invalid, api): Setup = match kind {
        "webhook" => (
            Arc::new(WebhookPlugin),
            format!("url = '{}'", receiver.url("/hook")),
            vec![
                ("body_template = '{}'", "url"),
                ("url = 'ftp://x'", "url"),
                (
                    "url = 'http://x'\nbody_template = '{{nope}}'",
                    "body_template",
                ),
            ],
            Api::Plain,
        ),
        "sms" => (
            Arc::new(SmsPlugin),
            format!(
                "gateway_url = '{}'\napi_key = 'sk-test'\nphone_numbers = ['+8613800138000']",
                receiver.url("/send")
            ),
            vec![
                (
                    "api_key = 'k'\nphone_numbers = ['+8613800138000']",
                    "gateway_url",
                ),
                (
                    "gateway_url = 'http://x'\nphone_numbers = ['+8613800138000']",
                    "api_key",
                ),
                (
                    "gateway_url = 'http://x'\napi_key = 'k'\nphone_numbers = []",
                    "phone_numbers",
                ),
            ],
            Api::Plain,
        ),
        "dingtalk" => (
            Arc::new(DingTalkPlugin::new()),
            format!(
                "webhook_url = '{}'\nsecret = '{SECRET}'",
                receiver.url("/robot/send?access_token=tok")
            ),
            vec![
                ("secret = 'x'", "webhook_url"),
                ("webhook_url = 'oapi.dingtalk.com/robot'", "webhook_url"),
                ("webhook_url = 'http://x'\nsecret = ''", "secret"),
            ],
            Api::Robot,
        ),
        "weixin" => (
            Arc::new(WeixinPlugin),
            format!(
                "webhook_url = '{}'",
                receiver.url("/cgi-bin/webhook/send?key=k")
            ),
            vec![
                ("", "webhook_url"),
                ("webhook_url = 'http://x'\nkey = 'k'", "key"),
            ],
            Api::Robot,
        ),
        _ => unreachable!(),
    };
    Harness {
        plugin,
        kind,
        settings,
        invalid,
        api,
        receiver,
    }
}

/// The signature as the receiver recomputes it, independently of the channel's code.
fn expected_sign(timestamp: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{SECRET}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn check_body(kind: &str, r: &Request) {
    let v = r.json();
    match kind {
        "webhook" => {
            assert_eq!(r.header("content-type"), Some("application/json"));
            let e = &v["events"][0];
            for f in [
                "id",
                "rule",
                "agent_id",
                "metric",
                "labels",
                "severity",
                "status",
                "value",
                "threshold",
                "timestamp",
                "message",
            ] {
                assert!(!e[f].is_null(), "webhook event field {f} missing: {v}");
            }
        }
        "sms" => {
            assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
            assert_eq!(v["phone"], "+8613800138000");
            assert!(v["message"].as_str().unwrap().chars().count() <= 134, "{v}");
        }
        "dingtalk" => {
            assert_eq!(v["msgtype"], "markdown");
            assert!(
                v["markdown"]["title"].is_string() && v["markdown"]["text"].is_string(),
                "{v}"
            );
            assert_eq!(r.query_raw("access_token"), Some("tok"));
            let ts = r
                .query_raw("timestamp")
                .expect("signed request has a timestamp");
            assert_eq!(
                r.query_raw("sign"),
                Some(expected_sign(ts).as_str()),
                "signature recomputed by the receiver"
            );
        }
        "weixin" => {
            assert_eq!(v["msgtype"], "markdown");
            assert!(v["markdown"]["content"].as_str().unwrap().len() <= 4096);
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn every_web_channel_passes_the_conformance_suite_and_sends_the_documented_shape() {
    for kind in ["webhook", "sms", "dingtalk", "weixin"] {
        let h = harness(kind).await;
        run_all(&h).await;
        let requests = h.receiver.requests();
        assert!(!requests.is_empty(), "{kind}");
        for r in &requests {
            check_body(kind, r);
        }
    }
}

fn note() -> Notification {
    Notification::single(sample_event("e-1", "web-1", Severity::Critical, T0))
}

async fn build(h: &Harness, extra: &str) -> Arc<dyn Channel> {
    h.plugin
        .build(&h.config(&format!("{}\n{extra}", h.settings)))
        .unwrap()
}

#[tokio::test]
async fn failure_then_success_rate_limit_and_timeouts_are_classified() {
    for kind in ["webhook", "sms", "dingtalk", "weixin"] {
        let h = harness(kind).await;
        h.set_far_end(FarEnd::Accept).await;
        let ch = build(&h, "timeout_secs = 1").await;
        // 500 then success.
        h.receiver.push(Reply::new(500, "oops"));
        let err = ch.send(&note()).await.unwrap_err();
        assert!(
            err.is_retryable() && err.message.contains("500"),
            "{kind}: {err:?}"
        );
        ch.send(&note()).await.unwrap();
        // 429 with Retry-After.
        h.receiver
            .push(Reply::new(429, "slow down").header("Retry-After", "3"));
        let err = ch.send(&note()).await.unwrap_err();
        assert_eq!(
            err.kind,
            SendErrorKind::Retryable {
                retry_after: Some(Duration::from_secs(3))
            },
            "{kind}"
        );
        // Slow beyond the timeout.
        h.receiver
            .push(Reply::new(200, OK_ROBOT).delay(Duration::from_secs(3)));
        let started = Instant::now();
        let err = ch.send(&note()).await.unwrap_err();
        assert!(err.is_retryable(), "{kind}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{kind}: the timeout applies"
        );
        // Other 4xx: permanent.
        h.receiver.push(Reply::new(404, "no such hook"));
        assert_eq!(
            ch.send(&note()).await.unwrap_err().kind,
            SendErrorKind::Permanent,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn robots_report_errcode_failures_and_unreachable_hosts_are_retryable() {
    for kind in ["dingtalk", "weixin"] {
        let h = harness(kind).await;
        let ch = build(&h, "").await;
        h.receiver.push(Reply::new(
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        ));
        let err = ch.send(&note()).await.unwrap_err();
        assert_eq!(err.kind, SendErrorKind::Permanent, "{kind}");
        assert!(
            err.message.contains("93000") && err.message.contains("invalid webhook url"),
            "{err}"
        );
        h.receiver.push(Reply::new(
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
        ));
        h.receiver.push(Reply::new(
            200,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
        ));
        let first = ch.send(&note()).await.unwrap_err();
        let second = ch.send(&note()).await.unwrap_err();
        assert!(
            first.is_retryable() || second.is_retryable(),
            "{kind}: rate-limit errcodes retry"
        );
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let cfg = ChannelConfig::new(
        "webhook",
        "w",
        toml::from_str(&format!("url = 'http://127.0.0.1:{port}/x'")).unwrap(),
    );
    let err = WebhookPlugin
        .build(&cfg)
        .unwrap()
        .send(&note())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        !err.message.contains(&port.to_string()) || !err.message.contains("/x"),
        "URL stripped: {err}"
    );
}

#[tokio::test]
async fn dingtalk_signs_each_attempt_with_a_fresh_timestamp() {
    let receiver = Receiver::start(Reply::new(200, OK_ROBOT)).await;
    let clock = ManualClock::new(T0);
    let plugin = DingTalkPlugin::with_clock(Arc::new(clock.clone()));
    let cfg = ChannelConfig::new(
        "dingtalk",
        "dt",
        toml::from_str(&format!(
            "webhook_url = '{}'\nsecret = '{SECRET}'",
            receiver.url("/robot/send")
        ))
        .unwrap(),
    );
    let ch = plugin.build(&cfg).unwrap();
    ch.send(&note()).await.unwrap();
    clock.advance(Duration::from_secs(5));
    ch.send(&note()).await.unwrap();
    let r = receiver.requests();
    assert_eq!(r[0].query_raw("timestamp"), Some(T0.to_string().as_str()));
    assert_eq!(
        r[1].query_raw("timestamp"),
        Some((T0 + 5000).to_string().as_str())
    );
    for req in &r {
        assert_eq!(
            req.query_raw("sign"),
            Some(expected_sign(req.query_raw("timestamp").unwrap()).as_str())
        );
    }
    let text = r[0].json()["markdown"]["text"].as_str().unwrap().to_owned();
    for needle in [
        "CRITICAL",
        "web-1",
        "disk.used_percent",
        "97.25",
        "**Threshold**: 90",
        "2026-01-01T00:00:00Z",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[tokio::test]
async fn webhook_template_and_headers_reach_the_far_end() {
    let receiver = Receiver::start(Reply::new(204, "")).await;
    let cfg = ChannelConfig::new(
        "webhook",
        "slack",
        toml::from_str(&format!(
            "url = '{}'\nbody_template = '{{\"text\": \"[{{{{severity}}}}] {{{{agent_id}}}}: {{{{message}}}}\", \"v\": {{{{value}}}}}}'\n[headers]\nX-Token = 'abc'",
            receiver.url("/services/T/B/Z")
        ))
        .unwrap(),
    );
    WebhookPlugin
        .build(&cfg)
        .unwrap()
        .send(&note())
        .await
        .unwrap();
    let r = &receiver.requests()[0];
    assert_eq!(r.header("x-token"), Some("abc"));
    let v = r.json();
    assert_eq!(
        v["text"],
        "[critical] web-1: disk \"/data\" is 97.25% full\nsecond line, ünïcödé ✓"
    );
    assert_eq!(v["v"], 97.25);
}

#[tokio::test]
async fn sms_sends_one_text_per_number() {
    let receiver = Receiver::start(Reply::new(200, "{}")).await;
    let cfg = ChannelConfig::new(
        "sms",
        "pager",
        toml::from_str(&format!(
            "gateway_url = '{}'\napi_key = 'k1'\nphone_numbers = ['+8613800138000', '+8613900139000']",
            receiver.url("/send")
        ))
        .unwrap(),
    );
    let ch = SmsPlugin.build(&cfg).unwrap();
    ch.send(&note()).await.unwrap();
    let phones: Vec<_> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["phone"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(phones, ["+8613800138000", "+8613900139000"]);
    // One number refused: the send fails and says which.
    receiver.push(Reply::new(200, "{}"));
    receiver.push(Reply::new(400, "invalid number"));
    let err = ch.send(&note()).await.unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Permanent);
    assert!(
        err.message.contains("+8613900139000") && err.message.contains("1 of 2"),
        "{err}"
    );
}
