//! Experiments, attribution and the dashboard on a running server of its own (an experiment on the chat's ranking
//! would change every other test's chats on the shared one): the real model, store and index over a real slice
//! of the demo shop, chats over WebSocket, events over HTTP, the dashboard in Chromium.
use super::staff::browser_sign_in;
use super::support::*;
use serde_json::{json, Value};

async fn chat_with_cards(port: u16, customer: &str) -> (String, Vec<Value>) {
    let mut ws = ws(port).await;
    send(&mut ws, signed_hello(customer)).await;
    let session = next(&mut ws).await.unwrap();
    assert_eq!(session["type"], "session", "{session}");
    let frames = turn(&mut ws, "a gift with hearts").await;
    (session["session_id"].as_str().unwrap().to_string(), cards(&frames))
}

async fn results(port: u16, name: &str) -> Value {
    let (status, r) = get_json(port, &format!("/api/experiments/{name}/results")).await;
    assert_eq!(status, 200, "{r}");
    r
}

fn variant<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["variants"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranking_experiment_in_the_chat_is_sticky_attributes_a_click_and_a_purchase_and_the_dashboard_draws_it() {
    let dir = slice_dir(3000);
    let customers: Vec<String> = {
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let b = aisle::behavior::Behavior::load(&store).unwrap();
        b.richest_customers(6).into_iter().map(|c| c.0).collect()
    };
    let mut cfg = test_config(dir.path());
    // a second chat model (the same file, its own engine) that a variant may speak with
    let alt = aisle::config::AltModel { model: Some(cfg.llm.model.clone()), ..Default::default() };
    cfg.llm.alternatives.insert("second".into(), alt);
    let app = TestApp::start(cfg).unwrap();
    let new = json!({"name": "ranking-popular", "surface": "chat", "unit": "shopper", "planned_units": 100,
        "variants": [{"name": "control", "weight": 1},
                     {"name": "popular", "weight": 1, "ranking": {"relevance": 1.0, "history": 0.0,
                      "popularity": 1.0, "bought_before": 0.0, "personal": 0.0}}]});
    let made = http(app.port, "POST", "/api/experiments", &ADMIN_JSON, &new.to_string()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let e: aisle::experiments::Experiment = serde_json::from_str(&made.body).unwrap();

    // four customers chat and see cards: each is exposed once, to the variant the hash gives them
    let mut sessions = vec![];
    for c in &customers[..4] {
        let (session, cards) = chat_with_cards(app.port, c).await;
        assert!(!cards.is_empty(), "{c} was shown cards");
        sessions.push((c.clone(), session, cards));
    }
    let r = results(app.port, "ranking-popular").await;
    assert_eq!(r["units"], 4, "{r}");
    for v in ["control", "popular"] {
        let want = customers[..4].iter().filter(|c| e.assign(c).name == v).count();
        assert_eq!(variant(&r, v)["units"], want, "{v}: {r}");
    }
    // the first customer clicks a card and buys it: both land on their variant, and on the chat
    let (buyer, buyer_session, buyer_cards) = &sessions[0];
    let product = buyer_cards[0]["id"].as_str().unwrap();
    let price = buyer_cards[0]["price"].as_f64().unwrap();
    let events = json!([
        {"event_id": "exp-click", "user": buyer, "product": product, "kind": "chat_recommendation_clicked"},
        {"event_id": "exp-buy", "user": buyer, "product": product, "kind": "purchase", "quantity": 2, "price": price}
    ]);
    let posted = http(app.port, "POST", "/api/events", &ADMIN_JSON, &events.to_string()).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let r = results(app.port, "ranking-popular").await;
    let mine = variant(&r, &e.assign(buyer).name);
    assert_eq!((mine["clicked"].as_u64(), mine["converted"].as_u64()), (Some(1), Some(1)), "{r}");
    assert!((mine["revenue"].as_f64().unwrap() - 2.0 * price).abs() < 1e-6, "{r}");
    let other = variant(&r, if e.assign(buyer).name == "control" { "popular" } else { "control" });
    assert_eq!(other["converted"], 0);
    // the same customer in a new chat keeps their variant and is not counted again (a second later: event times
    // are to the second, and a card shown in the purchase's second counts as before it)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, again) = chat_with_cards(app.port, &customers[0]).await;
    assert!(!again.is_empty());
    assert_eq!(results(app.port, "ranking-popular").await["units"], 4);

    // stopped: later chats are not exposed and get the defaults
    let stopped = http(app.port, "POST", "/api/experiments/ranking-popular/stop", &ADMIN_JSON, "").await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let (_, late) = chat_with_cards(app.port, &customers[4]).await;
    assert!(!late.is_empty());
    assert_eq!(results(app.port, "ranking-popular").await["units"], 4, "assignment froze at the stop");

    // the dashboard: today's chats, the card funnel and the purchase credited to the chat it came from
    let (status, d) = get_json(app.port, "/api/dashboard").await;
    assert_eq!(status, 200, "{d}");
    let today = aisle::prompts::datetime_iso(aisle::session::now())[..10].to_string();
    let chart = |d: &Value, id: &str| d["charts"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    let at = |c: &Value, label: &str| {
        c["points"].as_array().unwrap().iter().find(|p| p["label"] == label).map(|p| p["value"].as_f64().unwrap())
    };
    assert_eq!(at(&chart(&d, "conversations"), &today), Some(6.0), "{}", chart(&d, "conversations"));
    assert!(at(&chart(&d, "card_ctr"), &today).unwrap() > 0.0);
    assert!((at(&chart(&d, "revenue"), &today).unwrap() - 2.0 * price).abs() < 1e-6, "{}", chart(&d, "revenue"));
    let chats = d["attribution"]["chats"].as_array().unwrap();
    assert_eq!(chats[0][0], buyer_session.as_str(), "credited to the chat that showed the card: {chats:?}");
    let exp = chart(&d, "experiments");
    assert!(exp["points"].as_array().unwrap().is_empty(), "4 units are too few to draw a difference: {exp}");

    dashboard_in_chromium(app.port, &d, &today).await;
    two_model_versions_side_by_side(app.port, &customers).await;
    another_chat_model_speaks_for_its_variant(app.port).await;
    app.stop().unwrap();
}

/// Generation requests the shop's own chat model has taken (`/metrics`).
async fn primary_requests(port: u16) -> f64 {
    let auth = format!("Bearer {TOKEN}");
    let m = http(port, "GET", "/metrics", &[("Authorization", &auth)], "").await;
    let line = m.body.lines().find(|l| l.starts_with("aisle_llm_requests_total")).unwrap().to_string();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A chat experiment whose variant speaks with the configured alternative: its turns are generated there, the
/// control's by the shop's model.
async fn another_chat_model_speaks_for_its_variant(port: u16) {
    let bad = json!({"name": "voices-bad", "surface": "chat",
        "variants": [{"name": "control", "weight": 1}, {"name": "x", "weight": 1, "chat_model": "nope"}]});
    let r = http(port, "POST", "/api/experiments", &ADMIN_JSON, &bad.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("second"), "the error names the configured ones: {}", r.body);
    let new = json!({"name": "voices", "surface": "chat",
        "variants": [{"name": "control", "weight": 1}, {"name": "second", "weight": 1, "chat_model": "second"}]});
    let made = http(port, "POST", "/api/experiments", &ADMIN_JSON, &new.to_string()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let e: aisle::experiments::Experiment = serde_json::from_str(&made.body).unwrap();
    for variant in ["second", "control"] {
        let who = (0..100).map(|i| format!("voice-{i}")).find(|c| e.assign(c).name == variant).unwrap();
        let before = primary_requests(port).await;
        let (_, cards) = chat_with_cards(port, &who).await;
        assert!(!cards.is_empty());
        let after = primary_requests(port).await;
        let (_, export) = get_json(port, &format!("/api/shoppers/{who}")).await;
        let generated: u64 = export["sessions"][0]["turns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["stats"]["generated_tokens"].as_u64())
            .sum();
        assert!(generated > 0, "a model wrote the {variant} reply: {}", export["sessions"][0]["turns"]);
        if variant == "second" {
            assert_eq!(after, before, "the shop's own model took no request for the second variant");
        } else {
            assert!(after > before, "the control is answered by the shop's own model");
        }
    }
}

/// A recommend experiment serving two trained model versions: each shopper gets the version of their variant.
async fn two_model_versions_side_by_side(port: u16, customers: &[String]) {
    let mut versions = vec![];
    for seed in [1, 2] {
        let r =
            http(port, "POST", &format!("/api/recommender/train?epochs=1&dim=16&seed={seed}"), &ADMIN_JSON, "").await;
        assert_eq!(r.status, 200, "{}", r.body);
        versions.push(serde_json::from_str::<Value>(&r.body).unwrap()["model_version"].as_u64().unwrap());
    }
    assert_ne!(versions[0], versions[1]);
    let new = json!({"name": "model-versions", "surface": "recommend",
        "variants": [{"name": "installed", "weight": 1}, {"name": "first", "weight": 1, "model": versions[0]}]});
    let made = http(port, "POST", "/api/experiments", &ADMIN_JSON, &new.to_string()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let e: aisle::experiments::Experiment = serde_json::from_str(&made.body).unwrap();
    for c in customers {
        let (status, r) = get_json(port, &format!("/api/recommend?user={c}&n=5")).await;
        assert_eq!(status, 200, "{r}");
        let want = if e.assign(c).name == "first" { versions[0] } else { versions[1] };
        assert_eq!(r["model_version"], want, "{c} in {}: {r}", e.assign(c).name);
        assert_eq!(r["experiment"]["variant"], e.assign(c).name.as_str());
        assert!(!r["recommendations"].as_array().unwrap().is_empty());
    }
}

/// Every chart's drawn points are the API's, the date filter changes them, and a chart's CSV downloads.
async fn dashboard_in_chromium(port: u16, api: &Value, today: &str) {
    let admin = staff_login(port, "admin").await;
    let mut b = browser_sign_in(port, &admin, "/staff/dashboard").await;
    let drawn = b
        .eval(
            "JSON.stringify([...document.querySelectorAll('[data-chart]')].map(c => [c.dataset.chart,
               [...c.querySelectorAll('.pt')].map(p => [p.dataset.label, Number(p.dataset.value)])]))",
        )
        .await;
    let drawn: Vec<(String, Vec<(String, f64)>)> = serde_json::from_str(drawn.as_str().unwrap()).unwrap();
    let charts = api["charts"].as_array().unwrap();
    assert_eq!(drawn.len(), charts.len(), "{drawn:?}");
    for (id, points) in &drawn {
        let c = charts.iter().find(|c| c["id"] == id.as_str()).unwrap();
        let want: Vec<(String, f64)> = c["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["label"].as_str().unwrap().to_string(), p["value"].as_f64().unwrap()))
            .collect();
        assert_eq!(points.len(), want.len(), "{id}");
        for ((l, v), (wl, wv)) in points.iter().zip(&want) {
            assert_eq!(l, wl, "{id}");
            assert!((v - wv).abs() < 1e-9, "{id} {l}: drawn {v}, data {wv}");
        }
    }
    let revenue_today = format!(
        "(() => {{ const p = document.querySelector('[data-chart=revenue] .pt[data-label=\"{today}\"]'); return p ? Number(p.dataset.value) : null }})()"
    );
    assert!(b.eval(&revenue_today).await.as_f64().unwrap() > 0.0);
    // a range that ends yesterday draws no revenue for today
    b.eval(
        "(() => { const d = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
           document.getElementById('to').value = d; document.getElementById('range').requestSubmit(); return true })()",
    )
    .await;
    b.wait_for("location.search.includes('to=') && document.readyState === 'complete'", 30).await;
    assert!(b.eval(&revenue_today).await.is_null(), "today is outside the range");
    let convs = b.eval("document.querySelectorAll('[data-chart=conversations] .pt').length").await;
    assert_eq!(convs.as_u64(), Some(29), "the form's first day stays, the last moves to yesterday");
    // export: the link the page offers downloads the chart's points as CSV
    let csv = b
        .eval(
            "fetch(document.querySelector('[data-export=conversations]').href).then(async r =>
               r.headers.get('content-disposition') + '\\n' + await r.text())",
        )
        .await;
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.starts_with("attachment; filename=\"conversations-"), "{csv}");
    assert!(csv.contains("label,value,low,high"), "{csv}");
    assert_eq!(csv.lines().count(), 2 + 29, "the disposition, the CSV header and 29 days: {csv}");
}
