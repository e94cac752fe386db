//! Runs the scripted multi-turn conversations in `tests/conversations/*.toml` against the shared server (real
//! model, index and store): the right tool answers, slots carry and are corrected, the facts are the catalog's, no
//! price appears that is not on a card or in the shopper's words (this turn's or an earlier one's), another customer's order is never shown, a
//! handoff reaches the staff queue.
use crate::support::*;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Script {
    conversation: Vec<Conversation>,
}

#[derive(Deserialize)]
struct Conversation {
    name: String,
    #[serde(default)]
    customer: Option<String>,
    turn: Vec<Turn>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Turn {
    say: String,
    tool: Option<String>,
    min_cards: Option<usize>,
    cards: Option<usize>,
    max_price: Option<f64>,
    min_price: Option<f64>,
    cheaper_than_before: bool,
    same_cards_as_before: bool,
    contains: Vec<String>,
    not_contains: Vec<String>,
    /// Every card's title has each of these (lower case, "a|b": either).
    all_have: Vec<String>,
    /// No card's title has any of these.
    none_have: Vec<String>,
    /// "asc" or "desc": the cards' prices in that order.
    sorted: Option<String>,
    quotes_policy: bool,
    handoff: bool,
    auto_handoff: bool,
    /// The reply is written in Chinese: without the cards' product names (kept as the catalog writes them), at
    /// least four Han characters and at least half as many as Latin letters, none of the English templates' words.
    chinese: bool,
    /// Every chip offered after the reply is in Chinese.
    chinese_chips: bool,
}

/// Every amount written as £x or £x.yy in a text.
fn prices(text: &str) -> Vec<f64> {
    text.split('£')
        .skip(1)
        .filter_map(|rest| {
            let n: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            n.trim_end_matches('.').parse().ok()
        })
        .collect()
}

fn first_invoice_of(customer: &str) -> String {
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    csv::Reader::from_reader(src)
        .records()
        .map(|r| r.unwrap())
        .find(|r| r[6].trim_end_matches(".0") == customer && !r[0].starts_with('C'))
        .map(|r| r[0].to_string())
        .expect("the customer has an invoice")
}

fn other_invoice(than: &str) -> String {
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    csv::Reader::from_reader(src)
        .records()
        .map(|r| r.unwrap())
        .find(|r| !r[6].is_empty() && r[6].trim_end_matches(".0") != than && !r[0].starts_with('C'))
        .map(|r| r[0].to_string())
        .unwrap()
}

/// The middle price of a turn's cards (the mean of the two middle ones for an even count).
fn middle(cards: &[Value]) -> f64 {
    let mut p: Vec<f64> = cards.iter().filter_map(|c| c["price"].as_f64()).collect();
    p.sort_by(f64::total_cmp);
    match p.len() {
        0 => f64::INFINITY,
        n if n % 2 == 1 => p[n / 2],
        n => (p[n / 2 - 1] + p[n / 2]) / 2.0,
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every policy document, in every language (`data/policies/*.md` and `data/policies/<lang>/*.md`).
fn policies() -> String {
    let mut all = String::new();
    let mut dirs = vec![root().join("data/policies")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "md") {
                all.push_str(&std::fs::read_to_string(&path).unwrap());
                all.push('\n');
            }
        }
    }
    normalise(&all)
}

/// Amounts written as "10英镑" or "10镑" (a budget in Chinese, which a reply may say back as £10).
fn pounds_in_words(text: &str) -> Vec<f64> {
    let mut out = vec![];
    for unit in ["英镑", "镑"] {
        for (i, _) in text.match_indices(unit) {
            let digits: String = text[..i].chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            if let Ok(v) = digits.chars().rev().collect::<String>().parse() {
                out.push(v);
            }
        }
    }
    out
}

fn han(text: &str) -> usize {
    text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count()
}

/// Whether a reply is written in Chinese: without the product names of its cards (kept as the catalog writes
/// them), at least four Han characters and at least half as many as Latin letters, and none of the English
/// templates' words.
fn reads_chinese(text: &str, titles: &[&str]) -> bool {
    let words = titles.iter().fold(text.to_string(), |t, title| t.replace(title, ""));
    let latin = words.chars().filter(char::is_ascii_alphabetic).count();
    let english = ["Here ", "Sorry", "I can", "Your ", "From our", "couldn't"];
    han(&words) >= 4 && 2 * han(&words) >= latin && !english.iter().any(|w| text.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_conversations_use_the_right_tools_and_keep_to_the_facts() {
    let app = shared();
    let mut failures = vec![];
    for entry in std::fs::read_dir(root().join("tests/conversations")).unwrap().flatten() {
        failures.extend(run_script(app.port, &entry.path()).await);
    }
    assert!(failures.is_empty(), "{} failed expectations:\n{}", failures.len(), failures.join("\n"));
}

/// The Chinese scripts again with Qwen2.5-0.5B, a model that writes Chinese, allowed to phrase Chinese replies
/// (`chat.model_languages`): the same expectations hold (Chinese replies, catalog prices, the right tools), and
/// the model's own words reach the shopper in some of them (checked, not replaced by the template).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_conversations_phrased_by_qwen_keep_to_the_facts() {
    let dir = slice_dir(20_000);
    let mut cfg = test_config(dir.path());
    cfg.llm.model = root().join("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(cfg.llm.model.is_file(), "Qwen is fetched by the test command: bash models/fetch.sh qwen");
    cfg.chat.model_languages = vec!["en".into(), "zh".into()];
    // the suite's other tests share the two cores: the budget is for the words, not for the queue
    cfg.chat.reply_budget_secs = 60.0;
    let app = TestApp::start(cfg).unwrap();
    let failures = run_script(app.port, &root().join("tests/conversations/chinese.toml")).await;
    assert!(failures.is_empty(), "{} failed expectations:\n{}", failures.len(), failures.join("\n"));
    app.stop().unwrap();
    // the model's words were shown: turns it wrote that passed the check, as the transcripts keep them
    let store = aisle::store::Store::open(dir.path()).unwrap();
    let sessions = aisle::session::Sessions::new(store).list().unwrap();
    let written: Vec<&aisle::session::Turn> = sessions
        .iter()
        .flat_map(|s| &s.turns)
        .filter(|t| t.verdict.as_ref().is_some_and(|v| v.passed))
        .filter(|t| t.stats.as_ref().and_then(|s| s["generated_tokens"].as_u64()).unwrap_or(0) > 0)
        .collect();
    let texts: Vec<&str> = written.iter().map(|t| t.text.as_str()).collect();
    eprintln!("Qwen's words reached the shopper in {} turns: {texts:?}", written.len());
    assert!(written.len() >= 2, "Qwen's words reached the shopper in {} turns: {texts:?}", written.len());
    for t in &written {
        let titles: Vec<&str> = t.cards.iter().map(|c| c.title.as_str()).collect();
        assert!(reads_chinese(&t.text, &titles), "a Chinese reply: {}", t.text);
    }
}

/// Runs one script's conversations on the server at `port`; the expectations that failed.
async fn run_script(port: u16, path: &std::path::Path) -> Vec<String> {
    let policy_text = policies();
    let auth = format!("Bearer {TOKEN}");
    let mut failures = vec![];
    let script: Script = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    {
        for c in script.conversation {
            let customer = c.customer.clone().unwrap_or_default();
            let own = if customer.is_empty() { String::new() } else { first_invoice_of(&customer) };
            let other = other_invoice(&customer);
            let fill = |s: &str| s.replace("{own_order}", &own).replace("{other_order}", &other);
            let mut ws = ws(port).await;
            let hello = if customer.is_empty() { json!({"type": "hello"}) } else { signed_hello(&customer) };
            send(&mut ws, hello).await;
            let session = next(&mut ws).await.unwrap()["session_id"].as_str().unwrap().to_string();
            let mut before: Vec<Value> = vec![];
            // budgets the shopper named in this conversation (a reply may restate one turns later)
            let mut named: Vec<f64> = vec![];
            for (i, t) in c.turn.iter().enumerate() {
                let say = fill(&t.say);
                named.extend(prices(&say));
                named.extend(pounds_in_words(&say));
                eprintln!("{} / turn {i}: {say}", c.name); // says which turn a frame timeout stopped at
                let frames = turn(&mut ws, &say).await;
                let done = frames.last().unwrap();
                let shown = cards(&frames);
                let text = shown_text(&frames);
                let at = format!("{} / turn {i} ({say:?}) -> {text:?}", c.name);
                let mut fail = |why: String| failures.push(format!("{at}: {why}"));
                let tool = done["tool"].as_str().unwrap_or("");
                if let Some(want) = &t.tool {
                    if !want.split('|').any(|w| w == tool) {
                        fail(format!("answered by {tool}, expected {want}"));
                    }
                }
                if t.min_cards.is_some_and(|n| shown.len() < n) || t.cards.is_some_and(|n| shown.len() != n) {
                    fail(format!("{} cards", shown.len()));
                }
                let card_prices: Vec<f64> = shown.iter().filter_map(|c| c["price"].as_f64()).collect();
                if let Some(m) = t.max_price {
                    if card_prices.iter().any(|p| *p > m) {
                        fail(format!("a card over £{m}: {card_prices:?}"));
                    }
                }
                if let Some(m) = t.min_price {
                    if card_prices.iter().any(|p| *p < m) {
                        fail(format!("a card under £{m}: {card_prices:?}"));
                    }
                }
                if t.cheaper_than_before {
                    let middle = middle(&before);
                    if card_prices.iter().any(|p| *p >= middle) {
                        fail(format!("not cheaper than the £{middle} in the middle of before: {card_prices:?}"));
                    }
                }
                let titles: Vec<String> =
                    shown.iter().map(|c| c["title"].as_str().unwrap_or("").to_lowercase()).collect();
                for w in &t.all_have {
                    if let Some(bad) = titles.iter().find(|title| !w.split('|').any(|x| title.contains(x))) {
                        fail(format!("card {bad:?} lacks {w:?}"));
                    }
                }
                for w in &t.none_have {
                    if let Some(bad) = titles.iter().find(|title| title.contains(w.as_str())) {
                        fail(format!("card {bad:?} has {w:?}"));
                    }
                }
                match t.sorted.as_deref() {
                    Some("asc") if card_prices.windows(2).any(|w| w[0] > w[1]) => {
                        fail(format!("not ascending {card_prices:?}"))
                    }
                    Some("desc") if card_prices.windows(2).any(|w| w[0] < w[1]) => {
                        fail(format!("not descending {card_prices:?}"))
                    }
                    _ => {}
                }
                if t.same_cards_as_before && !shown.iter().all(|c| before.iter().any(|b| b["id"] == c["id"])) {
                    fail("cards that were not shown before".into());
                }
                for w in &t.contains {
                    if !text.to_lowercase().contains(&fill(w).to_lowercase()) {
                        fail(format!("lacks {w:?}"));
                    }
                }
                for w in &t.not_contains {
                    if text.to_lowercase().contains(&fill(w).to_lowercase()) {
                        fail(format!("contains {w:?}"));
                    }
                }
                if t.chinese {
                    let titles: Vec<&str> = shown.iter().map(|c| c["title"].as_str().unwrap_or("")).collect();
                    if !reads_chinese(&text, &titles) {
                        fail("not a Chinese reply".into());
                    }
                }
                if t.chinese_chips {
                    let chips: Vec<&Value> = frames.iter().filter(|f| f["type"] == "chips").collect();
                    let options = chips.last().and_then(|c| c["options"].as_array()).cloned().unwrap_or_default();
                    if options.is_empty() || options.iter().any(|o| han(o.as_str().unwrap_or("")) < 2) {
                        fail(format!("chips not in Chinese: {options:?}"));
                    }
                }
                if t.quotes_policy {
                    let reply = normalise(&text);
                    let quoted = reply
                        .split(['"', '\u{201c}', '\u{201d}'])
                        .chain(reply.split(": "))
                        .chain(reply.split('：').skip(1))
                        .any(|part| {
                            let part = part.trim().trim_end_matches(['.', ')']);
                            part.len() >= 30 && policy_text.contains(part)
                        });
                    if !quoted {
                        fail("quotes no policy sentence".into());
                    }
                }
                if t.auto_handoff {
                    let f = next(&mut ws).await.unwrap_or(Value::Null);
                    if f["type"] != "handoff" || f["reason"] != "repeated_failure" {
                        fail(format!("no handoff after repeated failures: {f}"));
                    }
                }
                if t.handoff || t.auto_handoff {
                    if t.handoff && done["handoff"] != true {
                        fail("no handoff".into());
                    }
                    let page = http(port, "GET", "/staff/support", &[("Authorization", &auth)], "").await;
                    let queue = page
                        .body
                        .split("id=\"queue-table\"")
                        .nth(1)
                        .unwrap_or("")
                        .split("</table>")
                        .next()
                        .unwrap_or("");
                    if !queue.contains(&session[..8]) {
                        failures.push(format!("{} / turn {i}: not in the staff queue", c.name));
                    }
                }
                // always: cards are catalog products at catalog prices, and the reply names no other price
                if matches!(
                    tool,
                    "search"
                        | "compare"
                        | "product_question"
                        | "price"
                        | "stock"
                        | "variants"
                        | "similar"
                        | "goes_with"
                ) {
                    for card in &shown {
                        let (status, p) =
                            get_json(port, &format!("/api/products/{}", card["id"].as_str().unwrap())).await;
                        if status != 200 || p["title"] != card["title"] || p["price"] != card["price"] {
                            failures.push(format!("{} / turn {i}: card {card} is not the catalog's {p}", c.name));
                        }
                    }
                    // a card's price, a budget the shopper named, the difference of two cards' prices, or a limit
                    // drawn from the cards shown before ("cheaper": under the middle of their prices)
                    let diffs: Vec<f64> =
                        card_prices.iter().flat_map(|a| card_prices.iter().map(move |b| (a - b).abs())).collect();
                    let m = middle(&before);
                    let drawn = [m - 0.01, m + 0.01];
                    let allowed: Vec<f64> =
                        card_prices.iter().copied().chain(named.iter().copied()).chain(diffs).chain(drawn).collect();
                    for p in prices(&text) {
                        if !allowed.iter().any(|a| (a - p).abs() < 0.005) {
                            failures.push(format!("{} / turn {i}: price £{p} is on no card: {text:?}", c.name));
                        }
                    }
                }
                if tool == "search" {
                    before = shown;
                }
            }
        }
    }
    failures
}
