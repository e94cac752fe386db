//! End-to-end tests: the real server on a free port, the real SmolLM2 model, the real demo shop (UCI Online Retail)
//! in sled and tantivy, driven over WebSocket and HTTP as the widget and staff pages use them.
mod anomaly;
mod constraints;
mod conversations;
mod engine;
mod experiments;
mod forecast;
mod privacy;
mod reco;
mod search;
mod sentiment;
mod shop;
mod staff;
mod start;
mod support;
mod trust;

use serde_json::{json, Value};
use support::*;

const ASK: &str = "a gift for my mum under £10, something with hearts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_gets_a_streamed_reply_and_cards_true_to_the_catalog() {
    let app = shared();
    let mut ws = ws(app.port).await;
    send(&mut ws, json!({"type": "hello"})).await;
    let session = next(&mut ws).await.unwrap();
    assert_eq!(session["type"], "session");
    assert_eq!(session["resumed"], false);

    let frames = turn(&mut ws, ASK).await;
    assert_eq!(frames.last().unwrap()["type"], "done");
    assert!(frames.iter().any(|f| f["type"] == "delta"), "the reply is streamed: {frames:?}");
    let text = shown_text(&frames);
    assert!(text.split_whitespace().count() >= 3, "a reply was shown: {text:?}");

    let cards = cards(&frames);
    assert!(!cards.is_empty(), "cards are shown");
    for c in &cards {
        let (names, prices) = raw_facts(c["id"].as_str().unwrap());
        assert!(!names.is_empty(), "card {c} is a product of the demo shop");
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
        let title = squash(c["title"].as_str().unwrap());
        assert!(
            names.iter().any(|n| squash(n) == title),
            "card title {title:?} is one of the catalog's names {names:?}"
        );
        let price = c["price"].as_f64().unwrap();
        assert!(prices.iter().any(|p| (p - price).abs() < 1e-9), "card price {price} is a price the shop charged");
        assert!(price <= 10.0, "the £10 limit holds: {c}");
        assert!(title.contains("HEART"), "the card matches the request: {title}");
        assert!(c["reason"].as_str().unwrap().contains("hearts"), "the reason names the matched word: {c}");
    }
    // whatever the model wrote, no price in the shown text is one that the cards do not carry
    for word in text.split_whitespace().filter(|w| w.contains('£')) {
        let n: String = word.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
        let n = n.trim_end_matches('.');
        let ok = n == "10" || cards.iter().any(|c| format!("{:.2}", c["price"].as_f64().unwrap()) == n);
        assert!(ok, "price {word} in the reply is not a fact: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_customer_gets_cards_shaped_by_what_they_bought() {
    let app = shared();
    // the store page offers demo customers with rich histories; shop as the first one
    let page = http(app.port, "GET", "/", &[], "").await;
    let customer = page.body.split("option value=\"").nth(2).and_then(|s| s.split('"').next()).unwrap().to_string();
    assert!(!customer.is_empty(), "the store page offers a demo customer");

    let mut anon = ws(app.port).await;
    let anon_cards = cards(&turn(&mut anon, ASK).await);
    let mut known = ws(app.port).await;
    send(&mut known, signed_hello(&customer)).await;
    assert_eq!(next(&mut known).await.unwrap()["customer"], customer.as_str());
    let known_cards = cards(&turn(&mut known, ASK).await);

    let ids = |cs: &[serde_json::Value]| cs.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_ne!(ids(&anon_cards), ids(&known_cards), "history changes the picks");
    assert!(
        known_cards.iter().any(|c| c["reason"].as_str().unwrap().contains("which you bought on")),
        "a reason cites a past purchase: {known_cards:?}"
    );
    assert!(
        anon_cards.iter().all(|c| !c["reason"].as_str().unwrap().contains("you bought")),
        "a visitor has no history"
    );
    // every cited purchase is in the customer's real invoices
    for c in &known_cards {
        if let Some(rel) = c["why"]["related"]["id"].as_str() {
            let bought = customer_bought(&customer, rel);
            assert!(bought, "customer {customer} really bought {rel}");
        }
    }
}

fn customer_bought(customer: &str, code: &str) -> bool {
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    csv::Reader::from_reader(src)
        .records()
        .map(|r| r.unwrap())
        .any(|r| &r[1] == code && r[6].trim_end_matches(".0") == customer && !r[0].starts_with('C'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_survives_a_restart_and_the_session_resumes() {
    let dir = slice_dir(20_000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let mut ws1 = ws(app.port).await;
    send(&mut ws1, json!({"type": "hello"})).await;
    let id = next(&mut ws1).await.unwrap()["session_id"].as_str().unwrap().to_string();
    let frames = turn(&mut ws1, "red retrospot bags").await;
    let first_cards = cards(&frames);
    drop(ws1);
    app.stop().unwrap();

    let app = TestApp::start(test_config(dir.path())).unwrap();
    let mut ws2 = ws(app.port).await;
    send(&mut ws2, json!({"type": "hello", "session_id": id})).await;
    let s = next(&mut ws2).await.unwrap();
    assert_eq!(s["resumed"], true, "{s}");
    assert_eq!(s["session_id"], id.as_str());
    let history = s["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["text"], "red retrospot bags");
    assert_eq!(history[1]["cards"].as_array().unwrap().len(), first_cards.len());
    assert_eq!(history[1]["text"].as_str().unwrap(), shown_text(&frames));
    drop(ws2);
    app.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_page_streams_a_checked_description_for_staff_only() {
    let app = shared();
    let body = json!({"product": "85123A"}).to_string();
    let denied = http(app.port, "POST", "/staff/api/copy", &[("Content-Type", "application/json")], &body).await;
    assert_eq!(denied.status, 401);

    let auth = format!("Bearer {TOKEN}");
    let r = http(
        app.port,
        "POST",
        "/staff/api/copy",
        &[("Content-Type", "application/json"), ("Authorization", &auth)],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let frames: Vec<serde_json::Value> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "variant");
    let text = shown_text(&frames);
    assert_eq!(frames.last().unwrap()["text"], text.as_str(), "the variant is the text that was shown");
    assert!(text.split_whitespace().count() >= 3, "copy text: {text:?}");
    if last["passed"] == false {
        assert!(text.contains("Hanging Heart T-Light Holder"), "the template names the product: {text}");
    }

    let page = http(app.port, "GET", "/staff/copy", &[("Authorization", &auth)], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("product_description"));
    let unknown = http(
        app.port,
        "POST",
        "/staff/api/copy",
        &[("Content-Type", "application/json"), ("Authorization", &auth)],
        r#"{"product":"NOPE"}"#,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_page_lists_and_shows_a_transcript() {
    let app = shared();
    let mut ws = ws(app.port).await;
    send(&mut ws, json!({"type": "hello"})).await;
    let id = next(&mut ws).await.unwrap()["session_id"].as_str().unwrap().to_string();
    let frames = turn(&mut ws, "vintage christmas bunting, mail me at jane.doe@example.com or 07700 900123").await;
    let card_title = cards(&frames)[0]["title"].as_str().unwrap().to_string();

    let auth = format!("Bearer {TOKEN}");
    let list = http(app.port, "GET", "/staff/support", &[("Authorization", &auth)], "").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&id[..8]), "the session is listed");
    let one = http(app.port, "GET", &format!("/staff/support/{id}"), &[("Authorization", &auth)], "").await;
    assert_eq!(one.status, 200);
    assert!(one.body.contains("vintage christmas bunting"));
    assert!(!one.body.contains("jane.doe") && !one.body.contains("900123"), "personal data is redacted before storing");
    assert!(one.body.contains("[email]") && one.body.contains("[phone]"));
    assert!(one.body.contains(&card_title), "the transcript shows the cards");
    let anon = http(app.port, "GET", &format!("/staff/support/{id}"), &[], "").await;
    assert_eq!(anon.status, 303, "anonymous staff requests go to the login page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_clear_errors_and_the_connection_keeps_serving() {
    let app = shared();
    let mut ws = ws(app.port).await;
    ws_send_raw(&mut ws, "{not json").await;
    let e = next(&mut ws).await.unwrap();
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("bad_frame")), "{e}");

    send(&mut ws, json!({"type": "dance"})).await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "unknown_type");

    send(&mut ws, json!({"type": "message"})).await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "bad_frame");

    send(&mut ws, json!({"type": "message", "text": "x".repeat(600)})).await;
    let e = next(&mut ws).await.unwrap();
    assert_eq!(e["code"], "too_long");
    assert!(e["message"].as_str().unwrap().contains("500"));

    // still serving on the same connection
    let frames = turn(&mut ws, "lantern").await;
    assert_eq!(frames.last().unwrap()["type"], "done");
    assert!(!cards(&frames).is_empty());

    // a frame over the size limit closes that socket with a reason; the server keeps serving others
    let mut big = support::ws(app.port).await;
    ws_send_raw(&mut big, &"y".repeat(20 * 1024)).await;
    let mut got_error = false;
    while let Some(f) = next(&mut big).await {
        got_error |= f["code"] == "too_large";
    }
    assert!(got_error, "the oversized frame is answered with an error");
    let mut again = support::ws(app.port).await;
    assert_eq!(turn(&mut again, "lantern").await.last().unwrap()["type"], "done");
}

async fn ws_send_raw(ws: &mut Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.to_string().into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_file_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.llm.model = dir.path().join("no-such-model.gguf");
    let err = TestApp::start(cfg).err().expect("start-up fails");
    assert!(err.contains("no-such-model.gguf not found"), "{err}");
    assert!(err.contains("models/fetch.sh"), "the message says how to get the model: {err}");

    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF but not really").unwrap();
    let mut cfg = test_config(dir.path());
    cfg.llm.model = corrupt;
    let err = TestApp::start(cfg).err().expect("start-up fails");
    assert!(err.contains("could not be loaded"), "{err}");
}

#[test]
fn the_import_command_reports_a_broken_csv_row_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let products = dir.path().join("products.csv");
    std::fs::write(&products, "id,title,price\n85123A,White Hanging Heart T-Light Holder,2.55\n22423,Regency Cakestand 3 Tier,twelve\n84879,Assorted Colour Bird Ornament,1.69\n\"broken,row\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["--data-dir"])
        .arg(dir.path().join("store"))
        .args(["import", "--products"])
        .arg(&products)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 products"), "{stdout}");
    assert!(stdout.contains("bad row at line 3") && stdout.contains("price"), "{stdout}");
    assert!(stdout.contains("bad row at line 5"), "{stdout}");
}

#[test]
fn the_import_command_run_from_another_folder_reads_another_shops_column_names_and_embeds_with_the_installed_model() {
    let dir = tempfile::tempdir().unwrap();
    let products = dir.path().join("export.csv");
    std::fs::write(&products, "product_id,name,unit_price,vendor\n85123A,White Hanging Heart T-Light Holder,2.55,Home\n84879,Assorted Colour Bird Ornament,1.69,Home\n").unwrap();
    let aisle = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
            .current_dir(dir.path())
            .env_remove("AISLE_EMBED_MODEL")
            .args(["--data-dir", "store"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, out) = aisle(&["import", "--products", "export.csv"]);
    assert!(ok, "{out}");
    assert!(out.contains("2 products") && out.contains("0 bad rows"), "{out}");
    let store = aisle::store::Store::open(&dir.path().join("store")).unwrap();
    assert_eq!(store.vectors().unwrap().len(), 2, "the model beside the binary embedded both: {out}");
    drop(store);

    std::fs::write(&products, "Item Number,Item\n1,Kite\n").unwrap();
    let (ok, out) = aisle(&["import", "--products", "export.csv"]);
    assert!(!ok, "a file with no id column fails: {out}");
    assert!(out.contains("`id`") && out.contains("Item Number") && out.contains("--map"), "{out}");
    let (ok, out) = aisle(&["import", "--products", "export.csv", "--map", "Item Number=id", "--map", "item=title"]);
    assert!(ok && out.contains("1 products"), "{out}");

    let (ok, out) = aisle(&["--config", "/nonexistent/aisle.toml", "import", "--products", "export.csv"]);
    assert!(!ok && out.contains("/nonexistent/aisle.toml"), "{out}");
    let missing = dir.path().join("none.gguf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .current_dir(dir.path())
        .env("AISLE_EMBED_MODEL", &missing)
        .args([
            "--data-dir",
            "store2",
            "import",
            "--products",
            "export.csv",
            "--map",
            "Item Number=id",
            "--map",
            "item=title",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("none.gguf") && text.contains("--keyword-only"), "{text}");
}

#[test]
fn the_toys_catalog_imports_through_the_generic_format_and_is_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let file = root().join("data/amazon-toys/products.jsonl");
    let src = aisle::import::Sources { products: Some(file), ..Default::default() };
    let first = aisle::import::run(dir.path(), &src, None).unwrap();
    assert_eq!(first.products, 863);
    assert!(first.bad_rows.is_empty(), "{:?}", first.bad_rows);
    aisle::import::run(dir.path(), &src, None).unwrap();
    let index = aisle::search::keyword::KeywordIndex::open(dir.path()).unwrap();
    assert_eq!(index.num_docs(), 863, "importing twice does not duplicate");
    let store = aisle::store::Store::open(dir.path()).unwrap();
    assert_eq!(store.product_count(), 863);
    let hits = index.search("railway lights", &Default::default(), &Default::default(), 5).unwrap();
    let top: aisle::catalog::Product = store.product(&hits[0].0).unwrap().unwrap();
    assert!(top.title.to_lowercase().contains("light"), "{}", top.title);
    assert!(!top.reviews.is_empty(), "reviews come through the generic format");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_in_headless_chromium_streams_a_reply_and_shows_cards() {
    let app = shared();
    let mut b = browser::Browser::open(&app.url("/"), 390, 844).await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    let w = "document.getElementById('aisle-widget').shadowRoot";
    b.eval(&format!("{w}.querySelector('.launch').click()")).await;
    b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
    b.eval(&format!(
        "(() => {{ const r = {w}; r.querySelector('input').value = {ask}; r.querySelector('form').requestSubmit(); return true }})()",
        ask = serde_json::to_string(ASK).unwrap()
    ))
    .await;
    b.wait_for(&format!("!!{w}.querySelector('.msg.assistant[data-done]')"), 90).await;
    let seen = b
        .eval(&format!(
            "(() => {{ const r = {w}; const m = r.querySelector('.msg.assistant'); return {{
                text: m.textContent, chunks: Number(m.dataset.chunks || 0), replaced: !!m.dataset.replaced,
                cards: [...r.querySelectorAll('.card .title')].map(e => e.textContent),
                prices: [...r.querySelectorAll('.card .price')].map(e => e.textContent),
                open: getComputedStyle(r.querySelector('.panel')).display,
                panelWidth: r.querySelector('.panel').getBoundingClientRect().width }} }})()"
        ))
        .await;
    let shot = root().join("target/widget-phone.png");
    b.screenshot(&shot).await;
    assert!(seen["text"].as_str().unwrap().split_whitespace().count() >= 3, "{seen}");
    assert!(seen["chunks"].as_u64().unwrap() >= 1, "text arrived as streamed chunks: {seen}");
    assert!(!seen["cards"].as_array().unwrap().is_empty(), "cards shown: {seen}");
    assert!(seen["prices"].as_array().unwrap().iter().all(|p| p.as_str().unwrap().starts_with('£')));
    assert_eq!(seen["open"], "flex");
    assert!(seen["panelWidth"].as_f64().unwrap() <= 390.0, "the panel fits a phone screen: {seen}");

    // quick replies: the chips offered after the answer are buttons; one click asks for something cheaper
    let chips = b.eval(&format!("[...{w}.querySelectorAll('.chips button')].map(b => b.textContent)")).await;
    assert!(chips.as_array().unwrap().iter().any(|c| c == "Something cheaper"), "{chips}");
    b.eval(&format!(
        "[...{w}.querySelectorAll('.chips button')].find(b => b.textContent === 'Something cheaper').click()"
    ))
    .await;
    b.wait_for(&format!("{w}.querySelectorAll('.msg.assistant[data-done]').length >= 2"), 90).await;
    assert_eq!(
        b.eval(&format!("{w}.querySelectorAll('.msg.shopper')[1].textContent")).await,
        json!("Something cheaper")
    );

    // shopper text is shown as text, never parsed as HTML
    b.eval(&format!(
        "(() => {{ const r = {w}; r.querySelector('input').value = '<img src=x onerror=\"window.__pwned=1\">hearts'; r.querySelector('form').requestSubmit(); return true }})()"
    ))
    .await;
    b.wait_for(&format!("{w}.querySelectorAll('.msg.assistant[data-done]').length >= 3"), 90).await;
    assert_eq!(b.eval(&format!("{w}.querySelectorAll('img').length")).await, json!(0));
    assert_eq!(b.eval("window.__pwned === undefined").await, json!(true));
}

/// The widget on a Chinese page (`data-lang="zh"`), then on the default page with a Chinese message: its labels,
/// chips and replies are Chinese.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_widget_speaks_chinese_on_a_chinese_page_and_to_a_chinese_message() {
    let app = shared();
    let w = "document.getElementById('aisle-widget').shadowRoot";
    let han = |v: &Value| v.as_str().unwrap_or("").chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    for (page, labelled_first) in [("/?lang=zh", true), ("/", false)] {
        let mut b = browser::Browser::open(&app.url(page), 1024, 800).await;
        b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
        b.eval(&format!("{w}.querySelector('.launch').click()")).await;
        b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
        let placeholder = b.eval(&format!("{w}.querySelector('input').placeholder")).await;
        assert_eq!(han(&placeholder) > 0, labelled_first, "{page}: placeholder {placeholder}");
        b.eval(&format!(
            "(() => {{ const r = {w}; r.querySelector('input').value = '有没有心形的装饰品？'; r.querySelector('form').requestSubmit(); return true }})()"
        ))
        .await;
        b.wait_for(&format!("!!{w}.querySelector('.msg.assistant[data-done]')"), 90).await;
        let seen = b
            .eval(&format!(
                "(() => {{ const r = {w}; return {{ text: r.querySelector('.msg.assistant').textContent,
                    chips: [...r.querySelectorAll('.chips button')].map(b => b.textContent),
                    reasons: [...r.querySelectorAll('.card .reason')].map(e => e.textContent),
                    send: r.querySelector('form button').textContent, placeholder: r.querySelector('input').placeholder }} }})()"
            ))
            .await;
        assert!(han(&seen["text"]) >= 4, "{page}: the reply is Chinese: {seen}");
        assert!(han(&seen["send"]) > 0 && han(&seen["placeholder"]) > 0, "{page}: the labels are Chinese: {seen}");
        let chips = seen["chips"].as_array().unwrap();
        assert!(!chips.is_empty() && chips.iter().all(|c| han(c) >= 2), "{page}: Chinese chips: {seen}");
        let reasons = seen["reasons"].as_array().unwrap();
        assert!(!reasons.is_empty() && reasons.iter().all(|r| han(r) >= 2), "{page}: Chinese reasons: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_generation_queue_answers_busy_and_cancelled_requests_free_the_engine() {
    use aisle::llm::{Engine, GenParams, Generate, LlmError, Message, Output};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path()).llm;
    cfg.queue_capacity = 1;
    cfg.slots = 1;
    let engine = Engine::start(&cfg).unwrap();
    let params = GenParams { max_tokens: 200, seed: 1, ..GenParams::default() };
    let ask = || vec![Message::user("Write a long story about a lantern.")];
    let mut held = vec![];
    let mut busy = None;
    for _ in 0..4 {
        match engine.generate(ask(), params.clone()) {
            Ok(rx) => held.push(rx),
            Err(e) => {
                busy = Some(e);
                break;
            }
        }
    }
    let busy = busy.expect("a full queue refuses at once");
    assert!(matches!(busy, LlmError::Busy(_)), "{busy}");
    assert!(busy.to_string().contains("retry"), "{busy}");
    // the shoppers go away: dropping their receivers cancels their generations and frees the engine
    held.clear();
    let started = std::time::Instant::now();
    let mut rx = loop {
        match engine.generate(vec![Message::user("Say hello.")], GenParams { max_tokens: 8, ..params.clone() }) {
            Ok(rx) => break rx,
            Err(_) => {
                assert!(started.elapsed().as_secs() < 10, "the engine was not freed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    let mut done = false;
    while let Some(o) = rx.recv().await {
        if let Output::Done(s) = o {
            assert!(s.generated_tokens <= 8);
            done = true;
        }
    }
    assert!(done);
    assert!(started.elapsed().as_secs() < 20, "cancelled generations stopped early");
    assert!(engine.info().parameters > 100_000_000);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_changed_through_the_api_is_found_by_its_new_text_on_both_sides_and_a_deleted_one_nowhere() {
    let app = shared();
    let auth = format!("Bearer {TOKEN}");
    let json = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    let find = |q: &'static str, mode: &'static str| async move {
        let r = http(app.port, "GET", &format!("/api/search?q={}&mode={mode}&limit=100", q.replace(' ', "+")), &[], "")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        v["results"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let body = json!({"id": "TEST-ZEBRA", "title": "Zebra Striped Umbrella Stand", "price": 12.5}).to_string();
    let denied =
        http(app.port, "PUT", "/api/products/TEST-ZEBRA", &[("Content-Type", "application/json")], &body).await;
    assert_eq!(denied.status, 401, "product changes need staff");
    assert_eq!(http(app.port, "PUT", "/api/products/TEST-ZEBRA", &json, &body).await.status, 201);
    assert_eq!(find("zebra umbrella", "keyword").await.first().map(String::as_str), Some("TEST-ZEBRA"));
    assert_eq!(find("zebra striped umbrella stand", "semantic").await.first().map(String::as_str), Some("TEST-ZEBRA"));

    let body = json!({"id": "TEST-ZEBRA", "title": "Penguin Ice Bucket", "price": 12.5}).to_string();
    assert_eq!(http(app.port, "PUT", "/api/products/TEST-ZEBRA", &json, &body).await.status, 204);
    assert!(!find("zebra umbrella", "keyword").await.contains(&"TEST-ZEBRA".to_string()), "old words are gone");
    let sem = find("zebra striped umbrella stand", "semantic").await;
    assert!(!sem[..5].contains(&"TEST-ZEBRA".to_string()), "the old vector is gone: {sem:?}");
    assert_eq!(find("penguin ice bucket", "hybrid").await.first().map(String::as_str), Some("TEST-ZEBRA"));

    assert_eq!(http(app.port, "DELETE", "/api/products/TEST-ZEBRA", &json, "").await.status, 204);
    for mode in ["keyword", "semantic", "hybrid"] {
        assert!(!find("penguin ice bucket", mode).await.contains(&"TEST-ZEBRA".to_string()), "deleted ({mode})");
    }
    assert_eq!(http(app.port, "GET", "/api/products/TEST-ZEBRA", &[], "").await.status, 404);
}

/// A Chinese query to the search API is read into the catalog's English words, and says how it was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chinese_query_to_the_search_api_finds_the_english_catalogs_products() {
    let app = shared();
    let encoded: String = "红色的灯笼".bytes().map(|b| format!("%{b:02X}")).collect();
    let r = http(app.port, "GET", &format!("/api/search?q={encoded}&mode=keyword"), &[], "").await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["read_as"], "red lantern", "{}", r.body);
    let titles: Vec<String> =
        v["results"].as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap().to_lowercase()).collect();
    assert!(!titles.is_empty() && titles[0].contains("lantern"), "{titles:?}");
    // English queries are searched as typed
    let r = http(app.port, "GET", "/api/search?q=red+lantern&mode=keyword", &[], "").await;
    assert!(!r.body.contains("read_as"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_on_rating_and_free_attributes_through_the_api() {
    let app = shared();
    let auth = format!("Bearer {TOKEN}");
    let json = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    for (id, rating, colour) in [("TEST-KITE-R", 4.6, "red"), ("TEST-KITE-B", 3.9, "blue")] {
        let body = json!({"id": id, "title": "Delta Stunt Kite", "price": 9.5, "rating": rating,
            "attributes": {"colour": colour}})
        .to_string();
        assert_eq!(http(app.port, "PUT", &format!("/api/products/{id}"), &json, &body).await.status, 201);
    }
    let ids = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["results"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect()
    };
    let get =
        |query: &'static str| async move { http(app.port, "GET", &format!("/api/search?q={query}"), &[], "").await };
    let both = get("stunt+kite&mode=keyword").await;
    assert_eq!(both.status, 200);
    assert!(
        ids(&both.body).contains(&"TEST-KITE-R".to_string()) && ids(&both.body).contains(&"TEST-KITE-B".to_string())
    );
    let rated = ids(&get("stunt+kite&min_rating=4.5").await.body);
    assert!(rated.contains(&"TEST-KITE-R".to_string()) && !rated.contains(&"TEST-KITE-B".to_string()), "{rated:?}");
    let blue = get("stunt+kite&attr=Colour:Blue").await;
    assert_eq!(ids(&blue.body), vec!["TEST-KITE-B"], "only the blue kite: {}", blue.body);
    assert!(blue.body.contains("\"colour\":\"blue\""), "results carry their attributes: {}", blue.body);
    // the attribute's value is searchable text too
    assert_eq!(ids(&get("blue+stunt+kite&mode=keyword").await.body).first().map(String::as_str), Some("TEST-KITE-B"));
    let bad = get("kite&attr=colour").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("key:value"), "{}", bad.body);
    for id in ["TEST-KITE-R", "TEST-KITE-B"] {
        assert_eq!(http(app.port, "DELETE", &format!("/api/products/{id}"), &json, "").await.status, 204);
    }
}

/// An invoice of the demo shop and its customer, read from the raw file.
fn invoice_of_another_customer(than: &str) -> (String, String) {
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    csv::Reader::from_reader(src)
        .records()
        .map(|r| r.unwrap())
        .find(|r| !r[6].is_empty() && r[6].trim_end_matches(".0") != than && !r[0].starts_with('C'))
        .map(|r| (r[0].to_string(), r[6].trim_end_matches(".0").to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_questions_are_answered_from_orders_and_policies_and_never_show_another_customers_order() {
    let app = shared();
    let mut ws = ws(app.port).await;
    send(&mut ws, signed_hello("17850")).await;
    next(&mut ws).await.unwrap();

    // the customer's own order, with its real total
    let frames = turn(&mut ws, "where is my order 536365?").await;
    let text = shown_text(&frames);
    assert!(text.contains("536365") && text.contains("£139.12"), "{text}");
    assert!(cards(&frames).is_empty(), "no product cards for an order question");
    assert_eq!(frames.last().unwrap()["intent"], "track_order");

    // someone else's order: nothing about it is revealed
    let (other, owner) = invoice_of_another_customer("17850");
    let frames = turn(&mut ws, &format!("where is order {other}?")).await;
    let text = shown_text(&frames);
    assert!(text.contains("can't find an order"), "{text}");
    assert!(!text.contains('£') && !text.contains("placed on"), "{text}");
    assert!(!text.contains(&owner));

    // a policy question is answered by quoting the shop's policy
    let frames = turn(&mut ws, "what is your refund policy?").await;
    let text = shown_text(&frames);
    let policy = std::fs::read_to_string(root().join("data/policies/returns.md")).unwrap();
    let policy = policy.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.starts_with("From our returns and refunds policy"), "{text}");
    assert!(policy.contains(text.split("): ").nth(1).unwrap()), "the answer quotes the policy word for word: {text}");

    // asking for a person hands over, and staff see it
    let frames = turn(&mut ws, "I want to speak to a human agent").await;
    assert_eq!(frames.last().unwrap()["handoff"], true, "{frames:?}");
    drop(ws);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let list = http(app.port, "GET", "/staff/support", &[("Authorization", &format!("Bearer {TOKEN}"))], "").await;
    assert!(list.body.contains("id=\"queue-table\""), "the support page shows the handoff queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_is_my_order_answers_from_the_latest_status_the_shop_pushed_and_a_cancellation_reaches_staff() {
    let app = shared();
    let auth = format!("Bearer {TOKEN}");
    let json = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let order = r#"{"customer": "e2e-fulfil", "placed_at": "2026-11-28T10:00:00",
        "lines": [{"product": "85123A", "quantity": 2, "price": 2.55}], "status": {"status": "paid"}}"#;
    let r = http(app.port, "PUT", "/api/orders/SO-E2E-1", &json, order).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut ws = ws(app.port).await;
    send(&mut ws, signed_hello("e2e-fulfil")).await;
    next(&mut ws).await.unwrap();
    let frames = turn(&mut ws, "where is my order SO-E2E-1?").await;
    let text = shown_text(&frames);
    assert!(text.contains("SO-E2E-1") && text.contains("paid on") && text.contains("£5.10"), "{text}");

    let shipped = r#"{"status": "shipped", "carrier": "Royal Mail", "tracking_number": "RM123456785GB",
        "tracking_url": "https://track.example/RM123456785GB"}"#;
    let r = http(app.port, "POST", "/api/orders/SO-E2E-1/status", &json, shipped).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = shown_text(&turn(&mut ws, "where is my order SO-E2E-1?").await);
    assert!(
        text.contains("shipped on") && text.contains("Royal Mail"),
        "the status changed is what the chat says: {text}"
    );
    assert!(text.contains("https://track.example/RM123456785GB"), "with its tracking link: {text}");

    // a cancellation is recorded for staff with the policy quoted, never done or promised by the assistant
    let frames = turn(&mut ws, "I want to cancel my order SO-E2E-1").await;
    let text = shown_text(&frames);
    assert_eq!(frames.last().unwrap()["intent"], "cancel_order", "{frames:?}");
    assert!(text.contains("passed your request to cancel order SO-E2E-1"), "{text}");
    assert!(text.contains("From our"), "the policy is quoted: {text}");
    let queue = http(app.port, "GET", "/staff/api/requests", &json, "").await;
    let queue: serde_json::Value = serde_json::from_str(&queue.body).unwrap();
    let mine = queue.as_array().unwrap().iter().find(|o| o["id"] == "SO-E2E-1").expect("staff see the request");
    assert_eq!(mine["requests"][0]["kind"], "cancel");
    let page = http(app.port, "GET", "/staff/support", &json[..1], "").await;
    assert!(page.body.contains("id=\"requests-table\"") && page.body.contains("SO-E2E-1"), "on the support page");
    let text = shown_text(&turn(&mut ws, "where is my order SO-E2E-1?").await);
    assert!(text.contains("request to cancel it is with our team"), "{text}");
    let r = http(app.port, "POST", "/staff/api/requests/SO-E2E-1/close", &json, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_who_is_not_signed_in_is_asked_to_sign_in_for_orders() {
    let app = shared();
    let mut ws = ws(app.port).await;
    let text = shown_text(&turn(&mut ws, "where is my order 536365?").await);
    assert!(text.contains("sign in"), "{text}");
    assert!(!text.contains("£139.12"));
}

#[test]
fn the_intent_command_writes_one_json_line_per_utterance() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    with_trained_intents(dir.path());
    let r = root();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("intent")
        .current_dir(&r)
        .env("AISLE_EMBED_MODEL", r.join("models/all-MiniLM-L6-v2.q8_0.gguf"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"I want to cancel my order\nwhat payment methods do you accept\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["intent"], "cancel_order");
    assert_eq!(lines[1]["intent"], "check_payment_methods");
    assert!(lines[0]["confidence"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_carry_across_turns_and_cheaper_means_cheaper_than_what_was_shown() {
    let app = shared();
    let mut ws = ws(app.port).await;
    let first = cards(&turn(&mut ws, "something with hearts under £10").await);
    let mut prices: Vec<f64> = first.iter().map(|c| c["price"].as_f64().unwrap()).collect();
    prices.sort_by(f64::total_cmp);
    assert!(!prices.is_empty(), "first turn shows cards");
    // "cheaper" is under the middle of what was shown
    let n = prices.len();
    let middle = if n % 2 == 1 { prices[n / 2] } else { (prices[n / 2 - 1] + prices[n / 2]) / 2.0 };

    let second = cards(&turn(&mut ws, "actually something cheaper").await);
    assert!(!second.is_empty(), "cheaper hearts exist in the demo shop");
    for c in &second {
        assert!(c["price"].as_f64().unwrap() < middle, "{c} is not cheaper than £{middle}");
        assert!(c["reason"].as_str().unwrap().contains("hearts"), "the request carried over: {c}");
    }
    let third = cards(&turn(&mut ws, "what about candles").await);
    assert!(third.iter().all(|c| c["price"].as_f64().unwrap() < middle), "the budget carries over: {third:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_events_are_accepted_once_and_bad_ones_are_refused_with_a_reason() {
    let app = shared();
    let json = ADMIN_JSON;
    let ev = json!({"event_id": "e2e-1", "user": "17850", "product": "85123A", "kind": "click"}).to_string();
    let first = http(app.port, "POST", "/api/events", &json, &ev).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("\"accepted\":1"), "{}", first.body);
    let again = http(app.port, "POST", "/api/events", &json, &ev).await;
    assert!(again.body.contains("\"duplicates\":1") && again.body.contains("\"accepted\":0"), "{}", again.body);
    let bad = json!([{"event_id": "e2e-2", "user": "17850", "product": "85123A", "kind": "teleport"}]).to_string();
    let r = http(app.port, "POST", "/api/events", &json, &bad).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("teleport"), "{}", r.body);
    let unknown = json!({"event_id": "e2e-3", "user": "u", "product": "NOPE", "kind": "view"}).to_string();
    assert_eq!(http(app.port, "POST", "/api/events", &json, &unknown).await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grammar_constrained_output_can_only_name_one_of_the_candidates() {
    use aisle::intent::llm::{answer_schema, choose};
    use aisle::llm::{schema, Engine, GenParams, Generate, Message, Output};
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&test_config(dir.path()).llm).unwrap();
    let candidates: Vec<String> = ["get_refund", "track_order", "chit_chat"].iter().map(|s| s.to_string()).collect();
    for text in ["I want my money back for the broken lamp", "hello there!", "where is my parcel?"] {
        let chosen = choose(&engine, text, &candidates).await.unwrap();
        assert!(chosen.as_ref().is_some_and(|c| candidates.contains(c)), "{text}: {chosen:?}");
    }
    // whatever the prompt asks, the text is exactly the JSON form with one candidate
    let prompt = vec![Message::user("Write a poem about the sea.")];
    let params = GenParams { max_tokens: 32, temperature: 0.8, seed: 3, ..GenParams::default() };
    let form = answer_schema(&["a_b".into(), "c".into()]);
    let mut rx = engine.generate_schema(prompt, params.clone(), &form).unwrap();
    let mut out = String::new();
    while let Some(Output::Text(t)) = rx.recv().await {
        out.push_str(&t);
    }
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert!(schema::validate(&v, &form).is_ok(), "{out:?}");
    // a broken grammar is a clear failure of that request, and the engine keeps serving
    let mut bad = engine.generate_constrained(vec![Message::user("x")], params, "root ::= (".into()).unwrap();
    let mut failed = None;
    while let Some(o) = bad.recv().await {
        if let Output::Failed(f) = o {
            failed = Some(f);
        }
    }
    assert!(failed.as_deref().is_some_and(|f| f.contains("grammar")), "{failed:?}");
    assert!(choose(&engine, "hello", &candidates).await.unwrap().is_some());
    engine.shutdown();
}
