//! `aisle bench capacity`: how many honest shoppers one box serves at a given latency. A fresh store holds the
//! Amazon toys catalog (embedded); the real server serves it with the configured models; then rounds of honest
//! chats (each shopper from its own address, `turns` turns each) at 1, 2, 4, 8... shoppers at once, until the turn
//! p95 passes three times the target or most turns get the "busy" template. Prints each level's p50/p95 (of the
//! turns the assistant answered), the share of busy answers and of turns in chats handed to a person after them,
//! the answered turns per minute, beside the single-shopper level (the reference), and the most shoppers whose p95
//! stayed within the target.
use super::load::{honest_turns, ToyShop};
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

pub async fn capacity(cfg: &Config, toys: &Path, most: usize, turns: usize, target_ms: f64) -> anyhow::Result<()> {
    let shop = ToyShop::start(cfg, toys, "capacity").await?;
    let port = shop.port;
    // a warm-up round of every ask, not counted
    honest_turns(port, 1, ASKS.len(), ASKS).await?;

    println!(
        "aisle bench capacity: honest shoppers chatting at once, {turns} turns each, {} llama.cpp threads, {} slots, \
         queue {}; target: turn p95 within {:.0} ms",
        cfg.llm.threads, cfg.llm.slots, cfg.llm.queue_capacity, target_ms
    );
    println!(
        "{:<10} {:>8} {:>16} {:>8} {:>8} {:>12} {:>10}",
        "shoppers", "turns", "p50 / p95 (ms)", "busy", "handed", "turns/min", "p95 vs 1"
    );
    let (mut reference, mut within) = (None, 0);
    let mut n = 1;
    while n <= most {
        let started = Instant::now();
        let all = honest_turns(port, n, turns, ASKS).await?;
        let secs = started.elapsed().as_secs_f64();
        // a chat handed to a person after unhelpful (busy) answers gets no model turn: its instant turns are counted
        // apart, not as latency
        let mut ms: Vec<f64> = all.iter().filter(|t| !t.handed).map(|t| t.ms).collect();
        let (busy, handed) = (all.iter().filter(|t| t.busy).count(), all.iter().filter(|t| t.handed).count());
        let (p50, p95) = (percentile(&mut ms.clone(), 0.5), percentile(&mut ms, 0.95));
        let reference_p95 = *reference.get_or_insert(p95);
        let share = (busy + handed) as f64 / all.len().max(1) as f64;
        let pct = |k: usize| format!("{:.0}%", 100.0 * k as f64 / all.len().max(1) as f64);
        println!(
            "{n:<10} {:>8} {:>16} {:>8} {:>8} {:>12.1} {:>9.2}x",
            all.len(),
            format!("{p50:.0} / {p95:.0}"),
            pct(busy),
            pct(handed),
            ms.len() as f64 * 60.0 / secs,
            p95 / reference_p95.max(1.0)
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
        if p95 > 3.0 * target_ms || share > 0.5 {
            break;
        }
        n *= 2;
    }
    println!(
        "most shoppers at once with the turn p95 within {target_ms:.0} ms and under 10% busy or handed-over turns: {}",
        if within == 0 { "none (even one shopper was slower)".to_string() } else { within.to_string() }
    );
    shop.stop().await
}
