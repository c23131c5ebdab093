//! Least squares over a sliding window, updated in O(1) per point.
//!
//! Centred sums (Welford's updates, and their inverse for removal) keep the
//! fit stable however large the timestamps; a periodic exact recomputation
//! from the window removes any drift the removals accumulate.

use std::collections::VecDeque;

/// A fitted line `y = intercept + slope * x` over the window, with its quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Points in the fit.
    pub n: usize,
    /// The x that `mean_x` is measured from (the fit works on x - origin,
    /// so large x values lose no precision).
    pub origin: f64,
    /// Mean of x, relative to `origin`.
    pub mean_x: f64,
    /// Mean of y.
    pub mean_y: f64,
    /// Slope, y units per second.
    pub slope: f64,
    /// Σ(x - x̄)².
    pub sxx: f64,
    /// Σ(y - ȳ)².
    pub syy: f64,
    /// Coefficient of determination, 0..=1 (1 for a perfect line; 0 when y is constant).
    pub r_squared: f64,
    /// Residual standard error, `sqrt(SSE / (n - 2))`.
    pub residual_std: f64,
}

impl Fit {
    /// The fitted value at `x`.
    pub fn value_at(&self, x: f64) -> f64 {
        self.mean_y + self.slope * ((x - self.origin) - self.mean_x)
    }

    /// Where the line reaches `y`, if it ever does (`None` for a flat line).
    pub fn x_at(&self, y: f64) -> Option<f64> {
        (self.slope != 0.0 && self.slope.is_finite())
            .then(|| self.origin + (self.mean_x + (y - self.mean_y) / self.slope))
    }

    /// The 95% inverse-prediction interval of the x at which a new observation
    /// equals `y`: the x values whose 95% prediction band for a new
    /// observation contains `y`. `(lo, None)` when the band never closes on
    /// one side (slope not significant), `None` when it cannot be computed.
    pub fn crossing_interval(&self, y: f64) -> Option<(f64, Option<f64>)> {
        if self.n < 3 || self.sxx <= 0.0 {
            return None;
        }
        let k = t_quantile_975(self.n - 2) * self.residual_std;
        let inv_n = 1.0 / self.n as f64;
        // (c + b d)² = k² (1 + 1/n + d²/Sxx), d = x - x̄, c = ȳ - y.
        let (b, c) = (self.slope, self.mean_y - y);
        let a = b * b - k * k / self.sxx;
        let bq = 2.0 * b * c;
        let cq = c * c - k * k * (1.0 + inv_n);
        if a <= 0.0 {
            // The band widens faster than the line moves: the interval is unbounded.
            let x = self.x_at(y)?;
            return Some((x, None));
        }
        // f(d) is negative at the crossing and a > 0, so two real roots exist;
        // a negative discriminant is rounding (k = 0 gives a double root).
        let root = (bq * bq - 4.0 * a * cq).max(0.0).sqrt();
        let d1 = (-bq - root) / (2.0 * a);
        let d2 = (-bq + root) / (2.0 * a);
        let at = |d: f64| self.origin + (self.mean_x + d);
        Some((at(d1.min(d2)), Some(at(d1.max(d2)))))
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            // Cornish-Fisher expansion around the normal quantile; error < 1e-4 for df > 30.
            let z: f64 = 1.959_963_984_540_054;
            let v = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
        }
    }
}

/// Centred sums of a window's points: Welford's updates to add a point, their
/// inverse to remove one, an exact two-pass recomputation to remove the drift
/// removals accumulate. x is relative to an origin kept by the owner.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moments {
    n: usize,
    mean_x: f64,
    mean_y: f64,
    cxx: f64,
    cxy: f64,
    cyy: f64,
    removals_since_exact: usize,
}

