//! The test tier without model files: the HTTP edge through in-process requests (`oneshot`) and the dialogue logic
//! with a scripted model (`FakeLlm`), over a real store and index holding the first invoice lines of the UCI Online
//! Retail data (CC BY 4.0, see data/online-retail/SOURCE.md). Search is keyword-only here (no embedding model);
//! the end-to-end tests run the real models.
use aisle::app::{Application, Shop};
use aisle::chat::query::Slots;
use aisle::chat::TurnFrame;
use aisle::config::{Config, Secret};
use aisle::llm::fake::{FakeLlm, Reply};
use aisle::llm::Generate;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

const TOKEN: &str = "edge-admin-token";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shop in `dir` holding the demo data's first `lines` invoice lines, imported the way `aisle import` does.
fn shop_dir(dir: &Path, lines: usize) -> Config {
    let r = root();
    let src =
        flate2::read::GzDecoder::new(std::fs::File::open(r.join("data/online-retail/online_retail.csv.gz")).unwrap());
    let part = dir.join("online_retail_head.csv");
    let mut out = std::fs::File::create(&part).unwrap();
    for line in std::io::BufReader::new(src).lines().take(lines + 1) {
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
    drop(out);
    let sources = aisle::import::Sources { online_retail: Some(part), ..Default::default() };
    let report = aisle::import::run(&dir.join("store"), &sources, None).unwrap();
    assert!(report.products > 100, "{report:?}");
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("store"),
        prompts_dir: r.join("prompts"),
        templates_dir: r.join("templates"),
        static_dir: r.join("static"),
        policies_dir: r.join("data/policies"),
        admin_token: Secret::new(TOKEN),
        ..Config::default()
    };
    cfg.embed.model = dir.join("no-embedding-model.gguf");
    cfg.llm.model = dir.join("no-chat-model.gguf");
    cfg.search.synonyms = r.join("data/synonyms.txt");
    cfg.security.identity_secret = Secret::new("edge-identity-secret-0123456789abcdef");
    cfg
}

async fn shop(dir: &Path, model: Arc<FakeLlm>) -> (Config, Shop) {
    let cfg = shop_dir(dir, 3000);
    let shop = Shop::open_with(&cfg, model as Arc<dyn Generate>).await.unwrap();
    (cfg, shop)
}

async fn app(dir: &Path) -> Application {
    let (cfg, shop) = shop(dir, Arc::new(FakeLlm::new([Reply::text("Here you are.")]))).await;
    Application::build_with(cfg, shop).await.unwrap()
}

