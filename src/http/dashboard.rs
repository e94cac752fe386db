//! The staff dashboard (`/staff/dashboard`, every role): charts of aggregates over a date range, the same data as
//! JSON (`/api/dashboard`) and each chart's points as CSV (`/staff/dashboard/export/{chart}`).
use super::auth::Staff;
use super::staff::page_context;
use super::{blocking, download, render, AppState, HttpError};
use crate::dashboard::{self, Dashboard, Range};
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/dashboard", get(page))
        .route("/staff/dashboard/export/{chart}", get(export))
        .route("/api/dashboard", get(json))
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Days after a touch in which a cart or purchase is credited to it (default 7).
    window: Option<u32>,
}

async fn build(state: &AppState, p: Params) -> Result<Dashboard, HttpError> {
    let range = Range::parse(&p.from, &p.to, crate::session::now()).map_err(HttpError::bad_request)?;
    let window = p.window.unwrap_or(7);
    if !(1..=90).contains(&window) {
        return Err(HttpError::bad_request("window: 1 to 90 days"));
    }
    let mut results = vec![];
    for e in state.experiments.list() {
        results.push(super::experiments::read(state, e.name).await?);
    }
    let (store, sessions, catalog) = (state.store.clone(), state.sessions.clone(), state.catalog.clone());
    blocking(move || {
        let all = sessions.list()?;
        let filter = crate::support::Filter { from: range.from.clone(), to: range.to.clone(), ..Default::default() };
        let rows = crate::support::rows(&store, &sessions, &all, &filter)?;
        // touches up to a window before the range still earn its purchases
        let earliest = crate::events::parse_iso(&format!("{}T00:00:00", range.from))
            .map(|t| crate::prompts::datetime_iso(t.saturating_sub(u64::from(window) * 86_400)))
            .unwrap_or_default();
        let last = format!("{}T23:59:59", range.to);
        let mut events = store.all_events()?;
        events.retain(|e| e.timestamp >= earliest && e.timestamp <= last);
        let price = |id: &str| catalog.get(id).and_then(|p| p.price);
        Ok::<_, crate::support::SupportError>(dashboard::build(range, &rows, &all, &events, &results, &price, window))
    })
    .await
}

async fn page(State(state): State<AppState>, staff: Staff, Query(p): Query<Params>) -> Result<Html<String>, HttpError> {
    let window = p.window.unwrap_or(7);
    let d = build(&state, p).await?;
    let charts: Vec<serde_json::Value> = d
        .charts
        .iter()
        .map(|c| serde_json::json!({ "id": c.id, "title": c.title, "note": c.note, "svg": dashboard::svg::draw(c) }))
        .collect();
    let channels: Vec<serde_json::Value> = d
        .attribution
        .channels
        .iter()
        .map(|(c, f)| serde_json::json!({ "kind": c.kind, "name": c.name, "f": f }))
        .collect();
    render(
        &state,
        "staff/dashboard.html",
        page_context(
            &state,
            &staff,
            serde_json::json!({ "range": d.range, "window": window, "charts": charts, "channels": channels }),
        ),
    )
}

async fn json(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Json<Dashboard>, HttpError> {
    build(&state, p).await.map(Json)
}

async fn export(
    State(state): State<AppState>,
    _: Staff,
    Path(chart): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, HttpError> {
    let d = build(&state, p).await?;
    let c = d
        .charts
        .iter()
        .find(|c| c.id == chart)
        .ok_or_else(|| HttpError::not_found(format!("no chart named {chart:?}")))?;
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["label", "value", "low", "high"])?;
    for p in &c.points {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        w.write_record([p.label.clone(), p.value.to_string(), opt(p.low), opt(p.high)])?;
    }
    let name = format!("{}-{}-{}.csv", c.id, d.range.from, d.range.to);
    Ok(download(w.into_inner()?, "text/csv; charset=utf-8", &name))
}
