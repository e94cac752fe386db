//! The forecasting methods, each a function from a history (one value per period, oldest first) to `h` point
//! forecasts. Written here rather than taken from a crate: the crates that exist (augurs) cover ETS and MSTL for
//! smooth series but none of the intermittent-demand methods (Croston, SBA, TSB, ADIDA) that most of a shop's
//! products need, and each method below is a few lines of exponential smoothing.
use serde::Serialize;

/// A forecasting method Aisle chooses among, per series, on a validation window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The last value, repeated.
    Naive,
    /// The value one season back (falls back to naive without a whole season).
    SeasonalNaive,
    /// Simple exponential smoothing, ETS(A,N,N), its weight fitted on one-step errors.
    Ses,
    /// Holt's damped trend, ETS(A,Ad,N), fitted on one-step errors.
    DampedTrend,
    /// Croston's method with the Syntetos-Boylan bias correction (demand size over interval, both smoothed).
    CrostonSba,
    /// Teunter-Syntetos-Babai: the probability of a sale and its size smoothed every period (follows an item
    /// that stops selling, which Croston does not).
    Tsb,
    /// Aggregate-disaggregate intermittent demand: SES on blocks as long as the mean gap between sales.
    Adida,
    /// The mean of SES, SBA, TSB and ADIDA.
    Combination,
    /// Top-down: the series' smoothed share of its parent (the shop) times the parent's damped-trend forecast.
    Pooled,
}

pub const ALL: [Method; 9] = [
    Method::Naive,
    Method::SeasonalNaive,
    Method::Ses,
    Method::DampedTrend,
    Method::CrostonSba,
    Method::Tsb,
    Method::Adida,
    Method::Combination,
    Method::Pooled,
];

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Naive => "naive",
            Method::SeasonalNaive => "seasonal_naive",
            Method::Ses => "ses",
            Method::DampedTrend => "damped_trend",
            Method::CrostonSba => "croston_sba",
            Method::Tsb => "tsb",
            Method::Adida => "adida",
            Method::Combination => "combination",
            Method::Pooled => "pooled",
        }
    }
}

/// What a method may look at besides the series: its season length and, for the pooled method, the parent
/// series (the same periods) and the parent's forecast.
pub struct Context<'a> {
    pub season: usize,
    pub parent: Option<(&'a [f64], &'a [f64])>,
}

/// `h` forecasts of `y` by `m` (never negative: demand is not).
pub fn forecast(m: Method, y: &[f64], h: usize, cx: &Context) -> Vec<f64> {
    if y.is_empty() {
        return vec![0.0; h];
    }
    let out = match m {
        Method::Naive => vec![*y.last().unwrap_or(&0.0); h],
        Method::SeasonalNaive if y.len() >= cx.season && cx.season > 1 => {
            (0..h).map(|i| y[y.len() - cx.season + i % cx.season]).collect()
        }
        Method::SeasonalNaive => vec![*y.last().unwrap_or(&0.0); h],
        Method::Ses => vec![ses_fitted(y).0; h],
        Method::DampedTrend => damped(y, h),
        Method::CrostonSba => vec![croston_sba(y); h],
        Method::Tsb => vec![tsb(y); h],
        Method::Adida => vec![adida(y); h],
        Method::Combination => {
            let level = (ses_fitted(y).0 + croston_sba(y) + tsb(y) + adida(y)) / 4.0;
            vec![level; h]
        }
        Method::Pooled => pooled(y, h, cx),
    };
    out.into_iter().map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 }).collect()
}

/// The smoothing weights tried when one is fitted.
const ALPHAS: [f64; 10] = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9];

/// SES's last level and the sum of squared one-step errors, for one weight (level starts at the first value).
fn ses_run(y: &[f64], alpha: f64) -> (f64, f64) {
    let mut level = y[0];
    let mut sse = 0.0;
    for &v in &y[1..] {
        let e = v - level;
        sse += e * e;
        level += alpha * e;
    }
    (level, sse)
}

/// SES with the weight of least one-step squared error: (last level, weight).
pub fn ses_fitted(y: &[f64]) -> (f64, f64) {
    let mut best = (f64::INFINITY, y[0], ALPHAS[0]);
    for a in ALPHAS {
        let (level, sse) = ses_run(y, a);
        if sse < best.0 {
            best = (sse, level, a);
        }
    }
    (best.1, best.2)
}

/// Holt's damped trend, weights of least one-step squared error over a small grid.
fn damped(y: &[f64], h: usize) -> Vec<f64> {
    if y.len() < 4 {
        return vec![ses_fitted(y).0; h];
    }
    let mut best = (f64::INFINITY, 0.0, 0.0, 0.0);
    for alpha in [0.05, 0.1, 0.2, 0.3, 0.5, 0.8] {
        for beta in [0.01, 0.05, 0.1, 0.2] {
            for phi in [0.8, 0.9, 0.98] {
                let (mut l, mut b) = (y[0], y[1] - y[0]);
                let mut sse = 0.0;
                for &v in &y[1..] {
                    let f = l + phi * b;
                    let e = v - f;
                    sse += e * e;
                    let nl = f + alpha * e;
                    b = phi * b + alpha * beta * e;
                    l = nl;
                }
                if sse < best.0 {
                    best = (sse, l, b, phi);
                }
            }
        }
    }
    let (_, l, b, phi) = best;
    let mut damp = 0.0;
    (1..=h)
        .map(|i| {
            damp += phi.powi(i as i32);
            l + damp * b
        })
        .collect()
}