async fn call(app: &Application, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let r = app.router().oneshot(req).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into());
    (status, headers, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn admin(method: &str, uri: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let (status, headers, _) = call(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let made = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(made.len(), 36, "a UUID is made when the client sent none: {made:?}");
    assert!(headers.contains_key("x-content-type-options"), "{headers:?}");
    let req = Request::get("/healthz").header("x-request-id", "shop-req-42").body(Body::empty()).unwrap();
    let (_, headers, _) = call(&app, req).await;
    assert_eq!(headers.get("x-request-id").unwrap(), "shop-req-42", "the client's id is kept");
}

#[tokio::test]
async fn domain_errors_reach_the_client_as_json_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let (status, _, body) = call(&app, get("/api/products/85123A")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "White Hanging Heart T-Light Holder");
    let (status, _, body) = call(&app, get("/api/products/NO-SUCH")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no product with id \"NO-SUCH\"");
    // the catalog is changed only by the shop's backend
    let req = Request::put("/api/products/EDGE1")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"id":"EDGE1","title":"Edge Test Lantern"}"#))
        .unwrap();
    let (status, _, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("API key"), "{body}");
    let (status, _, body) =
        call(&app, admin("PUT", "/api/products/EDGE1", serde_json::json!({"id": "EDGE1", "title": " "}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_product_change_updates_the_store_the_index_and_the_catalog_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let lantern = serde_json::json!({"id": "EDGE1", "title": "Edge Test Moroccan Lantern", "price": 4.95});
    let (status, _, _) = call(&app, admin("PUT", "/api/products/EDGE1", lantern.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(&app, admin("PUT", "/api/products/EDGE1", lantern)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a second put replaces");
    let (_, _, body) = call(&app, admin("GET", "/api/search?q=moroccan+lantern", serde_json::Value::Null)).await;
    let found = body["results"].as_array().map(|r| r.iter().any(|h| h["id"] == "EDGE1"));
    assert_eq!(found, Some(true), "searchable at once: {body}");
    let (status, _, _) = call(&app, admin("DELETE", "/api/products/EDGE1", serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&app, get("/api/products/EDGE1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, body) = call(&app, admin("GET", "/api/search?q=moroccan+lantern", serde_json::Value::Null)).await;
    assert!(!body.to_string().contains("EDGE1"), "gone from the index: {body}");
    let (status, _, _) = call(&app, admin("DELETE", "/api/products/EDGE1", serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_events_get_a_clear_error_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let req = Request::post("/api/events")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = call(&app, req).await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, _, _) = call(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Runs one chat turn and collects its frames.
async fn turn(shop: &Shop, text: &str) -> (aisle::chat::TurnResult, Vec<TurnFrame>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let r = shop.assistant.turn(text, None, &Slots::default(), &tx).await;
    drop(tx);
    let mut frames = vec![];
    while let Some(f) = rx.recv().await {
        frames.push(f);
    }
    (r, frames)
}

#[tokio::test]
async fn an_invented_product_in_the_models_words_is_replaced_and_the_cards_come_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(FakeLlm::new([Reply::text(", or the Nike Air Max 200 for only £2.")]));
    let (_, shop) = shop(dir.path(), model.clone()).await;
    let (r, frames) = turn(&shop, "a heart decoration please").await;
    assert!(!r.cards.is_empty(), "{r:?}");
    for c in &r.cards {
        let p = shop.assistant.catalog.get(&c.id).expect("every card is a catalog product");
        assert_eq!(c.title, p.title);
        assert!(p.title.to_lowercase().contains("heart"), "{}", p.title);
    }
    assert!(!r.verdict.passed, "{:?}", r.verdict);
    assert!(!r.text.contains("Nike"), "{}", r.text);
    // words streamed before the check caught them are withdrawn: the last text frame is the template's
    let last_text = frames.iter().rev().find_map(|f| match f {
        TurnFrame::Replace { text } => Some(text.clone()),
        TurnFrame::Delta { .. } => Some(String::from("(a delta after the replacement)")),
        _ => None,
    });
    let streamed_nike = frames.iter().any(|f| matches!(f, TurnFrame::Delta { text } if text.contains("Nike")));
    if streamed_nike {
        assert_eq!(last_text.as_deref(), Some(r.text.as_str()), "{frames:?}");
    }
    // the facts the model was given are the cards' titles
    let prompt: String = model.prompts().concat().iter().map(|m| m.content.clone()).collect();
    assert!(r.cards.iter().all(|c| prompt.contains(&c.title)), "{prompt}");
}

#[tokio::test]
async fn honest_words_pass_the_check_and_a_busy_or_failing_model_falls_back_to_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(FakeLlm::new([
        // the model continues the reply's start ("You might like the <first card>")
        Reply::text(" from our catalog."),
        Reply::Busy,
        Reply::Fail { before: " and".into(), why: "decode failed".into() },
    ]));
    let (_, shop) = shop(dir.path(), model.clone()).await;
    let (ok, frames) = turn(&shop, "a heart decoration please").await;
    assert!(ok.verdict.passed, "{:?}", ok.verdict);
    let first = &ok.cards[0].title;
    assert_eq!(ok.text, format!("You might like the {first} from our catalog."));
    assert!(frames.iter().any(|f| matches!(f, TurnFrame::Delta { .. })), "streamed");
    let (busy, _) = turn(&shop, "a heart decoration please").await;
    assert!(!busy.verdict.passed && !busy.text.is_empty(), "{busy:?}");
    assert!(!busy.cards.is_empty(), "the cards still come: {busy:?}");
    let (failed, _) = turn(&shop, "a heart decoration please").await;
    assert!(!failed.verdict.passed, "{:?}", failed.verdict);
    assert!(failed.verdict.reason.as_deref().is_some_and(|r| r.contains("decode failed")), "{:?}", failed.verdict);
    assert!(failed.text.len() > "You might like the ".len(), "the template completes the reply: {}", failed.text);
}

/// Marks a product out of stock (or back in) the way `PUT /api/products/{id}` does.
fn set_stock(shop: &Shop, id: &str, stock: i64) {
    let mut p = (*shop.assistant.catalog.get(id).unwrap()).clone();
    p.stock = Some(stock);
    aisle::import::put_product(&shop.store, &shop.assistant.search, &shop.assistant.catalog, p).unwrap();
}

#[tokio::test]
async fn a_product_out_of_stock_is_named_and_never_offered_and_the_in_stock_ones_are() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shop) = shop(dir.path(), Arc::new(FakeLlm::new([Reply::text("Here you are.")]))).await;
    let (before, _) = turn(&shop, "cake stand").await;
    assert!(before.cards.len() >= 2, "{before:?}");
    let gone = before.cards[0].id.clone();
    set_stock(&shop, &gone, 0);
    let (r, frames) = turn(&shop, "cake stand").await;
    assert!(r.cards.iter().all(|c| c.id != gone), "{:?}", r.cards);
    assert!(!r.cards.is_empty(), "the ones in stock are offered");
    let title = aisle::catalog::title_case(&before.cards[0].title);
    assert!(r.text.starts_with(&format!("Sorry, the {title} is out of stock")), "{}", r.text);
    let streamed: String = frames
        .iter()
        .filter_map(|f| if let TurnFrame::Delta { text } = f { Some(text.as_str()) } else { None })
        .collect();
    assert!(streamed.starts_with("Sorry, the"), "the shopper reads it first: {streamed}");

    // asked about by name: the answer says it is out of stock and offers what is in stock instead
    let (r, _) = turn(&shop, &format!("is the {} in stock?", before.cards[0].title.to_lowercase())).await;
    assert_eq!(r.tool, "stock", "{r:?}");
    assert!(r.text.contains("out of stock at the moment"), "{}", r.text);
    assert_eq!(r.cards[0].id, gone);
    assert_eq!(r.cards[0].in_stock, Some(false), "its card says so");
    for c in &r.cards[1..] {
        let p = shop.assistant.catalog.get(&c.id).unwrap();
        assert!(p.stock.is_none_or(|s| s > 0), "{c:?}");
        assert!(r.text.contains(&c.title), "{}", r.text);
    }
}

#[tokio::test]
async fn across_requests_and_random_stock_no_card_offers_a_product_out_of_stock() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shop) = shop(dir.path(), Arc::new(FakeLlm::new([Reply::text("Here you are.")]))).await;
    let requests = [
        "lunch bag",
        "christmas decorations",
        "a gift for my mum under £5",
        "heart",
        "tea towels",
        "cheapest candles",
        "something vintage",
        "red",
        "bags but not jumbo",
        "a present for a child",
        "mugs",
        "garden",
    ];
    let mut rng = aisle::rng::Rng(7);
    let mut sold_out = std::collections::HashSet::new();
    for (case, text) in requests.iter().enumerate() {
        // whatever was offered, a random half goes out of stock; the next turns must not offer it
        for round in 0..3 {
            let (r, _) = turn(&shop, text).await;
            for c in &r.cards {
                let p = shop.assistant.catalog.get(&c.id).unwrap();
                let offer = format!("case {case} {text:?} round {round}: offered {} with stock {:?}", p.title, p.stock);
                assert!(p.stock.is_none_or(|s| s > 0) && !sold_out.contains(&c.id), "{offer}");
                assert_ne!(c.in_stock, Some(false));
                if rng.below(2) == 0 {
                    set_stock(&shop, &c.id, 0);
                    sold_out.insert(c.id.clone());
                }
            }
        }
    }
    assert!(sold_out.len() >= 20, "the property was tried on enough products: {}", sold_out.len());
}

#[tokio::test]
async fn the_shops_backend_pushes_orders_and_status_changes_and_bad_ones_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let order = serde_json::json!({
        "customer": "c-edge", "placed_at": "2026-11-28T10:00:00",
        "lines": [{"product": "85123A", "quantity": 2, "price": 2.55}]
    });
    let (status, _, _) = call(&app, admin("PUT", "/api/orders/SO-1001", order.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(&app, admin("PUT", "/api/orders/SO-1001", order.clone())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a second push replaces");
    let shipped =
        serde_json::json!({"status": "shipped", "carrier": "Royal Mail", "tracking_url": "https://track.example/RM1"});
    let (status, _, body) = call(&app, admin("POST", "/api/orders/SO-1001/status", shipped)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"][0]["status"], "shipped");
    assert_eq!(body["lines"][0]["title"], "White Hanging Heart T-Light Holder");
    let (_, _, body) = call(&app, admin("GET", "/api/orders/SO-1001", serde_json::Value::Null)).await;
    assert_eq!(body["status"][0]["carrier"], "Royal Mail");

    // refused, each with its reason, and nothing changes
    let bad_url = serde_json::json!({"status": "shipped", "tracking_url": "javascript:alert(1)"});
    let (status, _, body) = call(&app, admin("POST", "/api/orders/SO-1001/status", bad_url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("tracking_url"), "{body}");
    let (status, _, _) =
        call(&app, admin("POST", "/api/orders/SO-1001/status", serde_json::json!({"status": "teleported"}))).await;
    assert!(status.is_client_error(), "an unknown status: {status}");
    let (status, _, body) =
        call(&app, admin("POST", "/api/orders/NOPE/status", serde_json::json!({"status": "paid"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) =
        call(&app, admin("PUT", "/api/orders/SO-1002", serde_json::json!({"customer": "c", "lines": []}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut theirs = order.clone();
    theirs["customer"] = "someone-else".into();
    let (status, _, _) = call(&app, admin("PUT", "/api/orders/SO-1001", theirs)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an order cannot move to another customer");
    let anonymous = Request::put("/api/orders/SO-9")
        .header("content-type", "application/json")
        .body(Body::from(order.to_string()))
        .unwrap();
    let (status, _, _) = call(&app, anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "only the shop's backend pushes orders");
    let (_, _, body) = call(&app, admin("GET", "/api/orders/SO-1001", serde_json::Value::Null)).await;
    assert_eq!(body["status"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test]
async fn a_budget_in_another_currency_is_not_applied_as_pounds_and_the_reply_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shop) = shop(dir.path(), Arc::new(FakeLlm::new([Reply::text("Here you are.")]))).await;
    let (r, _) = turn(&shop, "a heart decoration under $1").await;
    assert_eq!(r.understanding.max_price, None, "{:?}", r.understanding);
    assert!(
        r.text.contains("Our prices are in pounds (£), so I haven't applied your US dollars ($) budget"),
        "{}",
        r.text
    );
    assert!(!r.cards.is_empty(), "the request without its budget is still answered");
    let (r, _) = turn(&shop, "a heart decoration under £1").await;
    assert_eq!(r.understanding.max_price, Some(1.0));
    assert!(!r.text.contains("Our prices are in"), "{}", r.text);
}

fn set_category(shop: &Shop, id: &str, category: &str) {
    let mut p = (*shop.assistant.catalog.get(id).unwrap()).clone();
    p.category = category.into();
    aisle::import::put_product(&shop.store, &shop.assistant.search, &shop.assistant.catalog, p).unwrap();
}

#[tokio::test]
async fn the_shops_category_rules_hold_in_the_chat_cards_as_in_the_recommendation_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = shop_dir(dir.path(), 3000);
    cfg.rules.exclude_categories = vec!["Seasonal".into()];
    cfg.rules.boost = std::collections::BTreeMap::from([("Kitchen".into(), 0.8)]);
    let model = Arc::new(FakeLlm::new([Reply::text("Here you are.")]));
    let shop = Shop::open_with(&cfg, model as Arc<dyn Generate>).await.unwrap();

    // what the chat offers for christmas decorations, then the shop files those under a category it never offers
    let (before, _) = turn(&shop, "christmas decorations").await;
    assert!(before.cards.len() >= 3, "{:?}", before.cards);
    let seasonal: Vec<String> = shop
        .assistant
        .catalog
        .snapshot()
        .iter()
        .filter(|p| p.title.to_lowercase().contains("christmas"))
        .map(|p| p.id.clone())
        .collect();
    for id in &seasonal {
        set_category(&shop, id, "Seasonal > Christmas");
    }
    let (after, _) = turn(&shop, "christmas decorations").await;
    for c in &after.cards {
        let p = shop.assistant.catalog.get(&c.id).unwrap();
        assert!(!p.category.starts_with("Seasonal"), "an excluded category was offered: {} ({})", p.title, p.category);
    }
    // "anything like it?" about a product never lists an excluded one either
    let (similar, _) = turn(&shop, &format!("anything like the {}?", before.cards[0].title.to_lowercase())).await;
    assert!(similar.cards.iter().all(|c| !seasonal.contains(&c.id)), "{:?}", similar.cards);

    // a favoured category ranks higher: the last of a row, filed under Kitchen, moves up
    let (row, _) = turn(&shop, "lunch bag").await;
    let last = row.cards.last().unwrap().id.clone();
    set_category(&shop, &last, "Kitchen > Lunch");
    let (row2, _) = turn(&shop, "lunch bag").await;
    assert_eq!(row2.cards[0].id, last, "the favoured product leads: {:?}", row2.cards);
    assert!(row2.cards[0].why["boost"].as_f64().unwrap() > 0.7, "the bonus is in the card's why: {:?}", row2.cards[0]);

    // the recommendation API obeys the same rules, whatever the request asks
    let app = Application::build_with(cfg, shop).await.unwrap();
    let (status, _, body) = call(&app, admin("GET", "/api/recommend?n=100", serde_json::Value::Null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["recommendations"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| !seasonal.iter().any(|s| s == id)), "{ids:?}");
}

async fn assign(app: &Application, req: Request<Body>) -> serde_json::Value {
    let (status, _, body) = call(app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn a_storefront_experiment_assigns_sticky_variants_exposes_once_reads_out_and_freezes_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let new = serde_json::json!({"name": "banner", "surface": "storefront", "planned_units": 100,
        "variants": [{"name": "control", "weight": 1, "value": "cv-a"}, {"name": "bold", "weight": 1, "value": "cv-b"}]});
    let (status, _, e) = call(&app, admin("POST", "/api/experiments", new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", new)).await;
    assert_eq!(status, StatusCode::CONFLICT, "names are never reused: {body}");
    let one = serde_json::json!({"name": "x", "surface": "storefront", "variants": [{"name": "a", "weight": 1, "value": "v"}]});
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", one)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("2 to 6"), "{body}");
    let (status, _, _) = call(&app, get("/api/experiments")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "experiments are staff business");

    // the storefront asks, with its publishable key, for its own visitor only
    let (_, _, made) =
        call(&app, admin("POST", "/staff/api/keys", serde_json::json!({"name": "shop", "kind": "publishable"}))).await;
    let key = made["key"].as_str().unwrap().to_string();
    let as_shop = |user: &str| {
        Request::get(format!("/api/experiments/banner/assign?user={user}"))
            .header("x-aisle-key", &key)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = call(&app, as_shop("17850")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a visitor cannot ask as a customer: {body}");
    let mut variants = std::collections::HashMap::new();
    for i in 0..40 {
        let user = format!("visitor:{i:016}");
        let first = assign(&app, as_shop(&user)).await;
        let again = assign(&app, as_shop(&user)).await;
        assert_eq!(first["variant"], again["variant"], "sticky");
        let v = first["variant"].as_str().unwrap().to_string();
        assert_eq!(first["value"], if v == "control" { "cv-a" } else { "cv-b" });
        variants.insert(user, v);
    }
    assert!(variants.values().any(|v| v == "bold") && variants.values().any(|v| v == "control"), "{variants:?}");
    // two purchases by visitors of the bold variant, one by a control visitor
    let bold: Vec<&String> = variants.iter().filter(|(_, v)| *v == "bold").map(|(u, _)| u).take(2).collect();
    let ctrl = variants.iter().find(|(_, v)| *v == "control").unwrap().0;
    let buy = |id: &str, user: &str, price: f64| serde_json::json!({"event_id": id, "user": user, "product": "85123A", "kind": "purchase", "price": price});
    let events = serde_json::json!([buy("b1", bold[0], 10.0), buy("b2", bold[1], 5.0), buy("c1", ctrl, 2.0)]);
    let (status, _, body) = call(&app, admin("POST", "/api/events", events)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, r) = call(&app, admin("GET", "/api/experiments/banner/results", serde_json::json!(null))).await;
    let units: u64 = r["variants"].as_array().unwrap().iter().map(|v| v["units"].as_u64().unwrap()).sum();
    assert_eq!(units, 40, "each visitor is exposed once: {r}");
    let of = |name: &str| r["variants"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap().clone();
    assert_eq!((of("bold")["converted"].as_u64(), of("bold")["revenue"].as_f64()), (Some(2), Some(15.0)), "{r}");
    assert_eq!(of("control")["converted"], 1);
    assert!(r["reading"].as_str().unwrap().starts_with("Too few"), "40 units are too few to compare: {r}");

    // stopped: the default for everyone, nobody new exposed
    let (status, _, _) = call(&app, admin("POST", "/api/experiments/banner/stop", serde_json::json!(null))).await;
    assert_eq!(status, StatusCode::OK);
    let after = assign(&app, as_shop("visitor:zzzzzzzzzzzzzzzzzz")).await;
    assert_eq!((after["running"].as_bool(), after["variant"].as_str()), (Some(false), Some("")));
    let (_, _, r) = call(&app, admin("GET", "/api/experiments/banner/results", serde_json::json!(null))).await;
    assert_eq!(r["units"], 40);

    // the dashboard reads and exports; a bad range is refused with the reason
    let (status, _, d) = call(&app, admin("GET", "/api/dashboard", serde_json::json!(null))).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let ids: Vec<&str> = d["charts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for want in [
        "conversations",
        "handoff_rate",
        "csat",
        "check_failures",
        "card_ctr",
        "card_conversion",
        "revenue",
        "no_result_words",
        "experiments",
    ] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    let (status, _, body) = call(&app, admin("GET", "/api/dashboard?from=2026-13-01", serde_json::json!(null))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("YYYY-MM-DD"), "{body}");
    let r = app
        .router()
        .oneshot(admin("GET", "/staff/dashboard/export/conversations", serde_json::json!(null)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("conversations-"));
    let csv = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    assert!(String::from_utf8_lossy(&csv).starts_with("label,value,low,high"));
}

#[tokio::test]
async fn a_recommend_experiment_holds_out_some_shoppers_and_gives_the_others_their_variants_blend() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let new = serde_json::json!({"name": "reco-holdout", "surface": "recommend", "planned_units": 100,
        "variants": [{"name": "on", "weight": 1}, {"name": "off", "weight": 1, "holdout": true}]});
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", new)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (mut on, mut off) = (0, 0);
    for i in 0..30 {
        let user = format!("visitor:{i:016}");
        let (status, _, r) =
            call(&app, admin("GET", &format!("/api/recommend?user={user}&n=5"), serde_json::json!(null))).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let held = r["experiment"]["holdout"].as_bool().unwrap();
        let n = r["recommendations"].as_array().unwrap().len();
        if held {
            assert_eq!((r["experiment"]["variant"].as_str(), n), (Some("off"), 0), "{r}");
            off += 1;
        } else {
            assert!(n > 0, "{r}");
            on += 1;
        }
    }
    assert!(on > 0 && off > 0, "{on} {off}");
    let (_, _, r) = call(&app, admin("GET", "/api/experiments/reco-holdout/results", serde_json::json!(null))).await;
    assert_eq!(r["units"], 30);
    let (status, _, body) = call(
        &app,
        admin(
            "POST",
            "/api/experiments",
            serde_json::json!({"name": "second",
        "surface": "recommend", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "one recommend experiment at a time: {body}");
    // a chat experiment may try another prompt template set, one that exists
    let chat = |set: &str| {
        serde_json::json!({"name": format!("tone-{set}"), "surface": "chat",
            "variants": [{"name": "control", "weight": 1}, {"name": "other", "weight": 1, "prompts": set}]})
    };
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", chat("nope"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("prompts/sets/nope"), "{body}");
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", chat("warm"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // a recommend variant may serve another trained model version, one that is there
    let (_, _, _) = call(&app, admin("POST", "/api/experiments/reco-holdout/stop", serde_json::json!(null))).await;
    let versions = serde_json::json!({"name": "models", "surface": "recommend",
        "variants": [{"name": "installed", "weight": 1}, {"name": "older", "weight": 1, "model": 12345}]});
    let (status, _, body) = call(&app, admin("POST", "/api/experiments", versions)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("model version 12345"), "{body}");
}
