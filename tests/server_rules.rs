//! Alert rules managed over REST on a real server: a rule made through the
//! API fires on samples a real gRPC agent sends and reaches a real webhook
//! receiver; deleting it resolves the alert and says so; editing another
//! rule keeps a pending rule's state; the file's rules are read-only; a
//! refused body names the field; API-made rules survive a restart.

use std::sync::Arc;

use oxmon::core::config::{AgentConfig, ServerConfig};
use oxmon::core::{Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::server::Server;
use oxmon::transport::grpc::GrpcTransport;
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::{json_call, next, receiver};

const PASSWORD: &str = "correct horse battery 9";

fn config(dir: &std::path::Path, hook_port: u16) -> ServerConfig {
    let toml = format!(
        r#"
grpc_port = 0
http_port = 0
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{}"

[auth]
default_password = "{PASSWORD}"

[[alert.rules]]
name = "from-file"
type = "threshold"
metric = "disk.used_percent"
operator = "greater_than"
value = 95.0

[notification]
aggregation_window_secs = 0
timezone = "UTC"

[[notification.channels]]
type = "webhook"
name = "hook"
url = "http://127.0.0.1:{hook_port}/alerts"
"#,
        dir.display()
    );
    ServerConfig::from_toml(&toml, "server.toml").unwrap()
}

/// A server on `dir` notifying the webhook receiver on `hook_port`.
async fn start(dir: &std::path::Path, hook_port: u16) -> Server {
    Server::start(config(dir, hook_port), Arc::new(SystemClock))
        .await
        .unwrap()
}

struct Api {
    http: reqwest::Client,
    base: String,
    jwt: String,
}

impl Api {
    async fn login(server: &Server) -> Self {
        Self::login_as(server, "admin", PASSWORD).await
    }

    async fn login_as(server: &Server, username: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let base = format!("http://{}", server.http_addr());
        let (status, body) = json_call(
            &http,
            Method::POST,
            format!("{base}/v1/auth/login"),
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await;
        assert_eq!(status, 200, "{username} logs in: {body}");
        let jwt = body["token"].as_str().unwrap().to_owned();
        Self { http, base, jwt }
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
}

/// An agent's sender: `value` of `metric` at `at_ms`.
struct Agent(GrpcTransport);

impl Agent {
    fn connect(server: &Server) -> Self {
        let mut agent = AgentConfig::default();
        agent.server_endpoint = server.grpc_addr().to_string();
        Self(GrpcTransport::connect(&agent, "edge-1").unwrap())
    }

    async fn send(&self, metric: &str, value: f64, at_ms: i64) {
        self.send_labeled(metric, Labels::new(), value, at_ms).await;
    }

    async fn send_labeled(&self, metric: &str, labels: Labels, value: f64, at_ms: i64) {
        let sample = Sample::new(metric, labels.clone(), at_ms, value);
        let batch = MetricBatch::new("edge-1", vec![sample])
            .with_batch_id(format!("{metric}{labels}-{at_ms}"));
        self.0.send(&batch).await.unwrap();
    }
}

fn threshold(name: &str, metric: &str, duration_secs: u64) -> Value {
    json!({
        "name": name,
        "type": "threshold",
        "metric": metric,
        "operator": "greater_than",
        "value": 90,
        "duration_secs": duration_secs,
        "severity": "critical",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_made_over_rest_fires_and_its_deletion_resolves_the_alert() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let agent = Agent::connect(&server);
    let t0 = SystemClock.now_ms() - 600_000;

    let (status, created) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("hot", "sensor.temp", 0)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["source"], "api");
    assert_eq!(created["name"], "hot");
    assert_eq!(created["type"], "threshold");
    let id = created["id"].as_str().unwrap().to_owned();

    agent.send("sensor.temp", 95.0, t0).await;
    let firing = next(&mut hooks).await;
    assert_eq!(firing["status"], "firing", "{firing}");
    assert_eq!(firing["events"][0]["rule"], "hot");

    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/alerts/rules/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let resolved = next(&mut hooks).await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let message = resolved["events"][0]["message"].as_str().unwrap();
    assert!(message.contains("`hot` was removed"), "{message}");
    let (_, active) = api.call(Method::GET, "/v1/alerts/active", None).await;
    assert_eq!(active, json!([]));
    // Gone from the engine: another breach says nothing.
    agent.send("sensor.temp", 99.0, t0 + 10_000).await;
    let (status, rules) = api.call(Method::GET, "/v1/alerts/rules", None).await;
    assert_eq!(status, 200);
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules[0]["id"], "config:from-file");
    assert_eq!(rules[0]["source"], "config");
    let (_, history) = api.call(Method::GET, "/v1/alerts/history", None).await;
    assert_eq!(
        history["total"], 2,
        "firing and resolved, nothing after: {history}"
    );
    // Both changes are in the audit log, with the rule before and after.
    let (_, audit) = api.call(Method::GET, "/v1/audit?action=rule.", None).await;
    assert_eq!(audit["total"], 2, "{audit}");
    let (deleted, created) = (&audit["records"][0], &audit["records"][1]);
    assert_eq!(
        (&deleted["action"], &deleted["actor"], &deleted["target"]),
        (&json!("rule.delete"), &json!("admin"), &json!(id))
    );
    assert_eq!(deleted["before"]["name"], "hot");
    assert_eq!(deleted["after"], Value::Null);
    assert_eq!(
        (&created["action"], &created["after"]["value"]),
        (&json!("rule.create"), &json!(90.0))
    );
    server.shutdown().await;
    assert!(
        hooks.try_recv().is_err(),
        "no notification after the deletion"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_one_rule_keeps_another_rules_pending_state() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let agent = Agent::connect(&server);
    let t0 = SystemClock.now_ms() - 600_000;
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("slow", "sensor.temp", 60)),
        )
        .await;
    assert_eq!(status, 201);
    let (status, other) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("other", "sensor.humidity", 0)),
        )
        .await;
    assert_eq!(status, 201);
    let other_id = other["id"].as_str().unwrap().to_owned();

    // `slow` starts pending at t0 and holds at t0 + 30 s.
    agent.send("sensor.temp", 95.0, t0).await;
    agent.send("sensor.temp", 95.0, t0 + 30_000).await;
    // Edit and disable the other rule meanwhile.
    let mut edited = threshold("other", "sensor.humidity", 0);
    edited["value"] = json!(80.5);
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/v1/alerts/rules/{other_id}"),
            Some(edited),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], 80.5);
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/v1/alerts/rules/{other_id}/disable"),
            None,
        )
        .await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)), "{body}");
    // 60 s after the start the rule fires: its pending time survived.
    agent.send("sensor.temp", 95.0, t0 + 60_000).await;
    let firing = next(&mut hooks).await;
    assert_eq!(firing["events"][0]["rule"], "slow", "{firing}");
    let (_, history) = api
        .call(Method::GET, "/v1/alerts/history?severity=critical", None)
        .await;
    assert_eq!(
        history["events"][0]["timestamp"],
        oxmon::http::rfc3339(t0 + 60_000),
        "fired after 60 s of samples, not 60 s after the edit"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_name_the_field_and_file_rules_are_read_only() {
    let (port, _hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let mut missing = threshold("x", "m", 0);
    missing.as_object_mut().unwrap().remove("operator");
    let cases = [
        (missing, 422, "operator"),
        (
            {
                let mut v = threshold("x", "m", 0);
                v["rate_threshold"] = json!(5);
                v
            },
            422,
            "rate_threshold",
        ),
        (
            {
                let mut v = threshold("x", "m", 0);
                v["severity"] = json!("loud");
                v
            },
            422,
            "severity",
        ),
        (
            {
                let mut v = threshold("x", "m", 0);
                v["value"] = Value::Null;
                v
            },
            422,
            "value",
        ),
        (
            json!({"name": "x", "type": "jump", "metric": "m"}),
            422,
            "type",
        ),
        (threshold("from-file", "m", 0), 409, "configuration file"),
    ];
    for (body, status, words) in cases {
        let (got, answer) = api
            .call(Method::POST, "/v1/alerts/rules", Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{body} -> {message}");
    }
    for (method, path) in [
        (Method::PUT, "/v1/alerts/rules/config:from-file"),
        (Method::DELETE, "/v1/alerts/rules/config:from-file"),
        (Method::POST, "/v1/alerts/rules/config:from-file/disable"),
    ] {
        let body = (method == Method::PUT).then(|| threshold("from-file", "m", 0));
        let (status, answer) = api.call(method, path, body).await;
        assert_eq!(status, 409, "{path}: {answer}");
    }
    let (status, _) = api
        .call(Method::GET, "/v1/alerts/rules/config:from-file", None)
        .await;
    assert_eq!(status, 200);
    for (method, path) in [
        (Method::GET, "/v1/alerts/rules/999"),
        (Method::DELETE, "/v1/alerts/rules/999"),
        (Method::POST, "/v1/alerts/rules/nope/enable"),
    ] {
        let (status, answer) = api.call(method, path, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    // Nothing was stored by the refusals.
    let (_, rules) = api.call(Method::GET, "/v1/alerts/rules", None).await;
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    // Unauthenticated: refused before anything is read.
    let (status, _) = json_call(
        &api.http,
        Method::POST,
        format!("{}/v1/alerts/rules", api.base),
        None,
        Some(threshold("y", "m", 0)),
    )
    .await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_made_over_rest_survive_a_restart_and_run() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("kept", "sensor.temp", 0)),
        )
        .await;
    assert_eq!(status, 201);
    // Users, their API tokens and silences are kept too.
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/users",
            Some(json!({"username": "vic", "password": "Viewer-Passw0rd-1", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, token) = api
        .call(
            Method::POST,
            "/v1/auth/tokens",
            Some(json!({"name": "grafana", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 201);
    let token = token["token"].as_str().unwrap().to_owned();
    let (status, silence) = api
        .call(
            Method::POST,
            "/v1/silences",
            Some(json!({
                "matchers": {"agent": "lab-*"},
                "ends_at": oxmon::http::rfc3339(SystemClock.now_ms() + 3_600_000),
                "comment": "lab move",
            })),
        )
        .await;
    assert_eq!(status, 201);
    server.shutdown().await;

    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    // The user survives: it logs in.
    Api::login_as(&server, "vic", "Viewer-Passw0rd-1").await;
    let (status, _) = json_call(
        &api.http,
        Method::GET,
        format!("{}/v1/agents", api.base),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "the API token survives");
    let (_, silences) = api.call(Method::GET, "/v1/silences", None).await;
    assert_eq!(silences["silences"][0]["id"], silence["id"], "{silences}");
    assert_eq!(silences["silences"][0]["active"], true);
    let (_, rules) = api.call(Method::GET, "/v1/alerts/rules", None).await;
    assert_eq!(rules[1]["id"], created["id"], "{rules}");
    assert_eq!(rules[1]["created_at"], created["created_at"]);
    let agent = Agent::connect(&server);
    agent
        .send("sensor.temp", 97.0, SystemClock.now_ms() - 60_000)
        .await;
    let firing = next(&mut hooks).await;
    assert_eq!(firing["events"][0]["rule"], "kept", "{firing}");
    server.shutdown().await;

    // A rule of the file that takes the stored rule's name: the server
    // refuses to start and names both.
    let mut clash = config(dir.path(), port);
    let mut file_rule = clash.alert.rules[0].clone();
    file_rule.name = "kept".into();
    clash.alert.rules.push(file_rule);
    let Err(err) = Server::start(clash, Arc::new(SystemClock)).await else {
        panic!("a name clash between the file and cert.db must refuse to start");
    };
    let err = err.to_string();
    assert!(
        err.contains("cert.db rule")
            && err.contains("`kept`")
            && err.contains("configuration file"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_alert_sends_no_reminder_and_can_be_resolved_by_hand() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let admin = Api::login(&server).await;
    let (status, _) = admin
        .call(
            Method::POST,
            "/v1/users",
            Some(json!({"username": "oncall", "password": "Pager-Duty-Passw0rd", "role": "operator"})),
        )
        .await;
    assert_eq!(status, 201);
    let oncall = Api::login_as(&server, "oncall", "Pager-Duty-Passw0rd").await;
    let mut rule = threshold("hot", "sensor.temp", 0);
    rule["silence_secs"] = json!(60);
    let (status, _) = admin
        .call(Method::POST, "/v1/alerts/rules", Some(rule))
        .await;
    assert_eq!(status, 201);
    let agent = Agent::connect(&server);
    let t0 = SystemClock.now_ms() - 3_600_000;

    agent.send("sensor.temp", 95.0, t0).await;
    assert_eq!(next(&mut hooks).await["status"], "firing");
    let (_, active) = oncall.call(Method::GET, "/v1/alerts/active", None).await;
    let id = active[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(active[0]["acknowledged_by"], Value::Null);
    let (status, acked) = oncall
        .call(Method::POST, &format!("/v1/alerts/{id}/acknowledge"), None)
        .await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged_by"], "oncall");
    assert!(acked["acknowledged_at"].is_string());
    let (_, active) = admin.call(Method::GET, "/v1/alerts/active", None).await;
    assert_eq!(active[0]["acknowledged_by"], "oncall", "{active}");

    // Two minutes of breaching samples: the reminder (due after 60 s) does
    // not come; the resolution does, naming who had it.
    agent.send("sensor.temp", 96.0, t0 + 70_000).await;
    agent.send("sensor.temp", 97.0, t0 + 140_000).await;
    agent.send("sensor.temp", 50.0, t0 + 150_000).await;
    let resolved = next(&mut hooks).await;
    assert_eq!(
        resolved["status"], "resolved",
        "no reminder came first: {resolved}"
    );
    let message = resolved["events"][0]["message"].as_str().unwrap();
    assert!(message.contains("acknowledged by oncall"), "{message}");

    // A new incident, resolved by hand: the resolution is notified and stored.
    agent.send("sensor.temp", 99.0, t0 + 300_000).await;
    assert_eq!(next(&mut hooks).await["status"], "firing");
    let (status, _) = oncall
        .call(Method::POST, &format!("/v1/alerts/{id}/resolve"), None)
        .await;
    assert_eq!(status, 204);
    let by_hand = next(&mut hooks).await;
    assert_eq!(by_hand["status"], "resolved");
    let message = by_hand["events"][0]["message"].as_str().unwrap();
    assert!(message.contains("resolved by hand by oncall"), "{message}");
    let (_, active) = admin.call(Method::GET, "/v1/alerts/active", None).await;
    assert_eq!(active, json!([]));
    let (status, _) = oncall
        .call(Method::POST, &format!("/v1/alerts/{id}/resolve"), None)
        .await;
    assert_eq!(status, 404, "nothing fires any more");
    let (_, history) = admin.call(Method::GET, "/v1/alerts/history", None).await;
    assert_eq!(history["total"], 4, "{history}");
    let first = history["events"][3]["id"].as_str().unwrap();
    assert!(
        first.starts_with(&id),
        "event ids start with the alert id: {first}"
    );

    // Every delivery is in the notification log, newest first, filterable.
    let (status, log) = oncall
        .call(
            Method::GET,
            "/v1/notifications/log?channel=hook&status=sent&limit=2",
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["total"], 4, "{log}");
    assert_eq!(log["records"].as_array().unwrap().len(), 2);
    let newest = &log["records"][0];
    assert_eq!(newest["channel"], "hook");
    let resolution_id = history["events"][0]["id"].as_str().unwrap();
    assert_eq!(newest["event_ids"], json!([resolution_id]), "{log}");
    let (_, none) = oncall
        .call(Method::GET, "/v1/notifications/log?status=failed", None)
        .await;
    assert_eq!(none["total"], 0);
    let (status, _) = oncall
        .call(Method::GET, "/v1/notifications/log?status=lost", None)
        .await;
    assert_eq!(status, 400);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ad_hoc_silence_suppresses_exactly_the_matched_series() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("hot", "sensor.temp", 0)),
        )
        .await;
    assert_eq!(status, 201);
    let now = SystemClock.now_ms();
    let (status, silence) = api
        .call(
            Method::POST,
            "/v1/silences",
            Some(json!({
                "matchers": {"metric": "sensor.*", "labels": {"room": "a"}},
                "ends_at": oxmon::http::rfc3339(now + 3_600_000),
                "comment": "room a is being rewired",
            })),
        )
        .await;
    assert_eq!(status, 201, "{silence}");
    assert_eq!(
        (&silence["active"], &silence["created_by"]),
        (&json!(true), &json!("admin"))
    );
    let agent = Agent::connect(&server);
    let t0 = now - 600_000;
    agent
        .send_labeled("sensor.temp", Labels::new().with("room", "a"), 95.0, t0)
        .await;
    agent
        .send_labeled("sensor.temp", Labels::new().with("room", "b"), 96.0, t0)
        .await;
    // Only room b is notified; room a's attempt is logged as silenced.
    let firing = next(&mut hooks).await;
    assert_eq!(firing["events"][0]["labels"]["room"], "b", "{firing}");
    let (_, silenced) = api
        .call(Method::GET, "/v1/notifications/log?status=silenced", None)
        .await;
    assert_eq!(silenced["total"], 1, "{silenced}");
    let (_, active) = api.call(Method::GET, "/v1/alerts/active", None).await;
    assert_eq!(active.as_array().unwrap().len(), 2, "both fire: {active}");
    let room_a = active
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["room"] == "a")
        .unwrap();
    let event_id = silenced["records"][0]["event_ids"][0].as_str().unwrap();
    assert!(
        event_id.starts_with(room_a["id"].as_str().unwrap()),
        "{event_id}"
    );

    // Expired by hand: it stays listed, no longer active.
    let id = silence["id"].as_str().unwrap();
    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/silences/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, all) = api.call(Method::GET, "/v1/silences", None).await;
    assert_eq!(all["silences"][0]["id"], json!(id));
    assert_eq!(all["silences"][0]["active"], false);
    assert_eq!(all["windows"], json!([]));
    // Refusals: no matcher, an end before the start.
    for body in [
        json!({"matchers": {}, "ends_at": "2099-01-01T00:00:00Z", "comment": "x"}),
        json!({"matchers": {"agent": "a"}, "starts_at": "2099-01-02T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "comment": "x"}),
    ] {
        let (status, answer) = api.call(Method::POST, "/v1/silences", Some(body)).await;
        assert_eq!(status, 422, "{answer}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recurring_window_made_over_rest_silences_everything_until_deleted() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let agent = Agent::connect(&server);
    let t0 = SystemClock.now_ms() - 600_000;

    // Two hours around now, in the configured zone (UTC); it may cross
    // midnight, which a window may.
    let minute = (SystemClock.now_ms() / 60_000).rem_euclid(1440);
    let hm = |m: i64| {
        let m = m.rem_euclid(1440);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    let body = json!({"start_time": hm(minute - 60), "end_time": hm(minute + 60)});
    let (status, window) = api
        .call(Method::POST, "/v1/silences/windows", Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(
        (&window["source"], &window["recurrence"]),
        (&json!("api"), &json!("daily"))
    );
    assert_eq!(
        window["description"],
        format!("{}-{} daily", hm(minute - 60), hm(minute + 60))
    );
    let id = window["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(Method::POST, "/v1/silences/windows", Some(body))
        .await;
    assert_eq!(status, 409, "an equal window");
    for (body, field) in [
        (
            json!({"start_time": "25:00", "end_time": "01:00"}),
            "start_time",
        ),
        (
            json!({"start_time": "01:00", "end_time": "01:00"}),
            "end_time",
        ),
        (
            json!({"start_time": "01:00", "end_time": "02:00", "recurrence": "weekly"}),
            "days",
        ),
    ] {
        let (status, refused) = api
            .call(Method::POST, "/v1/silences/windows", Some(body))
            .await;
        assert_eq!(status, 422, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("field `{field}`")), "{message}");
    }

    // A breach inside the window is stored but not sent.
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/alerts/rules",
            Some(threshold("hot", "sensor.temp", 0)),
        )
        .await;
    assert_eq!(status, 201);
    agent.send("sensor.temp", 95.0, t0).await;
    // The alert task evaluates the batch after its ack: wait for it.
    let (mut history, mut silenced) = (Value::Null, Value::Null);
    for _ in 0..200 {
        (_, history) = api.call(Method::GET, "/v1/alerts/history", None).await;
        (_, silenced) = api
            .call(Method::GET, "/v1/notifications/log?status=silenced", None)
            .await;
        if history["total"] == 1 && silenced["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(history["total"], 1, "the alert fired: {history}");
    assert_eq!(silenced["records"][0]["channel"], "hook", "{silenced}");

    // The window survives a restart.
    server.shutdown().await;
    let server = start(dir.path(), port).await;
    let api = Api::login(&server).await;
    let agent = Agent::connect(&server);
    let (_, silences) = api.call(Method::GET, "/v1/silences", None).await;
    assert_eq!(silences["windows"][0]["id"], json!(id), "{silences}");
    let (status, _) = api
        .call(Method::DELETE, "/v1/silences/windows/config:0", None)
        .await;
    assert_eq!(status, 404, "the file has no windows");

    // Deleted: the next breach is sent.
    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/silences/windows/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, silences) = api.call(Method::GET, "/v1/silences", None).await;
    assert_eq!(silences["windows"], json!([]));
    agent.send("disk.used_percent", 99.0, t0 + 1_000).await;
    let firing = next(&mut hooks).await;
    assert_eq!(firing["events"][0]["rule"], "from-file", "{firing}");
    let (_, audit) = api
        .call(Method::GET, "/v1/audit?action=silence_window.", None)
        .await;
    assert_eq!(audit["total"], 2, "{audit}");
    server.shutdown().await;
    assert!(
        hooks.try_recv().is_err(),
        "the silenced alert never went out"
    );
}
