//! Prometheus remote write 1.0 from the store's change log (feature
//! `remote-write`).
//!
//! A [`RemoteWriter`] per `[[remote_write]]` destination reads what the
//! store acknowledged, in order, from its own durable position
//! ([`MetricStore::change_cursor`]), sends it, and commits the position
//! only once the receiver has accepted every request of that read. A
//! receiver that is down for hours loses nothing that is still within
//! retention; a restart of the server resumes at the last committed
//! position (a read in flight when the process died is sent again, which
//! receivers take as the same samples).
//!
//! Requests: each read (at most `batch_size × concurrency` samples) is
//! spread over `concurrency` requests by series, so a series' samples
//! always go out in time order. A failed request is retried with
//! exponential backoff from 100 ms to `max_backoff_ms` on connection
//! errors, timeouts, 5xx, 408 and 429 (honouring `Retry-After`); any other
//! 4xx means the receiver will never take it: its samples are dropped and
//! counted.

mod proto;
mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use oxmon_core::config::{ConfigError, RemoteWriteConfig};
use oxmon_core::sync::LockExt;
use oxmon_core::{ChangeCursor, Changes, Clock, MetricStore};

pub use proto::{Label, Sample, TimeSeries, WriteRequest};

/// How often an idle writer looks for new data.
const POLL: Duration = Duration::from_millis(200);

/// What a destination has done since the server started; `/metrics`
/// shows it per destination.
#[derive(Debug, Default)]
pub struct RemoteWriteStats {
    /// Samples the receiver accepted.
    pub samples_sent: AtomicU64,
    /// Samples of attempts that failed and were retried (a sample retried
    /// three times counts three times).
    pub samples_failed: AtomicU64,
    /// Samples the receiver refused for good (a 4xx other than 408 and
    /// 429), not sent again.
    pub samples_dropped: AtomicU64,
    /// Samples left out by `metrics_allow` / `metrics_deny`.
    pub samples_filtered: AtomicU64,
    /// Requests the receiver accepted.
    pub requests_sent: AtomicU64,
    /// How long the oldest sample not yet sent has been stored, ms (0 when
    /// everything is sent).
    pub lag_ms: AtomicI64,
    /// The last failure, shortened, for logs and status.
    pub last_error: std::sync::Mutex<Option<String>>,
}

/// One remote write destination.
#[derive(Debug)]
pub struct RemoteWriter {
    name: String,
    send: send::Sender,
    shape: proto::Shape,
    batch_size: usize,
    deadline_ms: i64,
    concurrency: usize,
    stats: Arc<RemoteWriteStats>,
}

