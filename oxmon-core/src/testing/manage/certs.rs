//! Conformance checks for [`CertStore`]: domains ([`run_all`] also runs
//! [`super::cert_checks`]).

use super::{add, assert_err};
use crate::manage::{CertDomainUpdate, CertStore, DomainFilter, NewCertDomain};
use crate::testing::T0;

/// Runs every [`CertStore`] check, domains and then results and details.
pub async fn run_all(store: &dyn CertStore) {
    domains_add_and_get(store).await;
    domains_unique_per_domain_and_port(store).await;
    domains_invalid_input_stores_nothing(store).await;
    batch_add_is_all_or_nothing(store).await;
    domains_list_filters_and_pages(store).await;
    domains_update(store).await;
    super::cert_checks::run_all(store).await;
}

async fn search(store: &dyn CertStore, text: &str) -> Vec<(String, u16)> {
    let filter = DomainFilter {
        search: Some(text.to_owned()),
        limit: 1000,
        ..DomainFilter::default()
    };
    let page = store.list_domains(&filter).await.expect("list");
    assert_eq!(
        page.total,
        page.items.len() as u64,
        "total of one full page"
    );
    page.items.into_iter().map(|d| (d.domain, d.port)).collect()
}

/// Added domains read back with defaults, normalized names and unique ids.
pub async fn domains_add_and_get(store: &dyn CertStore) {
    let plain = store
        .add_domain(&NewCertDomain::new("conf-add.example"), T0)
        .await
        .expect("add");
    assert!(!plain.id.is_empty(), "generated id");
    assert_eq!(plain.domain, "conf-add.example");
    assert_eq!(plain.port, 443, "default port");
    assert!(plain.enabled, "enabled by default");
    assert_eq!(
        (plain.check_interval_secs, plain.note.as_deref()),
        (None, None)
    );
    assert_eq!((plain.created_at_ms, plain.updated_at_ms), (T0, T0));
    let mut custom = NewCertDomain::new("Conf-Add.EXAMPLE").with_port(8443);
    custom.enabled = false;
    custom.check_interval_secs = Some(3600);
    custom.note = Some("主站".into());
    let other = store.add_domain(&custom, T0 + 1).await.expect("add");
    assert_eq!(
        other.domain, "conf-add.example",
        "domain stored in lower case"
    );
    assert_eq!((other.port, other.enabled), (8443, false));
    assert_eq!(other.check_interval_secs, Some(3600));
    assert_eq!(other.note.as_deref(), Some("主站"));
    assert_ne!(plain.id, other.id, "ids are unique");
    assert_eq!(store.get_domain(&plain.id).await.expect("get"), Some(plain));
    assert_eq!(store.get_domain(&other.id).await.expect("get"), Some(other));
    assert_eq!(
        store.get_domain("conf-no-such-id").await.expect("get"),
        None
    );
}

/// (domain, port) is unique, whatever the case of the name.
pub async fn domains_unique_per_domain_and_port(store: &dyn CertStore) {
    add(store, "conf-uniq.example", 443).await;
    let r = store
        .add_domain(&NewCertDomain::new("CONF-UNIQ.example"), T0)
        .await;
    assert_err(r, "Conflict", "same domain and port");
    add(store, "conf-uniq.example", 8443).await;
    assert_eq!(
        search(store, "conf-uniq").await,
        [
            ("conf-uniq.example".to_owned(), 443),
            ("conf-uniq.example".to_owned(), 8443)
        ]
    );
}

/// Invalid domains, ports and intervals are refused and store nothing.
pub async fn domains_invalid_input_stores_nothing(store: &dyn CertStore) {
    let mut zero_interval = NewCertDomain::new("conf-invalid.example");
    zero_interval.check_interval_secs = Some(0);
    let cases = [
        NewCertDomain::new("conf-invalid.example").with_port(0),
        NewCertDomain::new(""),
        NewCertDomain::new("https://conf-invalid.example"),
        NewCertDomain::new("conf-invalid.example:443"),
        zero_interval,
    ];
    for case in &cases {
        let r = store.add_domain(case, T0).await;
        assert_err(r, "InvalidInput", &format!("{case:?}"));
    }
    assert!(search(store, "conf-invalid").await.is_empty());
}

