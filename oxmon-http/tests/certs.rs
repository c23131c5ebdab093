//! Certificate routes: domain management, batch all-or-nothing, details,
//! chains, status and checks on demand, over the in-memory store.
#![cfg(feature = "http")]

use std::sync::Arc;

use axum::http::StatusCode;
use oxmon_core::DAY_MS;
use oxmon_core::manage::{
    CertCheckResult, CertDomain, CertStore, CertificateDetails, ChainCertificate,
};
use oxmon_http::{AppState, CertChecks};
use oxmon_storage::MemoryManagementStore;
use serde_json::{Value, json};

mod common;
use common::{Fixture, assert_error, call, fixture, token};

/// Checks as the server's scheduler does, without a network: every domain
/// "presents" a certificate expiring in 42 days issued by a test CA, except
/// `broken.test`, which refuses connections.
#[derive(Debug)]
struct RecordingChecks {
    store: Arc<MemoryManagementStore>,
    now_ms: i64,
    checked: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl CertChecks for RecordingChecks {
    async fn check_now(&self, domains: Vec<CertDomain>) -> Vec<CertCheckResult> {
        let mut out = Vec::new();
        for d in domains {
            self.checked.lock().expect("lock").push(d.domain.clone());
            let broken = d.domain == "broken.test";
            let not_after = self.now_ms + 42 * DAY_MS;
            let result = CertCheckResult {
                domain_id: d.id.clone(),
                domain: d.domain.clone(),
                port: d.port,
                checked_at_ms: self.now_ms,
                is_valid: !broken,
                days_until_expiry: (!broken).then_some(42.0),
                not_after_ms: (!broken).then_some(not_after),
                error: broken.then(|| "connection refused".to_owned()),
            };
            self.store
                .record_check_result(&result)
                .await
                .expect("record");
            if !broken {
                self.store
                    .upsert_details(&details(&d, self.now_ms, not_after))
                    .await
                    .expect("details");
            }
            out.push(result);
        }
        out
    }
}

fn details(d: &CertDomain, now: i64, not_after: i64) -> CertificateDetails {
    CertificateDetails {
        domain: d.domain.clone(),
        port: d.port,
        not_before_ms: now - DAY_MS,
        not_after_ms: not_after,
        ip_addresses: vec!["127.0.0.1".into()],
        issuer_cn: Some("Test Intermediate".into()),
        issuer_o: Some("Let's Test".into()),
        subject_cn: Some(d.domain.clone()),
        subject_alt_names: vec![d.domain.clone()],
        serial: Some("0a1b".into()),
        fingerprint_sha256: Some("ab".repeat(32)),
        key_type: Some("EC".into()),
        key_bits: Some(256),
        signature_algorithm: Some("ecdsa-with-SHA256".into()),
        tls_version: Some("TLSv1.3".into()),
        cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
        chain_valid: true,
        chain_error: None,
        chain: vec![
            ChainCertificate {
                subject: format!("CN={}", d.domain),
                issuer: "CN=Test Intermediate".into(),
                not_before_ms: now - DAY_MS,
                not_after_ms: not_after,
            },
            ChainCertificate {
                subject: "CN=Test Intermediate".into(),
                issuer: "CN=Test Root".into(),
                not_before_ms: now - 10 * DAY_MS,
                // The intermediate expires first.
                not_after_ms: now + 20 * DAY_MS,
            },
        ],
        last_checked_ms: now,
    }
}

struct Certs {
    f: Fixture,
    state: AppState,
    checks: Arc<RecordingChecks>,
    token: String,
}

async fn certs() -> Certs {
    let f = fixture().await;
    let checks = Arc::new(RecordingChecks {
        store: f.store.clone(),
        now_ms: oxmon_core::Clock::now_ms(&f.clock),
        checked: std::sync::Mutex::default(),
    });
    let state = f
        .state
        .clone()
        .with_certs(f.store.clone(), Some(checks.clone()));
    let token = token(&state).await;
    Certs {
        f,
        state,
        checks,
        token,
    }
}

impl Certs {
    async fn req(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string());
        call(&self.state, method, uri, Some(&self.token), body.as_deref()).await
    }

