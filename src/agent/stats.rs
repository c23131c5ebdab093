//! The agent's counters: the schedule's and the forward queue's together.

use std::fmt;

use oxmon_collector::schedule::{ScheduleCounters, ScheduleStats};
use oxmon_transport::forward::{ForwardQueue, ForwardStats};

/// A snapshot of the agent's counters since it started: its collection
/// schedule's and its forward queue's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStats {
    /// Collections, samples, collector failures, skipped ticks.
    pub schedule: ScheduleStats,
    /// Batches sent, buffered, dropped, rejected; failed sends.
    pub forward: ForwardStats,
}

impl fmt::Display for AgentStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.schedule, self.forward)
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
        AgentStats {
            schedule: self.schedule.get(),
            forward: self.queue.stats(),
        }
    }
}
