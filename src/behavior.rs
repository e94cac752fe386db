//! Behaviour built from stored events: each shopper's purchase history, product popularity, and co-purchase
//! neighbours (products bought in the same order, cosine-normalised). Rebuilt from the store at start and after import.
use crate::store::{Event, EventKind, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Neighbours kept per product.
const NEIGHBOURS: usize = 40;
/// Orders bigger than this are wholesale restocks, not tastes: they count for popularity only.
const MAX_BASKET: usize = 120;

/// One product in a shopper's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchased {
    pub product: String,
    pub times: u32,
    /// Time of the latest purchase (ISO-8601).
    pub last: String,
}

#[derive(Default)]
pub struct Behavior {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    /// Orders containing each product.
    popularity: Vec<u32>,
    neighbours: Vec<Vec<(u32, f32)>>,
    /// Histories, most recent first (a shopper's is removed when their data is deleted).
    histories: RwLock<HashMap<String, Arc<[Purchased]>>>,
}

impl Behavior {
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::from_events(&store.all_events()?))
    }

    pub fn from_events(events: &[Event]) -> Self {
        let mut b = Behavior::default();
        let mut baskets: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut hist: HashMap<&str, HashMap<u32, (u32, &str)>> = HashMap::new();
        for e in events.iter().filter(|e| e.kind == EventKind::Purchase) {
            let i = b.intern(&e.product);
            let basket_key = e.order.as_deref().unwrap_or(e.timestamp.as_str());
            baskets.entry(basket_key).or_default().push(i);
            let h = hist.entry(e.user.as_str()).or_default().entry(i).or_insert((0, ""));
            h.0 += 1;
            if e.timestamp.as_str() > h.1 {
                h.1 = &e.timestamp;
            }
        }
        b.popularity = vec![0; b.ids.len()];
        let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
        for items in baskets.values_mut() {
            items.sort_unstable();
            items.dedup();
            for &i in items.iter() {
                b.popularity[i as usize] += 1;
            }
            if items.len() > MAX_BASKET {
                continue;
            }
            for (k, &i) in items.iter().enumerate() {
                for &j in &items[k + 1..] {
                    *pairs.entry((i, j)).or_default() += 1;
                }
            }
        }
        let mut nb: Vec<Vec<(u32, f32)>> = vec![vec![]; b.ids.len()];
        for ((i, j), n) in pairs {
            if n < 2 {
                continue; // one shared order is noise
            }
            let sim = n as f32 / ((b.popularity[i as usize] * b.popularity[j as usize]) as f32).sqrt();
            nb[i as usize].push((j, sim));
            nb[j as usize].push((i, sim));
        }
        for list in &mut nb {
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(NEIGHBOURS);
        }
        b.neighbours = nb;
        for (user, items) in hist {
            let mut list: Vec<Purchased> = items
                .into_iter()
                .map(|(i, (times, last))| Purchased {
                    product: b.ids[i as usize].clone(),
                    times,
                    last: last.to_string(),
                })
                .collect();
            list.sort_by(|a, b| b.last.cmp(&a.last).then(b.times.cmp(&a.times)).then(a.product.cmp(&b.product)));
            b.histories.get_mut().unwrap_or_else(|e| e.into_inner()).insert(user.to_string(), list.into());
        }
        b
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.index.insert(id.to_string(), i);
        i
    }

    /// A shopper's purchases, most recent first (empty for unknown shoppers).
    pub fn history(&self, user: &str) -> Arc<[Purchased]> {
        self.read().get(user).cloned().unwrap_or_else(|| Arc::new([]))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<[Purchased]>>> {
        self.histories.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops a shopper's history (their data was deleted). Returns whether there was one.
    pub fn forget(&self, user: &str) -> bool {
        self.histories.write().unwrap_or_else(|e| e.into_inner()).remove(user).is_some()
    }

    /// How strongly two products are bought together (0..=1; 0 when never together).
    pub fn similarity(&self, a: &str, b: &str) -> f32 {
        let (Some(&i), Some(&j)) = (self.index.get(a), self.index.get(b)) else { return 0.0 };
        self.neighbours[i as usize].iter().find(|(k, _)| *k == j).map_or(0.0, |(_, s)| *s)
    }

    /// Products often bought with `id`, strongest first.
    pub fn neighbours(&self, id: &str) -> impl Iterator<Item = (&str, f32)> {
        let list = self.index.get(id).map(|&i| self.neighbours[i as usize].as_slice()).unwrap_or(&[]);
        list.iter().map(|(j, s)| (self.ids[*j as usize].as_str(), *s))
    }

    /// Number of orders that contain the product.
    pub fn popularity(&self, id: &str) -> u32 {
        self.index.get(id).map_or(0, |&i| self.popularity[i as usize])
    }

    /// Products by popularity, most ordered first.
    pub fn popular(&self) -> Vec<&str> {
        let mut ids: Vec<u32> = (0..self.ids.len() as u32).collect();
        ids.sort_by_key(|&i| (std::cmp::Reverse(self.popularity[i as usize]), i));
        ids.into_iter().map(|i| self.ids[i as usize].as_str()).collect()
    }

    /// Shoppers with the richest histories (most distinct products), for the demo's "shop as" picker.
    pub fn richest_customers(&self, n: usize) -> Vec<(String, usize)> {
        let mut all: Vec<(String, usize)> = self.read().iter().map(|(u, h)| (u.clone(), h.len())).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // skip the wholesale outliers at the very top; a person with a rich but readable history suits a demo
        all.into_iter().filter(|(_, n)| *n <= 400).take(n).collect()
    }

    /// Customers who bought one of `products` at or after `since` (ISO-8601, compared as text).
    pub fn buyers_since(&self, products: &std::collections::HashSet<&str>, since: &str) -> usize {
        self.read()
            .values()
            .filter(|h| h.iter().any(|p| products.contains(p.product.as_str()) && p.last.as_str() >= since))
            .count()
    }

    /// Time of the newest purchase on record.
    pub fn latest_purchase(&self) -> Option<String> {
        self.read().values().filter_map(|h| h.iter().map(|p| &p.last).max()).max().cloned()
    }

    pub fn customers(&self) -> usize {
        self.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buy(user: &str, order: &str, product: &str, ts: &str) -> Event {
        Event {
            user: user.into(),
            product: product.into(),
            kind: EventKind::Purchase,
            timestamp: ts.into(),
            order: Some(order.into()),
            quantity: 1,
            price: None,
            query: None,
            source: None,
        }
    }

    #[test]
    fn products_bought_together_twice_become_neighbours() {
        let b = Behavior::from_events(&[
            buy("u1", "o1", "a", "2011-01-01T10:00"),
            buy("u1", "o1", "b", "2011-01-01T10:00"),
            buy("u2", "o2", "a", "2011-02-01T10:00"),
            buy("u2", "o2", "b", "2011-02-01T10:00"),
            buy("u2", "o2", "c", "2011-02-01T10:00"),
        ]);
        assert!(b.similarity("a", "b") > 0.9);
        assert_eq!(b.similarity("a", "c"), 0.0, "a single shared order is noise");
        assert_eq!(b.popularity("a"), 2);
    }

    #[test]
    fn histories_are_most_recent_first_and_count_repeats() {
        let b = Behavior::from_events(&[
            buy("u1", "o1", "a", "2011-01-01T10:00"),
            buy("u1", "o2", "b", "2011-03-01T10:00"),
            buy("u1", "o3", "a", "2011-02-01T10:00"),
        ]);
        let h = b.history("u1");
        assert_eq!(h[0].product, "b");
        assert_eq!(h[1].product, "a");
        assert_eq!(h[1].times, 2);
        assert_eq!(h[1].last, "2011-02-01T10:00");
        assert!(b.history("nobody").is_empty());
    }
}
