//! `aisle bench engine`: the language model engine beside llama.cpp's own tools on the same GGUF and threads, in
//! one run: single-stream prompt and decode speed vs `llama-bench`; aggregate decode speed with 1, 4 and 8
//! concurrent chats vs `llama-server -np 8` driven by the same requests; time to first token with the shared
//! prefix cached vs not; peak RSS with 8 active sessions; how many characters of greedy output agree between
//! batched and one-at-a-time decoding. The tools come from `.ci/llama-tools` (or AISLE_LLAMA_TOOLS, a folder).
use super::{percentile, rss_kib, status_kib};
use crate::config::Config;
use crate::llm::openai::OpenAi;
use crate::llm::{Engine, GenParams, Generate, Message, Output, Stats};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Distinct chat requests (so no two share more than the chat template's first tokens).
const ASKS: &[&str] = &[
    "Write a long story about a lantern that lights the way home.",
    "Describe, in detail, how to plan a birthday party for a seven year old.",
    "Tell me everything about the history of wooden toys.",
    "Write a long letter from a shop owner to her customers about the new season.",
    "Explain how to choose a good board game for a family evening.",
    "Write a detailed guide to wrapping presents beautifully.",
    "Tell a long story about a teddy bear who travels the world.",
    "Describe a perfect Christmas market stall, stall by stall.",
];

pub(super) async fn run_one(
    llm: &dyn Generate,
    messages: Vec<Message>,
    params: GenParams,
) -> anyhow::Result<(String, Stats)> {
    let mut rx = llm.generate(messages, params)?;
    let mut text = String::new();
    while let Some(o) = rx.recv().await {
        match o {
            Output::Text(t) => text.push_str(&t),
            Output::Done(s) => return Ok((text, s)),
            Output::Failed(e) => anyhow::bail!("generation failed: {e}"),
        }
    }
    anyhow::bail!("no Done")
}

fn ask(i: usize) -> Vec<Message> {
    vec![Message::user(ASKS[i % ASKS.len()])]
}

/// N concurrent requests of `tokens` new tokens each: total generated tokens per second of wall time.
pub(super) async fn aggregate(llm: &dyn Generate, n: usize, tokens: u32) -> anyhow::Result<(f64, usize)> {
    let params = GenParams { max_tokens: tokens, ..GenParams::default() };
    let t = Instant::now();
    let runs = futures_util::future::join_all((0..n).map(|i| run_one(llm, ask(i), params.clone()))).await;
    let secs = t.elapsed().as_secs_f64();
    let mut generated = 0;
    for r in runs {
        generated += r?.1.generated_tokens;
    }
    Ok((generated as f64 / secs, generated))
}

/// The folder holding llama.cpp's `llama-server` and `llama-bench`: AISLE_LLAMA_TOOLS, else what
/// `.ci/llama-tools` (under `root`) built or finds in its cache. Err says why there is none.
pub fn llama_tools(root: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AISLE_LLAMA_TOOLS") {
        return Ok(p.into());
    }
    let out =
        std::process::Command::new("bash").arg(root.join(".ci/llama-tools")).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// llama-bench's pp512 and tg128 tokens/s (mean of 3 repetitions).
fn llama_bench(bin: &Path, model: &Path, threads: i32) -> anyhow::Result<(f64, f64)> {
    let out = std::process::Command::new(bin)
        .args(["-m", &model.to_string_lossy(), "-t", &threads.to_string(), "-p", "512", "-n", "128", "-r", "3"])
        .args(["-o", "json"])
        .output()?;
    anyhow::ensure!(out.status.success(), "llama-bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let rows = v.as_array().cloned().unwrap_or_default();
    let ts = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        rows.iter().find(|r| pred(r)).and_then(|r| r["avg_ts"].as_f64()).unwrap_or(0.0)
    };
    Ok((ts(&|r| r["n_prompt"].as_u64() == Some(512)), ts(&|r| r["n_gen"].as_u64() == Some(128))))
}

/// A `llama-server` child, killed when dropped.
pub(super) struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Peak resident memory of the server process (KiB).
    pub(super) fn peak_kib(&self) -> u64 {
        status_kib(&self.0.id().to_string(), "VmHWM")
    }
}

