//! The copy studio (role marketer): templates and their parameters, audience segments with their size,
//! variants streamed side by side, brand rules, re-checking an edited text, saving, approving and exporting
//! variants (with the clicks attributed to each).
use super::auth::AsMarketer;
use super::staff::page_context;
use super::{blocking, render, AppState, HttpError};
use crate::copy::{self, BrandRules, CopyError, CopyRequest, Library, Saved, SavedCopy};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/copy", get(studio_page))
        .route("/staff/api/copy", post(generate))
        .route("/staff/api/copy/templates", get(templates))
        .route("/staff/api/copy/check", post(check))
        .route("/staff/api/copy/variants", get(list_variants).post(save_variant))
        .route("/staff/api/copy/variants/{id}", put(edit_variant))
        .route("/staff/api/copy/variants/{id}/approve", post(approve_variant))
        .route("/staff/api/brand-rules", get(get_rules).put(put_rules))
        .route("/staff/api/segments", get(segment_size))
}

fn library(state: &AppState) -> Result<Library, HttpError> {
    Library::load(&state.config.prompts_dir).map_err(HttpError::from)
}

async fn studio_page(State(state): State<AppState>, AsMarketer(staff): AsMarketer) -> Result<Html<String>, HttpError> {
    let lib = library(&state)?;
    let rules = BrandRules::load(&state.store)?;
    render(
        &state,
        "staff/copy.html",
        page_context(&state, &staff, json!({ "templates": lib.templates, "rules": rules })),
    )
}

async fn templates(State(state): State<AppState>, _: AsMarketer) -> Result<Json<Vec<copy::CopyTemplate>>, HttpError> {
    Ok(Json(library(&state)?.templates))
}

/// Streams one variant as JSON lines: `delta`*, maybe `replace` (the check failed), then `variant`
/// with the final text and its issues.
async fn generate(
    State(state): State<AppState>,
    _: AsMarketer,
    Json(mut req): Json<CopyRequest>,
) -> Result<Response, HttpError> {
    if req.variant > 16 {
        return Err(HttpError::unprocessable("at most 16 variants"));
    }
    let lib = library(&state)?;
    let rules = BrandRules::load(&state.store)?;
    // refuse bad requests before the stream starts, with a status code
    if state.catalog.get(&req.product).is_none() {
        return Err(HttpError::from(CopyError::UnknownProduct(req.product.clone())));
    }
    let name = req.template.clone().unwrap_or_else(|| "product_description".into());
    let t = lib.get(&name).ok_or_else(|| HttpError::from(CopyError::UnknownTemplate(name.clone())))?;
    copy::resolve_params(t, &req.params).map_err(HttpError::from)?;
    req.praise = praise_of(&state, &req.product).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<serde_json::Value>(64);
    let a = state.assistant.clone();
    // the task ends when the generation ends; when the client goes away the closed channel cancels it
    tokio::spawn(async move {
        let (ftx, mut frx) = tokio::sync::mpsc::channel(64);
        let out = tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(f) = frx.recv().await {
                if out.send(serde_json::to_value(f).unwrap_or_default()).await.is_err() {
                    break;
                }
            }
        });
        let result = copy::generate(&a, &lib, &rules, &req, &ftx).await;
        drop(ftx);
        let _ = forward.await;
        let last = match result {
            Ok(v) => {
                json!({ "type": "variant", "variant": req.variant, "text": v.text, "passed": v.verdict.passed, "issues": v.issues })
            }
            Err(e) => json!({ "type": "error", "message": e.to_string() }),
        };
        let _ = tx.send(last).await;
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let v = rx.recv().await?;
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}

#[derive(Deserialize)]
struct CheckIn {
    product: String,
    text: String,
    #[serde(default)]
    segment: Option<String>,
}

