//! JSON API: `GET /api/search` (public: the shop's own search box can use it) and staff-only product changes
//! (`PUT /api/products/{id}`, `DELETE /api/products/{id}`) that update the store, the catalog and both search sides.
use super::{auth::AsAdmin, AppState, HttpError};
use crate::catalog::Product;
use crate::search::{Filters, Mode, SearchRequest, Sort};
use crate::store::Store;
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
}

async fn search(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResponse>, HttpError> {
    if p.q.chars().count() > 500 {
        return Err(HttpError::new(StatusCode::BAD_REQUEST, "q is limited to 500 characters"));
    }
    let a = state.assistant.clone();
    let started = std::time::Instant::now();
    let req = SearchRequest {
        text: p.q.clone(),
        semantic_text: None,
        filters: Filters {
            min_price: p.min_price,
            max_price: p.max_price,
            category: p.category,
            brand: p.brand,
            in_stock: p.in_stock,
            min_rating: p.min_rating,
            attributes: crate::search::attribute_filters(p.attr.as_deref().unwrap_or(""))
                .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, format!("attr: {e}")))?,
        },
        mode: p.mode,
        sort: p.sort,
        limit: p.limit.unwrap_or(20).clamp(1, 100),
    };
    let (hits, semantic) = tokio::task::spawn_blocking(move || {
        let hits = a.search.search(&req, &a.catalog, |id| a.behavior.popularity(id));
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
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    let mut facets: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &hits {
        if let Some(top) = r.category.split('>').next().map(str::trim).filter(|c| !c.is_empty()) {
            *facets.entry("category").or_default().entry(top.to_string()).or_default() += 1;
        }
        if !r.brand.is_empty() {
            *facets.entry("brand").or_default().entry(r.brand.clone()).or_default() += 1;
        }
    }
    Ok(Json(SearchResponse { results: hits, facets, semantic, took_ms: started.elapsed().as_secs_f64() * 1000.0 }))
}

/// A behaviour event from the widget or the shop's site.
#[derive(Debug, Deserialize)]
struct EventIn {
    /// The client's id for this event: sending it twice counts once.
    event_id: String,
    /// A customer id, or an anonymous session id.
    user: String,
    /// Required except for `search` events.
    #[serde(default)]
    product: String,
    kind: String,
    /// The words of a `search` event.
    query: Option<String>,
    /// ISO-8601; the server's time when absent.
    timestamp: Option<String>,
    quantity: Option<i64>,
    /// What led here (e.g. a saved copy variant's id from a campaign link), for attribution.
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EventsIn {
    One(EventIn),
    Many(Vec<EventIn>),
}

#[derive(Serialize)]
struct EventsOut {
    accepted: usize,
    duplicates: usize,
}

fn now_iso() -> String {
    let secs = crate::session::now();
    crate::prompts::datetime_iso(secs)
}

/// `POST /api/events`: one event or a list. Each is validated, then written once (by `event_id`) and flushed
/// before the answer, so an acknowledged event is never lost.
async fn post_events(State(state): State<AppState>, Json(body): Json<EventsIn>) -> Result<Json<EventsOut>, HttpError> {
    let events = match body {
        EventsIn::One(e) => vec![e],
        EventsIn::Many(v) => v,
    };
    if events.len() > 500 {
        return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, "at most 500 events per request"));
    }
    let mut checked = vec![];
    for (i, e) in events.into_iter().enumerate() {
        let kind = crate::import::generic::parse_kind(Some(&e.kind))
            .map_err(|m| HttpError::new(StatusCode::BAD_REQUEST, format!("event {i}: {m}")))?;
        let valid = |s: &str| !s.is_empty() && s.len() <= 128;
        let search = kind == crate::store::EventKind::Search;
        if !valid(&e.event_id) || !valid(&e.user) || (!search && !valid(&e.product)) {
            return Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("event {i}: event_id, user and product are required (at most 128 characters)"),
            ));
        }
        let query = match (search, e.query.as_deref().map(str::trim)) {
            (true, Some(q)) if !q.is_empty() && q.len() <= 500 => Some(crate::privacy::redact(q)),
            (true, _) => {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("event {i}: a search event needs its query (at most 500 characters)"),
                ))
            }
            (false, _) => None,
        };
        if !e.product.is_empty() && state.assistant.catalog.get(&e.product).is_none() {
            return Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("event {i}: no product with id {:?}", e.product),
            ));
        }
        let event = crate::store::Event {
            user: e.user,
            product: e.product,
            kind,
            timestamp: e.timestamp.unwrap_or_else(now_iso),
            order: None,
            quantity: e.quantity.unwrap_or(1),
            price: None,
            query,
            source: e.source.filter(|s| !s.is_empty() && s.len() <= 64),
        };
        checked.push((e.event_id, event));
    }
    let store = state.store.clone();
    let (accepted, duplicates) = tokio::task::spawn_blocking(move || store.record_events(&checked))
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    Ok(Json(EventsOut { accepted, duplicates }))
}

#[derive(Debug, thiserror::Error)]
enum ChangeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
}

async fn get_product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Product>, HttpError> {
    state
        .assistant
        .catalog
        .get(&id)
        .map(|p| Json((*p).clone()))
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, format!("no product with id {id:?}")))
}

async fn put_product(
    State(state): State<AppState>,
    _: AsAdmin,
    Path(id): Path<String>,
    Json(mut p): Json<Product>,
) -> Result<StatusCode, HttpError> {
    if p.title.trim().is_empty() {
        return Err(HttpError::new(StatusCode::BAD_REQUEST, "title is required"));
    }
    p.id = id;
    let (a, store) = (state.assistant.clone(), state.store.clone());
    let existed = a.catalog.get(&p.id).is_some();
    tokio::task::spawn_blocking(move || {
        Store::put(&store.products, &p.id, &p)?;
        a.search.upsert(&store, std::slice::from_ref(&p))?;
        a.catalog.upsert(p);
        Ok::<_, ChangeError>(())
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED })
}

async fn delete_product(
    State(state): State<AppState>,
    _: AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let (a, store) = (state.assistant.clone(), state.store.clone());
    if a.catalog.get(&id).is_none() {
        return Err(HttpError::new(StatusCode::NOT_FOUND, format!("no product with id {id:?}")));
    }
    tokio::task::spawn_blocking(move || {
        store.products.remove(id.as_bytes()).map_err(crate::store::StoreError::from)?;
        a.search.delete(&store, &[&id])?;
        a.catalog.remove(&id);
        Ok::<_, ChangeError>(())
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The language model's figures in Prometheus text (queue depth, slots, tokens, first-token time, cache hits).
async fn metrics(_: AsAdmin, State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let llm = &state.assistant.llm;
    let backend = match state.config.llm.backend {
        crate::config::LlmBackend::Llama => "llama",
        crate::config::LlmBackend::Openai => "openai",
    };
    let mut body = llm.metrics().prometheus(backend);
    if let Some(e) = state.assistant.search.embedder() {
        use crate::llm::prometheus_metric as metric;
        let (hits, held) = e.cache_stats();
        let name = "aisle_embed_query_cache_hits_total";
        metric(&mut body, name, "", "counter", "Single queries whose vector came from the cache.", hits as f64);
        let name = "aisle_embed_query_cache_entries";
        metric(&mut body, name, "", "gauge", "Query vectors the cache holds.", held as f64);
    }
    ([("content-type", "text/plain; version=0.0.4")], body)
}
