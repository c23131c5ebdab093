//! The read-only data routes (agents, metrics, alerts) through
//! `router(state).oneshot(request)` over a `MemoryStore`.
#![cfg(feature = "http")]

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use oxmon_core::config::ServerConfig;
use oxmon_core::manage::{UserStore, WhitelistStore};
use oxmon_core::{
    AlertEvent, AlertStatus, Labels, ManualClock, MetricStore, MetricStoreExt, Sample, Secret,
    SeriesKey, Severity,
};
use oxmon_http::auth::Argon2Hasher;
use oxmon_http::{ActiveAlertView, ActiveAlerts, AppState};
use oxmon_storage::{MemoryManagementStore, MemoryStore};
use serde_json::{Value, json};

mod common;
use common::{PASSWORD, assert_error, call};

/// 2026-02-08T10:00:00Z
const NOW: i64 = 1_770_544_800_000;

#[derive(Debug)]
struct Firing;

#[async_trait::async_trait]
impl ActiveAlerts for Firing {
    fn active(&self) -> Vec<ActiveAlertView> {
        vec![ActiveAlertView {
            id: "cpu-high-0123456789abcdef".into(),
            rule: "cpu-high".into(),
            agent_id: "web-1".into(),
            metric: "cpu.usage".into(),
            labels: Labels::new(),
            severity: Severity::Critical,
            since: "2026-02-08T09:59:00Z".into(),
            value: 97.5,
            message: "cpu.usage 97.5 > 90".into(),
            acknowledged_by: None,
            acknowledged_at: None,
            inhibited_by: None,
        }]
    }
}

struct Fixture {
    bare: AppState,
    state: AppState,
    token: String,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::new(NOW);
    let manage = Arc::new(MemoryManagementStore::new());
    let hasher = Argon2Hasher::with_params(8, 1, 1).expect("params");
    let hash = hasher.hash(PASSWORD).expect("hash");
    manage
        .create_user("admin", &hash, oxmon_http::manage::Role::Admin, 0)
        .await
        .expect("user");
    manage
        .add_agent("idle-1", "hash", None, NOW)
        .await
        .expect("whitelist");
    manage
        .add_agent("web-1", "hash2", Some("web"), NOW)
        .await
        .expect("whitelist");
    let metrics = Arc::new(MemoryStore::new());
    let disk = |mount: &str| Labels::new().with("mount", mount);
    let mut samples = Vec::new();
    for i in 0..6_i64 {
        let ts = NOW - 60_000 + i * 10_000;
        samples.push(Sample::new("cpu.usage", Labels::new(), ts, i as f64));
        samples.push(Sample::new("disk.used", disk("/"), ts, 50.0));
        samples.push(Sample::new("disk.used", disk("/data"), ts, 70.0));
    }
    metrics
        .append_samples("web-1", samples)
        .await
        .expect("append");
    let old = vec![Sample::new(
        "cpu.usage",
        Labels::new(),
        NOW - 3_600_000,
        1.0,
    )];
    metrics.append_samples("db-1", old).await.expect("append");
    let events: Vec<AlertEvent> = (0..5_i64)
        .map(|i| AlertEvent {
            id: format!("e{i}"),
            rule: "cpu-high".into(),
            series: SeriesKey::new(
                if i % 2 == 0 { "web-1" } else { "db-1" },
                "cpu.usage",
                Labels::new(),
            ),
            severity: if i < 3 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            status: AlertStatus::Firing,
            value: 95.0,
            threshold: Some(90.0),
            timestamp_ms: NOW - (5 - i) * 60_000,
            fired_at_ms: NOW - (5 - i) * 60_000,
            prediction: None,
            message: format!("event {i}"),
        })
        .collect();
    metrics.insert_alert_events(&events).await.expect("events");
    let config = ServerConfig::from_toml(
        r#"
[[alert.rules]]
name = "cpu-high"
type = "threshold"
metric = "cpu.usage"
operator = ">"
value = 90.0
duration_secs = 60
severity = "critical"
"#,
        "test",
    )
    .expect("config");
    let bare = AppState::new(
        manage.clone(),
        manage,
        Arc::new(clock),
        &Secret::new("test-secret-0123456789abcdef-0123456789"),
        Duration::from_secs(3600),
    )
    .expect("state")
    .with_password_hasher(hasher);
    let state = bare
        .clone()
        .with_metrics(metrics as Arc<dyn MetricStore>)
        .with_rules(config.alert.rules)
        .with_active_alerts(Arc::new(Firing))
        .with_activity(10, 3);
    let body = json!({"username": "admin", "password": PASSWORD}).to_string();
    let (s, b) = send(&bare, "POST", "/v1/auth/login", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = b["token"].as_str().expect("token").to_owned();
    Fixture { bare, state, token }
}

async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value) {
    call(state, method, uri, token, body.as_deref()).await
}

