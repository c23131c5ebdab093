//! Runtime settings over REST on a real server: turning
//! `require_agent_auth` on refuses the next batch of an agent without a
//! token over real gRPC, survives a restart, and `null` returns it to the
//! file's value; a value the file would refuse is 422 naming the field and
//! changes nothing; every change is audited.

use std::sync::Arc;

use oxmon::core::config::{AgentConfig, ServerConfig};
use oxmon::core::{Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::server::Server;
use oxmon::transport::grpc::GrpcTransport;
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::json_call;

const PASSWORD: &str = "correct horse battery 9";

async fn start(dir: &std::path::Path) -> Server {
    let toml = format!(
        "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\n\
         data_dir = \"{}\"\nretention_days = 14\n[auth]\ndefault_password = \"{PASSWORD}\"\n\
         [cert_check]\nenabled = false\n",
        dir.display()
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    Server::start(config, Arc::new(SystemClock)).await.unwrap()
}

async fn login(server: &Server) -> (reqwest::Client, String, String) {
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.http_addr());
    let (_, body) = json_call(
        &http,
        Method::POST,
        format!("{base}/v1/auth/login"),
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    let jwt = body["token"].as_str().unwrap().to_owned();
    (http, base, jwt)
}

/// Sends one sample without a token; whether the server took it.
async fn send_without_token(server: &Server, at_ms: i64) -> bool {
    let mut agent = AgentConfig::default();
    agent.server_endpoint = server.grpc_addr().to_string();
    let transport = GrpcTransport::connect(&agent, "edge-1").unwrap();
    let batch = MetricBatch::new(
        "edge-1",
        vec![Sample::new("cpu.usage", Labels::new(), at_ms, 1.0)],
    )
    .with_batch_id(format!("b-{at_ms}"));
    transport.send(&batch).await.is_ok()
}

fn setting<'a>(all: &'a Value, key: &str) -> &'a Value {
    all.as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("{key} in {all}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn require_agent_auth_changes_at_once_survives_a_restart_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (http, base, jwt) = login(&server).await;
    let call = |method: Method, body: Option<Value>| {
        json_call(
            &http,
            method,
            format!("{base}/v1/settings"),
            Some(&jwt),
            body,
        )
    };
    let now = SystemClock.now_ms();

    let (status, all) = call(Method::GET, None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all.as_array().unwrap().len(), 9, "{all}");
    let retention = setting(&all, "retention_days");
    assert_eq!(
        (
            &retention["value"],
            &retention["source"],
            &retention["file_value"]
        ),
        (&json!(14), &json!("config"), &json!(14))
    );
    assert_eq!(setting(&all, "require_agent_auth")["value"], false);
    assert!(send_without_token(&server, now).await, "auth is off");

    let (status, after) = call(Method::PUT, Some(json!({"require_agent_auth": true}))).await;
    assert_eq!(status, 200, "{after}");
    let auth = setting(&after, "require_agent_auth");
    assert_eq!(
        (&auth["value"], &auth["source"], &auth["file_value"]),
        (&json!(true), &json!("api"), &json!(false))
    );
    assert!(
        !send_without_token(&server, now + 1).await,
        "the next batch without a token is refused"
    );

    // Refused as the file would refuse it, naming the field; all or
    // nothing.
    for (body, field) in [
        (json!({"grpc_port": 1}), "grpc_port"),
        (
            json!({"retention_days": 30, "notification.timezone": "Mars/Olympus"}),
            "notification.timezone",
        ),
        (json!({"cert_check.tick_secs": "often"}), "tick_secs"),
    ] {
        let (status, refused) = call(Method::PUT, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (_, all) = call(Method::GET, None).await;
    assert_eq!(
        setting(&all, "retention_days")["value"],
        14,
        "nothing changed"
    );

    // Kept across a restart.
    server.shutdown().await;
    let server = start(dir.path()).await;
    let (http, base, jwt) = login(&server).await;
    let call = |method: Method, body: Option<Value>| {
        json_call(
            &http,
            method,
            format!("{base}/v1/settings"),
            Some(&jwt),
            body,
        )
    };
    assert!(
        !send_without_token(&server, now + 2).await,
        "still required"
    );
    let (status, after) = call(
        Method::PUT,
        Some(json!({"require_agent_auth": null, "retention_days": 30})),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(setting(&after, "require_agent_auth")["source"], "config");
    assert_eq!(setting(&after, "retention_days")["value"], 30);
    assert!(
        send_without_token(&server, now + 3).await,
        "back to the file's"
    );

    let (_, audit) = json_call(
        &http,
        Method::GET,
        format!("{base}/v1/audit?action=settings."),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(audit["total"], 2, "{audit}");
    let (reset, first) = (&audit["records"][0], &audit["records"][1]);
    assert_eq!(first["target"], "require_agent_auth", "{audit}");
    let key = "require_agent_auth";
    assert_eq!(
        (
            &first["before"][key]["value"],
            &first["after"][key]["value"]
        ),
        (&json!(false), &json!(true))
    );
    assert_eq!(reset["target"], "require_agent_auth,retention_days");
    server.shutdown().await;
}
