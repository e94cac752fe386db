//! A shopper's data on request: export it, delete it through the API and through `aisle shopper delete`, and prove
//! nothing of it is left in any sled tree, the transcript index, the recommender's model file or the saved derived
//! tables.
use crate::support::*;
use serde_json::{json, Value};

fn leftovers(store: &aisle::store::Store, user: &str, words: &[&str]) -> Vec<String> {
    let mut prefix = user.as_bytes().to_vec();
    prefix.push(0);
    let patterns: Vec<String> = [format!("\"user\":\"{user}\""), format!("\"customer\":\"{user}\"")]
        .into_iter()
        .chain(words.iter().map(|w| w.to_string()))
        .collect();
    let mut out = vec![];
    for (name, k, v) in store.dump().unwrap() {
        let text = String::from_utf8_lossy(&v);
        if k.starts_with(&prefix) || patterns.iter().any(|p| text.contains(p.as_str())) {
            out.push(format!("{name}: {}", String::from_utf8_lossy(&k)));
        }
    }
    out
}

/// A string as postcard writes it in the saved derived tables (length, then the bytes).
fn saved_string(s: &str) -> Vec<u8> {
    assert!(s.len() < 128, "one length byte");
    [&[s.len() as u8][..], s.as_bytes()].concat()
}

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_shopper_leaves_nothing_in_the_store_the_indexes_or_the_model() {
    let dir = slice_dir(4000);
    let (customer, second) = {
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let b = aisle::behavior::Behavior::load(&store).unwrap();
        let rich = b.richest_customers(2);
        (rich[0].0.clone(), rich[1].0.clone())
    };
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let auth = format!("Bearer {TOKEN}");
    let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let trained = http(app.port, "POST", "/api/recommender/train?epochs=1&dim=16", &h, "").await;
    assert_eq!(trained.status, 200, "{}", trained.body);
    // they take part in an experiment on the recommendations
    let x = json!({"name": "forget-me", "surface": "recommend", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]});
    assert_eq!(http(app.port, "POST", "/api/experiments", &h, &x.to_string()).await.status, 201);
    assert_eq!(http(app.port, "GET", &format!("/api/recommend?user={customer}&n=3"), &h, "").await.status, 200);

    // the shopper chats (with a word nobody else uses), rates the chat and clicks something
    let mut shopper = ws(app.port).await;
    send(&mut shopper, signed_hello(&customer)).await;
    let session = next(&mut shopper).await.unwrap()["session_id"].as_str().unwrap().to_string();
    turn(&mut shopper, "I need a kaleidoscope for my niece").await;
    send(&mut shopper, json!({"type": "csat", "score": 4})).await;
    drop(shopper);
    let ev = json!({"event_id": "forget-click-1", "user": customer, "product": "85123A", "kind": "click"});
    assert_eq!(http(app.port, "POST", "/api/events", &h, &ev.to_string()).await.status, 200);
    // and views faster than a person browses: the anomaly signals flag them, with the evidence
    for i in 0..35 {
        let ev = json!({"event_id": format!("forget-view-{i}"), "user": customer, "product": "85123A", "kind": "view"});
        assert_eq!(http(app.port, "POST", "/api/events", &h, &ev.to_string()).await.status, 200);
    }
    let (status, flagged) = get_json(app.port, "/api/anomalies/shoppers").await;
    assert_eq!(status, 200, "{flagged}");
    let mine = flagged.as_array().unwrap().iter().find(|s| s["user"] == customer.as_str()).expect("flagged").clone();
    assert_eq!(mine["flags"][0]["kind"], "bot_rate", "{mine}");
    assert!(mine["flags"][0]["evidence"].as_str().unwrap().contains("browsing events within one minute"), "{mine}");
    // the chat's message was scored for the support queue
    let export = http(app.port, "GET", "/staff/api/transcripts/export?format=jsonl", &h, "").await;
    let row: Value = export
        .body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["id"] == session.as_str())
        .unwrap();
    assert!(row["frustration"].as_f64().is_some(), "{row}");

    let export: Value =
        serde_json::from_str(&http(app.port, "GET", &format!("/api/shoppers/{customer}"), &h, "").await.body).unwrap();
    assert!(export["events"].as_array().unwrap().len() > 1, "{}", export["events"]);
    assert!(!export["orders"].as_array().unwrap().is_empty());
    assert_eq!(export["sessions"][0]["id"], session.as_str());
    assert_eq!(export["profile"]["user"], customer.as_str());
    assert_eq!(export["exposures"][0]["experiment"], "forget-me", "{}", export["exposures"]);
    // stopped, so the recommendations asked for below (as the shopper coming back) expose nobody again
    assert_eq!(http(app.port, "POST", "/api/experiments/forget-me/stop", &h, "").await.status, 200);
    let found = http(app.port, "GET", "/staff/api/transcripts?q=kaleidoscope", &h, "").await;
    assert!(found.body.contains(&session), "searchable before deletion: {}", found.body);

    let deleted = http(app.port, "DELETE", &format!("/api/shoppers/{customer}"), &h, "").await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let d: Value = serde_json::from_str(&deleted.body).unwrap();
    assert!(d["events"].as_u64().unwrap() > 1 && d["orders"].as_u64().unwrap() > 0, "{d}");
    // the model and the sequential model beside it both knew them
    assert_eq!((d["sessions"].as_u64(), d["model_files"].as_u64()), (Some(1), Some(2)), "{d}");
    assert_eq!(d["exposures"], 1, "{d}");

    // the running server no longer knows them
    let export: Value =
        serde_json::from_str(&http(app.port, "GET", &format!("/api/shoppers/{customer}"), &h, "").await.body).unwrap();
    assert!(
        export["events"].as_array().unwrap().is_empty() && export["orders"].as_array().unwrap().is_empty(),
        "{export}"
    );
    assert!(export["sessions"].as_array().unwrap().is_empty());
    let (_, flagged) = get_json(app.port, "/api/anomalies/shoppers").await;
    assert!(flagged.as_array().unwrap().iter().all(|s| s["user"] != customer.as_str()), "{flagged}");
    let found = http(app.port, "GET", "/staff/api/transcripts?q=kaleidoscope", &h, "").await;
    assert!(!found.body.contains(&session), "{}", found.body);
    let recs: Value = serde_json::from_str(
        &http(app.port, "GET", &format!("/api/recommend?user={customer}&n=10"), &h, "").await.body,
    )
    .unwrap();
    for r in recs["recommendations"].as_array().unwrap() {
        assert!(r["contributions"]["because"].is_null(), "no pick is explained by their history any more: {r}");
    }
    let mut resumed = ws(app.port).await;
    let mut hello = signed_hello(&customer);
    hello["session_id"] = json!(session);
    send(&mut resumed, hello).await;
    let f = next(&mut resumed).await.unwrap();
    let f = if f["type"] == "error" { next(&mut resumed).await.unwrap() } else { f };
    assert_eq!(f["resumed"], false, "the deleted session cannot be resumed");
    drop(resumed);
    app.stop().unwrap();

    // on disk: no sled tree, no transcript index file and no model file holds anything of them
    {
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let left = leftovers(&store, &customer, &["kaleidoscope", &session]);
        // the "resumed" hello above started a fresh session for the same customer id, but a session is stored
        // only from its first message, so nothing of them may remain
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(store.user_events(&customer).unwrap().is_empty());
    }
    let index_dir = dir.path().join("transcripts");
    assert!(files_containing(&index_dir, b"kaleidoscop").is_empty(), "the transcript index still holds the words");
    assert!(
        files_containing(&index_dir, session.as_bytes()).is_empty(),
        "the transcript index still holds the session"
    );
    let model_dir = dir.path().join("recommender");
    let current = std::fs::read_to_string(model_dir.join("current")).unwrap();
    let model = aisle::reco::model::Model::load(&model_dir.join(current.trim())).unwrap();
    assert!(!model.knows_user(&customer));
    assert!(model.knows_user(&second), "other shoppers stay");
    assert!(
        files_containing(&model_dir, format!("\"{customer}\"").as_bytes()).is_empty(),
        "a model file still names them"
    );
    assert_eq!(
        files_containing(&model_dir, format!("\"{second}\"").as_bytes()).len(),
        2,
        "the check sees who is in both files"
    );
    // nor do the derived tables the server saved at its stop for the next start
    let derived = dir.path().join("derived");
    assert!(store_has_no_product(dir.path(), &[&customer, &second]), "a product id would blur the check below");
    assert!(files_containing(&derived, &saved_string(&customer)).is_empty(), "the saved tables still hold them");
    assert_eq!(files_containing(&derived, &saved_string(&second)).len(), 2, "the check sees who is in them");

    // the command line does the same for a store no server holds
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["shopper", "delete", &second])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(d["events"].as_u64().unwrap() > 0 && d["model_files"] == 2, "{d}");
    let store = aisle::store::Store::open(dir.path()).unwrap();
    assert!(leftovers(&store, &second, &[]).is_empty());
    let model = aisle::reco::model::Model::load(&model_dir.join(current.trim())).unwrap();
    assert!(!model.knows_user(&second));
    assert!(
        files_containing(&model_dir, format!("\"{second}\"").as_bytes()).is_empty(),
        "a model file still names them"
    );
    assert!(files_containing(&derived, &saved_string(&second)).is_empty(), "the saved tables still hold them");
}

