//! Running the collectors: one collection, batch ids, and the fixed-schedule
//! collection loop.

use std::hash::{BuildHasher, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use oxmon_core::{Clock, CollectContext, Collector, MetricBatch, Sample};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Shared;
use super::stats::Counters;

/// A collector that failed during a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectFailure {
    /// The collector's name (`cpu`, `disk`, ...).
    pub collector: String,
    /// What went wrong.
    pub message: String,
}

/// Runs every collector once for `ctx`, appending to `out`.
///
/// A collector that fails, or panics, is reported in the returned list and
/// the others still run: one unreadable source never costs the others'
/// samples. Samples the server would refuse (a non-finite value, an empty
/// metric name) are dropped here and reported as a failure of their
/// collector, so one bad sample never gets a whole batch rejected.
pub fn run_collectors(
    collectors: &mut [Box<dyn Collector>],
    ctx: &CollectContext<'_>,
    out: &mut Vec<Sample>,
) -> Vec<CollectFailure> {
    let mut failures = Vec::new();
    for c in collectors.iter_mut() {
        let before = out.len();
        let result = catch_unwind(AssertUnwindSafe(|| c.collect(ctx, out)));
        let message = match result {
            Ok(Ok(())) => {
                let mut i = before;
                let mut bad = 0;
                while i < out.len() {
                    if out[i].value.is_finite() && !out[i].metric.is_empty() {
                        i += 1;
                    } else {
                        out.remove(i);
                        bad += 1;
                    }
                }
                if bad == 0 {
                    continue;
                }
                format!("{bad} invalid samples dropped (non-finite value or empty metric name)")
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => {
                // A panicking collector may have pushed part of its samples.
                out.truncate(before);
                "panicked".to_owned()
            }
        };
        failures.push(CollectFailure {
            collector: c.name().to_owned(),
            message,
        });
    }
    failures
}

/// Makes batch ids unique across the agent's restarts: the agent id, a
/// prefix drawn at start (start time and random bits), and a counter.
#[derive(Debug)]
pub(crate) struct BatchIds {
    prefix: String,
    next: u64,
}

impl BatchIds {
    pub(crate) fn new(agent_id: &str, now_ms: i64) -> Self {
        let random = RandomState::new().hash_one(now_ms) as u32;
        Self {
            prefix: format!("{agent_id}/{now_ms:x}{random:08x}/"),
            next: 0,
        }
    }

    pub(crate) fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}{}", self.prefix, self.next)
    }
}

/// The collectors and what the loop remembers about their failures, moved
/// into the blocking thread for each collection and back.
#[derive(Debug)]
struct CollectorSet {
    collectors: Vec<Box<dyn Collector>>,
    /// Last failure message per collector, so a failure is logged as a
    /// warning when it starts or changes, not at every collection.
    last_failure: Vec<Option<String>>,
}

impl CollectorSet {
    fn collect(&mut self, agent_id: &str, timestamp_ms: i64) -> (Vec<Sample>, usize) {
        let ctx = CollectContext {
            agent_id,
            timestamp_ms,
        };
        let mut samples = Vec::new();
        let failures = run_collectors(&mut self.collectors, &ctx, &mut samples);
        self.last_failure.resize(self.collectors.len(), None);
        for (i, c) in self.collectors.iter().enumerate() {
            let now = failures
                .iter()
                .find(|f| f.collector == c.name())
                .map(|f| f.message.clone());
            match (&self.last_failure[i], &now) {
                (prev, Some(msg)) if prev.as_ref() != Some(msg) => {
                    tracing::warn!(collector = c.name(), error = %msg, "collector failed");
                }
                (Some(_), None) => tracing::info!(collector = c.name(), "collector recovered"),
                _ => {}
            }
            self.last_failure[i] = now;
        }
        (samples, failures.len())
    }
}

/// What the collection loop needs.
#[derive(Debug)]
pub(crate) struct CollectLoop {
    pub(crate) agent_id: String,
    pub(crate) interval: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ids: BatchIds,
    pub(crate) stats_log_every: u64,
}

type InFlight = JoinHandle<(CollectorSet, Vec<Sample>, usize, i64)>;

