//! What shoppers did: events keyed by user, time and source key, so one user's events are one prefix scan and
//! re-importing the same source overwrites instead of duplicating.
use super::{put, scan, Event, Store, StoreError};

/// The key prefix of one user's events.
fn user_prefix(user: &str) -> Vec<u8> {
    let mut prefix = user.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// The trailing number of a source key ("online-retail:123" → 123), so rows of one invoice keep file order.
fn row_of(key: &[u8]) -> u64 {
    let s = key.rsplit(|b| *b == 0).next().unwrap_or_default();
    let digits: Vec<u8> = s.iter().rev().take_while(|b| b.is_ascii_digit()).copied().collect();
    digits.iter().rev().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
}

/// How many events were removed, and how many client event ids with them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub events: usize,
    pub event_ids: usize,
}

impl Store {
    /// Key of an event: user, time, then a source key that makes re-imports overwrite instead of duplicate.
    pub fn event_key(e: &Event, source_key: &str) -> Vec<u8> {
        format!("{}\u{0}{}\u{0}{}", e.user, e.timestamp, source_key).into_bytes()
    }

    /// Writes imported events, each under its source key (not flushed: the importer flushes once at the end).
    pub fn put_events<'a>(&self, events: impl IntoIterator<Item = (&'a Event, &'a str)>) -> Result<(), StoreError> {
        self.changing(|| {
            for (e, key) in events {
                put(&self.events, Self::event_key(e, key), e)?;
            }
            Ok(())
        })
    }

    /// One user's events, oldest first.
    pub fn user_events(&self, user: &str) -> Result<Vec<Event>, StoreError> {
        scan(&self.events, &user_prefix(user))
    }

    /// Every stored event, in key order.
    pub fn all_events(&self) -> Result<Vec<Event>, StoreError> {
        scan(&self.events, b"")
    }

    /// Every stored event with the row number of its source key, in key order.
    pub fn events_with_rows(&self) -> Result<Vec<(Event, u64)>, StoreError> {
        let mut events = vec![];
        for kv in self.events.iter() {
            let (k, v) = kv?;
            events.push((serde_json::from_slice(&v)?, row_of(&k)));
        }
        Ok(events)
    }

    /// The events that carry a `source` (what led to them), read without parsing the many that carry none.
    pub fn sourced_events(&self) -> Result<Vec<Event>, StoreError> {
        let mut out = vec![];
        for v in self.events.iter().values() {
            let v = v?;
            if v.windows(9).any(|w| w == b"\"source\":") {
                let e: Event = serde_json::from_slice(&v)?;
                if e.source.is_some() {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Records a client event once: a second event with the same id is a duplicate and changes nothing.
    /// Returns true when it was new. The write is flushed before returning, so an acknowledged event survives.
    pub fn record_event(&self, event_id: &str, e: &Event) -> Result<bool, StoreError> {
        Ok(self.record_events(&[(event_id.to_string(), e.clone())])?[0])
    }

    /// Records client events once each (by id), then flushes once. Returns, per event, whether it was new (false:
    /// a duplicate). Each event and its
    /// id are written in one transaction: a crash can never leave the id recorded without its event (which would
    /// make the client's retry count as a duplicate and lose the event).
    pub fn record_events(&self, events: &[(String, Event)]) -> Result<Vec<bool>, StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
        let fresh_ones = self.changing(|| {
            let mut fresh_ones = Vec::with_capacity(events.len());
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
                fresh_ones.push(fresh);
            }
            Ok(fresh_ones)
        })?;
        if fresh_ones.contains(&true) {
            self.db.flush()?;
        }
        Ok(fresh_ones)
    }

    /// Moves every event of `from` to `to` (an anonymous session identified as a customer). Returns how many.
    pub fn merge_user_events(&self, from: &str, to: &str) -> Result<usize, StoreError> {
        let prefix = user_prefix(from);
        let n = self.changing(|| {
            let mut n = 0;
            for kv in self.events.scan_prefix(&prefix) {
                let (k, v) = kv?;
                let mut e: Event = serde_json::from_slice(&v)?;
                e.user = to.to_string();
                let source = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
                put(&self.events, Self::event_key(&e, &format!("merged:{from}:{source}")), &e)?;
                self.events.remove(k)?;
                n += 1;
            }
            Ok(n)
        })?;
        self.db.flush()?;
        Ok(n)
    }

    /// Removes every event of these users and the client event ids that pointed at them (not flushed).
    pub fn remove_user_events(&self, users: &[String]) -> Result<Removed, StoreError> {
        self.changing(|| {
            let mut out = Removed::default();
            let prefixes: Vec<Vec<u8>> = users.iter().map(|u| user_prefix(u)).collect();
            for p in &prefixes {
                for k in self.events.scan_prefix(p).keys() {
                    self.events.remove(k?)?;
                    out.events += 1;
                }
            }
            for kv in self.event_ids.iter() {
                let (k, v) = kv?;
                if prefixes.iter().any(|p| v.starts_with(p)) {
                    self.event_ids.remove(k)?;
                    out.event_ids += 1;
                }
            }
            Ok(out)
        })
    }
}
