//! Ranks candidate products for one shopper: relevance to what they asked (search score), their purchase history
//! (co-purchase with what they bought), and popularity, under hard price limits. Every pick carries the facts
//! behind it ([`Explanation`]) so the reason shown is true.
use crate::behavior::Behavior;
use crate::catalog::{Catalog, Product};
use crate::chat::query::Sort;
use crate::search::Hit;
use serde::Serialize;
use std::collections::HashSet;

/// Weights of the blend. Relevance is in 0..=1 (search score over the best score); history similarity is the
/// cosine co-purchase score over the best among the candidates; popularity is log-scaled to 0..=1.
#[derive(Debug, Clone, Copy)]
pub struct Blend {
    pub relevance: f32,
    pub history: f32,
    pub popularity: f32,
    pub bought_before: f32,
    /// The recommender's personal score (standardised over the catalog, see `reco::serve::Served::personal`).
    pub personal: f32,
}

impl Default for Blend {
    fn default() -> Self {
        // co-purchase, popularity and personal weights chosen by `aisle bench blend` on validation shoppers
        // (BENCHMARKS.md): the best of 100 blends had co-purchase 0 and this one, within 0.001 NDCG of it, keeps
        // the lift from past purchases for vaguer requests than the benchmark's
        Self { relevance: 1.0, history: 0.15, popularity: 0.05, bought_before: 0.2, personal: 0.05 }
    }
}

/// A past purchase that makes a product relevant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Related {
    pub id: String,
    pub title: String,
    /// When the shopper last bought it (ISO-8601 date).
    pub date: String,
}

/// The facts behind one pick.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Explanation {
    /// The shopper's words the product matched.
    pub matched: Vec<String>,
    pub max_price: Option<f64>,
    pub related: Option<Related>,
    /// Times the shopper bought this very product.
    pub bought_before: u32,
    /// Orders that contained it (shop-wide).
    pub orders: u32,
    /// Found by meaning (the semantic side) rather than by the shopper's words.
    pub similar: bool,
    pub relevance: f32,
    pub history: f32,
    pub popularity: f32,
    /// The recommender's personal score for this shopper (0 when there is none).
    pub personal: f32,
    /// The shop's bonus for the product's category (its `rules.boost`; 0 when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub boost: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

#[derive(Debug, Clone)]
pub struct Pick {
    pub product: Product,
    pub score: f32,
    pub why: Explanation,
}

/// Limits every pick must respect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub max_price: Option<f64>,
    pub min_price: Option<f64>,
}

impl Limits {
    pub fn allow(&self, p: &Product) -> bool {
        let price_ok = |f: fn(f64, f64) -> bool, bound: Option<f64>| match (bound, p.price) {
            (None, _) => true,
            (Some(b), Some(price)) => f(price, b),
            (Some(_), None) => false,
        };
        price_ok(|p, b| p <= b + 1e-9, self.max_price) && price_ok(|p, b| p + 1e-9 >= b, self.min_price)
    }
}

pub struct Ranker<'a> {
    pub catalog: &'a Catalog,
    pub behavior: &'a Behavior,
    pub blend: Blend,
    /// The shopper's personal scores by product id (empty for a visitor with no history).
    pub personal: &'a std::collections::HashMap<String, f32>,
}

/// How many recent distinct purchases count as the shopper's taste.
const RECENT: usize = 60;

