//! Per (rule, series) evaluation over the windows its series shares
//! (`windows.rs`): O(1) amortized per sample, memory bounded by the
//! longest window of the series' rules.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};

use oxmon_core::config::{Operator, RateDirection};
use oxmon_core::time::rfc3339_secs;
use oxmon_core::{FmtValue, Point, Prediction, RuleEvaluator, SeriesKey, Severity, Verdict};

use crate::regression::Fit;
use crate::rule::{Logic, Rule};
use crate::windows::{Obs, SeriesWindows};

/// Why a rule holds, kept as numbers: the message is only formatted when an
/// event is emitted, so a long-firing alert costs no allocation per sample.
#[derive(Debug, Clone)]
pub(crate) enum Detail {
    Threshold {
        op: Operator,
        threshold: f64,
        held_ms: i64,
    },
    Rate {
        change_pct: f64,
        base: f64,
        span_ms: i64,
        threshold: f64,
    },
    Trend {
        threshold: f64,
        breach_at_ms: i64,
        eta_ms: i64,
        r_squared: f64,
        slope: f64,
        /// The series' trend window of the fit (its interval is computed
        /// from it when an event is emitted).
        window: u8,
    },
    Cert {
        days: Option<f64>,
        limit: f64,
        invalid: bool,
    },
    /// Boxed: rare, and the common details stay small.
    Custom(Box<CustomHit>),
    /// An agent or a series silent for `silent_ms` (last report `last_ms`).
    Absent {
        last_ms: Option<i64>,
        silent_ms: i64,
        offline: bool,
    },
}

impl Detail {
    /// The message of a hit on `key` whose value is `value`.
    pub(crate) fn render(&self, key: &SeriesKey, value: f64) -> String {
        let mut out = String::with_capacity(96);
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, key, value);
        out
    }

    fn write(&self, out: &mut String, what: &SeriesKey, value: f64) -> fmt::Result {
        match self {
            Detail::Threshold {
                op,
                threshold,
                held_ms,
            } => write!(
                out,
                "{what} is {}, {} {} for {}s",
                FmtValue(value),
                op.symbol(),
                FmtValue(*threshold),
                held_ms / 1000
            ),
            Detail::Rate {
                change_pct,
                base,
                span_ms,
                threshold,
            } => write!(
                out,
                "{what} {} {}% in {}s (from {} to {}), threshold {}%",
                if *change_pct >= 0.0 { "rose" } else { "fell" },
                FmtValue(change_pct.abs()),
                span_ms / 1000,
                FmtValue(*base),
                FmtValue(value),
                FmtValue(*threshold)
            ),
            Detail::Trend {
                threshold,
                breach_at_ms,
                eta_ms,
                r_squared,
                ..
            } => write!(
                out,
                "{what} is {} and predicted to reach {} at {} (in {}), R² {r_squared:.2}",
                FmtValue(value),
                FmtValue(*threshold),
                rfc3339_secs(*breach_at_ms),
                fmt_duration(*eta_ms)
            ),
            Detail::Cert {
                days,
                invalid: true,
                ..
            } => match days {
                Some(d) => write!(
                    out,
                    "{what}: certificate is invalid ({} days until expiry)",
                    FmtValue(*d)
                ),
                None => write!(
                    out,
                    "{what}: certificate is invalid or could not be checked"
                ),
            },
            Detail::Cert { days, limit, .. } => {
                let d = days.unwrap_or(0.0);
                if d <= 0.0 {
                    write!(out, "{what}: certificate expired {} days ago", FmtValue(-d))
                } else {
                    write!(
                        out,
                        "{what}: certificate expires in {} days (<= {})",
                        FmtValue(d),
                        FmtValue(*limit)
                    )
                }
            }
            Detail::Custom(c) => out.write_str(&c.message),
            Detail::Absent {
                last_ms,
                silent_ms,
                offline,
            } => {
                let what = what.to_string();
                if *offline {
                    write!(out, "agent {}", offline_agent(&what))?;
                } else {
                    out.push_str(&what);
                }
                match last_ms {
                    Some(last) => write!(
                        out,
                        ": nothing reported for {} (last at {})",
                        fmt_duration(*silent_ms),
                        rfc3339_secs(*last)
                    ),
                    None => write!(
                        out,
                        ": never reported in {} since it was expected",
                        fmt_duration(*silent_ms)
                    ),
                }
            }
        }
    }
}

