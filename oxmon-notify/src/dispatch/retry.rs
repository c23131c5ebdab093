//! Retries with exponential backoff and jitter, on retryable failures only.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How often and how patiently a delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1). Default 5.
    pub max_attempts: u32,
    /// Delay before the first retry. Default 1 s; doubles each retry.
    pub min_delay: Duration,
    /// Longest delay between attempts, `Retry-After` included. Default 60 s.
    pub max_delay: Duration,
    /// Add random jitter to each delay (on by default; off for exact tests).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub const fn once() -> &'static Self {
        &Self {
            max_attempts: 1,
            min_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            jitter: false,
        }
    }

    /// The delays between attempts: `max_attempts - 1` of them.
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut b = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            b = b.with_jitter();
        }
        b.build()
    }

    /// The wait before the next attempt: the backoff, or what the far end
    /// asked for when that is longer, never more than `max_delay`.
    pub(crate) fn wait(&self, backoff: Duration, retry_after: Option<Duration>) -> Duration {
        backoff
            .max(retry_after.unwrap_or_default())
            .min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_and_stop() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let d: Vec<u64> = p.delays().map(|d| d.as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8]);
        let j = RetryPolicy::default();
        for (i, d) in j.delays().enumerate() {
            let base = 1u64 << i;
            assert!(
                d >= Duration::from_secs(base) && d <= Duration::from_secs(base * 2),
                "{i}: {d:?}"
            );
        }
        assert_eq!(
            p.wait(Duration::from_secs(1), Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.wait(Duration::from_secs(1), Some(Duration::from_secs(700))),
            Duration::from_secs(60)
        );
    }
}
