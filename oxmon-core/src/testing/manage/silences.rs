//! Conformance checks of [`SilenceStore`].

use crate::manage::{NewSilence, SilenceMatchers, SilenceStore};
use crate::testing::T0;

use super::assert_err;

fn new(agent: &str) -> NewSilence {
    NewSilence {
        matchers: SilenceMatchers {
            agent: Some(agent.into()),
            labels: [("mount".to_owned(), "/data".to_owned())].into(),
            ..SilenceMatchers::default()
        },
        starts_at_ms: T0,
        ends_at_ms: T0 + 3_600_000,
        created_by: "ann".into(),
        comment: "disk swap tonight".into(),
    }
}

/// Runs every [`SilenceStore`] check. Expects a store without silences.
pub async fn run_all(store: &dyn SilenceStore) {
    silences_are_stored_listed_and_expired(store).await;
}

/// A silence comes back exactly, newest first; expiring one ends it at that
/// time and keeps it; refusals store nothing.
pub async fn silences_are_stored_listed_and_expired(store: &dyn SilenceStore) {
    let a = store
        .create_silence(&new("web-*"), T0 - 5)
        .await
        .expect("create");
    let b = store
        .create_silence(&new("db-1"), T0 - 4)
        .await
        .expect("create");
    assert_ne!(a.id, b.id);
    assert_eq!(
        (
            a.matchers.clone(),
            a.starts_at_ms,
            a.ends_at_ms,
            a.created_at_ms
        ),
        (new("web-*").matchers, T0, T0 + 3_600_000, T0 - 5)
    );
    assert_eq!(
        (a.created_by.as_str(), a.comment.as_str()),
        ("ann", "disk swap tonight")
    );
    assert!(a.is_active(T0) && !a.is_active(T0 - 1) && !a.is_active(T0 + 3_600_000));
    assert_eq!(
        store.list_silences().await.expect("list"),
        vec![b.clone(), a.clone()]
    );

    assert_eq!(
        store.active_silences(T0).await.expect("active"),
        vec![b.clone(), a.clone()]
    );
    assert!(
        store
            .active_silences(T0 - 1)
            .await
            .expect("active")
            .is_empty(),
        "not yet"
    );
    let expired = store
        .expire_silence(&a.id, T0 + 60_000)
        .await
        .expect("expire");
    assert_eq!(expired.ends_at_ms, T0 + 60_000);
    assert!(!expired.is_active(T0 + 60_000));
    let again = store
        .expire_silence(&a.id, T0 + 120_000)
        .await
        .expect("expire");
    assert_eq!(again.ends_at_ms, T0 + 60_000, "an expiry never extends it");
    assert_eq!(
        store.active_silences(T0 + 60_000).await.expect("active"),
        vec![b.clone()],
        "an expired silence is no longer active"
    );
    assert_eq!(
        store.list_silences().await.expect("list").len(),
        2,
        "kept for history"
    );
    assert_err(
        store.expire_silence("999999", T0).await,
        "NotFound",
        "unknown",
    );
    assert_err(store.expire_silence("x", T0).await, "NotFound", "not an id");

    let mut nothing = new("x");
    nothing.matchers = SilenceMatchers::default();
    let mut backwards = new("x");
    backwards.ends_at_ms = backwards.starts_at_ms;
    let mut bad_glob = new("web-[");
    bad_glob.matchers.labels.clear();
    for (s, what) in [
        (nothing, "no matcher"),
        (backwards, "ends before it starts"),
        (bad_glob, "a bad glob"),
    ] {
        assert_err(store.create_silence(&s, T0).await, "InvalidInput", what);
    }
    assert_eq!(store.list_silences().await.expect("list").len(), 2);
}
