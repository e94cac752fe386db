//! Experiments over HTTP: created, listed, stopped and read by marketers and admins (`/api/experiments...`, the
//! staff page `/staff/experiments`), and the storefront's question "which variant does this visitor get"
//! (`GET /api/experiments/{name}/assign?user=…`, which also records the exposure).
use super::auth::{AsMarketer, StaffOrKey};
use super::staff::page_context;
use super::{blocking, render, AppState, HttpError};
use crate::experiments::results::{analyse, Results};
use crate::experiments::{Experiment, ExperimentError, NewExperiment, Surface};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/experiments", get(list).post(create))
        .route("/api/experiments/{name}/stop", post(stop))
        .route("/api/experiments/{name}/results", get(results))
        .route("/api/experiments/{name}/assign", get(assign))
        .route("/staff/experiments", get(page))
}

impl From<ExperimentError> for HttpError {
    fn from(e: ExperimentError) -> Self {
        match e {
            ExperimentError::Invalid(m) => Self::unprocessable(m),
            ExperimentError::NotFound(_) => Self::not_found(e.to_string()),
            ExperimentError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            ExperimentError::Store(e) => e.into(),
        }
    }
}

async fn list(State(state): State<AppState>, _: AsMarketer) -> Json<Vec<Experiment>> {
    Json(state.experiments.list())
}

async fn create(
    State(state): State<AppState>,
    AsMarketer(staff): AsMarketer,
    Json(new): Json<NewExperiment>,
) -> Result<(StatusCode, Json<Experiment>), HttpError> {
    if let Some(p) =
        new.variants.iter().filter_map(|v| v.prompts.as_deref()).find(|p| !state.assistant.prompts.has_set(p))
    {
        return Err(HttpError::unprocessable(format!("no prompt template set prompts/sets/{p}/")));
    }
    if let Some(m) =
        new.variants.iter().filter_map(|v| v.chat_model.as_deref()).find(|m| !state.assistant.models.contains_key(*m))
    {
        let known: Vec<&String> = state.assistant.models.keys().collect();
        return Err(HttpError::unprocessable(format!(
            "no chat model {m:?} in llm.alternatives (configured: {known:?})"
        )));
    }
    let versions: Vec<u64> = new.variants.iter().filter_map(|v| v.model).collect();
    let rec = state.recommender.clone();
    if let Some(Err((v, e))) = blocking(move || {
        Ok::<_, HttpError>(versions.into_iter().map(|v| rec.with_version(v).map_err(|e| (v, e))).find(Result::is_err))
    })
    .await?
    {
        return Err(HttpError::unprocessable(format!("model version {v} cannot be served: {e}")));
    }
    let x = state.experiments.clone();
    let e = blocking(move || x.create(new, crate::session::now())).await?;
    tracing::info!(by = %staff.name, experiment = %e.name, surface = ?e.surface, "experiment started");
    Ok((StatusCode::CREATED, Json(e)))
}

async fn stop(
    State(state): State<AppState>,
    AsMarketer(staff): AsMarketer,
    Path(name): Path<String>,
) -> Result<Json<Experiment>, HttpError> {
    let x = state.experiments.clone();
    let e = blocking(move || x.stop(&name, crate::session::now())).await?;
    tracing::info!(by = %staff.name, experiment = %e.name, "experiment stopped");
    Ok(Json(e))
}

/// Reads one experiment (exposures joined with what each unit did in its window).
pub async fn read(state: &AppState, name: String) -> Result<Results, HttpError> {
    let (x, catalog) = (state.experiments.clone(), state.catalog.clone());
    blocking(move || {
        let e = x.get(&name)?;
        let exposures = x.exposures(&name)?;
        let price = |id: &str| catalog.get(id).and_then(|p| p.price);
        Ok::<_, ExperimentError>(analyse(x.store(), &e, &exposures, &price)?)
    })
    .await
}

async fn results(
    State(state): State<AppState>,
    _: AsMarketer,
    Path(name): Path<String>,
) -> Result<Json<Results>, HttpError> {
    read(&state, name).await.map(Json)
}

#[derive(Deserialize)]
struct AssignParams {
    user: String,
}

#[derive(Serialize)]
struct Assigned {
    experiment: String,
    variant: String,
    value: Option<String>,
    /// False when the experiment is stopped: show the shop's default.
    running: bool,
}

/// The storefront's variant for a visitor: the same on every call; the first call records the exposure.
async fn assign(
    State(state): State<AppState>,
    reader: StaffOrKey,
    Path(name): Path<String>,
    Query(q): Query<AssignParams>,
) -> Result<Json<Assigned>, HttpError> {
    if q.user.is_empty() || q.user.len() > 128 {
        return Err(HttpError::bad_request("user is required (at most 128 characters)"));
    }
    if !reader.may_read_for(&q.user) {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!("a publishable key asks only for its own visitor, not {:?}", q.user),
        ));
    }
    let e = std::sync::Arc::new(state.experiments.get(&name)?);
    if e.surface != Surface::Storefront {
        return Err(HttpError::new(
            StatusCode::CONFLICT,
            format!("{name:?} acts in the {:?} itself; only storefront experiments are asked for", e.surface),
        ));
    }
    let Some(t) = state.experiments.treatment(&e, &q.user) else {
        return Ok(Json(Assigned { experiment: name, variant: String::new(), value: None, running: false }));
    };
    let (x, user, t2) = (state.experiments.clone(), q.user.clone(), t.clone());
    let variant = blocking(move || x.expose(&t2, &user, &user, crate::session::now())).await?;
    let value = e.variants.iter().find(|v| v.name == variant).and_then(|v| v.value.clone());
    Ok(Json(Assigned { experiment: name, variant, value, running: true }))
}

async fn page(State(state): State<AppState>, AsMarketer(staff): AsMarketer) -> Result<Html<String>, HttpError> {
    let mut read_outs = vec![];
    for e in state.experiments.list().into_iter().rev() {
        read_outs.push(read(&state, e.name).await?);
    }
    let example = serde_json::json!([
        {"name": "control", "weight": 1},
        {"name": "more-history", "weight": 1,
         "ranking": {"relevance": 1.0, "history": 0.4, "popularity": 0.05, "bought_before": 0.2, "personal": 0.2}}
    ]);
    render(
        &state,
        "staff/experiments.html",
        page_context(&state, &staff, serde_json::json!({ "experiments": read_outs, "example": example.to_string() })),
    )
}
