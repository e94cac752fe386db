//! Review and chat sentiment on real text: the toys catalog's reviews (Amazon UK, CC BY-SA 4.0) rolled up through
//! the API, the CSV and the staff page (Chromium: the drawn bars are the API's), the copy studio's praise quotes,
//! English and Chinese texts scored, and a frustrated shopper put first in the support queue.
use crate::staff::browser_sign_in;
use crate::support::*;
use serde_json::{json, Value};

/// A server over the first 150 products of the toys catalog, on its own data directory.
fn toys_app() -> (tempfile::TempDir, TestApp) {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let src = std::io::BufReader::new(std::fs::File::open(root().join("data/amazon-toys/products.jsonl")).unwrap());
    let file = dir.path().join("toys.jsonl");
    let mut out = std::fs::File::create(&file).unwrap();
    for line in src.lines().take(150) {
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
    aisle::import::run(dir.path(), &aisle::import::Sources { products: Some(file), ..Default::default() }, None)
        .unwrap();
    let app = TestApp::start(test_config(dir.path())).expect("the toys server starts");
    (dir, app)
}

async fn post_json(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let r = http(port, "POST", path, &ADMIN_JSON, &body.to_string()).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

/// The shopper's messages are scored when the head is ready; it is trained before the server starts here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_sentiment_reaches_the_api_the_csv_the_staff_page_and_the_copy_studio() {
    let (_dir, app) = toys_app();
    let (status, shop) = get_json(app.port, "/api/sentiment").await;
    assert_eq!(status, 200, "{shop}");
    assert_eq!(shop["level"], "shop");
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert!(n(&shop, "reviews") >= 150, "{shop}");
    assert_eq!(n(&shop, "negative") + n(&shop, "neutral") + n(&shop, "positive"), n(&shop, "reviews"));
    // most toys reviews are 4-5 stars; the head reads most of them positive, and not all
    assert!(n(&shop, "positive") * 10 > n(&shop, "reviews") * 7, "{shop}");
    assert!(n(&shop, "negative") > 0, "some reviews complain: {shop}");
    let aspects = shop["aspects"].as_array().unwrap();
    assert!(aspects.len() >= 4, "{aspects:?}");
    for a in aspects {
        let score = a["score"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&score));
        assert!(n(a, "positive") + n(a, "negative") <= n(a, "mentions"));
    }
    assert!(aspects.iter().any(|a| a["aspect"] == "quality"), "{aspects:?}");
    // the categories below the shop add up to it
    let children = shop["children"].as_array().unwrap();
    assert!(!children.is_empty());
    assert_eq!(children.iter().map(|c| n(c, "reviews")).sum::<u64>(), n(&shop, "reviews"));
    let category = children[0]["key"].as_str().unwrap();
    let (status, cat) = get_json(
        app.port,
        &format!("/api/sentiment?level=category&key={}", category.replace(' ', "%20").replace('&', "%26")),
    )
    .await;
    assert_eq!(status, 200, "{cat}");
    assert_eq!(n(&cat, "reviews"), n(&children[0], "reviews"));

    // the lowest product: its complaint is one of its own review sentences, and it reads negative
    let lowest = &shop["lowest"][0];
    let id = lowest["id"].as_str().unwrap();
    let (status, p) = get_json(app.port, &format!("/api/sentiment?level=product&key={id}")).await;
    assert_eq!(status, 200, "{p}");
    assert!(p["score"].as_f64().unwrap() < 0.0, "{p}");
    let products = toys_catalog();
    let reviews = &products.iter().find(|x| x.id == id).unwrap().reviews;
    for q in p["complaints"].as_array().unwrap().iter().chain(p["praise"].as_array().unwrap()) {
        let q = q.as_str().unwrap();
        let words: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            reviews.split_whitespace().collect::<Vec<_>>().join(" ").contains(&words),
            "{q:?} is not quoted from {reviews:?}"
        );
    }
    // a well-liked product's praise
    let liked = products
        .iter()
        .take(150)
        .filter(|x| x.reviews.lines().count() >= 2)
        .find(|x| x.reviews.contains("great") || x.reviews.contains("Great") || x.reviews.contains("lovely"))
        .expect("a praised toy");
    let (status, good) = get_json(app.port, &format!("/api/sentiment?level=product&key={}", liked.id)).await;
    assert_eq!(status, 200, "{good}");

    // clear errors
    for (path, want) in [
        ("/api/sentiment?level=brand", 400),
        ("/api/sentiment?level=category", 400),
        ("/api/sentiment?level=category&key=No%20such%20aisle", 404),
        ("/api/sentiment?level=product&key=NO-SUCH", 404),
    ] {
        let (status, body) = get_json(app.port, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {body}");
    }
    assert_eq!(http(app.port, "GET", "/api/sentiment", &[], "").await.status, 401);

    // texts scored in English and Chinese
    let texts = [
        ("Broke after two days, a total waste of money", "negative"),
        ("Lovely quality and it arrived quickly, my son adores it", "positive"),
        ("质量很差，太失望了", "negative"),
        ("质量很好，孩子很喜欢", "positive"),
    ];
    let (status, scored) =
        post_json(app.port, "/api/sentiment/score", &json!({ "texts": texts.iter().map(|t| t.0).collect::<Vec<_>>() }))
            .await;
    assert_eq!(status, 200, "{scored}");
    for (i, (text, want)) in texts.iter().enumerate() {
        assert_eq!(scored[i]["label"], *want, "{text}: {}", scored[i]);
    }
    assert!(scored[0]["aspects"].as_array().unwrap().iter().any(|a| a == "quality"), "{}", scored[0]);
    assert!(scored[2]["aspects"].as_array().unwrap().iter().any(|a| a == "quality"), "{}", scored[2]);
    let (status, _) = post_json(app.port, "/api/sentiment/score", &json!({ "texts": [] })).await;
    assert_eq!(status, 422);
    let (status, _) = post_json(app.port, "/api/sentiment/score", &json!({ "texts": vec!["ok"; 101] })).await;
    assert_eq!(status, 422);

    // CSV: a row per reviewed product
    let auth = format!("Bearer {TOKEN}");
    let csv = http(app.port, "GET", "/staff/sentiment/export", &[("Authorization", &auth)], "").await;
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let rows = reader.records().count() as u64;
    let reviewed = products.iter().take(150).filter(|x| !x.reviews.trim().is_empty()).count() as u64;
    assert_eq!(rows, reviewed);
    assert_eq!(n(&shop, "products"), reviewed);

    // the staff page draws the API's aspect scores
    let support = staff_login(app.port, "support").await;
    let mut b = browser_sign_in(app.port, &support, "/staff/sentiment").await;
    let drawn = b
        .eval("JSON.stringify([...document.querySelectorAll('[data-chart=aspects] .pt')].map(p => [p.dataset.label, Number(p.dataset.value)]))")
        .await;
    let drawn: Vec<(String, f64)> = serde_json::from_str(drawn.as_str().unwrap()).unwrap();
    let want: Vec<(String, f64)> =
        aspects.iter().map(|a| (a["aspect"].as_str().unwrap().to_string(), a["score"].as_f64().unwrap())).collect();
    assert_eq!(drawn.len(), want.len(), "{drawn:?} {want:?}");
    for (d, w) in drawn.iter().zip(&want) {
        assert_eq!(d.0, w.0);
        assert!((d.1 - w.1).abs() < 1e-4, "{d:?} {w:?}");
    }
    assert_eq!(
        b.eval("document.getElementById('reviews').textContent.trim()").await,
        json!(shop["reviews"].to_string())
    );

    // the copy studio shows what shoppers praise in the chosen product, as the API gives it
    let marketer = staff_login(app.port, "marketer").await;
    let mut c = browser_sign_in(app.port, &marketer, "/staff/copy").await;
    let title_word = liked.title.split_whitespace().next().unwrap().to_string();
    c.eval(&format!(
        "(async () => {{ document.getElementById('q').value = {}; await find();
           const sel = document.getElementById('product'); const id = {};
           if (![...sel.options].some(o => o.value === id)) sel.add(new Option(id, id));
           sel.value = id; await showPraise(); return true }})()",
        json!(title_word),
        json!(liked.id)
    ))
    .await;
    // the eval does not wait for the page's fetches: wait for the list itself
    c.wait_for("document.querySelectorAll('#praise li').length > 0", 60).await;
    let shown = c.eval("JSON.stringify([...document.querySelectorAll('#praise li')].map(li => li.textContent))").await;
    let shown: Vec<String> = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    let praise: Vec<String> =
        good["praise"].as_array().unwrap().iter().map(|q| format!("\u{201c}{}\u{201d}", q.as_str().unwrap())).collect();
    assert_eq!(shown, praise);
    app.stop().unwrap();
}

