//! Support analytics: each conversation as one row (what was said, shown, rated, flagged, and what the shopper did
//! next), the console's filters, the summary tiles and the export. The support console's pages and the API render
//! what this module computes.
use crate::session::{Session, Sessions};
use crate::store::{Event, EventKind, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("transcript search: {0}")]
    Index(String),
    #[error("the transcript index is not open")]
    NoIndex,
    #[error("writing the export: {0}")]
    Export(String),
}

/// A yes/no filter; empty (or `any`) keeps every conversation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum YesNo {
    #[default]
    #[serde(rename = "", alias = "any")]
    Any,
    #[serde(rename = "yes")]
    Yes,
    #[serde(rename = "no")]
    No,
}

impl YesNo {
    fn keeps(self, actual: bool) -> bool {
        match self {
            YesNo::Any => true,
            YesNo::Yes => actual,
            YesNo::No => !actual,
        }
    }
}

/// The CSAT filter: `rated`, `unrated`, `low` (1-2), `high` (4-5) or one score 1-5; empty (or `any`) keeps all.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Csat {
    #[default]
    Any,
    Rated,
    Unrated,
    Low,
    High,
    Score(u8),
}

impl TryFrom<String> for Csat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "" | "any" => Csat::Any,
            "rated" => Csat::Rated,
            "unrated" => Csat::Unrated,
            "low" => Csat::Low,
            "high" => Csat::High,
            n => match n.parse::<u8>() {
                Ok(c @ 1..=5) => Csat::Score(c),
                _ => return Err(format!("csat {n:?}: use rated, unrated, low, high or a score 1-5")),
            },
        })
    }
}

impl From<Csat> for String {
    fn from(c: Csat) -> String {
        match c {
            Csat::Any => String::new(),
            Csat::Rated => "rated".into(),
            Csat::Unrated => "unrated".into(),
            Csat::Low => "low".into(),
            Csat::High => "high".into(),
            Csat::Score(n) => n.to_string(),
        }
    }
}

impl Csat {
    fn keeps(self, score: Option<u8>) -> bool {
        match (self, score) {
            (Csat::Any, _) => true,
            (Csat::Rated, c) => c.is_some(),
            (Csat::Unrated, c) => c.is_none(),
            (Csat::Low, Some(c)) => c <= 2,
            (Csat::High, Some(c)) => c >= 4,
            (Csat::Score(n), Some(c)) => n == c,
            _ => false,
        }
    }
}

/// The console's filters (query parameters; empty means any).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Filter {
    /// Words that must all appear in the transcript (stemmed).
    pub q: String,
    /// First and last day, `YYYY-MM-DD`, of the conversation's start (UTC).
    pub from: String,
    pub to: String,
    pub intent: String,
    pub handoff: YesNo,
    /// `yes`: flagged by staff or a reply the checker rejected.
    pub flagged: YesNo,
    /// `yes`: a reply came from the template because the model was busy (not flagged: load, not a bad answer).
    pub busy: YesNo,
    pub csat: Csat,
    /// The shopper bought something after the conversation started.
    pub purchased: YesNo,
}

impl Filter {
    fn keeps(&self, r: &Row) -> bool {
        let day = &r.started[..10.min(r.started.len())];
        (self.from.is_empty() || day >= self.from.as_str())
            && (self.to.is_empty() || day <= self.to.as_str())
            && (self.intent.is_empty() || r.intents.contains(&self.intent))
            && self.handoff.keeps(r.handoff)
            && self.flagged.keeps(r.flagged || r.check_failed)
            && self.busy.keeps(r.busy)
            && self.purchased.keeps(r.purchases > 0)
            && self.csat.keeps(r.csat)
    }
}

/// The furthest a shopper got after the conversation started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Purchased,
    Carted,
    Clicked,
    None,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Purchased => "purchased",
            Outcome::Carted => "carted",
            Outcome::Clicked => "clicked",
            Outcome::None => "none",
        }
    }
}

