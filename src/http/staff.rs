//! Staff pages behind the admin token: the marketer's copy page (a streamed, checked product description) and
//! the support pages (transcripts, each turn with its cards, reasons and the checker's verdict).
use super::{render, AppState, HttpError};
use crate::copy::{self, CopyRequest};
use crate::search::{Mode, SearchRequest};
use crate::session::SessionId;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

const COOKIE: &str = "aisle_staff";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/login", get(login_page).post(login))
        .route("/staff", get(index))
        .route("/staff/copy", get(copy_page))
        .route("/staff/support", get(support))
        .route("/staff/support/{id}", get(transcript))
        .route("/staff/api/products", get(products))
        .route("/staff/api/copy", post(generate_copy))
}

/// Same-length comparison that does not stop at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The staff token from `Authorization: Bearer …` or the login cookie.
pub fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let token = state.config.admin_token.expose();
    if token.is_empty() {
        return Err(HttpError::new(StatusCode::FORBIDDEN, "staff pages are disabled: set AISLE_ADMIN_TOKEN"));
    }
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let cookie =
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
            |kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == COOKIE).then_some(v)
            },
        );
    match bearer.or(cookie) {
        Some(t) if same(t.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(HttpError::new(StatusCode::UNAUTHORIZED, "staff login required")),
    }
}

/// For pages: `Some(response)` refuses (not logged in goes to the login form).
pub fn page_guard(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    authorized(state, headers).err().map(|e| match e.status {
        StatusCode::UNAUTHORIZED => Redirect::to("/staff/login").into_response(),
        _ => e.into_response(),
    })
}

async fn login_page(State(state): State<AppState>) -> Result<Html<String>, HttpError> {
    render(&state, "staff/login.html", serde_json::json!({ "shop": &state.config.shop_name, "failed": false }))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let expected = state.config.admin_token.expose();
    if expected.is_empty() || !same(form.token.as_bytes(), expected.as_bytes()) {
        let page =
            render(&state, "staff/login.html", serde_json::json!({ "shop": &state.config.shop_name, "failed": true }));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/staff", form.token);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/staff")).into_response()
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = page_guard(&state, &headers) {
        return r;
    }
    let a = &state.assistant;
    render(
        &state,
        "staff/index.html",
        serde_json::json!({ "shop": &state.config.shop_name, "products": a.catalog.len(), "customers": a.behavior.customers(), "model": a.llm.info() }),
    )
    .into_response()
}

async fn copy_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = page_guard(&state, &headers) {
        return r;
    }
    render(
        &state,
        "staff/copy.html",
        serde_json::json!({ "shop": &state.config.shop_name, "templates": copy::templates(&state.assistant) }),
    )
    .into_response()
}

#[derive(Deserialize)]
struct ProductQuery {
    q: String,
}

#[derive(Serialize)]
struct ProductRow {
    id: String,
    title: String,
    price: String,
}

async fn products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ProductQuery>,
) -> Result<Json<Vec<ProductRow>>, HttpError> {
    authorized(&state, &headers)?;
    let a = state.assistant.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let req = SearchRequest { text: q.q, mode: Mode::Keyword, limit: 20, ..SearchRequest::default() };
        let hits = a.search.search(&req, &a.catalog, |id| a.behavior.popularity(id))?;
        Ok::<_, crate::search::SearchError>(
            hits.iter()
                .filter_map(|h| a.catalog.get(&h.id))
                .map(|p| ProductRow { id: p.id.clone(), title: p.title.clone(), price: p.price_label() })
                .collect(),
        )
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    Ok(Json(rows))
}

/// Streams one variant as JSON lines: `delta`, maybe `replace`, then `done` with the check's verdict.
async fn generate_copy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<CopyRequest>,
) -> Result<Response, HttpError> {
    authorized(&state, &headers)?;
    if state.assistant.catalog.get(&req.product).is_none() {
        return Err(HttpError::new(StatusCode::NOT_FOUND, format!("no product with id {:?}", req.product)));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let a = state.assistant.clone();
    // The task ends when the generation ends; when the client goes away the closed channel cancels it.
    let task = tokio::spawn(async move {
        if let Err(e) = copy::generate(&a, &req, &tx).await {
            tracing::warn!(error = %e, "copy request refused");
        }
    });
    let lines = futures_util::stream::unfold((rx, Some(task)), |(mut rx, task)| async move {
        match rx.recv().await {
            Some(frame) => {
                let mut line = serde_json::to_vec(&frame).unwrap_or_default();
                line.push(b'\n');
                Some((Ok::<_, std::convert::Infallible>(line), (rx, task)))
            }
            None => {
                if let Some(t) = task {
                    let _ = t.await;
                }
                None
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}

async fn support(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = page_guard(&state, &headers) {
        return r;
    }
    let sessions = state.sessions.clone();
    let list = match tokio::task::spawn_blocking(move || sessions.list()).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return HttpError::internal(e).into_response(),
        Err(e) => return HttpError::internal(e).into_response(),
    };
    render(&state, "staff/support.html", serde_json::json!({ "shop": &state.config.shop_name, "sessions": list }))
        .into_response()
}

async fn transcript(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = page_guard(&state, &headers) {
        return r;
    }
    let Some(id) = SessionId::parse(&id) else {
        return HttpError::new(StatusCode::NOT_FOUND, "no such session").into_response();
    };
    match state.sessions.load(&id) {
        Ok(Some(s)) => render(
            &state,
            "staff/transcript.html",
            serde_json::json!({ "shop": &state.config.shop_name, "session": s }),
        )
        .into_response(),
        Ok(None) => HttpError::new(StatusCode::NOT_FOUND, "no such session").into_response(),
        Err(e) => HttpError::internal(e).into_response(),
    }
}
