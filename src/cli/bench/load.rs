//! `aisle bench load`: honest shoppers chatting through the real server (WebSocket, loopback) while attackers from
//! other addresses flood it: idle chat sockets (300 from one address, as many as it lets in held open) and
//! behaviour events as fast as one client can send them (with a publishable key). Prints the honest chats' turn
//! latency under attack beside the same chats on a quiet server in the same run, how many attacking requests were
//! refused, the answers the template gave because the model was busy, and RSS.
use super::{percentile, rss_kib};
use crate::app::Application;
use crate::config::Config;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ASKS: &[&str] = &[
    "a gift for my mum under £10, something with hearts",
    "vintage tea cups",
    "what is your refund policy?",
    "candles between £2 and £6",
    "garden decorations",
];

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A chat socket from a given loopback address (all of 127.0.0.0/8 is this machine).
async fn ws_from(ip: &str, port: u16) -> anyhow::Result<Ws> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{ip}:0").parse()?)?;
    let stream = sock.connect(format!("127.0.0.1:{port}").parse()?).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (ws, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await?;
    Ok(ws)
}

/// One turn as a shopper saw it.
#[derive(Debug, Clone)]
pub(super) struct Turn {
    /// From sending the message to `done`.
    pub ms: f64,
    /// The "busy" template answered (the model's queue was full).
    pub busy: bool,
    /// The chat had been handed to a person (after repeated unhelpful answers): no model turn.
    pub handed: bool,
    /// The tool that answered and, when the template answered, why (the verdict's reason up to its first ':').
    pub how: String,
}

/// One honest shopper: hello, then each ask in turn.
async fn shopper(ip: String, port: u16, turns: usize, asks: &'static [&'static str]) -> anyhow::Result<Vec<Turn>> {
    let mut ws = ws_from(&ip, port).await?;
    ws.send(Message::Text(r#"{"type":"hello"}"#.into())).await?;
    let mut out = vec![];
    let mut handed = false;
    for ask in asks.iter().cycle().take(turns) {
        let start = Instant::now();
        let frame = serde_json::json!({"type": "message", "text": ask}).to_string();
        ws.send(Message::Text(frame.into())).await?;
        loop {
            let m = tokio::time::timeout(Duration::from_secs(120), ws.next()).await?;
            let Some(Ok(Message::Text(t))) = m else {
                if matches!(m, Some(Ok(_))) {
                    continue;
                }
                anyhow::bail!("the chat closed mid-turn");
            };
            let v: serde_json::Value = serde_json::from_str(&t)?;
            if v["type"] == "handoff" {
                handed = true;
            }
            if v["type"] == "done" {
                let busy = v["verdict"]["reason"].as_str().is_some_and(|r| r.starts_with(crate::chat::BUSY_REASON));
                let why = v["verdict"]["reason"].as_str().map(|r| r.split(':').next().unwrap_or(r).to_string());
                let how = format!("{} {}", v["tool"].as_str().unwrap_or("?"), why.unwrap_or_else(|| "model".into()));
                out.push(Turn { ms: start.elapsed().as_secs_f64() * 1000.0, busy, handed, how });
                break;
            }
        }
    }
    Ok(out)
}

/// `shoppers` honest chats at once, each `turns` turns, from their own addresses.
pub(super) async fn honest_round(port: u16, shoppers: usize, turns: usize) -> anyhow::Result<(Vec<f64>, usize)> {
    let all = honest_turns(port, shoppers, turns, ASKS).await?;
    Ok((all.iter().map(|t| t.ms).collect(), all.iter().filter(|t| t.busy).count()))
}

/// Every turn of `shoppers` honest chats at once, each `turns` of `asks` in turn, from their own addresses.
pub(super) async fn honest_turns(
    port: u16,
    shoppers: usize,
    turns: usize,
    asks: &'static [&'static str],
) -> anyhow::Result<Vec<Turn>> {
    let tasks: Vec<_> =
        (0..shoppers).map(|i| tokio::spawn(shopper(format!("127.0.1.{}", i + 1), port, turns, asks))).collect();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// `flood_per_sec`: the event flood's pace. The attacker runs on this machine too, so an unpaced flood measures
/// mostly the attacker's own CPU use on two cores.
pub async fn load(cfg: &Config, shoppers: usize, turns: usize, flood_per_sec: u32) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.listen = "127.0.0.1:0".parse()?;
    let app = Application::build(cfg.clone()).await?;
    let port = app.port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));
    let key = {
        // a publishable key for the event flood, made through the staff API with the admin token when one is set
        if cfg.admin_token.is_empty() {
            None
        } else {
            let body = serde_json::json!({"name": "bench load", "kind": "publishable"}).to_string();
            let r = http_request(port, "POST", "/staff/api/keys", cfg.admin_token.expose(), &body).await?;
            serde_json::from_str::<serde_json::Value>(&r.1).ok().and_then(|v| v["key"].as_str().map(str::to_string))
        }
    };

    // reference: the same honest chats on a quiet server
    let (mut quiet, quiet_busy) = honest_round(port, shoppers, turns).await?;

    // the attack: idle sockets from one address, an event flood from another
    let mut idle = vec![];
    let mut idle_refused = 0;
    for _ in 0..300 {
        match ws_from("127.0.2.1", port).await {
            Ok(ws) => idle.push(ws),
            Err(_) => idle_refused += 1,
        }
    }
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let (flooding, key) = (flooding.clone(), key.clone().unwrap_or_default());
        tokio::spawn(async move {
            let (mut sent, mut refused) = (0usize, 0usize);
            let mut n = 0u64;
            let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(flood_per_sec.max(1))));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                pace.tick().await;
                n += 1;
                let ev = serde_json::json!({"event_id": format!("flood-{n}-{}", uuid::Uuid::new_v4()),
                    "user": "visitor:flood-0123456789abcdef", "product": "85123A", "kind": "view"});
                match flood_event(port, &key, &ev.to_string()).await {
                    Ok(200) => sent += 1,
                    Ok(_) => refused += 1,
                    Err(_) => refused += 1,
                }
            }
            (sent, refused)
        })
    };
    let t0 = Instant::now();
    let (mut attacked, attacked_busy) = honest_round(port, shoppers, turns).await?;
    let attack_secs = t0.elapsed().as_secs_f64();
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let (events_ok, events_refused) = flood.await?;
    let rss = (rss_kib("VmRSS:") / 1024, rss_kib("VmHWM:") / 1024);
    drop(idle);
    let _ = stop_tx.send(());
    server.await??;

    let n = quiet.len();
    println!(
        "aisle bench load: {shoppers} honest shoppers x {turns} turns, each from its own address; flood paced at {flood_per_sec}/s"
    );
    println!("{:<60} {:>14} {:>14}", "figure", "under attack", "quiet (ref)");
    let row = |name: &str, v: String, r: String| println!("{name:<60} {v:>14} {r:>14}");
    row(
        "honest turn done, p50 / p99 (ms)",
        format!("{:.0}/{:.0}", percentile(&mut attacked.clone(), 0.5), percentile(&mut attacked, 0.99)),
        format!("{:.0}/{:.0}", percentile(&mut quiet.clone(), 0.5), percentile(&mut quiet, 0.99)),
    );
    row("honest turns answered / busy template", format!("{n}/{attacked_busy}"), format!("{n}/{quiet_busy}"));
    row("idle sockets from one address: held / refused", format!("{}/{idle_refused}", 300 - idle_refused), "-".into());
    row(
        &format!(
            "events flooded from one address ({:.0}/s): stored / refused",
            (events_ok + events_refused) as f64 / attack_secs
        ),
        format!("{events_ok}/{events_refused}"),
        format!("{:.0} s", attack_secs),
    );
    row("RSS now / peak (MiB)", format!("{}/{}", rss.0, rss.1), "-".into());
    if key.is_none() {
        println!("(no admin token configured: the event flood had no key, so every event was refused as unauthorised)");
    }
    Ok(())
}

