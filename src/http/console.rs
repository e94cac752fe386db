//! The support console (role support): transcripts searched (full text, indexed) and filtered, each turn with
//! its cards, reasons and the checker's verdict, what the shopper did next, annotations and flags, CSAT rates,
//! the handoff queue, live takeover over the chat's room, and an export with one row per conversation.
use super::auth::{AsSupport, Staff};
use super::staff::page_context;
use super::{blocking, render, AppState, HttpError};
use crate::live::LiveEvent;
use crate::session::{Annotation, SessionId};
use crate::support::{self, Filter};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/support", get(support_page))
        .route("/staff/support/{id}", get(transcript_page))
        .route("/staff/api/transcripts", get(list_json))
        .route("/staff/api/transcripts/export", get(export))
        .route("/staff/api/transcripts/{id}/annotations", post(annotate))
        .route("/staff/api/transcripts/{id}/close", post(close_handoff))
        .route("/staff/live/{id}", get(live_upgrade))
}

/// Conversations listed on the console page (the newest first).
const PAGE_ROWS: usize = 500;

async fn support_page(
    State(state): State<AppState>,
    AsSupport(staff): AsSupport,
    Query(f): Query<Filter>,
) -> Result<Html<String>, HttpError> {
    let (st, filter) = (state.clone(), f.clone());
    let (list, queue, intents, requests) = blocking(move || {
        let all = st.sessions.list()?;
        let list = support::rows(&st.store, &st.sessions, &all, &filter)?;
        let requests = crate::orders::open_requests(&st.store)?;
        Ok::<_, HttpError>((list, support::queue(&st.store, &all)?, support::intents(&all), requests))
    })
    .await?;
    let sum = support::summary(&list);
    // the page shows the newest PAGE_ROWS; the summary and the export cover them all
    let shown = &list[..list.len().min(PAGE_ROWS)];
    render(
        &state,
        "staff/support.html",
        page_context(
            &state,
            &staff,
            json!({ "rows": shown, "total": list.len(), "queue": queue, "summary": sum, "filter": f, "intents": intents,
                "requests": requests }),
        ),
    )
}

async fn transcript_page(
    State(state): State<AppState>,
    AsSupport(staff): AsSupport,
    Path(id): Path<String>,
) -> Result<Html<String>, HttpError> {
    let id = SessionId::parse(&id).ok_or_else(|| HttpError::not_found("no such session"))?;
    let (st, sid) = (state.clone(), id.clone());
    // the session and what the shopper did next, read together off the async workers
    let (s, next) = blocking(move || {
        let s = st.sessions.load(&sid)?.ok_or_else(|| HttpError::not_found("no such session"))?;
        let next = support::after(&st.store, &s)?;
        Ok::<_, HttpError>((s, next))
    })
    .await?;
    let online = state.live.listeners(id.as_str()) > 0;
    render(
        &state,
        "staff/transcript.html",
        page_context(
            &state,
            &staff,
            json!({ "session": s, "after": next, "online": online, "flag_label": crate::session::FLAG_LABEL }),
        ),
    )
}

async fn list_json(
    State(state): State<AppState>,
    _: AsSupport,
    Query(f): Query<Filter>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let st = state.clone();
    let list = blocking(move || support::list(&st.store, &st.sessions, &f)).await?;
    Ok(Json(json!({ "summary": support::summary(&list), "rows": list })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExportQuery {
    format: String,
    #[serde(flatten)]
    filter: Filter,
}

async fn export(
    State(state): State<AppState>,
    _: AsSupport,
    Query(q): Query<ExportQuery>,
) -> Result<Response, HttpError> {
    let csv_wanted = match q.format.as_str() {
        "" | "csv" => true,
        "jsonl" => false,
        other => return Err(HttpError::bad_request(format!("format {other:?}: use csv or jsonl"))),
    };
    let st = state.clone();
    let filter = q.filter;
    let list = blocking(move || support::list(&st.store, &st.sessions, &filter)).await?;
    let (body, kind, ext) = if csv_wanted {
        (support::csv(&list)?, "text/csv; charset=utf-8", "csv")
    } else {
        (super::jsonl(&list)?, "application/x-ndjson", "jsonl")
    };
    Ok(super::download(body, kind, &format!("aisle-conversations.{ext}")))
}

#[derive(Deserialize)]
struct NewAnnotation {
    turn: usize,
    label: String,
    #[serde(default)]
    note: String,
}

async fn annotate(
    State(state): State<AppState>,
    AsSupport(staff): AsSupport,
    Path(id): Path<String>,
    Json(a): Json<NewAnnotation>,
) -> Result<Json<Annotation>, HttpError> {
    let label = a.label.trim().to_lowercase().replace(' ', "_");
    if label.is_empty() || label.len() > 40 || !label.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(HttpError::unprocessable("a label is 1-40 letters, digits, '_' or '-'"));
    }
    if a.note.chars().count() > 2000 {
        return Err(HttpError::unprocessable("notes are limited to 2000 characters"));
    }
    let id = SessionId::parse(&id).ok_or_else(|| HttpError::not_found("no such session"))?;
    let note = Annotation { turn: a.turn, author: staff.name.clone(), label, note: a.note, at: crate::session::now() };
    let saved = note.clone();
    let result = state.sessions.update(&id, move |s| {
        if note.turn >= s.turns.len() {
            return false;
        }
        s.annotations.push(note);
        true
    })?;
    match result {
        None => Err(HttpError::not_found("no such session")),
        Some((_, false)) => Err(HttpError::unprocessable("that turn is not in the transcript")),
        Some((_, true)) => Ok(Json(saved)),
    }
}

async fn close_handoff(
    State(state): State<AppState>,
    _: AsSupport,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let id = SessionId::parse(&id).ok_or_else(|| HttpError::not_found("no such session"))?;
    state.sessions.update(&id, |s| s.handoff_closed = true)?.ok_or_else(|| HttpError::not_found("no such session"))?;
    Ok(Json(json!({ "closed": true })))
}

/// A browser page may only open the staff socket from this server's own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
        (None, _) => true, // not a browser
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, h)| h == host),
        _ => false,
    }
}

