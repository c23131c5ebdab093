//! Certificate monitoring through the server (the scheduler's own tests are
//! in `oxmon-collector/tests/cert_scheduler.rs`): a `cert_expiration` rule that warns, then
//! escalates, for one domain while another stays quiet. Real TLS servers on
//! 127.0.0.1 with rcgen certificates; time from a `ManualClock`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oxmon::core::config::ServerConfig;
use oxmon::core::{Clock, ManualClock, SystemClock};
use oxmon::server::Server;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivateKeyDer;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

mod support;
use support::json_call;

const DAY: i64 = 86_400_000;

fn validity(params: &mut CertificateParams, not_before_ms: i64, not_after_ms: i64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let secs = |ms: i64| Duration::from_secs(u64::try_from(ms / 1000).unwrap());
    params.not_before = epoch + secs(not_before_ms);
    params.not_after = epoch + secs(not_after_ms);
}

fn test_ca(now: i64) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "oxmon server test CA");
    validity(&mut params, now - 30 * DAY, now + 3650 * DAY);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A TLS server on 127.0.0.1 presenting a leaf for `name` issued by `ca`,
/// valid from a day before `now` until `now + days`.
async fn tls_server(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    now: i64,
    days: i64,
) -> SocketAddr {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    validity(&mut params, now - DAY, now + days * DAY);
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 64];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