async fn get(f: &Fixture, uri: &str) -> (StatusCode, Value) {
    send(&f.state, "GET", uri, Some(&f.token), None).await
}

#[tokio::test]
async fn agents_list_reporting_and_whitelisted() {
    let f = fixture().await;
    let (s, b) = get(&f, "/v1/agents").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!([
            {"agent_id": "db-1", "last_seen": "2026-02-08T09:00:00Z", "active": false},
            {"agent_id": "idle-1", "last_seen": null, "active": false},
            {"agent_id": "web-1", "last_seen": "2026-02-08T09:59:50Z", "active": true},
        ])
    );
    // The whitelist shows the same activity.
    let (s, b) = get(&f, "/v1/agents/whitelist").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let status: Vec<(&str, &str)> = b
        .as_array()
        .expect("list")
        .iter()
        .map(|i| {
            (
                i["agent_id"].as_str().unwrap_or_default(),
                i["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(status, [("idle-1", "unknown"), ("web-1", "active")]);
    assert_eq!(b[1]["last_seen"], "2026-02-08T09:59:50Z");
}

#[tokio::test]
async fn the_overview_has_each_agents_headline_values_and_cpu_trend() {
    let f = fixture().await;
    let (s, b) = get(&f, "/v1/agents/overview").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut trend = vec![Value::Null; 12];
    // web-1's six samples (0 to 5) fall in the newest five minutes.
    trend[11] = json!(2.5);
    assert_eq!(
        b["agents"][2],
        json!({"agent_id": "web-1", "last_seen": "2026-02-08T09:59:50Z", "active": true,
            "cpu": 5.0, "memory": null, "disk": null, "load": null, "cpu_trend": trend})
    );
    // db-1's one sample is an hour old: out of the trend, still its newest.
    assert_eq!(b["agents"][0]["cpu"], 1.0);
    assert_eq!(b["agents"][0]["cpu_trend"], json!(vec![Value::Null; 12]));
    assert_eq!(b["agents"][1]["cpu_trend"], json!(vec![Value::Null; 12]));
    assert_eq!(b["firing"], json!({"critical": 1, "warning": 0, "info": 0}));
}

#[tokio::test]
async fn latest_values_and_404() {
    let f = fixture().await;
    let (s, b) = get(&f, "/v1/agents/web-1/latest").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!([
            {"metric": "cpu.usage", "labels": {}, "value": 5.0, "timestamp": "2026-02-08T09:59:50Z"},
            {"metric": "disk.used", "labels": {"mount": "/"}, "value": 50.0, "timestamp": "2026-02-08T09:59:50Z"},
            {"metric": "disk.used", "labels": {"mount": "/data"}, "value": 70.0, "timestamp": "2026-02-08T09:59:50Z"},
        ])
    );
    let (s, b) = get(&f, "/v1/agents/idle-1/latest").await;
    assert_eq!((s, b), (StatusCode::OK, json!([])));
    let (s, b) = get(&f, "/v1/agents/nobody/latest").await;
    assert_error(s, &b, StatusCode::NOT_FOUND);
}

/// A GET returning the status, the `X-Total-Count` header and the body.
async fn get_counted(f: &Fixture, uri: &str) -> (StatusCode, Option<String>, Value) {
    use tower::ServiceExt as _;
    let req = axum::http::Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {}", f.token))
        .body(axum::body::Body::empty())
        .expect("request");
    let resp = oxmon_http::router(f.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let total = resp
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, total, serde_json::from_slice(&bytes).expect("json"))
}

#[tokio::test]
async fn latest_values_are_paged_and_filtered() {
    let f = fixture().await;
    let names = |b: &Value| -> Vec<String> {
        b.as_array()
            .expect("array")
            .iter()
            .map(|v| format!("{}{}", v["metric"].as_str().unwrap_or(""), v["labels"]))
            .collect()
    };
    let (s, total, b) = get_counted(&f, "/v1/agents/web-1/latest").await;
    assert_eq!((s, total.as_deref()), (StatusCode::OK, Some("3")), "{b}");
    assert_eq!(b.as_array().map(Vec::len), Some(3));
    let (s, total, b) = get_counted(&f, "/v1/agents/web-1/latest?limit=1&offset=1").await;
    assert_eq!((s, total.as_deref()), (StatusCode::OK, Some("3")), "{b}");
    assert_eq!(names(&b), [r#"disk.used{"mount":"/"}"#]);
    let (s, total, b) = get_counted(&f, "/v1/agents/web-1/latest?metric=disk.&offset=1").await;
    assert_eq!((s, total.as_deref()), (StatusCode::OK, Some("2")), "{b}");
    assert_eq!(names(&b), [r#"disk.used{"mount":"/data"}"#]);
    let (s, total, b) = get_counted(&f, "/v1/agents/web-1/latest?offset=10").await;
    assert_eq!(
        (s, total.as_deref(), b),
        (StatusCode::OK, Some("3"), json!([]))
    );
    // A filter matching nothing on a known agent is an empty page, not 404.
    let (s, total, b) = get_counted(&f, "/v1/agents/web-1/latest?metric=nothing").await;
    assert_eq!(
        (s, total.as_deref(), b),
        (StatusCode::OK, Some("0"), json!([]))
    );
    let (s, b) = get(&f, "/v1/agents/nobody/latest?metric=cpu").await;
    assert_error(s, &b, StatusCode::NOT_FOUND);
    for bad in ["limit=0", "limit=10001", "limit=x", "offset=-1"] {
        let (s, b) = get(&f, &format!("/v1/agents/web-1/latest?{bad}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST);
        let name = bad.split('=').next().unwrap_or_default();
        assert!(b.to_string().contains(name), "{bad}: {b}");
    }
    let long = "m".repeat(1025);
    let (s, b) = get(&f, &format!("/v1/agents/web-1/latest?metric={long}")).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b.to_string().contains("metric"), "{b}");
}

#[tokio::test]
async fn metrics_series_in_time_order_and_step_average() {
    let f = fixture().await;
    let range = "from=2026-02-08T09:00:00Z&to=2026-02-08T10:00:00Z";
    let (s, b) = get(
        &f,
        &format!("/v1/metrics?agent=web-1&metric=disk.used&{range}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let series = b.as_array().expect("series");
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["labels"], json!({"mount": "/"}));
    assert_eq!(series[1]["labels"], json!({"mount": "/data"}));
    assert_eq!(series[0]["points"].as_array().expect("points").len(), 6);
    assert_eq!(
        series[0]["points"][0],
        json!({"timestamp": "2026-02-08T09:59:00Z", "value": 50.0})
    );
    let (s, b) = get(
        &f,
        "/v1/metrics?agent=web-1&metric=cpu.usage&from=2026-02-08T09:59:00Z&to=2026-02-08T10:00:00Z&step=30",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b[0]["points"],
        json!([
            {"timestamp": "2026-02-08T09:59:00Z", "value": 1.0},
            {"timestamp": "2026-02-08T09:59:30Z", "value": 4.0},
        ])
    );
    // No data in range: an empty list, not an error.
    let (s, b) = get(
        &f,
        "/v1/metrics?agent=web-1&metric=none&from=2026-02-08&to=2026-02-08T01:00:00Z",
    )
    .await;
    assert_eq!((s, b), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn metrics_bad_queries_are_400() {
    let f = fixture().await;
    let ok = "agent=web-1&metric=cpu.usage&from=2026-02-08T00:00:00Z&to=2026-02-08T01:00:00Z";
    for query in [
        "",
        "metric=cpu.usage&from=2026-02-08T00:00:00Z&to=2026-02-08T01:00:00Z",
        "agent=web-1&from=2026-02-08T00:00:00Z&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&from=2026-02-08T00:00:00Z",
        "agent=web-1&metric=cpu.usage&from=&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&from=yesterday&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&from=2026-02-08T00:00:00Z&to=2026-02-30T00:00:00Z",
        "agent=web-1&metric=cpu.usage&from=2026-02-08T02:00:00Z&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&from=2026-01-01T00:00:00Z&to=2026-02-08T01:00:00Z",
        "agent=web-1&metric=cpu.usage&from=1900-01-01T00:00:00Z&to=1900-01-02T00:00:00Z",
        &format!("{ok}&step=0"),
        &format!("{ok}&step=-5"),
        &format!("{ok}&step=abc"),
        &format!("{ok}&step=99999999999999999999999"),
        &format!("{ok}&agent=twice"),
        "agent=%ZZ&metric=%",
    ] {
        let (s, b) = get(&f, &format!("/v1/metrics?{query}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST);
        assert!(
            !b["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
    }
    let (s, _) = get(&f, &format!("/v1/metrics?{ok}")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn alert_history_pages_and_filters() {
    let f = fixture().await;
    let (s, b) = get(&f, "/v1/alerts/history").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 5);
    assert_eq!(b["limit"], 100);
    let ids: Vec<&str> = b["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["e4", "e3", "e2", "e1", "e0"]);
    assert_eq!(b["events"][0]["agent_id"], "web-1");
    assert_eq!(b["events"][0]["severity"], "warning");
    assert_eq!(b["events"][0]["timestamp"], "2026-02-08T09:59:00Z");
    let (_, b) = get(&f, "/v1/alerts/history?limit=2&offset=1").await;
    assert_eq!(b["total"], 5);
    assert_eq!(b["events"][0]["id"], "e3");
    assert_eq!(b["events"][1]["id"], "e2");
    let (_, b) = get(&f, "/v1/alerts/history?severity=critical&agent=web-1").await;
    assert_eq!(b["total"], 2);
    assert_eq!(b["events"][0]["id"], "e2");
    let (_, b) = get(
        &f,
        "/v1/alerts/history?from=2026-02-08T09:57:00Z&to=2026-02-08T09:58:00Z",
    )
    .await;
    assert_eq!(b["total"], 2);
    for query in [
        "severity=fatal",
        "from=soon",
        "to=2026-02-30",
        "from=2026-02-08T10:00:00Z&to=2026-02-08T09:00:00Z",
        "limit=0",
        "limit=1001",
        "limit=x",
        "offset=-1",
    ] {
        let (s, b) = get(&f, &format!("/v1/alerts/history?{query}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn rules_and_active_alerts() {
    let f = fixture().await;
    let (s, b) = get(&f, "/v1/alerts/rules").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b[0]["name"], "cpu-high");
    assert_eq!(b[0]["type"], "threshold");
    assert_eq!(b[0]["metric"], "cpu.usage");
    assert_eq!(b[0]["value"], 90.0);
    assert_eq!(b[0]["duration_secs"], 60);
    assert_eq!(b[0]["severity"], "critical");
    assert_eq!(b[0]["enabled"], true);
    assert!(b[0]["operator"].is_string(), "{b}");
    let (s, b) = get(&f, "/v1/alerts/active").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b[0]["rule"], "cpu-high");
    assert_eq!(b[0]["severity"], "critical");
    assert_eq!(b[0]["since"], "2026-02-08T09:59:00Z");
}

#[tokio::test]
async fn missing_sources_are_503_and_tokens_required() {
    let f = fixture().await;
    for uri in [
        "/v1/agents",
        "/v1/agents/web-1/latest",
        "/v1/metrics?agent=a&metric=m&from=2026-02-08&to=2026-02-08T01:00:00Z",
        "/v1/alerts/rules",
        "/v1/alerts/history",
        "/v1/alerts/active",
    ] {
        let (s, b) = send(&f.bare, "GET", uri, Some(&f.token), None).await;
        assert_error(s, &b, StatusCode::SERVICE_UNAVAILABLE);
        let (s, b) = send(&f.state, "GET", uri, None, None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED);
    }
    // Without a metric store the whitelist still answers, status unknown.
    let (s, b) = send(&f.bare, "GET", "/v1/agents/whitelist", Some(&f.token), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b[1]["status"], "unknown");
}
