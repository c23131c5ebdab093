//! The agent runtime against an in-process server: outages, recovery,
//! rejections, a hanging server, shutdown. Time is Tokio's paused clock (no
//! test waits for real time); timestamps come from a clock that follows it.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxmon::AgentConfig;
use oxmon::agent::{Agent, AgentOptions, AgentStats, StatsHandle};
use oxmon::core::sync::LockExt;
use oxmon::core::testing::transport::ScriptedHandler;
use oxmon::core::{
    Ack, Clock, CollectContext, Collector, Labels, MetricBatch, Sample, Transport, TransportError,
    TransportErrorKind,
};
use oxmon::transport::InProcessTransport;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const T0: i64 = 1_767_225_600_000;
const INTERVAL_MS: i64 = 10_000;

/// Wall time that moves with Tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        T0 + self.0.elapsed().as_millis() as i64
    }
}

/// Emits `test.seq` = 0, 1, 2, ... and `test.other`, so the tests can see
/// which collections arrived.
#[derive(Debug, Default)]
struct Seq(u64);

impl Collector for Seq {
    fn name(&self) -> &str {
        "seq"
    }

    fn collect(
        &mut self,
        ctx: &CollectContext<'_>,
        out: &mut Vec<Sample>,
    ) -> oxmon::core::Result<()> {
        for metric in ["test.seq", "test.other"] {
            out.push(Sample::new(
                metric,
                Labels::new().with("k", "v"),
                ctx.timestamp_ms,
                self.0 as f64,
            ));
        }
        self.0 += 1;
        Ok(())
    }
}

struct Running {
    stats: StatsHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<AgentStats>,
}

impl Running {
    async fn stop(self) -> AgentStats {
        let _ = self.stop.send(());
        self.task.await.expect("agent task")
    }
}

fn start(buffer_max_size: usize, transport: Arc<dyn Transport>) -> Running {
    start_with(buffer_max_size, transport, vec![Box::new(Seq::default())])
}

fn start_with(
    buffer_max_size: usize,
    transport: Arc<dyn Transport>,
    collectors: Vec<Box<dyn Collector>>,
) -> Running {
    let mut config = AgentConfig::default();
    config.agent_id = Some("agent-1".into());
    config.buffer_max_size = buffer_max_size;
    let clock = Arc::new(TokioClock(tokio::time::Instant::now()));
    let mut options = AgentOptions::default();
    // Tokio's paused time: ticks from its timer wheel, not the kernel's.
    options.precise_ticks = false;
    let agent = Agent::new(&config, collectors, transport, clock).with_options(options);
    assert_eq!(agent.agent_id(), "agent-1");
    let stats = agent.stats_handle();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = rx.await;
    }));
    Running { stats, stop, task }
}

/// Lets virtual time pass (Tokio auto-advances; no real waiting).
async fn pass(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

fn seqs(batches: &[MetricBatch]) -> Vec<u64> {
    batches
        .iter()
        .map(|b| {
            b.samples
                .iter()
                .find(|s| s.metric == "test.seq")
                .map(|s| s.value as u64)
                .expect("test.seq in every batch")
        })
        .collect()
}

fn received(handler: &ScriptedHandler) -> Vec<MetricBatch> {
    handler.received().into_iter().map(|(_, b)| b).collect()
}

fn assert_no_duplicates(batches: &[MetricBatch]) {
    let mut ids: Vec<&str> = batches
        .iter()
        .filter_map(|b| b.batch_id.as_deref())
        .collect();
    assert_eq!(ids.len(), batches.len(), "every batch has an id");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), batches.len(), "a batch was sent twice");
}

#[tokio::test(start_paused = true)]
async fn batches_follow_the_fixed_schedule_with_one_timestamp_each() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    let agent = start(100, transport);
    pass(45).await;
    let stats = agent.stop().await;
    let got = received(&handler);
    assert_eq!(
        seqs(&got),
        [0, 1, 2, 3, 4],
        "collections at 0, 10, 20, 30, 40 s"
    );
    for (i, b) in got.iter().enumerate() {
        assert_eq!(b.agent_id, "agent-1");
        assert_eq!(
            b.timestamp_ms,
            T0 + i as i64 * INTERVAL_MS,
            "fixed schedule"
        );
        assert!(
            b.samples.iter().all(|s| s.timestamp_ms == b.timestamp_ms) && b.agent_id == "agent-1"
        );
    }
    assert_no_duplicates(&got);
    assert_eq!(
        (
            stats.schedule.collected,
            stats.forward.sent,
            stats.forward.buffered,
            stats.forward.dropped
        ),
        (5, 5, 0, 0)
    );
    assert_eq!(stats.schedule.samples, 10);
}

