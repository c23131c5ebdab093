//! Store and forward against a scripted server, in Tokio's paused time (no
//! real waiting): order kept through an outage, retries back off, a
//! permanent rejection drops only its batch, overflow drops the oldest.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oxmon_core::{Ack, Labels, MetricBatch, Sample, Transport, TransportError, TransportErrorKind};
use oxmon_transport::forward::{ForwardOptions, ForwardQueue};

/// Answers each send with the next scripted outcome (then accepts), and
/// records what it accepted and when.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Option<TransportErrorKind>>>,
    accepted: Mutex<Vec<String>>,
    attempts: Mutex<Vec<tokio::time::Instant>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Option<TransportErrorKind>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into_iter().collect()),
            ..Self::default()
        })
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, batch: &MetricBatch) -> Result<Ack, TransportError> {
        self.attempts
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        let next = self.script.lock().unwrap().pop_front().flatten();
        if let Some(kind) = next {
            return Err(TransportError::new(kind, "scripted"));
        }
        self.accepted
            .lock()
            .unwrap()
            .push(batch.batch_id.clone().unwrap_or_default());
        Ok(Ack::default())
    }
}

fn batch(n: u32) -> MetricBatch {
    let ts = 1_767_225_600_000 + i64::from(n) * 10_000;
    MetricBatch {
        agent_id: "a".into(),
        batch_id: Some(format!("b{n}")),
        timestamp_ms: ts,
        samples: vec![Sample::new("cpu.usage", Labels::new(), ts, f64::from(n))],
    }
}

fn options() -> ForwardOptions {
    let mut o = ForwardOptions::default();
    o.backoff_min = Duration::from_secs(1);
    o.backoff_max = Duration::from_secs(8);
    o
}

#[tokio::test(start_paused = true)]
async fn an_outage_delays_but_keeps_the_order_and_backs_off() {
    use TransportErrorKind::Unavailable;
    let server = Scripted::new([Some(Unavailable), Some(Unavailable), Some(Unavailable)]);
    let queue = ForwardQueue::new(100);
    let sending = queue.start(server.clone(), options());
    for n in 0..5 {
        queue.push(batch(n));
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(server.accepted(), ["b0", "b1", "b2", "b3", "b4"]);
    let stats = queue.stats();
    assert_eq!((stats.sent, stats.send_failures, stats.buffered), (5, 3, 0));
    let at = server.attempts.lock().unwrap().clone();
    let gaps: Vec<Duration> = at.windows(2).take(3).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_secs(1), "{gaps:?}");
    assert!(
        gaps[2] >= Duration::from_secs(4),
        "the delay grows: {gaps:?}"
    );
    assert!(sending.finish(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_rejection_drops_that_batch_only() {
    let server = Scripted::new([None, Some(TransportErrorKind::InvalidArgument)]);
    let queue = ForwardQueue::new(100);
    let sending = queue.start(server.clone(), options());
    for n in 0..3 {
        queue.push(batch(n));
    }
    assert!(sending.finish(Duration::from_secs(5)).await);
    assert_eq!(server.accepted(), ["b0", "b2"]);
    let stats = queue.stats();
    assert_eq!((stats.sent, stats.rejected, stats.send_failures), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_the_oldest_and_an_unreachable_server_loses_the_rest_at_finish() {
    let server = Scripted::new(std::iter::repeat_n(
        Some(TransportErrorKind::Unavailable),
        1000,
    ));
    let queue = ForwardQueue::new(3);
    let sending = queue.start(server.clone(), options());
    for n in 0..10 {
        queue.push(batch(n));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    let stats = queue.stats();
    assert_eq!(stats.sent, 0);
    assert!(stats.dropped >= 7, "{stats}");
    assert!(
        !sending.finish(Duration::from_secs(2)).await,
        "nothing could be sent"
    );
    assert!(server.accepted().is_empty());
}
