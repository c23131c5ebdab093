//! A failed login is logged with the user name escaped and cut, and the
//! client address: a client cannot forge a log line. Alone in its test
//! binary: tracing caches whether a call site is enabled process-wide, so
//! a test without a subscriber running beside it could disable the line.
#![cfg(feature = "http")]

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxmon_core::manage::UserStore;
use oxmon_core::sync::LockExt;
use oxmon_core::{ManualClock, Secret};
use oxmon_http::AppState;
use oxmon_http::auth::Argon2Hasher;
use oxmon_storage::MemoryManagementStore;
use reqwest::StatusCode;
use serde_json::json;

/// Serves a router with one user `admin` on 127.0.0.1; its base URL.
async fn serve() -> String {
    let store = Arc::new(MemoryManagementStore::new());
    let hasher = Argon2Hasher::with_params(8, 1, 1).expect("params");
    let hash = hasher.hash("Owner-Passw0rd-1").expect("hash");
    store
        .create_user("admin", &hash, oxmon_http::manage::Role::Admin, 0)
        .await
        .expect("user");
    let state = AppState::new(
        store.clone(),
        store,
        Arc::new(ManualClock::new(1_770_544_800_000)),
        &Secret::new("test-secret-0123456789abcdef-0123456789"),
        Duration::from_secs(3600),
    )
    .expect("state")
    .with_password_hasher(hasher);
    common::serve_on_loopback(state).await
}

/// A log sink for the failed-login test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.locked().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn failed_logins_are_logged_escaped_with_the_address() {
    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime: the server's tasks log on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let base = serve().await;
    let forged = format!(
        "x\n2026-02-08T10:00:00Z  INFO login ok user=admin\u{1b}[2J{}",
        "y".repeat(5000)
    );
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)))
        .build()
        .expect("client");
    let resp = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": forged, "password": "nope-Nope-1"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let text = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line, no forged one: {text}");
    let line = lines[0];
    assert!(line.contains("wrong password"), "{line}");
    assert!(line.contains("addr=127.0.0.7"), "{line}");
    assert!(line.contains(r"user=x\n2026-02-08"), "{line}");
    assert!(!line.contains('\u{1b}'), "{line}");
    assert!(line.len() < 400, "cut: {} bytes", line.len());
}
