//! How good a forecast was: MASE and RMSSE (M5's measure), each scaled by the series' own one-step naive errors
//! before the forecast origin, and how often the actual values fell inside the prediction intervals.

/// Mean squared one-step difference of the history (RMSSE's denominator, squared); 0 for fewer than 2 values.
pub fn rmsse_scale(y: &[f64]) -> f64 {
    if y.len() < 2 {
        return 0.0;
    }
    y.windows(2).map(|w| (w[1] - w[0]) * (w[1] - w[0])).sum::<f64>() / (y.len() - 1) as f64
}

/// Mean absolute one-step difference of the history (MASE's denominator).
pub fn mase_scale(y: &[f64]) -> f64 {
    if y.len() < 2 {
        return 0.0;
    }
    y.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (y.len() - 1) as f64
}

/// RMSSE of a forecast against the actuals, given the history before it; None when the history never moved.
pub fn rmsse(history: &[f64], forecast: &[f64], actual: &[f64]) -> Option<f64> {
    let s = rmsse_scale(history);
    let n = forecast.len().min(actual.len());
    (s > 0.0 && n > 0).then(|| {
        let mse = forecast.iter().zip(actual).map(|(f, a)| (a - f) * (a - f)).sum::<f64>() / n as f64;
        (mse / s).sqrt()
    })
}

/// MASE of a forecast against the actuals, given the history before it; None when the history never moved.
pub fn mase(history: &[f64], forecast: &[f64], actual: &[f64]) -> Option<f64> {
    let s = mase_scale(history);
    let n = forecast.len().min(actual.len());
    (s > 0.0 && n > 0).then(|| forecast.iter().zip(actual).map(|(f, a)| (a - f).abs()).sum::<f64>() / n as f64 / s)
}

/// The `q` quantile (0-1) of the values, interpolated between order statistics.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scales_are_the_naive_forecasts_own_errors() {
        let y = [1.0, 3.0, 2.0, 6.0];
        assert!((mase_scale(&y) - 7.0 / 3.0).abs() < 1e-12);
        assert!((rmsse_scale(&y) - 21.0 / 3.0).abs() < 1e-12);
        // the naive forecast scores 1 on a continuation as volatile as its history... and 0 when exact
        assert_eq!(rmsse(&y, &[6.0, 6.0], &[6.0, 6.0]), Some(0.0));
        assert!((mase(&y, &[6.0], &[8.0]).unwrap() - 2.0 / (7.0 / 3.0)).abs() < 1e-12);
        assert_eq!(rmsse(&[2.0, 2.0, 2.0], &[1.0], &[2.0]), None, "a flat history has no scale");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
    }
}
