//! The sled store: one tree per kind of record, JSON values, keys that sort the way they are read.
use crate::catalog::Product;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("store: {0} is in use by another process (is another `aisle` running on this data directory?)")]
    Locked(String),
}

/// What a shopper did. Import brings purchases; the widget and the shop send the rest.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    Click,
    AddToCart,
    Purchase,
    /// A search in the shop (`query` holds the words; `product` is empty).
    Search,
    /// The chat showed this product as a card.
    #[serde(rename = "chat_recommendation_shown")]
    RecommendationShown,
    /// The shopper opened a card the chat showed.
    #[serde(rename = "chat_recommendation_clicked")]
    RecommendationClicked,
}

impl EventKind {
    /// Whether the event says the shopper was interested in its product (what the recommender learns from).
    pub fn shows_interest(self) -> bool {
        !matches!(self, EventKind::Search | EventKind::RecommendationShown)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub user: String,
    pub product: String,
    pub kind: EventKind,
    /// ISO-8601 time, e.g. `2010-12-01T08:26:00`.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default = "one")]
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// The words of a `search` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// What led here, e.g. a saved marketing copy variant's id (`cv-…`), for attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Event {
    /// One unit, no order, price or query: what most events are.
    pub fn new(user: &str, product: &str, kind: EventKind, timestamp: &str) -> Self {
        Self {
            user: user.into(),
            product: product.into(),
            kind,
            timestamp: timestamp.into(),
            order: None,
            quantity: 1,
            price: None,
            query: None,
            source: None,
        }
    }
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderLine {
    pub product: String,
    pub title: String,
    pub quantity: i64,
    pub price: Option<f64>,
}

/// An order (an invoice in the demo shop), derived from purchase events that carry an order id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: String,
    pub customer: String,
    pub timestamp: String,
    pub lines: Vec<OrderLine>,
}

/// Handles to the trees. Cloning is shallow.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    pub products: sled::Tree,
    pub events: sled::Tree,
    pub orders: sled::Tree,
    pub sessions: sled::Tree,
    pub meta: sled::Tree,
    /// Product vectors (f32, little-endian) by product id; `meta["vectors.model"]` names the model.
    pub vectors: sled::Tree,
    /// Client event ids already accepted (idempotency of `POST /api/events`).
    pub event_ids: sled::Tree,
    /// Staff accounts by name, and signed-in staff sessions by token.
    pub staff: sled::Tree,
    pub staff_sessions: sled::Tree,
    /// Saved marketing copy variants by id.
    pub copy: sled::Tree,
    /// API keys by the SHA-256 of the key (`keys`).
    pub api_keys: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store under `dir`. sled releases its file lock from background threads a moment after
    /// the last handle is dropped, so a store closed just before (by this process or one that just exited) is waited
    /// for, up to five seconds; a store held longer is reported as in use.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_waiting(dir, std::time::Duration::from_secs(5))
    }

    fn open_waiting(dir: &Path, wait: std::time::Duration) -> Result<Self, StoreError> {
        let path = dir.join("sled");
        let deadline = std::time::Instant::now() + wait;
        let db = loop {
            // sled's default page cache is 1 GiB; a shop's working set is far smaller
            match sled::Config::new().path(&path).cache_capacity(64 << 20).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked(path.display().to_string()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Self {
            products: db.open_tree("products")?,
            events: db.open_tree("events")?,
            orders: db.open_tree("orders")?,
            sessions: db.open_tree("sessions")?,
            meta: db.open_tree("meta")?,
            vectors: db.open_tree("vectors")?,
            event_ids: db.open_tree("event_ids")?,
            staff: db.open_tree("staff")?,
            staff_sessions: db.open_tree("staff_sessions")?,
            copy: db.open_tree("copy")?,
            api_keys: db.open_tree("api_keys")?,
            db,
        })
    }

    /// Every tree in the database, by name (for checks that nothing of a deleted shopper is left anywhere).
    pub fn trees(&self) -> Result<Vec<(String, sled::Tree)>, StoreError> {
        let mut out = vec![];
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            out.push((String::from_utf8_lossy(&name).into_owned(), tree));
        }
        Ok(out)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn put<T: Serialize>(tree: &sled::Tree, key: impl AsRef<[u8]>, value: &T) -> Result<(), StoreError> {
        tree.insert(key.as_ref(), serde_json::to_vec(value)?)?;
        Ok(())
    }

    pub fn get<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<T>, StoreError> {
        match tree.get(key.as_ref())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Every value of a tree (or of one key prefix), in key order.
    pub fn scan<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
        tree.scan_prefix(prefix).values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
    }

    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        Self::scan(&self.products, b"")
    }

    /// Key of an event: user, time, then a source key that makes re-imports overwrite instead of duplicate.
    pub fn event_key(e: &Event, source_key: &str) -> Vec<u8> {
        format!("{}\u{0}{}\u{0}{}", e.user, e.timestamp, source_key).into_bytes()
    }

    /// One user's events, oldest first.
    pub fn user_events(&self, user: &str) -> Result<Vec<Event>, StoreError> {
        let mut prefix = user.as_bytes().to_vec();
        prefix.push(0);
        Self::scan(&self.events, &prefix)
    }

    /// Records a client event once: a second event with the same id is a duplicate and changes nothing.
    /// Returns true when it was new. The write is flushed before returning, so an acknowledged event survives.
    pub fn record_event(&self, event_id: &str, e: &Event) -> Result<bool, StoreError> {
        let (fresh, _) = self.record_events(&[(event_id.to_string(), e.clone())])?;
        Ok(fresh == 1)
    }

    /// Records client events once each (by id), then flushes once. Returns (new, duplicates). Each event and its
    /// id are written in one transaction: a crash can never leave the id recorded without its event (which would
    /// make the client's retry count as a duplicate and lose the event).
    pub fn record_events(&self, events: &[(String, Event)]) -> Result<(usize, usize), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
        let mut counts = (0, 0);
        for (event_id, e) in events {
            let key = Self::event_key(e, &format!("client:{event_id}"));
            let value = serde_json::to_vec(e)?;
            let fresh = (&self.event_ids, &self.events)
                .transaction(|(ids, evs)| {
                    if ids.get(event_id.as_bytes())?.is_some() {
                        return Ok(false);
                    }
                    ids.insert(event_id.as_bytes(), key.as_slice())?;
                    evs.insert(key.as_slice(), value.as_slice())?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(true)
                })
                .map_err(|e| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => StoreError::Sled(e),
                })?;
            if fresh {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
        if counts.0 > 0 {
            self.db.flush()?;
        }
        Ok(counts)
    }

    /// Moves every event of `from` to `to` (an anonymous session identified as a customer). Returns how many.
    pub fn merge_user_events(&self, from: &str, to: &str) -> Result<usize, StoreError> {
        let mut prefix = from.as_bytes().to_vec();
        prefix.push(0);
        let mut n = 0;
        for kv in self.events.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let mut e: Event = serde_json::from_slice(&v)?;
            e.user = to.to_string();
            let source = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
            Self::put(&self.events, Self::event_key(&e, &format!("merged:{from}:{source}")), &e)?;
            self.events.remove(k)?;
            n += 1;
        }
        self.db.flush()?;
        Ok(n)
    }

    pub fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        Self::get(&self.orders, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_client_event_twice_is_stored_once_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let e = Event {
            user: "17850".into(),
            product: "85123A".into(),
            kind: EventKind::Click,
            timestamp: "2026-11-28T12:00:00".into(),
            order: None,
            quantity: 1,
            price: None,
            query: None,
            source: None,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.record_event("ev-1", &e).unwrap());
            assert!(!store.record_event("ev-1", &e).unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.user_events("17850").unwrap(), vec![e]);
    }

    #[test]
    fn a_store_held_open_is_reported_in_use_and_opens_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = Store::open(dir.path()).unwrap();
        let err = Store::open_waiting(dir.path(), std::time::Duration::from_millis(200)).err().expect("locked");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(err.to_string().contains("in use by another process"), "{err}");
        drop(held);
        // released a moment after the drop, from sled's own threads: open waits for it
        Store::open(dir.path()).unwrap();
    }
}
