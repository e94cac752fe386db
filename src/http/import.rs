//! Importing into the running shop (an admin or a secret key), through [`crate::import::jobs::Importer`]:
//! - `POST /api/import?format=...` with the file as the body (gzipped or not) answers with the import's report
//!   once it is done (a file that imports nothing or mostly bad rows is refused, 422, and nothing is written);
//! - `POST /api/imports?format=...` answers at once (202) with a job, polled at `GET /api/imports/{id}` for its
//!   stage, count, report or error (`GET /api/imports` lists the recent ones);
//! - feeds (admin): `GET /api/feeds`, `PUT|DELETE /api/feeds/{name}`, `POST /api/feeds/{name}/run`;
//! - the staff Import page (admin): upload a file, add a feed, watch the jobs.
//!
//! Formats: `products` and `events` (the generic CSV or JSONL), `shopify` (the product CSV export), `merchant` (a
//! Merchant Center feed, tab-separated or XML). Optional `map=COLUMN=FIELD` (repeatable) and `keep_going=true`, as
//! on the command line. New and changed products are searchable (and embedded) when the import is done.
use super::auth::{AsAdmin, Backend};
use super::staff::page_context;
use super::{blocking, render, AppState, HttpError};
use crate::import::feeds::{self, Feed};
use crate::import::jobs::{Format, JobView, Request, MAX_IMPORT_BYTES};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post, put};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    let limit = || DefaultBodyLimit::max(MAX_IMPORT_BYTES);
    Router::new()
        .route("/api/import", post(import).layer(limit()))
        .route("/api/imports", get(jobs).post(start).layer(limit()))
        .route("/api/imports/{id}", get(job))
        .route("/api/feeds", get(list_feeds))
        .route("/api/feeds/{name}", put(put_feed).delete(delete_feed))
        .route("/api/feeds/{name}/run", post(run_feed))
        .route("/staff/import", get(page))
}

/// The request's format, column map and keep-going flag, and the body checked non-empty.
fn request(params: &[(String, String)], body: &Bytes, by: &str) -> Result<Request, HttpError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let format = Format::parse(get("format").unwrap_or_default()).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let maps: Vec<String> = params.iter().filter(|(n, _)| n == "map").map(|(_, v)| v.clone()).collect();
    let columns = crate::import::ColumnMap::parse(&maps)?;
    if body.is_empty() {
        return Err(HttpError::bad_request("the request body is the file to import, and it is empty"));
    }
    let source = format!("upload by {by}");
    Ok(Request { format, columns, keep_going: get("keep_going") == Some("true"), source })
}

async fn import(
    State(state): State<AppState>,
    Backend(caller): Backend,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Json<crate::import::ImportReport>, HttpError> {
    let req = request(&params, &body, caller.name())?;
    let importer = state.importer.clone();
    let report = blocking(move || {
        let file = importer.save(req.format, &body)?;
        importer.run(&req, file)
    })
    .await?;
    Ok(Json(report))
}

async fn start(
    State(state): State<AppState>,
    Backend(caller): Backend,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobView>), HttpError> {
    let req = request(&params, &body, caller.name())?;
    let importer = state.importer.clone();
    let job = blocking(move || {
        let file = importer.save(req.format, &body)?;
        Ok::<_, crate::import::ImportError>(importer.start(req, file))
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job.view())))
}

async fn jobs(State(state): State<AppState>, _: Backend) -> Json<Vec<JobView>> {
    Json(state.importer.jobs())
}

async fn job(State(state): State<AppState>, _: Backend, Path(id): Path<String>) -> Result<Json<JobView>, HttpError> {
    state.importer.job(&id).map(Json).ok_or_else(|| HttpError::not_found(format!("no import job {id:?}")))
}

async fn list_feeds(State(state): State<AppState>, _: AsAdmin) -> Result<Json<Vec<Feed>>, HttpError> {
    let store = state.store.clone();
    Ok(Json(blocking(move || feeds::list(&store)).await?))
}

#[derive(serde::Deserialize)]
struct FeedIn {
    url: String,
    format: Format,
    every_minutes: u64,
    #[serde(default)]
    map: Vec<String>,
    #[serde(default)]
    keep_going: bool,
}

async fn put_feed(
    State(state): State<AppState>,
    AsAdmin(staff): AsAdmin,
    Path(name): Path<String>,
    Json(f): Json<FeedIn>,
) -> Result<StatusCode, HttpError> {
    let feed = Feed {
        name,
        url: f.url.trim().to_string(),
        format: f.format,
        every_minutes: f.every_minutes,
        map: f.map,
        keep_going: f.keep_going,
        last_run: None,
        last_job: None,
    };
    if let Some(problem) = feed.problem() {
        return Err(HttpError::unprocessable(problem));
    }
    tracing::info!(by = %staff.name, feed = %feed.name, url = %feed.url, every = feed.every_minutes, "feed saved");
    let store = state.store.clone();
    let existed = blocking(move || feeds::put(&store, feed)).await?;
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED })
}

async fn delete_feed(
    State(state): State<AppState>,
    _: AsAdmin,
    Path(name): Path<String>,
) -> Result<StatusCode, HttpError> {
    let store = state.store.clone();
    let n = name.clone();
    match blocking(move || feeds::remove(&store, &n)).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(HttpError::not_found(format!("no feed {name:?}"))),
    }
}

/// Fetches and imports a feed now, whatever its schedule: the job.
async fn run_feed(
    State(state): State<AppState>,
    _: AsAdmin,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<JobView>), HttpError> {
    let importer = state.importer.clone();
    let n = name.clone();
    let job = blocking(move || {
        let feed = feeds::list(importer.store())?.into_iter().find(|f| f.name == n);
        feed.map(|f| importer.start_feed(&f)).transpose()
    })
    .await?;
    let job = job.ok_or_else(|| HttpError::not_found(format!("no feed {name:?}")))?;
    Ok((StatusCode::ACCEPTED, Json(job.view())))
}

async fn page(State(state): State<AppState>, AsAdmin(staff): AsAdmin) -> Result<Html<String>, HttpError> {
    let store = state.store.clone();
    let feeds = blocking(move || feeds::list(&store)).await?;
    let ctx =
        serde_json::json!({ "feeds": feeds, "jobs": state.importer.jobs(), "min_every": feeds::MIN_EVERY_MINUTES });
    render(&state, "staff/import.html", page_context(&state, &staff, ctx))
}
