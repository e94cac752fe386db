//! Demand forecasting for stock planning: units sold per product, per category and shop-wide, daily or weekly,
//! from the store's purchase events; 1-8 weeks ahead with 80% and 95% prediction intervals.
//!
//! Every method (`models`) forecasts each series' last `h` periods from the periods before them (validation);
//! the three with the least mean RMSSE (M5's measure) over all the series are then fitted on everything and
//! averaged ([`SERVED`]; a per-series choice is measured beside it). Intervals are conformal and pooled: the
//! validation errors of the served forecast, each divided by its series' scale, give error quantiles for each step
//! ahead; a series' interval is its forecast plus those quantiles times its scale, never below zero.
pub mod measure;
pub mod models;
pub mod serve;

use crate::store::{Event, EventKind};
use models::{Context, Method};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Freq {
    Daily,
    Weekly,
}

impl Freq {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "weekly" | "week" => Some(Freq::Weekly),
            "daily" | "day" => Some(Freq::Daily),
            _ => None,
        }
    }
    /// The period a day (since 1970-01-01) falls in: days, or weeks starting on Monday.
    pub fn period(self, day: i64) -> i64 {
        match self {
            Freq::Daily => day,
            Freq::Weekly => (day + 3).div_euclid(7),
        }
    }
    /// The first day of a period.
    pub fn first_day(self, period: i64) -> i64 {
        match self {
            Freq::Daily => period,
            Freq::Weekly => period * 7 - 3,
        }
    }
    /// The season length the seasonal methods use: a week of days, a year of weeks.
    pub fn season(self) -> usize {
        match self {
            Freq::Daily => 7,
            Freq::Weekly => 52,
        }
    }
    /// Periods in `weeks` weeks.
    pub fn periods_in_weeks(self, weeks: usize) -> usize {
        match self {
            Freq::Daily => weeks * 7,
            Freq::Weekly => weeks,
        }
    }
    /// A period's label: the date of its first day.
    pub fn label(self, period: i64) -> String {
        crate::prompts::datetime_iso((self.first_day(period).max(0) * 86_400) as u64)[..10].to_string()
    }
}

/// Units sold per period, per product, category and shop-wide, over whole periods only: from the first period
/// with a sale to the last period that ended by the latest sale's day (the current, partial one is left out).
#[derive(Debug, Clone)]
pub struct Demand {
    pub freq: Freq,
    /// The period of index 0.
    pub start: i64,
    pub products: BTreeMap<String, Vec<f64>>,
    pub categories: BTreeMap<String, Vec<f64>>,
    pub total: Vec<f64>,
}

impl Demand {
    /// From purchase events (their quantities); `category` names a product's category ("" for none).
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a Event>,
        category: &dyn Fn(&str) -> String,
        freq: Freq,
    ) -> Self {
        let mut sold: Vec<(String, i64, f64)> = vec![];
        let mut last_day = i64::MIN;
        for e in events {
            if e.kind != EventKind::Purchase || e.quantity <= 0 {
                continue;
            }
            let Some(secs) = crate::events::parse_iso(&e.timestamp) else { continue };
            let day = (secs / 86_400) as i64;
            last_day = last_day.max(day);
            sold.push((e.product.clone(), freq.period(day), e.quantity as f64));
        }
        let empty = Self { freq, start: 0, products: BTreeMap::new(), categories: BTreeMap::new(), total: vec![] };
        if sold.is_empty() {
            return empty;
        }
        // the latest sale's period counts only when that day was its last
        let end = if freq.period(last_day + 1) != freq.period(last_day) {
            freq.period(last_day)
        } else {
            freq.period(last_day) - 1
        };
        let start = sold.iter().map(|s| s.1).min().unwrap_or(end);
        if end < start {
            return empty;
        }
        let n = (end - start + 1) as usize;
        let mut products: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut categories: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut total = vec![0.0; n];
        let mut cat_of: HashMap<String, String> = HashMap::new();
        for (product, period, q) in sold {
            if period > end {
                continue;
            }
            let i = (period - start) as usize;
            products.entry(product.clone()).or_insert_with(|| vec![0.0; n])[i] += q;
            total[i] += q;
            let cat = cat_of.entry(product.clone()).or_insert_with(|| category(&product)).clone();
            if !cat.is_empty() {
                categories.entry(cat).or_insert_with(|| vec![0.0; n])[i] += q;
            }
        }
        Self { freq, start, products, categories, total }
    }

    /// Periods of history.
    pub fn len(&self) -> usize {
        self.total.len()
    }

    pub fn is_empty(&self) -> bool {
        self.total.is_empty()
    }
}

/// One series' forecast.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesForecast {
    /// The methods whose forecasts were averaged (one for a per-series choice).
    pub methods: Vec<Method>,
    pub mean: Vec<f64>,
    pub lo80: Vec<f64>,
    pub hi80: Vec<f64>,
    pub lo95: Vec<f64>,
    pub hi95: Vec<f64>,
}

impl SeriesForecast {
    /// The methods as one name ("ses+tsb+adida").
    pub fn method_name(&self) -> String {
        self.methods.iter().map(|m| m.name()).collect::<Vec<_>>().join("+")
    }
}

