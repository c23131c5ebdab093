//! The fixture shared by the router tests: an in-memory store with one
//! admin, a manual clock, and a request helper.
#![allow(dead_code, unreachable_pub)]

pub mod prometheus;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use oxmon_core::manage::UserStore;
use oxmon_core::{ManualClock, Secret};
use oxmon_http::auth::{Argon2Hasher, LoginLimiter};
use oxmon_http::{AppState, router};
use oxmon_storage::MemoryManagementStore;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub const PASSWORD: &str = "Initial-Passw0rd";

pub struct Fixture {
    pub state: AppState,
    pub clock: ManualClock,
    pub store: Arc<MemoryManagementStore>,
}

pub async fn fixture() -> Fixture {
    let clock = ManualClock::new(1_770_544_800_000); // 2026-02-08T10:00:00Z
    let store = Arc::new(MemoryManagementStore::new());
    let hasher = Argon2Hasher::with_params(8, 1, 1).expect("params");
    let hash = hasher.hash(PASSWORD).expect("hash");
    store
        .create_user("admin", &hash, oxmon_http::manage::Role::Admin, 0)
        .await
        .expect("user");
    let state = AppState::new(
        store.clone(),
        store.clone(),
        Arc::new(clock.clone()),
        &Secret::new("test-secret-0123456789abcdef-0123456789"),
        Duration::from_secs(3600),
    )
    .expect("state")
    .with_password_hasher(hasher)
    .with_login_limiter(LoginLimiter::new(3, Duration::from_secs(300)))
    .with_body_limit(4096)
    .with_audit_log(store.clone());
    Fixture {
        state,
        clock,
        store,
    }
}

/// Serves `state`'s router on 127.0.0.1 with client addresses (the login
/// limiter reads them); its base URL.
pub async fn serve_on_loopback(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = oxmon_http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 5000))));
    let resp = router(state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

pub async fn login(state: &AppState, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": "admin", "password": password}).to_string();
    call(state, "POST", "/v1/auth/login", None, Some(&body)).await
}

pub async fn token(state: &AppState) -> String {
    let (status, body) = login(state, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 3600);
    body["token"].as_str().expect("token").to_owned()
}

pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// A request as a Prometheus client sends it: `auth` as the whole
/// Authorization header, an optional form-encoded body; the status and
/// the JSON answer (`Null` when there is none).
pub async fn form_call(
    state: &AppState,
    method: &str,
    uri: &str,
    auth: Option<String>,
    form: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let mut req = req
        .body(Body::from(form.unwrap_or_default().to_owned()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 5000))));
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Percent-encodes a query parameter's value.
pub fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
