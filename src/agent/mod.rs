//! The agent runtime, assembled from the crates: the collection
//! [`Schedule`] of `oxmon-collector`
//! feeds the store-and-forward [`ForwardQueue`]
//! of `oxmon-transport`, which sends through a [`Transport`].
//!
//! ```text
//! tick every collection_interval_secs (fixed schedule, missed ticks skipped)
//!   -> default collectors + extra ones -> one MetricBatch (unique batch id, one timestamp)
//!   -> ForwardQueue (at most buffer_max_size batches, the oldest dropped and counted)
//!   -> send task: oldest first, retried with backoff, dropped only when rejected for good
//! shutdown -> stop collecting, flush for a grace period, return the counters
//! ```
//!
//! Sending never delays collection: a hung server only fills the buffer.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxmon::agent::Agent;
//! use oxmon::core::Transport;
//!
//! # async fn demo(transport: Arc<dyn Transport>, my_collector: Box<dyn oxmon::core::Collector>) -> Result<(), oxmon::agent::AgentError> {
//! let config = oxmon::AgentConfig::default();
//! let agent = Agent::builder(config)
//!     .collector(my_collector) // beside the built-in ones
//!     .transport(transport) // default: gRPC to `server_endpoint`
//!     .build()?;
//! let stats = agent.run(oxmon::shutdown_signal()).await;
//! println!("{stats}");
//! # Ok(()) }
//! ```

mod stats;

use std::sync::Arc;
use std::time::Duration;

use oxmon_collector::CollectorOptions;
use oxmon_collector::schedule::Schedule;
use oxmon_core::config::{AgentConfig, validate_agent_id};
use oxmon_core::{Clock, Collector, SystemClock, Transport};
use oxmon_transport::forward::{ForwardOptions, ForwardQueue};

pub use stats::{AgentStats, StatsHandle};

/// Runtime settings that are not part of `agent.toml`. The defaults suit
/// production.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentOptions {
    /// How the send task talks to the server: request timeout, retry
    /// delays.
    pub forward: ForwardOptions,
    /// How long shutdown keeps trying to send the buffer. Default 5 s.
    pub shutdown_grace: Duration,
    /// Log the counters every this many collections (0: never, only at
    /// shutdown). Default 60 (every 10 minutes at the default interval).
    pub stats_log_every: u64,
    /// Collection ticks from a kernel timer on Linux, one wake-up per tick
    /// ([`Schedule::precise_ticks`]), read through the runtime's I/O driver
    /// (a runtime built without `enable_io` must turn this off). Default
    /// `true`; turn it off under Tokio's paused time.
    pub precise_ticks: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            forward: ForwardOptions::default(),
            shutdown_grace: Duration::from_secs(5),
            stats_log_every: 60,
            precise_ticks: true,
        }
    }
}

/// Why an agent could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No `agent_id` is configured and the host name is not a valid one.
    #[error("agent id from the host name: {0}; set `agent_id` in agent.toml")]
    AgentId(String),
    /// The gRPC client could not be made (a bad endpoint or CA file).
    #[cfg(feature = "grpc")]
    #[error(transparent)]
    Transport(#[from] oxmon_transport::Error),
}

/// Assembles an [`Agent`] from `agent.toml`: the built-in collectors its
/// `[collectors]` section describes, any extra collectors, and a transport
/// (by default the gRPC client to `server_endpoint`, with its TLS and token
/// settings).
#[derive(Debug)]
#[must_use = "a builder does nothing until build()"]
pub struct AgentBuilder {
    config: AgentConfig,
    collectors: Vec<Box<dyn Collector>>,
    builtin: bool,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    options: AgentOptions,
}

