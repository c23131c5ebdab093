//! The transport contract: how a batch travels from an agent to the server.

use async_trait::async_trait;

use crate::secret::Secret;
use crate::types::MetricBatch;

/// The server's answer to an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ack {
    /// The batch id had been stored before; nothing was stored again.
    pub duplicate: bool,
    /// Samples refused one by one (timestamp too far in the future or older
    /// than retention) while the rest of the batch was stored.
    pub rejected_samples: u64,
    /// The server's message (for logs).
    pub message: String,
}

/// Why a batch was not accepted. Mirrors the gRPC status codes the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The server could not be reached or could not store the batch now. Retryable.
    Unavailable,
    /// No answer in time. Retryable (the batch may or may not have been stored;
    /// the batch id makes the re-send safe).
    Timeout,
    /// The batch is malformed (empty agent id, empty batch, bad names). Permanent.
    InvalidArgument,
    /// Missing or wrong token. Permanent until the configuration changes.
    Unauthenticated,
    /// The token belongs to another agent. Permanent.
    PermissionDenied,
    /// The batch exceeds a limit (too many points, too large). Permanent.
    ResourceExhausted,
    /// The server cannot store this batch and never will (the partition of
    /// its day is unreadable, ...). Permanent: the agent drops it rather than
    /// letting it block every newer batch.
    FailedPrecondition,
    /// Anything else the server reported. Retryable.
    Internal,
}

/// A batch that was not accepted, and whether re-sending it can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    /// The reason.
    pub kind: TransportErrorKind,
    /// The server's or the transport's message.
    pub message: String,
}

impl TransportError {
    /// Builds an error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether the agent should keep the batch and re-send it later. `false`
    /// means the batch can never be accepted as it is: drop it and log it.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Unavailable
                | TransportErrorKind::Timeout
                | TransportErrorKind::Internal
        )
    }
}

/// Sends batches from an agent to a server.
///
/// Implementations: `oxmon_transport::InProcessTransport` (always) and the
/// gRPC client (feature `grpc`). Every implementation runs the conformance
/// suite in `oxmon_core::testing::transport`.
///
/// # Behavior
/// - `send` returns `Ok` only when the server acknowledged the batch, which it
///   does only after storing it durably.
/// - Every field of the batch arrives unchanged (ids, labels, exact `f64`
///   values, timestamps, batch id), and the agent's credentials travel with it.
/// - It never blocks forever: connect and request timeouts apply.
///
/// # Errors
/// [`TransportError`] whose [`TransportError::is_retryable`] tells the agent's
/// buffer whether to keep the batch.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends one batch and waits for the server's answer.
    async fn send(&self, batch: &MetricBatch) -> Result<Ack, TransportError>;
}

/// What an agent presented with a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// The `agent-id` the agent claimed (gRPC metadata).
    pub agent_id: Option<String>,
    /// The bearer token, if any.
    pub token: Option<Secret>,
}

/// The server side of a transport: authenticates, validates, stores and
/// acknowledges a batch. The gRPC service and the in-process transport both
/// hand their batches to one.
///
/// # Errors
/// [`TransportError`] with the kind the agent should see.
#[async_trait]
pub trait BatchHandler: Send + Sync + std::fmt::Debug {
    /// Checks the credentials alone, before the transport reads or decodes
    /// the batch, so that a refused client costs nothing. `handle` must
    /// still authenticate (a transport may skip this step). The default
    /// accepts everything.
    ///
    /// # Errors
    /// `Unauthenticated` or `PermissionDenied` for credentials that
    /// [`BatchHandler::handle`] would refuse; `Unavailable` when they cannot
    /// be checked now.
    async fn authenticate(&self, credentials: &Credentials) -> Result<(), TransportError> {
        let _ = credentials;
        Ok(())
    }

    /// Handles one batch.
    async fn handle(
        &self,
        credentials: Credentials,
        batch: MetricBatch,
    ) -> Result<Ack, TransportError>;
}
