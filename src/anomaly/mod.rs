//! Anomaly and fraud signals, for staff to review (never an automatic ban): traffic and conversion per hour or day
//! beside the band its own past expects ([`traffic`]), and shoppers whose behaviour looks like a bot, a flood, card
//! testing, buying without looking, or cancelling much ([`shoppers`]). Every flag carries the evidence that raised it.
pub mod shoppers;

use crate::store::{Event, EventKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Seconds since 1970 of a timestamp (`YYYY-MM-DD`, then optional `THH:MM[:SS]` or ` HH:MM[:SS]`), None when
/// unreadable. Offsets are ignored: a shop's events come in one zone.
pub fn seconds(ts: &str) -> Option<i64> {
    let day = crate::reco::profile::day_number(ts)?;
    let part = |a: usize, b: usize| ts.get(a..b).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    Some(day * 86_400 + part(11, 13) * 3600 + part(14, 16) * 60 + part(17, 19))
}

/// How finely traffic is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "day" | "daily" => Some(Self::Day),
            "hour" | "hourly" => Some(Self::Hour),
            _ => None,
        }
    }
    fn seconds(self) -> i64 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }
    /// Periods in a week: a period is compared with the same hour of the week, or the same weekday, before it.
    fn per_week(self) -> i64 {
        7 * 86_400 / self.seconds()
    }
    /// `2011-12-09` or `2011-12-09 13:00`.
    pub fn label(self, period: i64) -> String {
        let t = crate::prompts::datetime_iso((period * self.seconds()).max(0) as u64);
        match self {
            Self::Day => t[..10].to_string(),
            Self::Hour => format!("{} {}", &t[..10], &t[11..16]),
        }
    }
}

/// What is counted per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Distinct shoppers with any event.
    Visitors,
    /// Events of every kind.
    Events,
    /// Purchase lines.
    Purchases,
    /// Shoppers who bought, of the visitors.
    Conversion,
}

impl Metric {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "visitors" => Some(Self::Visitors),
            "events" => Some(Self::Events),
            "purchases" => Some(Self::Purchases),
            "conversion" => Some(Self::Conversion),
            _ => None,
        }
    }
}

/// Per-period counts of a shop's events, from the first period with an event to the last.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub start: i64,
    pub visitors: Vec<f64>,
    pub events: Vec<f64>,
    pub purchases: Vec<f64>,
    pub buyers: Vec<f64>,
}

/// One period as it is counted: its visitors, events, purchase lines and buyers.
type Counting<'a> = (HashSet<&'a str>, f64, f64, HashSet<&'a str>);

