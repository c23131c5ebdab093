//! The downstream server end to end: a jump in the socket collector's
//! `tcp.connections`, read by the local agent from a proc tree the test
//! writes, fires the `jump` rule, and a signed Feishu message reaches a
//! local receiver that checks the signature as Feishu does.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use oxmon::ServerConfig;
use oxmon::server::Server;
use oxmon_example_downstream::sockets::write_fake_tcp_table;
use sha2::Sha256;
use tokio::sync::mpsc;

const SECRET: &str = "feishu-test-secret";

/// What the receiver saw: whether the signature was valid, and the text.
#[derive(Debug)]
struct Received {
    signed: bool,
    text: String,
}

/// Answers as the Feishu bot does: `code` 0 for a signed request with a
/// timestamp within an hour, 19021 otherwise.
async fn bot(
    State(seen): State<mpsc::UnboundedSender<Received>>,
    Json(body): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let ts = body["timestamp"].as_str().unwrap_or_default();
    let now = oxmon::core::Clock::now_ms(&oxmon::core::SystemClock) / 1000;
    let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() < 3600);
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("{ts}\n{SECRET}").as_bytes()).unwrap();
    mac.update(b"");
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let signed = fresh && body["sign"].as_str() == Some(expected.as_str());
    let text = body["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let _ = seen.send(Received { signed, text });
    Json(if signed {
        serde_json::json!({"code": 0, "msg": "success", "data": {}})
    } else {
        serde_json::json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
    })
}

async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/open-apis/bot/v2/hook/{token}", axum::routing::post(bot))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

fn config(data_dir: &std::path::Path, bot: SocketAddr) -> String {
    format!(
        r#"
data_dir = "{dir}"
grpc_bind = "127.0.0.1"
grpc_port = 0
http_bind = "127.0.0.1"
http_port = 0
aggregation_window_secs = 0

[local_agent]
enabled = true
agent_id = "local"
collection_interval_secs = 1

[[alert.rules]]
name = "connection-jump"
type = "jump"
metric = "tcp.connections"
max_increase = 100
window_secs = 60
severity = "critical"
silence_secs = 0

[[notification.channels]]
type = "feishu"
webhook_url = "http://{bot}/open-apis/bot/v2/hook/test-token"
secret = "{SECRET}"
"#,
        dir = data_dir.display()
    )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a notification within a minute")
        .expect("receiver open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_in_collected_connections_reaches_feishu_signed() {
    let data = tempfile::tempdir().unwrap();
    let proc_root = tempfile::tempdir().unwrap();
    write_fake_tcp_table(proc_root.path(), 3).unwrap();
    let (bot, mut seen) = receiver().await;
    let config = ServerConfig::from_toml(&config(data.path(), bot), "server.toml").unwrap();

    // The built-in parts alone cannot run this configuration.
    let err = oxmon::server::check(&config).unwrap_err().to_string();
    assert!(err.contains("unknown type `feishu`"), "{err}");

    let server =
        oxmon_example_downstream::with_parts_from(Server::builder(config), proc_root.path())
            .start()
            .await
            .expect("starts");
    // The local agent reports the custom collector's samples.
    let store = server.store();
    let established = |samples: &[oxmon::core::Sample]| {
        samples
            .iter()
            .find(|s| s.metric == "tcp.connections" && s.labels.get("state") == Some("established"))
            .map(|s| s.value)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let latest = store.latest("local").await.unwrap();
        if established(&latest) == Some(3.0) {
            assert!(latest.iter().any(|s| s.metric == "process.count"));
            assert!(
                latest.iter().any(|s| s.metric.starts_with("memory.")),
                "built-in collectors too"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sample: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    write_fake_tcp_table(proc_root.path(), 300).unwrap();
    let fired = next(&mut seen).await;
    assert!(fired.signed, "signature checked by the receiver: {fired:?}");
    assert!(
        fired
            .text
            .starts_with("[CRITICAL] connection-jump on local: tcp.connections = 300"),
        "{}",
        fired.text
    );
    assert!(
        fired.text.contains("jumped from 3 to 300"),
        "{}",
        fired.text
    );
    // Steady at 300: no jump between the next two points, the alert resolves.
    let resolved = next(&mut seen).await;
    assert!(resolved.signed);
    assert!(
        resolved
            .text
            .starts_with("[RESOLVED CRITICAL] connection-jump"),
        "{}",
        resolved.text
    );
    server.shutdown().await;
}

#[test]
fn the_program_checks_its_configuration_with_its_own_parts() {
    let dir = tempfile::tempdir().unwrap();
    let bot: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let path = dir.path().join("server.toml");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_oxmon-example-downstream"))
            .arg(&path)
            .arg("--check-config")
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    let good = config(dir.path(), bot);
    let out = check(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));

    let out = check(&good.replace("max_increase = 100", "max_increase = -1"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `alert.rules[0].max_increase`: must be greater than 0, got -1"),
        "{stderr}"
    );
    let out = check(&good.replace("type = \"jump\"", "type = \"jmup\""));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `alert.rules[0].type`: unknown rule type `jmup`, expected one of: threshold, rate_of_change, trend_prediction, cert_expiration, agent_offline, absent, jump"),
        "{stderr}"
    );
    let out = check(&good.replace("secret = ", "secrt = "));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notification.channels[0].secrt"),
        "{stderr}"
    );
}
