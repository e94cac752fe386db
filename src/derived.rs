//! Derived tables kept on disk between starts: the behaviour tables and the recommender's served tables, so that
//! a start does not read and fold every event again (on the demo shop that was 10 of the 11 seconds to listening).
//!
//! A saved copy carries the store's [`Stamp`] from just before it was built. It is used only while the store's
//! stamp is still equal, that is while no event, product or vector has changed since; any change (an import by
//! another process, a shopper deleted, a crash after new events) makes it stale and the tables are built from the
//! events again, then saved. A copy saved by a server at shutdown carries `pending` when that server had changes it
//! had not folded in yet: the start that loads it serves the copy at once and folds them in at its first check.
//! A checksum guards the payload: a damaged file is rebuilt, never served.
use crate::store::{Event, Stamp, Store, StoreError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"AISLEDRV";

/// Where the saved tables live: `DATA_DIR/derived/<kind>.bin`.
pub fn path(data_dir: &Path, kind: &str) -> PathBuf {
    data_dir.join("derived").join(format!("{kind}.bin"))
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    /// The layout of the payload; a copy of another layout is rebuilt.
    format: u32,
    stamp: Stamp,
    pending: bool,
    sha256: [u8; 32],
}

/// What one kind of saved tables is: its name and payload layout.
pub struct Kind {
    pub name: &'static str,
    pub format: u32,
}

/// A saved copy that is as fresh as the store.
pub struct Loaded<T> {
    pub value: T,
    /// Changes had not been folded in when it was saved: rebuild soon.
    pub pending: bool,
}

/// Reads the saved copy of `kind` when it is as fresh as `stamp`; None (with the reason logged) otherwise.
pub fn read<T: DeserializeOwned>(data_dir: &Path, kind: &Kind, stamp: Stamp) -> Option<Loaded<T>> {
    let file = path(data_dir, kind.name);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "saved tables unreadable: building them from the events");
            return None;
        }
    };
    match decode(&bytes, kind, stamp) {
        Ok(loaded) => Some(loaded),
        Err(why) => {
            tracing::info!(tables = kind.name, why, "building tables from the events");
            None
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8], kind: &Kind, stamp: Stamp) -> Result<Loaded<T>, &'static str> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or("the saved file is not Aisle's")?;
    let (header, payload) = postcard::take_from_bytes::<Header>(rest).map_err(|_| "the saved file is damaged")?;
    if header.kind != kind.name || header.format != kind.format {
        return Err("the saved tables have another layout");
    }
    if header.stamp != stamp {
        return Err("the store changed since the tables were saved");
    }
    if Sha256::digest(payload).as_slice() != header.sha256 {
        return Err("the saved file is damaged");
    }
    let value = postcard::from_bytes(payload).map_err(|_| "the saved file is damaged")?;
    Ok(Loaded { value, pending: header.pending })
}

