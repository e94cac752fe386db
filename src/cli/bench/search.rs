//! `aisle bench search-quality` and `aisle bench search-speed`.
//!
//! Quality: known-item retrieval on the Amazon toys catalog. Each customer review (title and text) is a real
//! shopper describing a product; reviews are removed from the indexed text, and the review must find its own
//! product. MRR@10 and Recall@10 for keyword only, semantic only and hybrid, over the same queries.
//!
//! Speed: index throughput and query latency (p50/p99, the query's embedding included) at the demo catalog's
//! size and at 100k products made by recombining real product texts.
use super::{percentile, Rng};
use crate::app::start_embedder;
use crate::catalog::{Catalog, Product};
use crate::config::Config;
use crate::embed::Role;
use crate::search::{Filters, Mode, Search, SearchRequest, Synonyms};
use crate::store::Store;
use std::path::Path;
use std::time::Instant;

use super::TempDir;

pub(super) fn read_products(path: &Path) -> anyhow::Result<Vec<Product>> {
    let mut batch = crate::import::Batch::default();
    let mut bad = vec![];
    crate::import::generic::read_products(path, &Default::default(), &mut batch, &mut bad)?;
    anyhow::ensure!(bad.is_empty(), "{} bad rows in {}", bad.len(), path.display());
    Ok(batch.products)
}

pub(super) fn request(text: &str, mode: Mode) -> SearchRequest {
    SearchRequest { text: text.to_string(), mode, limit: 10, filters: Filters::default(), ..SearchRequest::default() }
}

pub async fn quality(cfg: &Config, toys: &Path, max_queries: usize) -> anyhow::Result<()> {
    let embedder = start_embedder(cfg).await?.ok_or_else(|| anyhow::anyhow!("the embedding model is needed"))?;
    let mut products = read_products(toys)?;
    // queries: every review of at least four words, with its product
    let mut queries: Vec<(String, String)> = vec![];
    for p in &products {
        for review in p.reviews.lines().filter(|r| r.split_whitespace().count() >= 4) {
            queries.push((review.to_string(), p.id.clone()));
        }
    }
    let all = queries.len();
    let mut rng = Rng(7);
    for i in (1..queries.len()).rev() {
        let j = rng.below(i + 1);
        queries.swap(i, j);
    }
    queries.truncate(max_queries);
    for p in &mut products {
        p.reviews.clear(); // the queries are reviews: they must not be in the indexed text
    }
    let dir = TempDir::new("quality")?;
    let n_products = products.len();
    let model = embedder.model_id.clone();
    let (lines, n) = tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<String>, usize)> {
        let store = Store::open(&dir.0)?;
        let search = Search::open(&dir.0, &store, Some(embedder), Synonyms::default())?;
        search.upsert(&store, &products)?;
        let catalog = Catalog::new(products);
        let texts: Vec<String> = queries.iter().map(|(q, _)| q.clone()).collect();
        let vectors = search.embed(texts, Role::Query)?.unwrap_or_default();
        let mut out = vec![];
        for (name, mode) in [("keyword", Mode::Keyword), ("semantic", Mode::Semantic), ("hybrid", Mode::Hybrid)] {
            let (mut rr, mut found) = (0.0, 0usize);
            for ((q, want), v) in queries.iter().zip(&vectors) {
                let hits = search.search_with_vector(&request(q, mode), Some(v), &catalog)?;
                if let Some(rank) = hits.iter().position(|h| h.id == *want) {
                    rr += 1.0 / (rank + 1) as f64;
                    found += 1;
                }
            }
            let n = queries.len().max(1) as f64;
            out.push(format!("{name:<10} {:>8.3} {:>10.3}", rr / n, found as f64 / n));
        }
        Ok((out, queries.len()))
    })
    .await??;
    println!("aisle bench search-quality: Amazon toys, {n_products} products, {n} review queries (seeded sample of {all} reviews with >= 4 words); embeddings: {model}");
    println!("protocol: reviews removed from the indexed text; a query is one review's title and text; the target is its own product");
    println!("{:<10} {:>8} {:>10}", "mode", "MRR@10", "Recall@10");
    for l in lines {
        println!("{l}");
    }
    println!(
        "fusion: reciprocal rank fusion, k = {}, semantic weight {}",
        cfg.search.rrf_k, cfg.search.semantic_weight
    );
    Ok(())
}

