//! The chat WebSocket (`/ws`). Protocol (JSON text frames, documented in README.md):
//! client `hello {session_id?, customer?}` then `message {text}`, and `csat {score}` (1-5) at any time; server
//! `session`, then per turn `cards`, `delta`* (checked text), optionally `replace`, and `done`; `error {code,
//! message}` for bad input, after which the connection stays open. When staff take the chat over the server sends
//! `handoff {state: "staff", name}`, then `staff_message {name, text}` for what they write (the shopper's messages
//! are answered `sent_to_staff` instead of by the assistant), and `handoff {state: "assistant"}` when they hand
//! it back. `handoff {state: "waiting"}` says the chat is in the staff queue (with `reason: "repeated_failure"` when
//! two answers in a row helped nothing).
use super::guard::ClientAddr;
use super::AppState;
use crate::chat::TurnFrame;
use crate::live::LiveEvent;
use crate::session::{Session, SessionId};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

mod turn;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Hello {
        #[serde(default)]
        session_id: Option<String>,
        #[serde(default)]
        customer: Option<String>,
        /// The shop's signature of `customer` (HMAC-SHA256 over `customer:expires`, hex) and its expiry (Unix s).
        #[serde(default)]
        expires: Option<u64>,
        #[serde(default)]
        signature: Option<String>,
        /// The page's language ("zh"): replies are in it until the shopper writes in another.
        #[serde(default)]
        lang: Option<String>,
    },
    Message {
        text: String,
    },
    Csat {
        score: u8,
    },
}

const KNOWN_TYPES: &[&str] = &["hello", "message", "csat"];

/// Close code of a socket closed for being idle (the widget waits for the shopper before reconnecting).
pub const IDLE_CLOSE: u16 = 4000;

async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: axum::http::HeaderMap,
) -> Response {
    // a page of another site may not open chats in its visitors' names (browsers always send Origin here)
    if !state.guard.origin_allowed(&headers) {
        tracing::info!(origin = ?headers.get(axum::http::header::ORIGIN), "chat refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "this site is not allowed to embed the chat (security.allowed_origins)")
            .into_response();
    }
    let slot = match state.guard.open_chat(ip) {
        Ok(s) => s,
        Err(why) => return (StatusCode::TOO_MANY_REQUESTS, why.to_string()).into_response(),
    };
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many open chats; retry in a moment").into_response();
    };
    let max = state.config.chat.max_frame_bytes;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| async move {
        Conversation { state, session: None, stored: false, live: None }.run(socket).await;
        drop((permit, slot));
    })
}

