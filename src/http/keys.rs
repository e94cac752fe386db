//! API keys on the staff pages (admin): `/staff/keys` lists them; `POST /staff/api/keys` makes one and answers the
//! key once; `POST /staff/api/keys/{id}/revoke` refuses it from then on. `aisle key add/list/revoke` does the same
//! from the command line.
use super::auth::AsAdmin;
use super::staff::page_context;
use super::{render, AppState, HttpError};
use crate::keys::{KeyError, KeyKind};
use axum::extract::{Path, State};
use axum::http::StatusCode;
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

fn key_error(e: KeyError) -> HttpError {
    match e {
        KeyError::Store(_) => HttpError::internal(e),
        KeyError::Unknown(_) => HttpError::new(StatusCode::NOT_FOUND, e.to_string()),
        KeyError::BadName => HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn page(State(state): State<AppState>, AsAdmin(staff): AsAdmin) -> Result<Html<String>, HttpError> {
    let keys = state.keys.list().map_err(key_error)?;
    render(&state, "staff/keys.html", page_context(&state, &staff, serde_json::json!({ "keys": keys })))
}

async fn list(State(state): State<AppState>, _: AsAdmin) -> Result<Json<Vec<crate::keys::ApiKey>>, HttpError> {
    state.keys.list().map(Json).map_err(key_error)
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
    let (record, key) = tokio::task::spawn_blocking(move || keys.add(&new.name, new.kind))
        .await
        .map_err(HttpError::internal)?
        .map_err(key_error)?;
    tracing::info!(by = %staff.name, id = %record.id, kind = record.kind.as_str(), "API key made");
    Ok(Json(serde_json::json!({ "key": key, "record": record })))
}

async fn revoke(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(id): Path<String>,
) -> Result<Json<crate::keys::ApiKey>, HttpError> {
    let keys = state.keys.clone();
    let record =
        tokio::task::spawn_blocking(move || keys.revoke(&id)).await.map_err(HttpError::internal)?.map_err(key_error)?;
    tracing::info!(by = %staff.name, id = %record.id, "API key revoked");
    Ok(Json(record))
}
