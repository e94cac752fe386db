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
    /// A member of staff who took the conversation over.
    Staff,
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
    /// The staff member who wrote a staff turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The tool that answered an assistant turn (search, order, policy, compare...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// How a shopper's message read (the sentiment head's probabilities), for staff: frustrated chats go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood: Option<crate::sentiment::Mood>,
}

impl Turn {
    /// What the shopper's widget is shown of a turn: who, what, when and the cards; never the checker's verdict,
    /// the intent read, the generation figures or the tool (those are for staff).
    pub fn for_shopper(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "role": self.role, "text": self.text, "at": self.at, "cards": self.cards });
        if let Some(a) = &self.author {
            v["author"] = serde_json::json!(a);
        }
        v
    }
}

/// A staff note on one turn of a transcript. The label `bad_answer` flags the turn.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Annotation {
    /// Index of the turn in `turns`.
    pub turn: usize,
    pub author: String,
    pub label: String,
    #[serde(default)]
    pub note: String,
    pub at: u64,
}

pub const FLAG_LABEL: &str = "bad_answer";

/// After this many unhelpful answers in a row the chat is handed to a person.
pub const HANDOFF_AFTER_FAILURES: usize = 2;

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
    /// The staff member answering live instead of the assistant, while they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// Staff dealt with the handoff (took over and handed back, or closed it).
    #[serde(default)]
    pub handoff_closed: bool,
    /// The shopper's rating of the conversation, 1 (bad) to 5 (good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// The language the conversation is in (a code: "en", "zh"): the page's, until the shopper's letters say
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
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
            live: None,
            handoff_closed: false,
            csat: None,
            annotations: vec![],
            lang: None,
        }
    }

    fn plain(role: Role, text: &str) -> Turn {
        Turn {
            role,
            text: text.into(),
            at: now(),
            cards: vec![],
            verdict: None,
            intent: None,
            stats: None,
            author: None,
            tool: None,
            mood: None,
        }
    }

    pub fn shopper_said(&mut self, text: &str) {
        self.push(Self::plain(Role::Shopper, text));
    }

    pub fn staff_said(&mut self, name: &str, text: &str) {
        self.push(Turn { author: Some(name.into()), ..Self::plain(Role::Staff, text) });
    }

    /// In the staff queue: asked for a person, and nobody has taken it over or closed it yet.
    pub fn waiting_for_staff(&self) -> bool {
        self.handoff && !self.handoff_closed && self.live.is_none()
    }

    /// Assistant turns at the end of the conversation that helped nothing: a search that matched no product, an
    /// off-topic answer, or a service question with no policy found.
    pub fn failures_in_a_row(&self) -> usize {
        self.turns
            .iter()
            .rev()
            .filter(|t| t.role != Role::Shopper)
            .take_while(|t| {
                let reason = t.verdict.as_ref().and_then(|v| v.reason.as_deref()).unwrap_or("");
                t.role == Role::Assistant
                    && (matches!(t.tool.as_deref(), Some("off_topic"))
                        || t.tool.as_deref() == Some("search") && t.cards.is_empty()
                        || reason.contains("no policy"))
            })
            .count()
    }

    /// Staff flagged a turn as a bad answer.
    pub fn flagged(&self) -> bool {
        self.annotations.iter().any(|a| a.label == FLAG_LABEL)
    }

    /// The checker rejected at least one generated reply (a template was shown instead). A reply the template
    /// gave because the model was busy is not counted here (see [`Session::busy`]).
    pub fn check_failed(&self) -> bool {
        self.turns.iter().any(|t| t.verdict.as_ref().is_some_and(|v| !v.passed && !v.was_busy()))
    }

    /// At least one reply came from the template because the model's queue was full.
    pub fn busy(&self) -> bool {
        self.turns.iter().any(|t| t.verdict.as_ref().is_some_and(|v| v.was_busy()))
    }

    /// Distinct intents the shopper's messages were read as, in order.
    pub fn intents(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for i in self.turns.iter().filter_map(|t| t.intent.clone()) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// The behaviour-log user this conversation's events are recorded under.
    pub fn event_user(&self) -> String {
        self.customer.clone().unwrap_or_else(|| format!("session:{}", self.id.as_str()))
    }

    pub fn assistant_said(&mut self, r: &crate::chat::TurnResult) {
        let stats = r.stats.as_ref().and_then(|s| serde_json::to_value(s).ok());
        let intent = r.intent.as_ref().map(|p| p.intent.clone());
        if r.handoff {
            // a new request for a person reopens the queue entry
            self.handoff = true;
            self.handoff_closed = false;
        }
        self.slots = r.slots(&self.slots);
        let (text, cards, verdict) = (r.text.clone(), r.cards.clone(), Some(r.verdict.clone()));
        let tool = Some(r.tool.clone());
        self.push(Turn { text, cards, verdict, intent, stats, tool, ..Self::plain(Role::Assistant, "") });
    }

    /// Records the assistant's turn, then applies the handoff rule: answers that helped nothing
    /// [`HANDOFF_AFTER_FAILURES`] times in a row hand the chat to a person, as asking for one does. Returns true when
    /// this turn handed it over by that rule.
    pub fn answered(&mut self, r: &crate::chat::TurnResult) -> bool {
        self.assistant_said(r);
        let stuck = !r.handoff && !self.waiting_for_staff() && self.failures_in_a_row() >= HANDOFF_AFTER_FAILURES;
        if stuck {
            self.handoff = true;
            self.handoff_closed = false;
        }
        stuck
    }

    /// The cards of the last turn as `chat_recommendation_shown` events, each with an id that makes recording it
    /// twice a no-op (what was recommended is behaviour too: for staff, and for later attribution).
    pub fn shown_events(&self, cards: &[Card]) -> Vec<(String, crate::store::Event)> {
        let (user, turn_no, now) = (self.event_user(), self.turns.len(), crate::prompts::datetime_iso(now()));
        let kind = crate::store::EventKind::RecommendationShown;
        cards
            .iter()
            .map(|c| {
                let e = crate::store::Event {
                    price: c.price,
                    // the chat it was shown in, so what it led to is credited to this conversation
                    source: Some(format!("chat:{}", self.id.as_str())),
                    ..crate::store::Event::new(&user, &c.id, kind, &now)
                };
                (format!("shown:{}:{turn_no}:{}", self.id.as_str(), c.id), e)
            })
            .collect()
    }

    fn push(&mut self, t: Turn) {
        self.updated = t.at;
        self.turns.push(t);
    }
}

