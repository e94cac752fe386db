//! `aisle bench shopping`: how well the chat understands shoppers. A public set of multi-turn requests over the
//! demo shop (`benches/shopping.toml`, written for this: negation, attributes, prices, product questions, past
//! orders, refinements, typos, sorts, service questions and injections), each turn with checkable expectations on
//! its cards and its reply. Every case runs twice in the same process: with the typed request, and with the
//! previous reading (keywords and price range only) as the reference row. Prints the pass rate per class, overall
//! and the turn latency of each reading.
use super::percentile;
use crate::app::Shop;
use crate::chat::query::Slots;
use crate::chat::Reading;
use crate::config::Config;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    class: String,
    /// A signed-in shopper (for past orders and the behaviour blend).
    #[serde(default)]
    customer: Option<String>,
    /// "toys": the case runs over the Amazon UK toys catalog (imported by the benchmark) instead of the demo shop.
    #[serde(default)]
    shop: Option<String>,
    turns: Vec<Expect>,
}

/// What one turn must do. Title checks compare lower-case titles with punctuation taken out; an entry "a|b" is met
/// by either.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    say: String,
    /// The tool that must answer (search, price, variants, similar, goes_with, past_orders, reorder, order,
    /// policy, handoff...).
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    cards_min: Option<usize>,
    #[serde(default)]
    cards_max: Option<usize>,
    /// Every card's title has each of these.
    #[serde(default)]
    all_have: Vec<String>,
    /// No card's title has any of these.
    #[serde(default)]
    none_have: Vec<String>,
    /// The first card's title has each of these.
    #[serde(default)]
    first_has: Vec<String>,
    #[serde(default)]
    max_price: Option<f64>,
    #[serde(default)]
    min_price: Option<f64>,
    /// "asc" or "desc": the cards' prices in that order.
    #[serde(default)]
    sorted: Option<String>,
    /// Every card costs less than the middle price of the previous turn's cards.
    #[serde(default)]
    cheaper: bool,
    /// The reply has each of these (case-insensitive).
    #[serde(default)]
    reply_has: Vec<String>,
    /// The reply has none of these (case-insensitive, whole words).
    #[serde(default)]
    reply_lacks: Vec<String>,
    /// The reply states the catalog price of the product with this title.
    #[serde(default)]
    price_of: Option<String>,
    /// Every card is an item of the shopper's last order, and the reply names the first.
    #[serde(default)]
    order_items: bool,
}

