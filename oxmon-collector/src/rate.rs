//! Counter arithmetic: from two readings of a monotonically increasing
//! counter to a per-second rate, without ever producing a negative or
//! absurd value when the counter wrapped or was reset.
//!
//! Everything here is pure, so tests feed it any counters they like.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How wide a counter is, which decides where it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterWidth {
    /// A 64-bit counter (Linux on 64-bit machines, and `rtnl_link_stats64`
    /// everywhere): it wraps at 2^64, which in practice never happens.
    #[default]
    Bits64,
    /// A counter that may be 32 bits wide (some drivers on 32-bit kernels):
    /// a value that fits in 32 bits may wrap at 2^32. A value above
    /// `u32::MAX` proves the counter is 64-bit, which is then assumed.
    Bits32,
}

impl CounterWidth {
    /// The width to assume for the kernel's network counters on this build:
    /// [`CounterWidth::Bits32`] on 32-bit targets, else [`CounterWidth::Bits64`].
    pub const fn native() -> Self {
        if cfg!(target_pointer_width = "64") {
            CounterWidth::Bits64
        } else {
            CounterWidth::Bits32
        }
    }
}

/// How much a counter grew from `prev` to `cur`.
///
/// - `cur >= prev`: the difference.
/// - `cur < prev`: either the counter wrapped or it was reset (driver
///   reload, interface re-created). A wrap is accepted when the wrapped
///   difference is less than half the counter's range (what a real wrap
///   between two readings looks like); anything else is a reset, for which
///   the growth is unknown: `None`, never a negative or huge number.
pub fn counter_delta(prev: u64, cur: u64, width: CounterWidth) -> Option<u64> {
    if cur >= prev {
        return Some(cur - prev);
    }
    let fits_32 = |v: u64| u32::try_from(v).is_ok();
    if width == CounterWidth::Bits32 && fits_32(prev) && fits_32(cur) {
        // Both values fit: the wrap happened at 2^32.
        let delta = (1u64 << 32) - prev + cur;
        return (delta < 1u64 << 31).then_some(delta);
    }
    let delta = cur.wrapping_sub(prev);
    (delta < 1u64 << 63).then_some(delta)
}

/// The per-second rate of a counter that went from `prev` to `cur` in
/// `elapsed`.
///
/// `None` when the rate is unknown: zero elapsed time (two readings at the
/// same instant) or a reset (see [`counter_delta`]). Never negative, never
/// NaN or infinite.
pub fn per_second(prev: u64, cur: u64, elapsed: Duration, width: CounterWidth) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let delta = counter_delta(prev, cur, width)?;
    let rate = delta as f64 / secs;
    rate.is_finite().then_some(rate)
}

/// Remembers the last reading of a set of `N` counters per key (an interface,
/// a device) and turns each new reading into `N` rates.
///
/// Keys not seen in a round are forgotten by [`RateTracker::retain_seen`],
/// so churning keys (container interfaces) do not accumulate.
#[derive(Debug, Clone)]
pub struct RateTracker<K, const N: usize> {
    width: CounterWidth,
    last: HashMap<K, Entry<N>>,
    round: u64,
}

#[derive(Debug, Clone)]
struct Entry<const N: usize> {
    values: [u64; N],
    at: Instant,
    round: u64,
}

impl<K: Eq + Hash, const N: usize> RateTracker<K, N> {
    /// A tracker with no readings, for counters of `width`.
    pub fn new(width: CounterWidth) -> Self {
        Self {
            width,
            last: HashMap::new(),
            round: 0,
        }
    }

    /// Starts a new round of readings (call once per collection, before
    /// [`RateTracker::observe`]).
    pub fn begin_round(&mut self) {
        self.round = self.round.wrapping_add(1);
    }

    /// Records `values` read at `at` for `key` and returns the rates since the
    /// previous reading of that key. The first reading of a key returns
    /// `None` (no rate rather than a fake 0), so does a reading at the same
    /// instant or earlier; a counter that was reset gives `None` in its slot
    /// while the others still get their rate.
    pub fn observe(&mut self, key: K, values: [u64; N], at: Instant) -> Option<[Option<f64>; N]> {
        let round = self.round;
        let width = self.width;
        match self.last.get_mut(&key) {
            None => {
                self.last.insert(key, Entry { values, at, round });
                None
            }
            Some(entry) => {
                let elapsed = at.checked_duration_since(entry.at);
                let rates = elapsed.map(|elapsed| {
                    std::array::from_fn(|i| per_second(entry.values[i], values[i], elapsed, width))
                });
                *entry = Entry { values, at, round };
                rates
            }
        }
    }

