//! Login limits over real sockets on 127.0.0.0/8: the client address comes
//! from the connection (`ConnectInfo`), so clients bound to 127.0.0.1 and
//! 127.0.0.2 are two addresses to the server.
#![cfg(feature = "http")]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use oxmon_core::manage::UserStore;
use oxmon_core::{ManualClock, Secret};
use oxmon_http::AppState;
use oxmon_http::auth::{Argon2Hasher, LoginLimiter, PasswordPool};
use oxmon_storage::MemoryManagementStore;
use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

const PASSWORD: &str = "Owner-Passw0rd-1";

struct Server {
    base: String,
    hasher: Argon2Hasher,
    clock: ManualClock,
}

/// A served router with one user `admin`, the default login limiter
/// (5 failures per user and address) and the given password pool.
async fn serve(pool: PasswordPool) -> Server {
    let clock = ManualClock::new(1_770_544_800_000);
    let store = Arc::new(MemoryManagementStore::new());
    let hasher = Argon2Hasher::with_params(8, 1, 1).expect("params");
    let hash = hasher.hash(PASSWORD).expect("hash");
    store
        .create_user("admin", &hash, oxmon_http::manage::Role::Admin, 0)
        .await
        .expect("user");
    let state = AppState::new(
        store.clone(),
        store,
        Arc::new(clock.clone()),
        &Secret::new("test-secret-0123456789abcdef-0123456789"),
        Duration::from_secs(3600),
    )
    .expect("state")
    .with_password_hasher(hasher.clone())
    .with_password_pool(pool)
    .with_login_limiter(LoginLimiter::default());
    let base = common::serve_on_loopback(state).await;
    Server {
        base,
        hasher,
        clock,
    }
}

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_burst_from_one_address_gets_the_limit_of_checks_and_the_owner_still_logs_in() {
    let server = serve(PasswordPool::default()).await;
    let attacker = client_from(1);
    let before = server.hasher.verifications();

    // 200 concurrent wrong logins from one address.
    let mut burst = JoinSet::new();
    for i in 0..200 {
        let (c, base) = (attacker.clone(), server.base.clone());
        burst.spawn(async move {
            let resp = login(&c, &base, &format!("guess-{i}")).await;
            let retry = resp.headers().get("retry-after").cloned();
            (resp.status(), retry)
        });
    }
    let (mut unauthorized, mut limited) = (0, 0);
    while let Some(joined) = burst.join_next().await {
        let (status, retry) = joined.expect("task");
        match status {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let secs: u64 = retry
                    .and_then(|v| v.to_str().ok().and_then(|s| s.parse().ok()))
                    .expect("Retry-After in seconds");
                assert!((1..=300).contains(&secs), "{secs}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let checks = server.hasher.verifications() - before;
    assert!(checks <= 5, "{checks} password checks for a limit of 5");
    assert_eq!(checks, unauthorized, "one check per 401");
    assert_eq!(unauthorized + limited, 200);

    // The attacker keeps hammering while the owner logs in from elsewhere.
    let hammer = {
        let (c, base) = (attacker.clone(), server.base.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..100 {
                statuses.push(login(&c, &base, &format!("more-{i}")).await.status());
            }
            statuses
        })
    };
    let owner = client_from(2);
    let resp = login(&owner, &server.base, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let statuses = hammer.await.expect("hammer");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        server.hasher.verifications() - before,
        checks + 1,
        "only the owner's login was checked"
    );

    // The lockout does not spread: from a third address the owner may
    // mistype and still log in; from the attacker's, even the right
    // password waits for the window.
    let third = client_from(3);
    assert_eq!(
        login(&third, &server.base, "typo-Passw0rd").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&third, &server.base, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&attacker, &server.base, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    server.clock.advance(Duration::from_secs(301));
    assert_eq!(
        login(&attacker, &server.base, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn many_addresses_cannot_lock_the_owner_out() {
    let server = serve(PasswordPool::default()).await;
    // Wrong passwords from 30 addresses, until each is refused.
    for last in 10..40 {
        let c = client_from(last);
        for i in 0..10 {
            let status = login(&c, &server.base, &format!("guess-{i}"))
                .await
                .status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    // The per-user back-off (10 a minute from failing addresses) held the
    // total well under 30 addresses x 5 failures.
    let checks = server.hasher.verifications();
    assert!(checks <= 30 + 10, "{checks}");
    // The owner, from an address without failures, is checked and let in.
    let resp = login(&client_from(2), &server.base, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_full_password_pool_answers_503_and_the_attempt_is_not_counted() {
    // One check at a time, nobody waits.
    let pool = PasswordPool::new(1, 0);
    let server = serve(pool.clone()).await;
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let holder = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run(move || {
                let _ = started_tx.send(());
                let _ = hold.recv();
            })
            .await
        })
    };
    started.await.expect("slot taken");
    let c = client_from(1);
    for _ in 0..10 {
        let resp = login(&c, &server.base, PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
    assert_eq!(server.hasher.verifications(), 0);
    release.send(()).expect("release");
    holder.await.expect("join").expect("ran");
    // Ten refusals for lack of a slot are not ten failures.
    assert_eq!(
        login(&c, &server.base, PASSWORD).await.status(),
        StatusCode::OK
    );
}
