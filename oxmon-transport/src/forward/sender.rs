//! The send loop: takes batches from the buffer in order, sends them one at a
//! time, and tells acknowledged, permanently rejected and retryable apart.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use oxmon_core::{MetricBatch, Transport, TransportError, TransportErrorKind};
use tokio::sync::watch;

use super::{Counters, ForwardOptions, Shared};

/// Retry delays while the server is down: exponential from `min`, doubling,
/// with jitter. Each delay lies in `[d, 2d)` for the current step `d`, and
/// `d` stops growing at `max / 2`, so no delay exceeds `max` and agents that
/// lost the same server spread their retries.
#[derive(Debug)]
pub(super) struct Backoff {
    builder: ExponentialBuilder,
    current: Option<ExponentialBackoff>,
}

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration) -> Self {
        let half = (max / 2).max(min);
        let builder = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(half)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            current: None,
        }
    }

    /// The delay before the next retry.
    pub(super) fn next_delay(&mut self) -> Duration {
        let builder = self.builder;
        let it = self.current.get_or_insert_with(|| builder.build());
        it.next().unwrap_or(Duration::from_secs(1))
    }

    /// The server answered: the next failure starts from the minimum again.
    pub(super) fn reset(&mut self) {
        self.current = None;
    }

    /// Whether the last attempt failed.
    pub(super) fn failing(&self) -> bool {
        self.current.is_some()
    }
}

/// What the loop needs to know besides the shared state.
/// Sends until `draining` is set and the buffer is empty. Aborting the
/// task is the way to stop it while batches remain.
pub(super) async fn send_loop(
    shared: Arc<Shared>,
    transport: Arc<dyn Transport>,
    settings: ForwardOptions,
    mut draining: watch::Receiver<bool>,
) {
    let c = &shared.counters;
    let mut backoff = Backoff::new(settings.backoff_min, settings.backoff_max);
    let mut failures_in_row: u64 = 0;
    loop {
        let Some(batch) = shared.pop() else {
            if *draining.borrow() {
                return;
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                r = draining.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
            }
            continue;
        };
        let result =
            match tokio::time::timeout(settings.request_timeout, transport.send(&batch)).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    format!("no answer within {:?}", settings.request_timeout),
                )),
            };
        match result {
            Ok(ack) => {
                if backoff.failing() {
                    tracing::info!(
                        failed_attempts = failures_in_row,
                        buffered = shared.buffered(),
                        "server reachable again, sending the buffered batches"
                    );
                }
                backoff.reset();
                failures_in_row = 0;
                Counters::add(&c.sent, 1);
                if ack.duplicate {
                    Counters::add(&c.duplicates, 1);
                }
                if ack.rejected_samples > 0 {
                    Counters::add(&c.rejected_samples, ack.rejected_samples);
                    tracing::warn!(
                        batch_id = batch_id(&batch),
                        rejected_samples = ack.rejected_samples,
                        message = %ack.message,
                        "server stored the batch but refused some samples"
                    );
                }
                shared.done();
            }
            Err(e) if !e.is_retryable() => {
                Counters::add(&c.rejected, 1);
                tracing::error!(
                    batch_id = batch_id(&batch),
                    samples = batch.samples.len(),
                    kind = ?e.kind,
                    error = %e.message,
                    "server rejected the batch permanently; dropped it"
                );
                shared.done();
            }
            Err(e) => {
                Counters::add(&c.send_failures, 1);
                failures_in_row += 1;
                let mut delay = backoff.next_delay();
                if *draining.borrow() {
                    // Shutting down: a few quick attempts within the grace period.
                    delay = delay.min(Duration::from_millis(500));
                }
                if failures_in_row == 1 {
                    tracing::warn!(
                        kind = ?e.kind,
                        error = %e.message,
                        retry_in = ?delay,
                        "cannot send to the server; buffering batches"
                    );
                } else {
                    tracing::debug!(kind = ?e.kind, error = %e.message, retry_in = ?delay, "send failed");
                }
                shared.requeue(batch);
                if *draining.borrow() {
                    tokio::time::sleep(delay).await;
                } else {
                    // Shutdown cuts a long backoff short: the grace period is
                    // for flushing, not for waiting.
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = draining.changed() => {}
                    }
                }
            }
        }
    }
}

fn batch_id(batch: &MetricBatch) -> &str {
    batch.batch_id.as_deref().unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_under_the_cap_and_resets() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut b = Backoff::new(min, max);
        assert!(!b.failing());
        let delays: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(b.failing());
        assert!(delays[0] >= min && delays[0] < 2 * min, "{:?}", delays[0]);
        assert!(delays[3] >= 8 * min, "{:?}", delays[3]);
        for d in &delays {
            assert!(*d <= max, "{d:?} above the cap");
        }
        assert!(
            delays[19] >= max / 2,
            "it reaches the cap: {:?}",
            delays[19]
        );
        let distinct: std::collections::BTreeSet<_> = delays[10..].iter().collect();
        assert!(distinct.len() > 1, "jitter spreads the retries");
        b.reset();
        assert!(!b.failing());
        assert!(b.next_delay() < 2 * min);
    }
}
