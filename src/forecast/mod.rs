//! Demand forecasting for stock planning: units sold per product, per category and shop-wide, daily or weekly,
//! from the store's purchase events; 1-8 weeks ahead with 80% and 95% prediction intervals.
//!
//! Each series gets the method (`models`) that did best on its own last `h` periods when fitted on the periods
//! before them (RMSSE, M5's measure), then is fitted again on everything. Intervals are conformal and pooled:
//! every series' validation errors of a method, divided by the series' scale, give that method's error
//! quantiles for each step ahead; a series' interval is its forecast plus those quantiles times its scale,
//! never below zero.
pub mod measure;
pub mod models;

use crate::store::{Event, EventKind};
use models::{Context, Method};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub method: Method,
    pub mean: Vec<f64>,
    pub lo80: Vec<f64>,
    pub hi80: Vec<f64>,
    pub lo95: Vec<f64>,
    pub hi95: Vec<f64>,
}

/// A series from its first sale (a product launched later has no history before it).
pub fn from_first_sale(y: &[f64]) -> &[f64] {
    let first = y.iter().position(|v| *v > 0.0).unwrap_or(y.len());
    &y[first..]
}

/// Validation errors of one method, divided by each series' scale, per step ahead.
#[derive(Debug, Default, Clone)]
struct Errors(Vec<Vec<f64>>);

impl Errors {
    fn quantile(&self, step: usize, q: f64) -> f64 {
        let Some(v) = self.0.get(step).filter(|v| !v.is_empty()) else { return 0.0 };
        crate::forecast::measure::quantile(v, q)
    }
}

/// Forecasts many series `h` periods past their end: each with the method that did best on its last `h` periods,
/// and conformal intervals pooled over all of them. `parent` is the series the pooled method takes shares of
/// (the same periods as each series' full length, aligned at the end). `only` restricts the methods tried.
pub fn forecast_all(
    series: &[&[f64]],
    parent: Option<&[f64]>,
    h: usize,
    season: usize,
    only: Option<&[Method]>,
) -> Vec<SeriesForecast> {
    let methods: Vec<Method> = only.map(<[Method]>::to_vec).unwrap_or_else(|| models::ALL.to_vec());
    // validation: fitted on all but the last h periods
    let parent_val = parent.filter(|p| p.len() > h).map(|p| (&p[..p.len() - h], models::parent_forecast(&p[..p.len() - h], h)));
    let parent_full = parent.map(|p| (p, models::parent_forecast(p, h)));
    let mut errors: BTreeMap<Method, Errors> = BTreeMap::new();
    let mut chosen: Vec<Method> = Vec::with_capacity(series.len());
    let mut scales: Vec<f64> = Vec::with_capacity(series.len());
    for y in series {
        let y = from_first_sale(y);
        let scale = measure::rmsse_scale(y).sqrt();
        scales.push(scale);
        if y.len() < h + 3 {
            // too short to hold out h periods: the simplest smooth method
            chosen.push(Method::Ses);
            continue;
        }
        let (fit, held) = y.split_at(y.len() - h);
        let fit_scale = measure::rmsse_scale(fit);
        let cx = Context { season, parent: parent_val.as_ref().map(|(p, f)| (*p, f.as_slice())) };
        let mut best = (f64::INFINITY, Method::Ses);
        for &m in &methods {
            let f = models::forecast(m, fit, h, &cx);
            let sq: f64 = f.iter().zip(held).map(|(f, a)| (a - f) * (a - f)).sum::<f64>() / h as f64;
            let score = if fit_scale > 0.0 { sq / fit_scale } else { sq };
            if score < best.0 {
                best = (score, m);
            }
            let s = measure::rmsse_scale(fit).sqrt();
            if s > 0.0 {
                let e = errors.entry(m).or_insert_with(|| Errors(vec![vec![]; h]));
                for (i, (f, a)) in f.iter().zip(held).enumerate() {
                    e.0[i].push((a - f) / s);
                }
            }
        }
        chosen.push(best.1);
    }
    let cx = Context { season, parent: parent_full.as_ref().map(|(p, f)| (*p, f.as_slice())) };
    series
        .iter()
        .zip(chosen)
        .zip(scales)
        .map(|((y, m), scale)| {
            let mean = models::forecast(m, from_first_sale(y), h, &cx);
            let e = errors.get(&m).cloned().unwrap_or_default();
            let band = |q: f64| -> Vec<f64> {
                mean.iter().enumerate().map(|(i, f)| (f + e.quantile(i, q) * scale).max(0.0)).collect()
            };
            SeriesForecast { method: m, lo80: band(0.10), hi80: band(0.90), lo95: band(0.025), hi95: band(0.975), mean }
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
    pub method: Method,
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
        _ => return BTreeMap::from([(String::new(), forecast_all(&[&d.total], None, h, season, None).remove(0))]),
    };
    let parent = Some(d.total.as_slice());
    keys.into_iter().cloned().zip(forecast_all(&series, parent, h, season, None)).collect()
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
    Some(Report { level: name.into(), key, freq: d.freq, method: f.method, history, forecast })
}

#[cfg(test)]
mod tests;
