//! A host that goes silent alerts, once: the `server` program with an
//! `agent_offline` rule, an `absent` rule and a threshold rule that fires
//! on every CPU sample, a webhook receiver on 127.0.0.1, a real `agent`
//! process reporting every second. Stopping the agent brings one offline
//! notification (its absent series is inhibited, listed as such); starting
//! it again brings one resolution, and nothing else. A whitelisted agent
//! that never reports alerts too, and shows in `/v1/alerts/active`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{
    eventually, example, free_port, json_call as call, next, receiver, spawn, terminate,
};

const PASSWORD: &str = "offline-Admin-Passw0rd";

/// The next notification about `agent` (others, such as the whitelisted
/// ghost's reminders, are skipped).
async fn next_about(
    hooks: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    agent: &str,
) -> Value {
    loop {
        let body = next(hooks).await;
        if body["events"][0]["agent_id"] == agent {
            return body;
        }
    }
}

/// Asserts that nothing about `agent` arrives for `quiet`.
async fn assert_quiet(
    hooks: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    agent: &str,
    quiet: Duration,
) {
    let until = tokio::time::Instant::now() + quiet;
    while let Ok(Some(body)) = tokio::time::timeout_at(until, hooks.recv()).await {
        let body: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_ne!(body["events"][0]["agent_id"], agent, "unexpected: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_alerts_offline_and_resolves_when_it_reports_again() {
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

[auth]
default_password = "{PASSWORD}"

[[alert.rules]]
name = "host-down"
type = "agent_offline"
after_secs = 3
silence_secs = 0

[[alert.rules]]
name = "no-cpu"
type = "absent"
metric = "cpu.usage"
agent_pattern = "edge-*"
after_secs = 3
silence_secs = 0

[[alert.rules]]
name = "cpu-any"
type = "threshold"
metric = "cpu.usage"
agent_pattern = "edge-*"
operator = ">="
value = 0.0
severity = "info"
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
    let mut server = spawn(
        &example("server"),
        &server_toml,
        &dir.path().join("server.log"),
    );
    let base = format!("http://127.0.0.1:{http_port}");
    let http = reqwest::Client::new();
    let jwt = support::login_when_up(&http, &base, PASSWORD).await;

    // A whitelisted agent that never reports alerts after `after_secs`.
    let (s, added) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/agents/whitelist"),
        Some(&jwt),
        Some(json!({"agent_id": "ghost-01"})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let ghost = next_about(&mut hooks, "ghost-01").await;
    assert_eq!(ghost["status"], "firing", "{ghost}");
    assert_eq!(ghost["events"][0]["metric"], "agent.offline", "{ghost}");
    assert_eq!(ghost["events"][0]["severity"], "critical", "{ghost}");

    // A real agent reports every second.
    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!("agent_id = \"edge-01\"\nserver_endpoint = \"127.0.0.1:{grpc}\"\ncollection_interval_secs = 1\n"),
    )
    .unwrap();
    let agent_bin = example("agent");
    let mut agent = spawn(&agent_bin, &agent_toml, &dir.path().join("agent.log"));
    let agents_url = format!("{base}/v1/agents");
    eventually("the agent reporting", 30, || async {
        let (_, v) = call(&http, reqwest::Method::GET, &agents_url, Some(&jwt), None).await;
        v.as_array()
            .is_some_and(|l| {
                l.iter()
                    .any(|a| a["agent_id"] == "edge-01" && a["active"] == true)
            })
            .then_some(())
    })
    .await;
    // Its CPU alert fires (and is notified) while it reports.
    let cpu = next_about(&mut hooks, "edge-01").await;
    assert_eq!(cpu["events"][0]["rule"], "cpu-any", "{cpu}");

    // Stopped: the offline alert comes, naming it and how long it is silent.
    terminate(&mut agent);
    let stopped = Instant::now();
    let offline = next_about(&mut hooks, "edge-01").await;
    assert_eq!(offline["status"], "firing", "{offline}");
    let event = &offline["events"][0];
    assert_eq!(event["rule"], "host-down", "{offline}");
    assert_eq!(event["metric"], "agent.offline", "{offline}");
    assert!(event["value"].as_f64().unwrap() >= 3.0, "{event}");
    assert!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("agent edge-01: nothing reported for")),
        "{event}"
    );
    assert!(stopped.elapsed() < Duration::from_secs(15), "in time");
    let active_url = format!("{base}/v1/alerts/active");
    let (_, active) = call(&http, reqwest::Method::GET, &active_url, Some(&jwt), None).await;
    let offline_agents: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "host-down")
        .filter_map(|a| a["agent_id"].as_str())
        .collect();
    assert_eq!(offline_agents.len(), 2, "{active}");
    assert!(offline_agents.contains(&"edge-01") && offline_agents.contains(&"ghost-01"));
    // Its absent CPU series fires too, stored and listed, inhibited by the
    // offline alert instead of paging.
    let list = active.as_array().unwrap();
    let absent = list
        .iter()
        .find(|a| a["rule"] == "no-cpu")
        .unwrap_or_else(|| panic!("the absent series fires: {active}"));
    let down = list
        .iter()
        .find(|a| a["rule"] == "host-down" && a["agent_id"] == "edge-01")
        .unwrap();
    assert_eq!(absent["inhibited_by"], down["id"], "{active}");
    // Nothing else about it is sent while it is down.
    assert_quiet(&mut hooks, "edge-01", Duration::from_secs(2)).await;

    // Started again: its first report resolves the alert.
    let mut agent = spawn(&agent_bin, &agent_toml, &dir.path().join("agent2.log"));
    let back = next_about(&mut hooks, "edge-01").await;
    assert_eq!(back["status"], "resolved", "{back}");
    assert_eq!(back["events"][0]["rule"], "host-down", "{back}");
    assert_eq!(
        back["events"][0]["message"],
        "agent edge-01: reporting again"
    );
    // No storm: the absent series' resolution was never due (it was never
    // notified), the CPU alert never stopped.
    assert_quiet(&mut hooks, "edge-01", Duration::from_secs(2)).await;

    terminate(&mut agent);
    terminate(&mut server);
}
