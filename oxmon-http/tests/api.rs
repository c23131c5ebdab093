//! Every route through `router(state).oneshot(request)`.
#![cfg(feature = "http")]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use oxmon_core::manage::{UserStore, WhitelistStore};
use oxmon_core::token::verify_token_hash;
use oxmon_http::router;
use serde_json::json;
use tower::ServiceExt as _;

mod common;
use common::{PASSWORD, assert_error, call, fixture, login, token};

#[tokio::test]
async fn health_reports_version_and_uptime() {
    let f = fixture().await;
    f.clock.advance(Duration::from_secs(42));
    let (status, body) = call(&f.state, "GET", "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["uptime_secs"], 42);
}

#[tokio::test]
async fn login_happy_wrong_and_unknown_user() {
    let f = fixture().await;
    token(&f.state).await;
    let (s, b) = login(&f.state, "wrong-password-1").await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED);
    let body = json!({"username": "nobody", "password": PASSWORD}).to_string();
    let (s, b2) = call(&f.state, "POST", "/v1/auth/login", None, Some(&body)).await;
    assert_error(s, &b2, StatusCode::UNAUTHORIZED);
    assert_eq!(b, b2, "same answer whether or not the user exists");
}

#[tokio::test]
async fn login_limiter_answers_429_then_recovers() {
    let f = fixture().await;
    for _ in 0..3 {
        let (s, _) = login(&f.state, "wrong-password-1").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while limited.
    let (s, b) = login(&f.state, PASSWORD).await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS);
    f.clock.advance(Duration::from_secs(301));
    token(&f.state).await;
}

#[tokio::test]
async fn bad_tokens_get_401() {
    let f = fixture().await;
    let good = token(&f.state).await;
    let mut tampered = good.clone();
    tampered.insert(good.len() / 2, 'x');
    for bad in [None, Some(""), Some("garbage"), Some(tampered.as_str())] {
        let (s, b) = call(&f.state, "GET", "/v1/agents/whitelist", bad, None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED);
    }
    // Malformed header (not Bearer).
    let req = Request::get("/v1/agents/whitelist")
        .header("authorization", format!("Basic {good}"))
        .body(Body::empty())
        .expect("request");
    let resp = router(f.state.clone()).oneshot(req).await.expect("ok");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Expired.
    f.clock.advance(Duration::from_secs(3600));
    let (s, b) = call(&f.state, "GET", "/v1/agents/whitelist", Some(&good), None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn password_change_revokes_old_tokens() {
    let f = fixture().await;
    let old = token(&f.state).await;
    let change =
        |cur: &str, new: &str| json!({"current_password": cur, "new_password": new}).to_string();
    // Unauthenticated.
    let (s, b) = call(
        &f.state,
        "POST",
        "/v1/auth/password",
        None,
        Some(&change(PASSWORD, "Another-Passw0rd")),
    )
    .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED);
    // Wrong current password.
    let (s, b) = call(
        &f.state,
        "POST",
        "/v1/auth/password",
        Some(&old),
        Some(&change("nope-nope-1", "Another-Passw0rd")),
    )
    .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED);
    // Weak new password, with a reason.
    let (s, b) = call(
        &f.state,
        "POST",
        "/v1/auth/password",
        Some(&old),
        Some(&change(PASSWORD, "short")),
    )
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["code"], "weak_password");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at least 10")
    );
    // Success.
    let (s, _) = call(
        &f.state,
        "POST",
        "/v1/auth/password",
        Some(&old),
        Some(&change(PASSWORD, "Another-Passw0rd")),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&f.state, "GET", "/v1/agents/whitelist", Some(&old), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "old token revoked");
    let (s, _) = login(&f.state, PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = login(&f.state, "Another-Passw0rd").await;
    assert_eq!(s, StatusCode::OK);
    let new = b["token"].as_str().expect("token");
    let (s, _) = call(&f.state, "GET", "/v1/agents/whitelist", Some(new), None).await;
    assert_eq!(s, StatusCode::OK);
    let user = f
        .store
        .user_by_username("admin")
        .await
        .expect("get")
        .expect("some");
    assert_eq!(user.token_version, 1);
}

