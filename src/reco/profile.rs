//! A shopper's readable profile, computed from their events when asked (so it is always current): category,
//! brand and price-band affinities with recency decay, recent products, purchase counts.
use crate::catalog::Catalog;
use crate::store::{Event, EventKind};
use serde::Serialize;
use std::collections::HashMap;

/// Half-life of an event's weight, counted back from the shopper's latest event (so a shop with old data still
/// reads: the profile shows what this shopper cared about most recently).
pub const HALF_LIFE_DAYS: f64 = 90.0;

/// What an event says about interest.
pub fn kind_weight(k: EventKind) -> f64 {
    match k {
        EventKind::View => 1.0,
        EventKind::Click | EventKind::RecommendationClicked => 2.0,
        EventKind::AddToCart => 3.0,
        EventKind::Purchase => 5.0,
        EventKind::Search | EventKind::RecommendationShown => 0.0,
    }
}

/// Price bands in the shop's currency.
pub const BANDS: [(f64, &str); 6] =
    [(2.0, "under 2"), (5.0, "2-5"), (10.0, "5-10"), (20.0, "10-20"), (50.0, "20-50"), (f64::INFINITY, "50 and over")];

pub fn price_band(p: f64) -> &'static str {
    BANDS.iter().find(|(hi, _)| p < *hi).map_or("50 and over", |(_, l)| l)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Affinity {
    pub name: String,
    /// Share of the shopper's decayed interest (0..=1).
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecentItem {
    pub id: String,
    pub title: String,
    pub kind: EventKind,
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Profile {
    pub user: String,
    pub events: usize,
    pub purchases: usize,
    pub orders: usize,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub categories: Vec<Affinity>,
    pub brands: Vec<Affinity>,
    pub price_bands: Vec<Affinity>,
    pub recent: Vec<RecentItem>,
}

/// Days since 1970-01-01 of an ISO-8601 date ("2011-12-09T12:50:00" → its day), None when unreadable.
pub fn day_number(ts: &str) -> Option<i64> {
    let (y, m, d): (i64, i64, i64) =
        (ts.get(0..4)?.parse().ok()?, ts.get(5..7)?.parse().ok()?, ts.get(8..10)?.parse().ok()?);
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn top(map: HashMap<String, f64>, n: usize) -> Vec<Affinity> {
    let total: f64 = map.values().sum::<f64>().max(1e-12);
    let mut v: Vec<Affinity> = map.into_iter().map(|(name, w)| Affinity { name, share: w / total }).collect();
    v.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.name.cmp(&b.name)));
    v.truncate(n);
    for a in &mut v {
        a.share = (a.share * 1000.0).round() / 1000.0;
    }
    v
}

pub fn build(user: &str, events: &[Event], catalog: &Catalog) -> Profile {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let latest = sorted.last().and_then(|e| day_number(&e.timestamp));
    let (mut cats, mut brands, mut bands) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut orders = std::collections::HashSet::new();
    for e in sorted.iter().filter(|e| e.kind.shows_interest()) {
        let age = match (latest, day_number(&e.timestamp)) {
            (Some(l), Some(d)) => (l - d).max(0) as f64,
            _ => 0.0,
        };
        let w = kind_weight(e.kind) * 0.5f64.powf(age / HALF_LIFE_DAYS);
        if e.kind == EventKind::Purchase {
            orders.insert(e.order.clone().unwrap_or_else(|| e.timestamp.clone()));
        }
        let Some(p) = catalog.get(&e.product) else { continue };
        let cat = p.category.split(" > ").next().unwrap_or_default().trim();
        if !cat.is_empty() {
            *cats.entry(cat.to_string()).or_insert(0.0) += w;
        }
        if !p.brand.is_empty() {
            *brands.entry(p.brand.clone()).or_insert(0.0) += w;
        }
        if let Some(price) = p.price.or(e.price) {
            *bands.entry(price_band(price).to_string()).or_insert(0.0) += w;
        }
    }
    let mut recent: Vec<RecentItem> = vec![];
    for e in sorted.iter().rev().filter(|e| e.kind.shows_interest()) {
        if recent.len() >= 10 {
            break;
        }
        if recent.iter().any(|r| r.id == e.product) {
            continue;
        }
        let title = catalog.get(&e.product).map(|p| p.title.clone()).unwrap_or_default();
        recent.push(RecentItem { id: e.product.clone(), title, kind: e.kind, timestamp: e.timestamp.clone() });
    }
    Profile {
        user: user.to_string(),
        events: sorted.len(),
        purchases: sorted.iter().filter(|e| e.kind == EventKind::Purchase).count(),
        orders: orders.len(),
        first_seen: sorted.first().map(|e| e.timestamp.clone()),
        last_seen: sorted.last().map(|e| e.timestamp.clone()),
        categories: top(cats, 8),
        brands: top(brands, 8),
        price_bands: top(bands, 6),
        recent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Product;

    fn product(id: &str, cat: &str, price: f64) -> Product {
        Product { category: cat.into(), price: Some(price), ..Product::titled(id, &format!("Product {id}")) }
    }

    fn ev(product: &str, kind: EventKind, ts: &str) -> Event {
        Event::new("u", product, kind, ts)
    }

    #[test]
    fn recent_purchases_outweigh_old_views_and_shares_sum_to_one() {
        let catalog = Catalog::new([product("a", "Candles > Tea lights", 1.5), product("b", "Toys", 30.0)]);
        let events = vec![
            ev("b", EventKind::View, "2010-01-01T10:00:00"),
            ev("b", EventKind::View, "2010-01-02T10:00:00"),
            ev("a", EventKind::Purchase, "2011-01-01T10:00:00"),
        ];
        let p = build("u", &events, &catalog);
        assert_eq!(p.categories[0].name, "Candles");
        assert!((p.categories.iter().map(|a| a.share).sum::<f64>() - 1.0).abs() < 0.01);
        assert_eq!(p.price_bands[0].name, "under 2");
        assert_eq!(p.purchases, 1);
        assert_eq!(p.recent[0].id, "a");
    }

    #[test]
    fn day_numbers_match_the_calendar() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2000-03-01T00:00:00"), Some(11_017));
        assert_eq!(day_number("2011-12-09").unwrap() - day_number("2010-12-01").unwrap(), 373);
        assert_eq!(day_number("garbage"), None);
    }
}
