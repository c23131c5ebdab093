//! The certificate scheduler: every tick, probes the enabled domains that
//! are due, at most `max_concurrent` at once; records each result and the
//! certificate's details, and sends [`DAYS_UNTIL_EXPIRY_METRIC`] and
//! [`IS_VALID_METRIC`] samples through the ingest path, so
//! `cert_expiration` rules fire per domain like any other rule.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{CertProber, ProbeOptions, non_global_kind};
use oxmon_core::cert::{CertCheckResult, DAYS_UNTIL_EXPIRY_METRIC, IS_VALID_METRIC};
use oxmon_core::config::CertCheckConfig;
use oxmon_core::manage::{CertDomain, CertStore};
use oxmon_core::sync::{LockExt, RwLockExt};
use oxmon_core::time::secs_to_ms;
use oxmon_core::{BatchHandler, Credentials};
use oxmon_core::{Clock, Labels, MetricBatch, Sample};
use tokio::sync::Semaphore;

/// Why the checker could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cert_check.ca_file {path}: {reason}")]
pub struct CertCheckerError {
    path: String,
    reason: String,
}

/// Checks certificate domains on a schedule and on demand. Cheap to clone;
/// clones share the concurrency limit and the set of checks in flight.
#[derive(Debug, Clone)]
pub struct CertChecker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn CertStore>,
    sink: Arc<dyn BatchHandler>,
    agent_id: String,
    allow_private_targets: bool,
    in_flight: Mutex<HashSet<String>>,
    clock: Arc<dyn Clock>,
    /// What [`CertChecker::reconfigure`] may change; a check under way
    /// keeps the tuning it started with.
    tuning: std::sync::RwLock<Arc<Tuning>>,
}

/// The settings of `[cert_check]` a running checker can change.
#[derive(Debug)]
struct Tuning {
    prober: CertProber,
    default_interval_ms: i64,
    permits: Semaphore,
    enabled: bool,
    tick: Duration,
}

impl Tuning {
    fn new(config: &CertCheckConfig) -> Result<Self, CertCheckerError> {
        Ok(Self {
            prober: prober(config)?,
            default_interval_ms: secs_to_ms(config.default_interval_secs),
            permits: Semaphore::new(config.max_concurrent.max(1)),
            enabled: config.enabled,
            tick: Duration::from_secs(config.tick_secs).max(Duration::from_secs(1)),
        })
    }
}

