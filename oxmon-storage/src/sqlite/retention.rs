//! Retention: day partitions wholly older than the cutoff are closed,
//! forgotten and their files removed.

use oxmon_core::{Result, RetentionReport};

use super::partition;
use super::writer::Writer;
use oxmon_core::sync::RwLockExt;

impl Writer {
    /// Removes the partitions whose whole day is before `cutoff_ms`.
    pub(crate) fn retention(&mut self, cutoff_ms: i64) -> Result<RetentionReport> {
        let expired: Vec<i64> = self
            .shared
            .partitions
            .read_locked()
            .keys()
            .copied()
            .filter(|d| (d + 1) * oxmon_core::DAY_MS <= cutoff_ms)
            .collect();
        let mut report = RetentionReport::default();
        for day in expired {
            self.open.remove(&day);
            self.shared.forget_partition(day);
            partition::remove(&self.shared.dir, day)?;
            report.partitions_removed += 1;
            tracing::info!(partition = %partition::file_name(day), "retention removed partition");
        }
        if report.partitions_removed > 0 {
            self.shared.rebuild_index()?;
        }
        Ok(report)
    }
}
