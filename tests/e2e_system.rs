//! The whole system as separate processes on 127.0.0.1: the `server`
//! example with agent authentication on, an agent whitelisted through the
//! REST API reporting with its token from the `agent` example, its samples
//! visible through `/v1/agents` and `/v1/metrics`, and a threshold rule on
//! real collected data (loopback traffic that the test generates) reaching
//! a webhook receiver, then resolving when the traffic stops.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

mod support;
use support::{
    eventually, example, free_port, json_call as call, next, receiver, spawn, terminate,
};

const PASSWORD: &str = "e2e-Admin-Passw0rd";

/// Sends about 40 MB/s over a loopback TCP connection until dropped.
struct LoopbackTraffic {
    stop: Arc<AtomicBool>,
}

impl LoopbackTraffic {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut sock, _)) = listener.accept() {
                let mut buf = vec![0u8; 1 << 16];
                while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            let chunk = vec![7u8; 1 << 18];
            while !flag.load(Ordering::Relaxed) {
                if sock.write_all(&chunk).is_err() {
                    return;
                }
                // 256 KiB every ~6 ms: ~40 MB/s, far above the rule's
                // 5 MB/s and far below what loopback can carry.
                std::thread::sleep(Duration::from_millis(6));
            }
        });
        Self { stop }
    }
}

impl Drop for LoopbackTraffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whitelisted_agent_reports_and_a_rule_on_its_data_notifies() {
    let (server_bin, agent_bin) = (example("server"), example("agent"));
    assert!(
        server_bin.exists() && agent_bin.exists(),
        "example binaries missing ({}); run through `cargo test`, which builds them",
        server_bin.display()
    );
    let (hook_port, mut hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http_port) = (free_port(), free_port());
    let server_toml = dir.path().join("server.toml");
    std::fs::write(
        &server_toml,
        format!(
            r#"grpc_port = {grpc}
http_port = {http_port}
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{data}"
require_agent_auth = true

[auth]
default_password = "{PASSWORD}"

[[alert.rules]]
name = "loopback-busy"
type = "threshold"
metric = "network.bytes_recv"
agent_pattern = "e2e-*"
operator = "greater_than"
value = 5000000.0
duration_secs = 0
severity = "warning"
silence_secs = 0

[notification]
aggregation_window_secs = 0

[[notification.channels]]
type = "webhook"
name = "ops-hook"
url = "http://127.0.0.1:{hook_port}/alerts"

[cert_check]
enabled = false
"#,
            data = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    let mut server = spawn(&server_bin, &server_toml, &dir.path().join("server.log"));
    let base = format!("http://127.0.0.1:{http_port}");
    let http = reqwest::Client::new();
    let health = format!("{base}/v1/health");
    eventually("the server's health", 30, || async {
        let (s, v) = call(&http, reqwest::Method::GET, &health, None, None).await;
        (s == 200).then_some(v)
    })
    .await;

    // Log in and whitelist the agent; the token is shown once.
    let (s, login) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/auth/login"),
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, 200, "{login}");
    let jwt = login["token"].as_str().unwrap().to_owned();
    let (s, added) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/agents/whitelist"),
        Some(&jwt),
        Some(json!({"agent_id": "e2e-web-01", "description": "end-to-end test"})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let token = added["token"].as_str().unwrap();

    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            r#"agent_id = "e2e-web-01"
server_endpoint = "127.0.0.1:{grpc}"
auth_token = "{token}"
collection_interval_secs = 1

[collectors]
include_loopback = true
interfaces_include = ["lo"]
"#
        ),
    )
    .unwrap();
    // An agent without the token is refused (and keeps its samples buffered).
    let stranger_toml = dir.path().join("stranger.toml");
    std::fs::write(
        &stranger_toml,
        format!("agent_id = \"e2e-stranger\"\nserver_endpoint = \"127.0.0.1:{grpc}\"\ncollection_interval_secs = 1\n"),
    )
    .unwrap();
    let mut agent = spawn(&agent_bin, &agent_toml, &dir.path().join("agent.log"));
    let mut stranger = spawn(&agent_bin, &stranger_toml, &dir.path().join("stranger.log"));

    // The agent shows up as active and its samples are queryable.
    let agents_url = format!("{base}/v1/agents");
    let agents = eventually("the agent to be active", 30, || async {
        let (_, v) = call(&http, reqwest::Method::GET, &agents_url, Some(&jwt), None).await;
        v.as_array()
            .filter(|list| {
                list.iter()
                    .any(|a| a["agent_id"] == "e2e-web-01" && a["active"] == true)
            })
            .cloned()
    })
    .await;
    assert!(
        !agents.iter().any(|a| a["agent_id"] == "e2e-stranger"),
        "an agent without a token is not stored: {agents:?}"
    );
    let now = oxmon::core::Clock::now_ms(&oxmon::core::SystemClock);
    let metrics_url = format!(
        "{base}/v1/metrics?agent=e2e-web-01&metric=cpu.usage&from={}&to={}",
        oxmon::http::rfc3339(now - 600_000),
        oxmon::http::rfc3339(now + 600_000)
    );
    let series = eventually("cpu.usage samples", 30, || async {
        let (_, v) = call(&http, reqwest::Method::GET, &metrics_url, Some(&jwt), None).await;
        v.as_array()
            .filter(|s| {
                s.iter()
                    .any(|s| s["points"].as_array().is_some_and(|p| !p.is_empty()))
            })
            .cloned()
    })
    .await;
    assert!(series.iter().all(|s| s["agent_id"] == "e2e-web-01"));

    // Real data crosses the threshold: loopback traffic well above 5 MB/s.
    let traffic = LoopbackTraffic::start();
    let firing = next(&mut hooks).await;
    drop(traffic);
    assert_eq!(firing["status"], "firing", "{firing}");
    let event = &firing["events"][0];
    assert_eq!(event["rule"], "loopback-busy", "{firing}");
    assert_eq!(event["agent_id"], "e2e-web-01");
    assert_eq!(event["labels"]["interface"], "lo");
    assert!(event["value"].as_f64().unwrap() > 5_000_000.0, "{event}");

    // The traffic stopped: the rate falls back and the alert resolves.
    let resolved = next(&mut hooks).await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let history_url = format!("{base}/v1/alerts/history?agent=e2e-web-01");
    let (s, history) = call(&http, reqwest::Method::GET, &history_url, Some(&jwt), None).await;
    assert_eq!(s, 200, "{history}");
    assert!(history["total"].as_u64().unwrap() >= 2, "{history}");

    terminate(&mut stranger);
    terminate(&mut agent);
    terminate(&mut server);
    let log = std::fs::read_to_string(dir.path().join("stranger.log")).unwrap_or_default();
    assert!(
        log.to_lowercase().contains("unauthenticated")
            || log.contains("refused")
            || log.contains("denied"),
        "the stranger was told why:\n{log}"
    );
}