/// The agent of an `agent_offline` alert from its rendered key
/// (`<agent>/agent.offline`; an agent id may itself hold a `/`).
pub(crate) fn offline_agent(what: &str) -> &str {
    what.strip_suffix(oxmon_core::config::AGENT_OFFLINE_METRIC)
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or(what)
}

/// What a custom evaluator said of a breach.
#[derive(Debug, Clone)]
pub(crate) struct CustomHit {
    pub(crate) message: String,
    pub(crate) threshold: Option<f64>,
    pub(crate) prediction: Option<Prediction>,
}

/// A breach as the engine sees it: small, as every sample of a firing
/// alert builds one (the threshold and the prediction of its events are
/// derived from it when an event is emitted).
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) severity: Severity,
    pub(crate) value: f64,
    pub(crate) detail: Detail,
}

impl Hit {
    /// The threshold its event reports.
    pub(crate) fn threshold(&self, rule: &Rule) -> Option<f64> {
        match &self.detail {
            Detail::Cert { invalid: true, .. } => None,
            Detail::Cert { limit, .. } => Some(*limit),
            Detail::Custom(c) => c.threshold,
            _ => rule.threshold(),
        }
    }

    /// The prediction its event at `ts` reports (a trend's with its 95%
    /// interval, from the fit in `windows`, as it was when the hit was
    /// made).
    pub(crate) fn prediction(
        &self,
        windows: Option<&SeriesWindows>,
        ts: i64,
    ) -> Option<Prediction> {
        match &self.detail {
            Detail::Trend {
                threshold,
                breach_at_ms,
                r_squared,
                slope,
                window,
                ..
            } => {
                let mut p = Prediction {
                    breach_at_ms: *breach_at_ms,
                    slope_per_sec: *slope,
                    r_squared: *r_squared,
                    breach_earliest_ms: None,
                    breach_latest_ms: None,
                };
                let fit = windows.and_then(|w| w.trend(*window)).and_then(|t| t.fit());
                let to_ms = |xs: f64| {
                    let ms = (xs * 1000.0).round();
                    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
                };
                if let Some((lo, hi)) = fit.and_then(|f| f.crossing_interval(*threshold)) {
                    p.breach_earliest_ms = to_ms(lo).map(|m| m.max(ts));
                    p.breach_latest_ms = hi.and_then(to_ms);
                }
                Some(p)
            }
            Detail::Custom(c) => c.prediction,
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Insufficient,
    Clear,
    Holds(Hit),
}

/// The points a custom evaluator asked for (its `lookback_ms`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomWindow {
    points: VecDeque<Point>,
}

#[derive(Debug, Clone)]
pub(crate) enum Tracker {
    Threshold {
        pending_since: Option<i64>,
    },
    Rate {
        window: u8,
    },
    Trend {
        window: u8,
    },
    /// Boxed so that the common trackers stay small.
    Custom {
        window: Box<CustomWindow>,
    },
    /// Index into the engine's certificate states (shared by the days and validity series).
    Cert {
        state: u32,
    },
}

impl Tracker {
    pub(crate) fn new(rule: &Rule, windows: &mut SeriesWindows) -> Self {
        match rule.logic {
            Logic::Threshold { .. } => Tracker::Threshold {
                pending_since: None,
            },
            Logic::Rate { .. } => Tracker::Rate {
                window: windows.register(rule),
            },
            Logic::Trend { .. } => Tracker::Trend {
                window: windows.register(rule),
            },
            Logic::Custom(_) => Tracker::Custom {
                window: Box::default(),
            },
            Logic::Cert { .. } => Tracker::Cert { state: u32::MAX },
            // Never indexed per series (`Rule::watched_metrics`).
            Logic::Offline { .. } | Logic::Absent { .. } => Tracker::Threshold {
                pending_since: None,
            },
        }
    }

