//! Recommendations, profiles and behaviour events through the real server over the demo shop.
use crate::support::*;
use serde_json::{json, Value};

fn auth() -> [(&'static str, String); 1] {
    [("Authorization", format!("Bearer {TOKEN}"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_follow_fresh_clicks_obey_the_rules_and_say_why() {
    let app = shared();
    // personal routes need staff credentials
    assert_eq!(http(app.port, "GET", "/api/recommend?user=17850", &[], "").await.status, 401);
    assert_eq!(http(app.port, "GET", "/api/profile/17850", &[], "").await.status, 401);

    let (status, body) = get_json(app.port, "/api/recommend?user=17850&n=6&max_price=3").await;
    assert_eq!(status, 200, "{body}");
    let recs = body["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 6, "{body}");
    for r in recs {
        assert!(r["price"].as_f64().unwrap() <= 3.0, "{r}");
        assert!(r["contributions"].is_object(), "{r}");
    }

    // a new visitor clicks one product; the next recommendations are bought with it, and say so
    let user = format!("visitor-{}", uuid::Uuid::new_v4());
    let json_h = ADMIN_JSON;
    let ev = json!({"event_id": format!("{user}-1"), "user": user, "product": "22423", "kind": "click"});
    assert_eq!(http(app.port, "POST", "/api/events", &json_h, &ev.to_string()).await.status, 200);
    let (status, body) = get_json(app.port, &format!("/api/recommend?user={user}&n=5")).await;
    assert_eq!(status, 200, "{body}");
    let recs = body["recommendations"].as_array().unwrap();
    assert!(recs.iter().all(|r| r["id"] != "22423"), "the clicked product itself is not recommended back: {body}");
    assert!(
        recs.iter().any(|r| r["contributions"]["because"]["id"] == "22423"),
        "some pick is explained by the click on 22423: {body}"
    );

    // when the visitor signs in, their click moves to the customer's profile
    let customer = format!("customer-{}", uuid::Uuid::new_v4());
    let h = ADMIN_JSON;
    let merge = json!({"anonymous": user, "user": customer}).to_string();
    let r = http(app.port, "POST", "/api/identify", &h, &merge).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"merged\":1"), "{}", r.body);
    let (status, profile) = get_json(app.port, &format!("/api/profile/{customer}")).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["recent"][0]["id"], "22423", "{profile}");
    assert_eq!(get_json(app.port, &format!("/api/profile/{user}")).await.0, 404, "nothing left under the visitor id");

    // a known customer's profile reads their real history
    let (_, p) = get_json(app.port, "/api/profile/17850").await;
    assert!(p["purchases"].as_u64().unwrap() > 10, "{p}");
    let shares: f64 = p["price_bands"].as_array().unwrap().iter().map(|a| a["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 0.02, "{p}");
    let page = http(app.port, "GET", "/staff/profile/17850", &[("Authorization", ADMIN_JSON[1].1)], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("What Aisle would recommend now"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_products_are_public_and_unknown_products_are_a_clear_404() {
    let app = shared();
    let r = http(app.port, "GET", "/api/similar/85123A?n=5", &[], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list: Vec<Value> = serde_json::from_str(&r.body).unwrap();
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|p| p["id"] != "85123A"));
    let r = http(app.port, "GET", "/api/similar/NOPE", &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("NOPE"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newly_trained_model_is_swapped_in_while_requests_keep_succeeding() {
    let (dir, app) = shared_with_dir();
    let port = app.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0, vec![]);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, body) = get_json(port, "/api/recommend?user=13047&n=5").await;
                if status == 200 && body["recommendations"].as_array().is_some_and(|r| r.len() == 5) {
                    ok += 1;
                } else {
                    failed.push(format!("{status} {body}"));
                }
            }
            (ok, failed)
        })
    };
    // the running server holds the store: without the admin token the command says what to set to train through it
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["train", "--epochs", "1"])
        .env_remove("AISLE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AISLE_ADMIN_TOKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = auth();
    let r = http(port, "POST", "/api/recommender/train?epochs=1&dim=16", &[(a[0].0, a[0].1.as_str())], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let trained: Value = serde_json::from_str(&r.body).unwrap();
    let version = trained["model_version"].as_u64().expect("a model version");
    let file = std::path::PathBuf::from(trained["file"].as_str().unwrap());
    let beside = file.with_file_name(format!("sequential-{version}.bin"));
    assert!(beside.is_file(), "the sequential model is installed beside the model: {beside:?}");
    assert!(trained["sequential"].is_boolean(), "{trained}");
    let r = http(port, "POST", "/api/recommender/train?sequential=maybe", &[(a[0].0, a[0].1.as_str())], "").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("off, warm or fresh"), "{}", r.body);
    let (status, body) = get_json(port, "/api/recommend?user=13047&n=5").await;
    assert_eq!(status, 200);
    assert_eq!(body["model_version"].as_u64(), Some(version), "the trained model is served: {body}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} requests failed during the swap: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 5, "only {ok} requests ran during training");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_and_product_changes_survive_the_process_being_killed_right_after() {
    use std::io::BufRead;
    let dir = slice_dir(3000);
    let r = root();
    let aisle = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"));
        c.current_dir(&r).arg("--data-dir").arg(dir.path()).args(args);
        c
    };
    // the shop's backend key, made with the CLI (printed once)
    let out = aisle(&["key", "add", "order system", "--kind", "secret"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("aisle_sk_"), "{key}");
    let listed = aisle(&["key", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("order system"));
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&key[9..]), "the list never shows the key");

    for round in 0..3 {
        let mut child = aisle(&["serve", "--listen", "127.0.0.1:0"])
            .env("AISLE_MODEL", r.join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
            .env("AISLE_EMBED_MODEL", dir.path().join("no-embedding-model.gguf"))
            .env("AISLE_THREADS", "1")
            .env("AISLE_ADMIN_TOKEN", TOKEN)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let port: u16 = tokio::task::spawn_blocking(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(rest) = line.split("127.0.0.1:").nth(1) {
                    return rest.split('/').next().unwrap().parse().unwrap();
                }
            }
            panic!("the server never said where it listens");
        })
        .await
        .unwrap();
        let h = [("Content-Type", "application/json"), ("X-Aisle-Key", key.as_str())];
        let batch: Vec<serde_json::Value> = (0..20)
            .map(|i| json!({"event_id": format!("kill-{round}-{i}"), "user": "kill-test", "product": "85123A", "kind": "add_to_cart"}))
            .collect();
        let r = http(port, "POST", "/api/events", &h, &serde_json::Value::from(batch).to_string()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"accepted\":20"), "{}", r.body);
        let product = json!({"id": "", "title": format!("KILL TEST LANTERN {round}"), "price": 1.5 + round as f64});
        let put = http(port, "PUT", &format!("/api/products/KILL{round}"), &ADMIN_JSON, &product.to_string()).await;
        assert!(put.status == 201 || put.status == 204, "{} {}", put.status, put.body);
        child.kill().unwrap(); // SIGKILL: no shutdown, no flush on the way out
        child.wait().unwrap();
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let events = store.user_events("kill-test").unwrap();
        assert_eq!(events.len(), 20 * (round + 1), "round {round}: every acknowledged event is there exactly once");
        for k in 0..=round {
            let p: Option<aisle::catalog::Product> = store.product(&format!("KILL{k}")).unwrap();
            assert_eq!(p.map(|p| p.title), Some(format!("KILL TEST LANTERN {k}")), "round {round}: product {k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_chat_card_events_are_kept_but_only_interest_shapes_the_profile() {
    let app = shared();
    let json_h = ADMIN_JSON;
    let user = format!("kinds-{}", uuid::Uuid::new_v4());
    let evs = json!([
        {"event_id": format!("{user}-s"), "user": user, "kind": "search", "query": "heart tins for jo@example.com"},
        {"event_id": format!("{user}-shown"), "user": user, "product": "85123A", "kind": "chat_recommendation_shown"},
        {"event_id": format!("{user}-clicked"), "user": user, "product": "22423", "kind": "chat_recommendation_clicked"},
    ]);
    let r = http(app.port, "POST", "/api/events", &json_h, &evs.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"accepted\":3"), "{}", r.body);
    let no_query = json!({"event_id": format!("{user}-bad"), "user": user, "kind": "search"});
    let r = http(app.port, "POST", "/api/events", &json_h, &no_query.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("query"), "{}", r.body);

    let (status, profile) = get_json(app.port, &format!("/api/profile/{user}")).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["events"], 3, "{profile}");
    let recent: Vec<&str> = profile["recent"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(recent, ["22423"], "a card only shown is not interest: {profile}");
}