impl Moments {
    /// Points summed.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Adds a point.
    pub(crate) fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.cxx += dx * (x - self.mean_x);
        self.cxy += dx * (y - self.mean_y);
        self.cyy += dy * (y - self.mean_y);
    }

    /// Removes a point that was added; returns whether enough removals have
    /// accumulated that the sums should be recomputed exactly.
    pub(crate) fn remove(&mut self, x: f64, y: f64) -> bool {
        let Some(n) = self.n.checked_sub(1).filter(|&n| n > 0) else {
            *self = Self::default();
            return false;
        };
        self.n = n;
        let nf = n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x -= dx / nf;
        self.mean_y -= dy / nf;
        self.cxx -= dx * (x - self.mean_x);
        self.cxy -= dx * (y - self.mean_y);
        self.cyy -= dy * (y - self.mean_y);
        self.removals_since_exact += 1;
        self.removals_since_exact >= n.max(64)
    }

    /// The sums of the `n` `points`, computed directly (two passes).
    pub(crate) fn exact(n: usize, points: impl Iterator<Item = (f64, f64)> + Clone) -> Self {
        let nf = n as f64;
        let (sx, sy) = points
            .clone()
            .fold((-0.0, -0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        let (mean_x, mean_y) = (sx / nf, sy / nf);
        let (mut cxx, mut cxy, mut cyy) = (0.0, 0.0, 0.0);
        for (x, y) in points {
            let (dx, dy) = (x - mean_x, y - mean_y);
            cxx += dx * dx;
            cxy += dx * dy;
            cyy += dy * dy;
        }
        Self {
            n,
            mean_x,
            mean_y,
            cxx,
            cxy,
            cyy,
            removals_since_exact: 0,
        }
    }

    /// The fit; `None` with fewer than 2 points or all x equal.
    pub(crate) fn fit(&self, origin: f64) -> Option<Fit> {
        let n = self.n;
        let cxx = self.cxx.max(0.0);
        let cyy = self.cyy.max(0.0);
        if n < 2 || cxx <= f64::EPSILON * self.mean_x.abs().max(1.0) * n as f64 {
            return None;
        }
        let slope = self.cxy / cxx;
        let sse = (cyy - self.cxy * slope).max(0.0);
        let r_squared = if cyy > 0.0 {
            (1.0 - sse / cyy).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let residual_std = if n > 2 {
            (sse / (n - 2) as f64).sqrt()
        } else {
            0.0
        };
        Some(Fit {
            n,
            origin,
            mean_x: self.mean_x,
            mean_y: self.mean_y,
            slope,
            sxx: cxx,
            syy: cyy,
            r_squared,
            residual_std,
        })
    }
}

/// Least squares over the points of a sliding window.
#[derive(Debug, Clone, Default)]
pub struct SlidingRegression {
    /// x relative to `origin`, y.
    points: VecDeque<(f64, f64)>,
    origin: f64,
    sums: Moments,
}

impl SlidingRegression {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points in the window.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The oldest x in the window.
    pub fn front_x(&self) -> Option<f64> {
        self.points.front().map(|p| p.0 + self.origin)
    }

    /// Adds a point (x must not decrease).
    pub fn push(&mut self, x: f64, y: f64) {
        if self.points.is_empty() {
            self.origin = x;
            self.sums = Moments::default();
        }
        let x = x - self.origin;
        self.points.push_back((x, y));
        self.sums.add(x, y);
    }

    /// Removes the oldest point.
    pub fn pop_front(&mut self) {
        let Some((x, y)) = self.points.pop_front() else {
            return;
        };
        if self.points.is_empty() {
            self.origin = 0.0;
        }
        if self.sums.remove(x, y) {
            self.recompute();
        }
    }

    /// Drops points with x below `min_x`.
    pub fn evict_before(&mut self, min_x: f64) {
        // Relative to the origin of the moment: a removal can re-anchor it.
        while self
            .points
            .front()
            .is_some_and(|p| p.0 < min_x - self.origin)
        {
            self.pop_front();
        }
    }

    /// Recomputes the sums exactly (two passes) from the window.
    fn recompute(&mut self) {
        let Some(&(shift, _)) = self.points.front() else {
            self.sums.removals_since_exact = 0;
            return;
        };
        // Move the origin to the oldest point so relative x stays small.
        self.origin += shift;
        for p in &mut self.points {
            p.0 -= shift;
        }
        self.sums = Moments::exact(self.points.len(), self.points.iter().copied());
    }

    /// The fit of the current window; `None` with fewer than 2 points or all x equal.
    pub fn fit(&self) -> Option<Fit> {
        self.sums.fit(self.origin)
    }
}

/// Direct two-pass least squares, the reference the incremental fit is tested against.
pub fn direct_fit(points: &[(f64, f64)]) -> Option<Fit> {
    let mut r = SlidingRegression::new();
    r.origin = points.first().map_or(0.0, |p| p.0);
    r.points = points.iter().map(|&(x, y)| (x - r.origin, y)).collect();
    r.recompute();
    r.fit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn exact_line() {
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64 * 10.0, 50.0 + 0.01 * i as f64 * 10.0))
            .collect();
        let f = direct_fit(&pts).unwrap();
        assert!(close(f.slope, 0.01, 1e-12));
        assert!(close(f.value_at(0.0), 50.0, 1e-12));
        assert!(close(f.x_at(95.0).unwrap(), 4500.0, 1e-9));
        assert!(close(f.r_squared, 1.0, 1e-12));
        assert!(f.residual_std < 1e-9);
        let (lo, hi) = f.crossing_interval(95.0).unwrap();
        assert!(
            close(lo, 4500.0, 1e-6) && close(hi.unwrap(), 4500.0, 1e-6),
            "{lo} {hi:?}"
        );
    }

    /// Reference values computed independently with Python 3.11
    /// (`statistics.linear_regression`, `statistics.correlation`) and the
    /// textbook inverse-prediction formula with t(0.975, 8) = 2.306.
    #[test]
    fn noisy_fit_matches_reference_values() {
        let ys = [50.3, 51.1, 51.9, 53.2, 53.8, 55.1, 55.7, 57.0, 57.6, 58.9];
        let pts: Vec<(f64, f64)> = ys
            .iter()
            .enumerate()
            .map(|(i, &y)| (i as f64 * 60.0, y))
            .collect();
        let f = direct_fit(&pts).unwrap();
        assert!(
            close(f.slope, 0.015_878_787_878_787_88, 1e-9),
            "slope {}",
            f.slope
        );
        assert!(
            close(f.value_at(0.0), 50.172_727_272_727_27, 1e-9),
            "intercept {}",
            f.value_at(0.0)
        );
        assert!(
            close(f.r_squared, 0.996_544_815_771_899_8, 1e-9),
            "r2 {}",
            f.r_squared
        );
        assert!(
            close(f.residual_std, 0.180_151_451_436_133_23, 1e-9),
            "s {}",
            f.residual_std
        );
        assert!(close(f.x_at(95.0).unwrap(), 2_823.091_603_053_435, 1e-9));
        let (lo, hi) = f.crossing_interval(95.0).unwrap();
        assert!(close(lo, 2_703.106_567_527_824_6, 1e-6), "lo {lo}");
        assert!(
            close(hi.unwrap(), 2_954.871_733_319_724_6, 1e-6),
            "hi {hi:?}"
        );
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_quantile_975(1), 12.706);
        assert_eq!(t_quantile_975(30), 2.042);
        for (df, t) in [(40, 2.0211), (60, 2.0003), (120, 1.9799), (1000, 1.9623)] {
            assert!(
                (t_quantile_975(df) - t).abs() < 2e-4,
                "df {df}: {}",
                t_quantile_975(df)
            );
        }
    }

    /// An exact recomputation during an eviction moves the origin; the
    /// points after it must still be compared with the cutoff, not with a
    /// relative cutoff of the old origin (which emptied the window).
    #[test]
    fn eviction_survives_re_anchoring() {
        let mut r = SlidingRegression::new();
        for i in 0..2_000 {
            let x = 1.7e9 + f64::from(i) * 10.0;
            r.push(x, f64::from(i % 7));
            r.evict_before(x - 3600.0);
            if i >= 360 {
                assert_eq!(r.len(), 361, "after point {i}");
            }
        }
    }

    #[test]
    fn degenerate_windows() {
        assert!(direct_fit(&[]).is_none());
        assert!(direct_fit(&[(1.0, 2.0)]).is_none());
        assert!(
            direct_fit(&[(1.0, 2.0), (1.0, 3.0)]).is_none(),
            "all x equal"
        );
        let flat = direct_fit(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)]).unwrap();
        assert_eq!(flat.slope, 0.0);
        assert_eq!(flat.r_squared, 0.0);
        assert!(flat.x_at(6.0).is_none());
    }

    proptest! {
        /// Sliding the window point by point gives the same fit as fitting the
        /// window's points directly, even at x around 2e9 (epoch seconds).
        #[test]
        fn incremental_equals_direct(
            base in 0.0f64..2.0e9,
            ys in prop::collection::vec(-1e6f64..1e6, 3..300),
            window in 3usize..60,
            gaps in prop::collection::vec(1u32..100, 300),
        ) {
            let mut r = SlidingRegression::new();
            let mut x = base;
            let mut all = Vec::new();
            for (i, &y) in ys.iter().enumerate() {
                x += f64::from(gaps[i]);
                r.push(x, y);
                all.push((x, y));
                while r.len() > window {
                    r.pop_front();
                }
                let start = all.len().saturating_sub(window);
                let direct = direct_fit(&all[start..]);
                let scale = all[start..].iter().map(|p| p.1.abs()).fold(1.0, f64::max);
                match (r.fit(), direct) {
                    (Some(a), Some(b)) => {
                        prop_assert!(close(a.slope, b.slope, 1e-6), "slope {} vs {}", a.slope, b.slope);
                        prop_assert!((a.mean_y - b.mean_y).abs() <= 1e-9 * scale);
                        prop_assert!((a.r_squared - b.r_squared).abs() < 1e-6, "r2 {} vs {}", a.r_squared, b.r_squared);
                        prop_assert!((a.value_at(x) - b.value_at(x)).abs() <= 1e-6 * scale, "{} vs {}", a.value_at(x), b.value_at(x));
                    }
                    (None, None) => {}
                    (a, b) => prop_assert!(false, "one fit missing: {a:?} vs {b:?}"),
                }
            }
        }
    }
}
