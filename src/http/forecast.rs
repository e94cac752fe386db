//! Demand forecasts for stock planning (every staff role): `GET /api/forecast` (one series: its recent history and
//! the forecast with 80/95% intervals), `GET /api/forecast/run-out` (products with known stock the forecast says
//! may run out), the page `/staff/forecast` with its chart and list, and `/staff/forecast/export` (CSV).
use super::auth::Staff;
use super::staff::page_context;
use super::{blocking, download, render, AppState, HttpError};
use crate::dashboard::{Chart, Kind, Point};
use crate::forecast::serve::{self, Ask, RunOut};
use crate::forecast::Report;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/forecast", get(json))
        .route("/api/forecast/run-out", get(run_out_json))
        .route("/staff/forecast", get(page))
        .route("/staff/forecast/export", get(export))
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    #[serde(default)]
    level: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    freq: String,
    weeks: Option<usize>,
}

async fn compute(state: &AppState, ask: Ask) -> Result<std::sync::Arc<serve::Computed>, HttpError> {
    let (store, catalog, cache) = (state.store.clone(), state.catalog.clone(), state.forecasts.clone());
    blocking(move || {
        let category = |id: &str| catalog.get(id).map(|p| p.category.clone()).unwrap_or_default();
        cache.computed(&store, &category, &ask)
    })
    .await
}

async fn report(state: &AppState, p: &Params) -> Result<Report, HttpError> {
    let ask = Ask::parse(&p.level, &p.key, &p.freq, p.weeks).map_err(HttpError::bad_request)?;
    let c = compute(state, ask.clone()).await?;
    serve::answer(&c, &ask).ok_or_else(|| {
        HttpError::not_found(format!("no whole {} of sales for {} {:?} yet", period(&ask), p.level, p.key))
    })
}

fn period(ask: &Ask) -> &'static str {
    match ask.freq {
        crate::forecast::Freq::Daily => "day",
        crate::forecast::Freq::Weekly => "week",
    }
}

async fn json(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Json<Report>, HttpError> {
    report(&state, &p).await.map(Json)
}

async fn run_out(state: &AppState, weeks: Option<usize>) -> Result<Vec<RunOut>, HttpError> {
    let ask = Ask::parse("product", "-", "weekly", weeks).map_err(HttpError::bad_request)?;
    let c = compute(state, ask).await?;
    Ok(serve::run_out(&c, &state.catalog, crate::forecast::Freq::Weekly))
}

async fn run_out_json(
    State(state): State<AppState>,
    _: Staff,
    Query(p): Query<Params>,
) -> Result<Json<Vec<RunOut>>, HttpError> {
    run_out(&state, p.weeks).await.map(Json)
}

/// The report as a chart: the history, then the forecast with its 80% interval.
fn chart(r: &Report) -> Chart {
    let mut points: Vec<Point> = r.history.iter().map(|(l, v)| Point::new(l.clone(), *v)).collect();
    points.extend(r.forecast.iter().map(|f| Point {
        low: Some(f.lo80),
        high: Some(f.hi80),
        ..Point::new(&f.period, f.mean)
    }));
    Chart {
        id: "forecast",
        title: format!("Units sold per {:?} and forecast", r.freq).to_lowercase(),
        unit: "count",
        kind: Kind::Band,
        points,
        note: format!("Method: {}. The band is the 80% prediction interval.", r.method),
    }
}

async fn page(State(state): State<AppState>, staff: Staff, Query(p): Query<Params>) -> Result<Html<String>, HttpError> {
    let (r, error) = match report(&state, &p).await {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.message)),
    };
    let svg = r.as_ref().map(|r| crate::dashboard::svg::draw(&chart(r)));
    let list = run_out(&state, p.weeks).await?;
    let ctx = serde_json::json!({
        "level": if p.level.is_empty() { "shop" } else { p.level.as_str() }, "key": p.key,
        "freq": if p.freq.is_empty() { "weekly" } else { p.freq.as_str() }, "weeks": p.weeks.unwrap_or(8),
        "report": r, "svg": svg, "error": error, "run_out": list,
    });
    render(&state, "staff/forecast.html", page_context(&state, &staff, ctx))
}

async fn export(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Response, HttpError> {
    let r = report(&state, &p).await?;
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["period", "kind", "units", "lo80", "hi80", "lo95", "hi95"])?;
    for (l, v) in &r.history {
        w.write_record([l.as_str(), "actual", &v.to_string(), "", "", "", ""])?;
    }
    for f in &r.forecast {
        let n = |v: f64| format!("{v:.3}");
        w.write_record([f.period.as_str(), "forecast", &n(f.mean), &n(f.lo80), &n(f.hi80), &n(f.lo95), &n(f.hi95)])?;
    }
    let name = format!("forecast-{}-{}.csv", r.level, if r.key.is_empty() { "shop" } else { &r.key });
    Ok(download(w.into_inner()?, "text/csv; charset=utf-8", &name))
}