/// One conversation as the list and the export show it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub customer: Option<String>,
    pub started: String,
    pub ended: String,
    pub duration_s: u64,
    pub turns: usize,
    pub first_message: String,
    pub intents: Vec<String>,
    pub products_shown: Vec<String>,
    pub handoff: bool,
    pub waiting: bool,
    pub live: Option<String>,
    pub csat: Option<u8>,
    pub flagged: bool,
    pub check_failed: bool,
    pub busy: bool,
    pub clicks: usize,
    pub carts: usize,
    pub purchases: usize,
    pub outcome: Outcome,
    /// The highest negative probability of the shopper's last three scored messages (`Session::frustration`).
    pub frustration: Option<f32>,
    /// `frustration` at or above [`FRUSTRATED`]: the queue shows these first.
    pub frustrated: bool,
}

/// How surely negative a shopper's recent message must read for the chat to count as frustrated.
pub const FRUSTRATED: f32 = 0.5;

/// What the shopper did after the conversation started.
#[derive(Debug, Default, Clone, Serialize)]
pub struct After {
    pub clicks: usize,
    pub carts: usize,
    pub purchases: usize,
    pub events: Vec<Event>,
}

pub fn after(store: &Store, s: &Session) -> Result<After, StoreError> {
    let since = crate::prompts::datetime_iso(s.created);
    let events: Vec<_> = store
        .user_events(&s.event_user())?
        .into_iter()
        .filter(|e| e.timestamp >= since && e.kind != EventKind::RecommendationShown)
        .collect();
    let count = |k: &[EventKind]| events.iter().filter(|e| k.contains(&e.kind)).count();
    Ok(After {
        clicks: count(&[EventKind::Click, EventKind::RecommendationClicked]),
        carts: count(&[EventKind::AddToCart]),
        purchases: count(&[EventKind::Purchase]),
        events,
    })
}

pub fn row(store: &Store, s: &Session) -> Result<Row, StoreError> {
    let a = after(store, s)?;
    let mut shown: Vec<String> = vec![];
    for c in s.turns.iter().flat_map(|t| &t.cards) {
        if !shown.contains(&c.id) {
            shown.push(c.id.clone());
        }
    }
    let outcome = if a.purchases > 0 {
        Outcome::Purchased
    } else if a.carts > 0 {
        Outcome::Carted
    } else if a.clicks > 0 {
        Outcome::Clicked
    } else {
        Outcome::None
    };
    Ok(Row {
        id: s.id.as_str().to_string(),
        customer: s.customer.clone(),
        started: crate::prompts::datetime_iso(s.created),
        ended: crate::prompts::datetime_iso(s.updated),
        duration_s: s.updated.saturating_sub(s.created),
        turns: s.turns.len(),
        first_message: s
            .turns
            .iter()
            .find(|t| t.role == crate::session::Role::Shopper)
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        intents: s.intents(),
        products_shown: shown,
        handoff: s.handoff,
        waiting: s.waiting_for_staff(),
        live: s.live.clone(),
        csat: s.csat,
        flagged: s.flagged(),
        check_failed: s.check_failed(),
        busy: s.busy(),
        clicks: a.clicks,
        carts: a.carts,
        purchases: a.purchases,
        outcome,
        frustration: s.frustration(),
        frustrated: s.frustration().is_some_and(|f| f >= FRUSTRATED),
    })
}