async fn review(
    state: &AppState,
    product: &str,
    segment: Option<&str>,
    text: &str,
) -> Result<Vec<copy::Issue>, HttpError> {
    let p = state.catalog.get(product).ok_or_else(|| HttpError::from(CopyError::UnknownProduct(product.into())))?;
    let rules = BrandRules::load(&state.store)?;
    let praise = praise_of(state, product).await;
    Ok(copy::review(&state.assistant, &p, segment, &praise, &rules, text))
}

/// What shoppers praise in a product's reviews, quoted as written (none without reviews, or while the sentiment
/// head trains): the copy may use these sentences.
async fn praise_of(state: &AppState, product: &str) -> Vec<String> {
    let (Some(s), Some(p)) = (state.sentiment.get(), state.catalog.get(product)) else { return vec![] };
    let cache = state.reviews.clone();
    match blocking(move || cache.product(&p, &s)).await {
        Ok(r) => r.map(|r| r.praise.clone()).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e.message, "no praise quotes for the copy");
            vec![]
        }
    }
}

/// Re-checks a text a marketer wrote or edited: every unsupported number, price, material, claim or promise,
/// and every brand rule it breaks.
async fn check(
    State(state): State<AppState>,
    _: AsMarketer,
    Json(c): Json<CheckIn>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let issues = review(&state, &c.product, c.segment.as_deref(), &c.text).await?;
    Ok(Json(json!({ "issues": issues })))
}

#[derive(Deserialize)]
struct SaveIn {
    product: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    segment: Option<String>,
    text: String,
}

const MAX_COPY_CHARS: usize = 5000;

async fn save_variant(
    State(state): State<AppState>,
    AsMarketer(staff): AsMarketer,
    Json(s): Json<SaveIn>,
) -> Result<Json<Saved>, HttpError> {
    let text = s.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_COPY_CHARS {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("a variant is 1-{MAX_COPY_CHARS} characters"),
        ));
    }
    let issues = review(&state, &s.product, s.segment.as_deref(), &text).await?;
    let title = state.catalog.get(&s.product).map(|p| p.title.clone()).unwrap_or_default();
    let now = crate::session::now();
    let saved = Saved {
        id: SavedCopy::new_id(),
        product: s.product,
        product_title: title,
        template: s.template.unwrap_or_else(|| "product_description".into()),
        params: s.params,
        segment: s.segment,
        text,
        issues,
        status: "draft".into(),
        author: staff.name.clone(),
        approved_by: None,
        created: now,
        updated: now,
    };
    SavedCopy::new(state.store.clone()).put(&saved)?;
    Ok(Json(saved))
}

#[derive(Deserialize)]
struct EditIn {
    text: String,
}

fn load_saved(state: &AppState, id: &str) -> Result<Saved, HttpError> {
    SavedCopy::new(state.store.clone()).get(id)?.ok_or_else(|| HttpError::from(CopyError::UnknownVariant(id.into())))
}

/// An edit is re-checked and goes back to draft.
async fn edit_variant(
    State(state): State<AppState>,
    _: AsMarketer,
    Path(id): Path<String>,
    Json(e): Json<EditIn>,
) -> Result<Json<Saved>, HttpError> {
    let mut saved = load_saved(&state, &id)?;
    let text = e.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_COPY_CHARS {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("a variant is 1-{MAX_COPY_CHARS} characters"),
        ));
    }
    saved.issues = review(&state, &saved.product, saved.segment.as_deref(), &text).await?;
    saved.text = text;
    saved.status = "draft".into();
    saved.approved_by = None;
    saved.updated = crate::session::now();
    SavedCopy::new(state.store.clone()).put(&saved)?;
    Ok(Json(saved))
}

/// Only a variant without open issues (re-checked now, against today's facts and rules) can be approved.
async fn approve_variant(
    State(state): State<AppState>,
    AsMarketer(staff): AsMarketer,
    Path(id): Path<String>,
) -> Result<Json<Saved>, HttpError> {
    let mut saved = load_saved(&state, &id)?;
    saved.issues = review(&state, &saved.product, saved.segment.as_deref(), &saved.text).await?;
    if !saved.issues.is_empty() {
        let list: Vec<&str> = saved.issues.iter().map(|i| i.detail.as_str()).collect();
        return Err(HttpError::from(CopyError::Rejected(format!("fix the flagged issues first: {}", list.join("; ")))));
    }
    saved.status = "approved".into();
    saved.approved_by = Some(staff.name.clone());
    saved.updated = crate::session::now();
    SavedCopy::new(state.store.clone()).put(&saved)?;
    Ok(Json(saved))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    format: String,
    status: String,
}