impl Traffic {
    pub fn from_events(events: &[Event], grain: Grain) -> Self {
        let mut by: BTreeMap<i64, Counting> = BTreeMap::new();
        for e in events {
            let Some(t) = seconds(&e.timestamp) else { continue };
            let p = by.entry(t.div_euclid(grain.seconds())).or_default();
            p.0.insert(&e.user);
            p.1 += 1.0;
            if e.kind == EventKind::Purchase {
                p.2 += 1.0;
                p.3.insert(&e.user);
            }
        }
        let (Some(first), Some(last)) = (by.keys().next().copied(), by.keys().next_back().copied()) else {
            return Self::default();
        };
        let n = (last - first + 1) as usize;
        let mut t = Traffic {
            start: first,
            visitors: vec![0.0; n],
            events: vec![0.0; n],
            purchases: vec![0.0; n],
            buyers: vec![0.0; n],
        };
        for (p, (users, events, purchases, buyers)) in by {
            let i = (p - first) as usize;
            t.visitors[i] = users.len() as f64;
            t.events[i] = events;
            t.purchases[i] = purchases;
            t.buyers[i] = buyers.len() as f64;
        }
        t
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The metric's values, and for conversion the visitors each rate is of.
    fn values(&self, m: Metric) -> Vec<f64> {
        match m {
            Metric::Visitors => self.visitors.clone(),
            Metric::Events => self.events.clone(),
            Metric::Purchases => self.purchases.clone(),
            Metric::Conversion => {
                self.buyers.iter().zip(&self.visitors).map(|(b, v)| if *v > 0.0 { b / v } else { 0.0 }).collect()
            }
        }
    }
}

/// How many weeks back a period is compared with, the fewest comparable periods for a band, and how many robust
/// standard deviations the band spans each side.
pub const WEEKS_BACK: i64 = 8;
pub const MIN_COMPARABLE: usize = 4;
pub const BAND_SIGMAS: f64 = 3.0;

/// One period: its value, the band its past expects (None before enough past), and whether it falls outside.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub period: String,
    pub value: f64,
    pub expected: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// "spike" above the band, "drop" below it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<&'static str>,
    /// Why, in words, when flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Each period of `t` beside its band: the median of the same hour of the week (or weekday) over the previous
/// [`WEEKS_BACK`] weeks, ± [`BAND_SIGMAS`] robust standard deviations (1.4826 × the median absolute deviation, at
/// least the spread chance alone gives), on the log scale for counts (a busy day varies by more visitors than a
/// quiet one, in proportion). A comparable period with no event at all (the shop closed) is left out of the past.
pub fn banded(t: &Traffic, grain: Grain, metric: Metric) -> Vec<Point> {
    let values = t.values(metric);
    let week = grain.per_week();
    (0..t.len())
        .map(|i| {
            let past: Vec<f64> = (1..=WEEKS_BACK)
                .filter_map(|w| i.checked_sub((w * week) as usize))
                .filter(|&j| t.events[j] > 0.0)
                .map(|j| values[j])
                .collect();
            let mut point = Point {
                period: grain.label(t.start + i as i64),
                value: values[i],
                expected: None,
                low: None,
                high: None,
                flag: None,
                evidence: None,
            };
            if past.len() < MIN_COMPARABLE {
                return point;
            }
            // counts vary in proportion to their size: their band is made on log(1 + count), a rate's on the rate
            let count = metric != Metric::Conversion;
            let scale = |v: f64| if count { v.ln_1p() } else { v };
            let back = |v: f64| if count { v.exp_m1() } else { v };
            let mut scaled: Vec<f64> = past.iter().map(|v| scale(*v)).collect();
            let centre = median(&mut scaled);
            let mut dev: Vec<f64> = scaled.iter().map(|v| (v - centre).abs()).collect();
            let robust = 1.4826 * median(&mut dev);
            let m = back(centre);
            // the spread chance alone gives: Poisson for a count (about 1/sqrt(1 + m) on the log scale), binomial for
            // a rate over its visitors
            let floor = if count {
                1.0 / (1.0 + m).sqrt()
            } else {
                (m * (1.0 - m) / t.visitors[i].max(1.0)).max(0.0).sqrt().max(0.01)
            };
            let sigma = robust.max(floor);
            let (low, high) = (back(centre - BAND_SIGMAS * sigma).max(0.0), back(centre + BAND_SIGMAS * sigma));
            point.expected = Some(m);
            point.low = Some(low);
            point.high = Some(high);
            let what = if values[i] > high {
                Some("spike")
            } else if values[i] < low {
                Some("drop")
            } else {
                None
            };
            if let Some(f) = what {
                point.flag = Some(f);
                point.evidence = Some(format!(
                    "{} against {:.1} expected (band {:.1} to {:.1}, from the same {} of the {} weeks before)",
                    show(values[i], metric),
                    m,
                    low,
                    high,
                    if grain == Grain::Day { "weekday" } else { "hour of the week" },
                    past.len()
                ));
            }
            point
        })
        .collect()
}

fn show(v: f64, m: Metric) -> String {
    match m {
        Metric::Conversion => format!("{:.1}%", v * 100.0),
        _ => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, ts: &str, kind: EventKind) -> Event {
        Event::new(user, "p", kind, ts)
    }

    #[test]
    fn timestamps_read_to_seconds_and_periods_label_back() {
        assert_eq!(seconds("1970-01-02"), Some(86_400));
        assert_eq!(seconds("1970-01-02T01:02:03"), Some(86_400 + 3723));
        assert_eq!(seconds("1970-01-02 01:02"), Some(86_400 + 3720));
        assert_eq!(seconds("yesterday"), None);
        assert_eq!(Grain::Day.label(15_317), "2011-12-09");
        assert_eq!(Grain::Hour.label(15_317 * 24 + 13), "2011-12-09 13:00");
    }

    #[test]
    fn a_day_far_above_its_weekdays_is_a_spike_and_a_quiet_one_a_drop() {
        // ten weeks of a Monday-only shop: 20 visitors each Monday, then 90, then 2
        let mut events = vec![];
        let day = |w: i64| Grain::Day.label(15_001 + 7 * w);
        for w in 0..12 {
            let n = match w {
                10 => 90,
                11 => 2,
                _ => 20 + (w % 3),
            };
            for u in 0..n {
                events.push(event(&format!("u{u}"), &format!("{}T10:00:00", day(w)), EventKind::View));
            }
        }
        let t = Traffic::from_events(&events, Grain::Day);
        let points = banded(&t, Grain::Day, Metric::Visitors);
        let mondays: Vec<&Point> = points.iter().filter(|p| p.value > 0.0).collect();
        assert_eq!(mondays.len(), 12);
        // the first four Mondays have too little past for a band
        assert!(mondays[..4].iter().all(|p| p.expected.is_none()));
        assert!(mondays[4..10].iter().all(|p| p.flag.is_none()), "{mondays:?}");
        assert_eq!(mondays[10].flag, Some("spike"));
        assert!(mondays[10].evidence.as_ref().unwrap().starts_with("90 against 21.0 expected"), "{:?}", mondays[10]);
        assert_eq!(mondays[11].flag, Some("drop"));
        // the closed days between are never compared with (their own past is closed days)
        assert!(points.iter().filter(|p| p.value == 0.0).all(|p| p.expected.is_none()));
    }

    #[test]
    fn conversion_is_buyers_over_visitors() {
        let events = vec![
            event("a", "2011-01-03T10:00:00", EventKind::View),
            event("b", "2011-01-03T10:05:00", EventKind::View),
            event("b", "2011-01-03T10:06:00", EventKind::Purchase),
            event("b", "2011-01-03T10:06:00", EventKind::Purchase),
        ];
        let t = Traffic::from_events(&events, Grain::Hour);
        assert_eq!((t.visitors[0], t.events[0], t.purchases[0], t.buyers[0]), (2.0, 4.0, 2.0, 1.0));
        assert_eq!(t.values(Metric::Conversion), vec![0.5]);
    }
}
