//! What the recommender learns from: every shopper's distinct products in the order they first met them, the
//! products' text vectors, and the leave-last-out splits the offline evaluation uses.
pub use crate::rng::Rng;
use crate::store::{Event, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Interactions as index sequences, with the products' text vectors (zero rows where a product has none).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Dataset {
    pub items: Vec<String>,
    pub item_index: HashMap<String, u32>,
    pub users: Vec<String>,
    /// Per user: distinct products in order of first interaction (ties in time broken by the source row order).
    pub sequences: Vec<Vec<u32>>,
    /// Per user, aligned with `sequences`: the number of the order (basket) each product was first met in, from 0:
    /// a new one when the event's order id (its time when it has none) differs from the one before.
    pub baskets: Vec<Vec<u32>>,
    /// Row-major, `items.len() * dim`, each row unit length or zero.
    pub text: Vec<f32>,
    pub dim: usize,
}

/// Every stored event with the row number of its source key, in key order.
pub fn read_events(store: &Store) -> Result<Vec<(Event, u64)>, StoreError> {
    store.events_with_rows()
}

impl Dataset {
    /// Every event in the store that shows interest, every product, and the stored product vectors.
    pub fn from_store(store: &Store) -> Result<Self, StoreError> {
        Self::from_events(store, &read_events(store)?)
    }

    /// Like [`Dataset::from_store`], from events already read (with their source row numbers).
    pub fn from_events(store: &Store, events: &[(Event, u64)]) -> Result<Self, StoreError> {
        let events = events.iter().filter(|(e, _)| e.kind.shows_interest());
        let products = store.product_ids()?;
        let vectors: HashMap<String, Vec<f32>> = store.vectors()?.into_iter().collect();
        Ok(Self::build(&products, events, &vectors))
    }

    /// Builds from events with their source row numbers; `products` adds catalog items nobody touched yet.
    pub fn build<'a>(
        products: &[String],
        events: impl IntoIterator<Item = &'a (Event, u64)>,
        vectors: &HashMap<String, Vec<f32>>,
    ) -> Self {
        let mut d = Dataset::default();
        for p in products {
            d.intern(p);
        }
        let mut events: Vec<&(Event, u64)> = events.into_iter().collect();
        events.sort_by(|(a, ra), (b, rb)| a.user.cmp(&b.user).then(a.timestamp.cmp(&b.timestamp)).then(ra.cmp(rb)));
        let mut user_index: HashMap<String, usize> = HashMap::new();
        let mut seen: Vec<HashSet<u32>> = vec![];
        // per user: the last event's order key and the basket number it started
        let mut basket: Vec<(&str, u32)> = vec![];
        for (e, _) in &events {
            let i = d.intern(&e.product);
            let u = *user_index.entry(e.user.clone()).or_insert_with(|| {
                d.users.push(e.user.clone());
                d.sequences.push(vec![]);
                d.baskets.push(vec![]);
                seen.push(HashSet::new());
                basket.push(("", 0));
                d.users.len() - 1
            });
            let key = e.order.as_deref().unwrap_or(e.timestamp.as_str());
            let (last, number) = &mut basket[u];
            if *last != key {
                *number += u32::from(!last.is_empty());
                *last = key;
            }
            if seen[u].insert(i) {
                d.sequences[u].push(i);
                d.baskets[u].push(*number);
            }
        }
        d.dim = vectors.values().map(Vec::len).max().unwrap_or(0);
        d.text = vec![0.0; d.items.len() * d.dim];
        for (id, v) in vectors {
            if let (Some(&i), true) = (d.item_index.get(id), v.len() == d.dim) {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                for (o, x) in d.text[i as usize * d.dim..][..d.dim].iter_mut().zip(v) {
                    *o = x / norm;
                }
            }
        }
        d
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.item_index.get(id) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(id.to_string());
        self.item_index.insert(id.to_string(), i);
        i
    }

    pub fn text_of(&self, item: u32) -> &[f32] {
        &self.text[item as usize * self.dim..][..self.dim]
    }

    pub fn interactions(&self) -> usize {
        self.sequences.iter().map(Vec::len).sum()
    }
}