/// Two shoppers wait for a person; the one who reads frustrated goes first though the other wrote later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frustrated_shopper_goes_first_in_the_support_queue() {
    let (_dir, app) = toys_app();
    let mut angry = ws(app.port).await;
    send(&mut angry, json!({"type": "hello"})).await;
    let angry_id = next(&mut angry).await.unwrap()["session_id"].as_str().unwrap().to_string();
    let frames = turn(&mut angry, "This is useless, you are not helping at all!! I want to speak to a human now").await;
    assert_eq!(frames.last().unwrap()["handoff"], true, "{frames:?}");
    let mut calm = ws(app.port).await;
    send(&mut calm, json!({"type": "hello"})).await;
    let calm_id = next(&mut calm).await.unwrap()["session_id"].as_str().unwrap().to_string();
    let frames = turn(&mut calm, "I want to speak to a human agent please").await;
    assert_eq!(frames.last().unwrap()["handoff"], true, "{frames:?}");

    let support = staff_login(app.port, "support").await;
    let page = http(app.port, "GET", "/staff/support", &[("Cookie", &support.cookie)], "").await;
    let queue = page.body.split("id=\"queue-table\"").nth(1).unwrap().split("</table>").next().unwrap();
    let (a, c) = (queue.find(&angry_id[..8]).expect("angry waits"), queue.find(&calm_id[..8]).expect("calm waits"));
    assert!(a < c, "the frustrated shopper first: {queue}");
    let angry_row = queue.split("<tr").find(|r| r.contains(&angry_id[..8])).unwrap();
    assert!(angry_row.contains("frustrated"), "{angry_row}");
    let calm_row = queue.split("<tr").find(|r| r.contains(&calm_id[..8])).unwrap();
    assert!(!calm_row.contains("class=\"frustrated\""), "{calm_row}");
    // the export carries how each chat read
    let auth = format!("Bearer {TOKEN}");
    let export =
        http(app.port, "GET", "/staff/api/transcripts/export?format=jsonl", &[("Authorization", &auth)], "").await;
    assert_eq!(export.status, 200);
    let rows: Vec<Value> = export.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap()["frustration"].as_f64().unwrap();
    assert!(of(&angry_id) >= 0.5 && of(&calm_id) < 0.5, "{rows:?}");
    app.stop().unwrap();
}
