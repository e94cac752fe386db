//! Shopper trust, tried as an attacker would against the real server: forged identities, keys and their scopes,
//! bad events, floods of idle sockets and slow headers, sign-in guessing, other sites, and a crash right after an
//! acknowledgement.
use crate::support::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// The first frame that is not an `error` (and the error codes seen before it).
async fn session_frame(ws: &mut Ws) -> (Value, Vec<String>) {
    let mut errors = vec![];
    loop {
        let f = next(ws).await.expect("a frame");
        if f["type"] == "error" {
            errors.push(f["code"].as_str().unwrap_or("").to_string());
            continue;
        }
        return (f, errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_tampered_identities_get_no_customer_data_and_a_signed_one_does() {
    let app = shared();
    let ask = "where is my order 536365?";
    let signed = signed_hello("17850");
    let expired = {
        let exp = aisle::session::now() - 10;
        let sig = aisle::identity::Verifier::new(IDENTITY_SECRET.as_bytes().to_vec(), false).sign("17850", exp);
        json!({"type": "hello", "customer": "17850", "expires": exp, "signature": sig})
    };
    let mut other_customer = signed.clone();
    other_customer["customer"] = json!("12346"); // another customer's id with 17850's signature
    let mut tampered = signed.clone();
    let sig = signed["signature"].as_str().unwrap();
    tampered["signature"] = json!(format!("{}{}", if sig.starts_with('0') { "1" } else { "0" }, &sig[1..]));
    let mut longer = signed.clone();
    longer["expires"] = json!(signed["expires"].as_u64().unwrap() + 86_400);
    let unsigned = json!({"type": "hello", "customer": "17850"});
    let by_another_key = {
        let exp = aisle::session::now() + 3600;
        let sig =
            aisle::identity::Verifier::new(b"a secret the attacker made up!!!!".to_vec(), false).sign("17850", exp);
        json!({"type": "hello", "customer": "17850", "expires": exp, "signature": sig})
    };
    for (name, hello) in [
        ("unsigned", unsigned),
        ("expired", expired),
        ("another customer's signature", other_customer),
        ("tampered", tampered),
        ("expiry moved", longer),
        ("signed with another secret", by_another_key),
    ] {
        let mut ws = ws(app.port).await;
        send(&mut ws, hello).await;
        let (session, errors) = session_frame(&mut ws).await;
        assert!(errors.contains(&"identity_refused".to_string()), "{name}: the shopper is told ({errors:?})");
        assert!(session["customer"].is_null(), "{name}: an anonymous visitor: {session}");
        let text = shown_text(&turn(&mut ws, ask).await);
        assert!(text.contains("sign in") && !text.contains("£139.12"), "{name}: no order shown: {text}");
    }
    let mut ws = ws(app.port).await;
    send(&mut ws, signed).await;
    let (session, errors) = session_frame(&mut ws).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(session["customer"], "17850");
    let text = shown_text(&turn(&mut ws, ask).await);
    assert!(text.contains("£139.12"), "the signed customer sees their order: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scopes_hold_revoked_keys_are_refused_and_keys_are_not_stored_in_clear() {
    let dir = slice_dir(2000);
    let mut cfg = test_config(dir.path());
    cfg.embed.model = dir.path().join("no-embedding-model.gguf");
    let app = TestApp::start(cfg).unwrap();
    let make = |kind: &'static str| {
        let port = app.port;
        async move {
            let body = json!({"name": format!("{kind} test"), "kind": kind}).to_string();
            let r = http(port, "POST", "/staff/api/keys", &ADMIN_JSON, &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            (v["key"].as_str().unwrap().to_string(), v["record"]["id"].as_str().unwrap().to_string())
        }
    };
    let (pk, pk_id) = make("publishable").await;
    let (sk, _) = make("secret").await;
    let post = |key: String, extra: Vec<(&'static str, String)>, body: Value| {
        let port = app.port;
        async move {
            let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json"), ("X-Aisle-Key", &key)];
            h.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            http(port, "POST", "/api/events", &h, &body.to_string()).await
        }
    };
    let visitor = format!("visitor:{}", uuid::Uuid::new_v4().simple());
    let ev =
        |id: &str, user: &str, kind: &str| json!({"event_id": id, "user": user, "product": "85123A", "kind": kind});

    // the storefront's key: its own anonymous visitor's clicks, nothing else
    let r = post(pk.clone(), vec![], ev("pk-1", &visitor, "click")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(pk.clone(), vec![], ev("pk-2", &visitor, "purchase")).await;
    assert_eq!(r.status, 403, "a publishable key cannot write purchases: {}", r.body);
    let r = post(pk.clone(), vec![], ev("pk-3", "17850", "click")).await;
    assert_eq!(r.status, 403, "nor another user's events: {}", r.body);
    let mut with_source = ev("pk-4", &visitor, "click");
    with_source["source"] = json!("cv-fake");
    assert_eq!(post(pk.clone(), vec![], with_source).await.status, 403, "nor attribution");
    // ... but the signed-in customer the shop vouches for is its own visitor
    let exp = aisle::session::now() + 600;
    let sig = aisle::identity::Verifier::new(IDENTITY_SECRET.as_bytes().to_vec(), false).sign("17850", exp);
    let id_header = vec![("X-Aisle-Identity", format!("17850.{exp}.{sig}"))];
    let r = post(pk.clone(), id_header.clone(), ev("pk-5", "17850", "add_to_cart")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let forged = vec![("X-Aisle-Identity", format!("12346.{exp}.{sig}"))];
    assert_eq!(post(pk.clone(), forged, ev("pk-6", "12346", "click")).await.status, 401, "a forged identity");

    // it reads recommendations for its own visitor only
    let h = [("X-Aisle-Key", pk.as_str())];
    let r = http(app.port, "GET", &format!("/api/recommend?user={visitor}&n=3"), &h, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http(app.port, "GET", "/api/recommend?user=17850&n=3", &h, "").await;
    assert_eq!(r.status, 403, "{}", r.body);

    // the backend's key: purchases for anyone, with attribution
    let mut buy = ev("sk-1", "17850", "purchase");
    buy["source"] = json!("cv-campaign");
    buy["price"] = json!(2.55);
    let r = post(sk.clone(), vec![], buy).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // catalog changes: the backend's key may, the storefront's may not
    let product = json!({"id": "", "title": "KEYED LANTERN", "price": 3.0}).to_string();
    let h = [("Content-Type", "application/json"), ("X-Aisle-Key", sk.as_str())];
    assert_eq!(http(app.port, "PUT", "/api/products/KEYED1", &h, &product).await.status, 201);
    let h = [("Content-Type", "application/json"), ("X-Aisle-Key", pk.as_str())];
    let r = http(app.port, "PUT", "/api/products/KEYED2", &h, &product).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // no key at all, an unknown one, and a revoked one
    let anon = http(
        app.port,
        "POST",
        "/api/events",
        &[("Content-Type", "application/json")],
        &ev("x", &visitor, "click").to_string(),
    )
    .await;
    assert_eq!(anon.status, 401, "{}", anon.body);
    assert_eq!(post("aisle_sk_made-up".into(), vec![], ev("x2", &visitor, "click")).await.status, 401);
    let r = http(app.port, "POST", &format!("/staff/api/keys/{pk_id}/revoke"), &ADMIN_JSON, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(post(pk.clone(), vec![], ev("pk-7", &visitor, "click")).await.status, 401, "revoked");
    app.stop().unwrap();

    let store = aisle::store::Store::open(dir.path()).unwrap();
    let events = store.user_events(&visitor).unwrap();
    assert_eq!(events.len(), 1, "only the permitted event of the visitor is stored: {events:?}");
    let mine = store.user_events("17850").unwrap();
    assert!(mine.iter().any(|e| e.source.as_deref() == Some("cv-campaign") && e.price == Some(2.55)));
    assert!(!mine.iter().any(|e| e.source.as_deref() == Some("cv-fake")));
    drop(store);
    // no file of the data directory holds either key
    for key in [&pk, &sk] {
        let secret_part = &key[9..];
        let found = files_containing(dir.path(), secret_part.as_bytes());
        assert!(found.is_empty(), "the key is stored in clear in {found:?}");
    }
}

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_a_clear_400_and_nothing_of_the_request_is_stored() {
    let app = shared();
    let user = format!("visitor:{}", uuid::Uuid::new_v4().simple());
    let good =
        |id: &str| json!({"event_id": format!("{user}-{id}"), "user": user, "product": "85123A", "kind": "view"});
    let mut cases = vec![];
    for (field, value, says) in [
        ("timestamp", json!("2099-01-01T00:00:00Z"), "future"),
        ("timestamp", json!("99999999999999999999"), "ISO-8601"),
        ("timestamp", json!("1970-01-01T00:00:00"), "before 2000"),
        ("quantity", json!(i64::MIN), "quantity"),
        ("quantity", json!(1_000_000), "quantity"),
        ("user", json!("u".repeat(500)), "128"),
        ("product", json!("NO-SUCH-PRODUCT"), "no product"),
        ("kind", json!("teleport"), "teleport"),
        ("surprise", json!(1), "unknown field"),
    ] {
        let mut bad = good(field);
        bad[field] = value;
        cases.push((field, bad, says));
    }
    for (field, bad, says) in cases {
        // the bad event travels with a good one: neither is stored
        let body = json!([good(&format!("ok-{field}")), bad]).to_string();
        let r = http(app.port, "POST", "/api/events", &ADMIN_JSON, &body).await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert!(r.body.contains(says), "{field}: the reason is clear: {}", r.body);
    }
    let (status, profile) = get_json(app.port, &format!("/api/profile/{user}")).await;
    assert_eq!(status, 404, "nothing of this user was stored: {profile}");
    let r = http(app.port, "POST", "/api/events", &ADMIN_JSON, "{not json").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// A config for the limit tests: a small slice, keyword-only search, tight limits.
fn limited(dir: &std::path::Path) -> aisle::config::Config {
    let mut cfg = test_config(dir);
    cfg.embed.model = dir.join("no-embedding-model.gguf");
    cfg.security.sockets_per_client = 8;
    cfg.security.chats_per_minute = 400;
    cfg.security.header_timeout_secs = 2;
    cfg.security.chat_idle_secs = 3;
    cfg.security.logins_per_minute = 1000;
    cfg.security.lockout_after = 3;
    cfg.chat.max_connections = 400;
    cfg
}

/// A WebSocket from a given loopback address (127.0.0.0/8 is all this machine).
async fn ws_from(ip: &str, port: u16) -> Result<Ws, String> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let stream = sock.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.map_err(|e| e.to_string())?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_floods_slow_headers_and_password_guessing_do_not_lock_out_honest_users() {
    let dir = slice_dir(2000);
    let app = TestApp::start(limited(dir.path())).unwrap();

    // 300 idle sockets from one address: past its cap they are refused, and the server holds the rest cheaply
    let mut idle = vec![];
    let mut refused = 0;
    for _ in 0..300 {
        match ws_from("127.0.0.3", app.port).await {
            Ok(ws) => idle.push(ws),
            Err(e) => {
                assert!(e.contains("429"), "refused with 429: {e}");
                refused += 1;
            }
        }
    }
    assert_eq!(idle.len(), 8, "the per-address cap holds");
    assert_eq!(refused, 292);
    // a second address chats as usual meanwhile
    let mut honest = ws_from("127.0.0.4", app.port).await.expect("another address is let in");
    send(&mut honest, json!({"type": "hello"})).await;
    let text = shown_text(&turn(&mut honest, "what is your refund policy?").await);
    assert!(!text.is_empty());
    // a hello alone stores nothing: the 8 idle sockets and their hellos left no sessions
    for ws in idle.iter_mut() {
        send(ws, json!({"type": "hello"})).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = get_json(app.port, "/staff/api/transcripts").await;
    assert_eq!(list["rows"].as_array().map(|r| r.len()).unwrap_or(usize::MAX), 1, "only the chat that spoke: {list}");
    // idle sockets are closed after the quiet time, and their places come back
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed = 0;
    for mut ws in idle.drain(..) {
        loop {
            match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(c))))) => {
                    assert_eq!(u16::from(c.code), 4000);
                    closed += 1;
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                _ => break,
            }
        }
    }
    assert_eq!(closed, 8, "every idle socket was closed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws_from("127.0.0.3", app.port).await.expect("the address may chat again");

    // a client that never finishes its headers is cut off
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection is closed by the header timeout");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());

    // sign-in: three wrong passwords lock the account, even against the right one
    let who = staff_login(app.port, "support").await;
    for _ in 0..3 {
        assert!(sign_in(app.port, &who.name, "wrong-password-guess").await.is_none());
    }
    let form = format!("name={}&password={}", who.name, who.password);
    let r =
        http(app.port, "POST", "/staff/login", &[("Content-Type", "application/x-www-form-urlencoded")], &form).await;
    assert_eq!(r.status, 429, "locked: {}", r.body);
    assert!(r.body.contains("locked"), "{}", r.body);
    app.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_security_headers_and_the_shopper_sees_no_internal_detail() {
    let app = shared();
    for path in ["/", "/staff/login", "/static/aisle-widget.js", "/healthz"] {
        let r = http(app.port, "GET", path, &[], "").await;
        let h = r.headers.to_lowercase();
        assert!(h.contains("x-content-type-options: nosniff"), "{path}: {h}");
        assert!(h.contains("x-frame-options: deny"), "{path}: {h}");
        assert!(h.contains("content-security-policy:") && h.contains("frame-ancestors 'none'"), "{path}: {h}");
    }
    // a resumed session shows the shopper text and cards, not the checker's verdicts or generation figures
    let mut ws = ws(app.port).await;
    send(&mut ws, json!({"type": "hello"})).await;
    let id = next(&mut ws).await.unwrap()["session_id"].as_str().unwrap().to_string();
    turn(&mut ws, "a heart decoration").await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = crate::support::ws(app.port).await;
    send(&mut again, json!({"type": "hello", "session_id": id})).await;
    let s = next(&mut again).await.unwrap();
    assert_eq!(s["resumed"], true, "{s}");
    let history = s["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    for t in history {
        for internal in ["verdict", "stats", "intent", "tool"] {
            assert!(t.get(internal).is_none(), "{internal} is for staff only: {t}");
        }
    }
    assert!(!history[1]["cards"].as_array().unwrap().is_empty(), "cards are kept: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sites_cannot_open_chats_and_listed_shops_get_cors() {
    let dir = slice_dir(2000);
    let mut cfg = limited(dir.path());
    cfg.security.allowed_origins = vec!["http://shop.example:9999".into()];
    let app = TestApp::start(cfg).unwrap();
    let upgrade = |origin: &'static str| {
        let port = app.port;
        async move {
            let req = format!(
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\r\n"
            );
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        }
    };
    assert!(upgrade("http://evil.example").await.starts_with("HTTP/1.1 403"), "another site is refused");
    assert!(upgrade("http://shop.example:9999").await.starts_with("HTTP/1.1 101"), "the listed shop is let in");
    let own = format!("http://127.0.0.1:{}", app.port);
    let own: &'static str = Box::leak(own.into_boxed_str());
    assert!(upgrade(own).await.starts_with("HTTP/1.1 101"), "Aisle's own page is let in");
    // the widget's event call from the shop's page: the preflight is answered for the listed origin only
    let preflight = |origin: &'static str| {
        let port = app.port;
        async move {
            let h = [
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type,x-aisle-key"),
            ];
            http(port, "OPTIONS", "/api/events", &h, "").await
        }
    };
    let ok = preflight("http://shop.example:9999").await;
    assert!(ok.status < 300, "{} {}", ok.status, ok.headers);
    assert!(
        ok.headers.to_lowercase().contains("access-control-allow-origin: http://shop.example:9999"),
        "{}",
        ok.headers
    );
    let other = preflight("http://evil.example").await;
    assert!(!other.headers.to_lowercase().contains("access-control-allow-origin"), "{}", other.headers);
    app.stop().unwrap();
}

/// Serves one HTML page on `listener` (the shop's own site), whatever the path.
pub fn serve_page(listener: tokio::net::TcpListener, page: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let page = page.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    page.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(page.as_bytes()).await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_widget_on_a_listed_shops_own_page_chats_and_records_a_card_click() {
    let dir = slice_dir(4000);
    // the shop's page is served from its own origin; a second site is not on the list
    let listed_site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (shop_port, other_port) = (listed_site.local_addr().unwrap().port(), other_site.local_addr().unwrap().port());
    let mut cfg = limited(dir.path());
    cfg.embed.model = root().join("models/all-MiniLM-L6-v2.q8_0.gguf");
    cfg.security.allowed_origins = vec![format!("http://127.0.0.1:{shop_port}")];
    cfg.security.chat_idle_secs = 600;
    let app = TestApp::start(cfg).unwrap();
    let key = publishable_key(app.port).await;
    let page = format!(
        "<!doctype html><html><body><h1>Another shop</h1>\
         <script src=\"http://127.0.0.1:{}/static/aisle-widget.js\" data-key=\"{key}\" defer></script></body></html>",
        app.port
    );
    let (listed, other) = (serve_page(listed_site, page.clone()), serve_page(other_site, page));

    let w = "document.getElementById('aisle-widget').shadowRoot";
    let mut b = browser::Browser::open(&format!("http://127.0.0.1:{shop_port}/"), 1280, 900).await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    b.eval(&format!("{w}.querySelector('.launch').click()")).await;
    b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
    let session = b.eval("document.getElementById('aisle-widget').dataset.session").await.as_str().unwrap().to_string();
    b.eval(&format!(
        "(() => {{ const r = {w}; r.querySelector('input').value = 'a heart decoration'; r.querySelector('form').requestSubmit(); return true }})()"
    ))
    .await;
    b.wait_for(&format!("!!{w}.querySelector('.msg.assistant[data-done]')"), 90).await;
    let clicked = b
        .eval(&format!("(() => {{ const c = {w}.querySelector('.card'); c.click(); return c.dataset.product }})()"))
        .await;
    let clicked = clicked.as_str().expect("a card was shown").to_string();
    // the click travels cross-origin (preflight, then POST with the publishable key)
    let user = format!("session:{session}");
    let mut stored = false;
    for _ in 0..50 {
        let (_, profile) = get_json(app.port, &format!("/api/profile/{user}")).await;
        if profile["recent"].as_array().is_some_and(|r| r.iter().any(|p| p["id"] == clicked.as_str())) {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stored, "the card click from the shop's page was stored");
    drop(b);

    // a page on an origin not on the list cannot open a chat
    let mut b = browser::Browser::open(&format!("http://127.0.0.1:{other_port}/"), 1280, 900).await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    b.eval(&format!("{w}.querySelector('.launch').click()")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let session = b.eval("document.getElementById('aisle-widget').dataset.session || ''").await;
    assert_eq!(session, json!(""), "no chat session for a site that is not listed");
    drop(b);
    listed.abort();
    other.abort();
    app.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_demo_page_signs_the_picked_customer_so_their_orders_are_theirs() {
    const W: &str = "document.getElementById('aisle-widget').shadowRoot";
    async fn ask(b: &mut browser::Browser) -> String {
        let js = format!(
            "(() => {{ const r = {W}; r.querySelector('input').value = 'where is my order?'; r.querySelector('form').requestSubmit(); return true }})()"
        );
        b.eval(&js).await;
        b.wait_for(&format!("!!{W}.querySelector('.msg.assistant[data-done]')"), 90).await;
        b.eval(&format!("{W}.querySelector('.msg.assistant').textContent")).await.as_str().unwrap().to_string()
    }
    let app = shared();
    let page = http(app.port, "GET", "/", &[], "").await;
    let customer = page.body.split("option value=\"").nth(2).and_then(|s| s.split('"').next()).unwrap().to_string();
    let w = W;
    // picked on the demo page: the page signs the id, the widget passes it on, the orders are the customer's own
    let mut b = browser::Browser::open(&app.url(&format!("/?customer={customer}")), 1280, 900).await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    b.eval(&format!("{w}.querySelector('.launch').click()")).await;
    b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
    let text = ask(&mut b).await;
    assert!(text.contains("Your latest orders"), "the signed-in demo customer sees their orders: {text}");
    drop(b);
    // the same page with the signature removed by hand (an attacker editing the tag) is an anonymous visitor
    let mut b = browser::Browser::open(&app.url(&format!("/?customer={customer}")), 1280, 900).await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    b.eval(
        "(() => { const s = document.querySelector('script[data-customer]'); document.getElementById('aisle-widget').remove(); \
         const n = document.createElement('script'); for (const a of s.attributes) n.setAttribute(a.name, a.value); \
         n.dataset.signature = '0'.repeat(64); n.src = s.src + '?forged'; document.body.appendChild(n); return true })()",
    )
    .await;
    b.wait_for("!!document.getElementById('aisle-widget')", 20).await;
    b.eval(&format!("{w}.querySelector('.launch').click()")).await;
    b.wait_for("!!document.getElementById('aisle-widget').dataset.session", 20).await;
    let text = ask(&mut b).await;
    assert!(text.contains("sign in") && !text.contains("Your latest orders"), "a forged tag gets nothing: {text}");
}
