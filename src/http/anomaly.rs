//! Anomaly and fraud signals for staff review: `GET /api/anomalies` (traffic or conversion per hour or day beside
//! the band its past expects, the periods outside it flagged), `GET /api/anomalies/shoppers` (shoppers flagged,
//! each flag with its evidence), the page `/staff/anomalies` with the band chart, and its CSV export. Nothing here
//! blocks anyone.
use super::auth::Staff;
use super::staff::page_context;
use super::{blocking, download, render, AppState, HttpError};
use crate::anomaly::shoppers::{self, Suspect};
use crate::anomaly::{self, Grain, Metric, Point};
use crate::dashboard::{Chart, Kind};
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// Periods a series shows by default: eight weeks of days, or two weeks of hours.
const SHOW_DAYS: usize = 56;
const SHOW_HOURS: usize = 336;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/anomalies", get(json))
        .route("/api/anomalies/shoppers", get(shoppers_json))
        .route("/staff/anomalies", get(page))
        .route("/staff/anomalies/export", get(export))
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    #[serde(default)]
    grain: String,
    #[serde(default)]
    metric: String,
    /// Periods to show, counted back from the last (default eight weeks of days, two of hours).
    periods: Option<usize>,
    /// The last period to show (`YYYY-MM-DD`, or with ` HH:MM` for hours; default the latest).
    #[serde(default)]
    to: String,
}

#[derive(Serialize)]
struct Series {
    grain: Grain,
    metric: Metric,
    points: Vec<Point>,
    /// The flagged periods among `points`.
    flagged: usize,
}

/// A checked request for a series.
struct Ask {
    grain: Grain,
    metric: Metric,
    show: usize,
    to: String,
}

fn ask(p: &Params) -> Result<Ask, HttpError> {
    let grain = Grain::parse(&p.grain).ok_or_else(|| HttpError::bad_request("grain: day or hour"))?;
    let metric = Metric::parse(&p.metric)
        .ok_or_else(|| HttpError::bad_request("metric: visitors, events, purchases or conversion"))?;
    let show = p.periods.unwrap_or(if grain == Grain::Day { SHOW_DAYS } else { SHOW_HOURS });
    if !(1..=5000).contains(&show) {
        return Err(HttpError::bad_request("periods: 1 to 5000"));
    }
    let to = p.to.trim().to_string();
    if !to.is_empty() && crate::reco::profile::day_number(&to).is_none() {
        return Err(HttpError::bad_request("to: a date, YYYY-MM-DD"));
    }
    Ok(Ask { grain, metric, show, to })
}

/// The series `a` asks for, from the store's events.
fn series_of(events: &[crate::store::Event], a: &Ask) -> Series {
    let t = anomaly::Traffic::from_events(events, a.grain);
    let mut all = anomaly::banded(&t, a.grain, a.metric);
    if !a.to.is_empty() {
        // labels are ISO dates and times: they sort as text
        all.retain(|p| p.period.as_str() <= a.to.as_str());
    }
    let points = all.split_off(all.len().saturating_sub(a.show));
    Series { grain: a.grain, metric: a.metric, flagged: points.iter().filter(|p| p.flag.is_some()).count(), points }
}

async fn series(state: &AppState, p: &Params) -> Result<Series, HttpError> {
    let a = ask(p)?;
    let store = state.store.clone();
    blocking(move || Ok::<_, HttpError>(series_of(&store.all_events()?, &a))).await
}

async fn json(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Json<Series>, HttpError> {
    series(&state, &p).await.map(Json)
}

async fn suspects(state: &AppState) -> Result<Vec<Suspect>, HttpError> {
    let store = state.store.clone();
    blocking(move || {
        let (events, orders) = (store.all_events()?, store.all_orders()?);
        Ok::<_, HttpError>(shoppers::suspects(&events, &orders))
    })
    .await
}

async fn shoppers_json(State(state): State<AppState>, _: Staff) -> Result<Json<Vec<Suspect>>, HttpError> {
    suspects(&state).await.map(Json)
}

fn chart(s: &Series) -> Chart {
    let points = s
        .points
        .iter()
        .map(|p| crate::dashboard::Point {
            low: p.low,
            high: p.high,
            ..crate::dashboard::Point::new(&p.period, p.value)
        })
        .collect();
    Chart {
        id: "traffic",
        title: format!("{:?} per {:?}, with the band its past expects", s.metric, s.grain).to_lowercase(),
        unit: if s.metric == Metric::Conversion { "share" } else { "count" },
        kind: Kind::Band,
        points,
        note: "The band: the median of the same weekday (or hour of the week) over the 8 weeks before, ± 3 robust \
               standard deviations."
            .into(),
    }
}

async fn page(State(state): State<AppState>, staff: Staff, Query(p): Query<Params>) -> Result<Html<String>, HttpError> {
    let a = ask(&p);
    let store = state.store.clone();
    // the series and the flagged shoppers from one read of the store
    let (s, suspects) = blocking(move || {
        let (events, orders) = (store.all_events()?, store.all_orders()?);
        let s = a.map(|a| series_of(&events, &a));
        Ok::<_, HttpError>((s, shoppers::suspects(&events, &orders)))
    })
    .await?;
    let (s, error) = match s {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.message)),
    };
    let svg = s.as_ref().map(|s| crate::dashboard::svg::draw(&chart(s)));
    let flagged: Vec<&Point> =
        s.as_ref().map(|s| s.points.iter().filter(|p| p.flag.is_some()).collect()).unwrap_or_default();
    let ctx = serde_json::json!({
        "grain": if p.grain.is_empty() { "day" } else { p.grain.as_str() },
        "metric": if p.metric.is_empty() { "visitors" } else { p.metric.as_str() }, "to": p.to,
        "series": s, "svg": svg, "error": error, "flagged": flagged, "suspects": suspects,
    });
    render(&state, "staff/anomalies.html", page_context(&state, &staff, ctx))
}

async fn export(State(state): State<AppState>, _: Staff, Query(p): Query<Params>) -> Result<Response, HttpError> {
    let s = series(&state, &p).await?;
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["period", "value", "expected", "low", "high", "flag", "evidence"])?;
    let n = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    for p in &s.points {
        w.write_record([
            p.period.clone(),
            format!("{:.4}", p.value),
            n(p.expected),
            n(p.low),
            n(p.high),
            p.flag.unwrap_or("").to_string(),
            p.evidence.clone().unwrap_or_default(),
        ])?;
    }
    Ok(download(w.into_inner()?, "text/csv; charset=utf-8", "anomalies.csv"))
}
