//! Shoppers whose behaviour a person should look at: each rule a plain threshold on one measured feature, so every
//! flag says what was counted and against what. Flags are for review; Aisle never blocks anyone on them.
use super::seconds;
use crate::store::{Event, EventKind, Order, OrderStatus};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Browsing events (views, clicks, carts, searches) within one minute that no person makes by hand.
pub const BOT_PER_MINUTE: f64 = 30.0;
/// Browsing events and orders within one hour: a flood on the event API (a large order's many lines are one order).
pub const FLOOD_PER_HOUR: f64 = 500.0;
/// Small orders within one hour: a stolen card tried over and over.
pub const CARD_TEST_ORDERS: f64 = 4.0;
/// An order this cheap or cheaper counts as small for card testing (or the shop's tenth percentile, if higher).
pub const SMALL_ORDER: f64 = 5.0;
/// Bought lines whose product the shopper never viewed, of all their bought lines (with at least 3 bought).
pub const BLIND_SHARE: f64 = 0.9;
/// Cancelled or returned orders (at least), and their share of the shopper's orders.
pub const CANCELLED_ORDERS: f64 = 3.0;
pub const CANCELLED_SHARE: f64 = 0.3;

/// What is measured of one shopper: the features the rules read (and the benchmark's IsolationForest too).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Features {
    pub events: f64,
    /// Most browsing events within any 60 seconds.
    pub per_minute: f64,
    /// Most browsing events and orders (an order's lines count once) within any hour.
    pub per_hour: f64,
    pub orders: f64,
    /// Most small orders within any hour.
    pub small_orders_hour: f64,
    pub bought_lines: f64,
    /// Bought lines whose product they never viewed, clicked or carted before.
    pub blind_share: f64,
    pub cancelled: f64,
    pub cancelled_share: f64,
}

/// One flag on a shopper.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flag {
    /// `bot_rate`, `flood`, `card_testing`, `no_views`, `cancellations`.
    pub kind: &'static str,
    pub evidence: String,
}

/// A shopper with at least one flag.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub user: String,
    pub flags: Vec<Flag>,
    pub features: Features,
}

