//! Review and chat sentiment for staff: `GET /api/sentiment` (a product's, a category's or the shop's reviews
//! rolled up: labels, aspects, quotes), `POST /api/sentiment/score` (any texts, as the head reads them), the page
//! `/staff/sentiment` with its aspect chart, and `/staff/sentiment/export` (one row per product, CSV).
use super::auth::Staff;
use super::staff::page_context;
use super::{blocking, download, render, AppState, HttpError};
use crate::dashboard::{Chart, Kind, Point};
use crate::sentiment::rollup::{self, ProductSentiment, Summary};
use crate::sentiment::{aspects, Mood, Sentiment};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Texts one scoring request may carry, and their length.
const MAX_TEXTS: usize = 100;
const MAX_CHARS: usize = 2000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sentiment", get(json))
        .route("/api/sentiment/score", post(score))
        .route("/staff/sentiment", get(page))
        .route("/staff/sentiment/export", get(export))
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    #[serde(default)]
    level: String,
    #[serde(default)]
    key: String,
}

/// A roll-up as the API answers it.
#[derive(Serialize)]
#[serde(tag = "level", rename_all = "lowercase")]
enum Answer {
    Product(ProductSentiment),
    Category(Summary),
    Shop(Summary),
}

fn head(state: &AppState) -> Result<Arc<Sentiment>, HttpError> {
    state.sentiment.get().ok_or_else(|| {
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the sentiment head is not ready (it trains for about half a minute on a first start; without an \
             embedding model there is none)",
        )
    })
}

async fn answer(state: &AppState, p: &Params) -> Result<Answer, HttpError> {
    let s = head(state)?;
    let (catalog, cache) = (state.catalog.clone(), state.reviews.clone());
    let key = p.key.trim().to_string();
    match p.level.as_str() {
        "product" => {
            let product = catalog.get(&key).ok_or_else(|| HttpError::not_found(format!("no product {key:?}")))?;
            let r = blocking(move || cache.product(&product, &s)).await?;
            r.map(|r| Answer::Product((*r).clone()))
                .ok_or_else(|| HttpError::not_found(format!("product {key:?} has no reviews")))
        }
        "" | "shop" | "category" => {
            let category = p.level == "category";
            if category && key.is_empty() {
                return Err(HttpError::bad_request("a category roll-up needs key"));
            }
            let all = blocking(move || cache.all(&catalog, &s)).await?;
            let key = if category { key } else { String::new() };
            let summary = rollup::summary(&all, &key);
            if summary.group.products == 0 && category {
                return Err(HttpError::not_found(format!("no reviewed product in category {key:?}")));
            }
            Ok(if category { Answer::Category(summary) } else { Answer::Shop(summary) })
        }
        other => Err(HttpError::bad_request(format!("level {other:?}: shop, category or product"))),
    }
}

async fn json(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Json<Answer>, HttpError> {
    answer(&state, &p).await.map(Json)
}

#[derive(Deserialize)]
struct ScoreIn {
    texts: Vec<String>,
}

#[derive(Serialize)]
struct Scored {
    text: String,
    label: &'static str,
    score: f32,
    mood: Mood,
    aspects: Vec<&'static str>,
}

/// Scores texts as the head reads them (a review, a chat message; English or a language the shop reads).
async fn score(
    State(state): State<AppState>,
    _: Staff,
    Json(input): Json<ScoreIn>,
) -> Result<Json<Vec<Scored>>, HttpError> {
    if input.texts.is_empty() || input.texts.len() > MAX_TEXTS {
        return Err(HttpError::unprocessable(format!("texts: 1 to {MAX_TEXTS}")));
    }
    if let Some(i) = input.texts.iter().position(|t| t.chars().count() > MAX_CHARS || t.trim().is_empty()) {
        return Err(HttpError::unprocessable(format!("texts[{i}]: empty or over {MAX_CHARS} characters")));
    }
    let s = head(&state)?;
    let texts = input.texts.clone();
    let moods = blocking(move || s.moods(&texts)).await?;
    Ok(Json(
        input
            .texts
            .into_iter()
            .zip(moods)
            .map(|(text, mood)| Scored {
                label: mood.label(),
                score: mood.score(),
                aspects: aspects::of(&text),
                text,
                mood,
            })
            .collect(),
    ))
}

/// Each aspect's mean score as a bar.
fn chart(aspects: &[rollup::AspectRoll], of: &str) -> Chart {
    Chart {
        id: "aspects",
        title: format!("What reviews of {of} say, by aspect"),
        unit: "score",
        kind: Kind::Bar,
        points: aspects.iter().map(|a| Point::new(a.aspect, f64::from(a.score))).collect(),
        note: "Mean sentiment (-1 to 1) of the review sentences that mention each aspect.".into(),
    }
}

async fn page(State(state): State<AppState>, staff: Staff, Query(p): Query<Params>) -> Result<Html<String>, HttpError> {
    let level = if p.level.is_empty() { "shop" } else { p.level.as_str() };
    let (answer, error) = match answer(&state, &p).await {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.message)),
    };
    let svg = answer.as_ref().map(|a| {
        let (aspects, of) = match a {
            Answer::Product(r) => (&r.aspects, r.title.clone()),
            Answer::Category(g) => (&g.group.aspects, g.group.key.clone()),
            Answer::Shop(g) => (&g.group.aspects, "the shop".to_string()),
        };
        crate::dashboard::svg::draw(&chart(aspects, &of))
    });
    let ctx = serde_json::json!({
        "level": level, "key": p.key, "answer": answer, "svg": svg, "error": error,
    });
    render(&state, "staff/sentiment.html", page_context(&state, &staff, ctx))
}

async fn export(State(state): State<AppState>, _: Staff) -> Result<Response, HttpError> {
    let s = head(&state)?;
    let (catalog, cache) = (state.catalog.clone(), state.reviews.clone());
    let all = blocking(move || cache.all(&catalog, &s)).await?;
    let mut w = csv::Writer::from_writer(vec![]);
    let names = aspects::names();
    let mut header = vec!["id", "title", "category", "reviews", "negative", "neutral", "positive", "score"];
    header.extend(names.iter().copied());
    header.extend(["praise", "complaint"]);
    w.write_record(&header)?;
    for r in &all {
        let mut row = vec![
            r.id.clone(),
            r.title.clone(),
            r.category.clone(),
            r.reviews.to_string(),
            r.negative.to_string(),
            r.neutral.to_string(),
            r.positive.to_string(),
            format!("{:.3}", r.score),
        ];
        for n in &names {
            row.push(r.aspects.iter().find(|a| a.aspect == *n).map(|a| format!("{:.3}", a.score)).unwrap_or_default());
        }
        row.push(r.praise.first().cloned().unwrap_or_default());
        row.push(r.complaints.first().cloned().unwrap_or_default());
        w.write_record(&row)?;
    }
    Ok(download(w.into_inner()?, "text/csv; charset=utf-8", "sentiment-products.csv"))
}