enum Outgoing {
    Frame(serde_json::Value),
    Close(u16, &'static str),
}

fn error(code: &str, message: impl Into<String>) -> Outgoing {
    Outgoing::Frame(json!({ "type": "error", "code": code, "message": message.into() }))
}

struct Conversation {
    state: AppState,
    session: Option<Session>,
    /// The session is in the store (it is stored from the shopper's first message, not from `hello`).
    stored: bool,
    /// The session's live room, once it has one.
    live: Option<tokio::sync::broadcast::Receiver<LiveEvent>>,
}

/// Waits for the next live event, or forever when there is no room yet.
async fn next_live(rx: &mut Option<tokio::sync::broadcast::Receiver<LiveEvent>>) -> Option<LiveEvent> {
    match rx {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(e) => return Some(e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        },
        None => std::future::pending().await,
    }
}

/// What the shopper's widget is told about a live event (None: not for the shopper).
fn live_frame(e: LiveEvent) -> Option<serde_json::Value> {
    match e {
        LiveEvent::Staff { name, text } => Some(json!({ "type": "staff_message", "name": name, "text": text })),
        LiveEvent::StaffJoined { name } => Some(json!({ "type": "handoff", "state": "staff", "name": name })),
        LiveEvent::StaffLeft { .. } => Some(json!({ "type": "handoff", "state": "assistant" })),
        LiveEvent::Shopper { .. } | LiveEvent::Assistant { .. } | LiveEvent::Presence { .. } => None,
    }
}

/// Blocking work (the store) off the async workers; its error, or its panic, as text for the log.
async fn off_workers<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, String>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl Conversation {
    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(64);
        let writer = tokio::spawn(async move {
            while let Some(o) = rx.recv().await {
                let msg = match o {
                    Outgoing::Frame(v) => Message::Text(Utf8Bytes::from(v.to_string())),
                    Outgoing::Close(code, reason) => {
                        Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
                    }
                };
                let closing = matches!(msg, Message::Close(_));
                if sink.send(msg).await.is_err() || closing {
                    break;
                }
            }
        });
        let mut shutdown = self.state.shutdown.clone();
        let idle = std::time::Duration::from_secs(self.state.config.security.chat_idle_secs.max(1));
        loop {
            let incoming = tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(idle) => {
                    // nothing from the shopper for a while: the place goes to someone else (the widget reconnects
                    // when the shopper writes again)
                    let _ = tx.send(Outgoing::Close(IDLE_CLOSE, "closed after a quiet while")).await;
                    break;
                }
                e = next_live(&mut self.live) => {
                    match e.and_then(live_frame) {
                        Some(f) => { let _ = tx.send(Outgoing::Frame(f)).await; }
                        None if self.live.as_ref().is_some_and(|r| r.is_closed()) => self.live = None,
                        None => {}
                    }
                    continue;
                }
                m = stream.next() => m,
            };
            match incoming {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Err(e)) => {
                    // tungstenite reports an oversized frame here; the socket cannot be read further
                    tracing::info!(error = %e, "websocket read failed");
                    let too_big = e.to_string().to_lowercase().contains("too long") || e.to_string().contains("size");
                    let (code, why) = if too_big { (1009, "frame too large") } else { (1002, "protocol error") };
                    let _ = tx.send(error(if too_big { "too_large" } else { "bad_frame" }, why)).await;
                    let _ = tx.send(Outgoing::Close(code, why)).await;
                    break;
                }
                Some(Ok(Message::Text(t))) => {
                    if !self.handle_text(t.as_str(), &tx, &mut stream, &mut shutdown).await {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = tx.send(error("bad_frame", "binary frames are not supported; send JSON text frames")).await;
                }
                Some(Ok(_)) => {} // ping/pong are answered by the library
            }
        }
        if *self.state.shutdown.borrow() {
            let _ = tx.send(Outgoing::Close(1001, "server is shutting down")).await;
        }
        drop(tx);
        let _ = writer.await;
        if let Some(s) = &self.session {
            self.state.live.publish(s.id.as_str(), LiveEvent::Presence { shopper_online: false });
        }
    }

    /// Changes the stored session (staff may have written to it meanwhile) and keeps the fresh copy. The load and
    /// the flushed save run off the async workers.
    async fn update<R: Send + 'static>(&mut self, f: impl FnOnce(&mut Session) -> R + Send + 'static) -> Option<R> {
        let id = self.session.as_ref()?.id.clone();
        let (sessions, sid) = (self.state.sessions.clone(), id.clone());
        match off_workers(move || sessions.update(&sid, f)).await {
            Ok(Some((s, r))) => {
                self.session = Some(s);
                Some(r)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, session = id.as_str(), "could not save session");
                None
            }
        }
    }

    /// Handles one text frame; returns false when the connection must end.
    async fn handle_text(
        &mut self,
        text: &str,
        tx: &mpsc::Sender<Outgoing>,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(error("bad_frame", format!("not valid JSON: {e}"))).await;
                return true;
            }
        };
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
        if !KNOWN_TYPES.contains(&kind.as_str()) {
            let _ = tx
                .send(error("unknown_type", format!("unknown message type {kind:?}; expected one of {KNOWN_TYPES:?}")))
                .await;
            return true;
        }
        let frame: ClientFrame = match serde_json::from_value(value) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(error("bad_frame", format!("{kind} frame is not valid: {e}"))).await;
                return true;
            }
        };
        match frame {
            ClientFrame::Hello { session_id, customer, expires, signature, lang } => {
                let customer = self.claimed_customer(customer, expires, signature, tx).await;
                self.hello(session_id, customer, lang, tx).await
            }
            ClientFrame::Message { text } => self.message(text, tx, stream, shutdown).await,
            ClientFrame::Csat { score } => {
                if !(1..=5).contains(&score) {
                    let _ = tx.send(error("bad_csat", "score must be 1 (bad) to 5 (good)")).await;
                } else if self.update(move |s| s.csat = Some(score)).await.is_some() {
                    let _ = tx.send(Outgoing::Frame(json!({ "type": "csat_saved", "score": score }))).await;
                } else {
                    let _ = tx.send(error("no_session", "say something first; there is no conversation to rate")).await;
                }
                true
            }
        }
    }

    /// The customer a hello may act for: a claim the shop signed, else nobody (an anonymous visitor, told why).
    async fn claimed_customer(
        &self,
        customer: Option<String>,
        expires: Option<u64>,
        signature: Option<String>,
        tx: &mpsc::Sender<Outgoing>,
    ) -> Option<String> {
        let claimed = customer.filter(|c| !c.is_empty())?;
        let now = crate::session::now();
        match self.state.identity.verify(&claimed, expires, signature.as_deref(), now) {
            Ok(c) => Some(c.into_string()),
            Err(why) => {
                tracing::info!(reason = %why, "customer claim refused; chatting as an anonymous visitor");
                let message = format!("we could not confirm who you are ({why}); you are chatting as a visitor");
                let _ = tx.send(error("identity_refused", message)).await;
                None
            }
        }
    }

    async fn hello(
        &mut self,
        session_id: Option<String>,
        customer: Option<String>,
        lang: Option<String>,
        tx: &mpsc::Sender<Outgoing>,
    ) -> bool {
        if self.session.is_some() {
            let _ = tx.send(error("already_started", "hello must be the first frame of a connection")).await;
            return true;
        }
        let resumed = match session_id.as_deref() {
            None | Some("") => None,
            Some(raw) => match SessionId::parse(raw).map(|id| self.state.sessions.load(&id)) {
                Some(Ok(Some(s))) if s.customer == customer => Some(s),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "session load failed");
                    None
                }
                _ => {
                    let _ = tx
                        .send(error("unknown_session", "that session cannot be resumed; a new one was started"))
                        .await;
                    None
                }
            },
        };
        let is_resumed = resumed.is_some();
        // a new session is stored from its first message: a hello alone leaves nothing behind
        let mut session = resumed.unwrap_or_else(|| Session::start(customer));
        // the page's language, when the shop answers in it (an unknown one is English, said once in the log)
        match lang.filter(|l| !l.is_empty()) {
            Some(l) if self.state.assistant.langs.knows(&l) => session.lang = Some(l),
            Some(l) => tracing::debug!(lang = %l, "the page asks for a language the shop has no files for"),
            None => {}
        }
        self.stored = is_resumed;
        self.live = Some(self.state.live.subscribe(session.id.as_str()));
        self.state.live.publish(session.id.as_str(), LiveEvent::Presence { shopper_online: true });
        let _ = tx
            .send(Outgoing::Frame(json!({
                "type": "session",
                "session_id": session.id,
                "customer": session.customer,
                "resumed": is_resumed,
                "lang": session.lang.as_deref().unwrap_or(crate::lang::DEFAULT),
                "labels": self.state.assistant.phrasebook.get(session.lang.as_deref().unwrap_or(crate::lang::DEFAULT)).widget(),
                "history": session.turns.iter().map(crate::session::Turn::for_shopper).collect::<Vec<_>>(),
            })))
            .await;
        if let Some(name) = &session.live {
            let _ = tx.send(Outgoing::Frame(json!({ "type": "handoff", "state": "staff", "name": name }))).await;
        } else if session.waiting_for_staff() {
            let _ = tx.send(Outgoing::Frame(json!({ "type": "handoff", "state": "waiting" }))).await;
        }
        self.session = Some(session);
        // an experiment with a holdout counts every conversation from its start, in every variant alike
        if let Some(t) = self.treatment().filter(|t| t.experiment.has_holdout()) {
            let first = self.expose(&t).await;
            if first.as_deref().unwrap_or(&t.variant.name) == t.variant.name && t.variant.holdout {
                let _ = tx.send(Outgoing::Frame(json!({ "type": "holdout", "experiment": t.experiment.name }))).await;
            }
        }
        true
    }
}