impl CollectLoop {
    /// Collects on a fixed schedule until `shutdown` completes, then waits up
    /// to `finish_within` for a collection still running and buffers it.
    ///
    /// Ticks are `interval` apart from the start, whatever happens to the
    /// sends (they run in another task). A collection runs on the blocking
    /// pool (procfs and statvfs reads block); if it is still running at the
    /// next tick, that tick is skipped and counted (`MissedTickBehavior::Skip`
    /// keeps the schedule instead of bursting to catch up).
    pub(crate) async fn run(
        mut self,
        collectors: Vec<Box<dyn Collector>>,
        shutdown: impl Future<Output = ()>,
        finish_within: Duration,
    ) {
        let mut set = Some(CollectorSet {
            collectors,
            last_failure: Vec::new(),
        });
        let mut in_flight: Option<InFlight> = None;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                done = async {
                    match in_flight.as_mut() {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    in_flight = None;
                    set = self.finish(done);
                }
                scheduled = ticker.tick() => {
                    match set.take() {
                        Some(s) => in_flight = Some(self.start(s, scheduled)),
                        None => {
                            Counters::add(&self.shared.counters.skipped_ticks, 1);
                            tracing::warn!(
                                interval = ?self.interval,
                                "the previous collection is still running; skipping this tick"
                            );
                        }
                    }
                }
            }
        }
        if let Some(h) = in_flight
            && let Ok(done) = tokio::time::timeout(finish_within, h).await
        {
            self.finish(done);
        }
    }

    /// Starts a collection for the tick scheduled at `scheduled`. Its
    /// timestamp is the clock's time of the scheduled tick, so a loop woken
    /// late still stamps collections on the fixed grid.
    fn start(&self, mut set: CollectorSet, scheduled: tokio::time::Instant) -> InFlight {
        let late = tokio::time::Instant::now().saturating_duration_since(scheduled);
        let late_ms = i64::try_from(late.as_millis()).unwrap_or(i64::MAX);
        let timestamp_ms = self.clock.now_ms().saturating_sub(late_ms);
        let agent_id = self.agent_id.clone();
        tokio::task::spawn_blocking(move || {
            let (samples, failures) = set.collect(&agent_id, timestamp_ms);
            (set, samples, failures, timestamp_ms)
        })
    }

    /// Buffers a finished collection and returns the collectors for the next.
    fn finish(
        &mut self,
        done: Result<(CollectorSet, Vec<Sample>, usize, i64), tokio::task::JoinError>,
    ) -> Option<CollectorSet> {
        let c = &self.shared.counters;
        let (set, samples, failures, timestamp_ms) = match done {
            Ok(done) => done,
            Err(e) => {
                // Cannot happen (collector panics are caught); without the
                // collectors there is nothing left to collect with.
                tracing::error!(error = %e, "collection task failed; collection stops");
                return None;
            }
        };
        Counters::add(&c.collect_errors, failures as u64);
        if samples.is_empty() {
            tracing::debug!("collection produced no samples; nothing to send");
            return Some(set);
        }
        Counters::add(&c.collected, 1);
        Counters::add(&c.samples, samples.len() as u64);
        let batch = MetricBatch {
            agent_id: self.agent_id.clone(),
            batch_id: Some(self.ids.next_id()),
            timestamp_ms,
            samples,
        };
        self.shared.push(batch);
        let collected = self
            .shared
            .counters
            .collected
            .load(std::sync::atomic::Ordering::Relaxed);
        if self.stats_log_every > 0 && collected.is_multiple_of(self.stats_log_every) {
            tracing::info!(stats = %self.shared.counters.snapshot(), "agent counters");
        }
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::{Error, Labels};

    use super::*;

    #[derive(Debug)]
    struct Scripted(
        &'static str,
        fn(&CollectContext<'_>, &mut Vec<Sample>) -> oxmon_core::Result<()>,
    );

    impl Collector for Scripted {
        fn name(&self) -> &str {
            self.0
        }

        fn collect(
            &mut self,
            ctx: &CollectContext<'_>,
            out: &mut Vec<Sample>,
        ) -> oxmon_core::Result<()> {
            (self.1)(ctx, out)
        }
    }

    #[test]
    fn failing_and_panicking_collectors_do_not_cost_the_others() {
        let ok = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            out.push(Sample::new(
                ctx.agent_id,
                "ok.metric",
                Labels::new(),
                ctx.timestamp_ms,
                1.0,
            ));
            Ok(())
        };
        let fails =
            |_: &CollectContext<'_>, _: &mut Vec<Sample>| Err(Error::Collect("no /proc".into()));
        let panics = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            out.push(Sample::new(
                ctx.agent_id,
                "half",
                Labels::new(),
                ctx.timestamp_ms,
                1.0,
            ));
            panic!("collector bug")
        };
        let garbage = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            for (metric, v) in [("ok.metric", 1.0), ("nan", f64::NAN), ("", 1.0)] {
                out.push(Sample::new(
                    ctx.agent_id,
                    metric,
                    Labels::new(),
                    ctx.timestamp_ms,
                    v,
                ));
            }
            Ok(())
        };
        let mut cs: Vec<Box<dyn Collector>> = vec![
            Box::new(Scripted("a", ok)),
            Box::new(Scripted("b", fails)),
            Box::new(Scripted("c", panics)),
            Box::new(Scripted("d", ok)),
            Box::new(Scripted("e", garbage)),
        ];
        let ctx = CollectContext {
            agent_id: "x",
            timestamp_ms: 7,
        };
        let mut out = Vec::new();
        let failures = run_collectors(&mut cs, &ctx, &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            out.iter()
                .all(|s| s.metric == "ok.metric" && s.timestamp_ms == 7)
        );
        let names: Vec<&str> = failures.iter().map(|f| f.collector.as_str()).collect();
        assert_eq!(names, ["b", "c", "e"]);
        assert!(failures[0].message.contains("no /proc"));
        assert!(
            failures[2].message.starts_with("2 invalid samples"),
            "{failures:?}"
        );
    }

    #[test]
    fn batch_ids_are_unique_per_batch_and_per_start() {
        let mut a = BatchIds::new("web-1", 1_000);
        let mut b = BatchIds::new("web-1", 1_000);
        let (a1, a2, b1) = (a.next_id(), a.next_id(), b.next_id());
        assert!(a1.starts_with("web-1/") && a1.ends_with("/1"), "{a1}");
        assert_ne!(a1, a2);
        assert_ne!(a1, b1, "two starts in the same millisecond still differ");
    }
}
