//! HTTP edge: one `router()` per area merged here, the shared [`AppState`], static files, and the mapping of
//! domain errors to status codes (internal detail goes to the log, a clear message to the client).
pub mod anomaly;
pub mod api;
pub mod auth;
pub mod console;
pub mod dashboard;
pub mod error;
pub mod experiments;
pub mod forecast;
pub mod guard;
pub mod import;
pub mod keys;
pub mod orders;
pub mod reco;
pub mod sentiment;
pub mod serve;
pub mod shoppers;
pub mod staff;
pub mod store_page;
pub mod studio;
pub mod ws;

pub use error::{blocking, HttpError};

use crate::chat::Assistant;
use crate::config::Config;
use crate::prompts::Templates;
use crate::session::Sessions;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// Cheap handles shared by every request. Cloning is shallow.
#[derive(Clone)]
pub struct AppState {
    /// The chat (and the copy studio, which writes through the same model and checker).
    pub assistant: Assistant,
    /// The running catalog, the search, the behaviour tables and the model: the same handles the assistant holds,
    /// for the handlers that need one domain and not the chat.
    pub catalog: crate::catalog::Catalog,
    pub search: Arc<crate::search::Search>,
    pub behavior: Arc<crate::behavior::Live>,
    pub llm: Arc<dyn crate::llm::Generate>,
    pub sessions: Sessions,
    pub store: crate::store::Store,
    pub pages: Templates,
    pub config: Arc<Config>,
    /// Turns true when the server is shutting down; every WebSocket loop watches it.
    pub shutdown: watch::Receiver<bool>,
    /// One permit per open chat connection.
    pub connections: Arc<Semaphore>,
    /// Demo customers offered on the store page: (id, distinct products bought).
    pub demo_customers: Arc<Vec<(String, usize)>>,
    /// The served recommender (hot-swapped when a new model is installed).
    pub recommender: crate::reco::serve::Recommender,
    /// Staff accounts and sign-ins.
    pub accounts: crate::accounts::Accounts,
    /// Live chat rooms (staff watching and taking over).
    pub live: crate::live::Live,
    /// Imports while serving: uploads, feeds on their schedule, and the jobs a page polls.
    pub importer: crate::import::jobs::Importer,
    /// A recommender training run is going (one at a time per server).
    pub training: Arc<std::sync::atomic::AtomicBool>,
    /// Checks the shop's signatures on customer ids.
    pub identity: crate::identity::Verifier,
    /// API keys (publishable and secret).
    pub keys: crate::keys::Keys,
    /// Per-client limits, sign-in lockout, allowed origins.
    pub guard: Arc<guard::Guard>,
    /// The shop's experiments (assignment, exposures, read-outs).
    pub experiments: crate::experiments::Experiments,
    /// Demand forecasts kept between requests (`forecast::serve`).
    pub forecasts: crate::forecast::serve::Cache,
    /// The sentiment head (empty until trained) and the review roll-ups it computed (`sentiment`).
    pub sentiment: crate::sentiment::Slot,
    pub reviews: crate::sentiment::rollup::Rollups,
    /// The demo store page's own publishable key, made afresh at each start (None where it could not be).
    pub demo_key: Option<Arc<str>>,
}

pub fn router(state: AppState) -> Router {
    let (cors, timeout) = (
        state.guard.cors(),
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(state.config.security.request_timeout_secs.max(1)),
        ),
    );
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/static/{file}", get(static_file))
        .merge(store_page::router())
        .merge(ws::router())
        .merge(staff::router())
        .merge(keys::router())
        .merge(studio::router())
        .merge(console::router())
        .merge(shoppers::router())
        .merge(api::router())
        .merge(orders::router())
        .merge(import::router())
        .merge(reco::router())
        .merge(experiments::router())
        .merge(dashboard::router())
        .merge(forecast::router())
        .merge(sentiment::router())
        .merge(anomaly::router())
        .with_state(state)
        .layer(timeout)
        .layer(axum::middleware::from_fn(error::log_errors))
        // a failing response is logged by `error::log_errors` (an internal error once, at ERROR, with its cause);
        // the trace layer's own line for every 5xx would repeat it, and call each expected 503 of /readyz an error
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid))
        .layer(cors);
    guard::security_headers(routes)
}

/// The tracing span of one request: its id (given by the client in `x-request-id`, or made here), method and path.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
}

/// One JSON value per line (JSONL).
pub fn jsonl<T: serde::Serialize>(rows: &[T]) -> Result<Vec<u8>, HttpError> {
    let mut out = vec![];
    for r in rows {
        out.extend(serde_json::to_vec(r)?);
        out.push(b'\n');
    }
    Ok(out)
}

/// A file download: `name` is the file name the browser saves it as.
pub fn download(body: Vec<u8>, kind: &str, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}

/// Percent-encodes everything but unreserved characters and `/` (for a path carried in a query parameter).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn render(state: &AppState, name: &str, ctx: impl serde::Serialize) -> Result<Html<String>, HttpError> {
    state.pages.render(name, ctx).map(Html).map_err(HttpError::internal)
}

/// Readiness: 200 when every part is serving at full strength, 503 while a first start still trains the intent
/// classifier (the chat answers meanwhile: service requests by their words).
async fn readyz(State(state): State<AppState>) -> Response {
    let intents = state.assistant.intents.get().is_some();
    let without = state.search.embedder().is_none();
    let body = serde_json::json!({ "intents": if intents { "ready" } else if without { "none" } else { "training" } });
    let status = if intents || without { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// Files from `static/`: plain names only, so no path can leave the folder.
async fn static_file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let safe =
        !file.starts_with('.') && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(state.config.static_dir.join(&file)).await {
        Ok(body) => ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