    /// Forgets the keys not observed in the current round.
    pub fn retain_seen(&mut self) {
        let round = self.round;
        self.last.retain(|_, e| e.round == round);
    }

    /// How many keys have a previous reading.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no key has a previous reading.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_S: Duration = Duration::from_secs(10);

    #[test]
    fn growth_over_time_is_a_rate() {
        assert_eq!(
            per_second(1_000, 11_000, TEN_S, CounterWidth::Bits64),
            Some(1_000.0)
        );
        assert_eq!(per_second(5, 5, TEN_S, CounterWidth::Bits64), Some(0.0));
        let half = Duration::from_millis(500);
        assert_eq!(per_second(0, 100, half, CounterWidth::Bits64), Some(200.0));
    }

    #[test]
    fn zero_elapsed_time_gives_no_rate() {
        assert_eq!(per_second(1, 2, Duration::ZERO, CounterWidth::Bits64), None);
    }

    #[test]
    fn a_reset_gives_no_rate_rather_than_a_negative_or_huge_one() {
        for width in [CounterWidth::Bits64, CounterWidth::Bits32] {
            assert_eq!(counter_delta(1_000_000, 10, width), None, "{width:?}");
            assert_eq!(per_second(1_000_000, 0, TEN_S, width), None, "{width:?}");
        }
        // A 64-bit counter far above 32 bits reset to a small value.
        assert_eq!(counter_delta(50_000_000_000, 3, CounterWidth::Bits32), None);
    }

    #[test]
    fn a_64_bit_wrap_counts_the_growth_across_the_wrap() {
        let prev = u64::MAX - 99;
        assert_eq!(counter_delta(prev, 900, CounterWidth::Bits64), Some(1_000));
        assert_eq!(
            per_second(prev, 900, TEN_S, CounterWidth::Bits64),
            Some(100.0)
        );
        assert_eq!(
            counter_delta(u64::MAX, 0, CounterWidth::Bits32),
            Some(1),
            "a value above 32 bits is a 64-bit counter"
        );
    }

    #[test]
    fn a_32_bit_wrap_counts_the_growth_across_the_wrap() {
        let prev = u64::from(u32::MAX) - 499;
        assert_eq!(counter_delta(prev, 500, CounterWidth::Bits32), Some(1_000));
        assert_eq!(
            per_second(prev, 500, TEN_S, CounterWidth::Bits32),
            Some(100.0)
        );
        // The same readings on a 64-bit counter can only be a reset.
        assert_eq!(counter_delta(prev, 500, CounterWidth::Bits64), None);
    }

    #[test]
    fn tracker_first_reading_gives_no_rate_then_rates_per_slot() {
        let t0 = Instant::now();
        let mut tr: RateTracker<&str, 2> = RateTracker::new(CounterWidth::Bits64);
        tr.begin_round();
        assert_eq!(tr.observe("eth0", [100, 10], t0), None);
        tr.begin_round();
        let rates = tr.observe("eth0", [1_100, 5], t0 + TEN_S);
        assert_eq!(rates, Some([Some(100.0), None]), "slot 2 was reset");
        tr.begin_round();
        let rates = tr.observe("eth0", [2_100, 25], t0 + 2 * TEN_S);
        assert_eq!(
            rates,
            Some([Some(100.0), Some(2.0)]),
            "the reset slot recovers"
        );
        tr.begin_round();
        assert_eq!(
            tr.observe("eth0", [2_200, 30], t0 + 2 * TEN_S),
            Some([None, None]),
            "same instant"
        );
    }

    #[test]
    fn tracker_forgets_keys_that_disappear() {
        let t0 = Instant::now();
        let mut tr: RateTracker<String, 1> = RateTracker::new(CounterWidth::Bits64);
        tr.begin_round();
        tr.observe("veth1".into(), [1], t0);
        tr.observe("eth0".into(), [1], t0);
        tr.retain_seen();
        assert_eq!(tr.len(), 2);
        tr.begin_round();
        tr.observe("eth0".into(), [2], t0 + TEN_S);
        tr.retain_seen();
        assert_eq!(tr.len(), 1);
        tr.begin_round();
        assert_eq!(
            tr.observe("veth1".into(), [50], t0 + 2 * TEN_S),
            None,
            "a returning key starts over"
        );
    }
}
