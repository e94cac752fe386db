//! `aisle bench chat`: figures for a chat turn on this machine, each beside a reference from the same run:
//! start-up time, time to cards and to the first shown word, the engine's first-token latency and decode speed
//! against the bare engine generating from a plain prompt, the grounding check's pass rate, and peak RSS.
use super::{percentile, rss_kib};
use crate::app::Shop;
use crate::chat::TurnFrame;
use crate::config::Config;
use crate::llm::{Message, Output};
use std::time::Instant;

/// Shopper requests of several kinds (a theme, a price limit, a product type, a vague wish).
pub(crate) const ASKS: &[&str] = &[
    "a gift for my mum under £10, something with hearts",
    "something for christmas under £5",
    "red retrospot bags",
    "vintage tea cups",
    "a present for a 5 year old who loves dinosaurs",
    "candles between £2 and £6",
    "lunch box for school",
    "garden decorations",
    "something cheap for a party",
    "wooden toys",
];

/// One measured chat turn: time to cards, to the first shown word and to done, the verdict and the engine's figures.
pub(crate) struct TurnTimes {
    pub cards_ms: Option<f64>,
    pub word_ms: Option<f64>,
    pub done_ms: f64,
    pub passed: bool,
    pub stats: Option<crate::llm::Stats>,
}

pub(crate) async fn measure_turn(a: &crate::chat::Assistant, ask: &str) -> anyhow::Result<TurnTimes> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let start = Instant::now();
    let collector = tokio::spawn(async move {
        let (mut cards, mut word) = (None, None);
        while let Some(f) = rx.recv().await {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            match f {
                TurnFrame::Cards { .. } => cards = cards.or(Some(ms)),
                TurnFrame::Delta { .. } | TurnFrame::Replace { .. } => word = word.or(Some(ms)),
                TurnFrame::Done { .. } | TurnFrame::Chips { .. } => {}
            }
        }
        (cards, word)
    });
    let r = a.turn(ask, None, &Default::default(), &tx).await;
    drop(tx);
    let (cards_ms, word_ms) = collector.await?;
    let done_ms = start.elapsed().as_secs_f64() * 1000.0;
    Ok(TurnTimes { cards_ms, word_ms, done_ms, passed: r.verdict.passed, stats: r.stats })
}

pub async fn chat(cfg: &Config, rounds: usize) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let shop = Shop::open(cfg).await?;
    let startup_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let a = &shop.assistant;
    let (mut to_cards, mut to_word, mut total, mut ttft, mut tps) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut passed, mut turns) = (0, 0);
    let mut first_answer_ms = None;
    for _ in 0..rounds {
        for ask in ASKS {
            let t = measure_turn(a, ask).await?;
            first_answer_ms.get_or_insert(startup_ms + t.done_ms);
            to_cards.extend(t.cards_ms);
            to_word.extend(t.word_ms);
            total.push(t.done_ms);
            turns += 1;
            passed += usize::from(t.passed);
            if let Some(s) = t.stats {
                ttft.push(s.first_token_ms);
                if s.generated_tokens >= 8 {
                    tps.push(s.tokens_per_second());
                }
            }
        }
    }
    // reference: the bare engine, plain prompt, same limits, no search, no check
    let (mut ref_ttft, mut ref_tps) = (vec![], vec![]);
    for ask in ASKS.iter().take(5) {
        let mut rx = a.llm.generate(vec![Message::user(format!("Suggest a gift: {ask}"))], a.gen.clone())?;
        while let Some(o) = rx.recv().await {
            if let Output::Done(s) = o {
                ref_ttft.push(s.first_token_ms);
                if s.generated_tokens >= 8 {
                    ref_tps.push(s.tokens_per_second());
                }
            }
        }
    }
    let info = a.llm.info();
    println!(
        "aisle bench chat: {} ({} params), {} threads, {} turns",
        info.description, info.parameters, cfg.llm.threads, turns
    );
    println!("{:<44} {:>12} {:>12}", "figure", "aisle", "reference");
    let row = |name: &str, v: String, r: String| println!("{name:<44} {v:>12} {r:>12}");
    row("start-up: model + catalog + behaviour (ms)", format!("{startup_ms:.0}"), "-".into());
    row("start to first answer (ms)", format!("{:.0}", first_answer_ms.unwrap_or(0.0)), "-".into());
    row("turn: cards shown, p50 (ms)", format!("{:.1}", percentile(&mut to_cards, 0.5)), "-".into());
    row("turn: first text shown, p50 (ms) [*]", format!("{:.0}", percentile(&mut to_word, 0.5)), "-".into());
    row(
        "turn: done, p50 / p90 (ms)",
        format!("{:.0}/{:.0}", percentile(&mut total.clone(), 0.5), percentile(&mut total, 0.9)),
        "-".into(),
    );
    row(
        "engine first token, p50 (ms) [ref: bare]",
        format!("{:.0}", percentile(&mut ttft, 0.5)),
        format!("{:.0}", percentile(&mut ref_ttft, 0.5)),
    );
    row(
        "decode tokens/s, p50 [ref: bare engine]",
        format!("{:.1}", percentile(&mut tps, 0.5)),
        format!("{:.1}", percentile(&mut ref_tps, 0.5)),
    );
    row("replies passing the grounding check", format!("{passed}/{turns}"), "-".into());
    row("RSS now / peak (MiB)", format!("{}/{}", rss_kib("VmRSS:") / 1024, rss_kib("VmHWM:") / 1024), "-".into());
    println!(
        "[*] the reply starts with the prompt's prefill (our words, checked), shown before the model's first token"
    );
    shop.engine.shutdown();
    Ok(())
}
