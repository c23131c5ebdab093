//! The REST API as the server serves it, over real sockets: health, the
//! first administrator, login, and an agent whitelisted through the API
//! reporting over gRPC with `require_agent_auth = true`.

use std::sync::Arc;

use oxmon::core::config::{AgentConfig, ServerConfig};
use oxmon::core::{
    Clock, Labels, MetricBatch, MetricStoreExt, Sample, Secret, SeriesKey, SystemClock, Transport,
    TransportErrorKind,
};
use oxmon::server::{AdminPasswordSource, Server, ServerError};
use oxmon::transport::grpc::GrpcTransport;
use serde_json::{Value, json};

mod support;

fn config(dir: &std::path::Path, extra: &str) -> ServerConfig {
    let toml = format!(
        "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\nrequire_agent_auth = true\n{extra}",
        dir.display()
    );
    ServerConfig::from_toml(&toml, "server.toml").unwrap()
}

async fn post(http: &reqwest::Client, url: &str, jwt: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn get(http: &reqwest::Client, url: &str, jwt: &str) -> Value {
    http.get(url)
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn whitelisted_agent_reports_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        config(
            dir.path(),
            "[auth]\ndefault_password = \"correct horse battery 9\"\n",
        ),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    assert!(
        server.initial_admin_password().is_none(),
        "a configured password is not echoed"
    );
    let base = format!("http://{}", server.http_addr());
    let http = reqwest::Client::new();

    let health: Value = http
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");

    let denied = http
        .get(format!("{base}/v1/agents/whitelist"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);

    let login = post(
        &http,
        &format!("{base}/v1/auth/login"),
        None,
        json!({"username": "admin", "password": "correct horse battery 9"}),
    )
    .await;
    let jwt = login["token"].as_str().expect("token").to_owned();

    let created = post(
        &http,
        &format!("{base}/v1/agents/whitelist"),
        Some(&jwt),
        json!({"agent_id": "web-1", "description": "front"}),
    )
    .await;
    let agent_token = created["token"]
        .as_str()
        .expect("agent token shown once")
        .to_owned();

    let mut agent = AgentConfig::default();
    agent.server_endpoint = server.grpc_addr().to_string();
    let batch = |id: &str| {
        let ts = SystemClock.now_ms();
        MetricBatch {
            agent_id: "web-1".into(),
            batch_id: Some(id.into()),
            timestamp_ms: ts,
            samples: vec![Sample::new("cpu.usage", Labels::new(), ts, 12.5)],
        }
    };
    let anonymous = GrpcTransport::connect(&agent, "web-1").unwrap();
    assert_eq!(
        anonymous.send(&batch("a")).await.unwrap_err().kind,
        TransportErrorKind::Unauthenticated
    );
    agent.auth_token = Some(Secret::new(agent_token));
    let authorized = GrpcTransport::connect(&agent, "web-1").unwrap();
    authorized
        .send(&batch("b"))
        .await
        .expect("the whitelisted agent reports");
    let now = SystemClock.now_ms();
    let points = server
        .store()
        .series_points(
            &SeriesKey::new("web-1", "cpu.usage", Labels::new()),
            now - 60_000,
            now + 60_000,
        )
        .await
        .unwrap();
    assert_eq!(points.len(), 1);

    // The data routes see it.
    let agents = get(&http, &format!("{base}/v1/agents"), &jwt).await;
    let web1 = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_id"] == "web-1")
        .cloned()
        .expect("listed");
    assert_eq!(web1["active"], true, "{agents}");
    let from = oxmon::http::rfc3339(now - 60_000);
    let to = oxmon::http::rfc3339(now + 60_000);
    let series = get(
        &http,
        &format!("{base}/v1/metrics?agent=web-1&metric=cpu.usage&from={from}&to={to}"),
        &jwt,
    )
    .await;
    assert_eq!(series[0]["points"][0]["value"], 12.5, "{series}");
    let bad = http
        .get(format!("{base}/v1/metrics?agent=web-1"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // The server's own metrics, for Prometheus (no token needed).
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("oxmon_samples_ingested_total 1"), "{text}");
    assert!(
        text.contains("oxmon_batches_rejected_total{reason=\"unauthenticated\"} 1"),
        "{text}"
    );
    assert!(text.contains("oxmon_agents_active 1"), "{text}");
    assert!(text.contains("# TYPE oxmon_storage_bytes gauge"), "{text}");
    let health = get(&http, &format!("{base}/v1/health"), &jwt).await;
    assert_eq!(
        (health["agents"].as_u64(), health["storage"].as_str()),
        (Some(1), Some("ok")),
        "{health}"
    );
    let active = http
        .get(format!("{base}/v1/alerts/active"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(active.status(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_generates_an_admin_password_and_a_persistent_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), ""), Arc::new(SystemClock))
        .await
        .unwrap();
    let password = server
        .initial_admin_password()
        .expect("generated and shown once")
        .expose()
        .to_owned();
    assert!(password.len() >= 32);
    let base = format!("http://{}", server.http_addr());
    let login = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token: Value = login.json().await.unwrap();
    server.shutdown().await;
    let secret_file = dir.path().join("jwt.secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // A restart keeps the secret (tokens survive) and does not show a password again.
    let again = Server::start(config(dir.path(), ""), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(again.initial_admin_password().is_none());
    let whitelist = reqwest::Client::new()
        .get(format!("http://{}/v1/agents/whitelist", again.http_addr()))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        whitelist.status(),
        200,
        "a token from before the restart still works"
    );
    again.shutdown().await;
}

#[tokio::test]
async fn a_weak_first_admin_password_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = Server::start(
        config(&data, "[auth]\ndefault_password = \"a\"\n"),
        Arc::new(SystemClock),
    )
    .await
    .expect_err("a weak password must refuse to start");
    assert!(
        matches!(
            err,
            ServerError::WeakAdminPassword {
                from: AdminPasswordSource::ConfigFile,
                ..
            }
        ),
        "{err:?}"
    );
    let why = err.to_string();
    assert!(why.contains("auth.default_password"), "{why}");
    assert!(why.contains("at least 10 characters"), "{why}");
    assert!(!data.exists(), "refused before anything was created");
}

/// The server program names the source of a weak first password and exits
/// 2, like any configuration error: the file and field, or the variable.
#[test]
fn the_server_program_names_the_weak_password_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    let run = |extra: &str, env: Option<&str>| {
        std::fs::write(
            &file,
            format!(
                "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut cmd = std::process::Command::new(support::example("server"));
        cmd.arg(&file).env_remove("OXMON_ADMIN_PASSWORD");
        if let Some(p) = env {
            cmd.env("OXMON_ADMIN_PASSWORD", p);
        }
        let out = cmd
            .output()
            .expect("the server example (cargo build --example server)");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run("", Some("a"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "environment variable OXMON_ADMIN_PASSWORD: too weak for the first administrator"
        ),
        "{stderr}"
    );
    let (code, stderr) = run("[auth]\ndefault_password = \"admin\"\n", None);
    assert_eq!(code, Some(2), "{stderr}");
    let expected = format!(
        "{}: field `auth.default_password`: too weak",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!dir.path().join("data").exists());
}

/// `[auth]` login limits reach the REST API: with `login_max_failures = 2`
/// the third attempt from one address is refused before its password is
/// checked, with `Retry-After`.
#[tokio::test(flavor = "multi_thread")]
async fn the_configured_login_limits_apply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        config(
            dir.path(),
            "[auth]\ndefault_password = \"correct horse battery 9\"\nlogin_max_failures = 2\nlogin_window_secs = 600\n",
        ),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let url = format!("http://{}/v1/auth/login", server.http_addr());
    let http = reqwest::Client::new();
    let attempt = |password: &'static str| {
        http.post(&url)
            .json(&json!({"username": "admin", "password": password}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("wrong-Passw0rd").await.unwrap().status(), 401);
    }
    let refused = attempt("correct horse battery 9").await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    server.shutdown().await;
}
