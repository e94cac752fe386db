//! Recommendations and profiles over HTTP. `GET /api/similar/{product}` is public (no personal data); the
//! personal routes (`/api/recommend`, `/api/profile/{user}`, `/api/identify`, the reload, the staff profile page)
//! need the staff token, since they read a shopper's history.
use super::auth::{AsAdmin, Staff, StaffOrKey};
use super::{blocking, render, AppState, HttpError};
use crate::reco::profile::{self, Profile};
use crate::reco::serve::{Recommendation, Request};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/recommend", get(recommend))
        .route("/api/similar/{product}", get(similar))
        .route("/api/profile/{user}", get(profile_json))
        .route("/api/identify", post(identify))
        .route("/api/recommender/reload", post(reload))
        .route("/api/recommender/train", post(train))
        .route("/staff/profile/{user}", get(profile_page))
}

#[derive(Debug, Deserialize, Default)]
pub struct RecommendParams {
    pub user: Option<String>,
    pub n: Option<usize>,
    pub category: Option<String>,
    /// Categories to leave out, comma-separated.
    pub exclude_category: Option<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// `category:bonus` pairs, comma-separated, e.g. `Christmas:0.5`.
    pub boost: Option<String>,
    #[serde(default)]
    pub include_bought: bool,
    /// Free text from the conversation.
    pub context: Option<String>,
    /// Places kept for products nobody has bought yet (default 2, at most n).
    pub new_slots: Option<usize>,
}

#[derive(Serialize)]
struct RecommendResponse {
    user: Option<String>,
    /// The installed model's version (absent: item-kNN and popularity only).
    model_version: Option<u64>,
    recommendations: Vec<Recommendation>,
    /// The running recommend experiment and this shopper's variant (absent: none running, or no user).
    #[serde(skip_serializing_if = "Option::is_none")]
    experiment: Option<InExperiment>,
    took_ms: f64,
}

#[derive(Serialize)]
struct InExperiment {
    name: String,
    variant: String,
    /// Aisle is off for this shopper: show the shop's own default, not these (empty) recommendations.
    holdout: bool,
}

fn parse_boosts(s: &str) -> Result<Vec<(String, f32)>, HttpError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (c, b) = p
                .rsplit_once(':')
                .ok_or_else(|| HttpError::bad_request(format!("boost {p:?}: expected category:bonus")))?;
            let b: f32 = b
                .trim()
                .parse()
                .map_err(|_| HttpError::bad_request(format!("boost {p:?}: the bonus is not a number")))?;
            Ok((c.trim().to_string(), b))
        })
        .collect()
}