impl CertChecker {
    /// A checker configured by `[cert_check]`, reading and writing domains
    /// and results in `store` and sending its samples to `sink` (an ingest
    /// that accepts `config.agent_id`).
    ///
    /// # Errors
    /// The extra CA file cannot be read or holds no certificate.
    pub fn new(
        config: &CertCheckConfig,
        store: Arc<dyn CertStore>,
        sink: Arc<dyn BatchHandler>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertCheckerError> {
        let tuning = Tuning::new(config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                sink,
                agent_id: config.agent_id.clone(),
                allow_private_targets: config.allow_private_targets,
                in_flight: Mutex::new(HashSet::new()),
                clock,
                tuning: std::sync::RwLock::new(Arc::new(tuning)),
            }),
        })
    }

    /// Takes the changeable settings of `config` (`enabled`,
    /// `default_interval_secs`, `tick_secs`, `connect_timeout_secs`,
    /// `max_concurrent`; the CA file is read again) for the checks that
    /// start from now on. `agent_id` and `allow_private_targets` stay.
    ///
    /// # Errors
    /// The extra CA file cannot be read; nothing changes.
    pub fn reconfigure(&self, config: &CertCheckConfig) -> Result<(), CertCheckerError> {
        let tuning = Arc::new(Tuning::new(config)?);
        *self.inner.tuning.write_locked() = tuning;
        Ok(())
    }

    fn tuning(&self) -> Arc<Tuning> {
        self.inner.tuning.read_locked().clone()
    }

    /// Checks what [`CertChecker::new`] would check of `config` (the extra
    /// CA file), without building a checker.
    ///
    /// # Errors
    /// The extra CA file cannot be read or holds no certificate.
    pub fn validate(config: &CertCheckConfig) -> Result<(), CertCheckerError> {
        prober(config).map(drop)
    }

    /// The enabled domains due at `now_ms`: never checked, or last checked
    /// at least their interval (their own, else the default) ago.
    ///
    /// # Errors
    /// The store's error.
    pub async fn due(&self, now_ms: i64) -> oxmon_core::Result<Vec<CertDomain>> {
        let store = &self.inner.store;
        let default_interval_ms = self.tuning().default_interval_ms;
        let last: HashMap<String, i64> = store
            .latest_check_results()
            .await?
            .into_iter()
            .map(|r| (r.domain_id, r.checked_at_ms))
            .collect();
        Ok(store
            .all_domains(Some(true))
            .await?
            .into_iter()
            .filter(|d| {
                let interval = d
                    .check_interval_secs
                    .map_or(default_interval_ms, secs_to_ms);
                last.get(&d.id)
                    .is_none_or(|&at| now_ms.saturating_sub(at) >= interval)
            })
            .collect())
    }

    /// One scheduler tick: checks the due domains that are not being
    /// checked already; returns their results.
    pub async fn tick(&self) -> Vec<CertCheckResult> {
        let due = match self.due(self.inner.clock.now_ms()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "certificate scheduler: cannot read the domains");
                return Vec::new();
            }
        };
        let busy = self.inner.in_flight.locked().clone();
        let due: Vec<CertDomain> = due.into_iter().filter(|d| !busy.contains(&d.id)).collect();
        if due.is_empty() {
            return Vec::new();
        }
        tracing::debug!(domains = due.len(), "checking certificates");
        self.check(due).await
    }

    /// Checks these domains now, at most `max_concurrent` at once (shared
    /// with the schedule); records every result and returns them in order.
    pub async fn check(&self, domains: Vec<CertDomain>) -> Vec<CertCheckResult> {
        let mut tasks = Vec::with_capacity(domains.len());
        for domain in domains {
            let this = self.clone();
            tasks.push(tokio::spawn(async move { this.check_one(domain).await }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            match task.await {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "certificate check task failed"),
            }
        }
        results
    }

    async fn check_one(&self, domain: CertDomain) -> CertCheckResult {
        let inner = &self.inner;
        let tuning = self.tuning();
        let _permit = tuning.permits.acquire().await;
        let _guard = InFlight::enter(&inner.in_flight, &domain.id);
        let now_ms = inner.clock.now_ms();
        let report = tuning
            .prober
            .probe(&domain.domain, domain.port, now_ms)
            .await;
        let result = report.check_result(&domain.id);
        match &result.error {
            None => {
                tracing::info!(domain = %domain.domain, port = domain.port, days = ?result.days_until_expiry, "certificate checked");
            }
            Some(why) => {
                tracing::warn!(domain = %domain.domain, port = domain.port, "certificate check: {why}");
            }
        }
        match inner.store.record_check_result(&result).await {
            Ok(()) => {
                if let Some(details) = report.certificate()
                    && let Err(e) = inner.store.upsert_details(details).await
                {
                    tracing::warn!(domain = %domain.domain, error = %e, "cannot store certificate details");
                }
                self.send_samples(&domain, &result).await;
            }
            // Deleted while it was checked: nothing to keep or alert on.
            Err(oxmon_core::Error::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(domain = %domain.domain, error = %e, "cannot store a certificate check result");
            }
        }
        result
    }

    async fn send_samples(&self, domain: &CertDomain, result: &CertCheckResult) {
        let inner = &self.inner;
        let labels = series_labels(domain);
        let at = result.checked_at_ms;
        let mut samples = Vec::with_capacity(2);
        if let Some(days) = result.days_until_expiry {
            samples.push(Sample::new(
                DAYS_UNTIL_EXPIRY_METRIC,
                labels.clone(),
                at,
                days,
            ));
        }
        samples.push(Sample::new(
            IS_VALID_METRIC,
            labels,
            at,
            if result.is_valid { 1.0 } else { 0.0 },
        ));
        let batch = MetricBatch {
            agent_id: inner.agent_id.clone(),
            batch_id: Some(format!("cert-{}-{at}", domain.id)),
            timestamp_ms: at,
            samples,
        };
        let credentials = Credentials {
            agent_id: Some(inner.agent_id.clone()),
            token: None,
        };
        if let Err(e) = inner.sink.handle(credentials, batch).await {
            tracing::warn!(domain = %domain.domain, error = %e, "certificate samples were not stored");
        }
    }

    /// Runs the schedule: a tick at once, then every `tick_secs` until
    /// `stop` completes, skipping ticks while `enabled` is false; both as
    /// [`CertChecker::reconfigure`] last set them. Checks in flight finish
    /// before it returns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut tick = self.tuning().tick;
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = interval.tick() => {
                    let tuning = self.tuning();
                    if tuning.tick != tick {
                        tick = tuning.tick;
                        interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                    if !tuning.enabled {
                        continue;
                    }
                    tokio::select! {
                        () = &mut stop => return,
                        _ = self.tick() => {}
                    }
                }
            }
        }
    }
}

impl CertChecker {
    /// Why this checker would never check `domain` whatever it resolves to,
    /// or `None`. With `allow_private_targets = false`: an IP address
    /// outside the global unicast ranges. Names are judged at each check,
    /// after resolution.
    pub fn refuse_target(&self, domain: &str) -> Option<String> {
        if self.inner.allow_private_targets {
            return None;
        }
        let ip: IpAddr = domain.parse().ok()?;
        let kind = non_global_kind(ip)?;
        Some(format!(
            "{ip} is a {kind} address, and this server does not check private targets ([cert_check] allow_private_targets = false)"
        ))
    }
}

/// Marks a domain as being checked for as long as it lives.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> InFlight<'a> {
    fn enter(set: &'a Mutex<HashSet<String>>, id: &str) -> Self {
        set.locked().insert(id.to_owned());
        Self {
            set,
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.locked().remove(&self.id);
    }
}

/// The probe `[cert_check]` describes: its connect timeout, the bundled web
/// roots and the extra CA file, if any.
///
/// # Errors
/// The extra CA file cannot be read or holds no certificate.
fn prober(config: &CertCheckConfig) -> Result<CertProber, CertCheckerError> {
    let error = |reason: String| CertCheckerError {
        path: config
            .ca_file
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string()),
        reason,
    };
    let extra_ca_pem = match &config.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| error(e.to_string()))?),
        None => None,
    };
    CertProber::new(ProbeOptions {
        connect_timeout: Duration::from_secs(config.connect_timeout_secs),
        extra_ca_pem,
        allow_private_targets: config.allow_private_targets,
    })
    .map_err(|e| error(e.to_string()))
}

/// The labels of a domain's series: `domain`, plus `port` when it is not 443
/// (so two ports of one name are two series).
fn series_labels(domain: &CertDomain) -> Labels {
    let labels = Labels::new().with("domain", domain.domain.as_str());
    if domain.port == oxmon_core::cert::DEFAULT_CERT_PORT {
        labels
    } else {
        labels.with("port", domain.port.to_string())
    }
}
