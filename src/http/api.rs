//! JSON API: `GET /api/search` (public: the shop's own search box can use it), product changes for the shop's
//! backend (`PUT /api/products/{id}`, `DELETE /api/products/{id}`: an admin or a secret key) that update the store,
//! the catalog and both search sides, and behaviour events (`POST /api/events`, with an API key).
use super::auth::{AsAdmin, Backend, Caller};
use super::guard::ClientAddr;
use super::{blocking, AppState, HttpError};
use crate::catalog::Product;
use crate::events::EventIn;
use crate::search::{Filters, Mode, SearchRequest, Sort};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/search", get(search))
        .route("/api/products/{id}", put(put_product).delete(delete_product).get(get_product))
        .route("/api/events", axum::routing::post(post_events))
        .route("/metrics", get(metrics))
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    pub q: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub sort: Sort,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    pub category: Option<String>,
    pub brand: Option<String>,
    #[serde(default)]
    pub in_stock: bool,
    pub min_rating: Option<f32>,
    /// Attribute filters: `key:value` pairs separated by `;` (`colour:red;age:3 years and up`).
    pub attr: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Serialize)]
struct ResultRow {
    id: String,
    title: String,
    price: Option<f64>,
    category: String,
    brand: String,
    stock: Option<i64>,
    rating: Option<f32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
    /// Fused (or single-side) score, and each side's rank and score: why this result is here.
    score: f32,
    keyword: Option<crate::search::Part>,
    semantic: Option<crate::search::Part>,
}

#[derive(Serialize)]
struct SearchResponse {
    results: Vec<ResultRow>,
    /// Counts among the results: top-level category and brand.
    facets: BTreeMap<&'static str, BTreeMap<String, usize>>,
    semantic: bool,
    took_ms: f64,
    /// A query in another language, as it was read for the catalog ("灯笼" -> "lantern").
    #[serde(skip_serializing_if = "Option::is_none")]
    read_as: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResponse>, HttpError> {
    if p.q.chars().count() > 500 {
        return Err(HttpError::bad_request("q is limited to 500 characters"));
    }
    let a = state.clone();
    let started = std::time::Instant::now();
    // a query in another language is read into the catalog's words, as the chat reads a message
    let read_as = state
        .assistant
        .langs
        .detect(&p.q)
        .filter(|code| *code != crate::lang::DEFAULT)
        .and_then(|code| state.assistant.in_lang(code).pivot(&p.q))
        .map(|pivot| crate::chat::query::without_prices(&pivot.text))
        .filter(|t| !t.is_empty());
    let req = SearchRequest {
        text: read_as.clone().unwrap_or_else(|| p.q.clone()),
        semantic_text: None,
        filters: Filters {
            min_price: p.min_price,
            max_price: p.max_price,
            category: p.category,
            brand: p.brand,
            in_stock: p.in_stock,
            min_rating: p.min_rating,
            attributes: crate::search::attribute_filters(p.attr.as_deref().unwrap_or(""))
                .map_err(|e| HttpError::bad_request(format!("attr: {e}")))?,
        },
        mode: p.mode,
        sort: p.sort,
        limit: p.limit.unwrap_or(20).clamp(1, 100),
    };
    let (hits, semantic) = blocking(move || {
        let hits = a.search.search(&req, &a.catalog, |id| a.behavior.get().popularity(id));
        hits.map(|h| {
            let rows: Vec<ResultRow> = h
                .into_iter()
                .filter_map(|h| {
                    let p = a.catalog.get(&h.id)?;
                    Some(ResultRow {
                        id: h.id,
                        title: p.title.clone(),
                        price: p.price,
                        category: p.category.clone(),
                        brand: p.brand.clone(),
                        stock: p.stock,
                        rating: p.rating,
                        attributes: p.attributes.clone(),
                        score: h.score,
                        keyword: h.keyword,
                        semantic: h.semantic,
                    })
                })
                .collect();
            (rows, a.search.semantic_enabled())
        })
    })
    .await?;
    let mut facets: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &hits {
        if let Some(top) = r.category.split('>').next().map(str::trim).filter(|c| !c.is_empty()) {
            *facets.entry("category").or_default().entry(top.to_string()).or_default() += 1;
        }
        if !r.brand.is_empty() {
            *facets.entry("brand").or_default().entry(r.brand.clone()).or_default() += 1;
        }
    }
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(SearchResponse { results: hits, facets, semantic, took_ms, read_as }))
}

