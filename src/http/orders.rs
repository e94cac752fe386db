//! Orders from the shop's backend (an admin or a secret key): `PUT /api/orders/{id}` adds or replaces an order,
//! `POST /api/orders/{id}/status` records a status change (shipped with carrier and tracking...), `GET` reads it
//! back. Staff (role support) see the shoppers' cancellation and return requests: `GET /staff/api/requests`, and
//! close them with `POST /staff/api/requests/{id}/close`. See [`crate::orders`].
use super::auth::{AsSupport, Backend};
use super::{blocking, AppState, HttpError};
use crate::orders::{OrderIn, StatusIn};
use crate::store::Order;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders/{id}", put(put_order).get(get_order))
        .route("/api/orders/{id}/status", post(post_status))
        .route("/staff/api/requests", axum::routing::get(requests))
        .route("/staff/api/requests/{id}/close", post(close))
}

async fn put_order(
    State(state): State<AppState>,
    _: Backend,
    Path(id): Path<String>,
    Json(o): Json<OrderIn>,
) -> Result<StatusCode, HttpError> {
    let st = state.clone();
    let existed = blocking(move || crate::orders::put(&st.store, &st.catalog, &id, o)).await?;
    state.recommender.behaviour_changed();
    state.behavior.imported();
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED })
}

async fn get_order(
    State(state): State<AppState>,
    _: Backend,
    Path(id): Path<String>,
) -> Result<Json<Order>, HttpError> {
    let found = blocking(move || state.store.order(&id).map(|o| (o, id))).await?;
    match found {
        (Some(o), _) => Ok(Json(o)),
        (None, id) => Err(HttpError::not_found(format!("no order with id {id:?}"))),
    }
}

async fn post_status(
    State(state): State<AppState>,
    _: Backend,
    Path(id): Path<String>,
    Json(s): Json<StatusIn>,
) -> Result<Json<Order>, HttpError> {
    Ok(Json(blocking(move || crate::orders::add_status(&state.store, &id, s)).await?))
}

async fn requests(State(state): State<AppState>, _: AsSupport) -> Result<Json<Vec<Order>>, HttpError> {
    Ok(Json(blocking(move || crate::orders::open_requests(&state.store)).await?))
}

async fn close(
    State(state): State<AppState>,
    AsSupport(staff): AsSupport,
    Path(id): Path<String>,
) -> Result<Json<Order>, HttpError> {
    let o = blocking(move || crate::orders::close_requests(&state.store, &id)).await?;
    tracing::info!(by = %staff.name, order = %o.id, "an order's requests were closed");
    Ok(Json(o))
}