/// An index that saved sessions are also written to, for full-text search by staff (the transcript index
/// implements it). Defined here so that sessions do not depend on the index.
pub trait SessionIndex: Send + Sync {
    fn upsert(&self, s: &Session) -> Result<(), IndexError>;
    fn remove(&self, id: &str);
    /// Makes removals final (nothing of a deleted session stays on disk).
    fn purge(&self) -> Result<(), IndexError>;
    /// Makes recent changes searchable.
    fn commit(&self) -> Result<(), IndexError>;
    /// Ids of the sessions matching every word of `query`.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<String>, IndexError>;
}

/// What an index reports when it fails.
pub type IndexError = Box<dyn std::error::Error + Send + Sync>;

/// Sessions in the store (and, when given, the transcript index). Cloning is shallow.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    index: Option<std::sync::Arc<dyn SessionIndex>>,
    /// Serialises read-modify-write of one session (the shopper's connection and staff write to the same one);
    /// different sessions do not wait for each other.
    locks: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SessionLock>>>,
}

type SessionLock = std::sync::Arc<std::sync::Mutex<()>>;

impl Sessions {
    pub fn new(store: Store) -> Self {
        Self { store, index: None, locks: Default::default() }
    }

    pub fn with_index(mut self, index: std::sync::Arc<dyn SessionIndex>) -> Self {
        self.index = Some(index);
        self
    }

    pub fn index(&self) -> Option<&dyn SessionIndex> {
        self.index.as_deref()
    }

    pub fn save(&self, s: &Session) -> Result<(), StoreError> {
        self.store.put_session(s.id.as_str(), s)?;
        self.store.flush_sessions()?;
        if let Some(i) = &self.index {
            if let Err(e) = i.upsert(s) {
                tracing::error!(error = %e, session = s.id.as_str(), "transcript not indexed");
            }
        }
        Ok(())
    }