    async fn add(&self, body: Value) -> Value {
        let (s, b) = self.req("POST", "/v1/certs/domains", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }
}

#[tokio::test]
async fn domains_are_added_listed_updated_and_deleted() {
    let c = certs().await;
    let a = c
        .add(json!({"domain": "Example.COM", "port": 443, "note": "主站"}))
        .await;
    assert_eq!(a["domain"], "example.com");
    assert_eq!(a["port"], 443);
    assert_eq!(a["enabled"], true);
    assert_eq!(a["note"], "主站");
    assert!(a["check_interval_secs"].is_null());
    assert_eq!(a["created_at"], "2026-02-08T10:00:00Z");
    let b = c.add(json!({"domain": "b.example.org"})).await;
    assert_eq!(b["port"], 443, "port defaults to 443");
    c.add(json!({"domain": "example.com", "port": 8443, "enabled": false}))
        .await;

    // Duplicates and bad input.
    let (s, e) = c
        .req(
            "POST",
            "/v1/certs/domains",
            Some(json!({"domain": "EXAMPLE.com"})),
        )
        .await;
    assert_error(s, &e, StatusCode::CONFLICT);
    for bad in [
        json!({"domain": "https://a.com"}),
        json!({"domain": "a.com/path"}),
        json!({"domain": ""}),
        json!({"domain": "a.com", "port": 0}),
        json!({"domain": "a.com", "port": 70000}),
        json!({"domain": "a.com", "check_interval_secs": 0}),
        json!({"domain": "a.com", "note": "x".repeat(2000)}),
        json!({"domain": "a.com", "colour": "red"}),
        json!({"port": 443}),
    ] {
        let (s, e) = c.req("POST", "/v1/certs/domains", Some(bad.clone())).await;
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Lists: order, filters, paging, totals.
    let (s, page) = c.req("GET", "/v1/certs/domains", None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 100);
    let names: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| format!("{}:{}", d["domain"].as_str().expect("d"), d["port"]))
        .collect();
    assert_eq!(
        names,
        ["b.example.org:443", "example.com:443", "example.com:8443"]
    );
    let (_, page) = c
        .req(
            "GET",
            "/v1/certs/domains?enabled=true&search=EXAMPLE.COM",
            None,
        )
        .await;
    assert_eq!(page["total"], 1, "{page}");
    let (_, page) = c
        .req("GET", "/v1/certs/domains?limit=1&offset=1", None)
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["domain"], "example.com");
    for bad in ["enabled=yes", "limit=0", "limit=5000", "offset=-1"] {
        let (s, e) = c
            .req("GET", &format!("/v1/certs/domains?{bad}"), None)
            .await;
        assert_error(s, &e, StatusCode::BAD_REQUEST);
    }

