//! A shopper's data on request (role admin): `GET /api/shoppers/{id}` exports it as JSON, `DELETE` removes it
//! everywhere (see [`crate::shopper_data`]).
use super::auth::AsAdmin;
use super::{blocking, AppState, HttpError};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/shoppers/{id}", get(export).delete(delete))
}

fn checked(id: &str) -> Result<(), HttpError> {
    match crate::identity::ShopperId::parse(id) {
        Some(_) => Ok(()),
        None => Err(HttpError::bad_request(crate::identity::SHOPPER_ID_RULE)),
    }
}

async fn export(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(id): Path<String>,
) -> Result<Json<crate::shopper_data::Export>, HttpError> {
    checked(&id)?;
    let e = blocking(move || crate::shopper_data::export(&state.store, &state.sessions, &state.catalog, &id)).await?;
    tracing::info!(by = %staff.name, "a shopper's data was exported");
    Ok(Json(e))
}

async fn delete(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(id): Path<String>,
) -> Result<Json<crate::shopper_data::Deleted>, HttpError> {
    checked(&id)?;
    let d = blocking(move || {
        crate::shopper_data::delete(
            &state.config.data_dir,
            &state.store,
            &state.sessions,
            Some(&state.recommender),
            Some(&state.behavior),
            &id,
        )
    })
    .await?;
    // forecasts were computed from the shopper's purchases too
    state.forecasts.clear();
    tracing::info!(by = %staff.name, "a shopper's data was deleted on request");
    Ok(Json(d))
}
