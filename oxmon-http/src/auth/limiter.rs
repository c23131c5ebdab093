//! Login rate limiting, counted before the password is checked.
//!
//! # The rule
//!
//! Every login (and password change) attempt is counted *before* its
//! password is checked: [`LoginLimiter::reserve`] either refuses it (the
//! API answers 429 with `Retry-After`) or records it as a failure at once,
//! under one lock. So N concurrent attempts never get more password checks
//! than the limits allow, however they interleave. A correct password takes
//! its own record back ([`LoginLimiter::succeeded`]) and clears the
//! failures of that user from that address; an attempt that never reached
//! the password check (server busy, store error) is taken back with
//! [`LoginLimiter::release`]; an attempt dropped in any other way (a wrong
//! password, a cancelled request) stays counted.
//!
//! An attempt for user `u` from address `a` at time `t` is allowed when all
//! three hold:
//!
//! 1. **User and address** (the lockout): `(u, a)` has fewer than
//!    `max_failures` (default 5) failures in the last `window` (default
//!    300 s). It locks `u` out from `a` only: an attacker elsewhere cannot
//!    lock the owner out.
//! 2. **Address**: `a` has fewer than `max_address_failures` (default 20)
//!    failures in the last `window`, whatever user names it tries.
//! 3. **User, from suspect addresses** (the slower per-user back-off): when
//!    `(u, a)` already has a failure in the window, `a` is *suspect* for
//!    `u`, and then `u` must have had fewer than `user_failures_per_minute`
//!    (default 10) attempts from suspect addresses in the last 60 s. An
//!    address without a failure for `u` is never refused by this rule, so
//!    the owner logging in from a clean address always gets a password
//!    check, however many addresses are attacking the account.
//!
//! A refusal says how long to wait: until enough of the failures that
//! caused it have left their window.
//!
//! What that leaves an attacker: from one address, `max_failures` guesses
//! per user and `max_address_failures` guesses in all per window; with `k`
//! addresses, `k` first guesses plus `user_failures_per_minute` per minute
//! for one user. Beyond that, every password check waits for the hashing
//! pool (see [`super::PasswordPool`]), which bounds the CPU and memory spent
//! whatever the number of addresses.
//!
//! Keys: an IPv4-mapped IPv6 address counts as its IPv4 address, any other
//! IPv6 address as its /64 prefix (one host usually owns a whole /64). A
//! user name is keyed by its SipHash under a key random per process, so the
//! memory used does not depend on what clients send and names cannot be
//! chosen to collide. Attempts without a known client address are keyed by
//! the user alone (rule 2 does not apply).
//!
//! # Memory
//!
//! Each of the three tables keeps at most [`MAX_TRACKED_KEYS`] keys, each
//! with at most its limit of timestamps (about 100 bytes a key). When a
//! table is full, keys without a failure in their window are dropped; if it
//! is still full, the half that failed least recently is dropped. So
//! filling it gives an attacker fresh budgets (the hashing pool still
//! bounds the work) but never locks anyone out.

use oxmon_core::sync::LockExt;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;

/// Most keys each table of a [`LoginLimiter`] keeps.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// The window of the per-user back-off (rule 3), ms.
const USER_WINDOW_MS: i64 = 60_000;

/// How long to wait before trying again, in whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    fn from_ms(ms: i64) -> Self {
        let secs = u64::try_from(ms.saturating_add(999) / 1000).unwrap_or(1);
        Self(secs.max(1))
    }
}

/// The limits of a [`LoginLimiter`]; see the module docs for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one user from one address per `window` (rule 1).
    /// Default 5.
    pub max_failures: usize,
    /// Failures from one address, any user, per `window` (rule 2).
    /// Default 20.
    pub max_address_failures: usize,
    /// The window of rules 1 and 2. Default 300 s.
    pub window: Duration,
    /// Attempts for one user per minute from addresses that already failed
    /// for it (rule 3). Default 10.
    pub user_failures_per_minute: usize,
}

