//! The windows a series keeps for its rules: one shared, encoded
//! [`History`] of its recent points, and per distinct window length a cursor
//! into it (rate of change: the baseline; trend: the oldest point of the
//! fit, with the fit's sums).
//!
//! Memory follows the points actually held, whatever the series' interval:
//! nothing is sized in advance from the window's length, the history holds
//! each point once however many windows read it, and a point costs a few
//! bytes instead of 16.

use crate::history::{Cursor, History, MAX_POINT_BYTES};
use crate::memory::heap_block;
use crate::regression::{Fit, Moments};
use crate::rule::{Logic, Rule};

/// What the engine knows about the sample being evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obs {
    pub(crate) ts: i64,
    pub(crate) value: f64,
    /// The gap since the series' previous sample is longer than the configured
    /// multiple of its usual interval.
    pub(crate) gap: bool,
    /// The longest baseline distance tolerated (gap factor x interval), ms.
    pub(crate) gap_limit_ms: i64,
    pub(crate) max_points: usize,
}

/// The baseline of the rate-of-change rules with one `window_secs`.
#[derive(Debug, Clone)]
struct RateWindow {
    window_ms: i64,
    /// The oldest point held: the newest at or before `now - window` when
    /// there is one, else the oldest of the last `max_points`.
    front: Cursor,
    /// Points from `front` to the newest (0: none yet).
    held: usize,
    /// The point after `front`, once decoded (the baseline stays put
    /// until that point is old enough: each point is decoded once).
    after: Option<Cursor>,
}

impl RateWindow {
    /// The point after `front` (`None`: `front` is the newest).
    #[inline]
    fn after(&mut self, history: &History) -> Option<Cursor> {
        if self.after.is_none() {
            self.after = history.next(&self.front);
        }
        self.after
    }

    /// Moves `front` to the point after it (there is one).
    #[inline]
    fn advance(&mut self, to: Cursor) {
        self.front = to;
        self.held -= 1;
        self.after = None;
    }
}

/// A least-squares window shared by the trend rules of a series with the same `window_secs`.
#[derive(Debug, Clone)]
pub(crate) struct TrendWindow {
    window_ms: i64,
    /// The oldest point in the fit (meaningful when the fit has points).
    front: Cursor,
    /// x of a point is `(ts - origin_ms) / 1000` seconds.
    origin_ms: i64,
    sums: Moments,
}

impl TrendWindow {
    /// Points in the fit.
    pub(crate) fn len(&self) -> usize {
        self.sums.len()
    }

    /// The fit after the latest sample (computed from the sums: a few
    /// divisions, cheaper than keeping 80 bytes per window up to date).
    pub(crate) fn fit(&self) -> Option<Fit> {
        self.sums.fit(self.origin_ms as f64 / 1000.0)
    }
}

/// The history a series keeps for its rules, shared between them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeriesWindows {
    history: History,
    rates: Few<RateWindow>,
    trends: Few<TrendWindow>,
}

fn x_of(ts: i64, origin_ms: i64) -> f64 {
    // Exact for timestamps within 2^53 ms of each other (the difference of
    // two integers that are exact as f64 is exact when representable).
    (ts as f64 - origin_ms as f64) / 1000.0
}

impl SeriesWindows {
    /// Makes room for a rule; returns the index of its window.
    pub(crate) fn register(&mut self, rule: &Rule) -> u8 {
        match rule.logic {
            Logic::Rate { window_ms, .. } => {
                if let Some(i) = self.rates.iter().position(|r| r.window_ms == window_ms) {
                    return i as u8;
                }
                self.rates.push(RateWindow {
                    window_ms,
                    front: Cursor::default(),
                    held: 0,
                    after: None,
                });
                (self.rates.len() - 1) as u8
            }
            Logic::Trend { window_ms, .. } => {
                if let Some(i) = self.trends.iter().position(|t| t.window_ms == window_ms) {
                    return i as u8;
                }
                self.trends.push(TrendWindow {
                    window_ms,
                    front: Cursor::default(),
                    origin_ms: 0,
                    sums: Moments::default(),
                });
                (self.trends.len() - 1) as u8
            }
            _ => 0,
        }
    }

    /// Whether any rule of the series keeps points.
    pub(crate) fn is_empty(&self) -> bool {
        self.rates.is_empty() && self.trends.is_empty()
    }

