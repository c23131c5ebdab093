//! The server's ingest path: authenticate, validate, store, acknowledge.
//!
//! [`Ingest`] is the [`BatchHandler`] behind every transport (gRPC and
//! in-process), so both enforce the same rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use oxmon_core::config::validate_agent_id;
use oxmon_core::manage::WhitelistStore;
use oxmon_core::sync::RwLockExt;
use oxmon_core::text::untrusted;
use oxmon_core::token::verify_token_hash;
use oxmon_core::validate::{SampleLimits, check_sample, sample_error};
use oxmon_core::{
    Ack, AppendOutcome, BatchHandler, Clock, Credentials, DAY_MS, Error, MetricBatch, MetricStore,
    TransportError, TransportErrorKind,
};

/// Limits on what one batch may carry. Defaults suit agents that send a
/// collection (about 60 to 200 samples) every few seconds, with room for a
/// buffered backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Most samples in one batch (more: `RESOURCE_EXHAUSTED`). Default 10,000.
    pub max_samples: usize,
    /// How large each sample's names may be (a sample over them:
    /// `INVALID_ARGUMENT` for the batch).
    pub sample: SampleLimits,
    /// Samples further than this in the future are refused one by one. Default 10 min.
    pub max_future_ms: i64,
    /// Samples older than this are refused one by one (the retention period).
    /// Default 7 days.
    pub max_age_ms: i64,
}

impl IngestLimits {
    /// The limits `server.toml` sets: `[ingest]`, and `retention_days` as
    /// the oldest accepted sample.
    pub fn from_config(config: &oxmon_core::config::ServerConfig) -> Self {
        let i = &config.ingest;
        Self {
            max_samples: i.max_samples_per_batch,
            sample: SampleLimits::new(
                i.max_metric_name_len,
                i.max_labels,
                i.max_label_name_len,
                i.max_label_value_len,
            ),
            max_future_ms: oxmon_core::time::secs_to_ms(i.max_future_secs),
            max_age_ms: i64::from(config.retention_days) * DAY_MS,
        }
    }
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_samples: 10_000,
            sample: SampleLimits::default(),
            max_future_ms: 10 * 60_000,
            max_age_ms: 7 * DAY_MS,
        }
    }
}

/// Told about every batch once it is stored (the alert engine's feed).
///
/// Bounded: ingest takes a place with [`IngestObserver::reserve`] before it
/// stores a batch, and refuses the batch with `Unavailable` when there is
/// none (the agent keeps it and retries), so a slow observer slows ingest
/// down instead of growing a queue.
pub trait IngestObserver: Send + Sync + std::fmt::Debug {
    /// A place for one stored batch, or `None` when the observer is behind.
    /// Must not block: ingest calls it on the request path. A place that is
    /// dropped unused (the batch was a duplicate or the store refused it)
    /// is given back.
    fn reserve(&self) -> Option<ObserverSlot>;
}

/// A place reserved in an [`IngestObserver`]'s queue: ingest hands the
/// stored batch to it. Nothing is copied on the way to the alert engine.
pub struct ObserverSlot(Box<dyn FnOnce(MetricBatch) + Send>);

impl ObserverSlot {
    /// A place that delivers the batch with `deliver`.
    pub fn new(deliver: impl FnOnce(MetricBatch) + Send + 'static) -> Self {
        Self(Box::new(deliver))
    }

    /// Hands over the stored batch.
    pub fn deliver(self, batch: MetricBatch) {
        (self.0)(batch);
    }
}

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObserverSlot")
    }
}

/// The ingest path. See the module docs.
///
/// - With a whitelist (the server's `require_agent_auth = true`), the
///   `agent-id` credential must name a whitelisted agent and the bearer token
///   must match its stored hash (constant-time), else `Unauthenticated`.
/// - A credential agent id that differs from the batch's agent id is
///   `PermissionDenied`, whether or not auth is required.
/// - Every sample is filed under the batch's agent id.
/// - Empty agent id, empty batch, bad names and labels are `InvalidArgument`;
///   too many samples `ResourceExhausted`; samples too far in the future or
///   older than retention are dropped one by one and counted in the ack.
/// - The ack comes only after the store committed the batch; a store that
///   cannot write now gives `Unavailable` (the agent keeps the batch).
#[derive(Debug)]
pub struct Ingest {
    store: Arc<dyn MetricStore>,
    whitelist: Option<Arc<dyn WhitelistStore>>,
    /// Whether the whitelist is checked now (`require_agent_auth`).
    auth_required: std::sync::atomic::AtomicBool,
    clock: Arc<dyn Clock>,
    limits: IngestLimits,
    observer: Option<Arc<dyn IngestObserver>>,
    last_seen: RwLock<HashMap<String, i64>>,
    counters: Counters,
}