/// Starts `llama-server` from `tools` on the configured model with `slots` parallel slots (each of the configured
/// context size) and the configured threads, and connects to it once it answers (None, with the reason printed,
/// when it does not come up within a minute).
pub(super) async fn llama_server(tools: &Path, cfg: &Config, slots: usize) -> anyhow::Result<Option<(Server, OpenAi)>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let spawned = std::process::Command::new(tools.join("llama-server"))
        .args(["-m", &cfg.llm.model.to_string_lossy(), "--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(["-np", &slots.to_string(), "-c", &(slots * cfg.llm.ctx_size as usize).to_string()])
        .args(["-t", &cfg.llm.threads.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let server = match spawned {
        Ok(child) => Server(child),
        Err(e) => {
            println!("llama-server did not start: {e}");
            return Ok(None);
        }
    };
    let url = format!("http://127.0.0.1:{port}/v1");
    let started = Instant::now();
    loop {
        let c = crate::config::LlmConfig { server_url: url.clone(), slots, ..cfg.llm.clone() };
        if let Ok(client) = tokio::task::spawn_blocking(move || OpenAi::connect(&c)).await? {
            return Ok(Some((server, client)));
        }
        if started.elapsed() > Duration::from_secs(60) {
            println!("llama-server did not come up");
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn engine(cfg: &Config, tokens: u32) -> anyhow::Result<()> {
    let threads = cfg.llm.threads;
    let model = cfg.llm.model.clone();
    println!("model {} · {threads} threads · {} cores on this machine", model.display(), num_cores());
    let root = std::env::current_dir()?;
    let tools = llama_tools(&root)
        .map_err(|e| println!("llama.cpp tools not available ({e}): references are not measured"))
        .ok();

    // 1. single stream: prompt and decode speed
    let mut one = cfg.llm.clone();
    one.slots = 1;
    let engine = Engine::start(&one)?;
    let long_text: String = ASKS.iter().cycle().take(40).copied().collect::<Vec<_>>().join(" ");
    let (mut pp, mut tg, mut pp_tokens) = (vec![], vec![], 0);
    for i in 0..3 {
        // a different first word each time, so nothing is reused from the cache
        let prompt = vec![Message::user(format!("{i} {}", long_text))];
        let (_, s) = run_one(&engine, prompt, GenParams { max_tokens: 1, ..GenParams::default() }).await?;
        pp_tokens = s.prompt_tokens - s.reused_tokens;
        pp.push(pp_tokens as f64 / (s.prompt_ms / 1000.0));
        let (_, s) = run_one(&engine, ask(i), GenParams { max_tokens: tokens, ..GenParams::default() }).await?;
        tg.push(s.tokens_per_second());
    }
    let pp = pp.iter().sum::<f64>() / pp.len() as f64;
    let tg = tg.iter().sum::<f64>() / tg.len() as f64;
    engine.shutdown();
    drop(engine);
    println!("\nsingle stream            aisle      llama-bench   ratio   (target >= 0.95)");
    let reference = match &tools {
        Some(dir) => llama_bench(&dir.join("llama-bench"), &model, threads).map_err(|e| println!("  {e}")).ok(),
        None => None,
    };
    let (rpp, rtg) = reference.unwrap_or((0.0, 0.0));
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}x", a / b) } else { "-".into() };
    println!(
        "  prompt tok/s  {pp:>12.1} {rpp:>12.1} (pp512)  {}   aisle: prompts of {pp_tokens} tokens evaluated",
        ratio(pp, rpp)
    );
    println!("  decode tok/s  {tg:>12.1} {rtg:>12.1} (tg128)  {}", ratio(tg, rtg));

    // 2. aggregate decode with 1, 4, 8 concurrent chats, the same requests to both
    let mut eight = cfg.llm.clone();
    eight.slots = 8;
    eight.queue_capacity = eight.queue_capacity.max(8);
    let engine = Engine::start(&eight)?;
    let mut ours = vec![];
    for n in [1, 4, 8] {
        ours.push(aggregate(&engine, n, tokens).await?);
    }
    let rss_aisle = rss_kib("VmHWM");
    // agreement of greedy output: each request alone vs all eight in one batch
    let mut alone = vec![];
    for i in 0..8 {
        alone.push(run_one(&engine, ask(i), GenParams { max_tokens: 48, ..GenParams::default() }).await?.0);
    }
    let together = futures_util::future::join_all(
        (0..8).map(|i| run_one(&engine, ask(i), GenParams { max_tokens: 48, ..GenParams::default() })),
    )
    .await;
    let (mut agree, mut total, mut each) = (0, 0, vec![]);
    for (a, b) in alone.iter().zip(together) {
        let b = b?.0;
        let n = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        let of = a.chars().count().max(b.chars().count());
        each.push(format!("{n}/{of}"));
        agree += n;
        total += of;
    }
    engine.shutdown();
    drop(engine);

    let mut theirs = vec![];
    let mut rss_server = 0;
    let mut reference = cfg.clone();
    reference.llm.threads = threads;
    let started = match &tools {
        Some(dir) => llama_server(dir, &reference, 8).await?,
        None => None,
    };
    if let Some((server, client)) = started {
        // one warm-up request, as the engine had its start-up
        run_one(&client, ask(0), GenParams { max_tokens: 8, ..GenParams::default() }).await?;
        for n in [1, 4, 8] {
            theirs.push(aggregate(&client, n, tokens).await?);
        }
        rss_server = server.peak_kib();
    }
    println!("\nconcurrent chats ({tokens} new tokens each; total generated tok/s over the wall time)");
    println!("  chats        aisle (8 slots)   llama-server -np 8   ratio   (target >= 1.0 at 8)");
    for (k, n) in [1, 4, 8].iter().enumerate() {
        let (a, an) = ours[k];
        let (b, bn) = theirs.get(k).copied().unwrap_or((0.0, 0));
        println!("  {n:>5} {a:>16.1} ({an:>4} tok) {b:>12.1} ({bn:>4} tok)   {}", ratio(a, b));
    }
    println!(
        "  greedy output (48 tokens), 8 requests alone vs in one batch: {agree} of {total} characters agree ({:.1}%); \
         agreeing prefix per request: {}",
        100.0 * agree as f64 / total.max(1) as f64,
        each.join(" ")
    );
    println!(
        "  peak RSS: aisle process {:.0} MiB (8 slots of {} tokens), llama-server {:.0} MiB",
        rss_aisle as f64 / 1024.0,
        cfg.llm.ctx_size,
        rss_server as f64 / 1024.0
    );

    // 3. time to first token: the same long system prompt cached vs not
    let policy = std::fs::read_to_string(cfg.policies_dir.join("returns.md")).unwrap_or_default();
    let mut two = cfg.llm.clone();
    two.slots = 2;
    let engine = Engine::start(&two)?;
    let questions = ["How long do I have?", "Who pays postage?", "Can I return a gift?", "Is it free?", "Refund?"];
    let (mut cold, mut warm, mut shared) = (vec![], vec![], 0);
    for (i, q) in questions.iter().enumerate() {
        // cold: a system prompt no slot has seen (a different first line)
        let system = format!("Shop {i}. You answer questions about this shop's policy.\n\n{policy}");
        let (_, s) = run_one(&engine, vec![Message::system(system), Message::user(*q)], GenParams::default()).await?;
        cold.push(s.first_token_ms);
        // warm: the shared system prompt every chat turn starts with
        let system = format!("You answer questions about this shop's policy.\n\n{policy}");
        let (_, s) = run_one(&engine, vec![Message::system(system), Message::user(*q)], GenParams::default()).await?;
        if i > 0 {
            warm.push(s.first_token_ms);
            shared = s.reused_tokens;
        }
    }
    let m = engine.metrics();
    let (c50, w50) = (percentile(&mut cold, 0.5), percentile(&mut warm, 0.5));
    println!("\ntime to first token, a policy system prompt reused from the cache ({shared} tokens) or not");
    println!(
        "  not cached p50 {c50:.1} ms · cached p50 {w50:.1} ms · ratio {:.2} (target <= 0.3)",
        w50 / c50.max(1e-9)
    );
    println!(
        "  engine metrics: {} cache hits, {} misses, {} prompt tokens reused",
        m.cache_hits, m.cache_misses, m.reused_prompt_tokens
    );
    engine.shutdown();
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