fn norm(s: &str) -> String {
    s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Whether a title has one of the `|`-separated phrases at the start of a word ("bag" in "Jumbo Bags", not "old"
/// in "Holder").
fn has(title: &str, want: &str) -> bool {
    let t = format!(" {}", norm(title));
    want.split('|').any(|w| t.contains(&format!(" {}", norm(w))))
}

struct Turn {
    tool: String,
    cards: Vec<crate::chat::Card>,
    text: String,
}

fn check(a: &crate::chat::Assistant, e: &Expect, t: &Turn, prev: &[f64], customer: Option<&str>) -> Vec<String> {
    let mut fail = vec![];
    let titles: Vec<&str> = t.cards.iter().map(|c| c.title.as_str()).collect();
    if let Some(tool) = &e.tool {
        if !tool.split('|').any(|x| x == t.tool) {
            fail.push(format!("tool {} (wanted {tool})", t.tool));
        }
    }
    if e.cards_min.is_some_and(|n| t.cards.len() < n) {
        fail.push(format!("{} cards (wanted at least {})", t.cards.len(), e.cards_min.unwrap_or_default()));
    }
    if e.cards_max.is_some_and(|n| t.cards.len() > n) {
        fail.push(format!("{} cards (wanted at most {})", t.cards.len(), e.cards_max.unwrap_or_default()));
    }
    for w in &e.all_have {
        if let Some(bad) = titles.iter().find(|title| !has(title, w)) {
            fail.push(format!("card {bad:?} lacks {w:?}"));
        }
    }
    for w in &e.none_have {
        if let Some(bad) = titles.iter().find(|title| has(title, w)) {
            fail.push(format!("card {bad:?} has {w:?}"));
        }
    }
    for w in &e.first_has {
        match titles.first() {
            Some(first) if has(first, w) => {}
            other => fail.push(format!("first card {other:?} lacks {w:?}")),
        }
    }
    let prices: Vec<f64> = t.cards.iter().filter_map(|c| c.price).collect();
    if let Some(m) = e.max_price {
        if let Some(p) = prices.iter().find(|p| **p > m + 1e-9) {
            fail.push(format!("a card costs {p} (over {m})"));
        }
    }
    if let Some(m) = e.min_price {
        if let Some(p) = prices.iter().find(|p| **p + 1e-9 < m) {
            fail.push(format!("a card costs {p} (under {m})"));
        }
    }
    match e.sorted.as_deref() {
        Some("asc") if prices.windows(2).any(|w| w[0] > w[1]) => fail.push(format!("prices not ascending {prices:?}")),
        Some("desc") if prices.windows(2).any(|w| w[0] < w[1]) => {
            fail.push(format!("prices not descending {prices:?}"))
        }
        _ => {}
    }
    if e.cheaper {
        let mut p = prev.to_vec();
        let mid = if p.is_empty() { f64::INFINITY } else { percentile(&mut p, 0.5) };
        if let Some(x) = prices.iter().find(|x| **x >= mid) {
            fail.push(format!("a card costs {x}, not below the {mid} shown before"));
        }
    }
    let reply = t.text.to_lowercase();
    for w in &e.reply_has {
        if !w.split('|').any(|x| reply.contains(&x.to_lowercase())) {
            fail.push(format!("reply lacks {w:?}"));
        }
    }
    let words: Vec<String> = reply.split(|c: char| !c.is_alphanumeric()).map(String::from).collect();
    for w in &e.reply_lacks {
        let w = w.to_lowercase();
        let hit = if w.contains(' ') { reply.contains(&w) } else { words.contains(&w) };
        if hit {
            fail.push(format!("reply has {w:?}"));
        }
    }
    if let Some(title) = &e.price_of {
        let found = a.catalog.snapshot().into_iter().find(|p| norm(&p.title) == norm(title));
        match found.and_then(|p| p.price) {
            Some(price) if reply.contains(&crate::catalog::format_price(price)) => {}
            Some(price) => fail.push(format!("reply does not state {}", crate::catalog::format_price(price))),
            None => fail.push(format!("no catalog price for {title:?}")),
        }
    }
    if e.order_items {
        let last = customer.and_then(|c| crate::service::last_order(&a.store, c).ok().flatten());
        match last {
            Some((_, lines)) => {
                if t.cards.is_empty() {
                    fail.push("no cards for the order's items".into());
                }
                for c in &t.cards {
                    if !lines.iter().any(|l| l.product == c.id) {
                        fail.push(format!("card {:?} is not in the last order", c.title));
                    }
                }
                if let Some(first) = t.cards.first() {
                    if !reply.contains(&first.title.to_lowercase()) {
                        fail.push("the reply does not name the order's items".into());
                    }
                }
            }
            None => fail.push("the shopper has no last order".into()),
        }
    }
    fail
}

async fn run_turn(a: &crate::chat::Assistant, say: &str, customer: Option<&str>, slots: &Slots) -> (Turn, Slots, f64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let start = Instant::now();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let r = a.turn(say, customer, slots, &tx).await;
    drop(tx);
    let _ = drain.await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let next = r.slots(slots);
    (Turn { tool: r.tool, cards: r.cards, text: r.text }, next, ms)
}

#[derive(Default)]
struct Tally {
    cases: BTreeMap<String, (usize, usize)>,
    turn_ms: Vec<f64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (class, (p, n)) in other.cases {
            let e = self.cases.entry(class).or_default();
            e.0 += p;
            e.1 += n;
        }
        self.turn_ms.extend(other.turn_ms);
    }

    fn total(&self) -> (usize, usize) {
        self.cases.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

async fn run(a: &crate::chat::Assistant, cases: &[Case], show_failures: bool) -> Tally {
    // AISLE_BENCH_TRACE=1 adds each failed turn's tool, cards and reply
    let trace = show_failures && std::env::var("AISLE_BENCH_TRACE").is_ok_and(|v| v == "1");
    let mut tally = Tally::default();
    for (n, case) in cases.iter().enumerate() {
        let mut slots = Slots::default();
        let mut prev_prices: Vec<f64> = vec![];
        let mut failures = vec![];
        for (i, e) in case.turns.iter().enumerate() {
            let customer = case.customer.as_deref();
            let (t, next, ms) = run_turn(a, &e.say, customer, &slots).await;
            tally.turn_ms.push(ms);
            let failed = check(a, e, &t, &prev_prices, customer);
            for f in &failed {
                failures.push(format!("turn {} {:?}: {f}", i + 1, e.say));
            }
            if !failed.is_empty() && trace {
                let titles: Vec<&str> = t.cards.iter().map(|c| c.title.as_str()).collect();
                let reply: String = t.text.chars().take(160).collect();
                failures.push(format!("      [{}] {titles:?} {reply:?}", t.tool));
            }
            prev_prices = t.cards.iter().filter_map(|c| c.price).collect();
            slots = next;
        }
        let entry = tally.cases.entry(case.class.clone()).or_default();
        entry.1 += 1;
        if failures.is_empty() {
            entry.0 += 1;
        } else if show_failures {
            println!("  case {} [{}] failed:", n + 1, case.class);
            for f in failures {
                println!("    {f}");
            }
        }
    }
    tally
}

/// The toys catalog in a scratch data directory, with the demo shop's trained intent classifier copied in (it
/// does not depend on the catalog), opened as a second shop.
async fn toys_shop(cfg: &Config, toys: &Path) -> anyhow::Result<(super::TempDir, Shop)> {
    let dir = super::TempDir::new("shopping-toys")?;
    let sources = crate::import::Sources { products: Some(toys.to_path_buf()), ..Default::default() };
    crate::import::run(&dir.0, &sources, None)?;
    let saved = cfg.data_dir.join("intent-model.json");
    if saved.exists() {
        std::fs::copy(&saved, dir.0.join("intent-model.json"))?;
    }
    let mut c = cfg.clone();
    c.data_dir = dir.0.clone();
    let shop = Shop::open(&c).await?;
    Ok((dir, shop))
}

async fn ready(shop: &Shop) {
    // the classifier trains in the background on a first start: wait for it, or service cases would be read by
    // keywords
    let t0 = Instant::now();
    while shop.assistant.intents.get().is_none() && t0.elapsed().as_secs() < 900 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

pub async fn shopping(cfg: &Config, cases_path: &Path, only: Option<&str>, toys: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(cases_path)
        .map_err(|e| anyhow::anyhow!("reading the cases {}: {e}", cases_path.display()))?;
    let mut cases: Vec<Case> =
        toml::from_str::<Cases>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", cases_path.display()))?.case;
    if let Some(class) = only {
        cases.retain(|c| c.class == class);
    }
    let turns: usize = cases.iter().map(|c| c.turns.len()).sum();
    println!("bench shopping: {} cases, {turns} turns, from {}", cases.len(), cases_path.display());
    let shop = Shop::open(cfg).await?;
    ready(&shop).await;
    let (demo_cases, toy_cases): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.shop.as_deref().unwrap_or("demo") == "demo");
    let toy_shop = if toy_cases.is_empty() { None } else { Some(toys_shop(cfg, toys).await?) };
    if let Some((_, s)) = &toy_shop {
        ready(s).await;
    }
    let mut reference = Tally::default();
    let mut full = Tally::default();
    let mut per_shop = vec![];
    for (name, cases, a) in [
        ("demo shop", &demo_cases, Some(&shop.assistant)),
        ("toys catalog", &toy_cases, toy_shop.as_ref().map(|(_, s)| &s.assistant)),
    ] {
        let Some(a) = a.filter(|_| !cases.is_empty()) else { continue };
        let mut plain = a.clone();
        plain.reading = Reading::Plain;
        println!("{name}, reference (keywords and price range only):");
        let r = run(&plain, cases, false).await;
        println!("{name}, typed request (failures listed):");
        let f = run(a, cases, true).await;
        per_shop.push((name, r.total(), f.total()));
        reference.merge(r);
        full.merge(f);
    }
    println!();
    println!("{:<18} {:>6} {:>10} {:>10}", "class", "cases", "reference", "typed");
    let rate = |(p, n): (usize, usize)| if n == 0 { 0.0 } else { p as f64 / n as f64 };
    let mut worst = 1.0f64;
    for (class, &(p, n)) in &full.cases {
        let r = reference.cases.get(class).copied().unwrap_or_default();
        worst = worst.min(rate((p, n)));
        println!("{class:<18} {n:>6} {:>10.2} {:>10.2}", rate(r), rate((p, n)));
    }
    for (name, r, f) in &per_shop {
        println!("{name:<18} {:>6} {:>10.2} {:>10.2}", f.1, rate(*r), rate(*f));
    }
    let (rf, tf) = (reference.total(), full.total());
    println!("{:<18} {:>6} {:>10.2} {:>10.2}", "overall", tf.1, rate(rf), rate(tf));
    println!("lowest class (typed): {worst:.2}");
    let (mut a, mut b) = (reference.turn_ms, full.turn_ms);
    println!(
        "turn done ms p50/p99: reference {:.0}/{:.0}, typed {:.0}/{:.0}",
        percentile(&mut a, 0.5),
        percentile(&mut a, 0.99),
        percentile(&mut b, 0.5),
        percentile(&mut b, 0.99)
    );
    Ok(())
}
