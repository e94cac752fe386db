//! Test support: the real application on a free port with a temporary data directory and the real small model,
//! plus small WebSocket and HTTP clients. The demo shop is imported once per test run and shared.
#![allow(dead_code)]
pub mod browser;

use aisle::app::Application;
use aisle::config::{Config, Secret};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub const TOKEN: &str = "test-staff-token";
/// The shop's identity secret in tests: what its backend signs customer ids with.
pub const IDENTITY_SECRET: &str = "test-identity-secret-0123456789abcdef";
/// Headers of a JSON request made with the admin token (the shop's backend).
pub const ADMIN_JSON: [(&str, &str); 2] =
    [("Content-Type", "application/json"), ("Authorization", "Bearer test-staff-token")];

/// A `hello` for `customer`, signed as the shop's backend would sign it (valid for an hour).
pub fn signed_hello(customer: &str) -> Value {
    let expires = aisle::session::now() + 3600;
    let signature = aisle::identity::Verifier::new(IDENTITY_SECRET.as_bytes().to_vec(), false).sign(customer, expires);
    serde_json::json!({"type": "hello", "customer": customer, "expires": expires, "signature": signature})
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_file() -> PathBuf {
    root().join("data/online-retail/online_retail.csv.gz")
}

/// The configuration tests use: real model, one llama.cpp thread, greedy decoding, a staff token.
pub fn test_config(data_dir: &Path) -> Config {
    let r = root();
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        prompts_dir: r.join("prompts"),
        templates_dir: r.join("templates"),
        static_dir: r.join("static"),
        admin_token: Secret::new(TOKEN),
        ..Config::default()
    };
    cfg.llm.model = std::env::var_os("AISLE_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| r.join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    cfg.llm.threads = 1;
    cfg.embed.model = r.join("models/all-MiniLM-L6-v2.q8_0.gguf");
    cfg.search.synonyms = r.join("data/synonyms.txt");
    // the demo shop's ~4,000 products go through the HNSW graph (built at start), as a large catalog would
    cfg.search.ann_min = 1000;
    cfg.policies_dir = r.join("data/policies");
    cfg.intent_sets = aisle::intent::data::default_sets(&r);
    cfg.sentiment_sets = aisle::sentiment::model::default_sources(&r);
    cfg.llm.temperature = 0.0;
    cfg.llm.max_new_tokens = 48;
    cfg.chat.max_message_chars = 500;
    cfg.chat.max_frame_bytes = 16 * 1024;
    cfg.security.identity_secret = Secret::new(IDENTITY_SECRET);
    // the suite opens hundreds of chats and requests from 127.0.0.1 within a minute; the limit tests set their own
    cfg.security.sockets_per_client = 10_000;
    cfg.security.chats_per_minute = 100_000;
    cfg.security.events_per_minute = 100_000;
    cfg.security.logins_per_minute = 100_000;
    cfg
}

/// Gives `data_dir` the intent classifier trained once for the whole test run, as a restarted shop finds its own
/// (training embeds ~16,600 texts, the utterances with their typing-noise copies and the nonsense examples, and
/// takes about two minutes on 2 cores; the first test that needs it trains it
/// with the server's own `Intents::load_or_train`). The sentiment head likewise (about a minute, with
/// `Sentiment::load_or_train`).
pub fn with_trained_intents(data_dir: &Path) {
    static TRAINED: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = TRAINED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, file) = (test_config(dir.path()), dir.path().join("intent-model.json"));
        // on a thread of its own: async tests call this from inside their runtime, where blocking is not allowed
        std::thread::spawn(move || {
            let embedder = std::sync::Arc::new(aisle::embed::Embedder::start(&cfg.embed.model, 2).unwrap());
            let langs = aisle::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)
                .expect("the languages load");
            let read = |t: &str| langs.into_english(t, &cfg.chat.currency);
            aisle::intent::Intents::load_or_train(&file, &cfg.intent_sets, embedder.clone(), &read)
                .expect("the intent classifier trains");
            let file = file.with_file_name("sentiment-model.json");
            let (sets, currency) = (cfg.sentiment_sets.clone(), cfg.chat.currency.clone());
            aisle::sentiment::Sentiment::load_or_train(&file, &sets, embedder, std::sync::Arc::new(langs), &currency)
                .expect("the sentiment head trains");
        })
        .join()
        .expect("training the intent classifier");
        dir
    });
    let target = data_dir.join("intent-model.json");
    if !target.exists() {
        std::fs::create_dir_all(data_dir).unwrap();
        std::fs::copy(dir.path().join("intent-model.json"), target).unwrap();
        // and the head for messages read from Chinese
        let read = aisle::intent::read_head_path(&dir.path().join("intent-model.json"));
        std::fs::copy(&read, aisle::intent::read_head_path(&data_dir.join("intent-model.json"))).unwrap();
    }
    let target = data_dir.join("sentiment-model.json");
    if !target.exists() {
        std::fs::copy(dir.path().join("sentiment-model.json"), target).unwrap();
    }
}