/// A series from its first sale (a product launched later has no history before it).
pub fn from_first_sale(y: &[f64]) -> &[f64] {
    let first = y.iter().position(|v| *v > 0.0).unwrap_or(y.len());
    &y[first..]
}

/// How the method of each series is chosen, on the validation window (each series' last `h` periods, forecast
/// from the periods before them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The mean of the `k` methods with the least mean validation RMSSE over all the series (what Aisle serves:
    /// a combination chosen on many series is steadier than a choice made on one series' few periods).
    TopMean(usize),
    /// Per series, the method with the least validation RMSSE on that series.
    PerSeries,
    /// One method for every series.
    Only(Method),
    /// The rule among the best one, two or three methods and the per-series choice that forecast the last `h`
    /// periods best when each rule was run on the periods before them (so the rule, too, is chosen on data the
    /// forecast is not scored on): what Aisle serves.
    Auto,
}

/// Aisle's rule.
pub const SERVED: Choice = Choice::Auto;

/// The rules [`Choice::Auto`] chooses among.
const RULES: [Choice; 4] = [Choice::TopMean(1), Choice::TopMean(2), Choice::TopMean(3), Choice::PerSeries];

/// The rule of [`RULES`] whose forecasts of every series' last `h` periods, made from the periods before them,
/// have the least mean RMSSE (TopMean(1) when the series are too short to tell).
pub fn auto_rule(series: &[&[f64]], parent: Option<&[f64]>, h: usize, season: usize) -> Choice {
    let cut: Vec<&[f64]> = series.iter().map(|y| &y[..y.len().saturating_sub(h)]).collect();
    let parent_cut = parent.map(|p| &p[..p.len().saturating_sub(h)]);
    let mut best = (f64::INFINITY, RULES[0]);
    for rule in RULES {
        let out = forecast_all(&cut, parent_cut, h, season, rule);
        let scores: Vec<f64> = series
            .iter()
            .zip(&cut)
            .zip(&out)
            .filter(|((y, c), _)| y.len() >= c.len() + h)
            .filter_map(|((y, c), f)| measure::rmsse(from_first_sale(c), &f.mean, &y[c.len()..]))
            .collect();
        if scores.is_empty() {
            continue;
        }
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        if mean < best.0 {
            best = (mean, rule);
        }
    }
    best.1
}

