//! Conformance checks of [`DefinitionStore`], run for each kind.

use crate::manage::{DefinitionKind, DefinitionStore};
use crate::testing::T0;

use super::assert_err;

fn table(kind: DefinitionKind, name: &str, value: f64) -> toml::Table {
    let text = match kind {
        DefinitionKind::Rule => format!(
            "name = \"{name}\"\ntype = \"threshold\"\nmetric = \"cpu.usage\"\noperator = \"greater_than\"\nvalue = {value:?}\n"
        ),
        DefinitionKind::Channel => format!(
            "name = \"{name}\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook?token=t{value}\"\n"
        ),
        DefinitionKind::Setting => format!("value = {value:?}\nnote = \"{name}\"\n"),
        DefinitionKind::SilenceWindow => format!(
            "start_time = \"02:00\"\nend_time = \"04:00\"\nrecurrence = \"daily\"\nnote = \"{name} {value}\"\n"
        ),
    };
    text.parse().expect("a TOML table")
}

/// Runs every [`DefinitionStore`] check, for both kinds.
pub async fn run_all(store: &dyn DefinitionStore) {
    for kind in DefinitionKind::ALL {
        create_list_update_delete(store, kind).await;
        names_are_unique(store, kind).await;
    }
    kinds_are_apart(store).await;
}

/// A definition comes back as stored, in creation order; an update replaces
/// it and stamps `updated_at_ms`; a delete removes it and its id is not
/// reused.
pub async fn create_list_update_delete(store: &dyn DefinitionStore, kind: DefinitionKind) {
    let t = |name: &str, v: f64| table(kind, name, v);
    let before = store.list_definitions(kind).await.expect("list").len();
    let a = store
        .create_definition(kind, "conf-def-a", &t("conf-def-a", 90.0), T0)
        .await
        .expect("create");
    let b = store
        .create_definition(kind, "conf-def-b", &t("conf-def-b", 80.0), T0 + 1)
        .await
        .expect("create");
    assert_ne!(a.id, b.id);
    assert_eq!(
        (a.name.as_str(), a.created_at_ms, a.updated_at_ms),
        ("conf-def-a", T0, T0)
    );
    assert_eq!(a.definition, t("conf-def-a", 90.0));
    let all = store.list_definitions(kind).await.expect("list");
    assert_eq!(all.len(), before + 2);
    assert_eq!(&all[before..], &[a.clone(), b.clone()], "creation order");
    assert_eq!(
        store.get_definition(kind, &b.id).await.expect("get"),
        b,
        "get"
    );

    let changed = store
        .update_definition(kind, &a.id, "conf-def-a2", &t("conf-def-a2", 95.0), T0 + 5)
        .await
        .expect("update");
    assert_eq!(
        (changed.id.as_str(), changed.name.as_str()),
        (a.id.as_str(), "conf-def-a2")
    );
    assert_eq!((changed.created_at_ms, changed.updated_at_ms), (T0, T0 + 5));
    assert_eq!(changed.definition, t("conf-def-a2", 95.0));
    let all = store.list_definitions(kind).await.expect("list");
    assert_eq!(all[before], changed, "an update keeps its place");

    store.delete_definition(kind, &a.id).await.expect("delete");
    assert_err(
        store.delete_definition(kind, &a.id).await,
        "NotFound",
        "deleted twice",
    );
    assert_err(
        store.get_definition(kind, &a.id).await,
        "NotFound",
        "get of a deleted one",
    );
    assert_err(
        store
            .update_definition(kind, &a.id, "x", &t("x", 1.0), T0 + 6)
            .await,
        "NotFound",
        "update of a deleted one",
    );
    assert_err(
        store.delete_definition(kind, "not-an-id").await,
        "NotFound",
        "a malformed id",
    );
    let c = store
        .create_definition(kind, "conf-def-c", &t("conf-def-c", 1.0), T0 + 7)
        .await
        .expect("create");
    assert!(c.id != a.id && c.id != b.id, "ids are not reused");
    store.delete_definition(kind, &b.id).await.expect("delete");
    store.delete_definition(kind, &c.id).await.expect("delete");
    assert_eq!(
        store.list_definitions(kind).await.expect("list").len(),
        before
    );
}

/// A second definition of a taken name conflicts, on create and on rename,
/// and stores nothing.
pub async fn names_are_unique(store: &dyn DefinitionStore, kind: DefinitionKind) {
    let t = |name: &str, v: f64| table(kind, name, v);
    let a = store
        .create_definition(kind, "conf-unique-a", &t("conf-unique-a", 1.0), T0)
        .await
        .expect("create");
    let b = store
        .create_definition(kind, "conf-unique-b", &t("conf-unique-b", 1.0), T0)
        .await
        .expect("create");
    let before = store.list_definitions(kind).await.expect("list");
    assert_err(
        store
            .create_definition(kind, "conf-unique-a", &t("conf-unique-a", 2.0), T0)
            .await,
        "Conflict",
        "a duplicate name",
    );
    assert_err(
        store
            .update_definition(kind, &b.id, "conf-unique-a", &t("conf-unique-a", 2.0), T0)
            .await,
        "Conflict",
        "a rename onto a taken name",
    );
    assert_eq!(store.list_definitions(kind).await.expect("list"), before);
    // Keeping its own name is no conflict.
    store
        .update_definition(
            kind,
            &a.id,
            "conf-unique-a",
            &t("conf-unique-a", 3.0),
            T0 + 1,
        )
        .await
        .expect("same name");
    store.delete_definition(kind, &a.id).await.expect("delete");
    store.delete_definition(kind, &b.id).await.expect("delete");
}

/// A rule and a channel may share a name, and one kind's list, get and
/// delete never see the other's.
pub async fn kinds_are_apart(store: &dyn DefinitionStore) {
    let (rule, channel) = (DefinitionKind::Rule, DefinitionKind::Channel);
    let r = store
        .create_definition(rule, "conf-shared", &table(rule, "conf-shared", 1.0), T0)
        .await
        .expect("a rule");
    let c = store
        .create_definition(
            channel,
            "conf-shared",
            &table(channel, "conf-shared", 1.0),
            T0,
        )
        .await
        .expect("a channel of the same name");
    let channels = store.list_definitions(channel).await.expect("list");
    assert!(
        channels
            .iter()
            .all(|d| d.definition.get("operator").is_none())
    );
    assert!(channels.contains(&c));
    let rules = store.list_definitions(rule).await.expect("list");
    assert!(rules.contains(&r) && !rules.contains(&c));
    store
        .delete_definition(channel, &c.id)
        .await
        .expect("delete");
    assert!(
        store
            .list_definitions(rule)
            .await
            .expect("list")
            .contains(&r),
        "deleting the channel left the rule"
    );
    store.delete_definition(rule, &r.id).await.expect("delete");
}