impl LoginLimits {
    /// The limits `[auth]` of `server.toml` sets.
    pub fn from_config(auth: &oxmon_core::config::AuthConfig) -> Self {
        Self {
            max_failures: auth.login_max_failures,
            max_address_failures: auth.login_max_failures_per_address,
            window: Duration::from_secs(auth.login_window_secs),
            user_failures_per_minute: auth.login_user_failures_per_minute,
        }
    }
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_failures: 5,
            max_address_failures: 20,
            window: Duration::from_secs(300),
            user_failures_per_minute: 10,
        }
    }
}

/// An address as the limiter counts it: IPv4, or an IPv6 /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddrKey {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6Prefix(u64::try_from(u128::from(v6) >> 64).unwrap_or(u64::MAX)),
            },
        }
    }
}

/// An allowed attempt, counted as a failure until it is resolved with
/// [`LoginLimiter::succeeded`] or [`LoginLimiter::release`]. Dropping it
/// leaves it counted (a wrong password).
#[derive(Debug)]
#[must_use = "drop it for a wrong password, or resolve it with succeeded() or release()"]
pub struct LoginAttempt {
    user: u64,
    addr: Option<AddrKey>,
    at_ms: i64,
    suspect: bool,
}

/// Failure times per key, within one window and limit.
#[derive(Debug)]
struct Table<K> {
    limit: usize,
    window_ms: i64,
    max_keys: usize,
    map: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(limit: usize, window_ms: i64) -> Self {
        Self {
            limit: limit.max(1),
            window_ms: window_ms.max(1),
            max_keys: MAX_TRACKED_KEYS,
            map: HashMap::new(),
        }
    }

    /// Drops the key's failures that left the window; how many remain.
    fn live(&mut self, key: &K, now_ms: i64) -> usize {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        let Some(times) = self.map.get_mut(key) else {
            return 0;
        };
        while times.front().is_some_and(|&t| t <= cutoff) {
            times.pop_front();
        }
        let n = times.len();
        if n == 0 {
            self.map.remove(key);
        }
        n
    }

    /// How long until the key is under its limit, when it is not now.
    fn wait_ms(&mut self, key: &K, now_ms: i64) -> Option<i64> {
        let n = self.live(key, now_ms);
        if n < self.limit {
            return None;
        }
        let times = self.map.get(key)?;
        // Allowed again once the failure that brings the count under the
        // limit has left the window.
        let oldest_to_expire = *times.get(n - self.limit)?;
        Some(
            oldest_to_expire
                .saturating_add(self.window_ms)
                .saturating_sub(now_ms)
                .max(1),
        )
    }

    fn push(&mut self, key: K, now_ms: i64) {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
            self.make_room(now_ms);
        }
        let times = self.map.entry(key).or_default();
        times.push_back(now_ms);
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    /// Drops keys without a failure in the window, then, if the table is
    /// still full, the half that failed least recently.
    fn make_room(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        self.map
            .retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
        if self.map.len() < self.max_keys {
            return;
        }
        let mut last: Vec<i64> = self
            .map
            .values()
            .filter_map(|t| t.back().copied())
            .collect();
        let mid = last.len() / 2;
        let (_, &mut median, _) = last.select_nth_unstable(mid);
        self.map
            .retain(|_, times| times.back().is_some_and(|&t| t > median));
    }

    /// Takes back one failure recorded at `at_ms`.
    fn remove_one(&mut self, key: &K, at_ms: i64) {
        if let Some(times) = self.map.get_mut(key) {
            if let Some(pos) = times.iter().rposition(|&t| t == at_ms) {
                times.remove(pos);
            }
            if times.is_empty() {
                self.map.remove(key);
            }
        }
    }
}

#[derive(Debug)]
struct Tables {
    pairs: Table<(u64, Option<AddrKey>)>,
    addrs: Table<AddrKey>,
    users: Table<u64>,
}

/// Counts login attempts per user and address, per address and per user
/// from suspect addresses, with times from the caller's
/// [`oxmon_core::Clock`]. The rule is in the module docs.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    names: RandomState,
    tables: Mutex<Tables>,
}

impl Default for LoginLimiter {
    /// [`LoginLimits::default`].
    fn default() -> Self {
        Self::with_limits(LoginLimits::default())
    }
}

