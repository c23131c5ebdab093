//! The agent runtime: collects on a fixed schedule, buffers through server
//! outages, sends in order.
//!
//! ```text
//! tick every collection_interval_secs (fixed schedule, missed ticks skipped)
//!   -> collectors on the blocking pool -> one MetricBatch (unique batch id, one timestamp)
//!   -> BatchBuffer (at most buffer_max_size batches, the oldest dropped and counted)
//!   -> send task: one batch at a time, oldest first, with a request timeout
//!        acknowledged          -> removed, never sent again
//!        rejected permanently  -> dropped and logged (never re-sent forever)
//!        retryable failure     -> kept first in line; exponential backoff with jitter (capped)
//! shutdown -> stop collecting, flush for a grace period, return the counters
//! ```
//!
//! Sending never delays collection: a hung server only fills the buffer.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxmon::agent::{Agent, shutdown_signal};
//! use oxmon::collector::{CollectorOptions, default_collectors};
//! use oxmon::core::{SystemClock, Transport};
//!
//! # async fn demo(transport: Arc<dyn Transport>) {
//! let config = oxmon::AgentConfig::default();
//! let collectors = default_collectors(&CollectorOptions::default());
//! let agent = Agent::new(&config, collectors, transport, Arc::new(SystemClock));
//! let stats = agent.run(shutdown_signal()).await;
//! println!("{stats}");
//! # }
//! ```

mod buffer;
pub mod cli;
mod collect;
mod once;
mod pack;
mod sender;
mod signal;
mod stats;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use oxmon_core::config::AgentConfig;
use oxmon_core::{Clock, Collector, MetricBatch, Transport};
use tokio::sync::{Notify, watch};

pub use buffer::BatchBuffer;
pub use collect::{CollectFailure, run_collectors};
pub use once::{collect_once, write_json_lines};
pub use signal::shutdown_signal;
pub use stats::{AgentStats, StatsHandle};

use collect::{BatchIds, CollectLoop};
use sender::{SendSettings, send_loop};
use stats::Counters;

/// Runtime settings that are not part of `agent.toml`. The defaults suit
/// production.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentOptions {
    /// Longest wait for the server's answer to one batch. Default 10 s.
    pub request_timeout: Duration,
    /// First retry delay after a failed send. Default 1 s.
    pub backoff_min: Duration,
    /// Longest retry delay while the server stays down. Default 60 s.
    pub backoff_max: Duration,
    /// How long shutdown keeps trying to send the buffer. Default 5 s.
    pub shutdown_grace: Duration,
    /// Log the counters every this many collections (0: never, only at
    /// shutdown). Default 60 (every 10 minutes at the default interval).
    pub stats_log_every: u64,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            stats_log_every: 60,
        }
    }
}

/// State shared by the collection loop and the send task.
#[derive(Debug)]
pub(crate) struct Shared {
    buffer: Mutex<BatchBuffer>,
    /// Woken when a batch is buffered.
    wake: Notify,
    counters: Arc<Counters>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BatchBuffer> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Buffers the newest batch, dropping (and logging) the oldest when full.
    fn push(&self, batch: MetricBatch) {
        let (evicted, len, capacity) = {
            let mut b = self.lock();
            let evicted = b.push(batch);
            (evicted, b.len(), b.capacity())
        };
        // `buffered` also counts a batch in flight: one more than the queue
        // while a send is under way, corrected when it ends.
        Counters::set(&self.counters.buffered, len as u64);
        if let Some(old) = evicted {
            Counters::add(&self.counters.dropped, 1);
            tracing::warn!(
                batch_id = old.batch_id.as_deref().unwrap_or("-"),
                samples = old.samples.len(),
                buffer_max_size = capacity,
                dropped_total = self.counters.snapshot().dropped,
                "buffer full: dropped the oldest batch"
            );
        }
        self.wake.notify_one();
    }

    /// Takes the oldest batch for sending.
    fn pop(&self) -> Option<MetricBatch> {
        let mut b = self.lock();
        let batch = b.pop()?;
        Counters::set(&self.counters.buffered, b.len() as u64 + 1);
        Some(batch)
    }

    /// A send ended for good (acknowledged or rejected).
    fn done(&self) {
        let len = self.lock().len();
        Counters::set(&self.counters.buffered, len as u64);
    }

