//! Behaviour events from outside (`POST /api/events`): read, bounded and checked against what the caller may
//! write before anything is stored. A storefront (publishable key) writes its own visitor's view, click,
//! add-to-cart, search and card-click events, attributed at most to one of its recommendation placements
//! (`source: "reco:NAME"`); the shop's backend (secret key) or an admin
//! writes any user's events, purchases and `source` included.
use crate::store::{Event, EventKind};
use serde::Deserialize;

/// Events may be stamped at most this far ahead of the server's clock (clients' clocks drift).
pub const MAX_SKEW_SECS: u64 = 300;
/// Nothing before 2000-01-01 is behaviour this shop can use.
pub const EARLIEST: u64 = 946_684_800;
pub const MAX_QUANTITY: i64 = 10_000;
pub const MAX_PRICE: f64 = 1_000_000.0;
pub const MAX_BATCH: usize = 500;

/// One event as a client sends it. Unknown fields are refused, so a misspelt field is not silently dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The client's id for this event: sending it twice counts once.
    pub event_id: String,
    /// A customer id, or an anonymous id (`session:…`, `visitor:…`).
    pub user: String,
    /// Required except for `search` events.
    #[serde(default)]
    pub product: String,
    pub kind: String,
    /// The words of a `search` event.
    pub query: Option<String>,
    /// ISO-8601 (`2026-11-28T12:00:00`, optionally with fractions and `Z` or an offset); the server's time when
    /// absent.
    pub timestamp: Option<String>,
    pub quantity: Option<i64>,
    /// Unit price paid (purchases).
    pub price: Option<f64>,
    /// What led here (e.g. a saved copy variant's id from a campaign link), for attribution.
    pub source: Option<String>,
    /// The order a purchase belongs to.
    pub order: Option<String>,
}

/// Why an event was not taken: not valid at all, or not this caller's to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Scope(String),
}

impl Refused {
    fn invalid(m: impl Into<String>) -> Self {
        Self::Invalid(m.into())
    }
    fn scope(m: impl Into<String>) -> Self {
        Self::Scope(m.into())
    }
}

/// Who is writing, and so what they may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// Secret key or admin: any user, any kind, attribution.
    Backend,
    /// Publishable key: only anonymous ids and the customer the shop signed for this visitor.
    Storefront { customer: Option<crate::identity::CustomerId> },
}

/// Unix seconds of an ISO-8601 date-time (UTC unless an offset is given); None when it is not one.
pub fn parse_iso(s: &str) -> Option<u64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let (oh, om) = (num(s.len() - 5..s.len() - 3)?, num(s.len() - 2..s.len())?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // days-from-civil (H. Hinnant)
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    u64::try_from(secs).ok()
}

