//! Conformance suite for [`Transport`] implementations.
//!
//! The caller connects the transport under test to a [`ScriptedHandler`]
//! (directly for an in-process transport, behind a gRPC server for the gRPC
//! client) and passes both to [`run_all`].

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::sync::LockExt;
use crate::testing::T0;
use crate::transport::{
    Ack, BatchHandler, Credentials, Transport, TransportError, TransportErrorKind,
};
use crate::types::{Labels, MetricBatch, Sample};

/// A [`BatchHandler`] that records what it receives and answers from a script
/// (accepting when the script is empty).
#[derive(Debug, Default)]
pub struct ScriptedHandler {
    received: Mutex<Vec<(Credentials, MetricBatch)>>,
    script: Mutex<VecDeque<Result<Ack, TransportError>>>,
}

impl ScriptedHandler {
    /// A handler that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the answer to a coming batch.
    pub fn push_answer(&self, answer: Result<Ack, TransportError>) {
        lock(&self.script).push_back(answer);
    }

    /// Everything received so far, with the credentials it came with.
    pub fn received(&self) -> Vec<(Credentials, MetricBatch)> {
        lock(&self.received).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.locked()
}

#[async_trait]
impl BatchHandler for ScriptedHandler {
    async fn handle(
        &self,
        credentials: Credentials,
        batch: MetricBatch,
    ) -> Result<Ack, TransportError> {
        lock(&self.received).push((credentials, batch));
        let next = lock(&self.script).pop_front();
        next.unwrap_or_else(|| {
            Ok(Ack {
                duplicate: false,
                rejected_samples: 0,
                message: "ok".into(),
            })
        })
    }
}

/// A batch with the awkward parts of real data: several series, unicode
/// labels, exact floats, a batch id.
pub fn awkward_batch(agent: &str, batch_id: &str) -> MetricBatch {
    let values = [0.1 + 0.2, -0.0, 1e308, 5e-324, 99.5, 1234567.0];
    let samples = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let labels = Labels::new()
                .with("mount", format!("/data/äöü-{i}"))
                .with("device", "nvme0n1p1");
            Sample::new("disk.used_percent", labels, T0 + i as i64 * 10_000 + 7, v)
        })
        .chain([Sample::new("cpu.usage", Labels::new(), T0 + 123, 12.5)])
        .collect();
    MetricBatch {
        agent_id: agent.to_owned(),
        batch_id: Some(batch_id.to_owned()),
        timestamp_ms: T0 + 99_999,
        samples,
    }
}

/// Runs every check of this suite. `agent_id` and `token` are what the
/// transport was configured with.
pub async fn run_all(
    transport: &dyn Transport,
    handler: &ScriptedHandler,
    agent_id: &str,
    token: Option<&str>,
) {
    batches_arrive_unchanged_with_credentials(transport, handler, agent_id, token).await;
    acks_pass_through(transport, handler, agent_id).await;
    rejections_keep_their_kind(transport, handler, agent_id).await;
}

/// Every field of a batch arrives exactly, in order, with the agent's credentials.
pub async fn batches_arrive_unchanged_with_credentials(
    transport: &dyn Transport,
    handler: &ScriptedHandler,
    agent_id: &str,
    token: Option<&str>,
) {
    let before = handler.received().len();
    let first = awkward_batch(agent_id, "conf-transport-1");
    let second = awkward_batch(agent_id, "conf-transport-2");
    transport.send(&first).await.expect("send 1");
    transport.send(&second).await.expect("send 2");
    let got = handler.received();
    assert_eq!(got.len(), before + 2, "each send delivers one batch");
    let (creds, b1) = &got[before];
    assert_eq!(b1.agent_id, first.agent_id);
    assert_eq!(b1.batch_id, first.batch_id, "the batch id must travel");
    assert_eq!(b1.samples.len(), first.samples.len());
    for (a, b) in b1.samples.iter().zip(&first.samples) {
        assert_eq!(
            (&a.metric, &a.labels, a.timestamp_ms),
            (&b.metric, &b.labels, b.timestamp_ms)
        );
        assert_eq!(
            a.value.to_bits(),
            b.value.to_bits(),
            "values travel bit for bit"
        );
    }
    assert_eq!(
        got[before + 1].1.batch_id,
        second.batch_id,
        "batches arrive in send order"
    );
    assert_eq!(
        creds.agent_id.as_deref(),
        Some(agent_id),
        "the agent id travels as a credential"
    );
    assert_eq!(
        creds.token.as_ref().map(|t| t.expose()),
        token,
        "the token travels when configured"
    );
}

/// The server's acknowledgement (duplicate flag, per-sample rejections) reaches the agent.
pub async fn acks_pass_through(
    transport: &dyn Transport,
    handler: &ScriptedHandler,
    agent_id: &str,
) {
    handler.push_answer(Ok(Ack {
        duplicate: true,
        rejected_samples: 0,
        message: "duplicate".into(),
    }));
    let ack = transport
        .send(&awkward_batch(agent_id, "conf-transport-3"))
        .await
        .expect("send");
    assert!(ack.duplicate, "a duplicate acknowledgement must say so");
    handler.push_answer(Ok(Ack {
        duplicate: false,
        rejected_samples: 2,
        message: "2 rejected".into(),
    }));
    let ack = transport
        .send(&awkward_batch(agent_id, "conf-transport-4"))
        .await
        .expect("send");
    assert_eq!(
        ack.rejected_samples, 2,
        "per-sample rejections must be reported"
    );
}

/// Each rejection reaches the agent with its kind, so it can tell retryable from permanent.
pub async fn rejections_keep_their_kind(
    transport: &dyn Transport,
    handler: &ScriptedHandler,
    agent_id: &str,
) {
    use TransportErrorKind::*;
    for kind in [
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Unavailable,
    ] {
        handler.push_answer(Err(TransportError::new(kind, format!("scripted {kind:?}"))));
        let err = transport
            .send(&awkward_batch(agent_id, "conf-transport-5"))
            .await
            .expect_err("a rejection is an error");
        assert_eq!(err.kind, kind, "kind must survive the transport: {err}");
        let retryable = matches!(kind, Unavailable);
        assert_eq!(
            err.is_retryable(),
            retryable,
            "{kind:?} retryable must be {retryable}"
        );
    }
    transport
        .send(&awkward_batch(agent_id, "conf-transport-6"))
        .await
        .expect("accepts again afterwards");
}