    /// A send failed in a retryable way: the batch goes back first in line,
    /// unless the buffer filled up meanwhile (then it is the oldest, dropped).
    fn requeue(&self, batch: MetricBatch) {
        let (dropped, len) = {
            let mut b = self.lock();
            let dropped = b.requeue(batch);
            (dropped, b.len())
        };
        Counters::set(&self.counters.buffered, len as u64);
        if let Some(old) = dropped {
            Counters::add(&self.counters.dropped, 1);
            tracing::warn!(
                batch_id = old.batch_id.as_deref().unwrap_or("-"),
                "buffer full: dropped the oldest batch"
            );
        }
    }

    fn buffered(&self) -> usize {
        self.lock().len()
    }
}

/// An embeddable agent: the collectors, a transport and a clock, run on a
/// fixed schedule until a shutdown future completes.
#[derive(Debug)]
pub struct Agent {
    agent_id: String,
    interval: Duration,
    collectors: Vec<Box<dyn Collector>>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    options: AgentOptions,
    shared: Arc<Shared>,
}

impl Agent {
    /// An agent as `config` describes it (agent id, or else the host name;
    /// `collection_interval_secs`; `buffer_max_size`), with default
    /// [`AgentOptions`]. Timestamps come from `clock`.
    pub fn new(
        config: &AgentConfig,
        collectors: Vec<Box<dyn Collector>>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let host = oxmon_collector::host_name().unwrap_or_else(|| "localhost".to_owned());
        Self {
            agent_id: config.agent_id_or(&host),
            interval: Duration::from_secs(config.collection_interval_secs.max(1)),
            collectors,
            transport,
            clock,
            options: AgentOptions::default(),
            shared: Arc::new(Shared {
                buffer: Mutex::new(BatchBuffer::new(config.buffer_max_size)),
                wake: Notify::new(),
                counters: Arc::new(Counters::default()),
            }),
        }
    }

    /// Replaces the runtime settings.
    #[must_use]
    pub fn with_options(mut self, options: AgentOptions) -> Self {
        self.options = options;
        self
    }

    /// The id put on every batch.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The counters now.
    pub fn stats(&self) -> AgentStats {
        self.shared.counters.snapshot()
    }

    /// A handle to read the counters while [`Agent::run`] owns the agent.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.shared.counters.clone())
    }

    /// Runs until `shutdown` completes: collects every interval (the first
    /// collection right away), sends in the background, then stops
    /// collecting, tries to send what is buffered for
    /// [`AgentOptions::shutdown_grace`], logs and returns the counters.
    /// Batches still buffered after the grace period are lost (and counted
    /// in the returned `buffered`).
    ///
    /// Must run inside a Tokio runtime (collections use its blocking pool).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> AgentStats {
        let Agent {
            agent_id,
            interval,
            collectors,
            transport,
            clock,
            options,
            shared,
        } = self;
        tracing::info!(
            agent_id = %agent_id,
            interval = ?interval,
            collectors = collectors.len(),
            "agent started"
        );
        let (drain_tx, drain_rx) = watch::channel(false);
        let settings = SendSettings {
            request_timeout: options.request_timeout,
            backoff_min: options.backoff_min,
            backoff_max: options.backoff_max,
        };
        let mut sender = tokio::spawn(send_loop(shared.clone(), transport, settings, drain_rx));
        let ids = BatchIds::new(&agent_id, clock.now_ms());
        let collect = CollectLoop {
            agent_id,
            interval,
            clock,
            shared: shared.clone(),
            ids,
            stats_log_every: options.stats_log_every,
        };
        let grace = options.shutdown_grace;
        collect
            .run(collectors, shutdown, grace.min(Duration::from_secs(1)))
            .await;
        let _ = drain_tx.send(true);
        match tokio::time::timeout(grace, &mut sender).await {
            Ok(_) => tracing::info!("buffer flushed"),
            Err(_) => {
                sender.abort();
                tracing::warn!(
                    unsent = shared.counters.snapshot().buffered,
                    grace = ?grace,
                    "shutdown grace period over; unsent batches are lost"
                );
            }
        }
        let stats = shared.counters.snapshot();
        tracing::info!(stats = %stats, "agent stopped");
        stats
    }
}