#[derive(Serialize)]
struct EventsOut {
    accepted: usize,
    duplicates: usize,
}

/// `POST /api/events`: one event or a list, with an API key (or as an admin). Every event is checked against what
/// the caller may write (`events::check`) before any is stored; one bad event refuses the whole request with its
/// index and reason. Each is written once (by `event_id`, in one transaction with its id) and flushed before the
/// answer, so an acknowledged event is never lost.
async fn post_events(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<EventsOut>, HttpError> {
    state.guard.event_request(ip).map_err(|e| HttpError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()))?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| HttpError::bad_request(format!("the body is not JSON: {e}")))?;
    let events = match body {
        serde_json::Value::Array(v) => v,
        one @ serde_json::Value::Object(_) => vec![one],
        _ => return Err(HttpError::bad_request("the body is not an event or a list of events")),
    };
    if events.len() > crate::events::MAX_BATCH {
        return Err(HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {} events per request", crate::events::MAX_BATCH),
        ));
    }
    let (writer, now) = (caller.writer(), crate::session::now());
    let catalog = &state.catalog;
    let checked = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let e: EventIn =
                serde_json::from_value(e).map_err(|e| HttpError::bad_request(format!("event {i}: {e}")))?;
            crate::events::check(e, &writer, now, |id| catalog.get(id).is_some()).map_err(|why| {
                let status = match why {
                    crate::events::Refused::Scope(_) => StatusCode::FORBIDDEN,
                    crate::events::Refused::Invalid(_) => StatusCode::BAD_REQUEST,
                };
                HttpError::new(status, format!("event {i}: {why}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = state.store.clone();
    let (fresh, checked) = blocking(move || store.record_events(&checked).map(|f| (f, checked))).await?;
    let new: Vec<crate::store::Event> =
        checked.into_iter().zip(&fresh).filter(|(_, &f)| f).map(|((_, e), _)| e).collect();
    let (accepted, duplicates) = (new.len(), fresh.len() - new.len());
    if accepted > 0 {
        state.recommender.behaviour_changed();
        state.behavior.recorded(&new);
    }
    Ok(Json(EventsOut { accepted, duplicates }))
}

async fn get_product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Product>, HttpError> {
    state
        .catalog
        .get(&id)
        .map(|p| Json((*p).clone()))
        .ok_or_else(|| HttpError::not_found(format!("no product with id {id:?}")))
}

async fn put_product(
    State(state): State<AppState>,
    _: Backend,
    Path(id): Path<String>,
    Json(mut p): Json<Product>,
) -> Result<StatusCode, HttpError> {
    if p.title.trim().is_empty() {
        return Err(HttpError::bad_request("title is required"));
    }
    if let Some(problem) = p.address_problem() {
        return Err(HttpError::bad_request(problem));
    }
    p.id = id;
    let (a, store) = (state.clone(), state.store.clone());
    let existed = blocking(move || crate::import::put_product(&store, &a.search, &a.catalog, p)).await?;
    state.recommender.catalog_changed();
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED })
}

async fn delete_product(
    State(state): State<AppState>,
    _: Backend,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let (a, store) = (state.clone(), state.store.clone());
    if a.catalog.get(&id).is_none() {
        return Err(HttpError::not_found(format!("no product with id {id:?}")));
    }
    blocking(move || crate::import::remove_product(&store, &a.search, &a.catalog, &id)).await?;
    state.recommender.catalog_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// The language model's figures in Prometheus text (queue depth, slots, tokens, first-token time, cache hits).
async fn metrics(_: AsAdmin, State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let llm = &state.llm;
    let backend = match state.config.llm.backend {
        crate::config::LlmBackend::Llama => "llama",
        crate::config::LlmBackend::Openai => "openai",
    };
    let mut body = llm.metrics().prometheus(backend);
    if let Some(e) = state.search.embedder() {
        use crate::llm::prometheus_metric as metric;
        let (hits, held) = e.cache_stats();
        let name = "aisle_embed_query_cache_hits_total";
        metric(&mut body, name, "", "counter", "Single queries whose vector came from the cache.", hits as f64);
        let name = "aisle_embed_query_cache_entries";
        metric(&mut body, name, "", "gauge", "Query vectors the cache holds.", held as f64);
    }
    ([("content-type", "text/plain; version=0.0.4")], body)
}
