//! `InProcessTransport`: an agent and a server in one process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use oxmon_core::{
    Ack, BatchHandler, Credentials, MetricBatch, Secret, Transport, TransportError,
    TransportErrorKind,
};

/// A [`Transport`] that hands batches straight to a [`BatchHandler`] in the
/// same process: the server's ingest path with no network in between.
///
/// Used by the server's built-in local agent, and by tests, which can take
/// the "server" down with [`InProcessTransport::set_available`] to rehearse
/// outages without sockets or sleeps.
#[derive(Debug)]
pub struct InProcessTransport {
    handler: Arc<dyn BatchHandler>,
    token: Option<Secret>,
    available: AtomicBool,
    sent: AtomicU64,
}

impl InProcessTransport {
    /// A transport delivering to `handler`, presenting `token` when given.
    pub fn new(handler: Arc<dyn BatchHandler>, token: Option<Secret>) -> Self {
        Self {
            handler,
            token,
            available: AtomicBool::new(true),
            sent: AtomicU64::new(0),
        }
    }

    /// Simulates the server going down (`false`) or coming back (`true`).
    /// While down, every send fails with a retryable `Unavailable` and the
    /// handler sees nothing.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// How many batches the handler has acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Transport for InProcessTransport {
    async fn send(&self, batch: &MetricBatch) -> Result<Ack, TransportError> {
        if !self.available.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                TransportErrorKind::Unavailable,
                "in-process server is down",
            ));
        }
        let credentials = Credentials {
            agent_id: Some(batch.agent_id.clone()),
            token: self.token.clone(),
        };
        let ack = self.handler.handle(credentials, batch.clone()).await?;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::testing::transport::{ScriptedHandler, awkward_batch, run_all};

    use super::*;

    #[tokio::test]
    async fn in_process_transport_passes_the_conformance_suite() {
        let handler = Arc::new(ScriptedHandler::new());
        let with_token = InProcessTransport::new(handler.clone(), Some(Secret::new("tok-123")));
        run_all(&with_token, &handler, "agent-1", Some("tok-123")).await;
        let without = InProcessTransport::new(handler.clone(), None);
        run_all(&without, &handler, "agent-2", None).await;
    }

    #[tokio::test]
    async fn a_downed_server_is_retryable_and_sees_nothing() {
        let handler = Arc::new(ScriptedHandler::new());
        let t = InProcessTransport::new(handler.clone(), None);
        t.set_available(false);
        let err = t.send(&awkward_batch("a", "b1")).await.unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Unavailable);
        assert!(err.is_retryable());
        assert!(handler.received().is_empty());
        t.set_available(true);
        t.send(&awkward_batch("a", "b1")).await.unwrap();
        assert_eq!(t.acknowledged(), 1);
    }
}
