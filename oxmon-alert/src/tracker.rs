//! Per (rule, series) evaluation state: O(1) per sample (amortized), memory
//! bounded by the rule's own window.

use std::collections::VecDeque;

use oxmon_core::config::RateDirection;
use oxmon_core::{Breach, Point, Prediction, Severity, Verdict, fmt_time, fmt_value};

use crate::regression::SlidingRegression;
use crate::rule::{Logic, Rule};

/// What the engine knows about the sample being evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obs<'a> {
    pub(crate) ts: i64,
    pub(crate) value: f64,
    /// The gap since the series' previous sample is longer than the configured
    /// multiple of its usual interval.
    pub(crate) gap: bool,
    /// The longest baseline distance tolerated (gap factor x interval), ms.
    pub(crate) gap_limit_ms: i64,
    pub(crate) max_points: usize,
    /// `agent/metric{labels}` for messages.
    pub(crate) what: &'a str,
}

#[derive(Debug, Clone)]
pub(crate) enum Tracker {
    Threshold { pending_since: Option<i64> },
    Window { points: VecDeque<Point> },
    Trend { reg: SlidingRegression, anchor_ms: i64 },
    /// Index into the engine's certificate states (shared by the days and validity series).
    Cert { state: u32 },
}

impl Tracker {
    pub(crate) fn new(rule: &Rule) -> Self {
        match rule.logic {
            Logic::Threshold { .. } => Tracker::Threshold { pending_since: None },
            Logic::Rate { .. } | Logic::Custom(_) => Tracker::Window { points: VecDeque::new() },
            Logic::Trend { .. } => Tracker::Trend { reg: SlidingRegression::new(), anchor_ms: i64::MIN },
            Logic::Cert { .. } => Tracker::Cert { state: u32::MAX },
        }
    }

    /// Points (or sums) held: the memory this state costs beyond its fixed size.
    pub(crate) fn held_points(&self) -> usize {
        match self {
            Tracker::Threshold { .. } | Tracker::Cert { .. } => 0,
            Tracker::Window { points } => points.len(),
            Tracker::Trend { reg, .. } => reg.len(),
        }
    }