    /// Points this rule holds on its own (shared windows are counted by the series).
    pub(crate) fn held_points(&self) -> usize {
        match self {
            Tracker::Custom { window } => window.points.len(),
            _ => 0,
        }
    }

    /// Bytes this rule holds on the heap on its own.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Tracker::Custom { window } => {
                size_of::<CustomWindow>() + window.points.capacity() * size_of::<Point>()
            }
            _ => 0,
        }
    }

    /// Evaluates the rule on the series after `windows` took the sample in;
    /// `firing`: whether its alert fires now (hysteresis).
    #[inline]
    pub(crate) fn observe(
        &mut self,
        rule: &Rule,
        w: &SeriesWindows,
        o: Obs,
        firing: bool,
    ) -> Outcome {
        match (&mut *self, &rule.logic) {
            (
                Tracker::Threshold { pending_since },
                &Logic::Threshold {
                    op,
                    value,
                    duration_ms,
                    recovery,
                },
            ) => {
                // A firing alert holds until the value is back past the
                // recovery value; a new one needs the threshold.
                let limit = match recovery {
                    Some(r) if firing => r,
                    _ => value,
                };
                if !op.holds(o.value, limit) {
                    *pending_since = None;
                    return Outcome::Clear;
                }
                let since = match *pending_since {
                    Some(s) if !o.gap => s,
                    _ => *pending_since.insert(o.ts),
                };
                let held_ms = o.ts - since;
                // A firing alert goes on at once (after a dip held by
                // `keep_firing_secs`); a new one waits the duration out.
                if held_ms < duration_ms && !firing {
                    return Outcome::Insufficient;
                }
                Outcome::Holds(Hit {
                    severity: rule.severity,
                    value: o.value,
                    detail: Detail::Threshold {
                        op,
                        threshold: limit,
                        held_ms,
                    },
                })
            }
            (
                Tracker::Rate { window },
                &Logic::Rate {
                    threshold,
                    window_ms,
                    direction,
                },
            ) => {
                let cutoff = o.ts.saturating_sub(window_ms);
                // The baseline: the newest sample at or before `now - window`.
                let Some(base) = w.rate_baseline(*window, cutoff).map(|c| c.point()) else {
                    return Outcome::Insufficient;
                };
                if cutoff - base.timestamp_ms > o.gap_limit_ms || base.value == 0.0 {
                    // Too old to stand for "window_secs ago", or a zero baseline,
                    // whose percentage change is undefined: no verdict rather than
                    // an infinite change (a threshold rule covers absolute moves).
                    return Outcome::Insufficient;
                }
                let change_pct = (o.value - base.value) / base.value.abs() * 100.0;
                let fires = match direction {
                    RateDirection::Up => change_pct > threshold,
                    RateDirection::Down => change_pct < -threshold,
                    RateDirection::Both => change_pct.abs() > threshold,
                };
                if !fires {
                    return Outcome::Clear;
                }
                Outcome::Holds(Hit {
                    severity: rule.severity,
                    value: o.value,
                    detail: Detail::Rate {
                        change_pct,
                        base: base.value,
                        span_ms: o.ts - base.timestamp_ms,
                        threshold,
                    },
                })
            }
            (
                Tracker::Trend { window },
                &Logic::Trend {
                    threshold,
                    horizon_ms,
                    min_points,
                    min_r_squared,
                    ..
                },
            ) => trend(
                rule,
                w,
                *window,
                o,
                (threshold, horizon_ms, min_points, min_r_squared),
            ),
            (Tracker::Custom { window }, Logic::Custom(evaluator)) => {
                custom(window, evaluator.as_ref(), o)
            }
            _ => Outcome::Insufficient,
        }
    }
}