fn store_has_no_product(dir: &std::path::Path, ids: &[&str]) -> bool {
    let store = aisle::store::Store::open(dir).unwrap();
    ids.iter().all(|id| store.product(id).unwrap().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_past_the_retention_age_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = aisle::store::Store::open(dir.path()).unwrap();
    let sessions = aisle::session::Sessions::new(store.clone());
    let index = aisle::transcripts::TranscriptIndex::open(dir.path(), &[]).unwrap();
    let sessions = sessions.with_index(std::sync::Arc::new(index));
    let mut old = aisle::session::Session::start(None);
    old.shopper_said("an old question about lanterns");
    old.updated = aisle::session::now() - 40 * 86_400;
    let mut recent = aisle::session::Session::start(None);
    recent.shopper_said("a new question about lanterns");
    sessions.save(&old).unwrap();
    sessions.save(&recent).unwrap();
    assert_eq!(sessions.purge_older_than(30 * 86_400).unwrap(), 1);
    let left: Vec<String> = sessions.list().unwrap().into_iter().map(|s| s.id.as_str().to_string()).collect();
    assert_eq!(left, vec![recent.id.as_str().to_string()]);
    let hits = sessions.index().unwrap().search("lanterns", 10).unwrap();
    assert_eq!(hits, vec![recent.id.as_str().to_string()]);
}