/// Conversations of `all` matching the filter, in `all`'s order (most recently active first).
pub fn rows(store: &Store, sessions: &Sessions, all: &[Session], f: &Filter) -> Result<Vec<Row>, SupportError> {
    let hits: Option<std::collections::HashSet<String>> = match (f.q.trim(), sessions.index()) {
        ("", _) => None,
        (q, Some(index)) => {
            Some(index.search(q, 10_000).map_err(|e| SupportError::Index(e.to_string()))?.into_iter().collect())
        }
        (_, None) => return Err(SupportError::NoIndex),
    };
    let mut out = vec![];
    for s in all.iter().filter(|s| hits.as_ref().is_none_or(|h| h.contains(s.id.as_str()))) {
        let r = row(store, s)?;
        if f.keeps(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every session matching the filter, read from the store.
pub fn list(store: &Store, sessions: &Sessions, f: &Filter) -> Result<Vec<Row>, SupportError> {
    rows(store, sessions, &sessions.list()?, f)
}

/// Conversations waiting for a person or taken over now: frustrated shoppers first (most frustrated first), then
/// the others in `all`'s order.
pub fn queue(store: &Store, all: &[Session]) -> Result<Vec<Row>, StoreError> {
    let mut rows: Vec<Row> = all
        .iter()
        .filter(|s| s.waiting_for_staff() || s.live.is_some())
        .map(|s| row(store, s))
        .collect::<Result<_, _>>()?;
    let key = |r: &Row| if r.frustrated { r.frustration.unwrap_or(0.0) } else { -1.0 };
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    Ok(rows)
}

/// Every intent seen in these conversations, sorted.
pub fn intents(all: &[Session]) -> Vec<String> {
    let mut intents: Vec<String> = all.iter().flat_map(|s| s.intents()).collect();
    intents.sort();
    intents.dedup();
    intents
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub conversations: usize,
    pub rated: usize,
    pub csat_mean: Option<f64>,
    /// Share of rated conversations scored 4 or 5.
    pub satisfied: Option<f64>,
    pub handoffs: usize,
    pub flagged: usize,
    pub purchased: usize,
}

pub fn summary(rows: &[Row]) -> Summary {
    let scores: Vec<f64> = rows.iter().filter_map(|r| r.csat.map(f64::from)).collect();
    let n = scores.len();
    Summary {
        conversations: rows.len(),
        rated: n,
        csat_mean: (n > 0).then(|| scores.iter().sum::<f64>() / n as f64),
        satisfied: (n > 0).then(|| scores.iter().filter(|&&s| s >= 4.0).count() as f64 / n as f64),
        handoffs: rows.iter().filter(|r| r.handoff).count(),
        flagged: rows.iter().filter(|r| r.flagged || r.check_failed).count(),
        purchased: rows.iter().filter(|r| r.purchases > 0).count(),
    }
}

const CSV_HEAD: [&str; 19] = [
    "id",
    "customer",
    "started",
    "ended",
    "duration_s",
    "turns",
    "intents",
    "products_shown",
    "handoff",
    "live",
    "csat",
    "flagged",
    "check_failed",
    "busy",
    "clicks",
    "carts",
    "purchases",
    "outcome",
    "frustration",
];

/// The export as CSV, one row per conversation (lists joined with `;`).
pub fn csv(rows: &[Row]) -> Result<Vec<u8>, SupportError> {
    let export = |e: &dyn std::fmt::Display| SupportError::Export(e.to_string());
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(CSV_HEAD).map_err(|e| export(&e))?;
    for r in rows {
        w.write_record([
            r.id.clone(),
            r.customer.clone().unwrap_or_default(),
            r.started.clone(),
            r.ended.clone(),
            r.duration_s.to_string(),
            r.turns.to_string(),
            r.intents.join(";"),
            r.products_shown.join(";"),
            r.handoff.to_string(),
            r.live.clone().unwrap_or_default(),
            r.csat.map(|c| c.to_string()).unwrap_or_default(),
            r.flagged.to_string(),
            r.check_failed.to_string(),
            r.busy.to_string(),
            r.clicks.to_string(),
            r.carts.to_string(),
            r.purchases.to_string(),
            r.outcome.as_str().to_string(),
            r.frustration.map(|f| format!("{f:.3}")).unwrap_or_default(),
        ])
        .map_err(|e| export(&e))?;
    }
    w.into_inner().map_err(|e| export(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_the_consoles_query_words_and_refuse_others() {
        let f: Filter = serde_json::from_value(serde_json::json!({"handoff": "yes", "csat": "4"})).unwrap();
        assert_eq!((f.handoff, f.csat, f.busy), (YesNo::Yes, Csat::Score(4), YesNo::Any));
        assert!(Csat::High.keeps(Some(5)) && !Csat::High.keeps(Some(3)) && !Csat::Low.keeps(None));
        assert!(serde_json::from_value::<Filter>(serde_json::json!({"csat": "9"})).is_err());
        assert!(serde_json::from_value::<Filter>(serde_json::json!({"handoff": "maybe"})).is_err());
        // written back as the form's option values
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(
            (back["handoff"].as_str(), back["csat"].as_str(), back["busy"].as_str()),
            (Some("yes"), Some("4"), Some(""))
        );
    }
}
