//! Conformance checks for [`CertStore`]: check results and certificate
//! details, and their deletion with the domain.

use super::{add, assert_err};
use crate::DAY_MS;
use crate::manage::{
    CertCheckResult, CertDomain, CertDomainUpdate, CertStore, CertificateDetails, ChainCertificate,
    DetailsFilter,
};
use crate::testing::T0;

/// Runs every check of this module.
pub async fn run_all(store: &dyn CertStore) {
    delete_cascades_to_results_and_details(store).await;
    check_results_history_and_latest(store).await;
    details_upsert_and_get(store).await;
    details_filters_and_pages(store).await;
}

fn result(d: &CertDomain, checked_at_ms: i64, days: Option<f64>) -> CertCheckResult {
    CertCheckResult {
        domain_id: d.id.clone(),
        domain: d.domain.clone(),
        port: d.port,
        checked_at_ms,
        is_valid: days.is_some_and(|x| x > 0.0),
        days_until_expiry: days,
        not_after_ms: days.map(|x| checked_at_ms + (x * DAY_MS as f64) as i64),
        error: days.is_none().then(|| "connection refused".to_owned()),
    }
}

/// Details with every field set; `not_after_ms` is `T0 + days_left` days.
pub fn full_details(domain: &str, port: u16, days_left: i64) -> CertificateDetails {
    CertificateDetails {
        domain: domain.to_owned(),
        port,
        not_before_ms: T0 - 60 * DAY_MS,
        not_after_ms: T0 + days_left * DAY_MS,
        ip_addresses: vec![
            "93.184.216.34".into(),
            "2606:2800:220:1:248:1893:25c8:1946".into(),
        ],
        issuer_cn: Some("R3".into()),
        issuer_o: Some("Let's Encrypt".into()),
        subject_cn: Some(domain.to_owned()),
        subject_alt_names: vec![domain.to_owned(), format!("www.{domain}")],
        serial: Some("03:ab:cd".into()),
        fingerprint_sha256: Some("ab".repeat(32)),
        key_type: Some("EC".into()),
        key_bits: Some(256),
        signature_algorithm: Some("sha256WithRSAEncryption".into()),
        tls_version: Some("TLSv1.3".into()),
        cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
        chain_valid: false,
        chain_error: Some("unknown issuer: \"ünïcödé\" ✓".into()),
        chain: vec![
            ChainCertificate {
                subject: format!("CN={domain}"),
                issuer: "CN=R3,O=Let's Encrypt".into(),
                not_before_ms: T0 - 60 * DAY_MS,
                not_after_ms: T0 + days_left * DAY_MS,
            },
            ChainCertificate {
                subject: "CN=R3,O=Let's Encrypt".into(),
                issuer: "CN=ISRG Root X1".into(),
                not_before_ms: T0 - 900 * DAY_MS,
                not_after_ms: T0 + 300 * DAY_MS,
            },
        ],
        last_checked_ms: T0,
    }
}

/// Details with every optional field empty.
pub fn bare_details(domain: &str, port: u16, days_left: i64) -> CertificateDetails {
    CertificateDetails {
        not_before_ms: T0 - DAY_MS,
        not_after_ms: T0 + days_left * DAY_MS,
        chain_valid: true,
        ..CertificateDetails::new(domain, port, T0)
    }
}

/// Deleting a domain deletes its results and details, and nothing of others.
pub async fn delete_cascades_to_results_and_details(store: &dyn CertStore) {
    let gone = add(store, "conf-del.example", 443).await;
    let kept = add(store, "conf-del-kept.example", 443).await;
    for d in [&gone, &kept] {
        let r = result(d, T0, Some(30.0));
        store.record_check_result(&r).await.expect("record");
        let details = full_details(&d.domain, d.port, 30);
        store.upsert_details(&details).await.expect("upsert");
    }
    store.delete_domain(&gone.id).await.expect("delete");
    assert_eq!(store.get_domain(&gone.id).await.expect("get"), None);
    let r = store.check_history(&gone.id, 10).await;
    assert_err(r, "NotFound", "history of a deleted domain");
    let latest = store
        .latest_check_result("conf-del.example")
        .await
        .expect("latest");
    assert_eq!(latest, None, "results deleted with the domain");
    let all = store.latest_check_results().await.expect("latest");
    assert!(all.iter().all(|r| r.domain_id != gone.id), "{all:?}");
    assert_eq!(
        store.get_details("conf-del.example").await.expect("get"),
        None
    );
    assert_err(
        store.delete_domain(&gone.id).await,
        "NotFound",
        "second delete",
    );

    let history = store.check_history(&kept.id, 10).await.expect("history");
    assert_eq!(history.len(), 1, "other domains keep their results");
    assert!(
        store
            .get_details("conf-del-kept.example")
            .await
            .expect("get")
            .is_some()
    );

    let again = add(store, "conf-del.example", 443).await;
    assert_ne!(again.id, gone.id, "ids are not reused");
    assert!(
        store
            .check_history(&again.id, 10)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        store.get_details("conf-del.example").await.expect("get"),
        None
    );
}

