//! An experiment's read-out: each exposed unit's outcome in the window after its exposure (a card or product
//! click, an add to cart, a purchase, revenue), per variant with intervals against the control, the
//! sample-ratio-mismatch check, the minimum-sample guard and the fixed-horizon rule.
//!
//! The rule against peeking is a fixed horizon: the experiment says how many units per variant it needs
//! (`planned_units`) and its result is read once every variant has them. Intervals before that are shown as
//! interim, for spotting breakage, never for deciding; nothing is called a winner before the horizon.
use super::stats::{diff_of_proportions, sample_ratio_p, welch, wilson, Interval, Moments};
use super::{Experiment, Exposure};
use crate::store::{Event, EventKind, Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// Intervals are 95%.
pub const CONFIDENCE: f64 = 0.95;
/// Below this many units in any variant nothing is compared.
pub const MIN_UNITS: u64 = 100;
/// A sample-ratio p-value under this is a mismatch (the usual, strict threshold: the check runs on every view).
pub const SRM_ALPHA: f64 = 0.001;

/// What one exposed unit did in its window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UnitOutcome {
    pub clicked: bool,
    pub carted: bool,
    pub purchased: bool,
    pub revenue: f64,
}

/// One unit's outcome from its shopper's events (oldest first) between `from` and `to` (ISO-8601, inclusive);
/// purchases without a price are valued at `price_of` the product.
pub fn outcome(events: &[Event], from: &str, to: &str, price_of: &dyn Fn(&str) -> Option<f64>) -> UnitOutcome {
    let mut o = UnitOutcome::default();
    for e in events.iter().filter(|e| e.timestamp.as_str() >= from && e.timestamp.as_str() <= to) {
        match e.kind {
            EventKind::Click | EventKind::RecommendationClicked => o.clicked = true,
            EventKind::AddToCart => o.carted = true,
            EventKind::Purchase => {
                o.purchased = true;
                o.revenue += e.quantity as f64 * e.price.or_else(|| price_of(&e.product)).unwrap_or(0.0);
            }
            _ => {}
        }
    }
    o
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Conversion rate, treatment minus control.
    pub conversion: Interval,
    /// Revenue per unit, treatment minus control.
    pub revenue_per_unit: Interval,
    /// Click rate, treatment minus control.
    pub clicks: Interval,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    pub holdout: bool,
    pub weight: f64,
    pub units: u64,
    pub clicked: u64,
    pub carted: u64,
    pub converted: u64,
    pub revenue: f64,
    pub revenue_per_unit: f64,
    /// The conversion rate with its Wilson interval.
    pub conversion: Interval,
    /// Against the control (absent for the control itself).
    pub vs_control: Option<Comparison>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub experiment: Experiment,
    pub variants: Vec<VariantResult>,
    pub units: u64,
    pub srm_p: f64,
    /// Set when the split differs from the weights asked for: the assignment or the exposure logging is broken
    /// and no comparison is trustworthy.
    pub srm_warning: Option<String>,
    /// Every variant has at least [`MIN_UNITS`].
    pub enough_units: bool,
    /// Every variant has its `planned_units`: the result may be read.
    pub horizon_reached: bool,
    /// The state of the read-out in words (the rule, interim or final, the mismatch).
    pub reading: String,
    pub confidence: f64,
}

/// Reads an experiment: each exposure's outcome in its window, then the per-variant figures.
pub fn analyse(
    store: &Store,
    e: &Experiment,
    exposures: &[Exposure],
    price_of: &dyn Fn(&str) -> Option<f64>,
) -> Result<Results, StoreError> {
    let mut by_user: HashMap<&str, Vec<Event>> = HashMap::new();
    let mut units = Vec::with_capacity(exposures.len());
    for x in exposures {
        if !by_user.contains_key(x.user.as_str()) {
            by_user.insert(&x.user, store.user_events(&x.user)?);
        }
        let until = crate::events::parse_iso(&x.at)
            .map(|t| crate::prompts::datetime_iso(t + u64::from(e.window_days) * 86_400))
            .unwrap_or_else(|| x.at.clone());
        units.push((x.variant.as_str(), outcome(&by_user[x.user.as_str()], &x.at, &until, price_of)));
    }
    Ok(summarise(e, &units))
}

