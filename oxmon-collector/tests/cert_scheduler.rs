//! The certificate scheduler: its due logic and its concurrency limit,
//! against real sockets on 127.0.0.1; time from a `ManualClock`, results
//! in the in-memory management store, samples to a recording sink.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oxmon_collector::cert::CertChecker;
use oxmon_core::config::CertCheckConfig;
use oxmon_core::manage::{CertDomainUpdate, CertStore, NewCertDomain};
use oxmon_core::{
    Ack, BatchHandler, Clock, Credentials, ManualClock, MetricBatch, SystemClock, TransportError,
};
use oxmon_storage::MemoryManagementStore;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Where the scheduler sends its samples (the server's ingest in production).
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<MetricBatch>>);

#[async_trait]
impl BatchHandler for Recorder {
    async fn handle(
        &self,
        _credentials: Credentials,
        batch: MetricBatch,
    ) -> Result<Ack, TransportError> {
        self.0.lock().unwrap().push(batch);
        Ok(Ack::default())
    }
}

/// A server that accepts and never answers, noting when it accepted each
/// connection.
async fn silent_server(accepted: Arc<std::sync::Mutex<Vec<std::time::Instant>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            accepted.lock().unwrap().push(std::time::Instant::now());
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                // Read the ClientHello and whatever follows until the client gives up.
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn checker_config(max_concurrent: usize) -> CertCheckConfig {
    let mut c = CertCheckConfig::default();
    c.max_concurrent = max_concurrent;
    c.connect_timeout_secs = 1;
    c.default_interval_secs = 86_400;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_run_at_most_max_concurrent_at_once() {
    let clock = ManualClock::new(SystemClock.now_ms());
    let store = Arc::new(MemoryManagementStore::new());
    let sink = Arc::new(Recorder::default());
    let checker = CertChecker::new(
        &checker_config(2),
        store.clone(),
        sink.clone(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..5 {
        let addr = silent_server(accepted.clone()).await;
        store
            .add_domain(
                &NewCertDomain::new("127.0.0.1").with_port(addr.port()),
                clock.now_ms(),
            )
            .await
            .unwrap();
    }
    let results = checker.tick().await;
    assert_eq!(results.len(), 5);
    for r in &results {
        assert!(!r.is_valid);
        let error = r.error.as_deref().unwrap_or_default();
        assert!(error.contains("timed out"), "{error}");
    }
    // Each check holds its connection for the 1 s handshake timeout, so with
    // max_concurrent = 2 the connections arrive in waves of two about a
    // second apart: never three within half a second, and two at least once.
    let mut at = accepted.lock().unwrap().clone();
    at.sort();
    assert_eq!(at.len(), 5);
    let most = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| t.duration_since(at[i]) < Duration::from_millis(500))
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(
        most, 2,
        "at most max_concurrent checks at once, and that many used: {at:?}"
    );
    // Every result became an is_valid = 0 sample under cert-checker.
    let batches = sink.0.lock().unwrap().clone();
    assert_eq!(batches.len(), 5);
    for b in &batches {
        assert_eq!(b.agent_id, "cert-checker");
        let valid: Vec<f64> = b
            .samples
            .iter()
            .filter(|s| s.metric == "certificate.is_valid")
            .map(|s| s.value)
            .collect();
        assert_eq!(valid, [0.0], "{b:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_due_enabled_domains_are_checked() {
    let clock = ManualClock::new(SystemClock.now_ms());
    let store = Arc::new(MemoryManagementStore::new());
    let sink = Arc::new(Recorder::default());
    let checker = CertChecker::new(
        &checker_config(10),
        store.clone(),
        sink.clone(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let now = clock.now_ms();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let d = store
            .add_domain(
                &NewCertDomain::new("127.0.0.1").with_port(closed_port().await),
                now,
            )
            .await
            .unwrap();
        ids.push(d.id);
    }
    let mut off = NewCertDomain::new("127.0.0.1").with_port(closed_port().await);
    off.enabled = false;
    store.add_domain(&off, now).await.unwrap();
    let hourly = CertDomainUpdate {
        check_interval_secs: Some(Some(3600)),
        ..CertDomainUpdate::default()
    };
    store.update_domain(&ids[0], &hourly, now).await.unwrap();

    let first = checker.tick().await;
    assert_eq!(first.len(), 3, "never checked: due; disabled: not");
    assert!(
        first
            .iter()
            .all(|r| r.error.as_deref().is_some_and(|e| e.contains("refused"))),
        "{first:?}"
    );
    assert!(checker.tick().await.is_empty(), "just checked: not due");
    clock.advance(Duration::from_secs(3600));
    let hourly_only = checker.tick().await;
    assert_eq!(hourly_only.len(), 1);
    assert_eq!(hourly_only[0].domain_id, ids[0]);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(checker.tick().await.len(), 3, "the default interval passed");
    assert_eq!(store.check_history(&ids[0], 10).await.unwrap().len(), 3);
    assert_eq!(store.check_history(&ids[1], 10).await.unwrap().len(), 2);

    // A shorter default interval set while it runs applies to the next tick.
    clock.advance(Duration::from_secs(600));
    assert!(
        checker.tick().await.is_empty(),
        "not due by the old default"
    );
    let mut shorter = checker_config(10);
    shorter.default_interval_secs = 300;
    checker.reconfigure(&shorter).unwrap();
    let due = checker.tick().await;
    assert_eq!(due.len(), 2, "the two on the default interval: {due:?}");
    let mut unreadable = shorter.clone();
    unreadable.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(
        checker.reconfigure(&unreadable).is_err(),
        "an unreadable CA file is refused"
    );
}
