//! The statistics of an experiment's read-out: intervals for a difference of conversion rates and of revenue per
//! unit, a rate's own interval, and the sample-ratio-mismatch test. Distributions come from `statrs`; the tests
//! compare every figure with scipy/statsmodels (values and how they were computed in `tests/data/stats/`).
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// An estimate with its two-sided interval and the p-value of "no difference".
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub p_value: f64,
}

impl Interval {
    /// Whether the interval leaves out zero.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

fn z_quantile(confidence: f64) -> f64 {
    let normal = Normal::standard();
    normal.inverse_cdf(0.5 + confidence / 2.0)
}

fn two_sided_normal(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    2.0 * Normal::standard().cdf(-z.abs())
}

/// Treatment rate minus control rate (`x` successes of `n` each): the unpooled Wald interval (statsmodels'
/// `confint_proportions_2indep(method="wald", compare="diff")`) and the pooled two-proportion z-test's p-value
/// (`proportions_ztest`).
pub fn diff_of_proportions(x_treat: u64, n_treat: u64, x_ctrl: u64, n_ctrl: u64, confidence: f64) -> Interval {
    let (nt, nc) = (n_treat.max(1) as f64, n_ctrl.max(1) as f64);
    let (pt, pc) = (x_treat as f64 / nt, x_ctrl as f64 / nc);
    let diff = pt - pc;
    let se = (pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc).sqrt();
    let z = z_quantile(confidence);
    let pooled = (x_treat + x_ctrl) as f64 / (nt + nc);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
    let p_value = if se0 > 0.0 { two_sided_normal(diff / se0) } else { 1.0 };
    Interval { estimate: diff, low: diff - z * se, high: diff + z * se, p_value }
}

/// The Wilson score interval of one rate (statsmodels' `proportion_confint(method="wilson")`); the p-value is
/// not meaningful here and is 1.
pub fn wilson(x: u64, n: u64, confidence: f64) -> Interval {
    if n == 0 {
        return Interval { estimate: 0.0, low: 0.0, high: 1.0, p_value: 1.0 };
    }
    let (n, p) = (n as f64, x as f64 / n as f64);
    let z = z_quantile(confidence);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval { estimate: p, low: centre - half, high: centre + half, p_value: 1.0 }
}

/// Mean, variance (n - 1) and count of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub var: f64,
}

impl Moments {
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        if n == 0 {
            return Self::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Self { n: n as u64, mean, var }
    }
}

/// Treatment mean minus control mean: Welch's t-interval and test (scipy's `ttest_ind(equal_var=False)` and its
/// `confidence_interval`). Revenue per unit is skewed; with the samples an experiment reaches, the t-interval's
/// coverage is checked by `aisle bench experiment`.
pub fn welch(treat: Moments, ctrl: Moments, confidence: f64) -> Interval {
    let diff = treat.mean - ctrl.mean;
    let (vt, vc) = (treat.var / treat.n.max(1) as f64, ctrl.var / ctrl.n.max(1) as f64);
    let se = (vt + vc).sqrt();
    if se <= 0.0 || treat.n < 2 || ctrl.n < 2 {
        return Interval { estimate: diff, low: diff, high: diff, p_value: if diff == 0.0 { 1.0 } else { 0.0 } };
    }
    let df = (vt + vc).powi(2) / (vt * vt / (treat.n - 1) as f64 + vc * vc / (ctrl.n - 1) as f64);
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return Interval { estimate: diff, low: f64::NEG_INFINITY, high: f64::INFINITY, p_value: 1.0 };
    };
    let q = t.inverse_cdf(0.5 + confidence / 2.0);
    let p_value = 2.0 * t.cdf(-(diff / se).abs());
    Interval { estimate: diff, low: diff - q * se, high: diff + q * se, p_value }
}