/// Waits for the alert task to process what ingest stored: polls the
/// active alerts until `done` holds (or gives up after ~10 s).
async fn active_alerts_until(
    http: &reqwest::Client,
    base: &str,
    jwt: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..200 {
        let (_, v) = json_call(
            http,
            reqwest::Method::GET,
            format!("{base}/v1/alerts/active"),
            Some(jwt),
            None,
        )
        .await;
        last = v.as_array().cloned().unwrap_or_default();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alerts never reached the expected state: {last:?}");
}

async fn login(http: &reqwest::Client, base: &str) -> String {
    let (s, v) = json_call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/auth/login"),
        None,
        Some(json!({"username": "admin", "password": "correct horse battery 9"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_rule_warns_then_escalates_for_one_domain_only() {
    let now = SystemClock.now_ms();
    let clock = ManualClock::new(now);
    let ca = test_ca(now);
    let expiring = tls_server(&ca, "localhost", now, 20).await;
    let healthy = tls_server(&ca, "127.0.0.1", now, 365).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let toml = format!(
        r#"grpc_port = 0
http_port = 0
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{}"

[auth]
default_password = "correct horse battery 9"

[cert_check]
enabled = false
connect_timeout_secs = 5
ca_file = "{}"

[[alert.rules]]
name = "cert-expiry"
type = "cert_expiration"
metric = "certificate.days_until_expiry"
agent_pattern = "cert-checker"
severity = "critical"
warning_days = 30
critical_days = 7
silence_secs = 86400
"#,
        dir.path().join("data").display(),
        ca_file.display()
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    let server = Server::start(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let base = format!("http://{}", server.http_addr());
    let http = reqwest::Client::new();
    let jwt = login(&http, &base).await;

    let (s, added) = json_call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/certs/domains/batch"),
        Some(&jwt),
        Some(json!({"domains": [
            {"domain": "localhost", "port": expiring.port()},
            {"domain": "127.0.0.1", "port": healthy.port(), "note": "stays quiet"},
        ]})),
    )
    .await;
    assert_eq!(s, 201, "{added}");

    let check_all = |jwt: String| {
        let http = http.clone();
        let url = format!("{base}/v1/certs/check");
        async move {
            let (s, v) = json_call(&http, reqwest::Method::POST, url, Some(&jwt), None).await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    let results = check_all(jwt.clone()).await;
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["is_valid"], true, "{r}");
        assert!(r["error"].is_null(), "{r}");
    }
    let days = |domain: &str| {
        results
            .iter()
            .find(|r| r["domain"] == domain)
            .and_then(|r| r["days_until_expiry"].as_f64())
            .unwrap()
    };
    assert!((days("localhost") - 20.0).abs() < 0.01, "{results:?}");
    assert!((days("127.0.0.1") - 365.0).abs() < 0.01, "{results:?}");

    let firing = |severity: &'static str| {
        move |alerts: &[Value]| {
            alerts.len() == 1
                && alerts[0]["severity"] == severity
                && alerts[0]["labels"]["domain"] == "localhost"
        }
    };
    let alerts = active_alerts_until(&http, &base, &jwt, firing("warning")).await;
    assert_eq!(alerts[0]["rule"], "cert-expiry");
    assert_eq!(alerts[0]["agent_id"], "cert-checker");

    // What the check read, through the REST API.
    let (s, details) = json_call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/certificates/localhost"),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(s, 200, "{details}");
    assert_eq!(details["chain_valid"], true);
    assert_eq!(details["issuer_cn"], "oxmon server test CA");
    assert_eq!(details["subject_alt_names"], json!(["localhost"]));
    assert!(
        details["ip_addresses"]
            .as_array()
            .unwrap()
            .contains(&json!("127.0.0.1"))
    );

    // Two weeks later: 6 days left, critical; the healthy domain stays quiet.
    clock.advance(Duration::from_secs(14 * 86_400));
    let jwt = login(&http, &base).await;
    check_all(jwt.clone()).await;
    active_alerts_until(&http, &base, &jwt, firing("critical")).await;

    // The samples are stored like any agent's.
    let url = format!(
        "{base}/v1/metrics?agent=cert-checker&metric=certificate.days_until_expiry&from={}&to={}",
        oxmon::http::rfc3339(now - DAY),
        oxmon::http::rfc3339(clock.now_ms() + DAY),
    );
    let (s, series) = json_call(&http, reqwest::Method::GET, url, Some(&jwt), None).await;
    assert_eq!(s, 200, "{series}");
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    let localhost = series
        .iter()
        .find(|s| s["labels"]["domain"] == "localhost")
        .unwrap();
    assert_eq!(
        localhost["labels"]["port"],
        expiring.port().to_string(),
        "a port other than 443 is a label"
    );
    assert_eq!(localhost["points"].as_array().unwrap().len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_running_scheduler_checks_a_new_domain_at_its_next_tick() {
    let now = SystemClock.now_ms();
    let ca = test_ca(now);
    let addr = tls_server(&ca, "localhost", now, 90).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\n[auth]\ndefault_password = \"correct horse battery 9\"\n[cert_check]\ntick_secs = 1\n",
        dir.path().display()
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    let server = Server::start(config, Arc::new(SystemClock)).await.unwrap();
    let base = format!("http://{}", server.http_addr());
    let http = reqwest::Client::new();
    let jwt = login(&http, &base).await;
    let (s, _) = json_call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/certs/domains"),
        Some(&jwt),
        Some(json!({"domain": "localhost", "port": addr.port()})),
    )
    .await;
    assert_eq!(s, 201);
    // The next tick (1 s) checks it; the CA is not trusted here, so the
    // verdict is "unknown issuer" while the certificate is still read.
    let mut status = Value::Null;
    for _ in 0..100 {
        let (s, v) = json_call(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/certs/status/localhost"),
            Some(&jwt),
            None,
        )
        .await;
        if s == 200 {
            status = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status["is_valid"], false, "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap_or_default()
            .contains("issuer"),
        "{status}"
    );
    assert!((status["days_until_expiry"].as_f64().unwrap() - 90.0).abs() < 0.1);
    server.shutdown().await;
}

/// A TLS server like [`tls_server`] that also counts accepted connections.
async fn counting_tls_server(
    ca: &CertifiedIssuer<'static, KeyPair>,
    now: i64,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let inner = tls_server(ca, "localhost", now, 90).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    // Count, then relay to the TLS server.
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(inner).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await;
                }
            });
        }
    });
    (addr, accepted)
}

async fn server_with_cert_check(dir: &std::path::Path, cert_check: &str) -> (Server, String) {
    let toml = format!(
        "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\n[auth]\ndefault_password = \"correct horse battery 9\"\n[cert_check]\nenabled = false\n{cert_check}",
        dir.display()
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    let server = Server::start(config, Arc::new(SystemClock)).await.unwrap();
    let base = format!("http://{}", server.http_addr());
    (server, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn private_targets_are_refused_when_not_allowed() {
    let now = SystemClock.now_ms();
    let ca = test_ca(now);
    let (addr, accepted) = counting_tls_server(&ca, now).await;
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = server_with_cert_check(dir.path(), "allow_private_targets = false").await;
    let http = reqwest::Client::new();
    let jwt = login(&http, &base).await;
    let post = |path: &str, body: Value| {
        json_call(
            &http,
            reqwest::Method::POST,
            format!("{base}{path}"),
            Some(&jwt),
            Some(body),
        )
    };

    // An address literal is refused when added, alone or in a batch.
    let (s, v) = post(
        "/v1/certs/domains",
        json!({"domain": "127.0.0.1", "port": addr.port()}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("127.0.0.1 is a loopback address")
            && message.contains("allow_private_targets = false"),
        "{message}"
    );
    let (s, v) = post(
        "/v1/certs/domains/batch",
        json!({"domains": [{"domain": "example.com"}, {"domain": "fe80::1"}, {"domain": "10.1.2.3"}]}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let refused: Vec<u64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [1, 2], "{v}");

    // A name is accepted, and refused at the check once resolved: the
    // result says why and no connection is made.
    let (s, added) = post(
        "/v1/certs/domains",
        json!({"domain": "localhost", "port": addr.port()}),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let id = added["id"].as_str().unwrap();
    let (s, result) = post(&format!("/v1/certs/domains/{id}/check"), json!({})).await;
    assert_eq!(s, 200, "{result}");
    assert_eq!(result["is_valid"], false);
    let error = result["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("refused: localhost resolves to ") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.shutdown().await;

    // Allowed (the default): the same target is checked.
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = server_with_cert_check(dir.path(), "").await;
    let jwt = login(&http, &base).await;
    let (s, added) = json_call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/certs/domains"),
        Some(&jwt),
        Some(json!({"domain": "127.0.0.1", "port": addr.port()})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let id = added["id"].as_str().unwrap();
    let (s, result) = json_call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/certs/domains/{id}/check"),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(s, 200, "{result}");
    // The test CA is not trusted and the leaf names `localhost`, but the
    // certificate was read over a real connection.
    assert!(
        (result["days_until_expiry"].as_f64().unwrap() - 90.0).abs() < 0.1,
        "{result}"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.shutdown().await;
}
