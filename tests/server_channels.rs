//! Notification channels managed over REST on the real `server` program:
//! a channel made through the API takes test sends and alerts from a real
//! gRPC agent at once, its secrets (a token in its URL, an Authorization
//! header) reach the receiver but never a response, the audit log or the
//! server's log; an update keeps the secrets it does not name; the
//! channels survive a restart; a deleted one gets nothing more; the file's channels are read-only; refusals
//! name the field.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use oxmon::core::config::AgentConfig;
use oxmon::core::{Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::transport::grpc::GrpcTransport;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

mod support;
use support::{example, free_port, json_call, requests, spawn_logging, terminate};

const PASSWORD: &str = "channel-Admin-Passw0rd";
const URL_SECRET: &str = "URLSECRET7f3a";
const HEADER_SECRET: &str = "HEADERSECRET91c2";

struct Running {
    child: Child,
    base: String,
    grpc: u16,
    http: reqwest::Client,
    jwt: String,
}

impl Running {
    /// The server on `dir` (its config written there already), logging at
    /// debug level to `log`, logged in as admin.
    async fn start(dir: &Path, grpc: u16, http_port: u16, log: &str) -> Self {
        let child = spawn_logging(
            &example("server"),
            &dir.join("server.toml"),
            &dir.join(log),
            "debug",
        );
        let base = format!("http://127.0.0.1:{http_port}");
        let http = reqwest::Client::new();
        let jwt = support::login_when_up(&http, &base, PASSWORD).await;
        Self {
            child,
            base,
            grpc,
            http,
            jwt,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        json_call(
            &self.http,
            method,
            format!("{}{path}", self.base),
            Some(&self.jwt),
            body,
        )
        .await
    }

    async fn send(&self, metric: &str, value: f64, at_ms: i64) {
        let mut agent = AgentConfig::default();
        agent.server_endpoint = format!("127.0.0.1:{}", self.grpc);
        let transport = GrpcTransport::connect(&agent, "edge-1").unwrap();
        let batch = MetricBatch::new(
            "edge-1",
            vec![Sample::new(metric, Labels::new(), at_ms, value)],
        )
        .with_batch_id(format!("{metric}-{at_ms}"));
        transport.send(&batch).await.unwrap();
    }

    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

/// The next request the receiver got: head and body.
async fn next(rx: &mut UnboundedReceiver<(String, String)>) -> (String, Value) {
    let (head, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a notification in time")
        .expect("receiver open");
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON ({e}): {body}"));
    (head, body)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [URL_SECRET, HEADER_SECRET] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_made_over_rest_notify_hide_their_secrets_and_survive_a_restart() {
    let (hook_port, mut hooks) = requests().await;
    let (file_port, mut file_hooks) = requests().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http_port) = (free_port(), free_port());
    support::attack::server_toml(
        dir.path(),
        grpc,
        http_port,
        PASSWORD,
        &format!(
            "require_agent_auth = false\naggregation_window_secs = 0\n\
             [[notification.channels]]\ntype = \"webhook\"\nname = \"from-file\"\n\
             url = \"http://127.0.0.1:{file_port}/file\"\n"
        ),
    );
    let server = Running::start(dir.path(), grpc, http_port, "server1.log").await;

    // Made through the API, with a token in its URL and an auth header.
    let channel = json!({
        "type": "webhook",
        "name": "ops",
        "min_severity": "warning",
        "url": format!("http://127.0.0.1:{hook_port}/hook?token={URL_SECRET}"),
        "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")},
        "timeout_secs": 5,
    });
    let (status, created) = server
        .call(
            Method::POST,
            "/v1/notifications/channels",
            Some(channel.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_no_secret("the created channel", &created.to_string());
    assert_eq!(
        (&created["source"], &created["name"], &created["type"]),
        (&json!("api"), &json!("ops"), &json!("webhook"))
    );
    assert_eq!(created["min_severity"], "warning");
    assert_eq!(created["settings"], json!({"timeout_secs": 5}));
    assert_eq!(
        created["secrets"],
        json!({"url": "set", "headers": "set"}),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    // A test send goes through the real channel, secrets and all.
    let (status, outcome) = server
        .call(
            Method::POST,
            &format!("/v1/notifications/channels/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        (&outcome["channel"], &outcome["delivered"]),
        (&json!("ops"), &json!(true)),
        "{outcome}"
    );
    let (head, body) = next(&mut hooks).await;
    assert!(
        head.starts_with(&format!("POST /hook?token={URL_SECRET} ")),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}",
            HEADER_SECRET.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(body.to_string().contains("Test notification"), "{body}");

    // A rule made through the API fires to both channels at once.
    let (status, rule) = server
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(
                json!({"name": "hot", "type": "threshold", "metric": "sensor.temp",
                "operator": "greater_than", "value": 90, "severity": "critical"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let t0 = SystemClock.now_ms() - 600_000;
    server.send("sensor.temp", 95.0, t0).await;
    let (_, firing) = next(&mut hooks).await;
    assert_eq!(
        (&firing["status"], &firing["events"][0]["rule"]),
        (&json!("firing"), &json!("hot")),
        "{firing}"
    );
    let (_, from_file) = next(&mut file_hooks).await;
    assert_eq!(from_file["events"][0]["rule"], "hot");

    // An update that names no secret keeps both; `null` clears one.
    let (status, updated) = server
        .call(
            Method::PUT,
            &format!("/v1/notifications/channels/{id}"),
            Some(json!({"type": "webhook", "name": "ops", "min_severity": "critical"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["min_severity"], "critical");
    assert_eq!(updated["secrets"], json!({"url": "set", "headers": "set"}));
    let (status, updated) = server
        .call(
            Method::PUT,
            &format!("/v1/notifications/channels/{id}"),
            Some(json!({"type": "webhook", "name": "ops", "headers": null})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["secrets"],
        json!({"url": "set", "headers": "unset"})
    );
    assert_eq!(
        updated["min_severity"], "info",
        "the body is the whole channel"
    );

    // The file's channel is listed, secrets hidden, and read-only.
    let (status, list) = server
        .call(Method::GET, "/v1/notifications/channels", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], "config:from-file");
    assert_eq!(list[0]["source"], "config");
    assert_eq!(list[0]["secrets"]["url"], "set");
    assert_eq!(list[1]["id"], json!(id));
    let (status, refused) = server
        .call(
            Method::PUT,
            "/v1/notifications/channels/config:from-file",
            Some(json!({"type": "webhook", "name": "from-file", "url": "http://127.0.0.1:9/x"})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = server
        .call(
            Method::DELETE,
            "/v1/notifications/channels/config:from-file",
            None,
        )
        .await;
    assert_eq!(status, 409);

    // Refusals name the field, as the configuration file's check does.
    for (body, field) in [
        (json!({"type": "webhook", "name": "no-url"}), "url"),
        (json!({"type": "pager", "name": "p"}), "type"),
        (
            json!({"type": "webhook", "name": "w", "url": "http://127.0.0.1:9/", "min_severity": "loud"}),
            "min_severity",
        ),
        (
            json!({"type": "webhook", "name": "w", "url": "http://127.0.0.1:9/", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, refused) = server
            .call(Method::POST, "/v1/notifications/channels", Some(body))
            .await;
        assert_eq!(status, 422, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("field `{field}`")),
            "{field}: {message}"
        );
    }
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/notifications/channels",
            Some(channel.clone()),
        )
        .await;
    assert_eq!(status, 409, "a second channel named ops");

    // A channel whose far end is gone: the test answers how it failed,
    // without the URL's token.
    let (status, broken) = server
        .call(
            Method::POST,
            "/v1/notifications/channels",
            Some(json!({"type": "webhook", "name": "broken",
                "url": format!("http://127.0.0.1:{}/x?token={URL_SECRET}", free_port())})),
        )
        .await;
    assert_eq!(status, 201, "{broken}");
    let (status, outcome) = server
        .call(
            Method::POST,
            &format!(
                "/v1/notifications/channels/{}/test",
                broken["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["delivered"], false, "{outcome}");
    assert!(outcome["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Nothing the API answers or recorded holds a secret.
    for path in [
        "/v1/notifications/channels".to_owned(),
        format!("/v1/notifications/channels/{id}"),
        "/v1/audit?limit=1000".to_owned(),
        "/v1/notifications/log?limit=1000".to_owned(),
    ] {
        let (status, body) = server.call(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_no_secret(&path, &body.to_string());
    }
    let (_, audit) = server
        .call(Method::GET, "/v1/audit?action=channel.", None)
        .await;
    assert_eq!(
        audit["total"], 6,
        "create ops, test, two updates, create broken, test: {audit}"
    );

    // A restart keeps the API's channels, secrets included.
    server.stop();
    let server = Running::start(dir.path(), grpc, http_port, "server2.log").await;
    let (_, list) = server
        .call(Method::GET, "/v1/notifications/channels", None)
        .await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["from-file", "ops", "broken"]);
    let (status, outcome) = server
        .call(
            Method::POST,
            &format!("/v1/notifications/channels/{id}/test"),
            None,
        )
        .await;
    assert_eq!((status, &outcome["delivered"]), (200, &json!(true)));
    let (head, _) = next(&mut hooks).await;
    assert!(head.contains(URL_SECRET), "the stored URL is used: {head}");

    // Deleted: the next alert reaches only the file's channel.
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/v1/notifications/channels/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/v1/notifications/channels/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(
                json!({"name": "cold", "type": "threshold", "metric": "sensor.cold",
                "operator": "less_than", "value": 0, "severity": "critical"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    server.send("sensor.cold", -5.0, t0 + 10_000).await;
    let (_, cold) = next(&mut file_hooks).await;
    assert_eq!(cold["events"][0]["rule"], "cold", "{cold}");
    server.stop();
    assert!(hooks.try_recv().is_err(), "nothing after the deletion");

    // Neither run logged a secret, at debug level.
    for log in ["server1.log", "server2.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        assert!(text.contains("notification channels ready"), "{text}");
        assert_no_secret(log, &text);
    }
}
