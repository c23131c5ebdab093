//! Conformance suite for [`UserStore`], [`WhitelistStore`], [`CertStore`]
//! and [`DefinitionStore`](crate::manage::DefinitionStore) implementations.
//!
//! Every function expects a store that holds nothing under the names it uses
//! (each check has its own usernames, agent ids and domains, so they can share
//! one store, and counts are compared before and after); [`run_all`] runs
//! them all. The certificate checks live in [`certs`] and [`cert_checks`].

pub mod audit;
pub mod cert_checks;
pub mod certs;
pub mod definitions;
pub mod silences;

use crate::error::Error;
use crate::manage::{CertDomain, CertStore, NewCertDomain, UserStore, WhitelistStore};
use crate::testing::T0;

/// Runs every check of this suite: users, whitelist and certificates.
pub async fn run_all(users: &dyn UserStore, whitelist: &dyn WhitelistStore, certs: &dyn CertStore) {
    run_users(users).await;
    run_whitelist(whitelist).await;
    certs::run_all(certs).await;
}

/// Runs every [`UserStore`] check.
pub async fn run_users(store: &dyn UserStore) {
    users_roles_updates_and_the_last_admin(store).await;
    users_create_and_read_back(store).await;
    api_tokens_of_users(store).await;
    users_duplicate_username_conflicts(store).await;
    users_invalid_input_stores_nothing(store).await;
    password_change_bumps_token_version(store).await;
}

/// Runs every [`WhitelistStore`] check.
pub async fn run_whitelist(store: &dyn WhitelistStore) {
    whitelist_add_get_list(store).await;
    whitelist_duplicate_agent_conflicts(store).await;
    whitelist_invalid_input_stores_nothing(store).await;
    whitelist_update_description(store).await;
    whitelist_replace_token_hash(store).await;
    whitelist_delete(store).await;
}

/// Roles and disabling are stored, listed and updated; deleting and
/// updating refuse to leave no enabled administrator. Expects a store with
/// no users (it counts administrators); leaves one administrator,
/// `conf-viewer`, behind.
pub async fn users_roles_updates_and_the_last_admin(store: &dyn UserStore) {
    use crate::manage::{Role, UserUpdate};
    assert_eq!(
        store.count_users().await.expect("count"),
        0,
        "this check needs a store without users"
    );
    let admin = store
        .create_user("conf-root", "h", Role::Admin, T0)
        .await
        .expect("create");
    let viewer = store
        .create_user("conf-viewer", "h", Role::Viewer, T0)
        .await
        .expect("create");
    assert_eq!((admin.role, admin.disabled), (Role::Admin, false));
    assert_eq!(viewer.role, Role::Viewer);
    let listed = store.list_users().await.expect("list");
    assert_eq!(listed, vec![admin.clone(), viewer.clone()], "by id");

    // The only administrator can be neither demoted, disabled nor deleted.
    for update in [
        UserUpdate {
            role: Some(Role::Operator),
            ..UserUpdate::default()
        },
        UserUpdate {
            disabled: Some(true),
            ..UserUpdate::default()
        },
    ] {
        assert_err(
            store.update_user(admin.id, &update, T0 + 1).await,
            "Conflict",
            "the last administrator",
        );
    }
    assert_err(
        store.delete_user(admin.id).await,
        "Conflict",
        "deleting the last administrator",
    );
    assert_eq!(store.list_users().await.expect("list"), listed, "unchanged");

    let promoted = store
        .update_user(
            viewer.id,
            &UserUpdate {
                role: Some(Role::Admin),
                ..UserUpdate::default()
            },
            T0 + 2,
        )
        .await
        .expect("promote");
    assert_eq!(
        (promoted.role, promoted.updated_at_ms),
        (Role::Admin, T0 + 2)
    );
    let disabled = store
        .update_user(
            admin.id,
            &UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            },
            T0 + 3,
        )
        .await
        .expect("another admin remains");
    assert!(disabled.disabled);
    assert_eq!(
        store.user_by_id(admin.id).await.expect("read"),
        Some(disabled.clone())
    );
    store.delete_user(admin.id).await.expect("delete");
    assert_err(
        store.delete_user(admin.id).await,
        "NotFound",
        "deleted twice",
    );
    assert_err(
        store
            .update_user(admin.id, &UserUpdate::default(), T0)
            .await,
        "NotFound",
        "update of a deleted user",
    );
    assert_err(
        store.delete_user(viewer.id).await,
        "Conflict",
        "the promoted viewer is now the last administrator",
    );
}