/// Saved variants with their attributed clicks: JSON (default), `format=csv` or `format=jsonl` as a download.
async fn list_variants(
    State(state): State<AppState>,
    _: AsMarketer,
    Query(q): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let (store, status) = (state.store.clone(), q.status.clone());
    let rows = blocking(move || copy::listed(&store, &status)).await?;
    match q.format.as_str() {
        "" | "json" => Ok(Json(rows).into_response()),
        "jsonl" => Ok(super::download(super::jsonl(&rows)?, "application/x-ndjson", "aisle-copy.jsonl")),
        "csv" => Ok(super::download(copy::csv(&rows)?, "text/csv; charset=utf-8", "aisle-copy.csv")),
        other => Err(HttpError::bad_request(format!("format {other:?}: use json, jsonl or csv"))),
    }
}

async fn get_rules(State(state): State<AppState>, _: AsMarketer) -> Result<Json<BrandRules>, HttpError> {
    Ok(Json(BrandRules::load(&state.store)?))
}

async fn put_rules(
    State(state): State<AppState>,
    AsMarketer(staff): AsMarketer,
    Json(mut r): Json<BrandRules>,
) -> Result<Json<BrandRules>, HttpError> {
    let clean = |v: Vec<String>| -> Vec<String> {
        v.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    };
    r.banned = clean(r.banned);
    r.required = clean(r.required);
    if r.banned.len() + r.required.len() > 500 || r.banned.iter().chain(&r.required).any(|s| s.chars().count() > 100) {
        return Err(HttpError::unprocessable("at most 500 rules of at most 100 characters"));
    }
    r.save(&state.store)?;
    tracing::info!(by = %staff.name, "brand rules changed");
    Ok(Json(r))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SegmentQuery {
    /// Words a product's title or category must contain (all of them), e.g. `candle`.
    words: String,
    /// Bought within this many days of the newest purchase on record. 0: ever.
    days: u32,
}

/// "Bought <words> in the last <days> days": its size, counted from the purchase histories. Days count back from
/// the newest purchase on record (a demo shop's data may be years old).
async fn segment_size(
    State(state): State<AppState>,
    _: AsMarketer,
    Query(q): Query<SegmentQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let words: Vec<String> = q
        .words
        .to_lowercase()
        .split_whitespace()
        .map(|w| w.trim_end_matches('s').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let a = state.clone();
    let out = tokio::task::spawn_blocking(move || {
        let products: Vec<_> = a
            .catalog
            .snapshot()
            .iter()
            .filter(|p| {
                let hay = format!("{} {}", p.title, p.category).to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .map(|p| p.id.clone())
            .collect();
        let set: std::collections::HashSet<&str> = products.iter().map(String::as_str).collect();
        let latest = a.behavior.get().latest_purchase();
        let since = match (q.days, latest.as_deref().and_then(crate::reco::profile::day_number)) {
            (0, _) | (_, None) => String::new(),
            (d, Some(day)) => crate::prompts::datetime_iso(((day - i64::from(d)).max(0) as u64) * 86_400),
        };
        let size =
            if words.is_empty() { a.behavior.get().customers() } else { a.behavior.get().buyers_since(&set, &since) };
        let what = if q.words.trim().is_empty() { "anything".to_string() } else { q.words.trim().to_string() };
        let label = match q.days {
            0 => format!("bought {what}"),
            d => format!("bought {what} in the last {d} days"),
        };
        json!({ "label": label, "size": size, "products": products.len(), "since": since, "latest_purchase": latest })
    })
    .await?;
    Ok(Json(out))
}