#[tokio::test]
async fn whitelist_lifecycle() {
    let f = fixture().await;
    let t = token(&f.state).await;
    let t = Some(t.as_str());
    let add = json!({"agent_id": "web-server-01", "description": "prod web"}).to_string();
    let (s, b) = call(&f.state, "POST", "/v1/agents/whitelist", t, Some(&add)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["agent_id"], "web-server-01");
    assert_eq!(b["created_at"], "2026-02-08T10:00:00Z");
    let first = b["token"].as_str().expect("token").to_owned();
    let entry = f
        .store
        .get_agent("web-server-01")
        .await
        .expect("get")
        .expect("some");
    assert!(verify_token_hash(&first, &entry.token_hash));

    let (s, b) = call(&f.state, "POST", "/v1/agents/whitelist", t, Some(&add)).await;
    assert_error(s, &b, StatusCode::CONFLICT);

    let (s, b) = call(&f.state, "GET", "/v1/agents/whitelist", t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        json!([{"agent_id": "web-server-01", "created_at": "2026-02-08T10:00:00Z",
                "description": "prod web", "last_seen": null, "status": "unknown"}])
    );
    assert!(!b.to_string().contains(&first));

    let upd = json!({"description": "moved"}).to_string();
    let (s, b) = call(
        &f.state,
        "PUT",
        "/v1/agents/whitelist/web-server-01",
        t,
        Some(&upd),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["description"], "moved");
    let (s, b) = call(&f.state, "PUT", "/v1/agents/whitelist/nope", t, Some(&upd)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND);

    let (s, b) = call(
        &f.state,
        "POST",
        "/v1/agents/whitelist/web-server-01/token",
        t,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = b["token"].as_str().expect("token").to_owned();
    assert_ne!(first, second);
    let entry = f
        .store
        .get_agent("web-server-01")
        .await
        .expect("get")
        .expect("some");
    assert!(
        !verify_token_hash(&first, &entry.token_hash),
        "old token revoked"
    );
    assert!(verify_token_hash(&second, &entry.token_hash));
    let (s, b) = call(&f.state, "POST", "/v1/agents/whitelist/nope/token", t, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND);

    let (s, _) = call(
        &f.state,
        "DELETE",
        "/v1/agents/whitelist/web-server-01",
        t,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = call(
        &f.state,
        "DELETE",
        "/v1/agents/whitelist/web-server-01",
        t,
        None,
    )
    .await;
    assert_error(s, &b, StatusCode::NOT_FOUND);
    assert!(f.store.list_agents().await.expect("list").is_empty());
}

#[tokio::test]
async fn protected_routes_need_a_token() {
    let f = fixture().await;
    for (method, uri) in [
        ("POST", "/v1/auth/password"),
        ("GET", "/v1/agents/whitelist"),
        ("POST", "/v1/agents/whitelist"),
        ("PUT", "/v1/agents/whitelist/a"),
        ("DELETE", "/v1/agents/whitelist/a"),
        ("POST", "/v1/agents/whitelist/a/token"),
        ("GET", "/v1/agents"),
        ("GET", "/v1/agents/a/latest"),
        (
            "GET",
            "/v1/metrics?agent=a&metric=m&from=2026-01-01&to=2026-01-02",
        ),
        ("GET", "/v1/alerts/rules"),
        ("GET", "/v1/alerts/history"),
        ("GET", "/v1/alerts/active"),
        ("GET", "/v1/certificates"),
        ("GET", "/v1/certificates/a.com"),
        ("GET", "/v1/certificates/a.com/chain"),
        ("GET", "/v1/certs/domains"),
        ("POST", "/v1/certs/domains"),
        ("POST", "/v1/certs/domains/batch"),
        ("PUT", "/v1/certs/domains/x"),
        ("DELETE", "/v1/certs/domains/x"),
        ("POST", "/v1/certs/domains/x/check"),
        ("POST", "/v1/certs/check"),
        ("GET", "/v1/certs/status"),
        ("GET", "/v1/certs/status/a.com"),
    ] {
        let (s, b) = call(&f.state, method, uri, None, Some("{}")).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn garbage_input_is_4xx_never_5xx() {
    let f = fixture().await;
    let t = token(&f.state).await;
    let big = format!("{{\"agent_id\": \"{}\"}}", "a".repeat(10_000));
    let cases: &[(&str, &str, &str, StatusCode)] = &[
        (
            "POST",
            "/v1/auth/login",
            "{not json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/auth/login",
            "{\"username\": 5}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/auth/login",
            "[]",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/auth/password",
            "null",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/agents/whitelist",
            "{\"agent_id\": \"has space\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/agents/whitelist",
            "{\"agent_id\": \"\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/agents/whitelist",
            "\u{0}\u{1}",
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/agents/whitelist",
            &big,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "PUT",
            "/v1/agents/whitelist/x",
            "{\"description\": 1}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, uri, body, expected) in cases {
        let (s, b) = call(&f.state, method, uri, Some(&t), Some(body)).await;
        assert_error(s, &b, *expected);
    }
    // Login with garbage is also subject to no 5xx without a token.
    let (s, b) = call(&f.state, "GET", "/v1/nowhere", None, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND);
    assert_eq!(b["error"]["code"], "route_not_found");
    let (s, b) = call(&f.state, "PATCH", "/v1/health", None, None).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let f = fixture().await;
    let (s, doc) = call(&f.state, "GET", "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                listed.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GET /v1/health",
        "GET /metrics",
        "GET /v1/agents",
        "GET /v1/agents/{id}/latest",
        "GET /v1/metrics",
        "GET /v1/alerts/rules",
        "POST /v1/alerts/rules",
        "GET /v1/alerts/rules/{id}",
        "PUT /v1/alerts/rules/{id}",
        "DELETE /v1/alerts/rules/{id}",
        "POST /v1/alerts/rules/{id}/enable",
        "POST /v1/alerts/rules/{id}/disable",
        "GET /v1/alerts/history",
        "GET /v1/alerts/active",
        "POST /v1/alerts/{id}/acknowledge",
        "POST /v1/alerts/{id}/resolve",
        "GET /v1/notifications/log",
        "GET /v1/notifications/channels",
        "POST /v1/notifications/channels",
        "GET /v1/notifications/channels/{id}",
        "PUT /v1/notifications/channels/{id}",
        "DELETE /v1/notifications/channels/{id}",
        "POST /v1/notifications/channels/{id}/test",
        "GET /v1/silences",
        "POST /v1/silences",
        "DELETE /v1/silences/{id}",
        "POST /v1/silences/windows",
        "GET /v1/settings",
        "GET /v1/agents/overview",
        "PUT /v1/settings",
        "DELETE /v1/silences/windows/{id}",
        "POST /v1/auth/login",
        "POST /v1/auth/password",
        "GET /v1/auth/tokens",
        "POST /v1/auth/tokens",
        "DELETE /v1/auth/tokens/{id}",
        "GET /v1/users",
        "POST /v1/users",
        "PUT /v1/users/{username}",
        "DELETE /v1/users/{username}",
        "GET /v1/audit",
        "GET /v1/agents/whitelist",
        "POST /v1/agents/whitelist",
        "PUT /v1/agents/whitelist/{agent_id}",
        "DELETE /v1/agents/whitelist/{agent_id}",
        "POST /v1/agents/whitelist/{agent_id}/token",
        "GET /v1/certificates",
        "GET /v1/certificates/{domain}",
        "GET /v1/certificates/{domain}/chain",
        "GET /v1/certs/domains",
        "POST /v1/certs/domains",
        "POST /v1/certs/domains/batch",
        "PUT /v1/certs/domains/{id}",
        "DELETE /v1/certs/domains/{id}",
        "POST /v1/certs/domains/{id}/check",
        "POST /v1/certs/check",
        "GET /v1/certs/status",
        "GET /v1/certs/status/{domain}",
        "GET /v1/openapi.json",
        "GET /v1/openapi.yaml",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(listed, expected);
    // Every listed route reaches a handler (not the fallbacks).
    for route in &listed {
        let (method, path) = route.split_once(' ').expect("route");
        let uri = path
            .replace("{agent_id}", "some-agent")
            .replace("{id}", "some-agent")
            .replace("{domain}", "example.com");
        let (s, b) = call(&f.state, method, &uri, None, None).await;
        assert_ne!(b["error"]["code"], "route_not_found", "{route}");
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{route}");
        assert!(!s.is_server_error(), "{route}: {s}");
    }
    // Protected routes say so in the document.
    assert!(doc["paths"]["/v1/agents/whitelist"]["get"]["security"].is_array());
    assert!(doc["paths"]["/v1/health"]["get"]["security"].is_null());
    let (s, yaml) = call(&f.state, "GET", "/v1/openapi.yaml", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        yaml.as_str().unwrap_or_default().starts_with("openapi: 3."),
        "{yaml}"
    );
}

#[tokio::test]
async fn the_document_declares_what_the_handlers_answer() {
    let f = fixture().await;
    let t = token(&f.state).await;
    let (_, doc) = call(&f.state, "GET", "/v1/openapi.json", None, None).await;
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if op["requestBody"].is_object() {
                with_body += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} does not declare {status}"
                    );
                }
            }
        }
    }
    assert!(with_body >= 7, "{with_body}");
    // Paging bounds are in the document.
    let history = &doc["paths"]["/v1/alerts/history"]["get"]["parameters"];
    let param = |name: &str| {
        history
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_default()
    };
    assert_eq!(param("limit")["minimum"], 1);
    assert_eq!(param("limit")["maximum"], 1000);
    assert_eq!(param("offset")["minimum"], 0);
    // And the handlers answer what it declares.
    let req = Request::post("/v1/auth/login")
        .body(Body::from(r#"{"username": "admin", "password": "x"}"#))
        .expect("request");
    let resp = router(f.state.clone()).oneshot(req).await.expect("ok");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, b) = call(
        &f.state,
        "PUT",
        "/v1/agents/whitelist/x",
        Some(&t),
        Some("[]"),
    )
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    for (uri, name) in [
        ("/v1/alerts/history?offset=", "offset"),
        ("/v1/alerts/history?limit=", "limit"),
        ("/v1/alerts/history?from=", "from"),
    ] {
        let (s, b) = call(&f.state, "GET", uri, Some(&t), None).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST);
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{name}` is empty")),
            "{uri}: {message}"
        );
    }
    let (s, b) = call(
        &f.state,
        "GET",
        "/v1/alerts/history?severity=WARN",
        Some(&t),
        None,
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    use tower::ServiceExt;
    let f = fixture().await;
    let request = |origin: &str| {
        axum::http::Request::builder()
            .uri("/v1/health")
            .header("origin", origin)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let off = oxmon_http::router(f.state.clone())
        .oneshot(request("https://evil.example"))
        .await
        .unwrap();
    assert!(off.headers().get("access-control-allow-origin").is_none());
    let on = oxmon_http::router(
        f.state
            .clone()
            .with_cors(vec!["https://ops.example.com".into()]),
    );
    let allowed = on
        .clone()
        .oneshot(request("https://ops.example.com"))
        .await
        .unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://ops.example.com")
    );
    let other = on.oneshot(request("https://evil.example")).await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
