//! Store and forward: the agent side of a transport that loses nothing to a
//! server outage.
//!
//! ```text
//! ForwardQueue::push     -> BatchBuffer (at most `capacity` batches, packed; the oldest dropped and counted)
//! send task (start)      -> one batch at a time, oldest first, with a request timeout
//!     acknowledged           -> removed, never sent again
//!     rejected permanently   -> dropped and logged (never re-sent forever)
//!     retryable failure      -> kept first in line; exponential backoff with jitter (capped)
//! Sending::finish(grace) -> tries to send what is left for the grace period
//! ```
//!
//! Pushing never waits for the network: a hung server only fills the buffer.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use oxmon_core::{Ack, Labels, MetricBatch, Sample, Transport, TransportError};
//! use oxmon_transport::forward::{ForwardOptions, ForwardQueue};
//!
//! /// A server that acknowledges everything (the gRPC client in production).
//! #[derive(Debug, Default)]
//! struct Server(Mutex<Vec<String>>);
//!
//! #[async_trait::async_trait]
//! impl Transport for Server {
//!     async fn send(&self, batch: &MetricBatch) -> Result<Ack, TransportError> {
//!         self.0.lock().unwrap().push(batch.batch_id.clone().unwrap_or_default());
//!         Ok(Ack::default())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = Arc::new(Server::default());
//! let queue = ForwardQueue::new(1000);
//! let sending = queue.start(server.clone(), ForwardOptions::default());
//! for n in 1..=3 {
//!     queue.push(MetricBatch {
//!         agent_id: "web-1".into(),
//!         batch_id: Some(format!("web-1/{n}")),
//!         timestamp_ms: 1_767_225_600_000,
//!         samples: vec![Sample::new("cpu.usage", Labels::new(), 1_767_225_600_000, 12.5)],
//!     });
//! }
//! assert!(sending.finish(Duration::from_secs(5)).await, "everything was sent");
//! assert_eq!(queue.stats().sent, 3);
//! assert_eq!(*server.0.lock().unwrap(), ["web-1/1", "web-1/2", "web-1/3"]);
//! # }
//! ```

mod buffer;
mod sender;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use oxmon_core::sync::LockExt;
use oxmon_core::{MetricBatch, Transport};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use buffer::BatchBuffer;

/// How the send task talks to the server. The defaults suit production.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardOptions {
    /// Longest wait for the server's answer to one batch. Default 10 s.
    pub request_timeout: Duration,
    /// First retry delay after a failed send. Default 1 s.
    pub backoff_min: Duration,
    /// Longest retry delay while the server stays down. Default 60 s.
    pub backoff_max: Duration,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// A snapshot of the queue's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardStats {
    /// Batches the server acknowledged.
    pub sent: u64,
    /// Of those, batches the server already had (a re-send after a lost answer).
    pub duplicates: u64,
    /// Batches waiting in the buffer (and in flight) now.
    pub buffered: u64,
    /// Batches dropped because the buffer was full (the oldest go first).
    pub dropped: u64,
    /// Batches the server rejected permanently; dropped, never re-sent.
    pub rejected: u64,
    /// Samples the server refused one by one inside acknowledged batches.
    pub rejected_samples: u64,
    /// Send attempts that failed in a retryable way (server down, timeout).
    pub send_failures: u64,
}

impl fmt::Display for ForwardStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} buffered={} dropped={} rejected={} send_failures={} duplicates={} rejected_samples={}",
            self.sent,
            self.buffered,
            self.dropped,
            self.rejected,
            self.send_failures,
            self.duplicates,
            self.rejected_samples,
        )
    }
}

/// The live counters.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    duplicates: AtomicU64,
    buffered: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    rejected_samples: AtomicU64,
    send_failures: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ForwardStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ForwardStats {
            sent: g(&self.sent),
            duplicates: g(&self.duplicates),
            buffered: g(&self.buffered),
            dropped: g(&self.dropped),
            rejected: g(&self.rejected),
            rejected_samples: g(&self.rejected_samples),
            send_failures: g(&self.send_failures),
        }
    }
}

