//! The staff dashboard: aggregates over a date range, one chart each (conversations per day, handoff rate, CSAT,
//! grounding-check failures, chat card click-through and conversion, attributed revenue, the words shoppers
//! searched for that found nothing, the experiments' differences with their intervals). Only aggregates: no
//! shopper, session or message appears (the no-result words are counted words, shown from three shoppers up).
pub mod svg;

use crate::attribution::{attribute, Attribution};
use crate::session::{Role, Session};
use crate::support::Row;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How a chart is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Line,
    Bar,
    /// An estimate with its interval per point.
    Interval,
    /// A line whose later points carry an interval, drawn as a band (a forecast after its history).
    Band,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub label: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
}

impl Point {
    pub fn new(label: impl Into<String>, value: f64) -> Self {
        Self { label: label.into(), value, low: None, high: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    /// `count`, `share` (0-1), `score` or `money`.
    pub unit: &'static str,
    pub kind: Kind,
    pub points: Vec<Point>,
    /// What the figure is, in a sentence.
    pub note: String,
}

/// A checked date range (`YYYY-MM-DD`, both days included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from: String,
    pub to: String,
}

/// The longest range a dashboard draws day by day.
pub const MAX_DAYS: u64 = 400;

impl Range {
    /// From the page's parameters; empty ones default to the 30 days up to `today`.
    pub fn parse(from: &str, to: &str, today: u64) -> Result<Self, String> {
        let day = |s: &str, what: &str| -> Result<u64, String> {
            crate::events::parse_iso(&format!("{}T00:00:00", s.trim()))
                .ok_or_else(|| format!("{what} {s:?}: expected a date, YYYY-MM-DD"))
        };
        let to_secs = if to.trim().is_empty() { today - today % 86_400 } else { day(to, "to")? };
        let from_secs = if from.trim().is_empty() { to_secs.saturating_sub(29 * 86_400) } else { day(from, "from")? };
        if from_secs > to_secs {
            return Err("from is after to".into());
        }
        if (to_secs - from_secs) / 86_400 >= MAX_DAYS {
            return Err(format!("at most {MAX_DAYS} days at once"));
        }
        let d = |s: u64| crate::prompts::datetime_iso(s)[..10].to_string();
        Ok(Self { from: d(from_secs), to: d(to_secs) })
    }

