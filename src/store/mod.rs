//! The sled store: one tree per kind of record, JSON values, keys that sort the way they are read.
//!
//! The trees are private: every domain reads and writes through the methods here, grouped by domain
//! (`events.rs`: what shoppers did; `experiments.rs`: experiments and exposures; `tables.rs`: products, orders, vectors, settings, chat sessions, staff, keys,
//! saved copy). This is the one place that knows sled.
mod events;
mod experiments;
mod records;
mod tables;

pub use records::{Event, EventKind, Order, OrderLine, OrderRequest, OrderStatus, StatusChange};
use serde::{de::DeserializeOwned, Serialize};
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

/// One stored record as it is on disk: (tree name, key, value).
pub type Raw = (String, Vec<u8>, Vec<u8>);

/// The state of the data that derived tables (behaviour, the recommender's served tables) are built from: the
/// events, the products and their vectors. `store` is a random id made when the store was created; `generation`
/// is raised before every change to that data. Derived tables saved with a stamp are as fresh as the store while
/// the store's stamp is still equal to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub store: u64,
    pub generation: u64,
}

const STORE_ID_KEY: &str = "store.id";
const GENERATION_KEY: &str = "data.generation";

/// Handles to the trees. Cloning is shallow.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    products: sled::Tree,
    events: sled::Tree,
    orders: sled::Tree,
    sessions: sled::Tree,
    meta: sled::Tree,
    /// Product vectors (f32, little-endian) by product id; `meta["vectors.model"]` names the model.
    vectors: sled::Tree,
    /// Client event ids already accepted (idempotency of `POST /api/events`).
    event_ids: sled::Tree,
    /// Staff accounts by name, and signed-in staff sessions by token.
    staff: sled::Tree,
    staff_sessions: sled::Tree,
    /// Saved marketing copy variants by id.
    copy: sled::Tree,
    /// API keys by the SHA-256 of the key (`keys`).
    api_keys: sled::Tree,
    /// Experiments by name, and each unit's first exposure (`experiment \0 unit`).
    experiments: sled::Tree,
    exposures: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store under `dir`. sled releases its file lock from background threads a moment after
    /// the last handle is dropped, so a store closed just before (by this process or one that just exited) is waited
    /// for, up to five seconds; a store held longer is reported as in use.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_waiting(dir, std::time::Duration::from_secs(5))
    }

    /// Whether another process (a running server) holds the store under `dir`.
    pub fn in_use(dir: &Path) -> bool {
        dir.join("sled").exists()
            && matches!(Self::open_waiting(dir, std::time::Duration::from_millis(300)), Err(StoreError::Locked(_)))
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
        let meta = db.open_tree("meta")?;
        if meta.get(STORE_ID_KEY)?.is_none() {
            let id = uuid::Uuid::new_v4().as_u64_pair().0;
            meta.compare_and_swap(STORE_ID_KEY, None as Option<&[u8]>, Some(&id.to_be_bytes()[..]))?.ok();
        }
        Ok(Self {
            products: db.open_tree("products")?,
            events: db.open_tree("events")?,
            orders: db.open_tree("orders")?,
            sessions: db.open_tree("sessions")?,
            meta,
            vectors: db.open_tree("vectors")?,
            event_ids: db.open_tree("event_ids")?,
            staff: db.open_tree("staff")?,
            staff_sessions: db.open_tree("staff_sessions")?,
            copy: db.open_tree("copy")?,
            api_keys: db.open_tree("api_keys")?,
            experiments: db.open_tree("experiments")?,
            exposures: db.open_tree("exposures")?,
            db,
        })
    }

    /// Every record of every tree (for checks that nothing of a deleted shopper is left).
    pub fn dump(&self) -> Result<Vec<Raw>, StoreError> {
        let mut out = vec![];
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let name = String::from_utf8_lossy(&name).into_owned();
            for kv in tree.iter() {
                let (k, v) = kv?;
                out.push((name.clone(), k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// The state of the events, products and vectors now (see [`Stamp`]).
    pub fn stamp(&self) -> Result<Stamp, StoreError> {
        let number = |key: &str| -> Result<u64, StoreError> {
            Ok(self.meta.get(key)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map_or(0, u64::from_be_bytes))
        };
        Ok(Stamp { store: number(STORE_ID_KEY)?, generation: number(GENERATION_KEY)? })
    }

    /// Runs a change to events, products or vectors between two raises of the generation: before, so a change
    /// that reaches the disk (even half of it, in a crash) comes with a new stamp; after, so tables built while it
    /// was being written see the stamp move by the end of their build (and are not saved as fresh).
    fn changing<T>(&self, change: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.raise_generation()?;
        let out = change();
        self.raise_generation()?;
        out
    }

    fn raise_generation(&self) -> Result<(), StoreError> {
        self.meta.update_and_fetch(GENERATION_KEY, |old| {
            let n = old.and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, u64::from_be_bytes);
            Some(n.wrapping_add(1).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn put<T: Serialize + ?Sized>(tree: &sled::Tree, key: impl AsRef<[u8]>, value: &T) -> Result<(), StoreError> {
    tree.insert(key.as_ref(), serde_json::to_vec(value)?)?;
    Ok(())
}

fn get<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<T>, StoreError> {
    match tree.get(key.as_ref())? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}

/// Every value of a tree (or of one key prefix), in key order.
fn scan<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix).values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
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
