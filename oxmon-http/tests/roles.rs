//! Roles on every route, read from the OpenAPI document: each write route
//! declares the role it needs (`security: bearer: [role]`), and a caller
//! below it gets 403 before anything else of the request is read; users
//! managed over the API; disabling or deleting a user revokes its tokens
//! at once.

mod common;

use axum::http::StatusCode;
use common::{PASSWORD, call, fixture, token};
use oxmon_http::manage::Role;
use serde_json::{Value, json};

async fn token_of(state: &oxmon_http::AppState, username: &str, password: &str) -> String {
    let body = json!({"username": username, "password": password}).to_string();
    let (status, answer) = call(state, "POST", "/v1/auth/login", None, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// Every operation of the document: (method, path, the role it declares).
fn operations() -> Vec<(String, String, Option<Role>)> {
    let doc = serde_json::to_value(oxmon_http::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            // `bearer: []` is any authenticated user: a viewer.
            let role = op["security"].as_array().and_then(|reqs| {
                reqs.iter().find_map(|r| {
                    r["bearer"].as_array().map(|scopes| {
                        scopes
                            .first()
                            .and_then(Value::as_str)
                            .map_or(Role::Viewer, |s| s.parse::<Role>().unwrap())
                    })
                })
            });
            out.push((method.to_uppercase(), path.clone(), role));
        }
    }
    out
}

#[tokio::test]
async fn every_write_route_declares_a_role_and_refuses_callers_below_it() {
    let f = fixture().await;
    let hasher = f.state.password_hasher().clone();
    let hash = hasher.hash(PASSWORD).unwrap();
    use oxmon_http::UserStore as _;
    f.store
        .create_user("vera", &hash, Role::Viewer, 0)
        .await
        .unwrap();
    f.store
        .create_user("otto", &hash, Role::Operator, 0)
        .await
        .unwrap();
    let viewer = token_of(&f.state, "vera", PASSWORD).await;
    let operator = token_of(&f.state, "otto", PASSWORD).await;
    let admin = token(&f.state).await;

    let ops = operations();
    assert!(ops.len() > 30, "{ops:?}");
    let mut checked = 0;
    for (method, path, role) in &ops {
        let self_service = path.starts_with("/v1/auth/");
        if method != "GET" && !self_service {
            assert!(
                matches!(role, Some(Role::Operator | Role::Admin)),
                "{method} {path} changes something and must declare operator or admin, not {role:?}"
            );
        }
        let Some(role) = role else { continue };
        // Any path parameter; an empty JSON object as the body: the role is
        // checked before either is read.
        let uri = path
            .replace("{id}", "x")
            .replace("{agent_id}", "x")
            .replace("{domain}", "x.example")
            .replace("{username}", "x");
        let body = (method != "GET" && method != "DELETE").then_some("{}");
        for (caller, token) in [
            (Role::Viewer, &viewer),
            (Role::Operator, &operator),
            (Role::Admin, &admin),
        ] {
            let (status, answer) = call(&f.state, method, &uri, Some(token), body).await;
            if caller < *role {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{caller} on {method} {path}: {answer}"
                );
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(message.contains(role.as_str()), "{message}");
            } else {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{caller} on {method} {path} is allowed: {status} {answer}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 30, "{checked} operations behind a token");
    // Reading stays open to viewers.
    let (status, _) = call(&f.state, "GET", "/v1/agents/whitelist", Some(&viewer), None).await;
    assert_ne!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_are_managed_over_the_api_and_revoked_at_once() {
    let f = fixture().await;
    let admin = token(&f.state).await;
    let create = |name: &str, role: &str| {
        json!({"username": name, "password": "Sturdy-Passw0rd-9", "role": role}).to_string()
    };
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/users",
        Some(&admin),
        Some(&create("olga", "operator")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (&body["username"], &body["role"], &body["disabled"]),
        (&json!("olga"), &json!("operator"), &json!(false))
    );
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());
    // Refusals: a taken name, a weak password, an unknown role, a stray field.
    for (body, expected) in [
        (create("olga", "viewer"), StatusCode::CONFLICT),
        (
            json!({"username": "w", "password": "short", "role": "viewer"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (create("r", "root"), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"username": "s", "password": "Sturdy-Passw0rd-9", "role": "viewer", "admin": true})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = call(&f.state, "POST", "/v1/users", Some(&admin), Some(&body)).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let olga = token_of(&f.state, "olga", "Sturdy-Passw0rd-9").await;
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some(&olga), None).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);

    // Disabled: the token stops working at once, and so does logging in.
    let (status, body) = call(
        &f.state,
        "PUT",
        "/v1/users/olga",
        Some(&admin),
        Some(r#"{"disabled": true}"#),
    )
    .await;
    assert_eq!((status, &body["disabled"]), (StatusCode::OK, &json!(true)));
    let (status, _) = call(&f.state, "GET", "/v1/agents/whitelist", Some(&olga), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let login = json!({"username": "olga", "password": "Sturdy-Passw0rd-9"}).to_string();
    let (status, answer) = call(&f.state, "POST", "/v1/auth/login", None, Some(&login)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");

    // Enabled and promoted: the same token works again with the new role.
    let (status, body) = call(
        &f.state,
        "PUT",
        "/v1/users/olga",
        Some(&admin),
        Some(r#"{"disabled": false, "role": "admin"}"#),
    )
    .await;
    assert_eq!((status, &body["role"]), (StatusCode::OK, &json!("admin")));
    let (status, users) = call(&f.state, "GET", "/v1/users", Some(&olga), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");

    // A new password revokes her tokens.
    let (status, _) = call(
        &f.state,
        "PUT",
        "/v1/users/olga",
        Some(&admin),
        Some(r#"{"password": "Another-Passw0rd-7"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f.state, "GET", "/v1/users", Some(&olga), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let olga = token_of(&f.state, "olga", "Another-Passw0rd-7").await;

    // The last enabled administrator stays: demoting the first admin works
    // while olga is one, deleting olga then would leave none.
    let (status, _) = call(
        &f.state,
        "PUT",
        "/v1/users/admin",
        Some(&olga),
        Some(r#"{"role": "viewer"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = call(&f.state, "DELETE", "/v1/users/olga", Some(&olga), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // Deleted: its token stops working at once.
    let (status, _) = call(
        &f.state,
        "PUT",
        "/v1/users/admin",
        Some(&olga),
        Some(r#"{"role": "admin"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f.state, "DELETE", "/v1/users/olga", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&f.state, "GET", "/v1/users", Some(&olga), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&f.state, "DELETE", "/v1/users/olga", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change is in the audit log, newest first, without secrets.
    let (status, audit) = call(
        &f.state,
        "GET",
        "/v1/audit?action=user.",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let actions: Vec<(&str, &str, &str)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("admin", "user.delete", "olga"),
            ("olga", "user.update", "admin"),
            ("olga", "user.update", "admin"),
            ("admin", "user.update_password", "olga"),
            ("admin", "user.update", "olga"),
            ("admin", "user.update", "olga"),
            ("admin", "user.create", "olga"),
        ],
        "{audit}"
    );
    let promoted = &audit["records"][4];
    assert_eq!(
        (&promoted["before"]["role"], &promoted["after"]["role"]),
        (&json!("operator"), &json!("admin"))
    );
    let text = audit.to_string();
    for secret in [
        "Sturdy-Passw0rd-9",
        "Another-Passw0rd-7",
        "argon2",
        "password_hash",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
    let (status, _) = call(&f.state, "GET", "/v1/audit", Some(&olga), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_tokens_act_for_their_user_with_at_most_its_role() {
    let f = fixture().await;
    let admin = token(&f.state).await;
    let body = json!({"username": "vera", "password": "Sturdy-Passw0rd-9", "role": "operator"});
    let (status, _) = call(
        &f.state,
        "POST",
        "/v1/users",
        Some(&admin),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let vera = token_of(&f.state, "vera", "Sturdy-Passw0rd-9").await;

    // Self-service, never above the user's role.
    let (status, answer) = call(
        &f.state,
        "POST",
        "/v1/auth/tokens",
        Some(&vera),
        Some(r#"{"name": "root please", "role": "admin"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, made) = call(
        &f.state,
        "POST",
        "/v1/auth/tokens",
        Some(&vera),
        Some(r#"{"name": "grafana"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let secret = made["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("oxm_") && secret.len() > 40, "{secret}");
    assert_eq!(
        (&made["role"], &made["username"]),
        (&json!("operator"), &json!("vera"))
    );

    // It authenticates as vera with her role: operator routes yes, admin no.
    let (status, _) = call(&f.state, "POST", "/v1/certs/check", Some(&secret), None).await;
    assert_ne!(status, StatusCode::FORBIDDEN);
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&f.state, "GET", "/v1/users", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Listed with its last use, never with its secret.
    let (_, listed) = call(&f.state, "GET", "/v1/auth/tokens", Some(&vera), None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&secret));

    // A viewer-scoped token of an administrator acts as a viewer.
    let (_, scoped) = call(
        &f.state,
        "POST",
        "/v1/auth/tokens",
        Some(&admin),
        Some(r#"{"name": "dashboards", "role": "viewer"}"#),
    )
    .await;
    let scoped = scoped["token"].as_str().unwrap().to_owned();
    let (status, _) = call(&f.state, "GET", "/v1/users", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&f.state, "GET", "/v1/agents/whitelist", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::OK);

    // Demoting the user lowers what its tokens may do at once.
    let (status, _) = call(
        &f.state,
        "PUT",
        "/v1/users/vera",
        Some(&admin),
        Some(r#"{"role": "viewer"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f.state, "POST", "/v1/certs/check", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Expiry.
    let (_, short) = call(
        &f.state,
        "POST",
        "/v1/auth/tokens",
        Some(&vera),
        Some(r#"{"name": "short", "expires_in_secs": 60}"#),
    )
    .await;
    let short = short["token"].as_str().unwrap().to_owned();
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some(&short), None).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    f.clock.advance(std::time::Duration::from_secs(61));
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some(&short), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Someone else's token is not hers to revoke; her own is, at once.
    let (_, all) = call(&f.state, "GET", "/v1/auth/tokens", Some(&admin), None).await;
    let admins = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        &f.state,
        "DELETE",
        &format!("/v1/auth/tokens/{admins}"),
        Some(&vera),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = made["id"].as_str().unwrap();
    let (status, _) = call(
        &f.state,
        "DELETE",
        &format!("/v1/auth/tokens/{id}"),
        Some(&vera),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A disabled user's tokens stop working; a made-up one never did.
    let (_, again) = call(
        &f.state,
        "POST",
        "/v1/auth/tokens",
        Some(&vera),
        Some(r#"{"name": "again"}"#),
    )
    .await;
    let again = again["token"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &f.state,
        "PUT",
        "/v1/users/vera",
        Some(&admin),
        Some(r#"{"disabled": true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some(&again), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&f.state, "GET", "/v1/agents", Some("oxm_made-up"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