    // Update: set, then clear with null; absent fields stay.
    let id = a["id"].as_str().expect("id");
    c.f.clock.advance(std::time::Duration::from_secs(60));
    let (s, u) = c
        .req(
            "PUT",
            &format!("/v1/certs/domains/{id}"),
            Some(json!({"check_interval_secs": 3600, "enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["check_interval_secs"], 3600);
    assert_eq!(u["enabled"], false);
    assert_eq!(u["note"], "主站", "absent fields stay");
    assert_eq!(u["updated_at"], "2026-02-08T10:01:00Z");
    let (_, u) = c
        .req(
            "PUT",
            &format!("/v1/certs/domains/{id}"),
            Some(json!({"check_interval_secs": null, "note": null})),
        )
        .await;
    assert!(
        u["check_interval_secs"].is_null() && u["note"].is_null(),
        "{u}"
    );
    let (s, e) = c
        .req(
            "PUT",
            &format!("/v1/certs/domains/{id}"),
            Some(json!({"port": 8443})),
        )
        .await;
    assert_error(s, &e, StatusCode::CONFLICT);
    let (s, e) = c
        .req(
            "PUT",
            "/v1/certs/domains/nope",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND);
    let (s, e) = c
        .req(
            "PUT",
            &format!("/v1/certs/domains/{id}"),
            Some(json!({"port": 0})),
        )
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);

    // Delete.
    let (s, _) = c
        .req("DELETE", &format!("/v1/certs/domains/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = c
        .req("DELETE", &format!("/v1/certs/domains/{id}"), None)
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batches_are_all_or_nothing_and_name_every_bad_item() {
    let c = certs().await;
    c.add(json!({"domain": "taken.com"})).await;
    let (s, e) = c
        .req(
            "POST",
            "/v1/certs/domains/batch",
            Some(json!({"domains": [
                {"domain": "ok.com"},
                {"domain": "bad domain"},
                {"domain": "b.com", "port": 0},
            ]})),
        )
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    let items = e["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{e}");
    assert_eq!(items[0]["index"], 1);
    assert_eq!(items[0]["domain"], "bad domain");
    assert_eq!(items[1]["index"], 2);

    let (s, e) = c
        .req(
            "POST",
            "/v1/certs/domains/batch",
            Some(json!({"domains": [
                {"domain": "new.com"},
                {"domain": "TAKEN.com"},
                {"domain": "new.com", "port": 443},
            ]})),
        )
        .await;
    assert_error(s, &e, StatusCode::CONFLICT);
    let indexes: Vec<u64> = e["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(indexes, [1, 2], "{e}");
    let (_, page) = c.req("GET", "/v1/certs/domains", None).await;
    assert_eq!(page["total"], 1, "nothing of a refused batch is stored");

    let (s, e) = c
        .req(
            "POST",
            "/v1/certs/domains/batch",
            Some(json!({"domains": []})),
        )
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, added) = c
        .req(
            "POST",
            "/v1/certs/domains/batch",
            Some(json!({"domains": [{"domain": "a.com"}, {"domain": "b.com", "port": 8443}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(added[0]["domain"], "a.com");
    assert_eq!(added[1]["port"], 8443);
    let (_, page) = c.req("GET", "/v1/certs/domains", None).await;
    assert_eq!(page["total"], 3);
}

#[tokio::test]
async fn checks_fill_status_details_and_chain() {
    let mut c = certs().await;
    let a = c.add(json!({"domain": "a.example"})).await;
    c.add(json!({"domain": "broken.test"})).await;
    c.add(json!({"domain": "off.example", "enabled": false}))
        .await;

    let (s, e) = c.req("GET", "/v1/certs/status/a.example", None).await;
    assert_error(s, &e, StatusCode::NOT_FOUND);
    let (s, e) = c.req("GET", "/v1/certificates/a.example", None).await;
    assert_error(s, &e, StatusCode::NOT_FOUND);

    // One domain on demand.
    let id = a["id"].as_str().expect("id");
    let (s, r) = c
        .req("POST", &format!("/v1/certs/domains/{id}/check"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["domain"], "a.example");
    assert_eq!(r["is_valid"], true);
    assert_eq!(r["days_until_expiry"], 42.0);
    assert_eq!(r["not_after"], "2026-03-22T10:00:00Z");
    let (s, e) = c.req("POST", "/v1/certs/domains/nope/check", None).await;
    assert_error(s, &e, StatusCode::NOT_FOUND);

    // Every enabled domain.
    c.checks.checked.lock().expect("lock").clear();
    let (s, all) = c.req("POST", "/v1/certs/check", None).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(
        *c.checks.checked.lock().expect("lock"),
        ["a.example", "broken.test"],
        "disabled domains are not checked"
    );
    assert_eq!(all[1]["is_valid"], false);
    assert_eq!(all[1]["error"], "connection refused");

    let (_, status) = c.req("GET", "/v1/certs/status", None).await;
    assert_eq!(status.as_array().expect("list").len(), 2, "{status}");
    let (s, one) = c.req("GET", "/v1/certs/status/A.EXAMPLE", None).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["domain"], "a.example");

    // Details in the spec's shape.
    let (s, d) = c.req("GET", "/v1/certificates/a.example", None).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    for field in [
        "domain",
        "not_before",
        "not_after",
        "ip_addresses",
        "issuer_cn",
        "issuer_o",
        "subject_alt_names",
        "chain_valid",
        "last_checked",
    ] {
        assert!(!d[field].is_null(), "{field} missing in {d}");
    }
    assert_eq!(d["not_after"], "2026-03-22T10:00:00Z");
    assert_eq!(d["last_checked"], "2026-02-08T10:00:00Z");
    assert_eq!(d["chain_earliest_expiry"], "2026-02-28T10:00:00Z");
    assert_eq!(d["days_until_expiry"], 42.0);

    // Days are measured from now, not from the check.
    c.f.clock
        .advance(std::time::Duration::from_secs(86_400 * 2));
    c.token = token(&c.state).await; // the old one expired
    let (_, d) = c.req("GET", "/v1/certificates/a.example", None).await;
    assert_eq!(d["days_until_expiry"], 40.0);

    let (s, chain) = c.req("GET", "/v1/certificates/a.example/chain", None).await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    assert_eq!(chain["chain_valid"], true);
    let certs = chain["certificates"].as_array().expect("certs");
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["position"], 0);
    assert_eq!(certs[0]["subject"], "CN=a.example");
    assert_eq!(certs[1]["issuer"], "CN=Test Root");
    assert_eq!(certs[1]["in_validity_period"], true);
    assert_eq!(certs[1]["days_until_expiry"], 18.0);

    // List filters.
    let list = |q: &'static str| c.req("GET", q, None);
    let (_, p) = list("/v1/certificates").await;
    assert_eq!(
        p["total"], 1,
        "only checked domains with a certificate: {p}"
    );
    let (_, p) = list("/v1/certificates?expiring_within_days=39").await;
    assert_eq!(p["total"], 0);
    let (_, p) = list("/v1/certificates?expiring_within_days=40").await;
    assert_eq!(p["total"], 1);
    let (_, p) = list("/v1/certificates?issuer=let%27s%20test").await;
    assert_eq!(p["total"], 1);
    let (_, p) = list("/v1/certificates?issuer=DigiCert").await;
    assert_eq!(p["total"], 0);
    let (_, p) = list("/v1/certificates?ip_address=127.0.0.1").await;
    assert_eq!(p["total"], 1);
    let (_, p) = list("/v1/certificates?ip_address=127.0.0.2").await;
    assert_eq!(p["total"], 0);
    for bad in ["expiring_within_days=-1", "limit=0", "offset=x"] {
        let (s, e) = c.req("GET", &format!("/v1/certificates?{bad}"), None).await;
        assert_error(s, &e, StatusCode::BAD_REQUEST);
    }

    // Deleting the domain deletes its results and details.
    let (s, _) = c
        .req("DELETE", &format!("/v1/certs/domains/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = c.req("GET", "/v1/certificates/a.example", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = c.req("GET", "/v1/certs/status/a.example", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_store_or_checker_the_routes_say_503() {
    let f = fixture().await;
    let t = token(&f.state).await;
    let (s, e) = call(&f.state, "GET", "/v1/certs/domains", Some(&t), None).await;
    assert_error(s, &e, StatusCode::SERVICE_UNAVAILABLE);
    // A store without a checker: the data routes work, checks are 503.
    let state = f.state.clone().with_certs(f.store.clone(), None);
    let (s, _) = call(&state, "GET", "/v1/certs/status", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = call(&state, "POST", "/v1/certs/check", Some(&t), None).await;
    assert_error(s, &e, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn bodies_and_queries_follow_the_document() {
    let c = certs().await;
    // A whole number written with a fraction is an integer, as in JSON
    // Schema; a real fraction is not.
    let a = c
        .add(json!({"domain": "a.example.com", "port": 8443.0, "check_interval_secs": 6e1}))
        .await;
    assert_eq!(
        (a["port"].as_u64(), a["check_interval_secs"].as_u64()),
        (Some(8443), Some(60))
    );
    let (s, b) = c
        .req(
            "POST",
            "/v1/certs/domains",
            Some(json!({"domain": "b.example.com", "port": 443.5})),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    // An array is not the object the document describes.
    let id = a["id"].as_str().expect("id");
    for body in [json!([]), json!([null, null]), json!(7)] {
        let (s, b) = c
            .req("PUT", &format!("/v1/certs/domains/{id}"), Some(body))
            .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A typed query parameter that is present needs a value.
    for (uri, name) in [
        ("/v1/certs/domains?offset=", "offset"),
        ("/v1/certs/domains?limit=&offset=0", "limit"),
        ("/v1/certs/domains?enabled=", "enabled"),
        (
            "/v1/certificates?expiring_within_days=",
            "expiring_within_days",
        ),
    ] {
        let (s, b) = c.req("GET", uri, None).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST);
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{name}` is empty")),
            "{uri}: {message}"
        );
    }
    // Free-text filters may be empty: no filter.
    let (s, b) = c.req("GET", "/v1/certs/domains?search=", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Notes are limited in characters, as `maxLength` counts.
    c.add(json!({"domain": "c.example.com", "note": "é".repeat(1024)}))
        .await;
    let (s, b) = c
        .req(
            "POST",
            "/v1/certs/domains",
            Some(json!({"domain": "d.example.com", "note": "é".repeat(1025)})),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
}