#[tokio::test(start_paused = true)]
async fn an_outage_loses_nothing_within_the_buffer_keeps_order_and_sends_nothing_twice() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    transport.set_available(false);
    let agent = start(100, transport.clone());
    pass(95).await;
    let during = agent.stats.get();
    assert_eq!(
        (
            during.schedule.collected,
            during.forward.sent,
            during.forward.buffered
        ),
        (10, 0, 10)
    );
    assert!(
        during.forward.send_failures >= 3,
        "it kept retrying: {during}"
    );
    assert!(handler.received().is_empty());

    transport.set_available(true);
    pass(120).await; // longer than the 60 s backoff cap
    let after = agent.stats.get();
    assert_eq!(after.forward.buffered, 0, "{after}");
    let stats = agent.stop().await;
    let got = received(&handler);
    let want: Vec<u64> = (0..stats.schedule.collected).collect();
    assert_eq!(seqs(&got), want, "every collection, in order");
    assert_no_duplicates(&got);
    assert_eq!(
        (
            stats.forward.sent,
            stats.forward.dropped,
            stats.forward.rejected
        ),
        (stats.schedule.collected, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_buffer_drops_the_oldest_and_counts_them() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    transport.set_available(false);
    let agent = start(5, transport.clone());
    pass(115).await; // 12 collections: 0..=11
    let during = agent.stats.get();
    assert_eq!(
        (
            during.schedule.collected,
            during.forward.buffered,
            during.forward.dropped
        ),
        (12, 5, 7),
        "{during}"
    );
    transport.set_available(true);
    pass(70).await;
    let stats = agent.stop().await;
    // The agent learns that the server is back at its next retry (backoff),
    // so a few more of the oldest go meanwhile: whatever was dropped is the
    // oldest, and everything after it arrived in order.
    let got = seqs(&received(&handler));
    assert!(stats.forward.dropped >= 7, "{stats}");
    let want: Vec<u64> = (stats.forward.dropped..stats.schedule.collected).collect();
    assert_eq!(got, want, "the newest are kept, in order");
    assert_eq!(
        stats.forward.sent + stats.forward.dropped,
        stats.schedule.collected
    );
    assert_eq!(stats.forward.buffered, 0);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_rejection_drops_that_batch_and_sending_continues() {
    let handler = Arc::new(ScriptedHandler::new());
    handler.push_answer(Err(TransportError::new(
        TransportErrorKind::InvalidArgument,
        "metric name too long",
    )));
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    let agent = start(100, transport);
    pass(35).await;
    let stats = agent.stop().await;
    let got = received(&handler);
    assert_eq!(
        seqs(&got),
        [0, 1, 2, 3],
        "batch 0 was offered once, then the rest"
    );
    assert_no_duplicates(&got);
    assert_eq!(
        (
            stats.forward.rejected,
            stats.forward.sent,
            stats.forward.buffered
        ),
        (1, 3, 0)
    );
    assert_eq!(stats.forward.send_failures, 0, "a rejection is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_retryable_server_error_is_retried_and_a_duplicate_ack_is_counted() {
    let handler = Arc::new(ScriptedHandler::new());
    handler.push_answer(Err(TransportError::new(
        TransportErrorKind::Internal,
        "disk busy",
    )));
    handler.push_answer(Ok(Ack {
        duplicate: true,
        rejected_samples: 0,
        message: "already stored".into(),
    }));
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    let agent = start(100, transport);
    pass(25).await;
    let stats = agent.stop().await;
    let got = seqs(&received(&handler));
    assert_eq!(
        &got[..2],
        [0, 0],
        "batch 0 offered again after the retryable error"
    );
    assert_eq!(got[2..], [1, 2]);
    assert_eq!(
        (
            stats.forward.sent,
            stats.forward.duplicates,
            stats.forward.send_failures
        ),
        (3, 1, 1)
    );
}

/// A server that never answers while `hang` is set.
#[derive(Debug)]
struct Hanging {
    hang: AtomicBool,
    inner: InProcessTransport,
    attempts: AtomicU64,
}

// `Transport` is an `async_trait`; this is what the macro writes.
impl Transport for Hanging {
    fn send<'a, 'b, 'f>(
        &'a self,
        batch: &'b MetricBatch,
    ) -> Pin<Box<dyn Future<Output = Result<Ack, TransportError>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
    {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.inner.send(batch).await
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_send_never_delays_collection() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(Hanging {
        hang: AtomicBool::new(true),
        inner: InProcessTransport::new(handler.clone(), None),
        attempts: AtomicU64::new(0),
    });
    let agent = start(100, transport.clone());
    pass(95).await;
    let during = agent.stats.get();
    assert_eq!(
        (during.schedule.collected, during.schedule.skipped_ticks),
        (10, 0),
        "{during}"
    );
    assert!(
        during.forward.send_failures >= 2,
        "requests time out: {during}"
    );
    transport.hang.store(false, Ordering::SeqCst);
    pass(90).await;
    let stats = agent.stop().await;
    let got = received(&handler);
    let want: Vec<u64> = (0..stats.schedule.collected).collect();
    assert_eq!(seqs(&got), want);
    for (i, b) in got.iter().enumerate() {
        assert_eq!(
            b.timestamp_ms,
            T0 + i as i64 * INTERVAL_MS,
            "on schedule despite the hang"
        );
    }
    assert_no_duplicates(&got);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_the_buffer_when_the_server_answers() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    transport.set_available(false);
    let agent = start(100, transport.clone());
    pass(35).await;
    transport.set_available(true);
    // Stop while the sender is in a long backoff: shutdown retries quickly.
    let stats = agent.stop().await;
    assert_eq!(
        (
            stats.schedule.collected,
            stats.forward.sent,
            stats.forward.buffered
        ),
        (4, 4, 0),
        "{stats}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_after_the_grace_period_when_the_server_is_down() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    transport.set_available(false);
    let agent = start(100, transport);
    pass(15).await;
    let stopped_at = tokio::time::Instant::now();
    let stats = agent.stop().await;
    let took = stopped_at.elapsed();
    assert!(
        took <= Duration::from_secs(6),
        "grace is 5 s, took {took:?}"
    );
    assert_eq!(
        (
            stats.schedule.collected,
            stats.forward.sent,
            stats.forward.buffered
        ),
        (2, 0, 2),
        "{stats}"
    );
}

/// A collector that blocks until released, to make a collection overrun.
#[derive(Debug)]
struct Blocking {
    release: Arc<Mutex<std::sync::mpsc::Receiver<()>>>,
    calls: u64,
}

impl Collector for Blocking {
    fn name(&self) -> &str {
        "blocking"
    }

    fn collect(
        &mut self,
        ctx: &CollectContext<'_>,
        out: &mut Vec<Sample>,
    ) -> oxmon::core::Result<()> {
        self.calls += 1;
        if self.calls == 2 {
            let rx = self.release.locked();
            let _ = rx.recv();
        }
        out.push(Sample::new(
            "test.seq",
            Labels::new(),
            ctx.timestamp_ms,
            self.calls as f64,
        ));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_collection_skips_ticks_instead_of_bursting() {
    let (release, rx) = std::sync::mpsc::channel();
    let collector = Blocking {
        release: Arc::new(Mutex::new(rx)),
        calls: 0,
    };
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    let agent = start_with(100, transport, vec![Box::new(collector)]);
    pass(5).await; // collection 1 done at 0 s
    // Collection 2 starts at 10 s and blocks; auto-advance stops while a
    // blocking task runs, so move time by hand past the ticks at 20 and 30 s.
    tokio::time::advance(Duration::from_secs(10)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(Duration::from_secs(21)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.send(()).expect("release");
    pass(12).await; // back to normal: a collection at 40 s
    let stats = agent.stop().await;
    assert!(stats.schedule.skipped_ticks >= 1, "{stats}");
    let got = received(&handler);
    let times: Vec<i64> = got.iter().map(|b| (b.timestamp_ms - T0) / 1_000).collect();
    assert_eq!(
        times,
        [0, 10, 40],
        "no burst of catch-up collections: {times:?}"
    );
}

/// Built with `Agent::builder`: the built-in collectors `[collectors]`
/// describes and a collector of the program's own fill the same batches.
#[tokio::test(start_paused = true)]
async fn the_builder_adds_a_collector_beside_the_built_in_ones() {
    let handler = Arc::new(ScriptedHandler::new());
    let transport = Arc::new(InProcessTransport::new(handler.clone(), None));
    let mut config = AgentConfig::default();
    config.agent_id = Some("built".into());
    let mut options = AgentOptions::default();
    options.precise_ticks = false;
    let agent = Agent::builder(config)
        .options(options)
        .collector(Box::new(Seq::default()))
        .transport(transport)
        .clock(Arc::new(TokioClock(tokio::time::Instant::now())))
        .build()
        .expect("agent");
    assert_eq!(agent.agent_id(), "built");
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = rx.await;
    }));
    pass(25).await;
    stop.send(()).unwrap();
    let stats = task.await.unwrap();
    let batches = received(&handler);
    assert_eq!(batches.len(), 3, "{stats}");
    for b in &batches {
        let has = |m: &str| b.samples.iter().any(|s| s.metric == m);
        assert!(has("test.seq") && has("memory.total"), "{b:?}");
        assert_eq!(b.agent_id, "built");
    }
    assert_eq!(seqs(&batches), [0, 1, 2]);

    let only_own = Agent::builder(AgentConfig::default())
        .without_builtin_collectors()
        .collector(Box::new(Seq::default()))
        .transport(Arc::new(InProcessTransport::new(handler.clone(), None)))
        .build()
        .expect("agent");
    assert!(!only_own.agent_id().is_empty(), "the host name by default");
}

#[tokio::test]
async fn the_builder_makes_the_grpc_client_and_names_a_bad_ca_file() {
    let mut config = AgentConfig::default();
    config.agent_id = Some("ok-id".into());
    assert!(
        Agent::builder(config.clone()).build().is_ok(),
        "a gRPC client to the default endpoint (connects lazily)"
    );
    config.tls = true;
    config.tls_ca_file = Some("/nonexistent/ca.pem".into());
    let err = Agent::builder(config).build().unwrap_err().to_string();
    assert!(err.contains("tls_ca_file /nonexistent/ca.pem"), "{err}");
}