/// The most items of `times` (seconds, sorted) within any window of `width` seconds.
fn densest(times: &[i64], width: i64) -> usize {
    let (mut best, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end] - times[start] >= width {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Orders' values from purchase events (their lines, by order id; a purchase with no order id is its own order).
fn orders_of(events: &[&Event]) -> Vec<(i64, f64)> {
    let mut by: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.kind == EventKind::Purchase) {
        let Some(t) = seconds(&e.timestamp) else { continue };
        let key = e.order.clone().unwrap_or_else(|| format!("#{i}"));
        let o = by.entry(key).or_insert((t, 0.0));
        o.1 += e.price.unwrap_or(0.0) * e.quantity.max(1) as f64;
    }
    by.into_values().collect()
}

/// Every shopper's features from their events (any order) and the orders the shop reported (cancellations and
/// returns are read from their statuses). `small` is the order value at or under which an order is small.
pub fn features(events: &[Event], orders: &[Order], small: f64) -> HashMap<String, Features> {
    let mut by_user: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in events {
        by_user.entry(&e.user).or_default().push(e);
    }
    let mut cancelled: HashMap<&str, (f64, f64)> = HashMap::new();
    for o in orders {
        let c = cancelled.entry(&o.customer).or_default();
        c.1 += 1.0;
        let undone = |s: &OrderStatus| {
            matches!(
                s,
                OrderStatus::Cancelled
                    | OrderStatus::ReturnStarted
                    | OrderStatus::ReturnReceived
                    | OrderStatus::Refunded
            )
        };
        if o.status.iter().any(|s| undone(&s.status)) {
            c.0 += 1.0;
        }
    }
    let mut out = HashMap::new();
    for (user, mut evs) in by_user {
        evs.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
        let browsing: Vec<i64> = evs
            .iter()
            .filter(|e| matches!(e.kind, EventKind::View | EventKind::Click | EventKind::AddToCart | EventKind::Search))
            .filter_map(|e| seconds(&e.timestamp))
            .collect();
        let orders = orders_of(&evs);
        let mut activity: Vec<i64> = browsing.iter().copied().chain(orders.iter().map(|o| o.0)).collect();
        activity.sort_unstable();
        let mut small_times: Vec<i64> = orders.iter().filter(|o| o.1 <= small).map(|o| o.0).collect();
        small_times.sort_unstable();
        let (mut seen, mut bought, mut blind) = (HashSet::new(), 0.0, 0.0);
        for e in &evs {
            match e.kind {
                EventKind::View | EventKind::Click | EventKind::AddToCart | EventKind::RecommendationClicked => {
                    seen.insert(e.product.as_str());
                }
                EventKind::Purchase => {
                    bought += 1.0;
                    if !seen.contains(e.product.as_str()) {
                        blind += 1.0;
                    }
                }
                _ => {}
            }
        }
        let (undone, reported) = cancelled.get(user).copied().unwrap_or_default();
        let order_count = (orders.len() as f64).max(reported);
        out.insert(
            user.to_string(),
            Features {
                events: evs.len() as f64,
                per_minute: densest(&browsing, 60) as f64,
                per_hour: densest(&activity, 3600) as f64,
                orders: orders.len() as f64,
                small_orders_hour: densest(&small_times, 3600) as f64,
                bought_lines: bought,
                blind_share: if bought > 0.0 { blind / bought } else { 0.0 },
                cancelled: undone,
                cancelled_share: if order_count > 0.0 { undone / order_count } else { 0.0 },
            },
        );
    }
    for (user, (undone, reported)) in cancelled {
        out.entry(user.to_string()).or_insert_with(|| Features {
            cancelled: undone,
            cancelled_share: if reported > 0.0 { undone / reported } else { 0.0 },
            ..Default::default()
        });
    }
    out
}

/// The value at or under which an order is small: [`SMALL_ORDER`], or the shop's tenth-percentile order value when
/// that is lower (in a shop of cheap things every order would be small).
pub fn small_order(events: &[Event]) -> f64 {
    let refs: Vec<&Event> = events.iter().collect();
    let mut values: Vec<f64> = orders_of(&refs).into_iter().map(|o| o.1).collect();
    if values.len() < 20 {
        return SMALL_ORDER;
    }
    values.sort_by(f64::total_cmp);
    SMALL_ORDER.min(values[values.len() / 10])
}

/// The rules on one shopper's features. `views_recorded`: the shop sends view events at all (without them every
/// purchase is "without a view", and that rule stays off).
pub fn flags(f: &Features, views_recorded: bool) -> Vec<Flag> {
    let mut out = vec![];
    if f.per_minute >= BOT_PER_MINUTE {
        out.push(Flag {
            kind: "bot_rate",
            evidence: format!("{} browsing events within one minute (a person: under {BOT_PER_MINUTE})", f.per_minute),
        });
    }
    if f.per_hour >= FLOOD_PER_HOUR {
        out.push(Flag {
            kind: "flood",
            evidence: format!("{} events and orders within one hour (flagged from {FLOOD_PER_HOUR})", f.per_hour),
        });
    }
    if f.small_orders_hour >= CARD_TEST_ORDERS {
        out.push(Flag {
            kind: "card_testing",
            evidence: format!("{} small orders within one hour (flagged from {CARD_TEST_ORDERS})", f.small_orders_hour),
        });
    }
    if views_recorded && f.bought_lines >= 3.0 && f.blind_share >= BLIND_SHARE {
        out.push(Flag {
            kind: "no_views",
            evidence: format!(
                "{:.0} of {} bought lines were never viewed first (flagged from {:.0}%)",
                f.blind_share * f.bought_lines,
                f.bought_lines,
                BLIND_SHARE * 100.0
            ),
        });
    }
    if f.cancelled >= CANCELLED_ORDERS && f.cancelled_share >= CANCELLED_SHARE {
        out.push(Flag {
            kind: "cancellations",
            evidence: format!(
                "{} orders cancelled or returned, {:.0}% of their orders (flagged from {CANCELLED_ORDERS} and {:.0}%)",
                f.cancelled,
                f.cancelled_share * 100.0,
                CANCELLED_SHARE * 100.0
            ),
        });
    }
    out
}

/// Whether a shop sends views: at least a fifth of its buyers viewed something.
pub fn views_recorded(all: &HashMap<String, Features>) -> bool {
    let buyers: Vec<&Features> = all.values().filter(|f| f.bought_lines > 0.0).collect();
    let viewed = buyers.iter().filter(|f| f.blind_share < 1.0).count();
    !buyers.is_empty() && viewed * 5 >= buyers.len()
}

/// Every flagged shopper, the most flags first, then by id.
pub fn suspects(events: &[Event], orders: &[Order]) -> Vec<Suspect> {
    let all = features(events, orders, small_order(events));
    let views = views_recorded(&all);
    let mut out: Vec<Suspect> = all
        .into_iter()
        .filter_map(|(user, f)| {
            let flags = flags(&f, views);
            (!flags.is_empty()).then_some(Suspect { user, flags, features: f })
        })
        .collect();
    out.sort_by(|a, b| b.flags.len().cmp(&a.flags.len()).then(a.user.cmp(&b.user)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(user: &str, product: &str, kind: EventKind, secs: i64) -> Event {
        let ts = crate::prompts::datetime_iso(1_300_000_000 + secs as u64);
        Event { price: Some(2.0), order: Some(format!("{user}-{secs}")), ..Event::new(user, product, kind, &ts) }
    }

    #[test]
    fn each_rule_fires_on_its_behaviour_with_its_evidence() {
        let mut events = vec![];
        // a person: views then buys, a few times
        for i in 0..5 {
            events.push(at("person", &format!("p{i}"), EventKind::View, i * 600));
            events
                .push(Event { price: Some(20.0), ..at("person", &format!("p{i}"), EventKind::Purchase, i * 600 + 60) });
        }
        // a bot: 40 views in 30 seconds
        events.extend((0..40).map(|i| at("bot", &format!("p{i}"), EventKind::View, i)));
        // a card tester: five £2 orders in twenty minutes, each after a view
        for i in 0..5 {
            events.push(at("tester", "p1", EventKind::View, i * 240));
            events.push(at("tester", "p1", EventKind::Purchase, i * 240 + 10));
        }
        // a blind buyer: four purchases, nothing viewed
        events.extend(
            (0..4).map(|i| Event { price: Some(30.0), ..at("blind", &format!("q{i}"), EventKind::Purchase, i * 5000) }),
        );
        let cancel = |id: &str, customer: &str, cancelled: bool| Order {
            id: id.into(),
            customer: customer.into(),
            timestamp: "2011-01-01".into(),
            lines: vec![],
            status: if cancelled {
                vec![crate::store::StatusChange {
                    status: OrderStatus::Cancelled,
                    at: "2011-01-02".into(),
                    carrier: None,
                    tracking_number: None,
                    tracking_url: None,
                }]
            } else {
                vec![]
            },
            requests: vec![],
        };
        let orders: Vec<Order> =
            (0..5).map(|i| cancel(&format!("o{i}"), "canceller", i < 3)).chain([cancel("x", "person", true)]).collect();
        let found = suspects(&events, &orders);
        let kinds = |u: &str| -> Vec<&str> {
            found.iter().find(|s| s.user == u).map(|s| s.flags.iter().map(|f| f.kind).collect()).unwrap_or_default()
        };
        assert_eq!(kinds("person"), Vec::<&str>::new(), "one cancellation of six orders is not a pattern");
        assert_eq!(kinds("bot"), vec!["bot_rate"]);
        assert_eq!(kinds("tester"), vec!["card_testing"]);
        assert_eq!(kinds("blind"), vec!["no_views"]);
        assert_eq!(kinds("canceller"), vec!["cancellations"]);
        let bot = found.iter().find(|s| s.user == "bot").unwrap();
        assert!(bot.flags[0].evidence.starts_with("40 browsing events within one minute"), "{:?}", bot.flags);
        // a shop that sends no views: nobody is "buying without looking"
        let purchases_only: Vec<Event> = events.iter().filter(|e| e.kind == EventKind::Purchase).cloned().collect();
        assert!(suspects(&purchases_only, &[]).iter().all(|s| s.flags.iter().all(|f| f.kind != "no_views")));
    }

    #[test]
    fn the_densest_window_counts_items_less_than_its_width_apart() {
        assert_eq!(densest(&[], 60), 0);
        assert_eq!(densest(&[0, 10, 59, 60, 61, 200], 60), 4);
    }
}
