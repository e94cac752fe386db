//! A first start: the server listens and answers while the intent classifier is still being trained. The next
//! start loads the derived tables the stop saved instead of reading every event, and serves the same picks.
use crate::support::*;
use serde_json::json;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_serves_while_the_intent_classifier_trains() {
    let dir = slice_dir(2000);
    // a real but small training set (every 15th Bitext utterance and the shopping set), so the test is quick
    let set = dir.path().join("intents-sample.csv");
    let mut out = std::fs::File::create(&set).unwrap();
    let bitext = std::fs::File::open(root().join("data/bitext/bitext_cs_8k.csv")).unwrap();
    for (i, line) in std::io::BufReader::new(bitext).lines().enumerate() {
        let line = line.unwrap();
        if i == 0 || i % 15 == 0 {
            writeln!(out, "{}", line.trim_start_matches('\u{feff}')).unwrap();
        }
    }
    drop(out);
    let customer = {
        let store = aisle::store::Store::open(dir.path()).unwrap();
        aisle::behavior::Behavior::load(&store).unwrap().richest_customers(1)[0].0.clone()
    };
    let mut cfg = test_config(dir.path());
    cfg.intent_sets = vec![set, root().join("data/intents/shopping.csv")];
    assert!(!dir.path().join("intent-model.json").exists());
    let started = Instant::now();
    let app = TestApp::start_as_is(cfg.clone()).unwrap();
    let up = started.elapsed();

    // listening at once: health, readiness (still training), the store page, and a service answer by its words
    assert_eq!(http(app.port, "GET", "/healthz", &[], "").await.status, 200);
    let ready = http(app.port, "GET", "/readyz", &[], "").await;
    assert_eq!(ready.status, 503, "still training: {}", ready.body);
    assert!(ready.body.contains("training"), "{}", ready.body);
    assert_eq!(http(app.port, "GET", "/", &[], "").await.status, 200);
    let mut ws = ws(app.port).await;
    send(&mut ws, json!({"type": "hello"})).await;
    next(&mut ws).await.unwrap();
    let frames = turn(&mut ws, "where is my order 536365?").await;
    assert!(shown_text(&frames).contains("sign in"), "{frames:?}");
    assert_eq!(frames.last().unwrap()["tool"], "order", "{frames:?}");

    // then the classifier is trained, saved and used without a restart
    let mut waited = Duration::ZERO;
    while http(app.port, "GET", "/readyz", &[], "").await.status != 200 {
        assert!(waited < Duration::from_secs(240), "the classifier was not ready within 4 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
        waited += Duration::from_millis(500);
    }
    assert!(dir.path().join("intent-model.json").exists());
    eprintln!("listening after {up:?}; classifier ready {waited:?} later");
    let frames = turn(&mut ws, "I want to speak to a human agent").await;
    assert_eq!(frames.last().unwrap()["handoff"], true, "{frames:?}");
    drop(ws);
    let picks_before = picks(app.port, &customer).await;
    app.stop().unwrap();

    // the stop saved the derived tables; the next start loads them (they are not built and saved again) and
    // serves the same picks
    let saved = ["behaviour", "recommender"].map(|k| dir.path().join(format!("derived/{k}.bin")));
    let modified = || saved.iter().map(|f| std::fs::metadata(f).unwrap().modified().unwrap()).collect::<Vec<_>>();
    let at_stop = modified();
    let app = TestApp::start_as_is(cfg).unwrap();
    assert_eq!(modified(), at_stop, "loaded, not rebuilt");
    assert_eq!(picks(app.port, &customer).await, picks_before);
    app.stop().unwrap();
}

fn admin() -> [(&'static str, &'static str); 1] {
    [("Authorization", "Bearer test-staff-token")]
}

/// The ids `/api/recommend` picks for a customer.
async fn picks(port: u16, customer: &str) -> Vec<String> {
    let r = http(port, "GET", &format!("/api/recommend?user={customer}&n=8"), &admin(), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let ids: Vec<String> =
        v["recommendations"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 8, "{}", r.body);
    ids
}