    /// Takes over the history of an older state of the same series (rule
    /// reload): rate windows start from the old longest rate window's
    /// points, trend windows of an unchanged length keep their fit.
    pub(crate) fn inherit(&mut self, old: SeriesWindows) {
        if self.is_empty() {
            return;
        }
        let SeriesWindows {
            history,
            rates,
            trends,
        } = old;
        self.history = history;
        let longest = rates.iter().max_by_key(|r| r.window_ms);
        for r in self.rates.iter_mut() {
            (r.front, r.held) = longest.map_or((Cursor::default(), 0), |o| (o.front, o.held));
            r.after = None;
        }
        for t in self.trends.iter_mut() {
            match trends.iter().find(|o| o.window_ms == t.window_ms) {
                Some(o) => {
                    (t.front, t.origin_ms, t.sums) = (o.front, o.origin_ms, o.sums);
                }
                None => t.sums = Moments::default(),
            }
        }
    }

    /// Points held: the longest rate window's plus each trend window's (as
    /// many as separate windows would hold; the history stores each once).
    pub(crate) fn held_points(&self) -> usize {
        self.rates.iter().map(|r| r.held).max().unwrap_or(0)
            + self.trends.iter().map(TrendWindow::len).sum::<usize>()
    }

    /// Bytes on the heap: the history and the window lists.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_block(self.history.capacity()) + self.rates.heap_bytes() + self.trends.heap_bytes()
    }

    /// A rate window's baseline for `cutoff`: the newest point at or before it.
    pub(crate) fn rate_baseline(&self, window: u8, cutoff: i64) -> Option<Cursor> {
        let r = self.rates.get(usize::from(window))?;
        (r.held > 0 && r.front.ts() <= cutoff).then_some(r.front)
    }

    /// A trend window.
    pub(crate) fn trend(&self, window: u8) -> Option<&TrendWindow> {
        self.trends.get(usize::from(window))
    }

    /// Adds the sample to every window (and the fits' sums), dropping what
    /// the windows no longer cover.
    pub(crate) fn update(&mut self, o: Obs) {
        if self.is_empty() {
            return;
        }
        let Self {
            history,
            rates,
            trends,
        } = self;
        // The bytes before the earliest cursor any window still needs can go.
        let keep_from = rates
            .iter()
            .filter(|r| r.held > 0)
            .map(|r| r.front.pos())
            .chain(trends.iter().filter(|t| t.len() > 0).map(|t| t.front.pos()))
            .min()
            .unwrap_or(usize::MAX);
        history.reserve(keep_from, |h| expected_bytes(h, rates, trends));
        let newest = history.push(o.ts, o.value);
        let next = |c: &Cursor| history.next(c).unwrap_or(newest);

        for r in rates.iter_mut() {
            if r.held == 0 {
                r.front = newest;
                r.after = None;
            }
            r.held += 1;
            let cutoff = o.ts.saturating_sub(r.window_ms);
            while r.held >= 2 {
                match r.after(history) {
                    Some(n) if n.ts() <= cutoff => r.advance(n),
                    _ => break,
                }
            }
            while r.held > o.max_points {
                let n = r.after(history).unwrap_or(newest);
                r.advance(n);
            }
        }

        for t in trends.iter_mut() {
            if t.len() == 0 {
                t.front = newest;
                t.origin_ms = o.ts;
            }
            t.sums.add(x_of(o.ts, t.origin_ms), o.value);
            let cutoff = o.ts.saturating_sub(t.window_ms);
            while t.len() > 0 && (t.front.ts() < cutoff || t.len() > o.max_points) {
                let due = t
                    .sums
                    .remove(x_of(t.front.ts(), t.origin_ms), t.front.value());
                if t.len() == 0 {
                    break;
                }
                t.front = next(&t.front);
                if due {
                    // Re-anchor x on the oldest point and drop the drift.
                    t.origin_ms = t.front.ts();
                    let origin = t.origin_ms;
                    let points = Points {
                        history,
                        next: Some(t.front),
                    };
                    t.sums =
                        Moments::exact(t.len(), points.map(|c| (x_of(c.ts(), origin), c.value())));
                }
            }
        }
    }
}

