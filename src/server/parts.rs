//! The parts the server runs besides the crates' own: adapters from one
//! crate's type to another's trait, and the server's background tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use oxmon_alert::{ActiveAlert, AlertEngine};
use oxmon_collector::cert::CertChecker;
use oxmon_core::config::ServerConfig;
use oxmon_core::manage::{CertCheckResult, CertDomain, WhitelistStore};
use oxmon_core::sync::LockExt;
use oxmon_core::{AlertEvent, AlertStatus, Clock, DAY_MS, MetricStore, Severity};
use oxmon_notify::Notifier;
use oxmon_storage::{SqliteOptions, SqliteStore};
use oxmon_transport::net::{LimitedListener, LimitedStream};
use oxmon_transport::{IngestObserver, ObserverSlot};
use tokio::sync::{mpsc, oneshot, watch};

use super::rules::AlertInput;
use super::{ServerError, status};

/// What is firing now (`GET /v1/alerts/active`), and taking it on: an
/// acknowledgement changes the engine at once, a resolution by hand goes
/// through the alert task so its event is stored and notified in order.
#[derive(Debug)]
pub(super) struct EngineAlerts {
    pub(super) engine: Arc<std::sync::Mutex<AlertEngine>>,
    pub(super) alerts: mpsc::Sender<AlertInput>,
    pub(super) clock: Arc<dyn Clock>,
}

fn view(a: ActiveAlert) -> oxmon_http::ActiveAlertView {
    let (acknowledged_by, acknowledged_at) = match a.acknowledged {
        Some((by, at)) => (Some(by), Some(oxmon_http::rfc3339(at))),
        None => (None, None),
    };
    oxmon_http::ActiveAlertView {
        id: a.id,
        rule: a.rule,
        agent_id: a.series.agent_id,
        metric: a.series.metric,
        labels: a.series.labels,
        severity: a.severity,
        since: oxmon_http::rfc3339(a.since_ms),
        value: a.value,
        message: a.message,
        acknowledged_by,
        acknowledged_at,
        inhibited_by: a.inhibited_by,
    }
}

fn no_alert(id: &str) -> oxmon_core::Error {
    oxmon_core::Error::NotFound(format!("no alert `{}` fires", id.escape_debug()))
}

#[async_trait::async_trait]
impl oxmon_http::ActiveAlerts for EngineAlerts {
    fn active(&self) -> Vec<oxmon_http::ActiveAlertView> {
        let active = self.engine.locked().active();
        active.into_iter().map(view).collect()
    }

    async fn acknowledge(
        &self,
        id: &str,
        by: &str,
    ) -> oxmon_core::Result<oxmon_http::ActiveAlertView> {
        let now = self.clock.now_ms();
        let acked = self.engine.locked().acknowledge(id, by, now);
        acked.map(view).ok_or_else(|| no_alert(id))
    }

    async fn resolve(&self, id: &str, by: &str) -> oxmon_core::Result<()> {
        let (done, resolved) = oneshot::channel();
        let stopped = || oxmon_core::Error::unavailable("the alert engine has stopped");
        self.alerts
            .send(AlertInput::Resolve {
                id: id.to_owned(),
                by: by.to_owned(),
                done,
            })
            .await
            .map_err(|_| stopped())?;
        if resolved.await.map_err(|_| stopped())? {
            Ok(())
        } else {
            Err(no_alert(id))
        }
    }
}

/// Feeds stored batches to the alert task without blocking ingest. The
/// queue is bounded: when the engine is behind, ingest refuses batches with
/// UNAVAILABLE (agents keep them) instead of queueing without end.
#[derive(Debug)]
pub(super) struct AlertFeed(pub(super) mpsc::Sender<AlertInput>);

impl IngestObserver for AlertFeed {
    fn reserve(&self) -> Option<ObserverSlot> {
        let permit = self.0.clone().try_reserve_owned().ok()?;
        Some(ObserverSlot::new(move |batch| {
            permit.send(AlertInput::Batch(batch));
        }))
    }
}

/// The REST API's listener: the same connection limits as gRPC's.
#[derive(Debug)]
pub(super) struct RestListener(pub(super) LimitedListener);