/// Checks one event for `writer` at time `now`; `known` says whether a product id is in the catalog. Returns the
/// event id and the event to store, or what is wrong with it.
pub fn check(e: EventIn, writer: &Writer, now: u64, known: impl Fn(&str) -> bool) -> Result<(String, Event), Refused> {
    let bounded = |s: &str| !s.is_empty() && s.len() <= 128;
    if !bounded(&e.event_id) || !bounded(&e.user) {
        return Err(Refused::invalid("event_id and user are required (at most 128 characters)"));
    }
    if e.kind.trim().is_empty() {
        return Err(Refused::invalid("kind is required"));
    }
    let kind = crate::import::generic::parse_kind(Some(&e.kind)).map_err(Refused::Invalid)?;
    let search = kind == EventKind::Search;
    if !search && !bounded(&e.product) {
        return Err(Refused::invalid("product is required (at most 128 characters)"));
    }
    if !e.product.is_empty() && !known(&e.product) {
        return Err(Refused::invalid(format!("no product with id {:?}", e.product)));
    }
    let query = match (search, e.query.as_deref().map(str::trim)) {
        (true, Some(q)) if !q.is_empty() && q.len() <= 500 => Some(crate::privacy::redact(q)),
        (true, _) => return Err(Refused::invalid("a search event needs its query (at most 500 characters)")),
        (false, Some(_)) => return Err(Refused::invalid("query belongs to search events only")),
        (false, None) => None,
    };
    let quantity = e.quantity.unwrap_or(1);
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(Refused::invalid(format!("quantity must be 1 to {MAX_QUANTITY}")));
    }
    if let Some(p) = e.price {
        if !p.is_finite() || !(0.0..=MAX_PRICE).contains(&p) {
            return Err(Refused::invalid(format!("price must be 0 to {MAX_PRICE}")));
        }
    }
    let timestamp = match e.timestamp.as_deref() {
        None => crate::prompts::datetime_iso(now),
        Some(t) => {
            let at = parse_iso(t)
                .ok_or_else(|| Refused::invalid(format!("timestamp {t:?} is not ISO-8601 (2026-11-28T12:00:00Z)")))?;
            if at > now + MAX_SKEW_SECS {
                return Err(Refused::invalid(format!("timestamp {t:?} is in the future")));
            }
            if at < EARLIEST {
                return Err(Refused::invalid(format!("timestamp {t:?} is before 2000")));
            }
            // stored in one form (UTC), so a user's events sort by time
            crate::prompts::datetime_iso(at)
        }
    };
    let source = e.source.filter(|s| !s.is_empty());
    if source.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(Refused::invalid("source is at most 64 characters"));
    }
    let order = e.order.filter(|o| !o.is_empty());
    if order.as_ref().is_some_and(|o| o.len() > 64) {
        return Err(Refused::invalid("order is at most 64 characters"));
    }
    if let Writer::Storefront { customer } = writer {
        let storefront_kinds = [
            EventKind::View,
            EventKind::Click,
            EventKind::AddToCart,
            EventKind::Search,
            EventKind::RecommendationClicked,
        ];
        if !storefront_kinds.contains(&kind) {
            return Err(Refused::scope(format!(
                "a publishable key cannot write {} events (use the secret key)",
                e.kind.trim()
            )));
        }
        // a storefront may say which of its recommendation placements a click came from (`reco:NAME`); any
        // other attribution, orders and prices are the backend's
        let placement = source.as_deref().is_some_and(|s| s.strip_prefix("reco:").is_some_and(|p| !p.is_empty()));
        if (source.is_some() && !placement) || order.is_some() || e.price.is_some() {
            return Err(Refused::scope("source (other than reco:PLACEMENT), order and price need the secret key"));
        }
        let own = customer.as_ref().is_some_and(|c| c.as_str() == e.user) || crate::identity::is_anonymous(&e.user);
        if !own {
            return Err(Refused::scope(format!(
                "a publishable key writes only its own visitor's events: user {:?} is neither an anonymous id \
                 (session:… or visitor:…) nor the customer signed in X-Aisle-Identity",
                e.user
            )));
        }
    }
    let event =
        Event { user: e.user, product: e.product, kind, timestamp, order, quantity, price: e.price, query, source };
    Ok((e.event_id, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_000_000; // 2026-11-30

    fn ev(v: serde_json::Value) -> EventIn {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"event_id": "e1", "user": "visitor:abcdefghijklmnop", "product": "85123A", "kind": "click"})
    }

    fn with(k: &str, v: serde_json::Value) -> EventIn {
        let mut b = base();
        b[k] = v;
        ev(b)
    }

    #[test]
    fn iso_times_parse_in_their_usual_forms_and_nonsense_does_not() {
        assert_eq!(parse_iso("1970-01-01T00:00:00"), Some(0));
        assert_eq!(crate::prompts::datetime_iso(parse_iso("2026-11-28T12:00:00").unwrap()), "2026-11-28T12:00:00");
        assert_eq!(parse_iso("2026-11-28T12:00:00Z"), parse_iso("2026-11-28 12:00:00"));
        assert_eq!(parse_iso("2026-11-28T13:30:00+01:30"), parse_iso("2026-11-28T12:00:00"));
        assert_eq!(parse_iso("2026-11-28T12:00:00.123Z"), parse_iso("2026-11-28T12:00:00"));
        assert_eq!(parse_iso("2024-02-29T00:00:00"), Some(1_709_164_800));
        for bad in [
            "2025-02-29T00:00:00",
            "2026-13-01T00:00:00",
            "2026-11-28",
            "yesterday",
            "2026-11-28T25:00:00",
            "99999-11-28T12:00:00",
            "2026-11-28T12:00:00+5",
            "+2026-11-28T12:00:00",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_refuse_future_ancient_and_absurd_values() {
        let w = Writer::Backend;
        let ok = |e| check(e, &w, NOW, |_| true);
        assert!(ok(ev(base())).is_ok());
        let msg = |e| ok(e).unwrap_err().to_string();
        assert!(msg(with("timestamp", "2099-01-01T00:00:00".into())).contains("future"));
        assert!(msg(with("timestamp", "1990-01-01T00:00:00".into())).contains("before 2000"));
        assert!(msg(with("timestamp", "99999999999999999999".into())).contains("ISO-8601"));
        assert!(ok(with("timestamp", crate::prompts::datetime_iso(NOW + 60).into())).is_ok(), "small skew is fine");
        assert!(msg(with("quantity", i64::MIN.into())).contains("quantity"));
        assert!(msg(with("quantity", 0.into())).contains("quantity"));
        assert!(msg(with("price", (-1.0).into())).contains("price"));
        assert!(msg(with("user", "u".repeat(129).into())).contains("128"));
        assert!(msg(with("source", "s".repeat(65).into())).contains("64"));
        assert!(msg(with("kind", "".into())).contains("kind"));
        assert!(msg(with("kind", "refund".into())).contains("unknown"));
        assert!(check(ev(base()), &w, NOW, |_| false).unwrap_err().to_string().contains("no product"));
        assert!(
            serde_json::from_value::<EventIn>(serde_json::json!({"event_id": "e", "user": "u", "kind": "view",
            "product": "p", "surprise": 1}))
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_storefront_writes_only_its_own_visitor_and_never_purchases_or_attribution() {
        let anon = Writer::Storefront { customer: None };
        let signed = Writer::Storefront { customer: Some(crate::identity::CustomerId::parse("17850").unwrap()) };
        let run = |e, w: &Writer| check(e, w, NOW, |_| true);
        assert!(run(ev(base()), &anon).is_ok());
        assert!(run(with("user", "session:0123456789abcdef".into()), &anon).is_ok());
        assert!(run(with("user", "17850".into()), &anon).unwrap_err().to_string().contains("own visitor"));
        assert!(run(with("user", "17850".into()), &signed).is_ok());
        assert!(run(with("user", "12346".into()), &signed).unwrap_err().to_string().contains("own visitor"));
        assert!(run(with("user", "visitor:short".into()), &anon).is_err(), "guessable anonymous ids are refused");
        assert!(run(with("kind", "purchase".into()), &signed).unwrap_err().to_string().contains("secret key"));
        assert!(run(with("kind", "chat_recommendation_shown".into()), &anon).is_err());
        assert!(run(with("source", "cv-1".into()), &anon).unwrap_err().to_string().contains("secret key"));
        assert!(run(with("source", "reco:home".into()), &anon).is_ok(), "a click on its own placement");
        assert!(run(with("source", "reco:".into()), &anon).is_err());
        // the backend may do all of it
        assert!(run(with("kind", "purchase".into()), &Writer::Backend).is_ok());
        assert!(run(with("source", "cv-1".into()), &Writer::Backend).is_ok());
    }
}