/// A server running on its own thread and runtime; `stop()` shuts it down gracefully and waits.
pub struct TestApp {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl TestApp {
    pub fn start(cfg: Config) -> Result<Self, String> {
        with_trained_intents(&cfg.data_dir);
        Self::start_as_is(cfg)
    }

    /// Starts on the data directory as it is (a first start trains the intent classifier itself).
    pub fn start_as_is(cfg: Config) -> Result<Self, String> {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let app = match Application::build(cfg).await {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = port_tx.send(Err(e.to_string()));
                        return Err("build failed".to_string());
                    }
                };
                let _ = port_tx.send(Ok(app.port()));
                app.run_until_stopped(async move {
                    let _ = stop_rx.await;
                })
                .await
                .map_err(|e| e.to_string())
            })
        });
        let port = port_rx.recv().map_err(|e| e.to_string())??;
        Ok(Self { port, stop: Some(stop_tx), thread: Some(thread) })
    }

    pub fn stop(mut self) -> Result<(), String> {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().map_err(|_| "server thread panicked".to_string())?
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

/// The demo shop, imported once; the shared server runs over it for the whole test run.
pub fn shared() -> &'static TestApp {
    &shared_with_dir().1
}

/// The shared server and its data directory (for commands that work on the same store, e.g. `aisle train`).
pub fn shared_with_dir() -> &'static (tempfile::TempDir, TestApp) {
    static APP: OnceLock<(tempfile::TempDir, TestApp)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // vectors are made when the server starts (products without one are embedded then)
        aisle::import::run(
            dir.path(),
            &aisle::import::Sources { online_retail: Some(demo_file()), ..Default::default() },
            None,
        )
        .expect("demo import");
        let app = TestApp::start(test_config(dir.path())).expect("shared server starts");
        (dir, app)
    })
}

/// A fresh data directory holding a real slice of the demo shop: the first `rows` invoice lines.
pub fn slice_dir(rows: usize) -> tempfile::TempDir {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let src = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap()));
    let csv = dir.path().join("slice.csv");
    let mut out = std::fs::File::create(&csv).unwrap();
    for line in src.lines().take(rows + 1) {
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
    aisle::import::run(dir.path(), &aisle::import::Sources { online_retail: Some(csv), ..Default::default() }, None)
        .unwrap();
    dir
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws(port: u16) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.expect("ws connects");
    ws
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Next JSON frame (60 s limit); None when the socket closed.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("frame within 60 s")?;
        match m {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Frames until (and including) `done`.
pub async fn turn(ws: &mut Ws, text: &str) -> Vec<Value> {
    send(ws, serde_json::json!({"type": "message", "text": text})).await;
    let mut frames = vec![];
    while let Some(f) = next(ws).await {
        let done = f["type"] == "done";
        frames.push(f);
        if done {
            break;
        }
    }
    frames
}

/// The text a shopper ends up seeing: deltas appended, a replace starting over.
pub fn shown_text(frames: &[Value]) -> String {
    let mut s = String::new();
    for f in frames {
        match f["type"].as_str() {
            Some("delta") => s.push_str(f["text"].as_str().unwrap()),
            Some("replace") => s = f["text"].as_str().unwrap().to_string(),
            _ => {}
        }
    }
    s
}

pub fn cards(frames: &[Value]) -> Vec<Value> {
    frames.iter().filter(|f| f["type"] == "cards").flat_map(|f| f["products"].as_array().unwrap().clone()).collect()
}

pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// A minimal HTTP/1.1 client (one request per connection; chunked bodies decoded).
pub async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = vec![];
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut raw)).await.expect("response in time").unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Response { status, headers: head.to_string(), body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// Facts about a stock code straight from the raw demo file: its descriptions and every unit price it sold at.
pub fn raw_facts(code: &str) -> (Vec<String>, Vec<f64>) {
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    let mut rdr = csv::Reader::from_reader(src);
    let (mut names, mut prices) = (vec![], vec![]);
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if &rec[1] == code {
            names.push(rec[2].trim().to_string());
            if let Ok(p) = rec[5].parse::<f64>() {
                prices.push(p);
            }
        }
    }
    (names, prices)
}