/// A batch with one conflicting, repeated or invalid item stores nothing and
/// names the item; a good batch stores every item in order.
pub async fn batch_add_is_all_or_nothing(store: &dyn CertStore) {
    add(store, "conf-batch-exists.example", 443).await;
    let n = NewCertDomain::new;
    let batch = [
        n("conf-batch-new1.example"),
        n("conf-batch-exists.example"),
        n("conf-batch-new2.example"),
    ];
    let msg = assert_err(store.add_domains(&batch, T0).await, "Conflict", "batch");
    assert!(
        msg.contains("conf-batch-exists.example"),
        "error names the item: {msg}"
    );
    let repeated = [n("conf-batch-rep.example"), n("CONF-BATCH-REP.example")];
    let msg = assert_err(store.add_domains(&repeated, T0).await, "Conflict", "repeat");
    assert!(
        msg.contains("conf-batch-rep.example"),
        "error names the item: {msg}"
    );
    let invalid = [
        n("conf-batch-ok.example"),
        n("conf-batch-bad.example").with_port(0),
    ];
    let msg = assert_err(
        store.add_domains(&invalid, T0).await,
        "InvalidInput",
        "invalid",
    );
    assert!(
        msg.contains("conf-batch-bad.example"),
        "error names the item: {msg}"
    );
    assert_eq!(
        search(store, "conf-batch").await,
        [("conf-batch-exists.example".to_owned(), 443)],
        "failed batches store nothing"
    );

    let good = [
        n("conf-batch-b.example"),
        n("conf-batch-a.example").with_port(8443),
    ];
    let added = store.add_domains(&good, T0 + 1).await.expect("batch");
    let names: Vec<_> = added.iter().map(|d| (d.domain.as_str(), d.port)).collect();
    assert_eq!(
        names,
        [
            ("conf-batch-b.example", 443),
            ("conf-batch-a.example", 8443)
        ]
    );
    assert_ne!(added[0].id, added[1].id);
    for d in &added {
        assert_eq!(
            store.get_domain(&d.id).await.expect("get").as_ref(),
            Some(d)
        );
    }
    assert_eq!(search(store, "conf-batch").await.len(), 3);
    assert!(
        store
            .add_domains(&[], T0)
            .await
            .expect("empty batch")
            .is_empty()
    );
}

/// Lists filter by enabled flag and name, order by (domain, port) and page
/// with the total of all matches.
pub async fn domains_list_filters_and_pages(store: &dyn CertStore) {
    let mut disabled = NewCertDomain::new("conf-list-c.example");
    disabled.enabled = false;
    store.add_domain(&disabled, T0).await.expect("add");
    add(store, "conf-list-a.example", 443).await;
    add(store, "conf-list-a.example", 10443).await;
    add(store, "conf-list-b.example", 443).await;
    let mut disabled = NewCertDomain::new("conf-list-d.example");
    disabled.enabled = false;
    store.add_domain(&disabled, T0).await.expect("add");

    let all = search(store, "CONF-LIST-").await;
    let expected = [
        ("conf-list-a.example", 443),
        ("conf-list-a.example", 10443),
        ("conf-list-b.example", 443),
        ("conf-list-c.example", 443),
        ("conf-list-d.example", 443),
    ];
    let expected: Vec<_> = expected.iter().map(|&(d, p)| (d.to_owned(), p)).collect();
    assert_eq!(all, expected, "ordered by domain, then numeric port");

    let filter = |enabled, limit, offset| DomainFilter {
        enabled,
        search: Some("conf-list-".into()),
        limit,
        offset,
    };
    let off = store
        .list_domains(&filter(Some(false), 10, 0))
        .await
        .expect("list");
    let names: Vec<_> = off.items.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["conf-list-c.example", "conf-list-d.example"]);
    assert_eq!(off.total, 2);
    let on = store
        .list_domains(&filter(Some(true), 10, 0))
        .await
        .expect("list");
    assert_eq!((on.items.len(), on.total), (3, 3));
    let page = store.list_domains(&filter(None, 2, 1)).await.expect("list");
    let got: Vec<_> = page
        .items
        .iter()
        .map(|d| (d.domain.clone(), d.port))
        .collect();
    assert_eq!(got, expected[1..3], "limit 2 offset 1");
    assert_eq!(page.total, 5, "total ignores limit and offset");
    let past = store
        .list_domains(&filter(None, 2, 50))
        .await
        .expect("list");
    assert_eq!((past.items.len(), past.total), (0, 5));
    let r = store.list_domains(&filter(None, 0, 0)).await;
    assert_err(r, "InvalidInput", "limit 0");
}

