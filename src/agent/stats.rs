//! The agent's counters: the schedule's and the forward queue's together.

use std::fmt;

use oxmon_collector::schedule::{ScheduleCounters, ScheduleStats};
use oxmon_transport::forward::{ForwardQueue, ForwardStats};

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

impl AgentStats {
    fn from_parts(schedule: ScheduleStats, forward: ForwardStats) -> Self {
        Self {
            collected: schedule.collected,
            samples: schedule.samples,
            collect_errors: schedule.collect_errors,
            skipped_ticks: schedule.skipped_ticks,
            sent: forward.sent,
            duplicates: forward.duplicates,
            buffered: forward.buffered,
            dropped: forward.dropped,
            rejected: forward.rejected,
            rejected_samples: forward.rejected_samples,
            send_failures: forward.send_failures,
        }
    }
}

/// Reads the counters of a running agent from anywhere (a health endpoint,
/// a test). Clones share the same counters.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    pub(super) schedule: ScheduleCounters,
    pub(super) queue: ForwardQueue,
}

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> AgentStats {
        AgentStats::from_parts(self.schedule.get(), self.queue.stats())
    }
}
