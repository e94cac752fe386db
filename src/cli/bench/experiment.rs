//! `aisle bench experiment`: do the experiment read-outs keep their promises? Synthetic shoppers with a known
//! true effect are replayed through the real HTTP API of an in-process shop (a real store holding the first
//! Online Retail invoice lines): each unit asks `GET /api/experiments/{name}/assign` (the exposure), its purchases
//! go to `POST /api/events`, and the figures come from `GET /api/experiments/{name}/results`. Over many seeded
//! runs: how often the 95% intervals cover the true difference (conversion and revenue per unit), how often an
//! A/A test (no true difference) calls a difference, and how often the sample-ratio check fires on a split
//! skewed by losing 8% or 25% of one variant's exposures (and on the honest ones).
use super::{Rng, TempDir};
use crate::app::{Application, Shop};
use crate::config::{Config, Secret};
use crate::experiments::Experiment;
use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use std::io::{BufRead, Write};
use std::path::Path;
use tower::ServiceExt;

const TOKEN: &str = "bench-experiment-token";
/// Control conversion rate and the treatment's in the lift scenario.
const BASE: f64 = 0.10;
const LIFTED: f64 = 0.125;

/// The in-process shop, and its product ids.
async fn app(dir: &Path, retail: &Path) -> anyhow::Result<(Application, Vec<String>)> {
    let src = flate2::read::GzDecoder::new(
        std::fs::File::open(retail).with_context(|| format!("opening {}", retail.display()))?,
    );
    let part = dir.join("online_retail_head.csv");
    let mut out = std::fs::File::create(&part)?;
    for line in std::io::BufReader::new(src).lines().take(3001) {
        writeln!(out, "{}", line?)?;
    }
    drop(out);
    let sources = crate::import::Sources { online_retail: Some(part), ..Default::default() };
    crate::import::run(&dir.join("store"), &sources, None)?;
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.join("store"),
        admin_token: Secret::new(TOKEN),
        ..Config::default()
    };
    cfg.embed.model = dir.join("no-embedding-model.gguf");
    cfg.llm.model = dir.join("no-chat-model.gguf");
    // the bench is the only client: its thousands of requests a second are not a flood
    cfg.security.events_per_minute = 10_000_000;
    let fake = std::sync::Arc::new(crate::llm::fake::FakeLlm::new([crate::llm::fake::Reply::text("ok")]));
    let shop = Shop::open_with(&cfg, fake).await?;
    let products = shop.assistant.catalog.snapshot().iter().map(|p| p.id.clone()).collect();
    Ok((Application::build_with(cfg, shop).await?, products))
}

async fn call(
    app: &Application,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let r = app.router().oneshot(req).await?;
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), 16 << 20).await?;
    anyhow::ensure!(status.is_success(), "{method} {uri}: {status} {}", String::from_utf8_lossy(&bytes));
    Ok(serde_json::from_slice(&bytes)?)
}

/// An order's value: lognormal around £20.
fn order_value(rng: &mut Rng) -> f64 {
    (2.8 + 0.6 * f64::from(rng.normal(1.0))).exp()
}

#[derive(Default)]
struct Tally {
    runs: u32,
    conv_covered: u32,
    rev_covered: u32,
    called: u32,
    srm: u32,
}

impl Tally {
    fn share(n: u32, of: u32) -> f64 {
        f64::from(n) / f64::from(of.max(1))
    }
}

/// One experiment: `units` shoppers assigned through the API, `p_treat` the treatment's conversion rate, `lose`
/// the share of the treatment's exposures lost before they reach Aisle (the SRM scenario).
#[allow(clippy::too_many_arguments)]
async fn run_one(
    app: &Application,
    name: &str,
    units: usize,
    p_treat: f64,
    lose: f64,
    products: &[String],
    rng: &mut Rng,
) -> anyhow::Result<serde_json::Value> {
    let new = serde_json::json!({"name": name, "surface": "storefront", "planned_units": units / 2,
        "variants": [{"name": "control", "weight": 1, "value": "a"}, {"name": "treatment", "weight": 1, "value": "b"}]});
    let e: Experiment = serde_json::from_value(call(app, "POST", "/api/experiments", Some(new)).await?)?;
    let mut events = vec![];
    for u in 0..units {
        let user = format!("bench:{name}:{u}");
        let treated = e.assign(&user).name == "treatment";
        if treated && f64::from(rng.unit()) < lose {
            continue; // this unit's page failed to report its exposure
        }
        let got = call(app, "GET", &format!("/api/experiments/{name}/assign?user={user}"), None).await?;
        anyhow::ensure!(got["variant"] == e.assign(&user).name.as_str(), "assignment differs from the hash");
        let p = if treated { p_treat } else { BASE };
        if f64::from(rng.unit()) < p {
            let product = &products[rng.below(products.len())];
            events.push(serde_json::json!({"event_id": format!("{user}:buy"), "user": user, "product": product,
                "kind": "purchase", "price": (order_value(rng) * 100.0).round() / 100.0}));
        }
    }
    for batch in events.chunks(crate::events::MAX_BATCH) {
        call(app, "POST", "/api/events", Some(serde_json::Value::Array(batch.to_vec()))).await?;
    }
    let r = call(app, "GET", &format!("/api/experiments/{name}/results"), None).await?;
    call(app, "POST", &format!("/api/experiments/{name}/stop"), None).await?;
    Ok(r)
}