impl RemoteWriter {
    /// A writer as `config` (the `index`th `[[remote_write]]` of `file`)
    /// says. Reads the CA file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: a bad glob, an unreadable CA file,
    /// a header reqwest refuses.
    pub fn from_config(
        config: &RemoteWriteConfig,
        file: &str,
        index: usize,
    ) -> Result<Self, ConfigError> {
        let field = |f: &str| format!("remote_write[{index}].{f}");
        let globs = |list: &[String], name: &str| -> Result<Vec<glob::Pattern>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(j, g)| {
                    glob::Pattern::new(g).map_err(|e| {
                        ConfigError::field(
                            file,
                            field(&format!("{name}[{j}]")),
                            format!("`{g}`: {e}"),
                        )
                    })
                })
                .collect()
        };
        let shape = proto::Shape {
            allow: globs(&config.metrics_allow, "metrics_allow")?,
            deny: globs(&config.metrics_deny, "metrics_deny")?,
            external_labels: config.external_labels.clone(),
        };
        Ok(Self {
            name: config.destination_name(),
            send: send::Sender::new(config, file, index)?,
            shape,
            batch_size: config.batch_size,
            deadline_ms: i64::try_from(config.send_deadline_ms).unwrap_or(i64::MAX),
            concurrency: config.concurrency,
            stats: Arc::default(),
        })
    }

    /// The destination's name (its change log consumer).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<RemoteWriteStats> {
        self.stats.clone()
    }

    /// Sends what `store` stores, from the destination's committed
    /// position, until `shutdown` completes. The store must have been
    /// opened with this destination as a change log consumer.
    pub async fn run(
        self,
        store: Arc<dyn MetricStore>,
        clock: Arc<dyn Clock>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::select! {
            () = self.run_inner(store, clock) => {}
            () = shutdown => {}
        }
    }

    async fn run_inner(&self, store: Arc<dyn MetricStore>, clock: Arc<dyn Clock>) {
        let mut backoff = send::Backoff::new(self.send.max_backoff);
        let mut cursor = loop {
            match store.change_cursor(&self.name).await {
                Ok(c) => break c,
                Err(e) => {
                    self.note_error(format!("reading the position: {e}"));
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        };
        let want = self.batch_size.saturating_mul(self.concurrency);
        loop {
            let read = match store.read_changes(&cursor, want).await {
                Ok(r) => r,
                Err(e) => {
                    self.note_error(format!("reading the change log: {e}"));
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            let Some(oldest) = read.changes.first().map(|c| c.stored_at_ms) else {
                self.stats.lag_ms.store(0, Ordering::Relaxed);
                tokio::time::sleep(POLL).await;
                continue;
            };
            let now = clock.now_ms();
            self.stats
                .lag_ms
                .store(now.saturating_sub(oldest).max(0), Ordering::Relaxed);
            let samples: usize = read.changes.iter().map(|c| c.batch.samples.len()).sum();
            let waited = now.saturating_sub(oldest);
            if samples < self.batch_size && waited < self.deadline_ms {
                // Not a full request yet: wait for more, at most until the
                // oldest sample's deadline.
                let left = u64::try_from(self.deadline_ms - waited).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(left).min(POLL)).await;
                continue;
            }
            self.send_read(&read).await;
            cursor = self.commit(&store, read.next).await;
            backoff.reset();
        }
    }

    /// Sends one read's requests concurrently, each retried until the
    /// receiver accepts it or refuses it for good.
    async fn send_read(&self, read: &Changes) {
        let built = proto::build(
            read.changes.iter().map(|c| &c.batch),
            &self.shape,
            self.concurrency,
        );
        self.stats
            .samples_filtered
            .fetch_add(built.filtered, Ordering::Relaxed);
        let sends = built
            .shards
            .iter()
            .zip(&built.samples)
            .filter(|(_, n)| **n > 0)
            .map(|(request, &n)| self.send_until_done(request, n));
        let mut set = Vec::new();
        for s in sends {
            set.push(s);
        }
        join_all(set).await;
    }

    async fn send_until_done(&self, request: &WriteRequest, samples: usize) {
        let body = proto::encode(request);
        let n = samples as u64;
        let mut backoff = send::Backoff::new(self.send.max_backoff);
        loop {
            match self.send.post(body.clone()).await {
                Ok(()) => {
                    self.stats.samples_sent.fetch_add(n, Ordering::Relaxed);
                    self.stats.requests_sent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(send::Failure::Permanent(why)) => {
                    self.stats.samples_dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(
                        destination = %self.name,
                        samples,
                        error = %why,
                        "remote write refused for good; samples dropped"
                    );
                    self.note_error(why);
                    return;
                }
                Err(send::Failure::Retry(why, after)) => {
                    self.stats.samples_failed.fetch_add(n, Ordering::Relaxed);
                    let wait = after.unwrap_or_else(|| backoff.next());
                    tracing::warn!(
                        destination = %self.name,
                        error = %why,
                        retry_in_ms = wait.as_millis() as u64,
                        "remote write failed; retrying"
                    );
                    self.note_error(why);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Commits the position past a sent read, retrying until the store
    /// takes it (a position not committed is sent again after a restart).
    async fn commit(&self, store: &Arc<dyn MetricStore>, next: ChangeCursor) -> ChangeCursor {
        let mut backoff = send::Backoff::new(self.send.max_backoff);
        loop {
            match store.commit_changes(&self.name, &next).await {
                Ok(()) => return next,
                Err(e) => {
                    self.note_error(format!("committing the position: {e}"));
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }

    fn note_error(&self, message: String) {
        *self.stats.last_error.locked() = Some(message);
    }
}

/// Runs futures concurrently on this task and waits for all of them.
async fn join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests;