/// The windows of one kind a series keeps: usually none or one, held in
/// place (read on every sample, next to the series' other state); more on
/// the heap.
#[derive(Debug, Clone, Default)]
enum Few<T> {
    #[default]
    None,
    One(T),
    Many(Box<[T]>),
}

impl<T> Few<T> {
    fn push(&mut self, t: T) {
        *self = match std::mem::take(self) {
            Few::None => Few::One(t),
            Few::One(a) => Few::Many(Box::new([a, t])),
            Few::Many(many) => {
                let mut v = many.into_vec();
                v.push(t);
                Few::Many(v.into_boxed_slice())
            }
        };
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Few::Many(many) => heap_block(many.len() * size_of::<T>()),
            _ => 0,
        }
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Few::None => &[],
            Few::One(t) => std::slice::from_ref(t),
            Few::Many(many) => many,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::None => &mut [],
            Few::One(t) => std::slice::from_mut(t),
            Few::Many(many) => many,
        }
    }
}

/// What the history will hold once the windows span their length: the bytes
/// per millisecond of the points after the oldest window's front (the first
/// point costs more), times the longest window, 2% and a point over (a rate
/// baseline sits one interval before its window). The series' interval is
/// not known in advance: until the points span a 32nd of the window the
/// estimate is capped at 4 times what is held, so an early burst cannot
/// reserve much. 0 once the windows are full (or with too little to tell).
fn expected_bytes(history: &History, rates: &[RateWindow], trends: &[TrendWindow]) -> usize {
    let front = rates
        .iter()
        .filter(|r| r.held > 0)
        .map(|r| r.front)
        .chain(trends.iter().filter(|t| t.len() > 0).map(|t| t.front))
        .min_by_key(Cursor::pos);
    let longest = rates
        .iter()
        .map(|r| r.window_ms)
        .chain(trends.iter().map(|t| t.window_ms))
        .max()
        .unwrap_or(0);
    let Some(front) = front else {
        return 0;
    };
    let newest = history.newest();
    let span = newest.ts().saturating_sub(front.ts());
    if span <= 0 || span >= longest {
        return 0;
    }
    let body = newest.pos() - front.pos();
    let estimate = body as f64 / span as f64 * longest as f64 * 1.02 + MAX_POINT_BYTES as f64;
    let estimate = estimate.min(usize::MAX as f64 / 4.0) as usize;
    if span < longest / 32 {
        estimate.min(4 * history.live() + 64)
    } else {
        estimate
    }
}

/// The points from a cursor to the newest.
#[derive(Clone)]
struct Points<'a> {
    history: &'a History,
    next: Option<Cursor>,
}