/// The per-variant figures from each exposed unit's (variant, outcome).
pub fn summarise(e: &Experiment, units: &[(&str, UnitOutcome)]) -> Results {
    let of = |name: &str| -> Vec<UnitOutcome> { units.iter().filter(|u| u.0 == name).map(|u| u.1).collect() };
    let control = of(&e.variants[0].name);
    let count = |v: &[UnitOutcome], f: fn(&UnitOutcome) -> bool| v.iter().filter(|u| f(u)).count() as u64;
    let revenue = |v: &[UnitOutcome]| Moments::of(&v.iter().map(|u| u.revenue).collect::<Vec<_>>());
    let mut variants = vec![];
    for (i, v) in e.variants.iter().enumerate() {
        let mine = of(&v.name);
        let n = mine.len() as u64;
        let converted = count(&mine, |u| u.purchased);
        let vs_control = (i > 0).then(|| {
            let (nc, nt) = (control.len() as u64, n);
            Comparison {
                conversion: diff_of_proportions(converted, nt, count(&control, |u| u.purchased), nc, CONFIDENCE),
                revenue_per_unit: welch(revenue(&mine), revenue(&control), CONFIDENCE),
                clicks: diff_of_proportions(
                    count(&mine, |u| u.clicked),
                    nt,
                    count(&control, |u| u.clicked),
                    nc,
                    CONFIDENCE,
                ),
            }
        });
        let total: f64 = mine.iter().map(|u| u.revenue).sum();
        variants.push(VariantResult {
            name: v.name.clone(),
            holdout: v.holdout,
            weight: v.weight,
            units: n,
            clicked: count(&mine, |u| u.clicked),
            carted: count(&mine, |u| u.carted),
            converted,
            revenue: total,
            revenue_per_unit: if n > 0 { total / n as f64 } else { 0.0 },
            conversion: wilson(converted, n, CONFIDENCE),
            vs_control,
        });
    }
    let observed: Vec<u64> = variants.iter().map(|v| v.units).collect();
    let weights: Vec<f64> = e.variants.iter().map(|v| v.weight).collect();
    let srm_p = sample_ratio_p(&observed, &weights);
    let total: u64 = observed.iter().sum();
    let srm_warning = (srm_p < SRM_ALPHA).then(|| {
        format!(
            "sample ratio mismatch: {} units split {:?} against weights {:?} (chi-squared p = {srm_p:.2e}); \
             assignment or exposure logging is broken, so no comparison here can be trusted",
            total, observed, weights
        )
    });
    let enough_units = observed.iter().all(|&n| n >= MIN_UNITS);
    let horizon_reached = observed.iter().all(|&n| n >= e.planned_units);
    let reading = if srm_warning.is_some() {
        "Sample ratio mismatch: do not read this result; find why the split is off.".to_string()
    } else if !enough_units {
        format!("Too few units to compare (fewer than {MIN_UNITS} in a variant).")
    } else if horizon_reached {
        format!(
            "Final: every variant reached its {} planned units; 95% intervals that leave out zero are differences.",
            e.planned_units
        )
    } else {
        format!(
            "Interim: the result is read at {} units per variant (fixed horizon). Do not stop or decide on these \
             intervals; looking repeatedly and stopping at the first good one makes false winners.",
            e.planned_units
        )
    };
    Results {
        experiment: e.clone(),
        variants,
        units: total,
        srm_p,
        srm_warning,
        enough_units,
        horizon_reached,
        reading,
        confidence: CONFIDENCE,
    }
}