async fn recommend(
    State(state): State<AppState>,
    reader: StaffOrKey,
    Query(q): Query<RecommendParams>,
) -> Result<Json<RecommendResponse>, HttpError> {
    if let Some(user) = q.user.as_deref().filter(|u| !reader.may_read_for(u)) {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!("a publishable key reads only its own visitor's recommendations, not {user:?}'s"),
        ));
    }
    let started = std::time::Instant::now();
    let n = q.n.unwrap_or(10);
    if n == 0 || n > 100 {
        return Err(HttpError::bad_request("n must be between 1 and 100"));
    }
    let mut boosts = parse_boosts(q.boost.as_deref().unwrap_or(""))?;
    boosts.extend(state.config.rules.boost.iter().map(|(c, b)| (c.clone(), *b)));
    let context = match q.context.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => {
            let (a, text) = (state.clone(), crate::privacy::redact(text));
            blocking(move || a.search.embed(vec![text], crate::embed::Role::Query)).await?.and_then(|mut v| v.pop())
        }
        None => None,
    };
    let mut req = Request {
        user: q.user.clone(),
        n,
        category: q.category.clone(),
        // the shop's standing rules hold whatever the request asks
        exclude_categories: q
            .exclude_category
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .chain(state.config.rules.exclude_categories.iter().cloned())
            .collect(),
        min_price: q.min_price,
        max_price: q.max_price,
        boosts,
        include_bought: q.include_bought,
        context,
        new_slots: q.new_slots.unwrap_or(crate::reco::eval::NEW_SLOTS),
        weights: None,
    };
    let treatment = match (q.user.as_deref(), state.experiments.running_on(crate::experiments::Surface::Recommend)) {
        (Some(u), Some(e)) => state.experiments.treatment(&e, u),
        _ => None,
    };
    let mut model = None;
    let experiment = match (&treatment, q.user.clone()) {
        (Some(t), Some(user)) => {
            let (x, t2) = (state.experiments.clone(), t.clone());
            let variant = blocking(move || x.expose(&t2, &user, &user, crate::session::now())).await?;
            // the variant the shopper was first exposed to stays theirs
            let v = t.experiment.variants.iter().find(|v| v.name == variant).unwrap_or(&t.variant);
            req.weights = v.blend;
            model = v.model;
            Some(InExperiment { name: t.experiment.name.clone(), variant: v.name.clone(), holdout: v.holdout })
        }
        _ => None,
    };
    if experiment.as_ref().is_some_and(|e| e.holdout) {
        return Ok(Json(RecommendResponse {
            user: q.user,
            model_version: state.recommender.version(),
            recommendations: vec![],
            experiment,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        }));
    }
    let (rec, store, catalog) = (state.recommender.clone(), state.store.clone(), state.catalog.clone());
    let list = blocking(move || {
        let history = match &req.user {
            Some(u) => rec.history(&store, u)?,
            None => vec![],
        };
        // an experiment's variant may serve another trained model version over the same tables
        let served = match model {
            Some(v) => rec.with_version(v)?,
            None => rec.current(),
        };
        Ok::<_, crate::reco::RecoError>(served.recommend(&catalog, &req, &history))
    })
    .await?;
    Ok(Json(RecommendResponse {
        user: q.user,
        model_version: model.or(state.recommender.version()),
        recommendations: list,
        experiment,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

#[derive(Deserialize)]
struct SimilarParams {
    n: Option<usize>,
}

async fn similar(
    State(state): State<AppState>,
    Path(product): Path<String>,
    Query(q): Query<SimilarParams>,
) -> Result<Json<Vec<Recommendation>>, HttpError> {
    let n = q.n.unwrap_or(10).clamp(1, 100);
    state
        .recommender
        .current()
        .similar(&state.catalog, &product, n, &state.config.rules)
        .map(Json)
        .ok_or_else(|| HttpError::not_found(format!("no product with id {product:?}")))
}

async fn load_profile(state: &AppState, user: String) -> Result<Profile, HttpError> {
    let (store, catalog) = (state.store.clone(), state.catalog.clone());
    blocking(move || store.user_events(&user).map(|events| profile::build(&user, &events, &catalog))).await
}

async fn profile_json(
    State(state): State<AppState>,
    _staff: Staff,
    Path(user): Path<String>,
) -> Result<Json<Profile>, HttpError> {
    let p = load_profile(&state, user.clone()).await?;
    if p.events == 0 {
        return Err(HttpError::not_found(format!("no events for shopper {user:?}")));
    }
    Ok(Json(p))
}

async fn profile_page(State(state): State<AppState>, staff: Staff, Path(user): Path<String>) -> Response {
    let p = match load_profile(&state, user.clone()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (rec, store, catalog) = (state.recommender.clone(), state.store.clone(), state.catalog.clone());
    let u = user.clone();
    let recs = blocking(move || {
        let history = rec.history(&store, &u)?;
        Ok::<_, HttpError>(rec.current().recommend(
            &catalog,
            &Request { user: Some(u), n: 8, new_slots: crate::reco::eval::NEW_SLOTS, ..Default::default() },
            &history,
        ))
    })
    .await;
    let recs = match recs {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    render(
        &state,
        "staff/profile.html",
        super::staff::page_context(
            &state,
            &staff,
            serde_json::json!({
                "profile": p,
                "recommendations": recs,
                "model_version": state.recommender.version(),
                "sequential": state.recommender.serves_sequential(),
            }),
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
struct IdentifyIn {
    /// The anonymous session id the widget used.
    anonymous: String,
    /// The customer id the shopper logged in as.
    user: String,
}

#[derive(Serialize)]
struct IdentifyOut {
    merged: usize,
}

/// Merges an anonymous session's events into the customer's (re-keyed under the customer, then removed from the
/// anonymous id), so the profile and recommendations see them at once.
async fn identify(
    State(state): State<AppState>,
    _: AsAdmin,
    Json(body): Json<IdentifyIn>,
) -> Result<Json<IdentifyOut>, HttpError> {
    let valid = |s: &str| !s.trim().is_empty() && s.len() <= 128;
    if !valid(&body.anonymous) || !valid(&body.user) || body.anonymous == body.user {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "anonymous and user are required, different, at most 128 characters",
        ));
    }
    let store = state.store.clone();
    let merged = blocking(move || {
        store.merge_user_exposures(&body.anonymous, &body.user)?;
        store.merge_user_events(&body.anonymous, &body.user)
    })
    .await?;
    Ok(Json(IdentifyOut { merged }))
}

#[derive(Serialize)]
struct ReloadOut {
    swapped: bool,
    model_version: Option<u64>,
}

async fn reload(State(state): State<AppState>, _: AsAdmin) -> Result<Json<ReloadOut>, HttpError> {
    let (rec, store) = (state.recommender.clone(), state.store.clone());
    let swapped = blocking(move || rec.reload_if_changed(&store)).await?;
    Ok(Json(ReloadOut { swapped, model_version: state.recommender.version() }))
}

#[derive(Deserialize)]
struct TrainParams {
    epochs: Option<usize>,
    dim: Option<usize>,
    lr: Option<f32>,
    reg: Option<f32>,
    seed: Option<u64>,
    /// off, warm (the default) or fresh: see [`crate::reco::serve::SequentialTraining`].
    sequential: Option<String>,
}

#[derive(Serialize)]
struct TrainOut {
    model_version: Option<u64>,
    file: String,
    /// Whether the blend now serves a sequential model beside it.
    sequential: bool,
}

/// Retrains on everything in the store (the server holds the store, so this is how a running shop retrains),
/// installs the model and swaps it in. One training at a time; requests keep being served meanwhile.
async fn train(
    State(state): State<AppState>,
    _: AsAdmin,
    Query(q): Query<TrainParams>,
) -> Result<Json<TrainOut>, HttpError> {
    use std::sync::atomic::Ordering;
    let defaults = crate::reco::model::Hyper::default();
    let hyper = crate::reco::model::Hyper {
        epochs: q.epochs.unwrap_or(defaults.epochs).clamp(1, 200),
        dim: q.dim.unwrap_or(defaults.dim).clamp(4, 256),
        lr: q.lr.filter(|r| r.is_finite()).unwrap_or(defaults.lr).clamp(1e-5, 0.5),
        reg: q.reg.filter(|r| r.is_finite()).unwrap_or(defaults.reg).clamp(0.0, 1.0),
        seed: q.seed.unwrap_or(defaults.seed),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        ..defaults
    };
    let sequential: crate::reco::serve::SequentialTraining = match q.sequential.as_deref() {
        None => Default::default(),
        Some(s) => s.parse().map_err(|e: String| HttpError::new(StatusCode::BAD_REQUEST, e))?,
    };
    if state.training.swap(true, Ordering::SeqCst) {
        return Err(HttpError::new(StatusCode::CONFLICT, "a training run is already in progress"));
    }
    let (rec, store, dir) = (state.recommender.clone(), state.store.clone(), state.config.data_dir.clone());
    let result = blocking(move || {
        let path = crate::reco::serve::retrain(&dir, &store, &hyper, sequential)?;
        rec.reload_if_changed(&store)?;
        Ok::<_, crate::reco::RecoError>(path.display().to_string())
    })
    .await;
    state.training.store(false, Ordering::SeqCst);
    let file = result?;
    Ok(Json(TrainOut {
        model_version: state.recommender.version(),
        file,
        sequential: state.recommender.serves_sequential(),
    }))
}
