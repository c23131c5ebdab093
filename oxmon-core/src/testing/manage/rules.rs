//! Conformance checks of [`RuleStore`].

use crate::manage::RuleStore;
use crate::testing::T0;

use super::assert_err;

fn table(name: &str, value: f64) -> toml::Table {
    let text = format!(
        "name = \"{name}\"\ntype = \"threshold\"\nmetric = \"cpu.usage\"\noperator = \"greater_than\"\nvalue = {value:?}\n"
    );
    text.parse().expect("a TOML table")
}

/// Runs every [`RuleStore`] check.
pub async fn run_all(store: &dyn RuleStore) {
    rules_create_list_update_delete(store).await;
    rules_names_are_unique(store).await;
}

/// A rule comes back as stored, in creation order; an update replaces it and
/// stamps `updated_at_ms`; a delete removes it and its id is not reused.
pub async fn rules_create_list_update_delete(store: &dyn RuleStore) {
    let before = store.list_rules().await.expect("list").len();
    let a = store
        .create_rule("conf-rule-a", &table("conf-rule-a", 90.0), T0)
        .await
        .expect("create");
    let b = store
        .create_rule("conf-rule-b", &table("conf-rule-b", 80.0), T0 + 1)
        .await
        .expect("create");
    assert_ne!(a.id, b.id);
    assert_eq!(
        (a.name.as_str(), a.created_at_ms, a.updated_at_ms),
        ("conf-rule-a", T0, T0)
    );
    assert_eq!(a.definition, table("conf-rule-a", 90.0));
    let all = store.list_rules().await.expect("list");
    assert_eq!(all.len(), before + 2);
    assert_eq!(&all[before..], &[a.clone(), b.clone()], "creation order");

    let changed = store
        .update_rule(&a.id, "conf-rule-a2", &table("conf-rule-a2", 95.0), T0 + 5)
        .await
        .expect("update");
    assert_eq!(
        (changed.id.as_str(), changed.name.as_str()),
        (a.id.as_str(), "conf-rule-a2")
    );
    assert_eq!((changed.created_at_ms, changed.updated_at_ms), (T0, T0 + 5));
    assert_eq!(changed.definition, table("conf-rule-a2", 95.0));
    let all = store.list_rules().await.expect("list");
    assert_eq!(all[before], changed, "an update keeps the rule's place");

    store.delete_rule(&a.id).await.expect("delete");
    assert_err(store.delete_rule(&a.id).await, "NotFound", "deleted twice");
    assert_err(
        store
            .update_rule(&a.id, "x", &table("x", 1.0), T0 + 6)
            .await,
        "NotFound",
        "update of a deleted rule",
    );
    let c = store
        .create_rule("conf-rule-c", &table("conf-rule-c", 1.0), T0 + 7)
        .await
        .expect("create");
    assert!(c.id != a.id && c.id != b.id, "ids are not reused");
    store.delete_rule(&b.id).await.expect("delete");
    store.delete_rule(&c.id).await.expect("delete");
    assert_eq!(store.list_rules().await.expect("list").len(), before);
}

/// A second rule of a taken name conflicts, on create and on rename, and
/// stores nothing.
pub async fn rules_names_are_unique(store: &dyn RuleStore) {
    let a = store
        .create_rule("conf-unique-a", &table("conf-unique-a", 1.0), T0)
        .await
        .expect("create");
    let b = store
        .create_rule("conf-unique-b", &table("conf-unique-b", 1.0), T0)
        .await
        .expect("create");
    let before = store.list_rules().await.expect("list");
    assert_err(
        store
            .create_rule("conf-unique-a", &table("conf-unique-a", 2.0), T0)
            .await,
        "Conflict",
        "a duplicate name",
    );
    assert_err(
        store
            .update_rule(&b.id, "conf-unique-a", &table("conf-unique-a", 2.0), T0)
            .await,
        "Conflict",
        "a rename onto a taken name",
    );
    assert_eq!(store.list_rules().await.expect("list"), before);
    // Keeping its own name is no conflict.
    store
        .update_rule(&a.id, "conf-unique-a", &table("conf-unique-a", 3.0), T0 + 1)
        .await
        .expect("same name");
    store.delete_rule(&a.id).await.expect("delete");
    store.delete_rule(&b.id).await.expect("delete");
}
