//! `aisle bench intent --lang zh`: the served intent classifier on customer-service and shopping messages written
//! in another language (`data/intents/<code>_test.csv`, written by hand for this, never trained on), read into
//! English by the language's reader first, as the chat reads them; beside the same messages as typed (how Aisle
//! read them before it had readers), the English head, and the head for read messages (trained with the
//! language's own utterances, `data/intents/<code>_train.csv`), and the English held-out figure, in the same run.
use crate::intent::{featurize, IntentModel};
use std::collections::HashSet;
use std::path::Path;

/// The answer a message gets, coarsely: an order look-up, a policy, a person, a greeting, off-topic, or shopping.
fn coarse(intent: &str) -> &'static str {
    use crate::service::{HANDOFF_INTENTS, ORDER_INTENTS, SHOPPING_INTENTS};
    match intent {
        i if ORDER_INTENTS.contains(&i) => "order",
        i if HANDOFF_INTENTS.contains(&i) => "person",
        i if SHOPPING_INTENTS.contains(&i) => "shop",
        "chit_chat" => "greeting",
        "other" => "off-topic",
        _ => "policy",
    }
}

pub fn other_language(
    cfg: &crate::config::Config,
    root: &Path,
    code: &str,
    embedder: &crate::embed::Embedder,
    (m, english_only): (&IntentModel, &IntentModel),
    // m: the head for read messages (served for them); english_only: the English head
    english: f64,
) -> anyhow::Result<()> {
    let langs = crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?;
    let lang = langs.get(code).ok_or_else(|| anyhow::anyhow!("no language {code}: prompts/{code}/lang.toml"))?;
    anyhow::ensure!(lang.reader.has_dictionary(), "the bilingual dictionary is needed: bash models/fetch.sh cedict");
    let path = root.join(format!("data/intents/{code}_test.csv"));
    let mut rows: Vec<(String, String)> = vec![];
    for r in csv::Reader::from_path(&path)?.records() {
        let r = r?;
        rows.push((r.get(0).unwrap_or_default().to_string(), r.get(1).unwrap_or_default().to_string()));
    }
    anyhow::ensure!(!rows.is_empty(), "{} has no messages", path.display());
    // no catalog: a word's first gloss (the chat prefers the catalog's own words among them)
    let no_catalog: HashSet<String> = HashSet::new();
    let typed: Vec<String> = rows.iter().map(|(t, _)| t.clone()).collect();
    let read: Vec<String> = typed.iter().map(|t| lang.reader.read(t, &no_catalog, &cfg.chat.currency).text).collect();
    let (xtyped, xread) = (featurize(embedder, &typed)?, featurize(embedder, &read)?);
    let score = |m: &IntentModel, xs: &[crate::intent::Features]| {
        let (mut exact, mut route) = (0, 0);
        let mut wrong: std::collections::BTreeMap<&str, usize> = Default::default();
        for (x, (_, truth)) in xs.iter().zip(&rows) {
            let p = m.predict(x).intent;
            exact += usize::from(p == *truth);
            route += usize::from(coarse(&p) == coarse(truth));
            if p != *truth {
                *wrong.entry(truth.as_str()).or_default() += 1;
            }
        }
        let n = rows.len() as f64;
        (exact as f64 / n, route as f64 / n, wrong)
    };
    let (t_exact, t_route, _) = score(m, &xtyped);
    let (e_exact, e_route, _) = score(english_only, &xread);
    let (r_exact, r_route, wrong) = score(m, &xread);
    println!();
    println!(
        "{} messages in {} ({}), {} intents, none of them trained on",
        rows.len(),
        lang.name,
        path.display(),
        rows.iter().map(|r| &r.1).collect::<HashSet<_>>().len()
    );
    println!("{:<44} {:>8} {:>8}", "", "intent", "answer");
    println!("{:<44} {:>8.3} {:>8}", "English, held-out phrasing (reference)", english, "");
    println!("{:<44} {:>8.3} {:>8.3}", format!("{code} as typed (before: no reader)"), t_exact, t_route);
    println!("{:<44} {:>8.3} {:>8.3}", format!("{code} read into English, English head"), e_exact, e_route);
    println!("{:<44} {:>8.3} {:>8.3}", format!("aisle: {code} read, head for read messages"), r_exact, r_route);
    let mut worst: Vec<(&str, usize)> = wrong.into_iter().collect();
    worst.sort_by_key(|w| std::cmp::Reverse(w.1));
    let list: Vec<String> = worst.iter().take(6).map(|(i, n)| format!("{i} {n}")).collect();
    println!("  most missed (of ~10 each): {}", list.join(", "));
    println!("  (answer: the kind of answer the message gets: order, policy, person, shopping, greeting, off-topic)");
    for (t, r) in typed.iter().zip(&read).take(5) {
        println!("  e.g. {t} -> {r}");
    }
    Ok(())
}

