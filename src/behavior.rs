//! Behaviour built from stored events: each shopper's purchase history, product popularity, and co-purchase
//! neighbours (products bought in the same order, cosine-normalised). Built from the store at start; while serving,
//! [`Live`] adds each purchase to its shopper's history at once and rebuilds the tables in the background. The
//! tables are saved between starts (see [`crate::derived`]).
use crate::derived::{self, Kind};
use crate::store::{Event, EventKind, Stamp, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Neighbours kept per product.
const NEIGHBOURS: usize = 40;
/// Orders bigger than this are wholesale restocks, not tastes: they count for popularity only.
const MAX_BASKET: usize = 120;

/// One product in a shopper's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The saved form of [`Behavior`] (see [`crate::derived`]).
#[derive(Serialize, Deserialize)]
struct Saved {
    ids: Vec<String>,
    popularity: Vec<u32>,
    neighbours: Vec<Vec<(u32, f32)>>,
    histories: Vec<(String, Vec<Purchased>)>,
}

const SAVED: Kind = Kind { name: "behaviour", format: 1 };

impl Behavior {
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::from_events(&store.all_events()?))
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut b = Behavior::default();
        let mut baskets: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut hist: HashMap<&str, HashMap<u32, (u32, &str)>> = HashMap::new();
        for e in events.into_iter().filter(|e| e.kind == EventKind::Purchase) {
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

    /// Adds purchases that arrived while serving to their shoppers' histories (popularity and neighbours follow
    /// at the next rebuild).
    pub fn add_purchases(&self, events: &[Event]) {
        let mut histories = self.histories.write().unwrap_or_else(|e| e.into_inner());
        for e in events.iter().filter(|e| e.kind == EventKind::Purchase) {
            let mut list: Vec<Purchased> = histories.get(&e.user).map(|h| h.to_vec()).unwrap_or_default();
            match list.iter_mut().find(|p| p.product == e.product) {
                Some(p) => {
                    p.times += 1;
                    if e.timestamp > p.last {
                        p.last = e.timestamp.clone();
                    }
                }
                None => list.push(Purchased { product: e.product.clone(), times: 1, last: e.timestamp.clone() }),
            }
            list.sort_by(|a, b| b.last.cmp(&a.last).then(b.times.cmp(&a.times)).then(a.product.cmp(&b.product)));
            histories.insert(e.user.clone(), list.into());
        }
    }

    fn saved(&self) -> Saved {
        let mut histories: Vec<(String, Vec<Purchased>)> =
            self.read().iter().map(|(u, h)| (u.clone(), h.to_vec())).collect();
        histories.sort_by(|a, b| a.0.cmp(&b.0));
        Saved {
            ids: self.ids.clone(),
            popularity: self.popularity.clone(),
            neighbours: self.neighbours.clone(),
            histories,
        }
    }

    fn from_saved(s: Saved) -> Self {
        let index = s.ids.iter().enumerate().map(|(i, id)| (id.clone(), i as u32)).collect();
        let histories = s.histories.into_iter().map(|(u, h)| (u, h.into())).collect();
        Behavior {
            ids: s.ids,
            index,
            popularity: s.popularity,
            neighbours: s.neighbours,
            histories: RwLock::new(histories),
        }
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

/// How often at most the tables are rebuilt while purchases keep arriving (a rebuild reads every event).
pub const REBUILD_EVERY: Duration = Duration::from_secs(60);

/// The serving copy of [`Behavior`]: readers take the current tables; purchases join their shopper's history at
/// once and the popularity and co-purchase tables are rebuilt from the store at most every [`REBUILD_EVERY`].
pub struct Live {
    tables: RwLock<Arc<Behavior>>,
    /// When the tables were last built, and whether purchases arrived since.
    changes: Mutex<(Instant, bool)>,
    /// The data directory the tables are saved under (none: not saved).
    saved_in: Option<PathBuf>,
    /// Held by a rebuild from reading the store to swapping in, and by [`Live::forget`]: a shopper forgotten while
    /// a rebuild read the store before their deletion is forgotten from its tables too.
    building: Mutex<()>,
}

impl Live {
    pub fn new(b: Behavior) -> Self {
        Live {
            tables: RwLock::new(Arc::new(b)),
            changes: Mutex::new((Instant::now(), false)),
            saved_in: None,
            building: Mutex::new(()),
        }
    }

    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::new(Behavior::load(store)?))
    }

    /// The tables saved under `data_dir` when the store has not changed since, else built from the events (read at
    /// most once with the other tables built at start) and saved.
    pub fn open(data_dir: &Path, stamp: Stamp, events: &derived::Events) -> Result<Self, StoreError> {
        let (saved, pending) = derived::load_or_build(data_dir, &SAVED, stamp, || {
            Ok::<_, StoreError>(Behavior::from_events(events.get()?.iter().map(|(e, _)| e)).saved())
        })?;
        let mut live = Self::new(Behavior::from_saved(saved));
        if pending {
            live.imported();
        }
        live.saved_in = Some(data_dir.to_path_buf());
        Ok(live)
    }

    /// Saves the tables as they are served now, with the store's stamp, for the next start (at shutdown). Changes
    /// not folded in yet are marked pending, so that start folds them in at its first check.
    pub fn save(&self, store: &Store) -> std::io::Result<()> {
        let Some(dir) = &self.saved_in else { return Ok(()) };
        let stamp = store.stamp().map_err(std::io::Error::other)?;
        let pending = self.changes.lock().unwrap_or_else(|e| e.into_inner()).1;
        derived::write(dir, &SAVED, stamp, pending, &self.get().saved())
    }

    /// The current tables (a cheap handle; a rebuild swaps in new ones without disturbing it).
    pub fn get(&self) -> Arc<Behavior> {
        self.tables.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Events were stored: purchases join their shoppers' histories now, the tables follow at the next rebuild.
    pub fn recorded(&self, events: &[Event]) {
        if events.iter().any(|e| e.kind == EventKind::Purchase) {
            self.get().add_purchases(events);
            self.changes.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        }
    }

    /// Events were imported in bulk: the tables are rebuilt at the next check.
    pub fn imported(&self) {
        let mut c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        *c = (Instant::now() - REBUILD_EVERY, true);
    }

    /// Rebuilds the tables from the store when purchases arrived and the last build is old enough. Readers keep the
    /// old tables until the new ones are ready. Returns true when it rebuilt.
    pub fn rebuild_if_changed(&self, store: &Store) -> Result<bool, StoreError> {
        {
            let mut c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
            if !c.1 || c.0.elapsed() < REBUILD_EVERY {
                return Ok(false);
            }
            // purchases arriving while this build reads the store set the flag again
            *c = (Instant::now(), false);
        }
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let stamp = store.stamp()?;
        let fresh = Behavior::load(store)?;
        if let Some(dir) = &self.saved_in {
            derived::save_built(dir, &SAVED, store, stamp, &fresh.saved())?;
        }
        let customers = fresh.customers();
        *self.tables.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        tracing::info!(customers, ms = started.elapsed().as_millis() as u64, "behaviour tables rebuilt");
        Ok(true)
    }

    /// Drops a shopper's history (their data was deleted from the store before). Returns whether there was one.
    /// Saved copies are the caller's to remove ([`derived::remove_all`]).
    pub fn forget(&self, user: &str) -> bool {
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        self.get().forget(user)
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

    #[test]
    fn a_segment_counts_the_buyers_of_its_products_since_a_time() {
        let b = Behavior::from_events(&[
            buy("u1", "o1", "candle", "2011-01-01T10:00"),
            buy("u2", "o2", "candle", "2011-11-01T10:00"),
            buy("u3", "o3", "mug", "2011-11-02T10:00"),
        ]);
        let candles = std::collections::HashSet::from(["candle"]);
        assert_eq!(b.buyers_since(&candles, ""), 2);
        assert_eq!(b.buyers_since(&candles, "2011-09-01"), 1, "only the recent buyer");
        assert_eq!(b.latest_purchase().as_deref(), Some("2011-11-02T10:00"));
        b.add_purchases(&[buy("u1", "o4", "candle", "2011-12-01T10:00")]);
        assert_eq!(b.buyers_since(&candles, "2011-09-01"), 2, "a purchase while serving counts at once");
        assert_eq!(b.latest_purchase().as_deref(), Some("2011-12-01T10:00"));
    }

    #[test]
    fn a_purchase_joins_the_history_at_once_and_the_tables_at_the_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = [buy("u1", "o1", "a", "2011-01-01T10:00"), buy("u1", "o1", "b", "2011-01-01T10:00")];
        store.put_events(first.iter().map(|e| (e, e.product.as_str()))).unwrap();
        let live = Live::load(&store).unwrap();
        assert_eq!(live.get().popularity("a"), 1);
        let more = [buy("u1", "o2", "c", "2011-05-01T10:00"), buy("u2", "o3", "a", "2011-05-02T10:00")];
        store.put_events(more.iter().map(|e| (e, e.product.as_str()))).unwrap();
        live.recorded(&more);
        let h = live.get().history("u1");
        assert_eq!(h[0].product, "c", "the newest purchase leads the history at once");
        assert_eq!(live.get().history("u2")[0].product, "a");
        assert_eq!(live.get().popularity("a"), 1, "popularity waits for the rebuild");
        assert!(!live.rebuild_if_changed(&store).unwrap(), "not before REBUILD_EVERY has passed");
        live.imported();
        assert!(live.rebuild_if_changed(&store).unwrap());
        assert_eq!(live.get().popularity("a"), 2);
        assert!(!live.rebuild_if_changed(&store).unwrap(), "nothing new arrived");
    }

    #[test]
    fn the_tables_saved_at_a_stop_are_served_at_the_next_start_while_the_store_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = [
            buy("u1", "o1", "a", "2011-01-01T10:00"),
            buy("u1", "o1", "b", "2011-01-01T10:00"),
            buy("u2", "o2", "a", "2011-02-01T10:00"),
            buy("u2", "o2", "b", "2011-02-01T10:00"),
        ];
        store.put_events(first.iter().map(|e| (e, e.product.as_str()))).unwrap();
        let open =
            |store: &Store| Live::open(dir.path(), store.stamp().unwrap(), &derived::Events::new(store)).unwrap();
        let built = open(&store);
        assert!(derived::path(dir.path(), SAVED.name).is_file(), "built from the events and saved");
        let loaded = open(&store);
        let (a, b) = (built.get(), loaded.get());
        assert_eq!((a.popular(), a.similarity("a", "b")), (b.popular(), b.similarity("a", "b")));
        assert_eq!(a.history("u2"), b.history("u2"));
        assert!(!loaded.rebuild_if_changed(&store).unwrap(), "nothing pending");

        // a purchase while serving, then a stop: the next start serves it at once and folds it in at its first check
        let more = [buy("u3", "o3", "a", "2011-03-01T10:00")];
        store.put_events(more.iter().map(|e| (e, e.product.as_str()))).unwrap();
        loaded.recorded(&more);
        loaded.save(&store).unwrap();
        let next = open(&store);
        assert_eq!(next.get().history("u3")[0].product, "a");
        assert_eq!(next.get().popularity("a"), 2, "served as the stopped server served it");
        assert!(next.rebuild_if_changed(&store).unwrap(), "pending changes are folded in at the first check");
        assert_eq!(next.get().popularity("a"), 3);

        // a change the saved copy never saw (another process imported): built from the events again
        next.save(&store).unwrap();
        let later = [buy("u4", "o4", "b", "2011-04-01T10:00")];
        store.put_events(later.iter().map(|e| (e, e.product.as_str()))).unwrap();
        let again = open(&store);
        assert_eq!(again.get().popularity("b"), 3, "the stale copy was not used");
        assert_eq!(again.get().history("u4")[0].product, "b");
    }
}