/// Updates change the given fields only, stamp `updated_at_ms`, refuse a
/// conflicting port and unknown ids.
pub async fn domains_update(store: &dyn CertStore) {
    let d = add(store, "conf-upd.example", 443).await;
    let taken = add(store, "conf-upd.example", 9443).await;
    let update = CertDomainUpdate {
        enabled: Some(false),
        check_interval_secs: Some(Some(3600)),
        note: Some(Some("note".into())),
        ..CertDomainUpdate::default()
    };
    let got = store
        .update_domain(&d.id, &update, T0 + 10)
        .await
        .expect("update");
    assert_eq!((got.enabled, got.check_interval_secs), (false, Some(3600)));
    assert_eq!((got.note.as_deref(), got.port), (Some("note"), 443));
    assert_eq!((got.created_at_ms, got.updated_at_ms), (T0, T0 + 10));
    assert_eq!(
        store.get_domain(&d.id).await.expect("get").as_ref(),
        Some(&got)
    );

    let port_only = CertDomainUpdate {
        port: Some(8443),
        ..CertDomainUpdate::default()
    };
    let moved = store
        .update_domain(&d.id, &port_only, T0 + 11)
        .await
        .expect("update");
    assert_eq!(
        (moved.port, moved.enabled, moved.note.as_deref()),
        (8443, false, Some("note"))
    );
    let clear = CertDomainUpdate {
        check_interval_secs: Some(None),
        note: Some(None),
        ..CertDomainUpdate::default()
    };
    let cleared = store
        .update_domain(&d.id, &clear, T0 + 12)
        .await
        .expect("update");
    assert_eq!(
        (cleared.check_interval_secs, cleared.note.as_deref()),
        (None, None)
    );

    let clash = CertDomainUpdate {
        port: Some(taken.port),
        ..CertDomainUpdate::default()
    };
    assert_err(
        store.update_domain(&d.id, &clash, T0 + 13).await,
        "Conflict",
        "port clash",
    );
    let bad = CertDomainUpdate {
        port: Some(0),
        ..CertDomainUpdate::default()
    };
    assert_err(
        store.update_domain(&d.id, &bad, T0 + 13).await,
        "InvalidInput",
        "port 0",
    );
    let bad = CertDomainUpdate {
        check_interval_secs: Some(Some(0)),
        ..CertDomainUpdate::default()
    };
    assert_err(
        store.update_domain(&d.id, &bad, T0 + 13).await,
        "InvalidInput",
        "interval 0",
    );
    let stored = store.get_domain(&d.id).await.expect("get");
    assert_eq!(stored, Some(cleared), "failed updates change nothing");
    let r = store.update_domain("conf-no-such-id", &update, T0).await;
    assert_err(r, "NotFound", "update of an unknown id");
}