/// Training data for one model: each user's known history (context and exclusions) and which of its positions
/// are training targets.
#[derive(Clone, Default)]
pub struct Train {
    pub histories: Vec<Vec<u32>>,
    /// Positions of `histories[u]` that are not targets (validation items).
    pub held: Vec<Option<usize>>,
}

impl Train {
    /// Everything as training data (what `aisle train` fits for serving).
    pub fn all(d: &Dataset) -> Self {
        Self { held: vec![None; d.sequences.len()], histories: d.sequences.clone() }
    }

    /// A validation case's context: the user's history before `item` when it is their held-out item, else all
    /// of it.
    pub fn known_before(&self, u: u32, item: u32) -> Vec<u32> {
        let h = &self.histories[u as usize];
        match self.held[u as usize] {
            Some(k) if h.get(k) == Some(&item) => h[..k].to_vec(),
            _ => h.clone(),
        }
    }

    /// Items with at least one training target: the ones the model has learned about.
    pub fn trained_items(&self, n_items: usize) -> Vec<bool> {
        let mut t = vec![false; n_items];
        for (u, h) in self.histories.iter().enumerate() {
            for (k, &i) in h.iter().enumerate() {
                if self.held[u] != Some(k) {
                    t[i as usize] = true;
                }
            }
        }
        t
    }
}

/// A split for the offline evaluation: each user's held-out products (the test items), the history before them,
/// and for a sample of users the product before those as a validation item (kept as history, not as a training
/// target) that early stopping watches.
pub struct Split {
    pub train: Train,
    /// (user, held-out item); a user has one (leave-last-out) or every new product of their last order.
    pub test: Vec<(u32, u32)>,
    /// Per user: where the held-out products start in their sequence (its length when none is held out).
    pub test_from: Vec<usize>,
    pub valid: Vec<(u32, u32)>,
    /// Items whose every training interaction was removed (the cold-start split); empty otherwise.
    pub cold: HashSet<u32>,
}

impl Split {
    /// Leave-last-out: each user's last new product is held out; `cold_share` of the items (seeded) lose all
    /// their training interactions: the cold-start protocol.
    pub fn leave_last_out(d: &Dataset, cold_share: f32, valid_users: usize, seed: u64) -> Self {
        // one product and nothing to predict: not part of the evaluation (nor of its training)
        Self::cut(d, cold_share, valid_users, seed, |u| (d.sequences[u].len() >= 2).then(|| d.sequences[u].len() - 1))
    }

    /// Whole last orders: every new product of each user's last order is held out, the history is what came
    /// before that order (users with a single order are training data only).
    pub fn last_order(d: &Dataset, valid_users: usize, seed: u64) -> Self {
        Self::cut(d, 0.0, valid_users, seed, |u| {
            let b = &d.baskets[u];
            let last = *b.last()?;
            let start = b.iter().position(|&x| x == last)?;
            (start > 0).then_some(start)
        })
    }

    /// Holds out each user's products from `from(u)` on (none where it is None; a user with a single product
    /// is left out).
    fn cut(d: &Dataset, cold_share: f32, valid_users: usize, seed: u64, from: impl Fn(usize) -> Option<usize>) -> Self {
        let mut rng = Rng(seed);
        let mut cold = HashSet::new();
        if cold_share > 0.0 {
            let mut touched: Vec<u32> =
                d.sequences.iter().flatten().copied().collect::<HashSet<_>>().into_iter().collect();
            touched.sort_unstable();
            rng.shuffle(&mut touched);
            cold.extend(touched.iter().take((touched.len() as f32 * cold_share).round() as usize));
        }
        let mut train = Train::default();
        let (mut test, mut test_from) = (vec![], vec![]);
        let mut candidates_for_valid = vec![];
        for (u, seq) in d.sequences.iter().enumerate() {
            let mut hist: Vec<u32> = seq.clone();
            match from(u) {
                Some(k) => {
                    test.extend(hist.split_off(k).into_iter().map(|i| (u as u32, i)));
                    test_from.push(k);
                }
                None => test_from.push(seq.len()),
            }
            if seq.len() < 2 {
                hist.clear();
            }
            hist.retain(|i| !cold.contains(i));
            if hist.len() >= 3 {
                candidates_for_valid.push(u);
            }
            train.histories.push(hist);
            train.held.push(None);
        }
        rng.shuffle(&mut candidates_for_valid);
        candidates_for_valid.truncate(valid_users);
        candidates_for_valid.sort_unstable();
        let mut valid = vec![];
        for u in candidates_for_valid {
            let last = train.histories[u].len() - 1;
            train.held[u] = Some(last);
            valid.push((u as u32, train.histories[u][last]));
        }
        Self { train, test, test_from, valid, cold }
    }

