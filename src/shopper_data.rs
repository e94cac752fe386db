//! A shopper's data on request: export everything Aisle holds about them (JSON), or delete it: their events
//! (and those of their anonymous chat sessions), orders, sessions and transcripts (store and index), and the
//! recommender's memory of them (model files rewritten, served tables rebuilt). Profiles are computed from events,
//! so nothing of them is left either.
use crate::behavior::Behavior;
use crate::reco::serve::Recommender;
use crate::session::{Session, SessionId, Sessions};
use crate::store::{Event, Order, Store, StoreError};
use serde::Serialize;

/// What a deletion removed.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Deleted {
    pub events: usize,
    pub event_ids: usize,
    pub orders: usize,
    pub sessions: usize,
    /// Recommender model files that knew the shopper and were rewritten without them.
    pub model_files: usize,
}

#[derive(Debug, Serialize)]
pub struct Export {
    pub user: String,
    pub exported_at: String,
    pub events: Vec<Event>,
    pub orders: Vec<Order>,
    pub sessions: Vec<Session>,
    pub profile: crate::reco::profile::Profile,
}

/// A user id as accepted by the store: letters, digits, `-`, `_`, `:` and `.`, at most 64 characters.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= 64 && u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

fn sessions_of(sessions: &Sessions, user: &str) -> Result<Vec<Session>, StoreError> {
    Ok(sessions.list()?.into_iter().filter(|s| s.customer.as_deref() == Some(user) || s.event_user() == user).collect())
}

fn orders_of(store: &Store, user: &str) -> Result<Vec<Order>, StoreError> {
    let all: Vec<Order> = Store::scan(&store.orders, b"")?;
    Ok(all.into_iter().filter(|o| o.customer == user).collect())
}

pub fn export(
    store: &Store,
    sessions: &Sessions,
    catalog: &crate::catalog::Catalog,
    user: &str,
) -> Result<Export, StoreError> {
    let list = sessions_of(sessions, user)?;
    let mut events = store.user_events(user)?;
    for s in list.iter().filter(|s| s.customer.is_none()) {
        events.extend(store.user_events(&s.event_user())?);
    }
    let profile = crate::reco::profile::build(user, &events, catalog);
    Ok(Export {
        user: user.into(),
        exported_at: crate::prompts::datetime_iso(crate::session::now()),
        events,
        orders: orders_of(store, user)?,
        sessions: list,
        profile,
    })
}

/// Deletes everything held about `user`. `behavior` is the running server's in-memory behaviour, if any.
pub fn delete(
    store: &Store,
    sessions: &Sessions,
    recommender: Option<&Recommender>,
    behavior: Option<&Behavior>,
    user: &str,
) -> anyhow::Result<Deleted> {
    let mut out = Deleted::default();
    let list = sessions_of(sessions, user)?;
    let mut users = vec![user.to_string()];
    users.extend(list.iter().map(Session::event_user).filter(|u| u != user));
    let prefixes: Vec<Vec<u8>> = users
        .iter()
        .map(|u| {
            let mut p = u.as_bytes().to_vec();
            p.push(0);
            p
        })
        .collect();
    for p in &prefixes {
        for k in store.events.scan_prefix(p).keys() {
            store.events.remove(k?)?;
            out.events += 1;
        }
    }
    for kv in store.event_ids.iter() {
        let (k, v) = kv?;
        if prefixes.iter().any(|p| v.starts_with(p)) {
            store.event_ids.remove(k)?;
            out.event_ids += 1;
        }
    }
    for o in orders_of(store, user)? {
        store.orders.remove(o.id.as_bytes())?;
        out.orders += 1;
    }
    let ids: Vec<SessionId> = list.iter().map(|s| s.id.clone()).collect();
    out.sessions = sessions.delete(&ids)?;
    store.flush()?;
    if let Some(b) = behavior {
        for u in &users {
            b.forget(u);
        }
    }
    if let Some(r) = recommender {
        out.model_files = r.forget(store, &users, out.events > 0)?;
    }
    tracing::info!(deleted = ?out, "a shopper's data was deleted");
    Ok(out)
}
