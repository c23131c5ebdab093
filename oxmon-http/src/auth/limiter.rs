//! Login rate limiting: too many failures per username or per client
//! address within a window refuse further attempts for a while.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Longest username kept as a key, in bytes; longer ones are truncated.
const MAX_KEY_LEN: usize = 256;

/// How long to wait before trying again, in whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

/// Counts login failures per username and per client address, with times
/// from the caller's [`oxmon_core::Clock`].
///
/// A key with `max_failures` failures inside the last `window` is refused
/// until its oldest failure leaves the window. A success clears the
/// username's failures (not the address's). Memory is bounded: beyond
/// `max_keys` tracked keys, stale ones are dropped, and if none is stale
/// new usernames are no longer tracked (their addresses still are).
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window_ms: i64,
    max_keys: usize,
    failures: Mutex<HashMap<Key, VecDeque<i64>>>,
}

impl Default for LoginLimiter {
    /// 5 failures per 5 minutes, up to 100 000 tracked keys.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(300))
    }
}

impl LoginLimiter {
    /// A limiter allowing `max_failures` (at least 1) failures per `window`.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            max_keys: 100_000,
            failures: Mutex::default(),
        }
    }

    fn keys(username: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Key> {
        let mut end = username.len().min(MAX_KEY_LEN);
        while !username.is_char_boundary(end) {
            end -= 1;
        }
        let user = Key::User(username.get(..end).unwrap_or_default().to_owned());
        std::iter::once(user).chain(addr.map(Key::Addr))
    }

    /// `Ok` when a login attempt may proceed now.
    ///
    /// # Errors
    /// [`RetryAfter`] when the username or the address is over the limit.
    pub fn check(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), RetryAfter> {
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let cutoff = now_ms.saturating_sub(self.window_ms);
        let mut wait_ms = 0_i64;
        for key in Self::keys(username, addr) {
            if let Some(times) = map.get(&key) {
                let recent: Vec<i64> = times.iter().copied().filter(|&t| t > cutoff).collect();
                if recent.len() >= self.max_failures {
                    // Allowed again once the failure that brings the count
                    // under the limit has left the window.
                    let idx = recent.len() - self.max_failures;
                    let until = recent[idx].saturating_add(self.window_ms);
                    wait_ms = wait_ms.max(until.saturating_sub(now_ms));
                }
            }
        }
        if wait_ms > 0 {
            let secs = u64::try_from(wait_ms.saturating_add(999) / 1000).unwrap_or(1);
            return Err(RetryAfter(secs.max(1)));
        }
        Ok(())
    }

    /// Records a failed attempt for the username and the address.
    pub fn record_failure(&self, username: &str, addr: Option<IpAddr>, now_ms: i64) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let cutoff = now_ms.saturating_sub(self.window_ms);
        if map.len() >= self.max_keys {
            map.retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
        }
        for key in Self::keys(username, addr) {
            if map.len() >= self.max_keys && !map.contains_key(&key) {
                continue;
            }
            let times = map.entry(key).or_default();
            while times.front().is_some_and(|&t| t <= cutoff) {
                times.pop_front();
            }
            times.push_back(now_ms);
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// Clears the username's failures after a successful login.
    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in Self::keys(username, None) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let addr: Option<IpAddr> = "10.0.0.1".parse().ok();
        for i in 0..3 {
            assert_eq!(l.check("admin", addr, i * 1000), Ok(()));
            l.record_failure("admin", addr, i * 1000);
        }
        assert_eq!(l.check("admin", addr, 3_000), Err(RetryAfter(57)));
        // Another user from the same address is blocked too...
        assert!(l.check("bob", addr, 3_000).is_err());
        // ...but not from another address.
        assert_eq!(l.check("bob", "10.0.0.2".parse().ok(), 3_000), Ok(()));
        // The first failure leaves the window at 60 s.
        assert_eq!(l.check("admin", addr, 60_001), Ok(()));
    }

    #[test]
    fn success_clears_the_username_and_long_names_are_bounded() {
        let l = LoginLimiter::new(1, Duration::from_secs(60));
        l.record_failure("admin", None, 0);
        assert!(l.check("admin", None, 1).is_err());
        l.record_success("admin");
        assert!(l.check("admin", None, 1).is_ok());
        let long = "é".repeat(500);
        l.record_failure(&long, None, 0);
        assert!(l.check(&long, None, 1).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let mut l = LoginLimiter::new(1, Duration::from_secs(60));
        l.max_keys = 10;
        for i in 0..50 {
            l.record_failure(&format!("user{i}"), None, 0);
        }
        assert!(l.failures.lock().expect("lock").len() <= 10);
        // Stale keys are dropped to make room.
        l.record_failure("late", None, 120_000);
        assert!(l.check("late", None, 120_001).is_err());
    }
}