/// Refusal reasons counted by [`IngestStats::refused`], in this order.
pub const REFUSAL_KINDS: [&str; 8] = [
    "invalid_argument",
    "unauthenticated",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "unavailable",
    "timeout",
    "internal",
];

fn refusal_index(kind: TransportErrorKind) -> usize {
    match kind {
        TransportErrorKind::InvalidArgument => 0,
        TransportErrorKind::Unauthenticated => 1,
        TransportErrorKind::PermissionDenied => 2,
        TransportErrorKind::ResourceExhausted => 3,
        TransportErrorKind::FailedPrecondition => 4,
        TransportErrorKind::Unavailable => 5,
        TransportErrorKind::Timeout => 6,
        _ => 7,
    }
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    samples: AtomicU64,
    duplicates: AtomicU64,
    rejected_samples: AtomicU64,
    refused: [AtomicU64; 8],
}

/// What an [`Ingest`] has done since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestStats {
    /// Batches stored.
    pub batches_stored: u64,
    /// Samples stored.
    pub samples_stored: u64,
    /// Re-sent batches acknowledged without storing.
    pub duplicates: u64,
    /// Samples refused one by one (out of the accepted time range).
    pub rejected_samples: u64,
    /// Batches refused, per reason, in the order of [`REFUSAL_KINDS`].
    pub refused: [u64; 8],
}

