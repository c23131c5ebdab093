//! The fixed-schedule collection loop of an agent: every interval, the
//! collectors run once (on the loop's own task, or on Tokio's blocking pool
//! when one of them may block) and their samples become one
//! [`MetricBatch`] with a unique batch id, handed to a sink (the agent's
//! store-and-forward queue, a test's vector).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oxmon_core::{Clock, CollectContext, Collector, MetricBatch, Sample};
use tokio::task::JoinHandle;

use crate::run::run_collectors;
use crate::ticks::Ticks;

/// A snapshot of the loop's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleStats {
    /// Collections that produced a batch.
    pub collected: u64,
    /// Samples in those batches.
    pub samples: u64,
    /// Collector failures (a collector that could not read its source, or panicked).
    pub collect_errors: u64,
    /// Ticks skipped because the previous collection was still running.
    pub skipped_ticks: u64,
}

impl fmt::Display for ScheduleStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "collected={} samples={} collect_errors={} skipped_ticks={}",
            self.collected, self.samples, self.collect_errors, self.skipped_ticks,
        )
    }
}

/// Reads the counters of a running [`Schedule`] from anywhere. Clones share
/// the same counters.
#[derive(Debug, Clone, Default)]
pub struct ScheduleCounters(Arc<Counters>);

impl ScheduleCounters {
    /// The counters now.
    pub fn get(&self) -> ScheduleStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.0;
        ScheduleStats {
            collected: g(&c.collected),
            samples: g(&c.samples),
            collect_errors: g(&c.collect_errors),
            skipped_ticks: g(&c.skipped_ticks),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    collected: AtomicU64,
    samples: AtomicU64,
    collect_errors: AtomicU64,
    skipped_ticks: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Makes batch ids unique across the agent's restarts: the agent id, a
/// prefix drawn at start (start time and random bits), and a counter.
#[derive(Debug)]
struct BatchIds {
    prefix: String,
    next: u64,
}

impl BatchIds {
    fn new(agent_id: &str, now_ms: i64) -> Self {
        let random = RandomState::new().hash_one(now_ms) as u32;
        Self {
            prefix: format!("{agent_id}/{now_ms:x}{random:08x}/"),
            next: 0,
        }
    }

    fn next_id(&mut self) -> String {
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
    /// Whether any collector may block in its next collection.
    fn may_block(&self) -> bool {
        self.collectors.iter().any(|c| c.may_block())
    }

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

/// Collects on a fixed schedule: the clock's time stamps each batch, and
/// ticks keep their grid whatever the sink or the collectors do.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use oxmon_collector::schedule::Schedule;
/// use oxmon_collector::{CollectorOptions, default_collectors};
/// use oxmon_core::SystemClock;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let batches = Arc::new(Mutex::new(Vec::new()));
/// let sink = batches.clone();
/// let schedule = Schedule::new("web-1", Duration::from_secs(10), Arc::new(SystemClock));
/// let counters = schedule.counters();
/// // Stops at once: the first collection runs right away and is finished.
/// schedule
///     .run(
///         default_collectors(&CollectorOptions::default()),
///         move |batch| sink.lock().unwrap().push(batch),
///         tokio::time::sleep(Duration::from_millis(200)),
///         Duration::from_secs(5),
///     )
///     .await;
/// assert_eq!(batches.lock().unwrap().len(), 1);
/// assert_eq!(counters.get().collected, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct Schedule {
    agent_id: String,
    interval: Duration,
    clock: Arc<dyn Clock>,
    counters: ScheduleCounters,
    precise_ticks: bool,
}

/// A finished collection: the collectors back, the samples, how many
/// collectors failed, the timestamp.
type Collected = (CollectorSet, Vec<Sample>, usize, i64);
type InFlight = JoinHandle<Collected>;

fn collect(mut set: CollectorSet, agent_id: &str, timestamp_ms: i64) -> Collected {
    let (samples, failures) = set.collect(agent_id, timestamp_ms);
    (set, samples, failures, timestamp_ms)
}

impl Schedule {
    /// A loop for `agent_id` collecting every `interval` (at least 1 ms),
    /// stamping batches with `clock`'s time.
    pub fn new(agent_id: impl Into<String>, interval: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            agent_id: agent_id.into(),
            interval: interval.max(Duration::from_millis(1)),
            clock,
            counters: ScheduleCounters::default(),
            precise_ticks: false,
        }
    }

    /// Ticks from a kernel timer (Linux `timerfd`) instead of Tokio's
    /// timer wheel: one wake-up per tick instead of two or three (the
    /// wheel wakes at each of its coarser slots on the way to a deadline).
    /// The kernel timer follows real time: leave it off under Tokio's
    /// paused time (tests). It is read through the runtime's I/O driver,
    /// which must be on (`enable_io`, as for any socket). Default off; the
    /// agent turns it on
    /// (`AgentOptions::precise_ticks`). Elsewhere than Linux it changes
    /// nothing.
    #[must_use]
    pub fn precise_ticks(mut self, on: bool) -> Self {
        self.precise_ticks = on;
        self
    }

    /// The id put on every batch.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// Time between collections.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A handle to the loop's counters.
    pub fn counters(&self) -> ScheduleCounters {
        self.counters.clone()
    }

    /// Collects on a fixed schedule (the first collection right away) until
    /// `shutdown` completes, then waits up to `finish_within` for a
    /// collection still running and hands it over. Each collection that
    /// produced samples goes to `sink` as one batch; `sink` must not block
    /// (queue the batch, do not send it).
    ///
    /// Ticks are `interval` apart from the start, whatever the sink does.
    /// A collection runs on the blocking pool when any collector says it
    /// may block ([`Collector::may_block`]: a network file system's
    /// `statvfs`), on this task otherwise (procfs reads are memory reads:
    /// two thread switches fewer). A tick that comes while a collection is
    /// still running, or passes while an inline one overruns, is skipped
    /// and counted (the schedule keeps its grid instead of bursting to
    /// catch up). A collector that fails is logged when its
    /// failure starts or changes, and when it recovers.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub async fn run(
        self,
        collectors: Vec<Box<dyn Collector>>,
        mut sink: impl FnMut(MetricBatch) + Send,
        shutdown: impl Future<Output = ()>,
        finish_within: Duration,
    ) {
        let mut ids = BatchIds::new(&self.agent_id, self.clock.now_ms());
        let mut set = Some(CollectorSet {
            collectors,
            last_failure: Vec::new(),
        });
        let mut in_flight: Option<InFlight> = None;
        let mut ticker = Ticks::new(self.interval, self.precise_ticks);
        let mut last_tick: Option<tokio::time::Instant> = None;
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
                    set = self.finish(done, &mut ids, &mut sink);
                }
                scheduled = ticker.tick() => {
                    // Ticks that passed while the loop itself was busy (an
                    // inline collection that overran) never fired: skipped.
                    if let Some(previous) = last_tick.replace(scheduled) {
                        let gap = scheduled.saturating_duration_since(previous).as_nanos();
                        let missed = (gap / self.interval.as_nanos()).saturating_sub(1);
                        if missed > 0 {
                            add(&self.counters.0.skipped_ticks, u64::try_from(missed).unwrap_or(u64::MAX));
                            tracing::warn!(
                                interval = ?self.interval,
                                skipped = %missed,
                                "the previous collection overran; skipped ticks"
                            );
                        }
                    }
                    match set.take() {
                        Some(s) if s.may_block() => in_flight = Some(self.start(s, scheduled)),
                        Some(s) => {
                            let done = collect(s, &self.agent_id, self.stamp(scheduled));
                            set = self.finish(Ok(done), &mut ids, &mut sink);
                        }
                        None => {
                            add(&self.counters.0.skipped_ticks, 1);
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
            self.finish(done, &mut ids, &mut sink);
        }
    }

    /// Starts a collection for the tick scheduled at `scheduled`. Its
    /// timestamp is the clock's time of the scheduled tick, so a loop woken
    /// late still stamps collections on the fixed grid.
    fn start(&self, set: CollectorSet, scheduled: tokio::time::Instant) -> InFlight {
        let timestamp_ms = self.stamp(scheduled);
        let agent_id = self.agent_id.clone();
        tokio::task::spawn_blocking(move || collect(set, &agent_id, timestamp_ms))
    }

    /// The clock's time of the tick scheduled at `scheduled`.
    fn stamp(&self, scheduled: tokio::time::Instant) -> i64 {
        let late = tokio::time::Instant::now().saturating_duration_since(scheduled);
        let late_ms = i64::try_from(late.as_millis()).unwrap_or(i64::MAX);
        self.clock.now_ms().saturating_sub(late_ms)
    }

    /// Hands a finished collection to the sink and returns the collectors
    /// for the next.
    fn finish(
        &self,
        done: Result<Collected, tokio::task::JoinError>,
        ids: &mut BatchIds,
        sink: &mut impl FnMut(MetricBatch),
    ) -> Option<CollectorSet> {
        let c = &self.counters.0;
        let (set, samples, failures, timestamp_ms) = match done {
            Ok(done) => done,
            Err(e) => {
                // Cannot happen (collector panics are caught); without the
                // collectors there is nothing left to collect with.
                tracing::error!(error = %e, "collection task failed; collection stops");
                return None;
            }
        };
        add(&c.collect_errors, failures as u64);
        if samples.is_empty() {
            tracing::debug!("collection produced no samples; nothing to send");
            return Some(set);
        }
        add(&c.collected, 1);
        add(&c.samples, samples.len() as u64);
        sink(MetricBatch {
            agent_id: self.agent_id.clone(),
            batch_id: Some(ids.next_id()),
            timestamp_ms,
            samples,
        });
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_unique_per_batch_and_per_start() {
        let mut a = BatchIds::new("web-1", 1_000);
        let mut b = BatchIds::new("web-1", 1_000);
        let (a1, a2, b1) = (a.next_id(), a.next_id(), b.next_id());
        assert!(a1.starts_with("web-1/") && a1.ends_with("/1"), "{a1}");
        assert_ne!(a1, a2);
        assert_ne!(a1, b1, "two starts in the same millisecond still differ");
    }

    /// A test collector: records the thread it collected on, says it may
    /// block or not as told, and takes `first` (real time) the first time.
    #[derive(Debug, Default)]
    struct Probe {
        blocks: bool,
        seen: Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>,
        first: Option<Duration>,
    }

    impl Collector for Probe {
        fn name(&self) -> &str {
            "probe"
        }

        fn collect(
            &mut self,
            ctx: &CollectContext<'_>,
            out: &mut Vec<Sample>,
        ) -> oxmon_core::Result<()> {
            self.seen.lock().unwrap().push(std::thread::current().id());
            if let Some(d) = self.first.take() {
                std::thread::sleep(d);
            }
            out.push(Sample::new(
                "t",
                oxmon_core::Labels::new(),
                ctx.timestamp_ms,
                1.0,
            ));
            Ok(())
        }

        fn may_block(&self) -> bool {
            self.blocks
        }
    }

    /// Runs `schedule` on a current-thread runtime until it handed over
    /// `batches` batches; its counters then.
    fn run_until(
        schedule: Schedule,
        collectors: Vec<Box<dyn Collector>>,
        batches: usize,
    ) -> ScheduleStats {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let counters = schedule.counters();
        let done = Arc::new(tokio::sync::Notify::new());
        let notify = done.clone();
        let mut handed = 0;
        runtime.block_on(schedule.run(
            collectors,
            move |_| {
                handed += 1;
                if handed == batches {
                    notify.notify_one();
                }
            },
            async move { done.notified().await },
            Duration::from_secs(5),
        ));
        counters.get()
    }

    /// The threads a schedule over these collectors collected on.
    fn threads(blocks: &[bool]) -> (std::thread::ThreadId, Vec<std::thread::ThreadId>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let collectors: Vec<Box<dyn Collector>> = blocks
            .iter()
            .map(|&blocks| {
                Box::new(Probe {
                    blocks,
                    seen: seen.clone(),
                    first: None,
                }) as Box<dyn Collector>
            })
            .collect();
        let schedule = Schedule::new(
            "web-1",
            Duration::from_secs(3600),
            Arc::new(oxmon_core::SystemClock),
        );
        assert_eq!(run_until(schedule, collectors, 1).collected, 1);
        let seen = seen.lock().unwrap().clone();
        (std::thread::current().id(), seen)
    }

    /// An inline collection that overruns two and a half intervals: the
    /// ticks it sat on are counted as skipped, whichever timer ticks. Real
    /// time (the overrun is the thread being busy), intervals long enough
    /// for a loaded machine.
    #[test]
    fn ticks_missed_during_an_inline_collection_are_counted() {
        for precise in [true, false] {
            let every = Duration::from_millis(100);
            let schedule = Schedule::new("web-1", every, Arc::new(oxmon_core::SystemClock))
                .precise_ticks(precise);
            let slow = Probe {
                first: Some(every * 5 / 2),
                ..Probe::default()
            };
            let stats = run_until(schedule, vec![Box::new(slow)], 3);
            assert_eq!(stats.collected, 3);
            assert!(
                (1..=2).contains(&stats.skipped_ticks),
                "precise {precise}: {stats}"
            );
        }
    }

    #[test]
    fn collectors_that_cannot_block_run_on_the_loop_thread_the_others_on_the_pool() {
        let (here, seen) = threads(&[false, false]);
        assert_eq!(seen, vec![here, here]);
        // One collector that may block moves the whole collection off the
        // runtime's thread (a hung statvfs must not stall sending).
        let (here, seen) = threads(&[false, true]);
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|t| *t != here), "{seen:?}");
    }
}