    /// Every day of the range.
    pub fn days(&self) -> Vec<String> {
        let (Some(a), Some(b)) = (
            crate::events::parse_iso(&format!("{}T00:00:00", self.from)),
            crate::events::parse_iso(&format!("{}T00:00:00", self.to)),
        ) else {
            return vec![];
        };
        (0..=(b.saturating_sub(a) / 86_400))
            .map(|i| crate::prompts::datetime_iso(a + i * 86_400)[..10].to_string())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub range: Range,
    pub charts: Vec<Chart>,
    pub attribution: Attribution,
}

/// Per-day figures of the conversations started in the range.
fn conversation_charts(range: &Range, rows: &[Row]) -> Vec<Chart> {
    #[derive(Default)]
    struct Day {
        n: u64,
        handoffs: u64,
        failed: u64,
        csat: Vec<f64>,
    }
    let mut days: BTreeMap<String, Day> = range.days().into_iter().map(|d| (d, Day::default())).collect();
    for r in rows {
        if let Some(d) = days.get_mut(&r.started[..10.min(r.started.len())]) {
            d.n += 1;
            d.handoffs += u64::from(r.handoff);
            d.failed += u64::from(r.check_failed);
            d.csat.extend(r.csat.map(f64::from));
        }
    }
    let series = |f: &dyn Fn(&Day) -> Option<f64>| -> Vec<Point> {
        days.iter().filter_map(|(label, d)| f(d).map(|v| Point::new(label.clone(), v))).collect()
    };
    vec![
        Chart {
            id: "conversations",
            title: "Conversations per day".into(),
            unit: "count",
            kind: Kind::Line,
            points: series(&|d| Some(d.n as f64)),
            note: "Chats started each day (UTC).".into(),
        },
        Chart {
            id: "handoff_rate",
            title: "Handoff rate".into(),
            unit: "share",
            kind: Kind::Line,
            points: series(&|d| (d.n > 0).then(|| d.handoffs as f64 / d.n as f64)),
            note: "Share of the day's chats handed to a person (asked for, or after repeated unhelpful answers)."
                .into(),
        },
        Chart {
            id: "csat",
            title: "CSAT".into(),
            unit: "score",
            kind: Kind::Line,
            points: series(&|d| (!d.csat.is_empty()).then(|| d.csat.iter().sum::<f64>() / d.csat.len() as f64)),
            note: "Mean rating (1-5) of the day's rated chats; days without a rating are left out.".into(),
        },
        Chart {
            id: "check_failures",
            title: "Grounding-check failures".into(),
            unit: "count",
            kind: Kind::Line,
            points: series(&|d| Some(d.failed as f64)),
            note: "Chats with a reply whose model words failed the check against the facts (the template was sent)."
                .into(),
        },
    ]
}

/// The chat cards' click-through and conversion per day, and attributed revenue per day.
fn attribution_charts(range: &Range, a: &Attribution) -> Vec<Chart> {
    let days = range.days();
    let chat = |d: &String| a.chat_by_day.get(d).copied().unwrap_or_default();
    let rate = |i: usize| -> Vec<Point> {
        days.iter()
            .filter_map(|d| {
                let c = chat(d);
                (c[0] > 0).then(|| Point::new(d.clone(), c[i] as f64 / c[0] as f64))
            })
            .collect()
    };
    vec![
        Chart {
            id: "card_ctr",
            title: "Chat card click-through".into(),
            unit: "share",
            kind: Kind::Line,
            points: rate(1),
            note: "Card clicks over cards shown, per day.".into(),
        },
        Chart {
            id: "card_conversion",
            title: "Chat card conversion".into(),
            unit: "share",
            kind: Kind::Line,
            points: rate(2),
            note: format!(
                "Purchases whose last touch was a chat card (within {} days) over cards shown, per day.",
                a.window_days
            ),
        },
        Chart {
            id: "revenue",
            title: "Attributed revenue".into(),
            unit: "money",
            kind: Kind::Bar,
            points: days
                .iter()
                .map(|d| Point::new(d.clone(), a.revenue_by_day.get(d).copied().unwrap_or(0.0)))
                .collect(),
            note: format!(
                "Purchases of a product a chat card, a recommendation placement or a copy variant touched in the {} \
                 days before, by last touch.",
                a.window_days
            ),
        },
    ]
}

/// Words too common to say what a shopper looked for.
const STOP: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "you",
    "have",
    "any",
    "some",
    "want",
    "need",
    "looking",
    "show",
    "please",
    "can",
    "what",
    "that",
    "this",
    "are",
    "there",
    "something",
    "under",
    "over",
    "than",
    "from",
    "get",
    "find",
    "like",
    "would",
    "buy",
    "me",
    "do",
    "not",
    "but",
    "which",
    "all",
    "one",
];

/// The words of shopping requests that found nothing, counted once per shopper, shown from `min_shoppers`.
pub fn no_result_words(sessions: &[Session], range: &Range, min_shoppers: usize, top: usize) -> Vec<(String, usize)> {
    let mut who: HashMap<String, HashSet<String>> = HashMap::new();
    for s in sessions {
        for pair in s.turns.windows(2) {
            let (asked, answer) = (&pair[0], &pair[1]);
            let day = crate::prompts::datetime_iso(answer.at);
            let day = &day[..10];
            let empty_search = answer.role == Role::Assistant
                && answer.tool.as_deref() == Some("search")
                && answer.cards.is_empty()
                && asked.role == Role::Shopper;
            if !empty_search || day < range.from.as_str() || day > range.to.as_str() {
                continue;
            }
            let lower = asked.text.to_lowercase();
            for w in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3) {
                if !STOP.contains(&w) && !w.chars().all(|c| c.is_ascii_digit()) {
                    who.entry(w.to_string()).or_default().insert(s.event_user());
                }
            }
        }
    }
    let mut words: Vec<(String, usize)> =
        who.into_iter().map(|(w, u)| (w, u.len())).filter(|(_, n)| *n >= min_shoppers).collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    words.truncate(top);
    words
}

/// Each experiment's variants against its control: the conversion difference with its interval.
pub fn experiment_chart(results: &[crate::experiments::results::Results]) -> Chart {
    let mut points = vec![];
    for r in results.iter().filter(|r| r.enough_units && r.srm_warning.is_none()) {
        for v in &r.variants {
            if let Some(c) = &v.vs_control {
                points.push(Point {
                    label: format!("{} / {}", r.experiment.name, v.name),
                    value: c.conversion.estimate,
                    low: Some(c.conversion.low),
                    high: Some(c.conversion.high),
                });
            }
        }
    }
    Chart {
        id: "experiments",
        title: "Experiments: conversion against control".into(),
        unit: "share",
        kind: Kind::Interval,
        points,
        note: "Difference of conversion rates with its 95% interval, for experiments with enough units and no sample \
               ratio mismatch (interim until the planned units are reached: see the Experiments page)."
            .into(),
    }
}

/// The dashboard over `range`: `rows` are the conversations started in it, `events` the store's events (touches
/// before the range count for purchases in it).
pub fn build(
    range: Range,
    rows: &[Row],
    sessions: &[Session],
    events: &[crate::store::Event],
    experiments: &[crate::experiments::results::Results],
    price_of: &dyn Fn(&str) -> Option<f64>,
    window_days: u32,
) -> Dashboard {
    let a = attribute(events, &range.from, &range.to, window_days, price_of);
    let mut charts = conversation_charts(&range, rows);
    charts.extend(attribution_charts(&range, &a));
    charts.push(Chart {
        id: "no_result_words",
        title: "Searched words with no result".into(),
        unit: "count",
        kind: Kind::Bar,
        points: no_result_words(sessions, &range, 3, 12).into_iter().map(|(w, n)| Point::new(w, n as f64)).collect(),
        note: "Words of chat requests that found no product, by how many shoppers used them (three or more).".into(),
    });
    charts.push(experiment_chart(experiments));
    Dashboard { range, charts, attribution: a }
}

#[cfg(test)]
mod tests;