/// A signed-in member of staff: the session cookie and the CSRF token their pages carry.
#[derive(Clone, Debug)]
pub struct StaffLogin {
    pub name: String,
    pub password: String,
    pub cookie: String,
    pub csrf: String,
}

/// Creates an account with `role` through the admin API token (a fresh name each call) and signs it in.
pub async fn staff_login(port: u16, role: &str) -> StaffLogin {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("{role}-{}", N.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let password = format!("{name}-long-password");
    let auth = format!("Bearer {TOKEN}");
    let body = serde_json::json!({ "name": name, "role": role, "password": password }).to_string();
    let r = http(
        port,
        "POST",
        "/staff/api/accounts",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "account created: {}", r.body);
    sign_in(port, &name, &password).await.expect("signs in")
}

/// Signs in through the login form; None when refused.
pub async fn sign_in(port: u16, name: &str, password: &str) -> Option<StaffLogin> {
    let form = format!("name={name}&password={password}");
    let r = http(port, "POST", "/staff/login", &[("Content-Type", "application/x-www-form-urlencoded")], &form).await;
    if r.status != 303 {
        return None;
    }
    let set = r.headers.lines().find(|l| l.to_lowercase().starts_with("set-cookie:"))?.to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "cookie flags: {set}");
    let cookie = set.split_once(':')?.1.trim().split(';').next()?.to_string();
    let page = http(port, "GET", "/staff", &[("Cookie", &cookie)], "").await;
    let csrf = page.body.split("name=\"csrf-token\" content=\"").nth(1)?.split('"').next()?.to_string();
    Some(StaffLogin { name: name.into(), password: password.into(), cookie, csrf })
}

/// A request as a signed-in member of staff's page makes it (cookie, CSRF token, JSON body).
pub async fn as_staff(port: u16, who: &StaffLogin, method: &str, path: &str, body: &str) -> Response {
    http(
        port,
        method,
        path,
        &[("Cookie", &who.cookie), ("X-CSRF-Token", &who.csrf), ("Content-Type", "application/json")],
        body,
    )
    .await
}

/// GET with the API token; the status and the JSON body (Null when not JSON).
pub async fn get_json(port: u16, path: &str) -> (u16, Value) {
    let auth = format!("Bearer {TOKEN}");
    let r = http(port, "GET", path, &[("Authorization", &auth)], "").await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

/// A publishable API key made through the staff API with the admin token (what a shop puts on its page).
pub async fn publishable_key(port: u16) -> String {
    let body = serde_json::json!({"name": "shop", "kind": "publishable"}).to_string();
    let made = http(port, "POST", "/staff/api/keys", &ADMIN_JSON, &body).await;
    serde_json::from_str::<Value>(&made.body).unwrap()["key"].as_str().unwrap().to_string()
}

/// The real toys catalog (data/amazon-toys, CC BY-SA 4.0) as products.
pub fn toys_catalog() -> Vec<aisle::catalog::Product> {
    let mut batch = aisle::import::Batch::default();
    let path = root().join("data/amazon-toys/products.jsonl");
    aisle::import::generic::read_products(&path, &Default::default(), &mut batch, &mut vec![]).unwrap();
    batch.products
}