impl Iterator for Points<'_> {
    type Item = Cursor;

    fn next(&mut self) -> Option<Cursor> {
        let c = self.next?;
        self.next = self.history.next(&c);
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regression::direct_fit;
    use oxmon_core::config::ServerConfig;
    use proptest::prelude::*;

    fn rule(body: &str) -> Rule {
        let c = ServerConfig::from_toml(
            &format!("[[alert.rules]]\nname = \"r\"\nmetric = \"m\"\n{body}\n"),
            "t.toml",
        )
        .expect("rule");
        Rule::from_config(&c.alert.rules[0]).expect("compiles")
    }

    fn obs(ts: i64, value: f64, max_points: usize) -> Obs {
        Obs {
            ts,
            value,
            gap: false,
            gap_limit_ms: i64::MAX,
            max_points,
        }
    }

    /// A 3600 s trend and a 300 s rate window at 10 s: the history holds
    /// the trend's 361 points once, a few bytes each.
    #[test]
    fn ten_second_series_costs_bytes_per_point_not_a_window_maximum() {
        let mut w = SeriesWindows::default();
        let trend = w.register(&rule(
            "type = \"trend_prediction\"\npredict_threshold = 95.0\nhorizon_secs = 86400",
        ));
        let rate = w.register(&rule(
            "type = \"rate_of_change\"\nrate_threshold = 20.0\nwindow_secs = 300",
        ));
        let t0 = 1_767_225_600_000;
        let mut v = 40.0f64;
        let mut now = 0;
        for i in 0..2000i64 {
            // A random-looking walk with full-precision values and 0-9 ms jitter.
            v += ((i * 7919) % 200 - 100) as f64 / 997.0;
            now = t0 + i * 10_000 + (i * 31) % 10;
            w.update(obs(now, v, 100_000));
        }
        assert!((360..=361).contains(&w.trend(trend).map_or(0, TrendWindow::len)));
        assert!(
            (390..=392).contains(&w.held_points()),
            "{}",
            w.held_points()
        );
        let base = w.rate_baseline(rate, now - 300_000).expect("baseline");
        assert!(base.ts() <= now - 300_000 && base.ts() > now - 310_000);
        // At most 10 bytes a point, plus slack: under 4.5 KB, not 361 x 16 B
        // in a ring of 512 (8 KiB).
        assert!(w.heap_bytes() < 4_500, "{} bytes", w.heap_bytes());
    }

    proptest! {
        /// The windows hold what separate deques held: the trend fit equals a
        /// direct fit of the points in `[now - window, now]` (at most
        /// `max_points`), the rate baseline is the newest point at or before
        /// `now - window` among the last `max_points`.
        #[test]
        fn windows_hold_the_points_of_their_length(
            steps in prop::collection::vec(prop_oneof![Just(10_000i64), 1_000i64..100_000], 1..400),
            // Values of one scale: after a window of +-1e6 a window of 50s
            // keeps the drift of the removals (1e-6 of a slope) until the
            // next exact recomputation, as the sliding regression always did.
            values in prop::collection::vec(prop_oneof![Just(50.0f64), -100f64..100.0], 400),
            max_points in prop_oneof![Just(100_000usize), 1usize..40],
        ) {
            let mut w = SeriesWindows::default();
            let t = w.register(&rule("type = \"trend_prediction\"\npredict_threshold = 95.0\nhorizon_secs = 86400\nwindow_secs = 600"));
            let r = w.register(&rule("type = \"rate_of_change\"\nrate_threshold = 20.0\nwindow_secs = 300"));
            let r2 = w.register(&rule("type = \"rate_of_change\"\nrate_threshold = 20.0\nwindow_secs = 60"));
            let mut all: Vec<(i64, f64)> = Vec::new();
            let mut ts = 1_767_225_600_000i64;
            for (i, &step) in steps.iter().enumerate() {
                ts += step;
                all.push((ts, values[i]));
                w.update(obs(ts, values[i], max_points));
                let recent = &all[all.len().saturating_sub(max_points)..];
                let in_trend: Vec<(f64, f64)> = recent
                    .iter()
                    .filter(|p| p.0 >= ts - 600_000)
                    .map(|p| ((p.0 - recent[0].0) as f64 / 1000.0, p.1))
                    .collect();
                let tw = w.trend(t).expect("trend window");
                prop_assert_eq!(tw.len(), in_trend.len());
                match (tw.fit(), direct_fit(&in_trend)) {
                    (Some(a), Some(b)) => {
                        let scale = in_trend.iter().map(|p| p.1.abs()).fold(1.0, f64::max);
                        prop_assert!((a.slope - b.slope).abs() <= 1e-6 * (1.0 + a.slope.abs().max(b.slope.abs())), "slope {} vs {}", a.slope, b.slope);
                        prop_assert!((a.mean_y - b.mean_y).abs() <= 1e-9 * scale);
                        // R² of a flat window is 0/0: the removals' rounding decides it.
                        if b.syy > 1e-9 * scale * scale * in_trend.len() as f64 {
                            prop_assert!((a.r_squared - b.r_squared).abs() < 1e-6, "r2 {} vs {}", a.r_squared, b.r_squared);
                        }
                        let (a_now, b_now) = (a.value_at(ts as f64 / 1000.0), b.value_at((ts - recent[0].0) as f64 / 1000.0));
                        prop_assert!((a_now - b_now).abs() <= 1e-6 * scale, "{a_now} vs {b_now}");
                    }
                    (None, None) => {}
                    (a, b) => prop_assert!(false, "one fit missing: {a:?} vs {b:?}"),
                }
                for (win, ms) in [(r, 300_000), (r2, 60_000)] {
                    let expected = recent.iter().rev().find(|p| p.0 <= ts - ms);
                    let got = w.rate_baseline(win, ts - ms).map(|c| (c.ts(), c.value()));
                    prop_assert_eq!(got, expected.copied());
                }
            }
        }
    }
}
