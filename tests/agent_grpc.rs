//! The agent over real gRPC on loopback: it starts before the server,
//! buffers, and delivers everything in order once the server is up, then
//! again across a server restart. Real sockets and real time (short
//! intervals), bounded by deadlines.
#![cfg(feature = "grpc")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oxmon::AgentConfig;
use oxmon::agent::{Agent, AgentOptions};
use oxmon::core::testing::transport::ScriptedHandler;
use oxmon::core::{CollectContext, Collector, Labels, MetricBatch, Sample, SystemClock};
use oxmon::transport::grpc::{GrpcServerOptions, GrpcTransport, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
        out.push(Sample::new(
            "test.seq",
            Labels::new().with("mount", "/"),
            ctx.timestamp_ms,
            self.0 as f64,
        ));
        self.0 += 1;
        Ok(())
    }
}

async fn start_server(addr: SocketAddr, handler: Arc<ScriptedHandler>) -> oneshot::Sender<()> {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind the reserved port");
    let (stop, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        handler,
        GrpcServerOptions::default(),
        async {
            let _ = rx.await;
        },
    ));
    stop
}

/// Waits (polling, bounded) until the handler holds at least `n` batches.
async fn wait_for(handler: &ScriptedHandler, n: usize) -> Vec<MetricBatch> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<MetricBatch> = handler.received().into_iter().map(|(_, b)| b).collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} batches arrived",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn seqs(batches: &[MetricBatch]) -> Vec<u64> {
    batches
        .iter()
        .map(|b| b.samples.first().map_or(u64::MAX, |s| s.value as u64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_buffers_until_the_grpc_server_is_up_and_across_a_restart() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let mut config = AgentConfig::default();
    config.agent_id = Some("grpc-agent".into());
    config.server_endpoint = addr.to_string();
    config.collection_interval_secs = 1;
    let transport = Arc::new(GrpcTransport::connect(&config, "grpc-agent").expect("client"));
    let mut options = AgentOptions::default();
    options.forward.request_timeout = Duration::from_secs(2);
    options.forward.backoff_min = Duration::from_millis(50);
    options.forward.backoff_max = Duration::from_millis(400);
    let agent = Agent::new(
        &config,
        vec![Box::new(Seq::default())],
        transport,
        Arc::new(SystemClock),
    )
    .with_options(options);
    let stats = agent.stats_handle();
    let (stop_agent, rx) = oneshot::channel::<()>();
    let agent_task = tokio::spawn(agent.run(async {
        let _ = rx.await;
    }));

    // The server is down: collections pile up.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let down = stats.get();
    assert!(
        down.schedule.collected >= 2 && down.forward.sent == 0,
        "{down}"
    );
    assert!(down.forward.send_failures >= 1, "{down}");

    let handler = Arc::new(ScriptedHandler::new());
    let stop_server = start_server(addr, handler.clone()).await;
    let got = wait_for(&handler, 4).await;
    assert_eq!(
        seqs(&got)[..4],
        [0, 1, 2, 3],
        "buffered batches first, in order"
    );

    // Restart: down for a while, then back on the same port.
    let _ = stop_server.send(());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_restart = handler.received().len();
    let stop_server = start_server(addr, handler.clone()).await;
    let _ = wait_for(&handler, before_restart + 3).await;

    let _ = stop_agent.send(());
    let final_stats = agent_task.await.expect("agent task");
    let _ = stop_server.send(());
    let got: Vec<MetricBatch> = handler.received().into_iter().map(|(_, b)| b).collect();
    let seq = seqs(&got);
    // A batch may arrive twice only if its answer was lost; the batch id
    // lets the server store it once. Here every distinct batch arrives, in order.
    let mut distinct = seq.clone();
    distinct.dedup();
    let want: Vec<u64> = (0..distinct.len() as u64).collect();
    assert_eq!(distinct, want, "in order, nothing lost: {seq:?}");
    for (creds, b) in handler.received() {
        assert_eq!(creds.agent_id.as_deref(), Some("grpc-agent"));
        assert_eq!(b.agent_id, "grpc-agent");
        assert!(
            b.batch_id
                .as_deref()
                .is_some_and(|id| id.starts_with("grpc-agent/"))
        );
        assert!(b.samples.iter().all(|s| s.timestamp_ms == b.timestamp_ms));
    }
    assert_eq!(final_stats.forward.dropped, 0, "{final_stats}");
    assert_eq!(
        final_stats.forward.sent, final_stats.schedule.collected,
        "{final_stats}"
    );
}