/// Croston with the SBA correction, weight 0.1 for both the size and the interval (the usual choice).
fn croston_sba(y: &[f64]) -> f64 {
    let alpha = 0.1;
    let mut size: Option<f64> = None;
    let mut interval = 1.0;
    let mut gap = 1.0;
    for &v in y {
        if v > 0.0 {
            match size {
                None => {
                    size = Some(v);
                    interval = gap;
                }
                Some(s) => {
                    size = Some(s + alpha * (v - s));
                    interval += alpha * (gap - interval);
                }
            }
            gap = 1.0;
        } else {
            gap += 1.0;
        }
    }
    match size {
        Some(s) => (1.0 - alpha / 2.0) * s / interval.max(1.0),
        None => 0.0,
    }
}

/// TSB with its two weights fitted on one-step squared error over a small grid.
fn tsb(y: &[f64]) -> f64 {
    let first = y.iter().position(|v| *v > 0.0);
    let Some(first) = first else { return 0.0 };
    let mut best = (f64::INFINITY, 0.0);
    for ad in [0.05, 0.1, 0.2, 0.4] {
        for ap in [0.02, 0.05, 0.1, 0.2, 0.4] {
            let (mut p, mut z) = (1.0 / (first + 1) as f64, y[first]);
            let mut sse = 0.0;
            for &v in &y[first + 1..] {
                let e = v - p * z;
                sse += e * e;
                if v > 0.0 {
                    p += ap * (1.0 - p);
                    z += ad * (v - z);
                } else {
                    p -= ap * p;
                }
            }
            if sse < best.0 {
                best = (sse, p * z);
            }
        }
    }
    best.1
}

/// ADIDA: the series summed over blocks as long as the mean gap between sales (counted back from the latest
/// period), SES on the blocks, the block forecast shared equally over its periods.
fn adida(y: &[f64]) -> f64 {
    let sales = y.iter().filter(|v| **v > 0.0).count();
    if sales == 0 {
        return 0.0;
    }
    let k = ((y.len() as f64 / sales as f64).round() as usize).max(1);
    if k == 1 {
        return ses_fitted(y).0;
    }
    let blocks: Vec<f64> = y.rchunks_exact(k).rev().map(|c| c.iter().sum()).collect();
    if blocks.is_empty() {
        return y.iter().sum::<f64>() / y.len() as f64;
    }
    ses_fitted(&blocks).0 / k as f64
}

/// The series' share of its parent, smoothed, times the parent's forecast.
fn pooled(y: &[f64], h: usize, cx: &Context) -> Vec<f64> {
    let Some((parent, parent_forecast)) = cx.parent else { return vec![ses_fitted(y).0; h] };
    let n = y.len().min(parent.len());
    let shares: Vec<f64> = (0..n)
        .map(|i| {
            let (v, p) = (y[y.len() - n + i], parent[parent.len() - n + i]);
            if p > 0.0 {
                v / p
            } else {
                0.0
            }
        })
        .collect();
    let share = ses_fitted(&shares).0.max(0.0);
    parent_forecast.iter().take(h).map(|f| f * share).collect()
}

/// A parent's own forecast for the pooled method: damped trend.
pub fn parent_forecast(parent: &[f64], h: usize) -> Vec<f64> {
    damped(parent, h).into_iter().map(|v| v.max(0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context { season: 4, parent: None }
    }

    #[test]
    fn a_constant_series_is_forecast_as_itself_by_every_smooth_method() {
        let y = [5.0; 20];
        for m in [Method::Naive, Method::SeasonalNaive, Method::Ses, Method::DampedTrend, Method::Tsb] {
            for f in forecast(m, &y, 3, &cx()) {
                assert!((f - 5.0).abs() < 1e-9, "{m:?} gave {f}");
            }
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 9.0];
        assert_eq!(forecast(Method::SeasonalNaive, &y, 6, &cx()), vec![1.0, 2.0, 3.0, 9.0, 1.0, 2.0]);
    }

    #[test]
    fn croston_sba_is_size_over_interval_shrunk_by_the_correction() {
        // a sale of 4 every 4 periods: 1 per period, times (1 - 0.1/2)
        let y: Vec<f64> = (0..40).map(|i| if i % 4 == 3 { 4.0 } else { 0.0 }).collect();
        let f = forecast(Method::CrostonSba, &y, 1, &cx())[0];
        assert!((f - 0.95).abs() < 1e-9, "{f}");
        assert!((forecast(Method::Adida, &y, 1, &cx())[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn tsb_follows_an_item_that_stopped_selling_and_croston_does_not() {
        let mut y = vec![3.0; 30];
        y.extend([0.0; 20]);
        let (t, c) = (forecast(Method::Tsb, &y, 1, &cx())[0], forecast(Method::CrostonSba, &y, 1, &cx())[0]);
        assert!(t < 0.5 && c > 2.5, "tsb {t}, croston {c}");
    }

    #[test]
    fn a_damped_trend_grows_less_each_period_and_forecasts_are_never_negative() {
        let up: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let f = forecast(Method::DampedTrend, &up, 8, &cx());
        assert!(f[0] > 28.0 && f.windows(2).all(|w| w[1] >= w[0]), "{f:?}");
        let steps: Vec<f64> = f.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.windows(2).all(|s| s[1] <= s[0] + 1e-9), "{steps:?}");
        let down: Vec<f64> = (0..30).map(|i| 30.0 - i as f64).collect();
        assert!(forecast(Method::DampedTrend, &down, 40, &cx()).iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn pooled_takes_the_share_of_the_parents_forecast() {
        let parent = [100.0; 20];
        let y = [10.0; 20];
        let pf = [200.0, 200.0];
        let c = Context { season: 4, parent: Some((&parent, &pf)) };
        let f = forecast(Method::Pooled, &y, 2, &c);
        assert!((f[0] - 20.0).abs() < 1e-9, "{f:?}");
    }
}