/// Saves `value` as the copy of `kind` built at `stamp` (written beside, then renamed over the old copy).
pub fn write<T: Serialize>(
    data_dir: &Path,
    kind: &Kind,
    stamp: Stamp,
    pending: bool,
    value: &T,
) -> std::io::Result<()> {
    let payload = postcard::to_allocvec(value).map_err(std::io::Error::other)?;
    let header = Header {
        kind: kind.name.to_string(),
        format: kind.format,
        stamp,
        pending,
        sha256: Sha256::digest(&payload).into(),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(&header).map_err(std::io::Error::other)?);
    bytes.extend(payload);
    let file = path(data_dir, kind.name);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("bin.tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &file)
}

/// Saves, logging instead of failing: a copy that could not be written only means a slower next start.
pub fn save<T: Serialize>(data_dir: &Path, kind: &Kind, stamp: Stamp, pending: bool, value: &T) {
    if let Err(e) = write(data_dir, kind, stamp, pending, value) {
        tracing::warn!(tables = kind.name, error = %e, "derived tables not saved: the next start rebuilds them");
    }
}

/// The saved copy of `kind` when it is as fresh as `stamp`, else what `build` makes, saved with `stamp`. The bool:
/// the copy was saved with changes pending.
pub fn load_or_build<T: Serialize + DeserializeOwned, E>(
    data_dir: &Path,
    kind: &Kind,
    stamp: Stamp,
    build: impl FnOnce() -> Result<T, E>,
) -> Result<(T, bool), E> {
    if let Some(saved) = read(data_dir, kind, stamp) {
        return Ok((saved.value, saved.pending));
    }
    let value = build()?;
    save(data_dir, kind, stamp, false, &value);
    Ok((value, false))
}

/// Saves tables built from the store as it was at `stamp`, unless the store changed while they were built (a
/// change during the build may be half in them; the next build saves instead).
pub fn save_built<T: Serialize>(
    data_dir: &Path,
    kind: &Kind,
    store: &Store,
    stamp: Stamp,
    value: &T,
) -> Result<(), StoreError> {
    if store.stamp()? == stamp {
        save(data_dir, kind, stamp, false, value);
    }
    Ok(())
}

/// Removes every saved copy (a shopper's data was deleted and a copy may still hold it; the running server saves
/// fresh ones at its next rebuild or stop, else the next start rebuilds them).
pub fn remove_all(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(data_dir.join("derived")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The store's events read at most once, for every table that has to be built from them at start.
pub struct Events<'a> {
    store: &'a Store,
    read: OnceCell<Vec<(Event, u64)>>,
}

impl<'a> Events<'a> {
    pub fn new(store: &'a Store) -> Self {
        Events { store, read: OnceCell::new() }
    }

    /// Every stored event with its source row number (read on the first call).
    pub fn get(&self) -> Result<&[(Event, u64)], StoreError> {
        if let Some(e) = self.read.get() {
            return Ok(e);
        }
        let events = self.store.events_with_rows()?;
        Ok(self.read.get_or_init(|| events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: Kind = Kind { name: "test", format: 1 };

    fn stamp(generation: u64) -> Stamp {
        Stamp { store: 7, generation }
    }

    #[test]
    fn a_copy_is_read_back_only_while_the_store_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read::<Vec<u32>>(dir.path(), &KIND, stamp(3)).is_none(), "nothing saved yet");
        write(dir.path(), &KIND, stamp(3), true, &vec![1u32, 2, 3]).unwrap();
        let back = read::<Vec<u32>>(dir.path(), &KIND, stamp(3)).unwrap();
        assert_eq!(back.value, vec![1, 2, 3]);
        assert!(back.pending);
        assert!(read::<Vec<u32>>(dir.path(), &KIND, stamp(4)).is_none(), "the store changed since");
        let other_store = Stamp { store: 8, generation: 3 };
        assert!(read::<Vec<u32>>(dir.path(), &KIND, other_store).is_none(), "another store's copy");
        let newer_layout = Kind { name: "test", format: 2 };
        assert!(read::<Vec<u32>>(dir.path(), &newer_layout, stamp(3)).is_none());
    }

    #[test]
    fn a_damaged_copy_is_never_used() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &KIND, stamp(1), false, &vec![10u32; 100]).unwrap();
        let file = path(dir.path(), KIND.name);
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&file, &bytes).unwrap();
        assert!(read::<Vec<u32>>(dir.path(), &KIND, stamp(1)).is_none(), "a flipped byte fails the checksum");
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        assert!(read::<Vec<u32>>(dir.path(), &KIND, stamp(1)).is_none(), "a cut file");
        std::fs::write(&file, b"hello").unwrap();
        assert!(read::<Vec<u32>>(dir.path(), &KIND, stamp(1)).is_none(), "not ours");
        remove_all(dir.path()).unwrap();
        remove_all(dir.path()).unwrap();
        assert!(!file.exists());
    }

    #[test]
    fn every_change_to_the_data_the_tables_come_from_raises_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut last = store.stamp().unwrap();
        assert_ne!(last.store, 0, "the store has an id of its own");
        let mut changed = |what: &str, store: &Store| {
            let now = store.stamp().unwrap();
            assert!(now.generation > last.generation, "{what} raises the generation");
            assert_eq!(now.store, last.store);
            last = now;
        };
        let e = Event {
            user: "u1".into(),
            product: "p1".into(),
            kind: crate::store::EventKind::View,
            timestamp: "2011-01-01T10:00".into(),
            order: None,
            quantity: 1,
            price: None,
            query: None,
            source: None,
        };
        store.put_events([(&e, "k1")]).unwrap();
        changed("an imported event", &store);
        store.record_events(&[("id1".into(), e.clone())]).unwrap();
        changed("a client event", &store);
        store.merge_user_events("u1", "u2").unwrap();
        changed("merged events", &store);
        store.remove_user_events(&["u2".into()]).unwrap();
        changed("a deleted shopper", &store);
        let p = crate::catalog::Product { id: "p1".into(), title: "Mug".into(), ..Default::default() };
        store.put_products([&p]).unwrap();
        changed("a product", &store);
        store.remove_product("p1").unwrap();
        changed("a removed product", &store);
        store.put_vector("p1", &[1.0, 0.0]).unwrap();
        changed("a vector", &store);
        store.remove_vector("p1").unwrap();
        changed("a removed vector", &store);
        store.reset_vectors("m").unwrap();
        changed("new vectors", &store);
        store.put_setting("x", &1).unwrap();
        assert_eq!(store.stamp().unwrap(), last, "a setting is not data the tables come from");
        let id = last.store;
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.stamp().unwrap(), last, "the stamp survives a restart");
        assert_eq!(store.stamp().unwrap().store, id);
    }
}