/// A trend rule's outcome: `(threshold, horizon_ms, min_points,
/// min_r_squared)` of the rule. Out of line: the fit's divisions and the
/// crossing are the heavy part of a sample.
#[inline(never)]
fn trend(
    rule: &Rule,
    w: &SeriesWindows,
    window: u8,
    o: Obs,
    (threshold, horizon_ms, min_points, min_r_squared): (f64, i64, usize, Option<f64>),
) -> Outcome {
    let Some(t) = w.trend(window) else {
        return Outcome::Insufficient;
    };
    if t.len() < min_points {
        return Outcome::Insufficient;
    }
    let Some(fit) = t.fit() else {
        return Outcome::Insufficient;
    };
    trend_outcome(rule, &fit, window, o, threshold, horizon_ms, min_r_squared)
}

/// A custom evaluator's outcome over its own window of points.
#[inline(never)]
fn custom(window: &mut CustomWindow, evaluator: &dyn RuleEvaluator, o: Obs) -> Outcome {
    let points = &mut window.points;
    let lookback = evaluator.lookback_ms().max(0);
    points.push_back(Point {
        timestamp_ms: o.ts,
        value: o.value,
    });
    while points
        .front()
        .is_some_and(|p| p.timestamp_ms < o.ts - lookback)
        || points.len() > o.max_points
    {
        points.pop_front();
    }
    match evaluator.evaluate(points.make_contiguous()) {
        Verdict::Insufficient => Outcome::Insufficient,
        Verdict::Clear => Outcome::Clear,
        Verdict::Holds(b) => Outcome::Holds(Hit {
            severity: b.severity,
            value: b.value,
            detail: Detail::Custom(Box::new(CustomHit {
                message: b.message,
                threshold: b.threshold,
                prediction: b.prediction,
            })),
        }),
    }
}

fn trend_outcome(
    rule: &Rule,
    fit: &Fit,
    window: u8,
    o: Obs,
    threshold: f64,
    horizon_ms: i64,
    min_r2: Option<f64>,
) -> Outcome {
    // Heading towards the threshold from this side of it? A value already past
    // it is the threshold rule's business, not a prediction.
    let heading =
        (fit.slope > 0.0 && o.value < threshold) || (fit.slope < 0.0 && o.value > threshold);
    if !heading || min_r2.is_some_and(|m| fit.r_squared < m) {
        return Outcome::Clear;
    }
    let Some(x_cross) = fit.x_at(threshold) else {
        return Outcome::Clear;
    };
    let now_s = o.ts as f64 / 1000.0;
    let eta_ms = ((x_cross - now_s) * 1000.0).max(0.0).round();
    if eta_ms > horizon_ms as f64 {
        return Outcome::Clear;
    }
    let eta_ms = eta_ms as i64;
    let breach_at_ms = o.ts + eta_ms;
    // The interval is computed (`Hit::prediction`) only when an event is
    // emitted: a firing alert is re-evaluated on every sample, and most of
    // those evaluations notify nobody.
    Outcome::Holds(Hit {
        severity: rule.severity,
        value: o.value,
        detail: Detail::Trend {
            threshold,
            breach_at_ms,
            eta_ms,
            r_squared: fit.r_squared,
            slope: fit.slope,
            window,
        },
    })
}

/// `1h05m`, `3d4h`, `45s`.
pub(crate) fn fmt_duration(ms: i64) -> String {
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(45_000), "45s");
        assert_eq!(fmt_duration(125_000), "2m05s");
        assert_eq!(fmt_duration(3_900_000), "1h05m");
        assert_eq!(fmt_duration(2 * 86_400_000 + 3_600_000), "2d1h");
    }
}