/// `aisle bench search-quality --lang zh`: queries written in the language (`benches/search_<code>.csv`: a query
/// and the words a right product's title has, `a|b` for either) against the toys catalog (English), MRR@10 and
/// the share of queries with a right product in the top 10, for keyword, semantic and hybrid search on the query
/// as typed and as the language's reader reads it, with MiniLM (the demo's embedding model) and multilingual-e5.
pub fn search(cfg: &crate::config::Config, toys: &Path, code: &str) -> anyhow::Result<()> {
    use crate::search::{Mode, Search, Synonyms};
    let langs = crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?;
    let lang = langs.get(code).ok_or_else(|| anyhow::anyhow!("no language {code}: prompts/{code}/lang.toml"))?;
    anyhow::ensure!(lang.reader.has_dictionary(), "the bilingual dictionary is needed: bash models/fetch.sh cedict");
    let path = Path::new("benches").join(format!("search_{code}.csv"));
    let mut cases: Vec<(String, Vec<String>)> = vec![];
    for r in csv::Reader::from_path(&path)?.records() {
        let r = r?;
        let words = r.get(1).unwrap_or_default().split('|').map(|w| w.trim().to_lowercase()).collect();
        cases.push((r.get(0).unwrap_or_default().to_string(), words));
    }
    let products = super::search::read_products(toys)?;
    let catalog = crate::catalog::Catalog::new(products.clone());
    let vocab = crate::chat::vocab::Vocab::build(&catalog.snapshot());
    let read: Vec<String> = cases.iter().map(|(q, _)| lang.reader.read(q, &vocab, &cfg.chat.currency).text).collect();
    let e5_path = Path::new("models/multilingual-e5-small.q4_0.gguf");
    let models: Vec<(String, std::path::PathBuf)> =
        [("MiniLM", cfg.embed.model.clone()), ("e5", e5_path.to_path_buf())]
            .into_iter()
            .filter(|(_, p)| p.is_file())
            .map(|(n, p)| (n.to_string(), p))
            .collect();
    println!("aisle bench search-quality --lang {code}: {} queries in {} ({}) against the toys catalog ({} products, English)",
        cases.len(), lang.name, path.display(), products.len());
    println!("a query is right when a top-10 title has one of its words (written with the query); hit@10 is the share of queries with one");
    println!("{:<44} {:>8} {:>8}", "query, mode, embeddings", "MRR@10", "hit@10");
    for (name, model) in models {
        let embedder = std::sync::Arc::new(crate::embed::Embedder::start(&model, cfg.embed.threads)?);
        let dir = super::TempDir::new("lang-search")?;
        let store = crate::store::Store::open(&dir.0)?;
        let search = Search::open(&dir.0, &store, Some(embedder), Synonyms::default())?;
        search.upsert(&store, &products)?;
        for (shown, queries) in
            [("as typed", cases.iter().map(|c| c.0.clone()).collect::<Vec<_>>()), ("read", read.clone())]
        {
            for (mode_name, mode) in
                [("keyword", Mode::Keyword), ("semantic", Mode::Semantic), ("hybrid", Mode::Hybrid)]
            {
                if mode == Mode::Keyword && name != "MiniLM" {
                    continue; // the keyword side has no embeddings: once is enough
                }
                let (mut rr, mut hit) = (0.0, 0usize);
                for (q, (_, words)) in queries.iter().zip(&cases) {
                    let hits = search.search(&super::search::request(q, mode), &catalog, |_| 0)?;
                    let rank = hits.iter().take(10).position(|h| {
                        let t = catalog.get(&h.id).map(|p| p.title.to_lowercase()).unwrap_or_default();
                        words.iter().any(|w| t.contains(w.as_str()))
                    });
                    if let Some(r) = rank {
                        rr += 1.0 / (r + 1) as f64;
                        hit += 1;
                    }
                }
                let n = cases.len() as f64;
                let label = if mode == Mode::Keyword {
                    format!("{shown}, keyword")
                } else {
                    format!("{shown}, {mode_name}, {name}")
                };
                let label = if shown == "read" { format!("aisle: {label}") } else { label };
                println!("{label:<44} {:>8.3} {:>8.3}", rr / n, hit as f64 / n);
            }
        }
    }
    for ((q, _), r) in cases.iter().zip(&read).take(6) {
        println!("  e.g. {q} -> {r}");
    }
    println!("(a catalog in Chinese searched with English queries is not measured: no Chinese catalog could be found through the registries)");
    Ok(())
}
