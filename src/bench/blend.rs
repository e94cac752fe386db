//! `aisle bench blend`: does blending what the shopper says with what they did beat either alone?
//!
//! For each shopper's held-out last new product (the `aisle eval` split), the shopper "types" a query derived from
//! the product's name: its last two words, lower-cased (the head of the name, e.g. "WHITE HANGING HEART T-LIGHT
//! HOLDER" → "t-light holder"; a one-word name is used whole). Three rankings, NDCG@10 and Recall@10, products
//! the shopper bought before left out of every list:
//! - query only: the chat's hybrid search and ranker with relevance alone;
//! - history only: the recommender's personal blend over the whole catalog (no query);
//! - blended: the chat's ranker as it runs in a turn (relevance, co-purchase history, popularity, and the
//!   recommender's personal score with weight w).
//!
//! The model, item-kNN and co-purchase tables are built without the test and validation products. w is chosen on
//! the validation products (the product before the test one, for a seeded sample of shoppers), then applied once
//! to the test cases.
use crate::behavior::Behavior;
use crate::catalog::Catalog;
use crate::chat::MIN_SEMANTIC_ONLY;
use crate::config::Config;
use crate::reco::data::{Dataset, Split};
use crate::reco::model::{rank_of, Hyper, Metrics, Model};
use crate::reco::serve::Served;
use crate::recommend::{Blend, Limits, Ranker};
use crate::search::{Mode, Search, SearchRequest, Synonyms};
use crate::store::{Event, Store};
use std::collections::{HashMap, HashSet};

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
    for v in store.events.iter().values() {
        let e: Event = serde_json::from_slice(&v?)?;
        let pair = (user_of.get(e.user.as_str()).copied(), data.item_index.get(&e.product).copied());
        if let (Some(u), Some(i)) = pair {
            if held.contains(&(u, i)) {
                continue;
            }
        }
        events.push(e);
    }
    let behavior = Behavior::from_events(&events);

    // one case: (user, target, history known before it)
    let case = |u: u32, target: u32, history: &[u32], w: f32| -> [Option<usize>; 3] {
        let user = data.users[u as usize].as_str();
        let known: HashSet<&str> = history.iter().map(|&i| data.items[i as usize].as_str()).collect();
        let target_id = data.items[target as usize].as_str();
        let title = catalog.get(target_id).map(|p| p.title.clone()).unwrap_or_default();
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
        let rank_in =
            |ids: Vec<String>| ids.iter().filter(|id| !known.contains(id.as_str())).position(|id| id == target_id);
        let none = HashMap::new();
        let only_query = Blend { relevance: 1.0, history: 0.0, popularity: 0.0, bought_before: 0.0, personal: 0.0 };
        let r = Ranker { catalog: &catalog, behavior: &behavior, blend: only_query, personal: &none };
        let q_rank = rank_in(
            r.rank(&hits, &words, None, Limits::default(), 60, |_| vec![]).into_iter().map(|p| p.product.id).collect(),
        );
        let (_, _, score, _) = served.blend(Some(user), history, None);
        let h_rank = rank_of(&score, target, history);
        let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        let personal = served.personal(Some(user), history, &ids);
        let r = Ranker {
            catalog: &catalog,
            behavior: &behavior,
            blend: Blend { personal: w, ..Blend::default() },
            personal: &personal,
        };
        let b_rank = rank_in(
            r.rank(&hits, &words, Some(user), Limits::default(), 60, |_| vec![])
                .into_iter()
                .map(|p| p.product.id)
                .collect(),
        );
        [q_rank, h_rank, b_rank]
    };

    let mut best = (f64::MIN, 0.0f32);
    for w in [0.0f32, 0.05, 0.1, 0.2, 0.4, 0.8] {
        let mut m = Metrics::default();
        for &(u, item) in split.valid.iter().take(400) {
            let h = &split.train.histories[u as usize];
            let before = &h[..split.train.held[u as usize].unwrap_or(h.len())];
            m.add(case(u, item, before, w)[2]);
        }
        eprintln!("  validation: personal weight {w}: NDCG@10 {:.4}", m.ndcg);
        if m.ndcg > best.0 {
            best = (m.ndcg, w);
        }
    }
    let w = best.1;
    let mut rng = super::Rng(9);
    let mut test = split.test.clone();
    rng.shuffle(&mut test);
    test.truncate(max_cases);
    let mut ms = [Metrics::default(); 3];
    for &(u, item) in &test {
        let ranks = case(u, item, &split.train.histories[u as usize], w);
        for (m, r) in ms.iter_mut().zip(ranks) {
            m.add(r);
        }
    }
    println!(
        "{} test cases; personal weight w = {w} (chosen on {} validation cases; the chat's default is {})",
        ms[0].cases,
        split.valid.len().min(400),
        crate::recommend::PERSONAL_WEIGHT
    );
    for (name, m) in [
        "query only (chat ranker, relevance alone)",
        "history only (recommender, no query)",
        "blended (chat ranker + personal score)",
    ]
    .iter()
    .zip(ms)
    {
        println!("  {name:<44} NDCG@10 {:.4}  Recall@10 {:.4}", m.ndcg, m.recall);
    }
    Ok(())
}