pub async fn experiment(retail: &Path, runs: usize, units: usize) -> anyhow::Result<()> {
    let dir = TempDir::new("experiment")?;
    let (app, products) = app(&dir.0, retail).await?;
    anyhow::ensure!(!products.is_empty(), "the demo slice has no products");
    // the true mean order value, from the same generator
    let mut mc = Rng(99);
    let mean_value = (0..2_000_000).map(|_| order_value(&mut mc)).sum::<f64>() / 2_000_000.0;
    let (mut aa, mut lift, mut skew, mut big_skew) = Default::default();
    let started = std::time::Instant::now();
    for run in 0..runs {
        let mut rng = Rng(1000 + run as u64);
        let scenarios: [(&mut Tally, &str, f64, f64); 4] = [
            (&mut aa, "aa", BASE, 0.0),
            (&mut lift, "lift", LIFTED, 0.0),
            (&mut skew, "skew", BASE, 0.08),
            (&mut big_skew, "big-skew", BASE, 0.25),
        ];
        for (tally, tag, p_treat, lose) in scenarios {
            let r = run_one(&app, &format!("{tag}-{run}"), units, p_treat, lose, &products, &mut rng).await?;
            let c = &r["variants"][1]["vs_control"];
            let truth = p_treat - BASE;
            let inside = |i: &serde_json::Value, t: f64| {
                i["low"].as_f64().unwrap_or(f64::NAN) <= t && t <= i["high"].as_f64().unwrap_or(f64::NAN)
            };
            tally.runs += 1;
            tally.conv_covered += u32::from(inside(&c["conversion"], truth));
            tally.rev_covered += u32::from(inside(&c["revenue_per_unit"], truth * mean_value));
            let zero_out = !inside(&c["conversion"], 0.0);
            tally.called += u32::from(zero_out);
            tally.srm += u32::from(!r["srm_warning"].is_null());
        }
        if (run + 1) % 20 == 0 {
            eprintln!("  {} of {runs} runs, {:.0} s", run + 1, started.elapsed().as_secs_f64());
        }
    }
    println!("aisle bench experiment: {runs} seeded runs per scenario, {units} shoppers each (50/50 split), through the HTTP API");
    println!(
        "control conversion {BASE}, lift scenario {LIFTED} (true difference {:.3}); mean order value {mean_value:.2}",
        LIFTED - BASE
    );
    println!("{:<34} {:>10} {:>10}", "", "observed", "nominal");
    let row = |what: &str, v: f64, nominal: &str| println!("{what:<34} {v:>10.3} {nominal:>10}");
    row("A/A: conversion interval covers 0", Tally::share(aa.conv_covered, aa.runs), "0.950");
    row("A/A: revenue interval covers 0", Tally::share(aa.rev_covered, aa.runs), "0.950");
    row("A/A: false positive rate", Tally::share(aa.called, aa.runs), "0.050");
    row("lift: conversion interval covers", Tally::share(lift.conv_covered, lift.runs), "0.950");
    row("lift: revenue interval covers", Tally::share(lift.rev_covered, lift.runs), "0.950");
    row("lift: power (difference called)", Tally::share(lift.called, lift.runs), "-");
    row("SRM fired, honest splits", Tally::share(aa.srm + lift.srm, aa.runs + lift.runs), "0.001");
    row("SRM fired, 8% of one arm lost", Tally::share(skew.srm, skew.runs), "-");
    row("SRM fired, 25% of one arm lost", Tally::share(big_skew.srm, big_skew.runs), "-");
    println!("took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
