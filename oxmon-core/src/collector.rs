//! The collector contract.

use crate::error::Result;
use crate::types::Sample;

/// What a collector needs to know about the collection in progress.
#[derive(Debug, Clone, Copy)]
pub struct CollectContext<'a> {
    /// The agent collecting (for logs and agent-specific sources); the
    /// samples themselves belong to the batch that carries them.
    pub agent_id: &'a str,
    /// The timestamp of this collection (ms since the epoch); every sample of
    /// one collection carries the same timestamp.
    pub timestamp_ms: i64,
}

/// Produces the samples of one area of the system (cpu, memory, disk, ...).
///
/// # Behavior
/// - `collect` appends this area's samples to `out`, each with the context's
///   timestamp, and leaves earlier contents of `out` alone.
/// - A collector may keep state between calls (the previous counter reading for
///   rates). A rate needs two readings: the first call emits no rate rather
///   than a fake 0, and a counter that went backwards (reset, wrap) emits no
///   rate for that interval rather than a negative or huge one.
/// - It refreshes only what it reports (no process scans) so a call is cheap.
///
/// # Errors
/// [`crate::Error::Collect`] when its source cannot be read at all. A partial
/// failure (one disk unreadable) skips that item and reports the others.
pub trait Collector: Send + std::fmt::Debug {
    /// A short name for logs: `cpu`, `memory`, `disk`, `network`, `load`.
    fn name(&self) -> &str;

    /// Appends this collection's samples to `out`.
    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<()>;

    /// Whether the next [`Collector::collect`] may block for long: a
    /// network file system's `statvfs`, a remote call, a slow device. An
    /// agent runs a collection on a thread of its own when any of its
    /// collectors may block, and on its async thread otherwise (two thread
    /// switches fewer per collection). Default `true`: override it only
    /// for a collector that reads in-memory sources such as procfs.
    fn may_block(&self) -> bool {
        true
    }
}