    /// The test items grouped by user, in user order.
    pub fn targets(&self) -> Vec<(u32, Vec<u32>)> {
        let mut out: Vec<(u32, Vec<u32>)> = vec![];
        for &(u, i) in &self.test {
            match out.last_mut() {
                Some((v, items)) if *v == u => items.push(i),
                _ => out.push((u, vec![i])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventKind;

    fn ev(user: &str, product: &str, ts: &str) -> Event {
        Event::new(user, product, EventKind::Purchase, ts)
    }

    #[test]
    fn sequences_follow_time_then_row_order_and_hold_out_the_last_new_product() {
        let events = vec![
            (ev("u", "c", "2011-01-02"), 9),
            (ev("u", "b", "2011-01-01"), 7),
            (ev("u", "a", "2011-01-01"), 3),
            (ev("u", "a", "2011-01-03"), 10),
            (ev("v", "a", "2011-01-01"), 1),
        ];
        let d = Dataset::build(&[], &events, &HashMap::new());
        let names = |s: &[u32]| s.iter().map(|&i| d.items[i as usize].as_str()).collect::<Vec<_>>();
        assert_eq!(names(&d.sequences[0]), ["a", "b", "c"]);
        let split = Split::leave_last_out(&d, 0.0, 0, 1);
        assert_eq!(split.test, vec![(0, d.item_index["c"])]);
        assert_eq!(names(&split.train.histories[0]), ["a", "b"]);
        assert!(split.train.histories[1].is_empty(), "a single product has nothing to predict");
    }

    #[test]
    fn the_cold_split_removes_every_training_interaction_of_the_chosen_items() {
        let events: Vec<(Event, u64)> = (0..40)
            .flat_map(|u| (0..10).map(move |p| (ev(&format!("u{u}"), &format!("p{}", (u + p) % 20), "2011"), p as u64)))
            .collect();
        let d = Dataset::build(&[], &events, &HashMap::new());
        let split = Split::leave_last_out(&d, 0.1, 5, 7);
        assert_eq!(split.cold.len(), 2);
        assert!(split.train.histories.iter().flatten().all(|i| !split.cold.contains(i)));
        assert_eq!(split.valid.len(), 5);
        let trained = split.train.trained_items(d.items.len());
        assert!(split.cold.iter().all(|&i| !trained[i as usize]));
    }

    #[test]
    fn the_last_order_split_holds_out_every_new_product_of_the_last_order() {
        let order =
            |user: &str, product: &str, ts: &str, o: &str| Event { order: Some(o.into()), ..ev(user, product, ts) };
        let events = vec![
            (order("u", "a", "2011-01-01", "o1"), 1),
            (order("u", "b", "2011-01-01", "o1"), 2),
            (order("u", "c", "2011-02-01", "o2"), 3),
            (order("u", "a", "2011-03-01", "o3"), 4),
            (order("u", "d", "2011-03-01", "o3"), 5),
            (order("u", "e", "2011-03-01", "o3"), 6),
            (order("v", "a", "2011-01-01", "o4"), 7),
            (order("v", "b", "2011-01-01", "o4"), 8),
        ];
        let d = Dataset::build(&[], &events, &HashMap::new());
        assert_eq!(d.baskets[0], [0, 0, 1, 2, 2], "a bought again in o3 is not new: d and e are");
        let split = Split::last_order(&d, 0, 1);
        let id = |s: &str| d.item_index[s];
        assert_eq!(split.targets(), vec![(0, vec![id("d"), id("e")])]);
        assert_eq!(split.test_from, [3, 2]);
        assert_eq!(split.train.histories[0], [id("a"), id("b"), id("c")]);
        assert_eq!(split.train.histories[1].len(), 2, "a single order trains, untested");
        // leave-last-out holds out only e
        let l = Split::leave_last_out(&d, 0.0, 0, 1);
        assert_eq!(l.targets(), vec![(0, vec![id("e")]), (1, vec![id("b")])]);
    }
}
