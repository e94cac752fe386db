//! Forecasts as the server answers them: every series of a level at once (their intervals pool), kept while the
//! store has not changed, or for up to ten minutes while events keep arriving (a weekly forecast moves little in
//! that time); dropped at once when a shopper's data is deleted. And the products likely to run out.
use super::{forecast_level, report, Demand, Freq, Level, Report, SeriesForecast};
use crate::store::{Stamp, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a forecast is reused while the store keeps changing.
const FRESH: Duration = Duration::from_secs(600);

/// Periods of history a report shows: half a year.
const SHOW_WEEKS: usize = 26;

/// Forecasts of one frequency, level and horizon, with the demand they came from.
pub struct Computed {
    pub demand: Demand,
    pub series: BTreeMap<String, SeriesForecast>,
}

struct Entry {
    stamp: Stamp,
    at: Instant,
    computed: Arc<Computed>,
}

/// Kept forecasts by frequency, level and weeks ahead.
type Kept = HashMap<(Freq, &'static str, usize), Entry>;

#[derive(Clone, Default)]
pub struct Cache(Arc<Mutex<Kept>>);

/// A request for a forecast, checked.
#[derive(Debug, Clone)]
pub struct Ask {
    pub freq: Freq,
    pub level: Level,
    /// Weeks ahead, 1 to 8.
    pub weeks: usize,
}

impl Ask {
    /// From the API's parameters: `level` shop, category or product (`key` naming the latter two), `freq` weekly
    /// or daily, `weeks` 1-8 (default 8).
    pub fn parse(level: &str, key: &str, freq: &str, weeks: Option<usize>) -> Result<Self, String> {
        let freq = Freq::parse(freq).ok_or_else(|| format!("freq {freq:?}: weekly or daily"))?;
        let weeks = weeks.unwrap_or(8);
        if !(1..=8).contains(&weeks) {
            return Err("weeks: 1 to 8".into());
        }
        let key = key.trim();
        let level = match level {
            "" | "shop" => Level::Shop,
            "product" | "category" if key.is_empty() => return Err(format!("a {level} forecast needs key")),
            "product" => Level::Product(key.to_string()),
            "category" => Level::Category(key.to_string()),
            other => return Err(format!("level {other:?}: shop, category or product")),
        };
        Ok(Self { freq, level, weeks })
    }

    fn level_name(&self) -> &'static str {
        match self.level {
            Level::Product(_) => "product",
            Level::Category(_) => "category",
            Level::Shop => "shop",
        }
    }
}

impl Cache {
    /// The forecasts of `ask`'s level, computed again when the store changed more than ten minutes ago.
    pub fn computed(
        &self,
        store: &Store,
        category: &dyn Fn(&str) -> String,
        ask: &Ask,
    ) -> Result<Arc<Computed>, StoreError> {
        let key = (ask.freq, ask.level_name(), ask.weeks);
        let stamp = store.stamp()?;
        if let Some(e) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            if e.stamp == stamp || e.at.elapsed() < FRESH {
                return Ok(e.computed.clone());
            }
        }
        let events = store.all_events()?;
        let demand = Demand::from_events(&events, category, ask.freq);
        let h = ask.freq.periods_in_weeks(ask.weeks);
        let series = if demand.is_empty() { BTreeMap::new() } else { forecast_level(&demand, ask.level_name(), h) };
        let computed = Arc::new(Computed { demand, series });
        let entry = Entry { stamp, at: Instant::now(), computed: computed.clone() };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, entry);
        Ok(computed)
    }

    /// Drops every kept forecast (a shopper's data was deleted: nothing computed from it may be served).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The report `ask` names; None when that product or category has no whole period of sales.
pub fn answer(c: &Computed, ask: &Ask) -> Option<Report> {
    let key = match &ask.level {
        Level::Product(k) | Level::Category(k) => k.clone(),
        Level::Shop => String::new(),
    };
    let f = c.series.get(&key)?;
    report(&c.demand, &ask.level, f, ask.freq.periods_in_weeks(SHOW_WEEKS))
}

/// A product whose forecast demand over the horizon is above its stock.
#[derive(Debug, Clone, Serialize)]
pub struct RunOut {
    pub id: String,
    pub title: String,
    pub stock: i64,
    /// Forecast units over the horizon, and the 80% interval's top.
    pub demand: f64,
    pub demand_hi80: f64,
    /// The first period (its first day) by whose end the forecast demand passes the stock; None when only the
    /// interval's top does.
    pub runs_out: Option<String>,
    /// "likely" (the forecast passes the stock) or "possible" (only the 80% interval's top does).
    pub risk: &'static str,
}

/// Products with known stock that the forecast says may run out within the horizon: likely ones first, soonest
/// first, then possible ones by how far the interval's top passes the stock.
pub fn run_out(c: &Computed, catalog: &crate::catalog::Catalog, freq: Freq) -> Vec<RunOut> {
    let end = c.demand.start + c.demand.len() as i64;
    let mut out: Vec<(usize, f64, RunOut)> = vec![];
    for (id, f) in &c.series {
        let Some(p) = catalog.get(id) else { continue };
        let Some(stock) = p.stock else { continue };
        let (demand, hi): (f64, f64) = (f.mean.iter().sum(), f.hi80.iter().sum());
        if hi <= stock as f64 {
            continue;
        }
        let mut total = 0.0;
        let first = f.mean.iter().position(|m| {
            total += m;
            total > stock as f64
        });
        let r = RunOut {
            id: id.clone(),
            title: p.title.clone(),
            stock,
            demand,
            demand_hi80: hi,
            runs_out: first.map(|i| freq.label(end + i as i64)),
            risk: if first.is_some() { "likely" } else { "possible" },
        };
        out.push((first.unwrap_or(usize::MAX), stock as f64 - hi, r));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    out.into_iter().map(|x| x.2).collect()
}
