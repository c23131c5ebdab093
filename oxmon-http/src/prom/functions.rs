//! PromQL functions with Prometheus 2.x semantics: the rate family with its
//! extrapolation and counter resets, regression (`deriv`,
//! `predict_linear`), the `*_over_time` family and the element-wise math.

/// `rate`, `increase` and `delta` over `points` (oldest first) of a range
/// `[range_start, range_end]` (ms), as Prometheus extrapolates them to the
/// range's edges. `None` with fewer than two points.
pub(crate) fn extrapolated(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    let (&(first_t, first_v), &(last_t, last_v)) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let mut result = last_v - first_v;
    if counter {
        let mut previous = 0.0;
        for &(_, v) in points {
            if v < previous {
                result += previous;
            }
            previous = v;
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (points.len() - 1) as f64;
    if counter && result > 0.0 && first_v >= 0.0 {
        // A counter does not go below zero: extrapolate no further back
        // than where it would have been zero.
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    result *= interval / sampled;
    if per_second {
        result /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result)
}

/// `irate` (`per_second`, counter resets) or `idelta` over the last two
/// points.
pub(crate) fn instant(points: &[(i64, f64)], per_second: bool) -> Option<f64> {
    let [.., (t0, v0), (t1, v1)] = points else {
        return None;
    };
    let mut result = v1 - v0;
    if per_second {
        if v1 < v0 {
            result = *v1;
        }
        let interval = (t1 - t0) as f64 / 1000.0;
        if interval == 0.0 {
            return None;
        }
        result /= interval;
    }
    Some(result)
}

/// Least-squares slope (per second) and intercept at `intercept_ms`.
pub(crate) fn linear_regression(points: &[(i64, f64)], intercept_ms: i64) -> (f64, f64) {
    let n = points.len() as f64;
    let first = points.first().map_or(0.0, |p| p.1);
    if points.iter().all(|p| p.1 == first) {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        let x = (t - intercept_ms) as f64 / 1000.0;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// The φ-quantile of `values` as Prometheus interpolates it.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Population variance of `values`.
pub(crate) fn variance(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let (n, sum) = values
        .clone()
        .fold((0.0, 0.0), |(n, s), v| (n + 1.0, s + v));
    let mean = sum / n;
    values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
}

/// A `*_over_time` function over the values of a range; `None` for an
/// unknown name. The caller gives the range's values (never empty).
pub(crate) fn over_time(name: &str, points: &[(i64, f64)], param: f64) -> Option<Option<f64>> {
    let values = points.iter().map(|p| p.1);
    let n = points.len() as f64;
    Some(Some(match name {
        "avg_over_time" => values.sum::<f64>() / n,
        "sum_over_time" => values.sum(),
        "count_over_time" => n,
        "min_over_time" => values.fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        "max_over_time" => values.fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        "last_over_time" => points.last().map_or(f64::NAN, |p| p.1),
        "present_over_time" => 1.0,
        "stdvar_over_time" => variance(values),
        "stddev_over_time" => variance(values).sqrt(),
        "quantile_over_time" => {
            let mut v: Vec<f64> = values.collect();
            quantile(param, &mut v)
        }
        "changes" => points.windows(2).filter(|w| w[0].1 != w[1].1).count() as f64,
        "resets" => points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        "deriv" => {
            if points.len() < 2 {
                return Some(None);
            }
            linear_regression(points, points[0].0).0
        }
        _ => return None,
    }))
}

/// An element-wise function of one value (with its optional parameters);
/// `None` for an unknown name.
pub(crate) fn math(name: &str, v: f64, a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "exp" => v.exp(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        "sqrt" => v.sqrt(),
        "sgn" => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }
        "round" => {
            let inverse = 1.0 / a.unwrap_or(1.0);
            (v * inverse + 0.5).floor() / inverse
        }
        "clamp" => {
            let (lo, hi) = (a?, b?);
            if lo > hi {
                return Some(f64::NAN);
            }
            v.max(lo).min(hi)
        }
        "clamp_min" => v.max(a?),
        "clamp_max" => v.min(a?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn rate_extrapolates_to_the_range_and_follows_counter_resets() {
        // 0, 10, 20, 30 every 10 s in a 60 s range ending 10 s after the
        // last: 30 over 30 s sampled, extended by half an interval at
        // the end (20 s is beyond 1.1 × 10 s) and down to zero at the
        // start (the counter would have been 0 at the first sample).
        let points = [
            (10 * S, 0.0),
            (20 * S, 10.0),
            (30 * S, 20.0),
            (40 * S, 30.0),
        ];
        let increase = extrapolated(&points, 0, 60 * S, true, false).unwrap();
        assert!((increase - 35.0).abs() < 1e-9, "{increase}");
        let rate = extrapolated(&points, 0, 60 * S, true, true).unwrap();
        assert!((rate - 35.0 / 60.0).abs() < 1e-9, "{rate}");
        // A reset: 5, 10, then 2 (restarted), 4: 10 + 4 - 5 = 9.
        let reset = [(0, 5.0), (10 * S, 10.0), (20 * S, 2.0), (30 * S, 4.0)];
        let inc = extrapolated(&reset, 0, 30 * S, true, false).unwrap();
        assert!((inc - 9.0).abs() < 1e-9, "{inc}");
        assert_eq!(extrapolated(&reset[..1], 0, 30 * S, true, false), None);
        assert_eq!(instant(&reset, true), Some(0.2));
        assert_eq!(instant(&reset[..3], true), Some(0.2));
        assert_eq!(instant(&reset, false), Some(2.0));
    }

    #[test]
    fn regression_quantile_and_over_time() {
        let line = [(0, 1.0), (10 * S, 3.0), (20 * S, 5.0)];
        let (slope, intercept) = linear_regression(&line, 20 * S);
        assert!((slope - 0.2).abs() < 1e-12 && (intercept - 5.0).abs() < 1e-12);
        assert_eq!(linear_regression(&[(0, 2.0), (S, 2.0)], 0), (0.0, 2.0));
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert_eq!(over_time("max_over_time", &line, 0.0), Some(Some(5.0)));
        assert_eq!(over_time("changes", &line, 0.0), Some(Some(2.0)));
        assert_eq!(over_time("bogus", &line, 0.0), None);
        assert_eq!(math("round", 2.345, Some(0.1), None), Some(2.3));
        assert_eq!(math("clamp", 5.0, Some(1.0), Some(3.0)), Some(3.0));
    }
}
