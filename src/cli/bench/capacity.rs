//! `aisle bench capacity`: how many honest shoppers one box serves at a given latency. A fresh store holds the
//! Amazon toys catalog (embedded); the real server serves it with the configured models; then rounds of honest
//! chats (each shopper from its own address, `turns` turns each) at 1, 2, 4, 8... shoppers at once, until the turn
//! p95 passes three times the target or most turns get the "busy" template. Prints each level's p50/p95 (of the
//! turns the assistant answered), the share of busy answers and of turns in chats handed to a person after them,
//! the answered turns per minute, beside the single-shopper level (the reference), and the most shoppers whose p95
//! stayed within the target, and the most whose p99 stayed under 3 s (issue 20's figure). `competing` spinning
//! processes run beside the whole run when asked. The model's tokens per second during each level are printed
//! beside `llama-server` with as many slots, serving as many replies of the same mean length at the same
//! concurrency (the throughput reference; skipped when llama.cpp's tools are not built here).
use super::engine::{aggregate, llama_server, llama_tools};
use super::load::{honest_turns, http_request, ToyShop};
use super::percentile;
use crate::config::Config;
use std::path::Path;
use std::time::Instant;

/// What the shoppers ask: the toys shop's own kinds of request (products it has, a price limit, a policy).
const ASKS: &[&str] = &[
    "a wooden train set for a 3 year old",
    "jigsaw puzzles under £15",
    "what is your refund policy?",
    "lights for a model railway",
    "a board game for the family",
    "a soft toy for a baby",
];