impl LoginLimiter {
    /// A limiter allowing `max_failures` (at least 1) failures of a user
    /// from one address per `window`, the other limits at their defaults
    /// (the address limit raised to `max_failures` if it was lower).
    pub fn new(max_failures: usize, window: Duration) -> Self {
        let d = LoginLimits::default();
        Self::with_limits(LoginLimits {
            max_failures,
            window,
            max_address_failures: d.max_address_failures.max(max_failures),
            ..d
        })
    }

    /// A limiter with these limits (each at least 1).
    pub fn with_limits(limits: LoginLimits) -> Self {
        let window_ms = i64::try_from(limits.window.as_millis()).unwrap_or(i64::MAX);
        Self {
            limits,
            names: RandomState::new(),
            tables: Mutex::new(Tables {
                pairs: Table::new(limits.max_failures, window_ms),
                addrs: Table::new(limits.max_address_failures, window_ms),
                users: Table::new(limits.user_failures_per_minute, USER_WINDOW_MS),
            }),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.locked()
    }

    /// Counts an attempt of `username` from `addr` at `now_ms`, before its
    /// password is checked.
    ///
    /// # Errors
    /// [`RetryAfter`] when a limit refuses it; nothing is recorded then.
    pub fn reserve(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<LoginAttempt, RetryAfter> {
        let user = self.names.hash_one(username);
        let addr = addr.map(AddrKey::from);
        let pair = (user, addr);
        let mut t = self.lock();
        let suspect = t.pairs.live(&pair, now_ms) > 0;
        let waits = [
            t.pairs.wait_ms(&pair, now_ms),
            addr.and_then(|a| t.addrs.wait_ms(&a, now_ms)),
            if suspect {
                t.users.wait_ms(&user, now_ms)
            } else {
                None
            },
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(RetryAfter::from_ms(wait));
        }
        t.pairs.push(pair, now_ms);
        if let Some(a) = addr {
            t.addrs.push(a, now_ms);
        }
        if suspect {
            t.users.push(user, now_ms);
        }
        Ok(LoginAttempt {
            user,
            addr,
            at_ms: now_ms,
            suspect,
        })
    }

    /// The attempt's password was right: it is not a failure, and the
    /// user's failures from that address are forgotten.
    pub fn succeeded(&self, attempt: LoginAttempt) {
        let mut t = self.lock();
        t.pairs.map.remove(&(attempt.user, attempt.addr));
        Self::take_back(&mut t, &attempt, false);
    }

    /// The attempt never reached the password check (server busy, store
    /// error): it is forgotten as if never made.
    pub fn release(&self, attempt: LoginAttempt) {
        let mut t = self.lock();
        Self::take_back(&mut t, &attempt, true);
    }

    fn take_back(t: &mut Tables, attempt: &LoginAttempt, pair_too: bool) {
        if pair_too {
            t.pairs
                .remove_one(&(attempt.user, attempt.addr), attempt.at_ms);
        }
        if let Some(a) = attempt.addr {
            t.addrs.remove_one(&a, attempt.at_ms);
        }
        if attempt.suspect {
            t.users.remove_one(&attempt.user, attempt.at_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn limiter(max: usize, per_addr: usize, per_user: usize) -> LoginLimiter {
        LoginLimiter::with_limits(LoginLimits {
            max_failures: max,
            max_address_failures: per_addr,
            window: Duration::from_secs(60),
            user_failures_per_minute: per_user,
        })
    }

    #[test]
    fn the_lockout_is_per_user_and_address_and_ends_with_the_window() {
        let l = limiter(3, 100, 100);
        let a = ip("10.0.0.1");
        for i in 0..3 {
            let _ = l.reserve("admin", a, i * 1000).expect("allowed");
        }
        assert_eq!(
            l.reserve("admin", a, 3_000).map(|_| ()),
            Err(RetryAfter(57))
        );
        // The same user from elsewhere, another user from there: allowed.
        assert!(l.reserve("admin", ip("10.0.0.2"), 3_000).is_ok());
        assert!(l.reserve("bob", a, 3_000).is_ok());
        // The first failure leaves the window at 60 s.
        assert!(l.reserve("admin", a, 60_001).is_ok());
    }

    #[test]
    fn reserving_counts_before_the_check_so_a_burst_gets_the_limit() {
        let l = limiter(5, 100, 100);
        let a = ip("10.0.0.1");
        let allowed: Vec<LoginAttempt> = (0..200)
            .filter_map(|_| l.reserve("admin", a, 0).ok())
            .collect();
        assert_eq!(allowed.len(), 5);
    }

    #[test]
    fn success_clears_the_pair_and_release_forgets_the_attempt() {
        let l = limiter(2, 100, 100);
        let a = ip("10.0.0.1");
        let _ = l.reserve("admin", a, 0).expect("first");
        let ok = l.reserve("admin", a, 1).expect("second");
        assert!(l.reserve("admin", a, 2).is_err());
        l.succeeded(ok);
        let _ = l.reserve("admin", a, 3).expect("cleared");
        let busy = l.reserve("admin", a, 4).expect("second again");
        assert!(l.reserve("admin", a, 5).is_err());
        l.release(busy);
        assert!(l.reserve("admin", a, 6).is_ok());
    }

    #[test]
    fn one_address_is_limited_across_user_names() {
        let l = limiter(5, 4, 100);
        let a = ip("10.0.0.1");
        for i in 0..4 {
            let _ = l.reserve(&format!("user{i}"), a, 0).expect("allowed");
        }
        assert!(l.reserve("user9", a, 0).is_err());
        assert!(l.reserve("user9", ip("10.0.0.2"), 0).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = limiter(2, 100, 100);
        let _ = l.reserve("admin", ip("2001:db8::1"), 0).expect("1");
        let _ = l.reserve("admin", ip("2001:db8::ffff:2"), 0).expect("2");
        assert!(l.reserve("admin", ip("2001:db8::3"), 0).is_err());
        assert!(l.reserve("admin", ip("2001:db8:0:1::1"), 0).is_ok());
        let _ = l.reserve("bob", ip("10.0.0.1"), 0).expect("1");
        let _ = l.reserve("bob", ip("10.0.0.1"), 0).expect("2");
        assert!(l.reserve("bob", ip("::ffff:10.0.0.1"), 0).is_err());
    }

    #[test]
    fn the_user_back_off_spares_clean_addresses() {
        // 2 attempts a minute for admin from addresses that failed before.
        let l = limiter(5, 100, 2);
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        // First attempts from a and b are clean; second ones are suspect.
        for addr in [a, b] {
            let _ = l.reserve("admin", addr, 0).expect("clean");
            let _ = l.reserve("admin", addr, 0).expect("suspect, in budget");
        }
        // The budget is spent: a third guess from a or b waits a minute...
        assert_eq!(
            l.reserve("admin", a, 1_000).map(|_| ()),
            Err(RetryAfter(59))
        );
        assert!(l.reserve("admin", b, 1_000).is_err());
        // ...but the owner from a clean address is checked.
        assert!(l.reserve("admin", ip("192.168.1.9"), 1_000).is_ok());
        // Another user is not affected.
        assert!(l.reserve("bob", a, 1_000).is_ok());
        assert!(l.reserve("admin", a, 60_000).is_ok());
    }

    #[test]
    fn without_an_address_the_user_alone_is_counted() {
        let l = limiter(1, 1, 100);
        let _ = l.reserve("admin", None, 0).expect("first");
        assert!(l.reserve("admin", None, 1).is_err());
        assert!(l.reserve("bob", None, 1).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_full_tables_lock_nobody_out() {
        let l = limiter(1, 1, 100);
        {
            let mut t = l.lock();
            t.pairs.max_keys = 10;
            t.addrs.max_keys = 10;
        }
        for i in 0..50_u8 {
            let addr = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
            let _ = l
                .reserve(&format!("user{i}"), addr, i64::from(i))
                .expect("new key");
        }
        {
            let t = l.lock();
            assert!(t.pairs.map.len() <= 10);
            assert!(t.addrs.map.len() <= 10);
        }
        // The most recent keys are kept.
        assert!(l.reserve("user49", ip("10.0.0.49"), 50).is_err());
        // Stale keys make room.
        assert!(l.reserve("late", ip("10.0.1.1"), 120_000).is_ok());
        assert!(l.reserve("late", ip("10.0.1.1"), 120_001).is_err());
    }
}