// `Staff` comes before `WebSocketUpgrade`, so a refused request is refused for who it is, not for how it asked
async fn live_upgrade(
    State(state): State<AppState>,
    AsSupport(staff): AsSupport,
    headers: HeaderMap,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    if !same_origin(&headers) {
        return Err(HttpError::new(StatusCode::FORBIDDEN, "cross-origin staff socket refused"));
    }
    let id = SessionId::parse(&id).ok_or_else(|| HttpError::not_found("no such session"))?;
    if state.sessions.load(&id)?.is_none() {
        return Err(HttpError::not_found("no such session"));
    }
    let max = state.config.chat.max_frame_bytes;
    Ok(ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| staff_live(state, staff, id, socket)))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum StaffFrame {
    TakeOver,
    Message { text: String },
    HandBack,
}

/// Staff side of a live chat. Frames in: `take_over`, `message {text}`, `hand_back`. Frames out: `transcript
/// {session}` first, then `live {event}` for everything said in the room (their own messages included),
/// `error {code, message}`. Leaving while holding the chat hands it back to the assistant.
async fn staff_live(state: AppState, staff: Staff, id: SessionId, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let mut room = state.live.subscribe(id.as_str());
    let send = |v: serde_json::Value| Message::Text(Utf8Bytes::from(v.to_string()));
    let Ok(Some(s)) = state.sessions.load(&id) else { return };
    let online = state.live.listeners(id.as_str()) > 1;
    if sink.send(send(json!({ "type": "transcript", "session": s, "shopper_online": online }))).await.is_err() {
        return;
    }
    let mut holding = false;
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            e = room.recv() => match e {
                Ok(e) => { if sink.send(send(json!({ "type": "live", "event": e }))).await.is_err() { break; } }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            },
            m = stream.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let reply = match serde_json::from_str::<StaffFrame>(text.as_str()) {
                    Err(e) => Some(json!({ "type": "error", "code": "bad_frame", "message": format!("expected take_over, message or hand_back: {e}") })),
                    Ok(f) => staff_frame(&state, &staff, &id, f, &mut holding),
                };
                if let Some(r) = reply {
                    if sink.send(send(r)).await.is_err() { break; }
                }
            }
        }
    }
    if holding {
        let _ = staff_frame(&state, &staff, &id, StaffFrame::HandBack, &mut holding);
    }
}

fn staff_frame(
    state: &AppState,
    staff: &Staff,
    id: &SessionId,
    f: StaffFrame,
    holding: &mut bool,
) -> Option<serde_json::Value> {
    let err = |code: &str, m: &str| Some(json!({ "type": "error", "code": code, "message": m }));
    let name = staff.name.clone();
    match f {
        StaffFrame::TakeOver => {
            let r = state.sessions.update(id, |s| match &s.live {
                Some(other) if *other != name => Err(other.clone()),
                _ => {
                    s.live = Some(name.clone());
                    Ok(())
                }
            });
            match r {
                Ok(Some((_, Ok(())))) => {
                    *holding = true;
                    state.live.publish(id.as_str(), LiveEvent::StaffJoined { name: staff.name.clone() });
                    tracing::info!(staff = %staff.name, session = id.as_str(), "staff took a chat over");
                    None
                }
                Ok(Some((_, Err(other)))) => err("taken", &format!("{other} is already answering this chat")),
                Ok(None) => err("gone", "this conversation was deleted"),
                Err(e) => {
                    tracing::error!(error = %e, "takeover not saved");
                    err("internal", "could not save; try again")
                }
            }
        }
        StaffFrame::Message { text } => {
            let text = text.trim().to_string();
            if text.is_empty() || text.chars().count() > state.config.chat.max_message_chars {
                return err("bad_message", "the message is empty or too long");
            }
            let r = state.sessions.update(id, |s| {
                let mine = s.live.as_deref() == Some(name.as_str());
                if mine {
                    s.staff_said(&name, &text);
                }
                mine
            });
            match r {
                Ok(Some((_, true))) => {
                    state.live.publish(id.as_str(), LiveEvent::Staff { name: staff.name.clone(), text });
                    None
                }
                Ok(Some((_, false))) => err("not_holding", "take the chat over before writing to the shopper"),
                Ok(None) => err("gone", "this conversation was deleted"),
                Err(e) => {
                    tracing::error!(error = %e, "staff message not saved");
                    err("internal", "could not save; try again")
                }
            }
        }
        StaffFrame::HandBack => {
            let r = state.sessions.update(id, |s| {
                if s.live.as_deref() == Some(name.as_str()) {
                    s.live = None;
                    s.handoff_closed = true;
                }
            });
            *holding = false;
            if let Err(e) = r {
                tracing::error!(error = %e, "hand-back not saved");
            }
            state.live.publish(id.as_str(), LiveEvent::StaffLeft { name: staff.name.clone() });
            None
        }
    }
}
