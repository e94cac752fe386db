//! What Aisle's recommendations led to: each shopper's events in time order, the touches (a chat card shown or
//! clicked, an event carrying a `source`: a `/api/recommend` placement `reco:NAME`, a saved copy variant `cv-…`)
//! remembered per product, and every add to cart and purchase of a touched product within the window after the
//! touch credited to the last touch ("last-touch"), and counted as "assisted" for every other channel that touched
//! it in the window. Purchases are valued at their price (else the catalog's) times quantity.
use crate::store::{Event, EventKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Where a touch came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Channel {
    /// `chat cards`, `recommend placement`, `copy variant` or `other source`.
    pub kind: &'static str,
    /// The placement's name, the copy variant's id, the source; empty for chat cards.
    pub name: String,
}

/// A channel's funnel and what it earned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Funnel {
    pub shown: u64,
    pub clicked: u64,
    pub carted: u64,
    /// Purchases whose last touch was this channel, and their value.
    pub purchases: u64,
    pub revenue: f64,
    /// Purchases this channel touched without being the last touch, and their value.
    pub assisted: u64,
    pub assisted_revenue: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attribution {
    pub window_days: u32,
    pub channels: Vec<(Channel, Funnel)>,
    /// Last-touch revenue per day (`YYYY-MM-DD`) over every channel.
    pub revenue_by_day: BTreeMap<String, f64>,
    /// Chat cards shown and clicked, and purchases last touched by a chat card, per day.
    pub chat_by_day: BTreeMap<String, [u64; 3]>,
    /// Last-touch revenue per chat session (from the shown cards' `chat:SESSION` source), best first.
    pub chats: Vec<(String, f64)>,
}

/// The channel of an event that is a touch, and the chat session a shown card came from.
fn touch_of(e: &Event) -> Option<(Channel, Option<String>)> {
    let chat = || Channel { kind: "chat cards", name: String::new() };
    match (e.kind, e.source.as_deref()) {
        (EventKind::RecommendationShown, s) => {
            Some((chat(), s.and_then(|s| s.strip_prefix("chat:")).map(String::from)))
        }
        (EventKind::RecommendationClicked, _) => Some((chat(), None)),
        (EventKind::Search, _) => None,
        (_, Some(s)) => {
            let (kind, name) = match s.strip_prefix("reco:") {
                Some(p) => ("recommend placement", p),
                None if s.starts_with("cv-") => ("copy variant", s),
                None => ("other source", s),
            };
            Some((Channel { kind, name: name.to_string() }, None))
        }
        _ => None,
    }
}

struct Touch {
    channel: Channel,
    chat: Option<String>,
    at: u64,
}

/// Attributes the carts and purchases dated `from..=to` (`YYYY-MM-DD`, empty: open) in `events` (any order).
pub fn attribute(
    events: &[Event],
    from: &str,
    to: &str,
    window_days: u32,
    price_of: &dyn Fn(&str) -> Option<f64>,
) -> Attribution {
    let mut by_user: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in events {
        by_user.entry(e.user.as_str()).or_default().push(e);
    }
    let window = u64::from(window_days) * 86_400;
    let in_range = |day: &str| (from.is_empty() || day >= from) && (to.is_empty() || day <= to);
    let mut funnels: BTreeMap<Channel, Funnel> = BTreeMap::new();
    let mut out = Attribution { window_days, ..Default::default() };
    let mut chats: HashMap<String, f64> = HashMap::new();
    for list in by_user.values_mut() {
        // times are to the second: a touch and a purchase in the same second are read touch first
        let converts = |e: &Event| matches!(e.kind, EventKind::AddToCart | EventKind::Purchase);
        list.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then(converts(a).cmp(&converts(b))));
        let mut touched: HashMap<&str, Vec<Touch>> = HashMap::new();
        for e in list.iter() {
            let Some(at) = crate::events::parse_iso(&e.timestamp) else { continue };
            let day = &e.timestamp[..10.min(e.timestamp.len())];
            let counted = in_range(day);
            if let Some((channel, chat)) = touch_of(e) {
                if counted {
                    let f = funnels.entry(channel.clone()).or_default();
                    let by_day = out.chat_by_day.entry(day.to_string()).or_default();
                    match e.kind {
                        EventKind::RecommendationShown => {
                            f.shown += 1;
                            by_day[0] += 1;
                        }
                        EventKind::RecommendationClicked => {
                            f.clicked += 1;
                            by_day[1] += 1;
                        }
                        EventKind::Click | EventKind::View => f.clicked += 1,
                        _ => {}
                    }
                }
                // a card click keeps the chat session of the card shown before it
                let chat = chat.or_else(|| {
                    touched.get(e.product.as_str()).and_then(|t| t.iter().rev().find_map(|t| t.chat.clone()))
                });
                touched.entry(e.product.as_str()).or_default().push(Touch { channel, chat, at });
            }
            if !matches!(e.kind, EventKind::AddToCart | EventKind::Purchase) || !counted {
                continue;
            }
            let Some(ts) = touched.get(e.product.as_str()) else { continue };
            let live: Vec<&Touch> = ts.iter().filter(|t| t.at <= at && at - t.at <= window).collect();
            let Some(last) = live.iter().max_by_key(|t| t.at) else { continue };
            if e.kind == EventKind::AddToCart {
                funnels.entry(last.channel.clone()).or_default().carted += 1;
                continue;
            }
            let value = e.quantity as f64 * e.price.or_else(|| price_of(&e.product)).unwrap_or(0.0);
            let f = funnels.entry(last.channel.clone()).or_default();
            f.purchases += 1;
            f.revenue += value;
            *out.revenue_by_day.entry(day.to_string()).or_default() += value;
            if last.channel.kind == "chat cards" {
                out.chat_by_day.entry(day.to_string()).or_default()[2] += 1;
                if let Some(c) = live.iter().rev().find_map(|t| t.chat.clone()) {
                    *chats.entry(c).or_default() += value;
                }
            }
            let mut others: Vec<&Channel> = live.iter().map(|t| &t.channel).filter(|c| **c != last.channel).collect();
            others.sort();
            others.dedup();
            for c in others {
                let f = funnels.entry(c.clone()).or_default();
                f.assisted += 1;
                f.assisted_revenue += value;
            }
        }
    }
    out.channels = funnels.into_iter().collect();
    out.chats = chats.into_iter().collect();
    out.chats.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: &str, product: &str, kind: EventKind, at: &str, source: Option<&str>) -> Event {
        Event { source: source.map(String::from), ..Event::new(user, product, kind, at) }
    }

    #[test]
    fn the_last_touch_gets_the_purchase_and_the_others_an_assist() {
        let mut buy = ev("u", "A", EventKind::Purchase, "2026-11-05T10:00:00", None);
        buy.price = Some(3.0);
        buy.quantity = 2;
        let events = vec![
            ev("u", "A", EventKind::RecommendationShown, "2026-11-01T10:00:00", Some("chat:s1")),
            ev("u", "A", EventKind::RecommendationClicked, "2026-11-01T10:01:00", None),
            ev("u", "A", EventKind::Click, "2026-11-03T10:00:00", Some("reco:home")),
            ev("u", "A", EventKind::AddToCart, "2026-11-03T10:05:00", None),
            buy,
            // outside the window: a purchase a month later is nobody's
            ev("u", "A", EventKind::Purchase, "2026-12-20T10:00:00", None),
            // a product never touched
            ev("u", "B", EventKind::Purchase, "2026-11-05T10:00:00", None),
        ];
        let a = attribute(&events, "", "", 14, &|_| Some(1.0));
        let get = |kind: &str| a.channels.iter().find(|(c, _)| c.kind == kind).map(|x| x.1.clone()).unwrap();
        let chat = get("chat cards");
        assert_eq!((chat.shown, chat.clicked, chat.purchases, chat.assisted), (1, 1, 0, 1));
        assert_eq!(chat.assisted_revenue, 6.0);
        let reco = get("recommend placement");
        assert_eq!((reco.clicked, reco.carted, reco.purchases, reco.revenue), (1, 1, 1, 6.0));
        assert_eq!(a.revenue_by_day.get("2026-11-05"), Some(&6.0));
        assert_eq!(a.revenue_by_day.values().sum::<f64>(), 6.0, "only the touched purchase in its window counts");
    }

    #[test]
    fn a_purchase_in_the_same_second_as_the_card_is_still_the_cards() {
        let at = "2026-11-01T10:00:00";
        // in the store's key order the purchase may come first (keys sort by time, then by source key)
        let events = vec![
            ev("w", "A", EventKind::Purchase, at, None),
            ev("w", "A", EventKind::RecommendationShown, at, Some("chat:s2")),
        ];
        let a = attribute(&events, "", "", 7, &|_| Some(3.0));
        assert_eq!(a.chats, vec![("s2".to_string(), 3.0)]);
    }

    #[test]
    fn a_chat_card_purchase_is_credited_to_its_chat_and_the_range_limits_what_counts() {
        let events = vec![
            ev("v", "A", EventKind::RecommendationShown, "2026-11-01T10:00:00", Some("chat:s9")),
            ev("v", "A", EventKind::RecommendationClicked, "2026-11-01T10:02:00", None),
            ev("v", "A", EventKind::Purchase, "2026-11-02T10:00:00", None),
        ];
        let a = attribute(&events, "2026-11-01", "2026-11-30", 7, &|_| Some(4.5));
        assert_eq!(a.chats, vec![("s9".to_string(), 4.5)]);
        assert_eq!(a.chat_by_day.get("2026-11-01"), Some(&[1, 1, 0]));
        assert_eq!(a.chat_by_day.get("2026-11-02"), Some(&[0, 0, 1]));
        let later = attribute(&events, "2026-11-02", "", 7, &|_| Some(4.5));
        let chat = &later.channels[0].1;
        assert_eq!((chat.shown, chat.purchases), (0, 1), "the touch before the range still earns the purchase in it");
    }
}
