//! Chat sessions and their transcripts, kept in sled so a conversation survives a restart and can be resumed by id.
use crate::chat::{Card, Verdict};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// A session id: a UUID, validated before it touches the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(|u| Self(u.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Shopper,
    Assistant,
}

/// One line of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// Seconds since the Unix epoch.
    pub at: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<Card>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The intent the shopper's message was read as (on the assistant's turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Generation figures (tokens, first-token latency), for staff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub id: SessionId,
    #[serde(default)]
    pub customer: Option<String>,
    pub created: u64,
    pub updated: u64,
    pub turns: Vec<Turn>,
    /// The shopper asked for a person (or complained): the chat waits in the staff queue.
    #[serde(default)]
    pub handoff: bool,
    /// What the conversation has settled (request words, price limits, prices last shown).
    #[serde(default)]
    pub slots: crate::chat::query::Slots,
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Session {
    pub fn start(customer: Option<String>) -> Self {
        let t = now();
        Self {
            id: SessionId::new(),
            customer,
            created: t,
            updated: t,
            turns: vec![],
            handoff: false,
            slots: Default::default(),
        }
    }

    pub fn shopper_said(&mut self, text: &str) {
        self.push(Turn {
            role: Role::Shopper,
            text: text.into(),
            at: now(),
            cards: vec![],
            verdict: None,
            intent: None,
            stats: None,
        });
    }

    pub fn assistant_said(&mut self, r: &crate::chat::TurnResult) {
        let stats = r.stats.as_ref().and_then(|s| serde_json::to_value(s).ok());
        let intent = r.intent.as_ref().map(|p| p.intent.clone());
        self.handoff |= r.handoff;
        self.slots = r.slots(&self.slots);
        let (text, cards, verdict) = (r.text.clone(), r.cards.clone(), Some(r.verdict.clone()));
        self.push(Turn { role: Role::Assistant, text, at: now(), cards, verdict, intent, stats });
    }

    fn push(&mut self, t: Turn) {
        self.updated = t.at;
        self.turns.push(t);
    }
}

/// Sessions in the store. Cloning is shallow.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
}

impl Sessions {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn save(&self, s: &Session) -> Result<(), StoreError> {
        Store::put(&self.store.sessions, s.id.as_str(), s)?;
        self.store.sessions.flush()?;
        Ok(())
    }

    pub fn load(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Store::get(&self.store.sessions, id.as_str())
    }

    /// All sessions, most recently active first.
    pub fn list(&self) -> Result<Vec<Session>, StoreError> {
        let mut all: Vec<Session> = Store::scan(&self.store.sessions, b"")?;
        all.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.created.cmp(&a.created)));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_must_be_uuids() {
        assert!(SessionId::parse("../../etc").is_none());
        let id = SessionId::new();
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn a_saved_session_loads_back_after_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Session::start(Some("17850".into()));
        s.shopper_said("hello");
        {
            let sessions = Sessions::new(Store::open(dir.path()).unwrap());
            sessions.save(&s).unwrap();
        }
        let sessions = Sessions::new(Store::open(dir.path()).unwrap());
        assert_eq!(sessions.load(&s.id).unwrap(), Some(s));
    }
}
