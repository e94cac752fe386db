//! `aisle bench blend`: does blending what the shopper says with what they did beat either alone?
//!
//! For each shopper's held-out last new product (the `aisle eval` split), the shopper "types" a query derived from
//! the product's name: its last two words, lower-cased (the head of the name, e.g. "WHITE HANGING HEART T-LIGHT
//! HOLDER" → "t-light holder"; a one-word name is used whole). Three rankings, NDCG@10 and Recall@10, products
//! the shopper bought before left out of every list:
//! - query only: the chat's hybrid search and ranker with relevance alone;
//! - history only: the recommender's personal blend over the whole catalog (no query);
//! - blended: the chat's ranker as it runs in a turn (relevance, co-purchase history, popularity, and the
//!   recommender's personal score), with the chat's weights and with the best of a grid of weights.
//!
//! The model, item-kNN and co-purchase tables are built without the test and validation products. The grid is
//! scored on the validation products (the product before the test one, 1,000 shoppers); its best blend is then
//! applied once to the test cases, beside the chat's own weights.
use crate::behavior::Behavior;
use crate::catalog::Catalog;
use crate::chat::MIN_SEMANTIC_ONLY;
use crate::config::Config;
use crate::reco::data::{Dataset, Split};
use crate::reco::model::{rank_of, Hyper, Metrics, Model};
use crate::reco::serve::Served;
use crate::recommend::{Blend, Limits, Pick, Ranker};
use crate::search::{Mode, Search, SearchRequest, Synonyms};
use crate::store::{Event, Store};
use std::collections::{HashMap, HashSet};

const QUERY_ONLY: Blend = Blend { relevance: 1.0, history: 0.0, popularity: 0.0, bought_before: 0.0, personal: 0.0 };

/// The blends tried on the validation cases: co-purchase history x popularity x personal score (relevance 1).
const GRID: [Blend; 100] = {
    const HISTORY: [f32; 5] = [0.0, 0.15, 0.3, 0.6, 1.0];
    const POPULARITY: [f32; 4] = [0.0, 0.05, 0.15, 0.3];
    const PERSONAL: [f32; 5] = [0.0, 0.05, 0.1, 0.2, 0.4];
    let mut out = [QUERY_ONLY; 100];
    let mut i = 0;
    while i < 100 {
        out[i].history = HISTORY[i / 20];
        out[i].popularity = POPULARITY[i / 5 % 4];
        out[i].personal = PERSONAL[i % 5];
        out[i].bought_before = 0.2;
        i += 1;
    }
    out
};

fn describe(b: &Blend) -> String {
    format!("co-purchase {}, popularity {}, personal {}", b.history, b.popularity, b.personal)
}

struct Case {
    picks: Vec<Pick>,
    known: HashSet<String>,
    target: String,
    query_rank: Option<usize>,
    history_rank: Option<usize>,
}

/// The target's place among the picks, products bought before left out.
fn rank_in(picks: &[Pick], known: &HashSet<String>, target: &str) -> Option<usize> {
    picks.iter().map(|p| p.product.id.as_str()).filter(|id| !known.contains(*id)).position(|id| id == target)
}

/// The query a shopper might type for a product: the last two words of its name, lower-cased.
pub fn query_for(title: &str) -> String {
    let words: Vec<&str> = title.split_whitespace().collect();
    words[words.len().saturating_sub(2)..].join(" ").to_lowercase()
}

pub async fn blend(cfg: &Config, cases: usize) -> anyhow::Result<()> {
    let embedder = crate::app::start_embedder(cfg).await?;
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || run(&cfg, embedder, cases)).await?
}