/// Results form a history per domain; "latest" is the greatest check time,
/// the last recorded among equals.
pub async fn check_results_history_and_latest(store: &dyn CertStore) {
    let d = add(store, "conf-res.example", 443).await;
    let alt = add(store, "conf-res.example", 8443).await;
    let idle = add(store, "conf-res-idle.example", 443).await;

    let mut orphan = result(&d, T0, Some(1.0));
    orphan.domain_id = "conf-no-such-id".into();
    assert_err(
        store.record_check_result(&orphan).await,
        "NotFound",
        "unknown id",
    );
    let mut wrong = result(&d, T0, Some(1.0));
    wrong.domain = "conf-other.example".into();
    let r = store.record_check_result(&wrong).await;
    assert_err(r, "InvalidInput", "domain differs from the id's");
    let mut nan = result(&d, T0, Some(1.0));
    nan.days_until_expiry = Some(f64::NAN);
    assert_err(
        store.record_check_result(&nan).await,
        "InvalidInput",
        "NaN days",
    );

    let r1 = result(&d, T0 + 2000, Some(12.5));
    let r2 = result(&d, T0 + 1000, None);
    let mut r3 = result(&d, T0 + 2000, Some(-0.25));
    r3.domain = "CONF-RES.example".into();
    let r4 = result(&alt, T0 + 1500, Some(99.0));
    for r in [&r1, &r2, &r3, &r4] {
        store.record_check_result(r).await.expect("record");
    }
    let mut r3_stored = r3.clone();
    r3_stored.domain = "conf-res.example".into();

    let history = store.check_history(&d.id, 10).await.expect("history");
    assert_eq!(
        history,
        [r3_stored.clone(), r1.clone(), r2.clone()],
        "newest first, ties last-recorded first, every field round-trips"
    );
    let one = store.check_history(&d.id, 1).await.expect("history");
    assert_eq!(one, [r3_stored.clone()]);
    assert_err(
        store.check_history(&d.id, 0).await,
        "InvalidInput",
        "limit 0",
    );
    let r = store.check_history("conf-no-such-id", 5).await;
    assert_err(r, "NotFound", "history of an unknown id");
    assert!(
        store
            .check_history(&idle.id, 5)
            .await
            .expect("history")
            .is_empty()
    );

    let latest: Vec<_> = store
        .latest_check_results()
        .await
        .expect("latest")
        .into_iter()
        .filter(|r| r.domain.starts_with("conf-res"))
        .collect();
    assert_eq!(
        latest,
        [r3_stored.clone(), r4],
        "one per domain, by (domain, port)"
    );
    let by_name = store
        .latest_check_result("Conf-Res.Example")
        .await
        .expect("latest");
    assert_eq!(by_name, Some(r3_stored), "newest across the name's ports");
    let none = store
        .latest_check_result("conf-res-idle.example")
        .await
        .expect("latest");
    assert_eq!(none, None);
}