impl AgentBuilder {
    /// Adds a collector that runs beside the built-in ones, in every
    /// collection, its samples in the same batch.
    pub fn collector(mut self, collector: Box<dyn Collector>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Leaves out the built-in system collectors: only the added ones run.
    pub fn without_builtin_collectors(mut self) -> Self {
        self.builtin = false;
        self
    }

    /// Sends through `transport` instead of the gRPC client.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Stamps batches with `clock`'s time (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the runtime settings.
    pub fn options(mut self, options: AgentOptions) -> Self {
        self.options = options;
        self
    }

    /// The agent.
    ///
    /// # Errors
    /// [`AgentError::AgentId`] when no agent id is configured and the host
    /// name is not a valid one; [`AgentError::Transport`] when the gRPC
    /// client cannot be made.
    ///
    /// # Panics
    /// When it would make the gRPC client (no [`AgentBuilder::transport`])
    /// without the `grpc` feature. The client connects on its first send,
    /// inside the runtime that runs the agent.
    pub fn build(self) -> Result<Agent, AgentError> {
        let agent_id = resolve_agent_id(&self.config)?;
        let transport = match self.transport {
            Some(t) => t,
            None => default_transport(&self.config, &agent_id)?,
        };
        let mut collectors = if self.builtin {
            oxmon_collector::default_collectors(&CollectorOptions::from_config(
                &self.config.collectors,
            ))
        } else {
            Vec::new()
        };
        collectors.extend(self.collectors);
        let mut config = self.config;
        config.agent_id = Some(agent_id);
        Ok(Agent::new(&config, collectors, transport, self.clock).with_options(self.options))
    }
}

#[cfg(feature = "grpc")]
fn default_transport(
    config: &AgentConfig,
    agent_id: &str,
) -> Result<Arc<dyn Transport>, AgentError> {
    Ok(Arc::new(oxmon_transport::grpc::GrpcTransport::connect(
        config, agent_id,
    )?))
}

#[cfg(not(feature = "grpc"))]
fn default_transport(
    _config: &AgentConfig,
    _agent_id: &str,
) -> Result<Arc<dyn Transport>, AgentError> {
    panic!("AgentBuilder::build without a transport needs the `grpc` feature")
}

/// The agent id to report under: the configured one, else the host name
/// (`localhost` when even that is unknown).
///
/// # Errors
/// [`AgentError::AgentId`] when the host name is not a valid agent id.
pub fn resolve_agent_id(config: &AgentConfig) -> Result<String, AgentError> {
    let id = agent_id_of(config);
    validate_agent_id(&id).map_err(AgentError::AgentId)?;
    Ok(id)
}

/// The configured agent id, else the host name, else `localhost`; the
/// host name is only looked up when needed.
fn agent_id_of(config: &AgentConfig) -> String {
    config
        .agent_id
        .clone()
        .unwrap_or_else(|| oxmon_collector::host_name().unwrap_or_else(|| "localhost".to_owned()))
}

/// An embeddable agent: the collectors, a transport and a clock, run on a
/// fixed schedule until a shutdown future completes.
#[derive(Debug)]
pub struct Agent {
    collectors: Vec<Box<dyn Collector>>,
    transport: Arc<dyn Transport>,
    options: AgentOptions,
    queue: ForwardQueue,
    schedule: Schedule,
}

impl Agent {
    /// A builder for the agent `config` describes.
    pub fn builder(config: AgentConfig) -> AgentBuilder {
        AgentBuilder {
            config,
            collectors: Vec::new(),
            builtin: true,
            transport: None,
            clock: Arc::new(SystemClock),
            options: AgentOptions::default(),
        }
    }

    /// An agent with exactly these collectors, as `config` describes it
    /// (agent id, or else the host name; `collection_interval_secs`;
    /// `buffer_max_size`), with default [`AgentOptions`]. Timestamps come
    /// from `clock`. [`Agent::builder`] adds the built-in collectors and the
    /// gRPC transport.
    pub fn new(
        config: &AgentConfig,
        collectors: Vec<Box<dyn Collector>>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let interval = Duration::from_secs(config.collection_interval_secs.max(1));
        Self {
            schedule: Schedule::new(agent_id_of(config), interval, clock),
            collectors,
            transport,
            options: AgentOptions::default(),
            queue: ForwardQueue::new(config.buffer_max_size),
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
        self.schedule.agent_id()
    }

    /// The counters now.
    pub fn stats(&self) -> AgentStats {
        self.stats_handle().get()
    }

    /// A handle to read the counters while [`Agent::run`] owns the agent.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            schedule: self.schedule.counters(),
            queue: self.queue.clone(),
        }
    }

    /// Runs until `shutdown` completes: collects every interval (the first
    /// collection right away), sends in the background, then stops
    /// collecting, tries to send what is buffered for
    /// [`AgentOptions::shutdown_grace`], logs and returns the counters.
    /// Batches still buffered after the grace period are lost (and counted
    /// in the returned `buffered`).
    ///
    /// Must run inside a Tokio runtime (collections that may block use its
    /// blocking pool).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> AgentStats {
        let stats = self.stats_handle();
        let Agent {
            collectors,
            transport,
            options,
            queue,
            schedule,
        } = self;
        tracing::info!(
            agent_id = %schedule.agent_id(),
            interval = ?schedule.interval(),
            collectors = collectors.len(),
            "agent started"
        );
        let sending = queue.start(transport, options.forward);
        let grace = options.shutdown_grace;
        let every = options.stats_log_every;
        let log_stats = stats.clone();
        let sink = move |batch| {
            queue.push(batch);
            let now = log_stats.get();
            if every > 0 && now.schedule.collected.is_multiple_of(every) {
                tracing::info!(stats = %now, "agent counters");
            }
        };
        schedule
            .precise_ticks(options.precise_ticks)
            .run(
                collectors,
                sink,
                shutdown,
                grace.min(Duration::from_secs(1)),
            )
            .await;
        if sending.finish(grace).await {
            tracing::info!("buffer flushed");
        }
        let stats = stats.get();
        tracing::info!(stats = %stats, "agent stopped");
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_id_defaults_to_the_host_name() {
        let mut c = AgentConfig::default();
        let id = resolve_agent_id(&c).unwrap();
        assert!(!id.is_empty());
        c.agent_id = Some("web-01".into());
        assert_eq!(resolve_agent_id(&c).unwrap(), "web-01");
    }
}