    /// Feeds one sample and returns the rule's verdict.
    pub(crate) fn observe(&mut self, rule: &Rule, o: Obs<'_>) -> Verdict {
        match (&mut *self, &rule.logic) {
            (Tracker::Threshold { pending_since }, &Logic::Threshold { op, value, duration_ms }) => {
                if !op.holds(o.value, value) {
                    *pending_since = None;
                    return Verdict::Clear;
                }
                let since = match *pending_since {
                    Some(s) if !o.gap => s,
                    _ => *pending_since.insert(o.ts),
                };
                let held = o.ts - since;
                if held < duration_ms {
                    return Verdict::Insufficient;
                }
                Verdict::Holds(Breach {
                    severity: rule.severity,
                    value: o.value,
                    threshold: Some(value),
                    prediction: None,
                    message: format!(
                        "{} is {}, {} {} for {}s",
                        o.what,
                        fmt_value(o.value),
                        op.symbol(),
                        fmt_value(value),
                        held / 1000
                    ),
                })
            }
            (Tracker::Window { points }, &Logic::Rate { threshold, window_ms, direction }) => {
                push_bounded(points, o);
                // Keep exactly one point at or before `ts - window`: the baseline.
                let cutoff = o.ts - window_ms;
                while points.len() >= 2 && points[1].timestamp_ms <= cutoff {
                    points.pop_front();
                }
                let base = points[0];
                if base.timestamp_ms > cutoff || cutoff - base.timestamp_ms > o.gap_limit_ms {
                    return Verdict::Insufficient;
                }
                if base.value == 0.0 {
                    // A percentage of zero is undefined: no verdict rather than
                    // an infinite change (a threshold rule covers absolute moves).
                    return Verdict::Insufficient;
                }
                let change = (o.value - base.value) / base.value.abs() * 100.0;
                let fires = match direction {
                    RateDirection::Up => change > threshold,
                    RateDirection::Down => change < -threshold,
                    RateDirection::Both => change.abs() > threshold,
                };
                if !fires {
                    return Verdict::Clear;
                }
                Verdict::Holds(Breach {
                    severity: rule.severity,
                    value: o.value,
                    threshold: Some(threshold),
                    prediction: None,
                    message: format!(
                        "{} {} {}% in {}s (from {} to {}), threshold {}%",
                        o.what,
                        if change >= 0.0 { "rose" } else { "fell" },
                        fmt_value(change.abs()),
                        (o.ts - base.timestamp_ms) / 1000,
                        fmt_value(base.value),
                        fmt_value(o.value),
                        fmt_value(threshold)
                    ),
                })
            }
            (Tracker::Window { points }, Logic::Custom(evaluator)) => {
                let lookback = evaluator.lookback_ms().max(0);
                push_bounded(points, o);
                while points.front().is_some_and(|p| p.timestamp_ms < o.ts - lookback) {
                    points.pop_front();
                }
                points.make_contiguous();
                evaluator.evaluate(points.as_slices().0)
            }
            (Tracker::Trend { reg, anchor_ms }, &Logic::Trend { threshold, horizon_ms, min_points, window_ms, min_r_squared }) => {
                if *anchor_ms == i64::MIN || reg.is_empty() {
                    *anchor_ms = o.ts;
                    *reg = SlidingRegression::new();
                }
                let x = (o.ts - *anchor_ms) as f64 / 1000.0;
                reg.push(x, o.value);
                reg.evict_before((o.ts - window_ms - *anchor_ms) as f64 / 1000.0);
                while reg.len() > o.max_points {
                    reg.pop_front();
                }
                if reg.len() < min_points {
                    return Verdict::Insufficient;
                }
                let Some(fit) = reg.fit() else { return Verdict::Insufficient };
                // Heading towards the threshold from this side of it? A value
                // already past it is the threshold rule's business, not a prediction.
                let heading = (fit.slope > 0.0 && o.value < threshold) || (fit.slope < 0.0 && o.value > threshold);
                if !heading || min_r_squared.is_some_and(|m| fit.r_squared < m) {
                    return Verdict::Clear;
                }
                let Some(x_cross) = fit.x_at(threshold) else { return Verdict::Clear };
                let eta_ms = ((x_cross - x) * 1000.0).max(0.0).round();
                if eta_ms > horizon_ms as f64 {
                    return Verdict::Clear;
                }
                let to_ms = |xs: f64| {
                    let ms = *anchor_ms as f64 + xs * 1000.0;
                    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms.round() as i64)
                };
                let breach_at_ms = o.ts + eta_ms as i64;
                let (earliest, latest) = match fit.crossing_interval(threshold) {
                    Some((lo, hi)) => (to_ms(lo).map(|m| m.max(o.ts)), hi.and_then(to_ms)),
                    None => (None, None),
                };
                Verdict::Holds(Breach {
                    severity: rule.severity,
                    value: o.value,
                    threshold: Some(threshold),
                    prediction: Some(Prediction {
                        breach_at_ms,
                        slope_per_sec: fit.slope,
                        r_squared: fit.r_squared,
                        breach_earliest_ms: earliest,
                        breach_latest_ms: latest,
                    }),
                    message: format!(
                        "{} is {} and predicted to reach {} at {} (in {}), R² {:.2}",
                        o.what,
                        fmt_value(o.value),
                        fmt_value(threshold),
                        fmt_time(breach_at_ms),
                        fmt_duration(eta_ms as i64),
                        fit.r_squared
                    ),
                })
            }
            _ => Verdict::Insufficient,
        }
    }
}

fn push_bounded(points: &mut VecDeque<Point>, o: Obs<'_>) {
    points.push_back(Point { timestamp_ms: o.ts, value: o.value });
    while points.len() > o.max_points {
        points.pop_front();
    }
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

/// The latest readings of one certificate (one domain of one checker).
#[derive(Debug, Clone, Default)]
pub(crate) struct CertReadings {
    pub(crate) days: Option<f64>,
    pub(crate) valid: Option<bool>,
}

impl CertReadings {
    pub(crate) fn verdict(&self, rule: &Rule, what: &str) -> Verdict {
        let Logic::Cert { warning_days, critical_days } = rule.logic else { return Verdict::Insufficient };
        if self.valid == Some(false) {
            return Verdict::Holds(Breach {
                severity: rule.severity,
                value: self.days.unwrap_or(0.0),
                threshold: None,
                prediction: None,
                message: match self.days {
                    Some(d) => format!("{what}: certificate is invalid ({} days until expiry)", fmt_value(d)),
                    None => format!("{what}: certificate is invalid or could not be checked"),
                },
            });
        }
        let Some(days) = self.days else { return Verdict::Insufficient };
        let (severity, limit) = if days <= critical_days {
            (Severity::Critical, critical_days)
        } else if days <= warning_days {
            (Severity::Warning, warning_days)
        } else {
            return Verdict::Clear;
        };
        Verdict::Holds(Breach {
            severity,
            value: days,
            threshold: Some(limit),
            prediction: None,
            message: if days <= 0.0 {
                format!("{what}: certificate expired {} days ago", fmt_value(-days))
            } else {
                format!("{what}: certificate expires in {} days (<= {})", fmt_value(days), fmt_value(limit))
            },
        })
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
