//! The server wired together: a sample over a threshold, sent by an agent
//! over real gRPC, makes a real webhook receiver on 127.0.0.1 get the firing
//! notification, and the resolved one follows when the value drops. The
//! event is also in `alert_events` and the attempt in the notification history.

use std::sync::Arc;

use oxmon::core::config::{AgentConfig, ServerConfig};
use oxmon::core::notify_history::NotificationHistory;
use oxmon::core::{AlertQuery, Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::server::Server;
use oxmon::storage::SqliteManagementStore;
use oxmon::transport::grpc::GrpcTransport;

mod support;
use support::{next, receiver};

#[tokio::test(flavor = "multi_thread")]
async fn a_threshold_breach_reaches_the_webhook_and_resolves() {
    let (port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
grpc_port = 0
http_port = 0
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{}"

[[alert.rules]]
name = "too-hot"
type = "threshold"
metric = "sensor.temp"
operator = "greater_than"
value = 50.0
duration_secs = 0
severity = "critical"

[notification]
aggregation_window_secs = 0

[[notification.channels]]
type = "webhook"
name = "hook"
url = "http://127.0.0.1:{port}/alerts"
"#,
        dir.path().display()
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    let server = Server::start(config, Arc::new(SystemClock)).await.unwrap();
    let mut agent = AgentConfig::default();
    agent.server_endpoint = server.grpc_addr().to_string();
    let client = GrpcTransport::connect(&agent, "edge-1").unwrap();
    let send = |value: f64, n: i64| {
        let ts = SystemClock.now_ms() + n;
        let s = Sample::new("sensor.temp", Labels::new().with("room", "a"), ts, value);
        MetricBatch {
            agent_id: "edge-1".into(),
            batch_id: Some(format!("b{n}")),
            timestamp_ms: ts,
            samples: vec![s],
        }
    };
    client.send(&send(20.0, 0)).await.unwrap();
    client.send(&send(71.5, 1)).await.unwrap();
    let firing = next(&mut hooks).await;
    assert_eq!(firing["status"], "firing", "{firing}");
    assert_eq!(firing["count"], 1);
    let event = &firing["events"][0];
    assert_eq!(event["agent_id"], "edge-1", "{firing}");
    assert_eq!(event["rule"], "too-hot");
    assert_eq!(event["value"], 71.5);
    assert_eq!(event["labels"]["room"], "a");
    assert_eq!(event["severity"], "critical");
    client.send(&send(30.0, 2)).await.unwrap();
    let resolved = next(&mut hooks).await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");

    let events = server
        .store()
        .query_alert_events(&AlertQuery::default())
        .await
        .unwrap();
    assert_eq!(events.total, 2, "both events stored in alert_events");
    server.shutdown().await;
    let history = SqliteManagementStore::open(dir.path().join("cert.db"))
        .await
        .unwrap();
    let attempts = history.recent(10).await.unwrap();
    assert!(
        attempts
            .iter()
            .filter(|a| a.channel == "hook" && a.status.as_str() == "sent")
            .count()
            >= 2,
        "{attempts:?}"
    );
}