/// API tokens are stored with their hash, found by it, listed per user,
/// stamped when used, revoked, and go with their user.
pub async fn api_tokens_of_users(store: &dyn UserStore) {
    use crate::manage::{NewApiToken, Role};
    let owner = store
        .create_user("conf-token-owner", "h", Role::Operator, T0)
        .await
        .expect("create");
    let other = store
        .create_user("conf-token-other", "h", Role::Viewer, T0)
        .await
        .expect("create");
    let new = |name: &str, user_id: i64, hash: &str| NewApiToken {
        name: name.into(),
        user_id,
        role: Role::Viewer,
        token_hash: hash.into(),
        expires_at_ms: Some(T0 + 1000),
    };
    let a = store
        .create_token(&new("grafana", owner.id, "conf-hash-a"), T0)
        .await
        .expect("create");
    assert_eq!(
        (
            a.name.as_str(),
            a.user_id,
            a.role,
            a.created_at_ms,
            a.expires_at_ms,
            a.last_used_ms
        ),
        ("grafana", owner.id, Role::Viewer, T0, Some(T0 + 1000), None)
    );
    assert!(
        !format!("{a:?}").contains("conf-hash-a"),
        "Debug hides the hash"
    );
    let b = store
        .create_token(&new("script", other.id, "conf-hash-b"), T0)
        .await
        .expect("create");
    assert_ne!(a.id, b.id);
    assert_eq!(
        store.token_by_hash("conf-hash-a").await.expect("find"),
        Some(a.clone())
    );
    assert_eq!(
        store.token_by_hash("conf-nothing").await.expect("find"),
        None
    );
    assert_eq!(
        store.list_tokens(Some(owner.id)).await.expect("list"),
        vec![a.clone()]
    );
    let all = store.list_tokens(None).await.expect("list");
    assert!(all.contains(&a) && all.contains(&b));

    store.touch_token(&a.id, T0 + 60_000).await.expect("touch");
    let used = store.token_by_hash("conf-hash-a").await.expect("find");
    assert_eq!(used.and_then(|t| t.last_used_ms), Some(T0 + 60_000));

    // Refusals store nothing.
    assert_err(
        store
            .create_token(&new(" ", owner.id, "conf-hash-c"), T0)
            .await,
        "InvalidInput",
        "a blank name",
    );
    assert_err(
        store.create_token(&new("x", owner.id, ""), T0).await,
        "InvalidInput",
        "an empty hash",
    );
    assert_err(
        store
            .create_token(&new("x", i64::MAX, "conf-hash-d"), T0)
            .await,
        "NotFound",
        "no such user",
    );
    assert_eq!(
        store.list_tokens(Some(owner.id)).await.expect("list").len(),
        1
    );

    store.delete_token(&a.id).await.expect("revoke");
    assert_err(store.delete_token(&a.id).await, "NotFound", "revoked twice");
    assert_err(
        store.touch_token(&a.id, T0).await,
        "NotFound",
        "a revoked token",
    );
    assert_eq!(
        store.token_by_hash("conf-hash-a").await.expect("find"),
        None
    );

    // A deleted user's tokens go with it.
    store.delete_user(other.id).await.expect("delete");
    assert_eq!(
        store.token_by_hash("conf-hash-b").await.expect("find"),
        None
    );
    assert!(
        store
            .list_tokens(Some(other.id))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Asserts that `result` is the error `kind` names (`"NotFound"`, ...).
pub(crate) fn assert_err<T: std::fmt::Debug>(
    result: crate::Result<T>,
    kind: &str,
    what: &str,
) -> String {
    let ok = matches!(
        (&result, kind),
        (Err(Error::NotFound(_)), "NotFound")
            | (Err(Error::Conflict(_)), "Conflict")
            | (Err(Error::InvalidInput(_)), "InvalidInput")
    );
    assert!(ok, "{what}: expected {kind}, got {result:?}");
    result.err().map(|e| e.to_string()).unwrap_or_default()
}

/// Adds `domain:port` at [`T0`], which must succeed.
pub(crate) async fn add(store: &dyn CertStore, domain: &str, port: u16) -> CertDomain {
    store
        .add_domain(&NewCertDomain::new(domain).with_port(port), T0)
        .await
        .expect("add domain")
}

/// A created user reads back by name and by id with every field; ids are
/// distinct; names are case-sensitive; `Debug` hides the hash.
pub async fn users_create_and_read_back(store: &dyn UserStore) {
    let before = store.count_users().await.expect("count");
    let alice = store
        .create_user("conf-alice", "hash-alice", crate::manage::Role::Admin, T0)
        .await
        .expect("create");
    assert_eq!(alice.username, "conf-alice");
    assert_eq!(alice.password_hash, "hash-alice");
    assert_eq!(alice.token_version, 0, "token_version starts at 0");
    assert_eq!((alice.created_at_ms, alice.updated_at_ms), (T0, T0));
    assert!(alice.id > 0, "ids are positive: {}", alice.id);
    let bob = store
        .create_user("conf-bob", "hash-bob", crate::manage::Role::Admin, T0 + 1)
        .await
        .expect("create");
    assert_ne!(alice.id, bob.id, "ids are unique");
    assert_eq!(store.count_users().await.expect("count"), before + 2);

    let by_name = store.user_by_username("conf-alice").await.expect("get");
    assert_eq!(by_name.as_ref(), Some(&alice));
    let by_id = store.user_by_id(bob.id).await.expect("get");
    assert_eq!(by_id.as_ref(), Some(&bob));
    assert_eq!(
        store.user_by_username("CONF-ALICE").await.expect("get"),
        None,
        "usernames are compared byte for byte"
    );
    assert_eq!(
        store.user_by_username("conf-nobody").await.expect("get"),
        None
    );
    assert_eq!(store.user_by_id(-1).await.expect("get"), None);
    assert_eq!(store.user_by_id(i64::MAX).await.expect("get"), None);
    let debug = format!("{alice:?}");
    assert!(
        !debug.contains("hash-alice"),
        "Debug shows the hash: {debug}"
    );
}

/// A second user with the same name is a conflict and changes nothing.
pub async fn users_duplicate_username_conflicts(store: &dyn UserStore) {
    let first = store
        .create_user("conf-dup-user", "hash-1", crate::manage::Role::Admin, T0)
        .await
        .expect("create");
    let before = store.count_users().await.expect("count");
    let again = store
        .create_user(
            "conf-dup-user",
            "hash-2",
            crate::manage::Role::Admin,
            T0 + 1,
        )
        .await;
    assert_err(again, "Conflict", "duplicate username");
    assert_eq!(store.count_users().await.expect("count"), before);
    let stored = store.user_by_username("conf-dup-user").await.expect("get");
    assert_eq!(stored, Some(first), "the first user is unchanged");
}

/// Invalid usernames and empty hashes are refused and store nothing.
pub async fn users_invalid_input_stores_nothing(store: &dyn UserStore) {
    let before = store.count_users().await.expect("count");
    for name in ["", " conf-padded", "conf-ctl\u{1}"] {
        let r = store
            .create_user(name, "hash", crate::manage::Role::Admin, T0)
            .await;
        assert_err(r, "InvalidInput", &format!("username {name:?}"));
    }
    let r = store
        .create_user("conf-nohash", "", crate::manage::Role::Admin, T0)
        .await;
    assert_err(r, "InvalidInput", "empty password hash");
    assert_eq!(store.count_users().await.expect("count"), before);
    assert_eq!(
        store.user_by_username("conf-nohash").await.expect("get"),
        None
    );
}

/// Each password change replaces the hash and increments only that user's
/// token version by one.
pub async fn password_change_bumps_token_version(store: &dyn UserStore) {
    let carol = store
        .create_user("conf-carol", "hash-c0", crate::manage::Role::Admin, T0)
        .await
        .expect("create");
    let dave = store
        .create_user("conf-dave", "hash-d0", crate::manage::Role::Admin, T0)
        .await
        .expect("create");
    let v = store
        .set_password_hash(carol.id, "hash-c1", T0 + 1000)
        .await
        .expect("set");
    assert_eq!(v, 1, "first change gives version 1");
    let got = store
        .user_by_id(carol.id)
        .await
        .expect("get")
        .expect("carol");
    assert_eq!(got.password_hash, "hash-c1");
    assert_eq!(got.token_version, 1);
    assert_eq!((got.created_at_ms, got.updated_at_ms), (T0, T0 + 1000));
    let v = store
        .set_password_hash(carol.id, "hash-c2", T0 + 2000)
        .await
        .expect("set");
    assert_eq!(v, 2, "every change increments the version");
    let r = store.set_password_hash(carol.id, "", T0 + 3000).await;
    assert_err(r, "InvalidInput", "empty hash");
    let got = store
        .user_by_id(carol.id)
        .await
        .expect("get")
        .expect("carol");
    assert_eq!(
        (got.password_hash.as_str(), got.token_version),
        ("hash-c2", 2)
    );
    let other = store.user_by_id(dave.id).await.expect("get");
    assert_eq!(other, Some(dave), "another user's version is untouched");
    let r = store.set_password_hash(i64::MAX, "hash", T0).await;
    assert_err(r, "NotFound", "unknown user id");
}

fn ours(entries: Vec<crate::manage::WhitelistEntry>, prefix: &str) -> Vec<String> {
    entries
        .into_iter()
        .filter(|e| e.agent_id.starts_with(prefix))
        .map(|e| e.agent_id)
        .collect()
}

/// Added agents read back with every field and list in agent id order.
pub async fn whitelist_add_get_list(store: &dyn WhitelistStore) {
    let b = store
        .add_agent("conf-wl-b", "th-b", Some("生产环境 Web 服务器"), T0)
        .await
        .expect("add");
    assert_eq!(b.agent_id, "conf-wl-b");
    assert_eq!(b.token_hash, "th-b");
    assert_eq!(b.description.as_deref(), Some("生产环境 Web 服务器"));
    assert_eq!((b.created_at_ms, b.updated_at_ms), (T0, T0));
    let a = store
        .add_agent("conf-wl-a", "th-a", None, T0 + 1)
        .await
        .expect("add");
    assert_eq!(a.description, None);
    assert_eq!(store.get_agent("conf-wl-b").await.expect("get"), Some(b));
    assert_eq!(
        store.get_agent("conf-wl-a").await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(store.get_agent("conf-wl-none").await.expect("get"), None);
    let listed = ours(store.list_agents().await.expect("list"), "conf-wl-");
    assert_eq!(listed, ["conf-wl-a", "conf-wl-b"], "ordered by agent id");
    let debug = format!("{a:?}");
    assert!(
        !debug.contains("th-a"),
        "Debug shows the token hash: {debug}"
    );
}

/// Adding a whitelisted agent again is a conflict and changes nothing.
pub async fn whitelist_duplicate_agent_conflicts(store: &dyn WhitelistStore) {
    let first = store
        .add_agent("conf-wl-dup", "th-1", Some("first"), T0)
        .await
        .expect("add");
    let again = store.add_agent("conf-wl-dup", "th-2", None, T0 + 1).await;
    assert_err(again, "Conflict", "duplicate agent id");
    assert_eq!(
        store.get_agent("conf-wl-dup").await.expect("get"),
        Some(first)
    );
}

/// Invalid agent ids and empty hashes are refused and store nothing.
pub async fn whitelist_invalid_input_stores_nothing(store: &dyn WhitelistStore) {
    for id in ["", "conf wl space", "conf-wl-\n"] {
        let r = store.add_agent(id, "th", None, T0).await;
        assert_err(r, "InvalidInput", &format!("agent id {id:?}"));
    }
    let r = store.add_agent("conf-wl-nohash", "", None, T0).await;
    assert_err(r, "InvalidInput", "empty token hash");
    assert_eq!(store.get_agent("conf-wl-nohash").await.expect("get"), None);
    let listed = ours(store.list_agents().await.expect("list"), "conf wl");
    assert!(listed.is_empty(), "nothing stored: {listed:?}");
}

/// Description updates set and clear the text and stamp `updated_at_ms` only.
pub async fn whitelist_update_description(store: &dyn WhitelistStore) {
    let added = store
        .add_agent("conf-wl-desc", "th-desc", Some("old"), T0)
        .await
        .expect("add");
    let updated = store
        .update_agent_description("conf-wl-desc", Some("new text"), T0 + 5)
        .await
        .expect("update");
    assert_eq!(updated.description.as_deref(), Some("new text"));
    assert_eq!(updated.token_hash, added.token_hash, "token hash unchanged");
    assert_eq!((updated.created_at_ms, updated.updated_at_ms), (T0, T0 + 5));
    let stored = store.get_agent("conf-wl-desc").await.expect("get");
    assert_eq!(stored.as_ref(), Some(&updated));
    let cleared = store
        .update_agent_description("conf-wl-desc", None, T0 + 6)
        .await
        .expect("update");
    assert_eq!(cleared.description, None, "None clears the description");
    let r = store
        .update_agent_description("conf-wl-missing", Some("x"), T0)
        .await;
    assert_err(r, "NotFound", "update of an unknown agent");
}

/// Replacing the token hash takes effect at once; unknown agents are NotFound.
pub async fn whitelist_replace_token_hash(store: &dyn WhitelistStore) {
    store
        .add_agent("conf-wl-token", "th-old", Some("keep"), T0)
        .await
        .expect("add");
    // Read first, so a store that caches entries has the old one cached.
    let before = store.get_agent("conf-wl-token").await.expect("get");
    assert_eq!(before.map(|e| e.token_hash).as_deref(), Some("th-old"));
    let replaced = store
        .replace_agent_token_hash("conf-wl-token", "th-new", T0 + 7)
        .await
        .expect("replace");
    assert_eq!(replaced.token_hash, "th-new");
    assert_eq!(replaced.description.as_deref(), Some("keep"));
    assert_eq!(
        (replaced.created_at_ms, replaced.updated_at_ms),
        (T0, T0 + 7)
    );
    let stored = store.get_agent("conf-wl-token").await.expect("get");
    assert_eq!(stored.map(|e| e.token_hash).as_deref(), Some("th-new"));
    let r = store
        .replace_agent_token_hash("conf-wl-token", "", T0 + 8)
        .await;
    assert_err(r, "InvalidInput", "empty token hash");
    let stored = store.get_agent("conf-wl-token").await.expect("get");
    assert_eq!(stored.map(|e| e.token_hash).as_deref(), Some("th-new"));
    let r = store
        .replace_agent_token_hash("conf-wl-missing", "th", T0)
        .await;
    assert_err(r, "NotFound", "token of an unknown agent");
}

/// Deleting removes the entry; a second delete is NotFound; the id can be
/// whitelisted again as a new entry.
pub async fn whitelist_delete(store: &dyn WhitelistStore) {
    store
        .add_agent("conf-wl-del", "th-del", Some("gone soon"), T0)
        .await
        .expect("add");
    assert!(store.get_agent("conf-wl-del").await.expect("get").is_some());
    store.delete_agent("conf-wl-del").await.expect("delete");
    assert_eq!(store.get_agent("conf-wl-del").await.expect("get"), None);
    let listed = ours(store.list_agents().await.expect("list"), "conf-wl-del");
    assert!(listed.is_empty(), "deleted agent still listed: {listed:?}");
    assert_err(
        store.delete_agent("conf-wl-del").await,
        "NotFound",
        "second delete",
    );
    let r = store
        .update_agent_description("conf-wl-del", Some("x"), T0)
        .await;
    assert_err(r, "NotFound", "update after delete");
    let r = store
        .replace_agent_token_hash("conf-wl-del", "th", T0)
        .await;
    assert_err(r, "NotFound", "token after delete");
    let again = store
        .add_agent("conf-wl-del", "th-again", None, T0 + 9)
        .await
        .expect("re-add after delete");
    assert_eq!((again.created_at_ms, again.description), (T0 + 9, None));
    let stored = store.get_agent("conf-wl-del").await.expect("get");
    assert_eq!(stored.map(|e| e.token_hash).as_deref(), Some("th-again"));
}