    /// Runs `f` holding this session's lock; the lock's entry is dropped when nobody else holds or waits for it.
    fn locked<T>(&self, id: &SessionId, f: impl FnOnce() -> T) -> T {
        let lock = {
            let mut all = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(id.as_str().to_string()).or_default().clone()
        };
        let out = {
            let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
            f()
        };
        let mut all = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // two handles: the map's and ours; nobody else is waiting
        if std::sync::Arc::strong_count(&lock) == 2 {
            all.remove(id.as_str());
        }
        out
    }

    /// Loads, changes and saves a session as one step. None when there is no such session (e.g. deleted).
    /// Blocking (the save is flushed): from async code, call it through `spawn_blocking`.
    pub fn update<R>(
        &self,
        id: &SessionId,
        f: impl FnOnce(&mut Session) -> R,
    ) -> Result<Option<(Session, R)>, StoreError> {
        self.locked(id, || {
            let Some(mut s) = self.load(id)? else { return Ok(None) };
            let r = f(&mut s);
            self.save(&s)?;
            Ok(Some((s, r)))
        })
    }

    /// Removes sessions from the store and the index; returns how many existed.
    pub fn delete(&self, ids: &[SessionId]) -> Result<usize, StoreError> {
        let mut n = 0;
        for id in ids {
            n += usize::from(self.locked(id, || self.store.remove_session(id.as_str()))?);
            if let Some(i) = &self.index {
                i.remove(id.as_str());
            }
        }
        self.store.flush_sessions()?;
        if let (Some(i), true) = (&self.index, n > 0) {
            if let Err(e) = i.purge() {
                tracing::error!(error = %e, "transcript index purge failed");
            }
        }
        Ok(n)
    }

    /// Deletes sessions last active more than `max_age_secs` ago (retention). Returns how many.
    pub fn purge_older_than(&self, max_age_secs: u64) -> Result<usize, StoreError> {
        let cutoff = now().saturating_sub(max_age_secs);
        let old: Vec<SessionId> = self.list()?.into_iter().filter(|s| s.updated < cutoff).map(|s| s.id).collect();
        self.delete(&old)
    }

    pub fn load(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.store.session(id.as_str())
    }

    /// All sessions, most recently active first.
    pub fn list(&self) -> Result<Vec<Session>, StoreError> {
        let mut all: Vec<Session> = self.store.sessions()?;
        all.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.created.cmp(&a.created)));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unhelpful_answers_at_the_end_count_as_failures_in_a_row() {
        let mut s = Session::start(None);
        let answer = |tool: &str, cards: usize| Turn {
            role: Role::Assistant,
            tool: Some(tool.into()),
            cards: (0..cards).map(|i| crate::chat::Card { id: i.to_string(), ..Default::default() }).collect(),
            ..Session::plain(Role::Assistant, "…")
        };
        s.push(answer("off_topic", 0));
        s.shopper_said("lanterns");
        s.push(answer("search", 2));
        assert_eq!(s.failures_in_a_row(), 0);
        s.shopper_said("xqzv");
        s.push(answer("search", 0));
        s.shopper_said("zzqx");
        s.push(answer("off_topic", 0));
        assert_eq!(s.failures_in_a_row(), 2);
        s.staff_said("sam", "Hello, I can help.");
        assert_eq!(s.failures_in_a_row(), 0, "a person answered");
    }

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

    #[test]
    fn one_sessions_slow_update_does_not_hold_up_another_session() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(Store::open(dir.path()).unwrap());
        let (a, b) = (Session::start(None), Session::start(None));
        sessions.save(&a).unwrap();
        sessions.save(&b).unwrap();
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let (sessions, id) = (sessions.clone(), a.id.clone());
            std::thread::spawn(move || {
                sessions.update(&id, |s| {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    s.shopper_said("slow");
                })
            })
        };
        entered_rx.recv().unwrap();
        // session a's lock is held; session b is changed meanwhile
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        {
            let (sessions, id) = (sessions.clone(), b.id.clone());
            std::thread::spawn(move || done_tx.send(sessions.update(&id, |s| s.shopper_said("quick")).is_ok()));
        }
        let quick = done_rx.recv_timeout(std::time::Duration::from_secs(5));
        release_tx.send(()).unwrap();
        assert_eq!(quick, Ok(true), "b waited for a's lock");
        slow.join().unwrap().unwrap();
        assert_eq!(sessions.load(&a.id).unwrap().unwrap().turns.len(), 1);
        assert!(sessions.locks.lock().unwrap().is_empty(), "no lock entry is left behind");
    }
}
