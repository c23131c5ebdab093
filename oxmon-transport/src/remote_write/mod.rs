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
use oxmon_core::{Change, ChangeCursor, Clock, MetricStore};

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
    /// Samples sent again after the receiver was unreachable or the server
    /// started (`resend_secs`); also counted in `samples_sent`.
    pub samples_resent: AtomicU64,
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
    resend_ms: i64,
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
            resend_ms: i64::try_from(config.resend_secs)
                .unwrap_or(0)
                .saturating_mul(1000),
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
        // What was sent before (this process or an earlier one): a
        // receiver that crashed meanwhile may have lost the end of it.
        let mut sent_before = cursor.clone();
        cursor = self.rewind(&store, cursor).await;
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
                if read.next != cursor {
                    // Only unreadable rows: past them for good.
                    cursor = self.commit(&store, read.next).await;
                }
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
            // What was sent before goes out on its own, first: a receiver
            // that kept it refuses it as out of order (Prometheus), which
            // must not cost the new samples beside it.
            let (again, fresh): (Vec<&Change>, Vec<&Change>) = read.changes.iter().partition(|c| {
                sent_before
                    .0
                    .get(&c.position.0)
                    .is_some_and(|&s| c.position.1 <= s)
            });
            let resent: usize = again.iter().map(|c| c.batch.samples.len()).sum();
            self.stats
                .samples_resent
                .fetch_add(resent as u64, Ordering::Relaxed);
            let mut unreachable = self.send_changes(&again, true).await;
            unreachable |= self.send_changes(&fresh, false).await;
            for (day, seq) in &read.next.0 {
                let high = sent_before.0.entry(*day).or_insert(*seq);
                *high = (*high).max(*seq);
            }
            cursor = if unreachable && self.resend_ms > 0 {
                // The receiver went away meanwhile: what it acknowledged
                // before may be lost. Send it again, then go on (the
                // position is committed once a read goes through cleanly).
                self.rewind(&store, cursor).await
            } else {
                self.commit(&store, read.next).await
            };
            backoff.reset();
        }
    }

    /// The position `resend_secs` before `cursor` (itself when resending
    /// is off or the store cannot say).
    async fn rewind(&self, store: &Arc<dyn MetricStore>, cursor: ChangeCursor) -> ChangeCursor {
        if self.resend_ms == 0 {
            return cursor;
        }
        match store.rewind_changes(&cursor, self.resend_ms).await {
            Ok(back) => back,
            Err(e) => {
                self.note_error(format!("rewinding to send again: {e}"));
                cursor
            }
        }
    }

    /// Sends changes: requests by shard concurrently, each retried until
    /// the receiver accepts it or refuses it for good (`again`: samples sent
    /// before, whose refusal drops nothing). Whether the receiver was
    /// unreachable at some point.
    async fn send_changes(&self, changes: &[&Change], again: bool) -> bool {
        if changes.is_empty() {
            return false;
        }
        let built = proto::build(
            changes.iter().map(|c| &c.batch),
            &self.shape,
            self.concurrency,
        );
        self.stats
            .samples_filtered
            .fetch_add(built.filtered, Ordering::Relaxed);
        // Shards go out concurrently; within a shard, requests of at most
        // batch_size samples one after the other (a read can hold more:
        // it ends at a whole log row).
        let sends = built.shards.into_iter().map(|shard| async move {
            let mut unreachable = false;
            for (request, n) in proto::split(shard, self.batch_size) {
                unreachable |= self.send_until_done(&request, n, again).await;
            }
            unreachable
        });
        join_all(sends.collect()).await.into_iter().any(|u| u)
    }

    /// Whether the receiver was unreachable at some point.
    async fn send_until_done(&self, request: &WriteRequest, samples: usize, again: bool) -> bool {
        let body = proto::encode(request);
        let n = samples as u64;
        let mut backoff = send::Backoff::new(self.send.max_backoff);
        let mut unreachable = false;
        loop {
            let (why, after) = match self.send.post(body.clone()).await {
                Ok(()) => {
                    self.stats.samples_sent.fetch_add(n, Ordering::Relaxed);
                    self.stats.requests_sent.fetch_add(1, Ordering::Relaxed);
                    return unreachable;
                }
                Err(send::Failure::Permanent(why)) if again => {
                    tracing::debug!(
                        destination = %self.name,
                        samples,
                        error = %why,
                        "samples sent again refused (the receiver has them)"
                    );
                    return unreachable;
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
                    return unreachable;
                }
                Err(send::Failure::Unreachable(why, after)) => {
                    unreachable = true;
                    (why, after)
                }
                Err(send::Failure::Retry(why, after)) => (why, after),
            };
            self.stats.samples_failed.fetch_add(n, Ordering::Relaxed);
            // Never faster than the backoff, whatever Retry-After says.
            let step = backoff.next();
            let wait = after.map_or(step, |a| a.max(step));
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

    /// Commits the position past a sent read. A store that cannot record
    /// it now does not stop sending: the next commit records it, and what
    /// a restart would send again in between is what receivers take twice.
    async fn commit(&self, store: &Arc<dyn MetricStore>, next: ChangeCursor) -> ChangeCursor {
        if let Err(e) = store.commit_changes(&self.name, &next).await {
            tracing::warn!(destination = %self.name, error = %e, "remote write position not recorded");
            self.note_error(format!("committing the position: {e}"));
        }
        next
    }

    fn note_error(&self, message: String) {
        *self.stats.last_error.locked() = Some(message);
    }
}

/// Runs futures concurrently on this task; their outputs, in order.
async fn join_all<T, F: std::future::Future<Output = T>>(futures: Vec<F>) -> Vec<T> {
    let mut slots: Vec<(std::pin::Pin<Box<F>>, Option<T>)> =
        futures.into_iter().map(|f| (Box::pin(f), None)).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (f, out) in &mut slots {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(slots.iter_mut().filter_map(|(_, o)| o.take()).collect())
        }
    })
    .await
}

#[cfg(test)]
mod tests;