impl Ingest {
    /// An ingest path into `store`. `whitelist: Some(..)` requires agent auth.
    pub fn new(
        store: Arc<dyn MetricStore>,
        whitelist: Option<Arc<dyn WhitelistStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            auth_required: std::sync::atomic::AtomicBool::new(whitelist.is_some()),
            whitelist,
            clock,
            limits: IngestLimits::default(),
            observer: None,
            last_seen: RwLock::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: IngestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the observer told about stored batches.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn IngestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Turns the whitelist check on or off for the next batch
    /// (`require_agent_auth` changed while the server runs). Returns
    /// whether it is now as asked: without a whitelist it stays off.
    pub fn set_auth_required(&self, required: bool) -> bool {
        let on = required && self.whitelist.is_some();
        self.auth_required
            .store(on, std::sync::atomic::Ordering::Relaxed);
        on == required
    }

    /// Whether the whitelist is checked now.
    pub fn auth_required(&self) -> bool {
        self.auth_required
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When each agent last reported (server time, ms), for liveness.
    pub fn last_seen(&self) -> HashMap<String, i64> {
        self.last_seen.read_locked().clone()
    }

    /// The whitelist check of the credentials alone (see
    /// [`BatchHandler::authenticate`]).
    async fn check_credentials(&self, credentials: &Credentials) -> Result<(), TransportError> {
        let Some(whitelist) = self.whitelist.as_ref().filter(|_| self.auth_required()) else {
            return Ok(());
        };
        let unauthenticated = |m: &str| denied(TransportErrorKind::Unauthenticated, m.to_owned());
        let Some(claimed) = credentials.agent_id.as_deref() else {
            return Err(unauthenticated("missing agent-id metadata"));
        };
        if validate_agent_id(claimed).is_err() {
            return Err(unauthenticated("unknown agent or wrong token"));
        }
        let Some(token) = &credentials.token else {
            return Err(unauthenticated("missing bearer token"));
        };
        let entry = match whitelist.get_agent(claimed).await {
            Ok(Some(e)) => e,
            Ok(None) => return Err(unauthenticated("unknown agent or wrong token")),
            Err(e) => {
                return Err(TransportError::new(
                    TransportErrorKind::Unavailable,
                    format!("whitelist unavailable: {e}"),
                ));
            }
        };
        if !verify_token_hash(token.expose(), &entry.token_hash) {
            // Same message as an unknown agent: do not reveal which agents exist.
            return Err(unauthenticated("unknown agent or wrong token"));
        }
        Ok(())
    }

    /// The claimed agent must be the batch's agent, then the whitelist check.
    async fn authenticate_batch(
        &self,
        credentials: &Credentials,
        batch: &MetricBatch,
    ) -> Result<(), TransportError> {
        if let Some(claimed) = credentials.agent_id.as_deref()
            && claimed != batch.agent_id
        {
            return Err(denied(
                TransportErrorKind::PermissionDenied,
                "the agent-id metadata differs from the batch's agent id".to_owned(),
            ));
        }
        self.check_credentials(credentials).await
    }

    /// Structural checks; returns the batch with out-of-range samples removed
    /// and how many were removed.
    fn validate(&self, mut batch: MetricBatch) -> Result<(MetricBatch, u64), TransportError> {
        let invalid = |m: String| TransportError::new(TransportErrorKind::InvalidArgument, m);
        if batch.samples.is_empty() {
            return Err(invalid("empty batch".into()));
        }
        let l = &self.limits;
        if batch.samples.len() > l.max_samples {
            return Err(TransportError::new(
                TransportErrorKind::ResourceExhausted,
                format!(
                    "{} samples in one batch, at most {} allowed",
                    batch.samples.len(),
                    l.max_samples
                ),
            ));
        }
        for (i, s) in batch.samples.iter().enumerate() {
            if let Some(problem) = check_sample(s, &l.sample) {
                return Err(invalid(sample_error(i, s, &problem)));
            }
        }
        let now = self.clock.now_ms();
        let before = batch.samples.len();
        batch.samples.retain(|s| {
            s.timestamp_ms <= now + l.max_future_ms && s.timestamp_ms >= now - l.max_age_ms
        });
        let rejected = (before - batch.samples.len()) as u64;
        Ok((batch, rejected))
    }
}

/// Logs a refused batch with the claimed agent id escaped and cut short.
fn log_refusal(agent: &str, e: &TransportError) {
    tracing::warn!(agent = %untrusted(agent), kind = ?e.kind, "batch refused: {}", e.message);
}

fn denied(kind: TransportErrorKind, message: String) -> TransportError {
    TransportError::new(kind, message)
}

#[async_trait]
impl BatchHandler for Ingest {
    async fn authenticate(&self, credentials: &Credentials) -> Result<(), TransportError> {
        let result = self.check_credentials(credentials).await;
        if let Err(e) = &result {
            self.counters.refused[refusal_index(e.kind)].fetch_add(1, Ordering::Relaxed);
            log_refusal(credentials.agent_id.as_deref().unwrap_or(""), e);
        }
        result
    }

    async fn handle(
        &self,
        credentials: Credentials,
        batch: MetricBatch,
    ) -> Result<Ack, TransportError> {
        let result = self.ingest(credentials, batch).await;
        let c = &self.counters;
        match &result {
            Ok(ack) if ack.duplicate => {
                c.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                c.refused[refusal_index(e.kind)].fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Ok(ack) = &result {
            c.rejected_samples
                .fetch_add(ack.rejected_samples, Ordering::Relaxed);
        }
        result
    }
}

impl Ingest {
    /// Counters since this ingest path was built.
    pub fn stats(&self) -> IngestStats {
        let c = &self.counters;
        IngestStats {
            batches_stored: c.batches.load(Ordering::Relaxed),
            samples_stored: c.samples.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            rejected_samples: c.rejected_samples.load(Ordering::Relaxed),
            refused: std::array::from_fn(|i| c.refused[i].load(Ordering::Relaxed)),
        }
    }

    async fn ingest(
        &self,
        credentials: Credentials,
        batch: MetricBatch,
    ) -> Result<Ack, TransportError> {
        // The agent id first: nothing a client sent is logged before it
        // is known to be a valid id (and even then it is escaped).
        if let Err(problem) = validate_agent_id(&batch.agent_id) {
            return Err(TransportError::new(
                TransportErrorKind::InvalidArgument,
                format!("agent id: {problem}"),
            ));
        }
        self.authenticate_batch(&credentials, &batch)
            .await
            .inspect_err(|e| log_refusal(&batch.agent_id, e))?;
        let (batch, rejected) = self.validate(batch)?;
        let slot = match &self.observer {
            Some(o) => Some(o.reserve().ok_or_else(|| {
                TransportError::new(
                    TransportErrorKind::Unavailable,
                    "the alert engine is behind; retry later",
                )
            })?),
            None => None,
        };
        self.last_seen
            .write_locked()
            .insert(batch.agent_id.clone(), self.clock.now_ms());
        if batch.samples.is_empty() {
            return Ok(Ack {
                duplicate: false,
                rejected_samples: rejected,
                message: format!("all {rejected} samples out of the accepted time range"),
            });
        }
        let outcome = self.store.append(&batch).await.map_err(|e| match e {
            Error::InvalidInput(m) => TransportError::new(TransportErrorKind::InvalidArgument, m),
            Error::ResourceExhausted(m) => {
                TransportError::new(TransportErrorKind::ResourceExhausted, m)
            }
            e if e.is_retryable() => {
                TransportError::new(TransportErrorKind::Unavailable, format!("storage: {e}"))
            }
            e => TransportError::new(
                TransportErrorKind::FailedPrecondition,
                format!("storage cannot take this batch: {e}"),
            ),
        })?;
        match outcome {
            AppendOutcome::Duplicate => Ok(Ack {
                duplicate: true,
                rejected_samples: rejected,
                message: "duplicate batch, already stored".into(),
            }),
            AppendOutcome::Stored { samples } => {
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .samples
                    .fetch_add(samples as u64, Ordering::Relaxed);
                let message = if rejected > 0 {
                    format!(
                        "stored {samples} samples, rejected {rejected} outside the accepted time range"
                    )
                } else {
                    format!("stored {samples} samples")
                };
                if let Some(slot) = slot {
                    slot.deliver(batch);
                }
                Ok(Ack {
                    duplicate: false,
                    rejected_samples: rejected,
                    message,
                })
            }
        }
    }
}
