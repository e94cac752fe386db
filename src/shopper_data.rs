//! A shopper's data on request: export everything Aisle holds about them (JSON), or delete it: their events
//! (and those of their anonymous chat sessions), orders, sessions and transcripts (store and index), experiment
//! exposures, and the
//! recommender's memory of them (model files rewritten, served tables rebuilt). Profiles are computed from events,
//! so nothing of them is left either.
use crate::behavior::Live;
use crate::reco::serve::Recommender;
use crate::session::{Session, SessionId, Sessions};
use crate::store::{Event, Order, Store, StoreError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reco(#[from] crate::reco::RecoError),
    #[error("saved tables: {0}")]
    Io(#[from] std::io::Error),
}

/// What a deletion removed.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Deleted {
    pub events: usize,
    pub event_ids: usize,
    pub orders: usize,
    pub sessions: usize,
    /// Experiment exposures (their outcomes are the events above).
    pub exposures: usize,
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
    /// The experiments the shopper took part in, and the variant each showed them.
    pub exposures: Vec<serde_json::Value>,
    pub profile: crate::reco::profile::Profile,
}

fn sessions_of(sessions: &Sessions, user: &str) -> Result<Vec<Session>, StoreError> {
    Ok(sessions.list()?.into_iter().filter(|s| s.customer.as_deref() == Some(user) || s.event_user() == user).collect())
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
    let mut users = vec![user.to_string()];
    users.extend(list.iter().map(Session::event_user).filter(|u| u != user));
    Ok(Export {
        exposures: store.exposures_of(&users)?,
        user: user.into(),
        exported_at: crate::prompts::datetime_iso(crate::session::now()),
        events,
        orders: store.orders_of(user)?,
        sessions: list,
        profile,
    })
}

/// Deletes everything held about `user`. `behavior` is the running server's in-memory behaviour, if any;
/// `data_dir` holds the saved derived tables, which may hold them too.
pub fn delete(
    data_dir: &std::path::Path,
    store: &Store,
    sessions: &Sessions,
    recommender: Option<&Recommender>,
    behavior: Option<&Live>,
    user: &str,
) -> Result<Deleted, DataError> {
    let mut out = Deleted::default();
    let list = sessions_of(sessions, user)?;
    let mut users = vec![user.to_string()];
    users.extend(list.iter().map(Session::event_user).filter(|u| u != user));
    let removed = store.remove_user_events(&users)?;
    (out.events, out.event_ids) = (removed.events, removed.event_ids);
    let orders = store.orders_of(user)?;
    out.orders = store.remove_orders(&orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>())?;
    let ids: Vec<SessionId> = list.iter().map(|s| s.id.clone()).collect();
    out.sessions = sessions.delete(&ids)?;
    users.extend(ids.iter().map(|id| id.as_str().to_string()));
    out.exposures = store.remove_user_exposures(&users)?;
    store.flush()?;
    if let Some(b) = behavior {
        for u in &users {
            b.forget(u);
        }
    }
    // after forgetting (a rebuild that read the store before the deletion may have saved them) and before the
    // recommender's rebuild below saves its tables afresh
    crate::derived::remove_all(data_dir)?;
    if let Some(r) = recommender {
        out.model_files = r.forget(store, &users, out.events > 0)?;
    }
    tracing::info!(deleted = ?out, "a shopper's data was deleted");
    Ok(out)
}
