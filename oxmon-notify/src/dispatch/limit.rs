//! Per-channel rate limits: a sliding window of send times.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// At most `max` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages allowed in one window (at least 1).
    pub max: u32,
    /// The window.
    pub per: Duration,
}

impl RateLimit {
    /// The DingTalk and WeCom robot limit: 20 messages a minute.
    pub const ROBOT: RateLimit = RateLimit {
        max: 20,
        per: Duration::from_secs(60),
    };

    /// The default limit for a channel `type`: [`RateLimit::ROBOT`] for
    /// `dingtalk` and `weixin`, none for the others.
    pub fn default_for(kind: &str) -> Option<Self> {
        matches!(kind, "dingtalk" | "weixin").then_some(Self::ROBOT)
    }
}

/// The send times within the last window.
#[derive(Debug)]
pub(crate) struct Window {
    limit: RateLimit,
    sent: VecDeque<Instant>,
}

impl Window {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            sent: VecDeque::new(),
        }
    }

    /// Takes one slot now, or says when the next one frees up.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.limit.per)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.limit.max.max(1) as usize {
            self.sent.push_back(now);
            Ok(())
        } else {
            Err(self.sent.front().map_or(now, |t| *t + self.limit.per))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut w = Window::new(RateLimit {
            max: 2,
            per: Duration::from_secs(60),
        });
        let t = Instant::now();
        assert!(w.try_take(t).is_ok());
        assert!(w.try_take(t + Duration::from_secs(10)).is_ok());
        assert_eq!(
            w.try_take(t + Duration::from_secs(20)),
            Err(t + Duration::from_secs(60))
        );
        assert!(w.try_take(t + Duration::from_secs(60)).is_ok());
        assert_eq!(RateLimit::default_for("weixin"), Some(RateLimit::ROBOT));
        assert_eq!(RateLimit::default_for("email"), None);
    }
}