fn run(cfg: &Config, embedder: Option<std::sync::Arc<crate::embed::Embedder>>, max_cases: usize) -> anyhow::Result<()> {
    let store = Store::open(&cfg.data_dir)?;
    let catalog = Catalog::new(store.products()?);
    let search = Search::open(&cfg.data_dir, &store, embedder, Synonyms::load(&cfg.search.synonyms)?)?;
    let data = Dataset::from_store(&store)?;
    let hyper = Hyper { threads: std::thread::available_parallelism().map_or(2, |n| n.get()), ..Hyper::default() };
    let split = Split::leave_last_out(&data, 0.0, 1000, hyper.seed);
    let held: HashSet<(u32, u32)> = split.test.iter().chain(&split.valid).copied().collect();
    println!(
        "Protocol: {} shoppers' last new products (sampled to {max_cases} test cases), query = last two words of the product name; semantic search {}.",
        split.test.len(),
        if search.semantic_enabled() { "on" } else { "off (no embedding model)" }
    );

    eprintln!("training the recommender without the test and validation products...");
    let (model, report) = Model::train(&data, &split.train, &split.valid, &hyper, |_, _, _| {})?;
    eprintln!("  {} epochs in {:.0} s", report.epochs, report.seconds);
    let mut train_data = data.clone();
    train_data.sequences = split
        .train
        .histories
        .iter()
        .zip(&split.train.held)
        .map(|(h, k)| h.iter().enumerate().filter(|(j, _)| Some(*j) != *k).map(|(_, &i)| i).collect())
        .collect();
    let served = Served::build(train_data, Some(model));
    let user_of: HashMap<&str, u32> = data.users.iter().enumerate().map(|(i, u)| (u.as_str(), i as u32)).collect();
    let mut events: Vec<Event> = vec![];
    for e in store.all_events()? {
        let pair = (user_of.get(e.user.as_str()).copied(), data.item_index.get(&e.product).copied());
        if let (Some(u), Some(i)) = pair {
            if held.contains(&(u, i)) {
                continue;
            }
        }
        events.push(e);
    }
    let behavior = Behavior::from_events(&events);

    // one case: (user, target, history known before it) -> the query-only and history-only ranks, and the
    // blended ranker's candidates (scored later with each blend tried)
    let none = HashMap::new();
    let prepare = |u: u32, target: u32, history: &[u32]| -> Case {
        let user = data.users[u as usize].as_str();
        let known: HashSet<String> = history.iter().map(|&i| data.items[i as usize].clone()).collect();
        let target_id = data.items[target as usize].clone();
        let title = catalog.get(&target_id).map(|p| p.title.clone()).unwrap_or_default();
        let q = query_for(&title);
        let words: Vec<String> = crate::chat::query::understand(&q).words;
        let req = SearchRequest {
            text: words.join(" "),
            semantic_text: Some(q.clone()),
            mode: Mode::Hybrid,
            limit: 60,
            ..Default::default()
        };
        let hits: Vec<_> = search
            .search(&req, &catalog, |id| behavior.popularity(id))
            .unwrap_or_default()
            .into_iter()
            .filter(|h| h.keyword.is_some() || h.semantic.is_some_and(|s| s.score >= MIN_SEMANTIC_ONLY))
            .collect();
        let r = Ranker { catalog: &catalog, behavior: &behavior, blend: QUERY_ONLY, personal: &none };
        let alone = r.rank(&hits, &words, None, Limits::default(), 60, |_| vec![]);
        let query_rank = rank_in(&alone, &known, &target_id);
        let score = served.blend(Some(user), history, None).score;
        let history_rank = rank_of(&score, target, history);
        let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        let personal = served.personal(Some(user), history, &ids);
        let r = Ranker { catalog: &catalog, behavior: &behavior, blend: Blend::default(), personal: &personal };
        let picks = r.candidates(&hits, &words, Some(user), Limits::default(), |_| vec![]);
        Case { picks, known, target: target_id, query_rank, history_rank }
    };
    let blended = |c: &Case, blend: Blend| -> Option<usize> {
        let r = Ranker { catalog: &catalog, behavior: &behavior, blend, personal: &none };
        rank_in(&r.order(c.picks.clone(), 60), &c.known, &c.target)
    };

    eprintln!("validation: {} cases, {} blends tried...", split.valid.len(), GRID.len());
    let valid: Vec<Case> = split
        .valid
        .iter()
        .map(|&(u, item)| {
            let h = &split.train.histories[u as usize];
            prepare(u, item, &h[..split.train.held[u as usize].unwrap_or(h.len())])
        })
        .collect();
    let ndcg = |cases: &[Case], blend: Blend| {
        let mut m = Metrics::default();
        for c in cases {
            m.add(blended(c, blend));
        }
        m.ndcg
    };
    let shipped = Blend::default();
    let mut tried: Vec<(f64, Blend)> = GRID.iter().map(|&b| (ndcg(&valid, b), b)).collect();
    tried.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (n, b) in tried.iter().take(5) {
        eprintln!("  validation NDCG@10 {n:.4}: {}", describe(b));
    }
    let best = tried[0].1;
    println!(
        "Validation ({} cases) NDCG@10: query only {:.4}; the chat's blend ({}) {:.4}; best of {} blends ({}) {:.4}",
        valid.len(),
        ndcg(&valid, QUERY_ONLY),
        describe(&shipped),
        ndcg(&valid, shipped),
        GRID.len(),
        describe(&best),
        tried[0].0
    );

    let mut rng = super::Rng(9);
    let mut test = split.test.clone();
    rng.shuffle(&mut test);
    test.truncate(max_cases);
    // ablation: the chat's popularity weight without anything of this shopper's history
    let shop_wide = Blend { popularity: shipped.popularity, ..QUERY_ONLY };
    let mut ms = [Metrics::default(); 5];
    for &(u, item) in &test {
        let c = prepare(u, item, &split.train.histories[u as usize]);
        let ranks = [c.query_rank, c.history_rank, blended(&c, shipped), blended(&c, best), blended(&c, shop_wide)];
        for (m, r) in ms.iter_mut().zip(ranks) {
            m.add(r);
        }
    }
    println!("{} test cases", ms[0].cases);
    for (name, m) in [
        "query only (chat ranker, relevance alone)".to_string(),
        "history only (recommender, no query)".to_string(),
        format!("blended, the chat's weights ({})", describe(&shipped)),
        format!("blended, best on validation ({})", describe(&best)),
        format!("ablation: query + popularity only, no shopper history ({})", describe(&shop_wide)),
    ]
    .iter()
    .zip(ms)
    {
        println!("  {name:<70} NDCG@10 {:.4}  Recall@10 {:.4}", m.ndcg, m.recall);
    }
    Ok(())
}