/// State shared by the pushers and the send task.
#[derive(Debug)]
struct Shared {
    buffer: Mutex<BatchBuffer>,
    /// Woken when a batch is buffered.
    wake: Notify,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BatchBuffer> {
        self.buffer.locked()
    }

    /// Takes the oldest batch for sending.
    fn pop(&self) -> Option<MetricBatch> {
        let mut b = self.lock();
        let batch = b.pop()?;
        // `buffered` also counts a batch in flight: one more than the queue
        // while a send is under way, corrected when it ends.
        Counters::set(&self.counters.buffered, b.len() as u64 + 1);
        Some(batch)
    }

    /// A send ended for good (acknowledged or rejected).
    fn done(&self) {
        let len = self.lock().len();
        Counters::set(&self.counters.buffered, len as u64);
    }

    /// A send failed in a retryable way: the batch goes back first in line,
    /// unless the buffer filled up meanwhile (then it is the oldest, dropped).
    fn requeue(&self, batch: MetricBatch) {
        let (dropped, len) = {
            let mut b = self.lock();
            let dropped = b.requeue(batch);
            (dropped, b.len())
        };
        Counters::set(&self.counters.buffered, len as u64);
        if let Some(old) = dropped {
            Counters::add(&self.counters.dropped, 1);
            tracing::warn!(
                batch_id = old.batch_id.as_deref().unwrap_or("-"),
                "buffer full: dropped the oldest batch"
            );
        }
    }

    fn buffered(&self) -> usize {
        self.lock().len()
    }
}

/// A bounded queue of batches for the server, and the counters of what
/// became of them. Cheap to clone; clones share the queue.
#[derive(Debug, Clone)]
pub struct ForwardQueue {
    shared: Arc<Shared>,
}

impl ForwardQueue {
    /// An empty queue holding at most `capacity` batches (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                buffer: Mutex::new(BatchBuffer::new(capacity)),
                wake: Notify::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// Queues the newest batch, dropping (and logging) the oldest when full.
    /// Never waits.
    pub fn push(&self, batch: MetricBatch) {
        let shared = &self.shared;
        let (evicted, len, capacity) = {
            let mut b = shared.lock();
            let evicted = b.push(batch);
            (evicted, b.len(), b.capacity())
        };
        Counters::set(&shared.counters.buffered, len as u64);
        if let Some(old) = evicted {
            Counters::add(&shared.counters.dropped, 1);
            tracing::warn!(
                batch_id = old.batch_id.as_deref().unwrap_or("-"),
                samples = old.samples.len(),
                buffer_max_size = capacity,
                dropped_total = shared.counters.snapshot().dropped,
                "buffer full: dropped the oldest batch"
            );
        }
        shared.wake.notify_one();
    }

    /// The counters now.
    pub fn stats(&self) -> ForwardStats {
        self.shared.counters.snapshot()
    }

    /// Starts the send task on the current Tokio runtime: it sends the
    /// queued batches through `transport`, oldest first, until
    /// [`Sending::finish`].
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn start(&self, transport: Arc<dyn Transport>, options: ForwardOptions) -> Sending {
        let (drain, draining) = watch::channel(false);
        let task = tokio::spawn(sender::send_loop(
            self.shared.clone(),
            transport,
            options,
            draining,
        ));
        Sending {
            drain,
            task,
            shared: self.shared.clone(),
        }
    }
}

/// The running send task of a [`ForwardQueue`].
#[derive(Debug)]
pub struct Sending {
    drain: watch::Sender<bool>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Sending {
    /// Stops the send task once the queue is empty, or after `grace`,
    /// whichever comes first; retries during the grace period wait at most
    /// half a second. Returns whether everything queued was sent (or
    /// rejected); batches left are lost and logged.
    pub async fn finish(self, grace: Duration) -> bool {
        let Sending {
            drain,
            mut task,
            shared,
        } = self;
        let _ = drain.send(true);
        if tokio::time::timeout(grace, &mut task).await.is_ok() {
            tracing::debug!("buffer flushed");
            return true;
        }
        task.abort();
        tracing::warn!(
            unsent = shared.counters.snapshot().buffered,
            grace = ?grace,
            "shutdown grace period over; unsent batches are lost"
        );
        false
    }
}
