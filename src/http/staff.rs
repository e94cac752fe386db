//! Staff sign-in and the pages every role shares: the overview, product look-up for the studio, and (admin) the
//! accounts page. The copy studio lives in `studio.rs`, the support console in `console.rs`.
use super::auth::{cookie, AsAdmin, Staff, COOKIE};
use super::guard::ClientAddr;
use super::{blocking, render, AppState, HttpError};
use crate::accounts::Role;
use crate::search::{Mode, SearchRequest};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/login", get(login_page).post(login))
        .route("/staff/logout", post(logout))
        .route("/staff", get(index))
        .route("/staff/accounts", get(accounts_page))
        .route("/staff/api/accounts", get(list_accounts).post(add_account))
        .route("/staff/api/accounts/{name}", delete(remove_account))
        .route("/staff/api/products", get(products))
}

/// What every staff page template gets: the shop, who is signed in and the token its scripts send with writes.
pub fn page_context(state: &AppState, staff: &Staff, extra: serde_json::Value) -> serde_json::Value {
    let mut ctx = serde_json::json!({
        "shop": &state.config.shop_name,
        "me": { "name": &staff.name, "role": staff.role.as_str() },
        "csrf": staff.csrf.as_deref().unwrap_or(""),
    });
    if let (Some(m), serde_json::Value::Object(e)) = (ctx.as_object_mut(), extra) {
        m.extend(e);
    }
    ctx
}

#[derive(Deserialize, Default)]
struct Next {
    #[serde(default)]
    next: Option<String>,
}

/// Only paths inside the staff area: never an open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/staff") && !n.starts_with("//") && !n.contains("://") => n.to_string(),
        _ => "/staff".into(),
    }
}

async fn login_page(State(state): State<AppState>, Query(q): Query<Next>) -> Result<Html<String>, HttpError> {
    render(
        &state,
        "staff/login.html",
        serde_json::json!({ "shop": &state.config.shop_name, "failed": false, "next": safe_next(q.next.as_deref()) }),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(State(state): State<AppState>, ClientAddr(ip): ClientAddr, Form(form): Form<LoginForm>) -> Response {
    let accounts = state.accounts.clone();
    let (name, password) = (form.name.trim().to_string(), form.password);
    // per-address rate and per-account lockout, checked before the password is
    if let Err(why) = state.guard.login_attempt(ip, &name) {
        tracing::info!(account = %name, %ip, reason = %why, "sign-in refused before checking the password");
        return HttpError::new(StatusCode::TOO_MANY_REQUESTS, why.to_string()).into_response();
    }
    let who = name.clone();
    let signed = tokio::task::spawn_blocking(move || accounts.sign_in(&name, &password)).await;
    if let Ok(Ok(s)) = &signed {
        state.guard.login_result(&who, s.is_some());
    }
    let next = safe_next(form.next.as_deref());
    match signed {
        Ok(Ok(Some((token, s)))) => {
            tracing::info!(staff = %s.name, role = s.role.as_str(), "staff signed in");
            let secure = if state.config.security.secure_cookies { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                crate::accounts::SESSION_SECONDS
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        Ok(Ok(None)) => {
            let page = render(
                &state,
                "staff/login.html",
                serde_json::json!({ "shop": &state.config.shop_name, "failed": true, "next": next }),
            );
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
        Ok(Err(e)) => HttpError::internal(e).into_response(),
        Err(e) => HttpError::internal(e).into_response(),
    }
}

async fn logout(State(state): State<AppState>, _staff: Staff, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers, COOKIE) {
        if let Err(e) = state.accounts.sign_out(t) {
            return HttpError::internal(e).into_response();
        }
    }
    let secure = if state.config.security.secure_cookies { "; Secure" } else { "" };
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}");
    ([(header::SET_COOKIE, clear)], Json(serde_json::json!({ "signed_out": true }))).into_response()
}

async fn index(State(state): State<AppState>, staff: Staff) -> Result<Html<String>, HttpError> {
    let a = &state;
    let sessions = state.sessions.clone();
    // loading every session is blocking work (tens of ms on a large shop): off the async workers
    let queue = blocking(move || sessions.list().map(|l| l.iter().filter(|s| s.waiting_for_staff()).count())).await?;
    render(
        &state,
        "staff/index.html",
        page_context(
            &state,
            &staff,
            serde_json::json!({ "products": a.catalog.len(), "customers": a.behavior.get().customers(), "model": a.llm.info(), "queue": queue }),
        ),
    )
}

async fn accounts_page(State(state): State<AppState>, AsAdmin(staff): AsAdmin) -> Result<Html<String>, HttpError> {
    let list = state.accounts.list()?;
    render(&state, "staff/accounts.html", page_context(&state, &staff, serde_json::json!({ "accounts": list })))
}

/// The accounts, without their password hashes.
async fn list_accounts(State(state): State<AppState>, _: AsAdmin) -> Result<Json<serde_json::Value>, HttpError> {
    let list = state.accounts.list()?;
    let rows = list.iter().map(|a| serde_json::json!({ "name": a.name, "role": a.role, "created": a.created }));
    Ok(Json(rows.collect()))
}

#[derive(Deserialize)]
struct NewAccount {
    name: String,
    role: Role,
    password: String,
}

async fn add_account(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Json(new): Json<NewAccount>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let accounts = state.accounts.clone();
    let (name, role) = (new.name.clone(), new.role);
    blocking(move || accounts.add(&new.name, new.role, &new.password)).await?;
    tracing::info!(by = %staff.name, account = %name, role = role.as_str(), "staff account added");
    Ok(Json(serde_json::json!({ "name": name, "role": role })))
}

async fn remove_account(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    if name == staff.name {
        return Err(HttpError::unprocessable("you cannot remove your own account"));
    }
    state.accounts.remove(&name).map_err(HttpError::from)?;
    Ok(Json(serde_json::json!({ "removed": name })))
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
    _staff: Staff,
    Query(q): Query<ProductQuery>,
) -> Result<Json<Vec<ProductRow>>, HttpError> {
    let a = state.clone();
    let rows = blocking(move || {
        let req = SearchRequest { text: q.q, mode: Mode::Keyword, limit: 20, ..SearchRequest::default() };
        let hits = a.search.search(&req, &a.catalog, |id| a.behavior.get().popularity(id))?;
        Ok::<_, crate::search::SearchError>(
            hits.iter()
                .filter_map(|h| a.catalog.get(&h.id))
                .map(|p| ProductRow { id: p.id.clone(), title: p.title.clone(), price: p.price_label() })
                .collect(),
        )
    })
    .await?;
    Ok(Json(rows))
}