impl Ranker<'_> {
    /// Ranks search hits (or, with none, the shopper's co-purchase neighbours, or popular products).
    pub fn rank(
        &self,
        hits: &[Hit],
        words: &[String],
        user: Option<&str>,
        limits: Limits,
        n: usize,
        matched: impl Fn(&Product) -> Vec<String>,
    ) -> Vec<Pick> {
        self.order(self.candidates(hits, words, user, limits, matched), n)
    }

    /// The candidates inside the limits with every part of their explanation filled in (unscored).
    pub fn candidates(
        &self,
        hits: &[Hit],
        words: &[String],
        user: Option<&str>,
        limits: Limits,
        matched: impl Fn(&Product) -> Vec<String>,
    ) -> Vec<Pick> {
        let history = user.map(|u| self.behavior.history(u)).unwrap_or_else(|| std::sync::Arc::new([]));
        let recent = &history[..history.len().min(RECENT)];
        let mut candidates: Vec<(String, f32, bool)> =
            hits.iter().map(|h| (h.id.clone(), h.score, h.keyword.is_none() && h.semantic.is_some())).collect();
        if words.is_empty() || candidates.is_empty() && words.iter().all(|w| w.len() < 3) {
            candidates = self.browse_candidates(recent).into_iter().map(|(id, s)| (id, s, false)).collect();
        }
        let top_relevance = candidates.iter().map(|c| c.1).fold(0.0f32, f32::max).max(1e-6);
        let max_pop = (self.behavior.popular().first().map(|id| self.behavior.popularity(id)).unwrap_or(1) as f32)
            .ln_1p()
            .max(1e-6);

        candidates
            .iter()
            .filter_map(|(id, rel, similar)| {
                let product = self.catalog.get(id)?;
                if !limits.allow(&product) {
                    return None;
                }
                let (hist, related) = recent
                    .iter()
                    .filter(|h| h.product != *id)
                    .map(|h| (self.behavior.similarity(&h.product, id), h))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(s, _)| *s > 0.0)
                    .map(|(s, h)| {
                        let title = self.catalog.get(&h.product).map(|p| p.title.clone()).unwrap_or_default();
                        (s, Some(Related { id: h.product.clone(), title, date: h.last.chars().take(10).collect() }))
                    })
                    .unwrap_or((0.0, None));
                let bought = history.iter().find(|h| h.product == *id).map_or(0, |h| h.times);
                let orders = self.behavior.popularity(id);
                let why = Explanation {
                    matched: matched(&product),
                    similar: *similar,
                    max_price: limits.max_price,
                    related,
                    bought_before: bought,
                    orders,
                    relevance: rel / top_relevance,
                    history: hist,
                    popularity: (orders as f32).ln_1p() / max_pop,
                    personal: self.personal.get(id).copied().unwrap_or(0.0),
                    boost: 0.0,
                };
                Some(Pick { product: (*product).clone(), score: 0.0, why })
            })
            .collect()
    }

    /// Scores candidates with the blend, best first, one product per title, at most `n`.
    pub fn order(&self, mut scored: Vec<Pick>, n: usize) -> Vec<Pick> {
        self.score(&mut scored);
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.product.id.cmp(&b.product.id)));
        Self::distinct(scored, n)
    }

    /// Orders candidates for a shopper's request: the products that match more of the wanted words first; within
    /// that, the shopper's sort (cheapest, dearest, most bought) when asked for, else the blend.
    pub fn order_request(&self, mut scored: Vec<Pick>, n: usize, sort: Option<Sort>) -> Vec<Pick> {
        self.score(&mut scored);
        if sort.is_some() {
            // a sort asked for orders the best-matching products (widened to the next best until there are `n`)
            // by price or orders alone, so the cards read in that order
            let mut counts: Vec<usize> = scored.iter().map(|p| p.why.matched.len()).collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            counts.dedup();
            let mut floor = 0;
            for c in counts {
                floor = c;
                let titles: HashSet<String> = scored
                    .iter()
                    .filter(|p| p.why.matched.len() >= c)
                    .map(|p| p.product.title.to_lowercase())
                    .collect();
                if titles.len() >= n {
                    break;
                }
            }
            scored.retain(|p| p.why.matched.len() >= floor);
        }
        let price = |p: &Pick| p.product.price.unwrap_or(f64::INFINITY);
        scored.sort_by(|a, b| {
            let by_sort = match sort {
                Some(Sort::Cheapest) => price(a).total_cmp(&price(b)),
                Some(Sort::Dearest) => price(b).total_cmp(&price(a)),
                Some(Sort::Popular) => b.why.orders.cmp(&a.why.orders),
                None => std::cmp::Ordering::Equal,
            };
            let coverage =
                if sort.is_some() { std::cmp::Ordering::Equal } else { b.why.matched.len().cmp(&a.why.matched.len()) };
            coverage.then(by_sort).then(b.score.total_cmp(&a.score)).then(a.product.id.cmp(&b.product.id))
        });
        Self::distinct(scored, n)
    }

    fn score(&self, scored: &mut [Pick]) {
        let top_hist = scored.iter().map(|p| p.why.history).fold(0.0f32, f32::max).max(1e-6);
        let b = self.blend;
        for p in scored {
            let w = &p.why;
            p.score = b.relevance * w.relevance
                + b.history * (w.history / top_hist)
                + b.popularity * w.popularity
                + if w.bought_before > 0 { b.bought_before } else { 0.0 }
                + b.personal * w.personal
                + w.boost;
        }
    }

    /// One product per title, at most `n`.
    fn distinct(mut scored: Vec<Pick>, n: usize) -> Vec<Pick> {
        let mut seen = HashSet::new();
        scored.retain(|p| seen.insert(p.product.title.to_lowercase()));
        scored.truncate(n);
        scored
    }

    /// With no words to search: what the shopper's recent purchases are bought with, else the shop's best sellers.
    fn browse_candidates(&self, recent: &[crate::behavior::Purchased]) -> Vec<(String, f32)> {
        let mut out: Vec<(String, f32)> = vec![];
        for h in recent.iter().take(20) {
            out.extend(self.behavior.neighbours(&h.product).take(10).map(|(id, s)| (id.to_string(), s)));
        }
        if out.is_empty() {
            out = self
                .behavior
                .popular()
                .into_iter()
                .take(200)
                .enumerate()
                .map(|(i, id)| (id.to_string(), 1.0 / (1.0 + i as f32)))
                .collect();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Event, EventKind};

    fn product(id: &str, title: &str, price: f64) -> Product {
        Product {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            category: String::new(),
            brand: String::new(),
            price: Some(price),
            ..Default::default()
        }
    }

    fn buy(user: &str, order: &str, product: &str) -> Event {
        Event {
            user: user.into(),
            product: product.into(),
            kind: EventKind::Purchase,
            timestamp: format!("2011-01-0{}T10:00", order.len()),
            order: Some(order.into()),
            quantity: 1,
            price: None,
            query: None,
            source: None,
        }
    }

    fn hit(id: &str, score: f32) -> Hit {
        Hit { id: id.into(), score, keyword: Some(crate::search::Part { rank: 1, score }), semantic: None }
    }

    #[test]
    fn history_lifts_the_product_bought_with_a_past_purchase_and_says_so() {
        let catalog =
            Catalog::new([product("a", "Heart Tin", 3.0), product("b", "Heart Mug", 3.0), product("c", "Candle", 2.0)]);
        let behavior = Behavior::from_events(&[
            buy("x", "o1", "b"),
            buy("x", "o1", "c"),
            buy("y", "o2", "b"),
            buy("y", "o2", "c"),
            buy("me", "o33", "c"),
        ]);
        let hits = [hit("a", 1.0), hit("b", 0.9)];
        let r =
            Ranker { catalog: &catalog, behavior: &behavior, blend: Blend::default(), personal: &Default::default() };
        let anon = r.rank(&hits, &["heart".into()], None, Limits::default(), 2, |_| vec![]);
        assert_eq!(anon[0].product.id, "a");
        let known = r.rank(&hits, &["heart".into()], Some("me"), Limits::default(), 2, |_| vec![]);
        assert_eq!(known[0].product.id, "b");
        assert_eq!(known[0].why.related.as_ref().unwrap().title, "Candle");
    }

    #[test]
    fn a_price_limit_is_never_broken_and_unpriced_products_are_left_out() {
        let mut free = product("d", "Mystery", 0.0);
        free.price = None;
        let catalog = Catalog::new([product("a", "Tin", 3.0), product("b", "Mug", 30.0), free]);
        let behavior = Behavior::default();
        let hits: Vec<Hit> = ["a", "b", "d"].iter().map(|id| hit(id, 1.0)).collect();
        let r =
            Ranker { catalog: &catalog, behavior: &behavior, blend: Blend::default(), personal: &Default::default() };
        let picks =
            r.rank(&hits, &["x".into()], None, Limits { max_price: Some(10.0), min_price: None }, 5, |_| vec![]);
        assert_eq!(picks.iter().map(|p| p.product.id.as_str()).collect::<Vec<_>>(), vec!["a"]);
    }
}
