//! API keys on the staff pages (admin): `/staff/keys` lists them; `POST /staff/api/keys` makes one and answers the
//! key once; `POST /staff/api/keys/{id}/revoke` refuses it from then on. `aisle key add/list/revoke` does the same
//! from the command line.
use super::auth::AsAdmin;
use super::staff::page_context;
use super::{blocking, render, AppState, HttpError};
use crate::keys::KeyKind;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/keys", get(page))
        .route("/staff/api/keys", get(list).post(add))
        .route("/staff/api/keys/{id}/revoke", post(revoke))
}

async fn page(State(state): State<AppState>, AsAdmin(staff): AsAdmin) -> Result<Html<String>, HttpError> {
    let keys = state.keys.list().map_err(HttpError::from)?;
    render(&state, "staff/keys.html", page_context(&state, &staff, serde_json::json!({ "keys": keys })))
}

async fn list(State(state): State<AppState>, _: AsAdmin) -> Result<Json<Vec<crate::keys::ApiKey>>, HttpError> {
    state.keys.list().map(Json).map_err(HttpError::from)
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    kind: KeyKind,
}

async fn add(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Json(new): Json<NewKey>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let keys = state.keys.clone();
    let (record, key) = blocking(move || keys.add(&new.name, new.kind)).await?;
    tracing::info!(by = %staff.name, id = %record.id, kind = record.kind.as_str(), "API key made");
    Ok(Json(serde_json::json!({ "key": key, "record": record })))
}

async fn revoke(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(id): Path<String>,
) -> Result<Json<crate::keys::ApiKey>, HttpError> {
    let keys = state.keys.clone();
    let record = blocking(move || keys.revoke(&id)).await?;
    tracing::info!(by = %staff.name, id = %record.id, "API key revoked");
    Ok(Json(record))
}