/// The sample-ratio-mismatch test: Pearson's chi-squared of the units seen per variant against the split the
/// experiment asked for (scipy's `chisquare(observed, expected)`). Returns the p-value (1 with under two variants
/// or no units).
pub fn sample_ratio_p(observed: &[u64], weights: &[f64]) -> f64 {
    let total: u64 = observed.iter().sum();
    let wsum: f64 = weights.iter().sum();
    if observed.len() < 2 || total == 0 || wsum <= 0.0 || observed.len() != weights.len() {
        return 1.0;
    }
    let stat: f64 = observed
        .iter()
        .zip(weights)
        .map(|(&o, &w)| {
            let e = total as f64 * w / wsum;
            if e > 0.0 {
                (o as f64 - e).powi(2) / e
            } else {
                0.0
            }
        })
        .sum();
    match ChiSquared::new((observed.len() - 1) as f64) {
        Ok(c) => 1.0 - c.cdf(stat),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values computed by `tests/data/stats/reference.py` (scipy 1.17.1, statsmodels 0.15.0).
    const REFERENCE: &str = include_str!("../../tests/data/stats/reference.json");

    fn close(a: f64, b: f64, what: &str) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{what}: {a} against {b}");
    }

    fn check(got: Interval, want: &serde_json::Value, what: &str) {
        close(got.estimate, want["estimate"].as_f64().unwrap(), &format!("{what} estimate"));
        close(got.low, want["low"].as_f64().unwrap(), &format!("{what} low"));
        close(got.high, want["high"].as_f64().unwrap(), &format!("{what} high"));
        if let Some(p) = want.get("p_value").and_then(serde_json::Value::as_f64) {
            close(got.p_value, p, &format!("{what} p"));
        }
    }

    fn u(v: &serde_json::Value) -> u64 {
        v.as_u64().unwrap()
    }

    #[test]
    fn difference_of_proportions_matches_statsmodels() {
        let r: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        let cases = r["diff_of_proportions"].as_array().unwrap();
        assert!(cases.len() >= 4);
        for c in cases {
            let got = diff_of_proportions(u(&c["x_t"]), u(&c["n_t"]), u(&c["x_c"]), u(&c["n_c"]), 0.95);
            check(got, c, &format!("{c}"));
        }
    }

    #[test]
    fn wilson_matches_statsmodels() {
        let r: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        for c in r["wilson"].as_array().unwrap() {
            check(wilson(u(&c["x"]), u(&c["n"]), 0.95), c, &format!("{c}"));
        }
    }

    #[test]
    fn welch_matches_scipy() {
        let r: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        for c in r["welch"].as_array().unwrap() {
            let xs = |k: &str| c[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>();
            let got = welch(Moments::of(&xs("treat")), Moments::of(&xs("ctrl")), 0.95);
            check(got, c, "welch");
        }
    }

    #[test]
    fn sample_ratio_matches_scipy_and_fires_on_a_skewed_split() {
        let r: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        for c in r["srm"].as_array().unwrap() {
            let obs: Vec<u64> = c["observed"].as_array().unwrap().iter().map(u).collect();
            let w: Vec<f64> = c["weights"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            close(sample_ratio_p(&obs, &w), c["p_value"].as_f64().unwrap(), &format!("srm {c}"));
        }
        assert!(sample_ratio_p(&[5_000, 5_400], &[1.0, 1.0]) < 0.001, "a 5,000/5,400 split of a 50/50 is a mismatch");
        assert!(sample_ratio_p(&[5_000, 5_050], &[1.0, 1.0]) > 0.1);
        assert_eq!(sample_ratio_p(&[10], &[1.0]), 1.0, "one variant has no ratio to check");
    }

    #[test]
    fn degenerate_samples_give_finite_answers() {
        let i = diff_of_proportions(0, 0, 0, 0, 0.95);
        assert_eq!((i.estimate, i.p_value), (0.0, 1.0));
        let w = welch(Moments::of(&[1.0]), Moments::of(&[]), 0.95);
        assert!(w.estimate.is_finite());
        assert_eq!(wilson(0, 0, 0.95).high, 1.0);
    }
}