async fn flood_event(port: u16, key: &str, body: &str) -> anyhow::Result<u16> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind("127.0.3.1:0".parse()?)?;
    let s = sock.connect(format!("127.0.0.1:{port}").parse()?).await?;
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         X-Aisle-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(s, head, Duration::from_secs(30)).await.map(|r| r.0)
}

pub(super) async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    http_request_within(port, method, path, token, body, Duration::from_secs(30)).await
}

/// A request whose answer may take up to `within` (an import).
pub(super) async fn http_request_within(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    within: Duration,
) -> anyhow::Result<(u16, String)> {
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(s, head, within).await
}

async fn exchange(mut s: tokio::net::TcpStream, request: String, within: Duration) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(request.as_bytes()).await?;
    let mut raw = vec![];
    tokio::time::timeout(within, s.read_to_end(&mut raw)).await??;
    let raw = String::from_utf8_lossy(&raw).to_string();
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// A server of its own for a benchmark: a fresh store holding the toys catalog (embedded with the configured model),
/// the configured chat model, an admin token of its own, ready (intent classifier trained) before it is returned.
pub(super) struct ToyShop {
    /// Removed when the shop is dropped.
    _dir: super::TempDir,
    pub port: u16,
    pub token: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), crate::app::AppError>>,
}

impl ToyShop {
    pub async fn start(cfg: &Config, toys: &std::path::Path, name: &str) -> anyhow::Result<Self> {
        let dir = super::TempDir::new(name)?;
        let embedder = crate::app::start_embedder_with(cfg, cfg.embed.import_threads).await?;
        anyhow::ensure!(embedder.is_some(), "this benchmark needs the embedding model: configure AISLE_EMBED_MODEL");
        let (d, t) = (dir.0.clone(), toys.to_path_buf());
        let sources = crate::import::Sources { products: Some(t), ..Default::default() };
        tokio::task::spawn_blocking(move || crate::import::run(&d, &sources, embedder)).await??;
        // the intent classifier already trained for the configured store, when there is one (else trained now)
        let _ = std::fs::copy(cfg.data_dir.join("intent-model.json"), dir.0.join("intent-model.json"));
        let mut cfg = cfg.clone();
        cfg.listen = "127.0.0.1:0".parse()?;
        cfg.data_dir = dir.0.clone();
        let token = format!("bench-{}", uuid::Uuid::new_v4());
        cfg.admin_token = crate::config::Secret::new(&token);
        let app = Application::build(cfg).await?;
        let port = app.port();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stop_rx.await;
        }));
        let ready = Instant::now();
        while http_request(port, "GET", "/readyz", &token, "").await.map(|r| r.0).unwrap_or(0) != 200 {
            anyhow::ensure!(ready.elapsed() < Duration::from_secs(600), "the server was not ready after 10 minutes");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(ToyShop { _dir: dir, port, token, stop, server })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        Ok(())
    }
}