impl axum::serve::Listener for RestListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.0.accept().await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Opens the SQLite metric store in `data_dir` as `config` says.
pub(super) async fn open_sqlite(
    config: &ServerConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<SqliteStore>, ServerError> {
    let dir = config.data_dir.clone();
    let store_options = SqliteOptions::from_config(config, clock);
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(dir, store_options))
        .await
        .map_err(|e| oxmon_core::Error::unavailable_from(e.to_string(), e))??;
    for broken in store.broken_partitions() {
        tracing::error!("{broken}");
    }
    Ok(Arc::new(store))
}

/// A writer per `[[remote_write]]` destination (`--check-config` builds
/// them too: bad globs, unreadable CA files).
pub(super) fn remote_writers(
    config: &ServerConfig,
) -> Result<Vec<oxmon_transport::remote_write::RemoteWriter>, ServerError> {
    config
        .remote_write
        .iter()
        .enumerate()
        .map(|(i, rw)| {
            oxmon_transport::remote_write::RemoteWriter::from_config(rw, "server.toml", i)
                .map_err(ServerError::Config)
        })
        .collect()
}

/// Starts the remote writers on `store`, which must keep a change log for
/// each (the SQLite store the server opens does; a store given to the
/// builder must too). Returns each destination's counters.
pub(super) async fn start_remote_writers(
    config: &ServerConfig,
    store: &Arc<dyn MetricStore>,
    clock: &Arc<dyn Clock>,
    stopped: &watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Vec<(String, Arc<oxmon_transport::remote_write::RemoteWriteStats>)>, ServerError> {
    let mut stats = Vec::new();
    for writer in remote_writers(config)? {
        store.change_cursor(writer.name()).await.map_err(|e| {
            ServerError::Storage(oxmon_core::Error::InvalidInput(format!(
                "remote_write {:?}: the metric store keeps no change log for it ({e})",
                writer.name()
            )))
        })?;
        stats.push((writer.name().to_owned(), writer.stats()));
        tracing::info!(destination = %writer.name(), "remote write started");
        let mut rx = stopped.clone();
        tasks.push(tokio::spawn(writer.run(
            store.clone(),
            clock.clone(),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
    }
    Ok(stats)
}

/// Applies `retention_days` (as it is now) once an hour to a store the
/// server did not open (the SQLite store applies it itself).
pub(super) async fn retention_task(
    store: Arc<dyn MetricStore>,
    retention_days: Arc<std::sync::atomic::AtomicU32>,
    clock: Arc<dyn Clock>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let days = retention_days.load(std::sync::atomic::Ordering::Relaxed);
        let cutoff = clock.now_ms() - i64::from(days) * DAY_MS;
        match store.apply_retention(cutoff).await {
            Ok(report) => tracing::debug!(?report, "retention applied"),
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
    }
}

/// How often absence rules are judged.
const ALERT_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the whitelist is read again for absence rules, in ticks.
const WHITELIST_EVERY_TICKS: u64 = 5;

/// The alert engine's task: batches as they are stored (at their arrival
/// on the server's clock), rule changes and resolutions by hand in order,
/// and a tick a second for absence rules.
pub(super) struct AlertTask {
    pub(super) counters: Arc<status::AlertCounters>,
    pub(super) engine: Arc<std::sync::Mutex<AlertEngine>>,
    pub(super) inputs: mpsc::Receiver<AlertInput>,
    pub(super) store: Arc<dyn MetricStore>,
    pub(super) whitelist: Arc<dyn WhitelistStore>,
    pub(super) notifier: Notifier,
    pub(super) clock: Arc<dyn Clock>,
}

/// Tells the engine which agents the whitelist expects.
async fn expect_whitelisted(
    engine: &std::sync::Mutex<AlertEngine>,
    whitelist: &dyn WhitelistStore,
) {
    match whitelist.list_agents().await {
        Ok(entries) => engine.locked().set_expected_agents(
            entries
                .iter()
                .map(|e| (e.agent_id.as_str(), e.created_at_ms)),
        ),
        Err(e) => tracing::warn!(error = %e, "could not read the whitelist for absence rules"),
    }
}

pub(super) async fn alert_task(task: AlertTask) {
    let AlertTask {
        counters,
        engine,
        mut inputs,
        store,
        whitelist,
        notifier,
        clock,
    } = task;
    let mut events = Vec::new();
    // What storage knows of every agent's last report, so a server that
    // restarts still sees an agent that went silent before.
    match store.agents().await {
        Ok(agents) => {
            let mut engine = engine.locked();
            for a in agents {
                engine.agent_seen(&a.agent_id, a.last_seen_ms, &mut events);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the agents for absence rules"),
    }
    expect_whitelisted(&engine, whitelist.as_ref()).await;
    let mut ticks = tokio::time::interval(ALERT_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut count: u64 = 0;
    loop {
        let input = tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => input,
                None => break,
            },
            _ = ticks.tick() => {
                count += 1;
                // Only absence rules need the whitelist.
                if count.is_multiple_of(WHITELIST_EVERY_TICKS) && engine.locked().needs_ticks() {
                    expect_whitelisted(&engine, whitelist.as_ref()).await;
                }
                let now = clock.now_ms();
                let notify = {
                    let mut engine = engine.locked();
                    engine.tick(now, &mut events);
                    // Also what an inhibition that lifted lets through.
                    engine.notifiable(&events, now)
                };
                handle_events(&counters, &mut events, notify, store.as_ref(), &notifier).await;
                continue;
            }
        };
        // The answer to a request, sent once its events are stored and
        // handed to the notifier.
        let mut answer: Option<Box<dyn FnOnce() + Send>> = None;
        match input {
            AlertInput::Batch(batch) => {
                let arrived = clock.now_ms();
                engine
                    .locked()
                    .observe_batch_at(&batch, arrived, &mut events);
            }
            AlertInput::Rules { rules, applied } => {
                let at = clock.now_ms();
                if let Err(e) = engine.locked().replace_rules(rules, at, &mut events) {
                    tracing::error!(error = %e, "the new alert rules could not be applied");
                }
                answer = Some(Box::new(move || {
                    let _ = applied.send(());
                }));
            }
            AlertInput::Resolve { id, by, done } => {
                let at = clock.now_ms();
                let found = engine.locked().resolve_by_hand(&id, &by, at, &mut events);
                answer = Some(Box::new(move || {
                    let _ = done.send(found);
                }));
            }
        }
        if !events.is_empty() {
            let notify = engine.locked().notifiable(&events, clock.now_ms());
            handle_events(&counters, &mut events, notify, store.as_ref(), &notifier).await;
        }
        if let Some(answer) = answer {
            answer();
        }
    }
    // Ingest is gone: send what waits for its aggregation window now.
    notifier.flush().await;
}

/// Counts, logs and stores the engine's events and hands `notify` (those
/// of them not inhibited, and alerts whose inhibition lifted) to the
/// notifier; leaves `events` empty.
async fn handle_events(
    counters: &status::AlertCounters,
    events: &mut Vec<AlertEvent>,
    notify: Vec<AlertEvent>,
    store: &dyn MetricStore,
    notifier: &Notifier,
) {
    for e in events.iter() {
        let counter = match e.status {
            AlertStatus::Firing => &counters.fired,
            AlertStatus::Resolved => &counters.resolved,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match (e.status, e.severity) {
            (AlertStatus::Firing, Severity::Critical) => {
                tracing::error!(rule = %e.rule, series = %e.series, "{}", e.message);
            }
            (AlertStatus::Firing, _) => {
                tracing::warn!(rule = %e.rule, series = %e.series, "{}", e.message);
            }
            (AlertStatus::Resolved, _) => {
                tracing::info!(rule = %e.rule, series = %e.series, "resolved: {}", e.message);
            }
        }
    }
    if !events.is_empty()
        && let Err(err) = store.insert_alert_events(events).await
    {
        tracing::error!(error = %err, "could not store alert events");
    }
    events.clear();
    for e in notify {
        notifier.notify(e).await;
    }
}

/// The certificate scheduler as the REST API's on-demand checker.
#[derive(Debug)]
pub(super) struct HttpCertChecks(pub(super) CertChecker);

#[async_trait::async_trait]
impl oxmon_http::CertChecks for HttpCertChecks {
    async fn check_now(&self, domains: Vec<CertDomain>) -> Vec<CertCheckResult> {
        self.0.check(domains).await
    }

    fn refuse_target(&self, domain: &str) -> Option<String> {
        self.0.refuse_target(domain)
    }
}