/// Details are one record per (domain, port), replaced by upserts, and only
/// for domains that exist; a port change drops the old port's details.
pub async fn details_upsert_and_get(store: &dyn CertStore) {
    let name = "conf-det.example";
    let r = store.upsert_details(&full_details(name, 443, 30)).await;
    assert_err(r, "NotFound", "details of an unknown domain");
    let d = add(store, name, 443).await;
    let r = store.upsert_details(&full_details(name, 8443, 30)).await;
    assert_err(r, "NotFound", "details of an unknown port");

    let first = full_details("CONF-DET.example", 443, 30);
    store.upsert_details(&first).await.expect("upsert");
    let mut expected = first.clone();
    expected.domain = name.into();
    assert_eq!(store.get_details(name).await.expect("get"), Some(expected));
    let second = bare_details(name, 443, 90);
    store.upsert_details(&second).await.expect("upsert");
    let got = store.get_details("Conf-Det.Example").await.expect("get");
    assert_eq!(
        got.as_ref(),
        Some(&second),
        "an upsert replaces every field"
    );
    let filter = DetailsFilter {
        limit: 1000,
        ..DetailsFilter::default()
    };
    let page = store.list_details(&filter, T0).await.expect("list");
    let ours = page.items.iter().filter(|x| x.domain == name).count();
    assert_eq!(ours, 1, "one record per (domain, port)");

    let alt = add(store, name, 8443).await;
    let mut newer = full_details(name, 8443, 10);
    newer.last_checked_ms = T0 + 5;
    store.upsert_details(&newer).await.expect("upsert");
    assert_eq!(
        store.get_details(name).await.expect("get").as_ref(),
        Some(&newer)
    );
    newer.last_checked_ms = T0;
    store.upsert_details(&newer).await.expect("upsert");
    let tie = store.get_details(name).await.expect("get").map(|x| x.port);
    assert_eq!(tie, Some(443), "same check time: the lowest port");

    let move_port = CertDomainUpdate {
        port: Some(9443),
        ..CertDomainUpdate::default()
    };
    store
        .update_domain(&alt.id, &move_port, T0 + 1)
        .await
        .expect("update");
    store.delete_domain(&d.id).await.expect("delete");
    let left = store.get_details(name).await.expect("get");
    assert_eq!(
        left, None,
        "details of the old port are gone after a port change"
    );
}

/// Detail lists filter by expiry, address and issuer, order by (domain,
/// port) and page with the total.
pub async fn details_filters_and_pages(store: &dyn CertStore) {
    let specs: [(&str, i64, &str, &str); 4] = [
        ("conf-fil-a.example", -3, "10.9.0.1", "Conf CA One"),
        ("conf-fil-b.example", 10, "10.9.0.2", "Conf CA Two"),
        ("conf-fil-c.example", 30, "10.9.0.1", "Conf CA One"),
        ("conf-fil-d.example", 100, "10.9.0.3", "Other"),
    ];
    for (name, days, ip, cn) in specs {
        add(store, name, 443).await;
        let mut det = full_details(name, 443, days);
        det.ip_addresses = vec![ip.into(), "fd00::9".into()];
        det.issuer_cn = Some(cn.into());
        det.issuer_o = Some("Conf Issuer Org".into());
        store.upsert_details(&det).await.expect("upsert");
    }
    let run = |days, ip: Option<&str>, issuer: &str, limit, offset| DetailsFilter {
        expiring_within_days: days,
        ip_address: ip.map(str::to_owned),
        issuer: Some(issuer.to_owned()),
        limit,
        offset,
    };
    let names = |page: &crate::manage::Page<CertificateDetails>| -> Vec<String> {
        page.items.iter().map(|d| d.domain.clone()).collect()
    };
    let all = store
        .list_details(&run(None, None, "conf issuer org", 10, 0), T0)
        .await;
    let all = all.expect("list");
    assert_eq!(all.total, 4, "issuer matches O, ASCII case-insensitive");
    assert_eq!(
        names(&all),
        specs.map(|s| s.0.to_owned()),
        "ordered by domain"
    );
    let soon = store
        .list_details(&run(Some(30), None, "conf issuer org", 10, 0), T0)
        .await;
    let soon = soon.expect("list");
    let want = [
        "conf-fil-a.example",
        "conf-fil-b.example",
        "conf-fil-c.example",
    ];
    assert_eq!(names(&soon), want, "expired and within 30 days, inclusive");
    let by_ip = store
        .list_details(&run(None, Some("10.9.0.1"), "conf", 10, 0), T0)
        .await;
    let by_ip = by_ip.expect("list");
    assert_eq!(names(&by_ip), ["conf-fil-a.example", "conf-fil-c.example"]);
    let by_cn = store
        .list_details(&run(None, None, "CA TWO", 10, 0), T0)
        .await;
    assert_eq!(
        names(&by_cn.expect("list")),
        ["conf-fil-b.example"],
        "issuer matches CN"
    );
    let page = store
        .list_details(&run(None, None, "conf issuer org", 2, 1), T0)
        .await;
    let page = page.expect("list");
    assert_eq!(names(&page), ["conf-fil-b.example", "conf-fil-c.example"]);
    assert_eq!(page.total, 4, "total ignores limit and offset");
    let filter = run(Some(30), None, "conf issuer", 10, 0);
    let later = store.list_details(&filter, T0 + 75 * DAY_MS).await;
    let later = later.expect("list");
    assert_eq!(later.total, 4, "expiry is measured from now_ms");
    let r = store.list_details(&run(None, None, "x", 0, 0), T0).await;
    assert_err(r, "InvalidInput", "limit 0");
}
