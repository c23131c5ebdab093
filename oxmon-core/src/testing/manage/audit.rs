//! Conformance checks of [`AuditLog`].

use serde_json::json;

use crate::manage::{AuditLog, AuditQuery, AuditRecord};
use crate::testing::T0;

fn rec(at_ms: i64, actor: &str, action: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        actor: actor.into(),
        action: action.into(),
        target: format!("conf-target-{at_ms}"),
        before: (action != "rule.create").then(|| json!({"value": 1, "name": "ä \\ \""})),
        after: (action != "rule.delete").then(|| json!({"value": 2.5, "labels": {"a": "b"}})),
    }
}

/// Runs every [`AuditLog`] check. Expects a log without records.
pub async fn run_all(log: &dyn AuditLog) {
    records_come_back_newest_first_and_filtered(log).await;
}

/// Records come back exactly, newest first, filtered by actor, action
/// prefix and time, paged.
pub async fn records_come_back_newest_first_and_filtered(log: &dyn AuditLog) {
    let all = [
        rec(T0, "ann", "rule.create"),
        rec(T0 + 1, "bob", "user.update"),
        rec(T0 + 2, "ann", "rule.delete"),
        rec(T0 + 2, "ann", "rule.update"),
    ];
    for r in &all {
        log.record(r).await.expect("record");
    }
    let page = log
        .query_audit(&AuditQuery::default())
        .await
        .expect("query");
    assert_eq!(page.total, 4);
    assert_eq!(
        page.records,
        vec![
            all[3].clone(),
            all[2].clone(),
            all[1].clone(),
            all[0].clone()
        ],
        "newest first, later insertions first at one time, every field exact"
    );
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let ann = log
        .query_audit(&q(|q| q.actor = Some("ann".into())))
        .await
        .expect("query");
    assert_eq!(ann.total, 3);
    let rules = log
        .query_audit(&q(|q| q.action = Some("rule.".into())))
        .await
        .expect("query");
    assert_eq!(rules.total, 3);
    let window = log
        .query_audit(&q(|q| {
            q.from_ms = Some(T0 + 1);
            q.to_ms = Some(T0 + 1);
        }))
        .await
        .expect("query");
    assert_eq!(window.records, vec![all[1].clone()]);
    let paged = log
        .query_audit(&q(|q| {
            q.limit = 1;
            q.offset = 1;
        }))
        .await
        .expect("query");
    assert_eq!(
        (paged.total, paged.records.clone()),
        (4, vec![all[2].clone()])
    );
    // A `%` or `_` in the prefix is not a pattern.
    let none = log
        .query_audit(&q(|q| q.action = Some("rule%".into())))
        .await
        .expect("query");
    assert_eq!(none.total, 0);
}
