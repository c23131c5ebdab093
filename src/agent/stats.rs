//! The agent's own counters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the agent's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStats {
    /// Collections that produced a batch.
    pub collected: u64,
    /// Samples in those batches.
    pub samples: u64,
    /// Collector failures (a collector that could not read its source, or panicked).
    pub collect_errors: u64,
    /// Ticks skipped because the previous collection was still running.
    pub skipped_ticks: u64,
    /// Batches the server acknowledged.
    pub sent: u64,
    /// Of those, batches the server already had (a re-send after a lost answer).
    pub duplicates: u64,
    /// Batches waiting in the buffer (and in flight) now.
    pub buffered: u64,
    /// Batches dropped because the buffer was full (the oldest go first).
    pub dropped: u64,
    /// Batches the server rejected permanently; dropped, never re-sent.
    pub rejected: u64,
    /// Samples the server refused one by one inside acknowledged batches.
    pub rejected_samples: u64,
    /// Send attempts that failed in a retryable way (server down, timeout).
    pub send_failures: u64,
}

impl fmt::Display for AgentStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "collected={} samples={} sent={} buffered={} dropped={} rejected={} \
             send_failures={} collect_errors={} skipped_ticks={} duplicates={} rejected_samples={}",
            self.collected,
            self.samples,
            self.sent,
            self.buffered,
            self.dropped,
            self.rejected,
            self.send_failures,
            self.collect_errors,
            self.skipped_ticks,
            self.duplicates,
            self.rejected_samples,
        )
    }
}

/// The live counters, shared by the agent's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) collected: AtomicU64,
    pub(crate) samples: AtomicU64,
    pub(crate) collect_errors: AtomicU64,
    pub(crate) skipped_ticks: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) buffered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) rejected_samples: AtomicU64,
    pub(crate) send_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> AgentStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AgentStats {
            collected: g(&self.collected),
            samples: g(&self.samples),
            collect_errors: g(&self.collect_errors),
            skipped_ticks: g(&self.skipped_ticks),
            sent: g(&self.sent),
            duplicates: g(&self.duplicates),
            buffered: g(&self.buffered),
            dropped: g(&self.dropped),
            rejected: g(&self.rejected),
            rejected_samples: g(&self.rejected_samples),
            send_failures: g(&self.send_failures),
        }
    }
}

/// Reads the counters of a running agent from anywhere (a health endpoint,
/// a test). Clones share the same counters.
#[derive(Debug, Clone)]
pub struct StatsHandle(pub(crate) Arc<Counters>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> AgentStats {
        self.0.snapshot()
    }
}
