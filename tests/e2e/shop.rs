//! A real shop plugs Aisle in: the widget on the shop's own page (another origin) with one script tag and a signed
//! identity, cards with the product's picture and a link to its page carrying attribution, an "add to basket" the
//! page catches, the shop's look; and the import as a shop's exported files come.
use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_shops_own_page_shows_cards_with_pictures_links_and_add_to_basket_in_its_own_look() {
    let dir = slice_dir(4000);
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop_port = site.local_addr().unwrap().port();
    let shop = format!("http://127.0.0.1:{shop_port}");
    let mut cfg = test_config(dir.path());
    cfg.embed.model = root().join("models/all-MiniLM-L6-v2.q8_0.gguf");
    cfg.security.allowed_origins = vec![shop.clone()];
    let app = TestApp::start(cfg).unwrap();
    let key = publishable_key(app.port).await;
    // the shop's backend adds a product with its picture and page
    let lantern = json!({"id": "SHOP-LANTERN", "title": "Moroccan Brass Lantern", "price": 12.5, "stock": 3,
        "images": [format!("{shop}/img/lantern.png")], "url": "/products/moroccan-brass-lantern",
        "family": "moroccan-lantern", "attributes": {"finish": "Brass"}});
    let r = http(app.port, "PUT", "/api/products/SHOP-LANTERN", &ADMIN_JSON, &lantern.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // its variants: silver in stock at another price, gold sold out
    for (id, finish, price, stock) in [("SHOP-LANTERN-S", "Silver", 14.0, 2), ("SHOP-LANTERN-G", "Gold", 16.0, 0)] {
        let v = json!({"id": id, "title": format!("Moroccan {finish} Lantern"), "price": price, "stock": stock,
            "url": format!("/products/moroccan-lantern-{}", finish.to_lowercase()), "family": "moroccan-lantern",
            "attributes": {"finish": finish}});
        let r = http(app.port, "PUT", &format!("/api/products/{id}"), &ADMIN_JSON, &v.to_string()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let bad = json!({"id": "X", "title": "X", "url": "javascript:alert(1)"});
    let r = http(app.port, "PUT", "/api/products/X", &ADMIN_JSON, &bad.to_string()).await;
    assert_eq!(r.status, 400, "a script address is refused: {}", r.body);

    // the shop's page: one script tag, a signed shopper, its colour, the left side, its title, the basket on
    let expires = aisle::session::now() + 3600;
    let signature = aisle::identity::Verifier::new(IDENTITY_SECRET.as_bytes().to_vec(), false).sign("shop-c7", expires);
    let page = format!(
        "<!doctype html><html><body><h1>A shop</h1><script>window.cart = []; \
         document.addEventListener('aisle:add-to-cart', (e) => window.cart.push(e.detail));</script>\
         <script src=\"http://127.0.0.1:{}/static/aisle-widget.js\" data-key=\"{key}\" data-customer=\"shop-c7\" \
         data-expires=\"{expires}\" data-signature=\"{signature}\" data-cart=\"on\" data-color=\"rgb(200, 30, 40)\" \
         data-position=\"left\" data-title=\"Lantern help\" defer></script></body></html>",
        app.port
    );
    let served = crate::trust::serve_page(site, page);
    let w = "document.getElementById('aisle-widget').shadowRoot";
    let mut b = browser::Browser::open(&format!("{shop}/"), 1280, 900).await;
    b.wait_for("!!window.Aisle", 20).await;
    let look = b
        .eval(&format!(
            "(() => {{ const l = getComputedStyle({w}.querySelector('.launch')); return [l.backgroundColor, l.left] }})()"
        ))
        .await;
    assert_eq!(look, json!(["rgb(200, 30, 40)", "18px"]), "the shop's colour, on the left");
    b.eval("window.Aisle.open()").await;
    b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
    let title = b.eval(&format!("{w}.querySelector('.title').textContent")).await;
    assert_eq!(title, json!("Lantern help"));
    b.eval(&format!(
        "(() => {{ const r = {w}; r.querySelector('input').value = 'a moroccan brass lantern'; r.querySelector('form').requestSubmit(); return true }})()"
    ))
    .await;
    b.wait_for(&format!("!!{w}.querySelector('.msg.assistant[data-done]')"), 90).await;
    let card = b
        .eval(&format!(
            "(() => {{ const c = {w}.querySelector('.card[data-product=\"SHOP-LANTERN\"]'); if (!c) return null; \
             return [c.querySelector('img').src, c.querySelector('.title a').href, c.querySelector('.price').textContent] }})()"
        ))
        .await;
    assert_eq!(
        card,
        json!([
            format!("{shop}/img/lantern.png"),
            format!("{shop}/products/moroccan-brass-lantern?aisle_source=chat"),
            "£12.50"
        ]),
        "the card shows the picture, links to the product's page with attribution, in the shop's currency"
    );
    // add to basket: the page's own handler gets the product
    b.eval(&format!("{w}.querySelector('.card[data-product=\"SHOP-LANTERN\"] button.add').click()")).await;
    b.wait_for("window.cart.length === 1", 10).await;
    let detail = b.eval("window.cart[0]").await;
    assert_eq!((detail["product"].as_str(), detail["quantity"].as_i64()), (Some("SHOP-LANTERN"), Some(1)), "{detail}");
    // the variant picker: silver changes the price and link, and the basket gets the silver one; gold is sold out
    let picker = b
        .eval(&format!(
            "(() => {{ const s = {w}.querySelector('.card[data-product=\"SHOP-LANTERN\"] select.options'); if (!s) return null; \
             return [...s.options].map(o => [o.value, o.textContent, o.disabled]) }})()"
        ))
        .await;
    assert_eq!(
        picker,
        json!([
            ["SHOP-LANTERN", "Brass", false],
            ["SHOP-LANTERN-G", "Gold (Out of stock)", true],
            ["SHOP-LANTERN-S", "Silver", false]
        ]),
        "the card lists the family's variants"
    );
    let chosen = b
        .eval(&format!(
            "(() => {{ const c = {w}.querySelector('.card[data-product=\"SHOP-LANTERN\"]'); const s = c.querySelector('select'); \
             s.value = 'SHOP-LANTERN-S'; s.dispatchEvent(new Event('change')); c.querySelector('button.add').click(); \
             return [c.querySelector('.price').textContent, c.querySelector('.title a').pathname] }})()"
        ))
        .await;
    assert_eq!(chosen, json!(["£14.00", "/products/moroccan-lantern-silver"]));
    b.wait_for("window.cart.length === 2", 10).await;
    let detail = b.eval("window.cart[1]").await;
    assert_eq!(
        (detail["product"].as_str(), detail["variant"].as_str()),
        (Some("SHOP-LANTERN"), Some("SHOP-LANTERN-S"))
    );
    assert_eq!(detail["price"].as_f64(), Some(14.0), "{detail}");
    // back to brass for the click-through below
    b.eval(&format!(
        "(() => {{ const s = {w}.querySelector('.card[data-product=\"SHOP-LANTERN\"] select'); s.value = 'SHOP-LANTERN'; \
         s.dispatchEvent(new Event('change')); return true }})()"
    ))
    .await;
    // click-through: the shop's product page opens, and the click is stored for the signed-in shopper
    // (clicked after the evaluation returns: the page leaves)
    b.eval(&format!(
        "(() => {{ const a = {w}.querySelector('.card[data-product=\"SHOP-LANTERN\"] .title a'); setTimeout(() => a.click(), 50); return true }})()"
    ))
    .await;
    b.wait_for("location.pathname === '/products/moroccan-brass-lantern'", 20).await;
    assert_eq!(b.eval("location.search").await, json!("?aisle_source=chat"));
    let mut kinds = vec![];
    for _ in 0..50 {
        let r = http(app.port, "GET", "/api/shoppers/shop-c7", &ADMIN_JSON, "").await;
        let export: Value = serde_json::from_str(&r.body).unwrap_or_default();
        kinds = export["events"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter(|e| e["product"] == "SHOP-LANTERN")
                    .filter_map(|e| e["kind"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if kinds.iter().any(|k| k == "chat_recommendation_clicked") && kinds.iter().any(|k| k == "add_to_cart") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(kinds.iter().any(|k| k == "add_to_cart"), "the basket add is stored for the signed-in shopper: {kinds:?}");
    assert!(kinds.iter().any(|k| k == "chat_recommendation_clicked"), "and the click-through: {kinds:?}");
    drop(b);
    served.abort();
    app.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_export_and_a_merchant_feed_import_into_the_running_server_while_chats_go_on() {
    let dir = slice_dir(4000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let port = app.port;
    // shoppers chat all the while
    let chats = tokio::spawn(async move {
        let mut failed = vec![];
        for q in ["a heart decoration", "lunch bags", "something for a tea party", "cake stand", "jumbo bag"] {
            let mut ws = ws(port).await;
            let frames = turn(&mut ws, q).await;
            if frames.iter().any(|f| f["type"] == "error") || shown_text(&frames).trim().is_empty() {
                failed.push(format!("{q}: {frames:?}"));
            }
        }
        failed
    });
    // the command line, while the server holds the store: it sends the file to the server
    let fixture = |name: &str| root().join("tests/data/shop").join(name);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["import", "--shopify"])
        .arg(fixture("shopify_products_export.csv"))
        .env("AISLE_ADMIN_TOKEN", TOKEN)
        .env("AISLE_SERVER", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("5 products") && stdout.contains("1 rows skipped by rule"), "{stdout}");
    assert!(stdout.contains("bad row at line 7"), "{stdout}");
    // the Merchant Center feed through the API
    let feed = std::fs::read_to_string(fixture("merchant_feed.xml")).unwrap();
    let r = http(port, "POST", "/api/import?format=merchant", &ADMIN_JSON[1..], &feed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!((report["products"].as_u64(), report["bad_rows"].as_array().map(Vec::len)), (Some(4), Some(1)));
    let r = http(port, "POST", "/api/import?format=merchant", &[], &feed).await;
    assert_eq!(r.status, 401, "only the shop's backend imports");
    let r = http(port, "POST", "/api/import?format=products", &ADMIN_JSON[1..], "sku,colour\nA,red\n").await;
    assert_eq!(r.status, 422, "a file of the wrong shape is refused with its reason: {}", r.body);
    assert!(r.body.contains("`title`"), "{}", r.body);

    // searchable at once, on both sides; the chat offers a family once and never its variant out of stock
    let (_, found) = get_json(port, "/api/search?q=jumbo+storage+bag&limit=10").await;
    let ids: Vec<&str> = found["results"].as_array().unwrap().iter().filter_map(|h| h["id"].as_str()).collect();
    assert!(ids.contains(&"SH-85099B"), "{found}");
    let (_, found) = get_json(port, "/api/search?q=three+tier+cake+stand+regency+rose&mode=semantic&limit=5").await;
    assert!(found.to_string().contains("MC-22423"), "embedded at import: {found}");
    let mut ws = ws(port).await;
    let frames = turn(&mut ws, "a jumbo storage bag").await;
    let shown: Vec<String> = cards(&frames).iter().filter_map(|c| c["id"].as_str().map(String::from)).collect();
    assert!(!shown.iter().any(|id| id == "SH-22386"), "the pink bag is out of stock: {shown:?}");
    let card = cards(&frames).into_iter().find(|c| c["id"] == "SH-85099B" || c["id"] == "SH-22385").unwrap();
    assert_eq!(card["url"], "/products/jumbo-storage-bag");
    assert!(card["image"].as_str().unwrap().starts_with("https://cdn.shopify.example/"), "{card}");
    // "does it come in other designs?": the family the shop declared
    let text = shown_text(&turn(&mut ws, "what other designs does it come in?").await);
    assert!(text.contains("Strawberry") || text.contains("Red Retrospot"), "{text}");
    let failed = chats.await.unwrap();
    assert!(failed.is_empty(), "no chat turn failed during the imports: {failed:?}");
    app.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_added_while_serving_is_recommendable_within_seconds_and_a_purchase_changes_the_next_picks() {
    let dir = slice_dir(4000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let port = app.port;
    let (status, _) = get_json(port, "/api/similar/LIVE-LANTERN").await;
    assert_eq!(status, 404, "not a product yet");
    let lantern = json!({"id": "LIVE-LANTERN", "title": "Moroccan Brass Lantern Tea Light Holder", "price": 6.95,
        "description": "A pierced brass lantern for a tea light, to hang or to stand."});
    let r = http(port, "PUT", "/api/products/LIVE-LANTERN", &ADMIN_JSON, &lantern.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let added = std::time::Instant::now();
    let similar = loop {
        let (status, body) = get_json(port, "/api/similar/LIVE-LANTERN?n=5").await;
        if status == 200 {
            break body;
        }
        assert!(added.elapsed() < Duration::from_secs(20), "not recommendable 20 s after it was added");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let waited = added.elapsed();
    let titles: Vec<&str> = similar.as_array().unwrap().iter().filter_map(|r| r["title"].as_str()).collect();
    assert!(
        titles.iter().any(|t| t.to_lowercase().contains("light") || t.to_lowercase().contains("lantern")),
        "{titles:?}"
    );
    eprintln!("a new product was recommendable after {} ms", waited.as_millis());

    // a purchase posted now is in the shopper's next recommendations' reasons, without a restart
    let picks = |body: &Value| -> Vec<String> {
        body["recommendations"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str().map(String::from)).collect()
    };
    let auth = format!("Bearer {TOKEN}");
    let get = |path: String| {
        let auth = auth.clone();
        async move {
            let r = http(port, "GET", &path, &[("Authorization", &auth)], "").await;
            serde_json::from_str::<Value>(&r.body).unwrap()
        }
    };
    let before = get("/api/recommend?user=live-shopper&n=5".into()).await;
    let chat = |customer: &'static str| async move {
        let mut s = ws(port).await;
        send(&mut s, signed_hello(customer)).await;
        assert_eq!(next(&mut s).await.unwrap()["customer"], customer);
        cards(&turn(&mut s, "what would you recommend for me?").await)
    };
    let chat_before = chat("live-shopper").await;
    assert!(chat_before.iter().all(|c| !c["reason"].as_str().unwrap().contains("you bought")), "no history yet");
    let bought = json!({"event_id": "live-1", "user": "live-shopper", "product": "85123A", "kind": "purchase"});
    let r = http(port, "POST", "/api/events", &ADMIN_JSON, &bought.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = get("/api/recommend?user=live-shopper&n=5".into()).await;
    assert_ne!(picks(&before), picks(&after), "the purchase changed the picks: {before} / {after}");
    let because =
        after["recommendations"].as_array().unwrap().iter().any(|r| r["contributions"]["because"]["id"] == "85123A");
    assert!(because, "a pick is there because of the heart holder just bought: {after}");
    // and the chat's next picks, at once: a card's reason cites the purchase
    let chat_after = chat("live-shopper").await;
    let cited = chat_after.iter().any(|c| c["why"]["related"]["id"] == "85123A");
    assert!(cited, "a chat card cites the heart holder just bought: {chat_after:?}");
    app.stop().unwrap();
}

#[test]
fn a_shop_selling_in_dollars_shows_dollars_and_reads_a_budget_in_pounds_as_not_its_own() {
    let dir = slice_dir(2000);
    with_trained_intents(dir.path());
    let chat_in = |message: &str, currency: &str, locale: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
            .current_dir(root())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--threads", "1", "chat", message])
            .env("AISLE_CURRENCY", currency)
            .env("AISLE_LOCALE", locale)
            .env("AISLE_MODEL", root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let frames: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        frames
    };
    let chat = |message: &str| chat_in(message, "USD", "en-US");
    let frames = chat("a heart decoration under 5 dollars");
    let labels: Vec<String> =
        cards(&frames).iter().filter_map(|c| c["price_label"].as_str().map(String::from)).collect();
    assert!(!labels.is_empty() && labels.iter().all(|l| l.starts_with('$')), "{labels:?}");
    let prices: Vec<f64> = cards(&frames).iter().filter_map(|c| c["price"].as_f64()).collect();
    assert!(prices.iter().all(|p| *p <= 5.0), "the shop's own money is its budget: {prices:?}");
    let text = shown_text(&frames);
    assert!(!text.contains('£'), "{text}");
    let text = shown_text(&chat("a heart decoration under £5"));
    assert!(text.contains("Our prices are in US dollars ($), so I haven't applied your pounds (£) budget"), "{text}");
    // a shop in euros with a German locale: a decimal comma and the sign after, on every card and in the reply
    let frames = chat_in("a heart decoration", "EUR", "de-DE");
    let labels: Vec<String> =
        cards(&frames).iter().filter_map(|c| c["price_label"].as_str().map(String::from)).collect();
    let german = |l: &String| l.ends_with(" €") && l.contains(',') && !l.contains('.');
    assert!(!labels.is_empty() && labels.iter().all(german), "{labels:?}");
    let text = shown_text(&frames);
    assert!(!text.contains('£') && !text.contains('$'), "{text}");
}

/// `aisle ARGS` against the running server on `port`, with the admin token unless `token` is false.
fn cli_through(dir: &std::path::Path, port: u16, token: bool, args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"));
    cmd.arg("--data-dir").arg(dir).args(args).env("AISLE_SERVER", format!("http://127.0.0.1:{port}"));
    cmd.env("AISLE_PASSWORD", "a-long-enough-password").env_remove("AISLE_API_KEY");
    if token {
        cmd.env("AISLE_ADMIN_TOKEN", TOKEN);
    } else {
        cmd.env_remove("AISLE_ADMIN_TOKEN");
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_that_need_the_store_run_through_the_server_that_holds_it() {
    let dir = slice_dir(2000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let (port, path) = (app.port, dir.path());
    let run = |args: &[&str]| cli_through(path, port, true, args);

    // staff accounts: added, listed, able to sign in, removed
    let (ok, out, err) = run(&["user", "add", "cli-ana", "--role", "support"]);
    assert!(ok && out.contains("added cli-ana (support)"), "{out} {err}");
    let (ok, out, _) = run(&["user", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("cli-ana\tsupport\tcreated ")), "{out}");
    assert!(!out.contains("argon2"), "no password hash leaves the server: {out}");
    assert!(sign_in(port, "cli-ana", "a-long-enough-password").await.is_some(), "the new account signs in");
    let (ok, out, _) = run(&["user", "remove", "cli-ana"]);
    assert!(ok && out.contains("removed cli-ana"), "{out}");
    assert!(sign_in(port, "cli-ana", "a-long-enough-password").await.is_none());
    let (ok, _, err) = run(&["user", "remove", "nobody-here"]);
    assert!(!ok && err.contains("refused"), "an unknown account is an error: {err}");

    // API keys: made (the key works at once), listed, revoked (refused at once)
    let (ok, key, err) = run(&["key", "add", "cli storefront", "--kind", "secret"]);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let id = err.split("key ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap().to_string();
    let r = http(port, "GET", "/api/recommend?user=x&n=2", &[("X-Aisle-Key", &key)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (ok, out, _) = run(&["key", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with(&id) && l.ends_with("live")), "{out}");
    let (ok, out, _) = run(&["key", "revoke", &id]);
    assert!(ok && out.contains("revoked"), "{out}");
    let r = http(port, "GET", "/api/recommend?user=x&n=2", &[("X-Aisle-Key", &key)], "").await;
    assert_eq!(r.status, 401, "a revoked key is refused at once");

    // a shopper's data: exported and deleted by the server
    let click = json!({"event_id": "cli-1", "user": "cli-shopper", "product": "85123A", "kind": "click"});
    assert_eq!(http(port, "POST", "/api/events", &ADMIN_JSON, &click.to_string()).await.status, 200);
    let (ok, out, err) = run(&["shopper", "export", "cli-shopper"]);
    assert!(ok, "{err}");
    let export: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(export["events"].as_array().map(Vec::len), Some(1), "{export}");
    let (ok, out, _) = run(&["shopper", "delete", "cli-shopper"]);
    let deleted: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(ok && deleted["events"] == 1, "{out}");
    let (_, after) = get_json(port, "/api/shoppers/cli-shopper").await;
    assert_eq!(after["events"].as_array().map(Vec::len), Some(0), "{after}");

    // a retrain: the server trains, installs and serves the new model
    let served = |v: Value| v["model_version"].as_u64();
    let before = served(get_json(port, "/api/recommend?user=x&n=2").await.1);
    let (ok, out, err) = run(&["train", "--epochs", "2", "--dim", "8"]);
    assert!(ok && out.starts_with("installed "), "{out} {err}");
    let after = served(get_json(port, "/api/recommend?user=x&n=2").await.1);
    assert!(after.is_some() && after != before, "the new model is served at once: {before:?} -> {after:?}");
    assert!(err.contains(&format!("model version {}", after.unwrap())), "{err}");

    // without the token: a clear error naming what to set, nothing done
    let (ok, _, err) = cli_through(path, port, false, &["user", "list"]);
    assert!(!ok && err.contains("AISLE_ADMIN_TOKEN"), "{err}");
    app.stop().unwrap();
}

/// A shop's file server for the test: serves `files` by path, 404 for anything else.
async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let reply = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = sock.write_all(&reply).await;
            });
        }
    });
    port
}

/// Polls an import job until it has finished; its last view.
async fn finished_job(port: u16, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, job) = get_json(port, &format!("/api/imports/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if job["state"] == "done" || job["state"] == "failed" {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the import did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_staff_import_page_a_file_is_uploaded_and_a_feed_is_fetched_on_its_schedule_as_jobs() {
    let dir = slice_dir(2000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let port = app.port;
    let admin = staff_login(port, "admin").await;
    let page = as_staff(port, &admin, "GET", "/staff/import", "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Upload a file") && page.body.contains("Feeds"), "{}", page.body);
    let support = staff_login(port, "support").await;
    assert_eq!(as_staff(port, &support, "GET", "/staff/import", "").await.status, 403);

    // an upload from the page (the admin's session): a job, polled to its report with the bad row's line
    let fixture = |name: &str| std::fs::read(root().join("tests/data/shop").join(name)).unwrap();
    let shopify = String::from_utf8(fixture("shopify_products_export.csv")).unwrap();
    let r = as_staff(port, &admin, "POST", "/api/imports?format=shopify", &shopify).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job: Value = serde_json::from_str(&r.body).unwrap();
    assert!(["waiting", "running", "done"].contains(&job["state"].as_str().unwrap()), "{job}");
    let done = finished_job(port, job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["report"]["products"], 5, "{done}");
    assert_eq!(done["report"]["bad_rows"][0]["line"], 7, "{done}");
    let (_, found) = get_json(port, "/api/search?q=jumbo+storage+bag&limit=10").await;
    assert!(found.to_string().contains("SH-85099B"), "searchable when the job is done: {found}");

    // a file of mostly bad rows: the job fails with the reason, nothing written
    let bad = "id,title,price\nB-1,Kite,cheap\nB-2,Mug,free\nB-3,Ball,1.50\n";
    let r = as_staff(port, &admin, "POST", "/api/imports?format=products", bad).await;
    let job: Value = serde_json::from_str(&r.body).unwrap();
    let failed = finished_job(port, job["id"].as_str().unwrap()).await;
    assert_eq!(failed["state"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("most rows are bad"), "{failed}");
    assert_eq!(get_json(port, "/api/products/B-3").await.0, 404, "nothing of a refused file is written");

    // a feed at the shop's address, fetched by the schedule (never fetched: due at once)
    let files = file_server(vec![("/feeds/google.xml", fixture("merchant_feed.xml"))]).await;
    let feed =
        json!({"url": format!("http://127.0.0.1:{files}/feeds/google.xml"), "format": "merchant", "every_minutes": 60});
    let r = as_staff(port, &admin, "PUT", "/api/feeds/google", &feed.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let started = std::time::Instant::now();
    let job_id = loop {
        let (_, feeds) = get_json(port, "/api/feeds").await;
        if let Some(id) = feeds[0]["last_job"].as_str() {
            break id.to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the schedule did not fetch the feed: {feeds}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let done = finished_job(port, &job_id).await;
    assert_eq!((done["state"].as_str(), done["report"]["products"].as_u64()), (Some("done"), Some(4)), "{done}");
    assert!(done["source"].as_str().unwrap().contains("feeds/google.xml"), "{done}");
    let (_, found) = get_json(port, "/api/search?q=three+tier+cake+stand+regency+rose&limit=5").await;
    assert!(found.to_string().contains("MC-22423"), "{found}");
    // the page lists the feed and its jobs
    let page = as_staff(port, &admin, "GET", "/staff/import", "").await;
    assert!(page.body.contains("<td>google</td>") && page.body.contains("Fetch now"), "the feed is listed");

    // a feed whose address fails: the job says why; a feed that is not http(s) is refused
    let gone =
        json!({"url": format!("http://127.0.0.1:{files}/feeds/gone.xml"), "format": "merchant", "every_minutes": 0});
    assert_eq!(as_staff(port, &admin, "PUT", "/api/feeds/gone", &gone.to_string()).await.status, 201);
    let r = as_staff(port, &admin, "POST", "/api/feeds/gone/run", "").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job: Value = serde_json::from_str(&r.body).unwrap();
    let failed = finished_job(port, job["id"].as_str().unwrap()).await;
    assert!(failed["error"].as_str().unwrap().contains("HTTP 404"), "{failed}");
    let local = json!({"url": "file:///etc/passwd", "format": "products", "every_minutes": 60});
    assert_eq!(as_staff(port, &admin, "PUT", "/api/feeds/local", &local.to_string()).await.status, 422);
    assert_eq!(as_staff(port, &admin, "DELETE", "/api/feeds/gone", "").await.status, 204);

    // in Chromium: the page lists the jobs, and its upload form imports a file chosen in it
    let mut b = crate::staff::browser_sign_in(port, &admin, "/staff/import").await;
    b.wait_for("[...document.querySelectorAll('#jobs tbody tr')].some(r => r.textContent.includes('5 products'))", 20)
        .await;
    b.eval(
        "(() => { const dt = new DataTransfer(); \
         dt.items.add(new File(['id,title,price\\nPG-1,Page Kite Blue,3.50\\n'], 'kites.csv', { type: 'text/csv' })); \
         document.getElementById('file').files = dt.files; document.getElementById('format').value = 'products'; \
         document.getElementById('upload').requestSubmit(); return true })()",
    )
    .await;
    b.wait_for("[...document.querySelectorAll('#jobs tbody tr')].some(r => r.textContent.includes('1 products'))", 30)
        .await;
    assert_eq!(get_json(port, "/api/products/PG-1").await.0, 200, "the file chosen on the page was imported");
    drop(b);
    app.stop().unwrap();
}