/// The model's requests and generated tokens so far, from the server's `/metrics`.
async fn model_counts(port: u16, token: &str) -> anyhow::Result<(f64, f64)> {
    let (_, body) = http_request(port, "GET", "/metrics", token, "").await?;
    let value = |name: &str| {
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((value("aisle_llm_requests_total"), value("aisle_llm_generated_tokens_total")))
}

/// One level's figures for the throughput reference: shoppers, model replies, tokens generated, seconds.
struct Level {
    shoppers: usize,
    replies: f64,
    tokens: f64,
    secs: f64,
}

pub async fn capacity(
    cfg: &Config,
    toys: &Path,
    most: usize,
    turns: usize,
    target_ms: f64,
    competing: usize,
) -> anyhow::Result<()> {
    let _competitors = super::contention::spinners(competing)?;
    let shop = ToyShop::start(cfg, toys, "capacity").await?;
    let port = shop.port;
    // a warm-up round of every ask, not counted
    honest_turns(port, 1, ASKS.len(), ASKS).await?;

    println!(
        "aisle bench capacity: honest shoppers chatting at once, {turns} turns each, {} llama.cpp threads, {} slots, \
         queue {}; {competing} spinning process(es) beside; target: turn p95 within {:.0} ms",
        cfg.llm.threads, cfg.llm.slots, cfg.llm.queue_capacity, target_ms
    );
    println!(
        "{:<10} {:>8} {:>22} {:>8} {:>8} {:>12} {:>10} {:>16}",
        "shoppers", "turns", "p50 / p95 / p99 (ms)", "busy", "handed", "turns/min", "p95 vs 1", "model tok/s"
    );
    let (mut reference, mut within, mut within_p99) = (None, 0, 0);
    let mut levels = vec![];
    let mut n = 1;
    while n <= most {
        let before = model_counts(port, &shop.token).await?;
        let started = Instant::now();
        let all = honest_turns(port, n, turns, ASKS).await?;
        let secs = started.elapsed().as_secs_f64();
        let after = model_counts(port, &shop.token).await?;
        let (replies, tokens) = (after.0 - before.0, after.1 - before.1);
        levels.push(Level { shoppers: n, replies, tokens, secs });
        // a chat handed to a person after unhelpful (busy) answers gets no model turn: its instant turns are counted
        // apart, not as latency
        let mut ms: Vec<f64> = all.iter().filter(|t| !t.handed).map(|t| t.ms).collect();
        let (busy, handed) = (all.iter().filter(|t| t.busy).count(), all.iter().filter(|t| t.handed).count());
        let (p50, p95, p99) =
            (percentile(&mut ms.clone(), 0.5), percentile(&mut ms.clone(), 0.95), percentile(&mut ms, 0.99));
        let reference_p95 = *reference.get_or_insert(p95);
        let share = (busy + handed) as f64 / all.len().max(1) as f64;
        let pct = |k: usize| format!("{:.0}%", 100.0 * k as f64 / all.len().max(1) as f64);
        println!(
            "{n:<10} {:>8} {:>22} {:>8} {:>8} {:>12.1} {:>9.2}x {:>16}",
            all.len(),
            format!("{p50:.0} / {p95:.0} / {p99:.0}"),
            pct(busy),
            pct(handed),
            ms.len() as f64 * 60.0 / secs,
            p95 / reference_p95.max(1.0),
            format!("{:.1} ({:.0}/reply)", tokens / secs, tokens / replies.max(1.0))
        );
        // how the quick turns (under 200 ms) were answered
        let mut quick: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in all.iter().filter(|t| t.ms < 200.0) {
            *quick.entry(t.how.as_str()).or_default() += 1;
        }
        if !quick.is_empty() {
            println!("{:<10} quick turns (< 200 ms) by tool and answer: {quick:?}", "");
        }
        if p95 <= target_ms && share < 0.1 {
            within = n;
        }
        if p99 <= 3000.0 && share < 0.1 {
            within_p99 = n;
        }
        if p95 > 3.0 * target_ms || share > 0.5 {
            break;
        }
        n *= 2;
    }
    println!(
        "most shoppers at once with the turn p95 within {target_ms:.0} ms and under 10% busy or handed-over turns: {}",
        if within == 0 { "none (even one shopper was slower)".to_string() } else { within.to_string() }
    );
    println!(
        "most shoppers at once with the turn p99 under 3000 ms and under 10% busy or handed-over turns: {}",
        if within_p99 == 0 { "none (even one shopper was slower)".to_string() } else { within_p99.to_string() }
    );
    shop.stop().await?;
    throughput_reference(cfg, &levels).await
}

/// `llama-server` with as many slots, at each level's concurrency, generating as many replies of the level's mean
/// length: its tokens per second beside the model's during the level.
async fn throughput_reference(cfg: &Config, levels: &[Level]) -> anyhow::Result<()> {
    let tools = match llama_tools(&std::env::current_dir()?) {
        Ok(t) => t,
        Err(e) => {
            println!("llama.cpp tools not available ({e}): no throughput reference");
            return Ok(());
        }
    };
    let Some((server, client)) = llama_server(&tools, cfg, cfg.llm.slots).await? else { return Ok(()) };
    aggregate(&client, 1, 8).await?; // warm-up
    println!("\nthroughput: the model's tokens/s during each level beside llama-server -np {}", cfg.llm.slots);
    println!("{:<10} {:>14} {:>20} {:>8}", "shoppers", "aisle tok/s", "llama-server tok/s", "ratio");
    for l in levels.iter().filter(|l| l.replies >= 1.0) {
        let per_reply = (l.tokens / l.replies).round().max(1.0) as u32;
        let (mut left, mut generated) = (l.replies as usize, 0usize);
        let started = Instant::now();
        while left > 0 {
            let at_once = l.shoppers.min(left);
            generated += aggregate(&client, at_once, per_reply).await?.1;
            left -= at_once;
        }
        let theirs = generated as f64 / started.elapsed().as_secs_f64();
        let ours = l.tokens / l.secs;
        println!("{:<10} {ours:>14.1} {theirs:>20.1} {:>7.2}x", l.shoppers, ours / theirs.max(1e-9));
    }
    println!("peak RSS of llama-server: {:.0} MiB", server.peak_kib() as f64 / 1024.0);
    Ok(())
}