/// 100k products from real ones: the first half of one title, the second half of another, a third product's
/// description, the first one's price and category; the vector is the normalised sum of the two title sources'.
fn recombine(base: &[Product], n: usize) -> Vec<(Product, usize, usize)> {
    let mut rng = Rng(11);
    (0..n)
        .map(|i| {
            let (a, b, c) = (rng.below(base.len()), rng.below(base.len()), rng.below(base.len()));
            let wa: Vec<&str> = base[a].title.split_whitespace().collect();
            let wb: Vec<&str> = base[b].title.split_whitespace().collect();
            let title = [&wa[..wa.len().div_ceil(2)], &wb[wb.len() / 2..]].concat().join(" ");
            let p = Product {
                id: format!("syn{i}"),
                title,
                description: base[c].description.clone(),
                category: base[a].category.clone(),
                brand: base[b].brand.clone(),
                price: base[a].price,
                ..Default::default()
            };
            (p, a, b)
        })
        .collect()
}

/// Empties the query-vector cache: the next query is timed as one new to the process.
fn forget_queries(search: &Search) {
    if let Some(e) = search.embedder() {
        e.clear_cache();
    }
}

/// Latency p50/p99 of searching each query once; `seen`: each was searched just before (its vector cached),
/// otherwise each is new to the process (the query cache is emptied first).
fn latencies(
    search: &Search,
    catalog: &Catalog,
    queries: &[String],
    mode: Mode,
    seen: bool,
) -> anyhow::Result<(f64, f64)> {
    let mut ms = vec![];
    for q in queries {
        if seen {
            search.search(&request(q, mode), catalog, |_| 0)?;
        } else {
            forget_queries(search);
        }
        let t = Instant::now();
        search.search(&request(q, mode), catalog, |_| 0)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((percentile(&mut ms.clone(), 0.5), percentile(&mut ms, 0.99)))
}

pub async fn speed(cfg: &Config, demo: &Path, toys: &Path, large: usize) -> anyhow::Result<()> {
    let embedder = start_embedder(cfg).await?.ok_or_else(|| anyhow::anyhow!("the embedding model is needed"))?;
    let mut report = crate::import::ImportReport::default();
    let mut base = crate::import::online_retail::read(demo, &mut report)?.products;
    let toys = read_products(toys)?;
    let queries: Vec<String> = toys
        .iter()
        .flat_map(|p| p.reviews.lines().map(|r| r.split_whitespace().take(6).collect::<Vec<_>>().join(" ")))
        // shopper-like text: at least three words, none longer than 25 characters (a few reviews hold scraped
        // page code, "Airy.embed({\"installFlashButtonText\":...", whose 128 tokens take 70-85 ms to embed)
        .filter(|q| q.split_whitespace().count() >= 3 && q.split_whitespace().all(|w| w.chars().count() <= 25))
        .take(200)
        .collect();
    let dir = TempDir::new("speed")?;
    let threads = cfg.embed.threads;
    let lines = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let store = Store::open(&dir.0)?;
        let search = Search::open(&dir.0, &store, Some(embedder), Synonyms::default())?;
        let mut out = vec![];
        let t = Instant::now();
        search.keyword.upsert(&base)?;
        let kw_rate = base.len() as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        search.upsert(&store, &base)?;
        let both_rate = base.len() as f64 / t.elapsed().as_secs_f64();
        out.push(format!("index, demo catalog ({} products): keyword only {kw_rate:.0} products/s; keyword + embeddings ({threads} threads) {both_rate:.0} products/s", base.len()));
        let catalog = Catalog::new(base.clone());
        let qvecs = search.embed(queries.clone(), Role::Query)?.unwrap_or_default();
        // the query's embedding alone, one at a time as in a search
        let mut embed_ms = vec![];
        for q in &queries {
            forget_queries(&search);
            let t = Instant::now();
            search.embed(vec![q.clone()], Role::Query)?;
            embed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.push(format!(
            "query embedding alone ({threads} thread{}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            if threads == 1 { "" } else { "s" },
            percentile(&mut embed_ms.clone(), 0.5),
            percentile(&mut embed_ms.clone(), 0.99),
            embed_ms.iter().copied().fold(0.0, f64::max)
        ));
        let row = |label: &str, search: &Search, catalog: &Catalog| -> anyhow::Result<String> {
            let mut scan = vec![];
            for v in &qvecs {
                let t = Instant::now();
                search.search_with_vector(&request("", Mode::Semantic), Some(v), catalog)?;
                scan.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let scan = (percentile(&mut scan.clone(), 0.5), percentile(&mut scan, 0.99));
            let k = latencies(search, catalog, &queries, Mode::Keyword, false)?;
            let s = latencies(search, catalog, &queries, Mode::Semantic, false)?;
            let h = latencies(search, catalog, &queries, Mode::Hybrid, false)?;
            let seen = latencies(search, catalog, &queries, Mode::Hybrid, true)?;
            Ok(format!(
                "{label:<16} keyword {:>5.2}/{:>5.2}  semantic {:>5.2}/{:>5.2} (vector scan alone {:>5.2}/{:>5.2})  hybrid {:>5.2}/{:>5.2}  hybrid/keyword p99 {:.1}x; hybrid, query seen before {:>5.2}/{:>5.2} ({:.1}x)",
                k.0, k.1, s.0, s.1, scan.0, scan.1, h.0, h.1, h.1 / k.1.max(1e-9), seen.0, seen.1, seen.1 / k.1.max(1e-9)
            ))
        };
        out.push(row(&format!("{} products", base.len()), &search, &catalog)?);
        // the large catalog
        let synthetic = recombine(&base, large);
        let t = Instant::now();
        let products: Vec<Product> = synthetic.iter().map(|(p, _, _)| p.clone()).collect();
        search.keyword.upsert(&products)?;
        let kw_rate = products.len() as f64 / t.elapsed().as_secs_f64();
        let vectors: Vec<(String, Vec<f32>)> = synthetic
            .iter()
            .filter_map(|(p, a, b)| {
                let (va, vb) = (search.vector_of(&base[*a].id)?, search.vector_of(&base[*b].id)?);
                let sum: Vec<f32> = va.iter().zip(&vb).map(|(x, y)| x + y).collect();
                Some((p.id.clone(), crate::embed::normalise(&sum)))
            })
            .collect();
        search.insert_vectors(vectors);
        base.extend(products);
        let catalog = Catalog::new(base.clone());
        out.push(format!("index, {} products: keyword only {kw_rate:.0} products/s (one commit)", base.len()));
        out.push(row(&format!("{} exact", base.len()), &search, &catalog)?);
        // the same catalog through the HNSW graph, and its recall against the exact search
        let t = Instant::now();
        search.build_ann();
        let build = t.elapsed().as_secs_f64();
        let (mut found, mut found100, mut total) = (0, 0, 0);
        for v in &qvecs {
            let exact = search.exact_vector_search(v, 100);
            let req = SearchRequest { limit: 100, ..request("", Mode::Semantic) };
            let got = search.search_with_vector(&req, Some(v), &catalog)?;
            let top = |n: usize| got.iter().take(n).map(|h| h.id.as_str()).collect::<std::collections::HashSet<_>>();
            let (top10, top100) = (top(10), top(100));
            found += exact.iter().take(10).filter(|(id, _)| top10.contains(id.as_str())).count();
            found100 += exact.iter().filter(|(id, _)| top100.contains(id.as_str())).count();
            total += 1;
        }
        out.push(format!(
            "HNSW graph (instant-distance over the 8-bit codes, ef {}): built in {build:.1} s ({:.0} vectors/s); recall against exact: top 10 {:.3}, top 100 {:.3}",
            crate::search::vector::ANN_EF,
            base.len() as f64 / build,
            found as f64 / (10 * total) as f64,
            found100 as f64 / (100 * total) as f64
        ));
        out.push(row(&format!("{} HNSW", base.len()), &search, &catalog)?);
        Ok(out)
    })
    .await??;
    println!("aisle bench search-speed: {} queries (first six words of toy reviews, no word over 25 characters), one at a time; latency p50/p99 in ms, query embedding included", 200);
    for l in lines {
        println!("{l}");
    }
    println!("large catalog: recombined real products (half a title + half another, a third's description); vectors = normalised sum of the two title sources' vectors");
    Ok(())
}