/// Forecasts many series `h` periods past their end, by `choice`, with conformal intervals pooled over all of
/// them (the validation errors of each series' own forecast rule, divided by its scale, per step ahead).
/// `parent` is the series the pooled method takes shares of (its periods aligned with each series' end).
pub fn forecast_all(
    series: &[&[f64]],
    parent: Option<&[f64]>,
    h: usize,
    season: usize,
    choice: Choice,
) -> Vec<SeriesForecast> {
    if choice == Choice::Auto {
        let rule = auto_rule(series, parent, h, season);
        return forecast_all(series, parent, h, season, rule);
    }
    let methods: Vec<Method> = match choice {
        Choice::Only(m) => vec![m],
        _ => models::ALL.to_vec(),
    };
    let parent_val =
        parent.filter(|p| p.len() > h).map(|p| (&p[..p.len() - h], models::parent_forecast(&p[..p.len() - h], h)));
    let parent_full = parent.map(|p| (p, models::parent_forecast(p, h)));
    let cx_val = Context { season, parent: parent_val.as_ref().map(|(p, f)| (*p, f.as_slice())) };
    // per series: its scale and, when it is long enough to hold out h periods, each method's validation forecast
    struct Val<'a> {
        held: &'a [f64],
        scale: f64,
        forecasts: Vec<Vec<f64>>,
    }
    let vals: Vec<Option<Val>> = series
        .iter()
        .map(|y| {
            let y = from_first_sale(y);
            (y.len() >= h + 3).then(|| {
                let (fit, held) = y.split_at(y.len() - h);
                let forecasts = methods.iter().map(|m| models::forecast(*m, fit, h, &cx_val)).collect();
                Val { held, scale: measure::rmsse_scale(fit).sqrt(), forecasts }
            })
        })
        .collect();
    let rmsse = |v: &Val, f: &[f64]| -> f64 {
        let mse = f.iter().zip(v.held).map(|(f, a)| (a - f) * (a - f)).sum::<f64>() / h as f64;
        if v.scale > 0.0 {
            mse.sqrt() / v.scale
        } else {
            mse.sqrt()
        }
    };
    // the methods used for every series under TopMean: least mean validation RMSSE over the scaled series
    let top: Vec<usize> = {
        let mut mean: Vec<(f64, usize)> = (0..methods.len())
            .map(|i| {
                let scored: Vec<f64> =
                    vals.iter().flatten().filter(|v| v.scale > 0.0).map(|v| rmsse(v, &v.forecasts[i])).collect();
                (scored.iter().sum::<f64>() / scored.len().max(1) as f64, i)
            })
            .collect();
        mean.sort_by(|a, b| a.0.total_cmp(&b.0));
        let k = if let Choice::TopMean(k) = choice { k.clamp(1, methods.len()) } else { 1 };
        mean.into_iter().take(k).map(|x| x.1).collect()
    };
    let pick = |v: Option<&Val>| -> Vec<usize> {
        match (choice, v) {
            (Choice::PerSeries, Some(v)) => {
                let best =
                    (0..methods.len()).min_by(|&a, &b| rmsse(v, &v.forecasts[a]).total_cmp(&rmsse(v, &v.forecasts[b])));
                vec![best.unwrap_or(0)]
            }
            (Choice::PerSeries, None) => vec![methods.iter().position(|m| *m == Method::Ses).unwrap_or(0)],
            _ => top.clone(),
        }
    };
    let mean_of = |fs: &[Vec<f64>], which: &[usize]| -> Vec<f64> {
        (0..h).map(|i| which.iter().map(|&w| fs[w][i]).sum::<f64>() / which.len() as f64).collect()
    };
    // pooled scaled errors of each series' own rule, per step ahead
    let mut errors = vec![vec![]; h];
    let chosen: Vec<Vec<usize>> = vals.iter().map(|v| pick(v.as_ref())).collect();
    for (v, which) in vals.iter().zip(&chosen) {
        let Some(v) = v.as_ref().filter(|v| v.scale > 0.0) else { continue };
        for (i, (f, a)) in mean_of(&v.forecasts, which).iter().zip(v.held).enumerate() {
            errors[i].push((a - f) / v.scale);
        }
    }
    let quantiles = |q: f64| -> Vec<f64> { errors.iter().map(|e| measure::quantile(e, q)).collect() };
    let bands: Vec<Vec<f64>> = [0.10, 0.90, 0.025, 0.975].iter().map(|q| quantiles(*q)).collect();
    let cx = Context { season, parent: parent_full.as_ref().map(|(p, f)| (*p, f.as_slice())) };
    series
        .iter()
        .zip(chosen)
        .map(|(y, which)| {
            let y = from_first_sale(y);
            let fs: Vec<Vec<f64>> = which.iter().map(|&w| models::forecast(methods[w], y, h, &cx)).collect();
            let mean = mean_of(&fs, &(0..fs.len()).collect::<Vec<_>>());
            let scale = measure::rmsse_scale(y).sqrt();
            let band = |b: &[f64]| -> Vec<f64> { mean.iter().zip(b).map(|(f, e)| (f + e * scale).max(0.0)).collect() };
            SeriesForecast {
                methods: which.iter().map(|&w| methods[w]).collect(),
                lo80: band(&bands[0]),
                hi80: band(&bands[1]),
                lo95: band(&bands[2]),
                hi95: band(&bands[3]),
                mean,
            }
        })
        .collect()
}

/// What a forecast is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Product(String),
    Category(String),
    Shop,
}

/// A forecast ready to show: the history's last periods and the forecast, each labelled with its first day.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub level: String,
    pub key: String,
    pub freq: Freq,
    pub method: String,
    pub history: Vec<(String, f64)>,
    pub forecast: Vec<ForecastPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastPoint {
    pub period: String,
    pub mean: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

/// Forecasts every series of one level at once (the intervals pool their validation errors): products (the
/// pooled method shares the shop's total), categories (likewise), or the shop's total.
pub fn forecast_level(d: &Demand, level: &str, h: usize) -> BTreeMap<String, SeriesForecast> {
    let season = d.freq.season();
    let (keys, series): (Vec<&String>, Vec<&[f64]>) = match level {
        "product" => d.products.iter().map(|(k, v)| (k, v.as_slice())).unzip(),
        "category" => d.categories.iter().map(|(k, v)| (k, v.as_slice())).unzip(),
        _ => return BTreeMap::from([(String::new(), forecast_all(&[&d.total], None, h, season, SERVED).remove(0))]),
    };
    let parent = Some(d.total.as_slice());
    keys.into_iter().cloned().zip(forecast_all(&series, parent, h, season, SERVED)).collect()
}

/// The report of one series: its last `show` periods and its forecast.
pub fn report(d: &Demand, level: &Level, f: &SeriesForecast, show: usize) -> Option<Report> {
    let (name, key, y) = match level {
        Level::Product(id) => ("product", id.clone(), d.products.get(id)?),
        Level::Category(c) => ("category", c.clone(), d.categories.get(c)?),
        Level::Shop => ("shop", String::new(), &d.total),
    };
    let end = d.start + y.len() as i64;
    let from = y.len().saturating_sub(show);
    let history = (from..y.len()).map(|i| (d.freq.label(d.start + i as i64), y[i])).collect();
    let forecast = (0..f.mean.len())
        .map(|i| ForecastPoint {
            period: d.freq.label(end + i as i64),
            mean: f.mean[i],
            lo80: f.lo80[i],
            hi80: f.hi80[i],
            lo95: f.lo95[i],
            hi95: f.hi95[i],
        })
        .collect();
    Some(Report { level: name.into(), key, freq: d.freq, method: f.method_name(), history, forecast })
}

#[cfg(test)]
mod tests;
