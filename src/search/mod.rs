//! Product search: keyword (tantivy) and semantic (embeddings) retrieval under the same filters, fused by
//! reciprocal rank fusion, with per-result details saying which side matched and how well. The chat, the
//! `/api/search` route and `aisle search` all call [`Search::search`].
pub mod cjk;
pub mod keyword;
pub mod vector;

use crate::catalog::{Catalog, Product};
use crate::embed::{Embedder, Role};
use crate::store::{Store, StoreError};
use keyword::KeywordIndex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use vector::{AnnState, VectorIndex};
mod request;
pub use request::*;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Dir(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embeddings: {0}")]
    Embed(String),
}

pub struct Search {
    pub keyword: KeywordIndex,
    vectors: RwLock<VectorIndex>,
    embedder: Option<Arc<Embedder>>,
    pub synonyms: Synonyms,
    pub fusion: Fusion,
}

impl Search {
    /// Opens both sides. Without an embedder, searches are keyword-only.
    pub fn open(
        dir: &Path,
        store: &Store,
        embedder: Option<Arc<Embedder>>,
        synonyms: Synonyms,
    ) -> Result<Self, SearchError> {
        let keyword = KeywordIndex::open(dir)?;
        if keyword.num_docs() != store.product_count() as u64 {
            // a new or rebuilt index (another layout), or one that missed changes: the store is the truth
            let products = store.products()?;
            tracing::info!(products = products.len(), "re-indexing the catalog for keyword search");
            keyword.reindex(&products)?;
        }
        let vectors = match &embedder {
            Some(e) => {
                let (idx, usable) = VectorIndex::load(store, &e.model_id, e.dim)?;
                if !usable {
                    // stored vectors of another model (or none yet): start over, never mix
                    VectorIndex::reset_store(store, &e.model_id)?;
                }
                idx
            }
            None => VectorIndex::default(),
        };
        Ok(Self { keyword, vectors: RwLock::new(vectors), embedder, synonyms, fusion: Fusion::default() })
    }

    pub fn semantic_enabled(&self) -> bool {
        self.embedder.is_some()
    }

    /// Embeds the products that have no vector from the current model (all of them after a model change).
    pub fn ensure_vectors(&self, store: &Store, products: &[Arc<Product>]) -> Result<usize, SearchError> {
        if self.embedder.is_none() {
            return Ok(0);
        }
        let missing: Vec<&Product> = {
            let v = self.vectors.read().unwrap_or_else(|e| e.into_inner());
            products.iter().map(|p| p.as_ref()).filter(|p| !v.contains(&p.id)).collect()
        };
        self.embed_products(store, &missing)?;
        Ok(missing.len())
    }

    fn embed_products(&self, store: &Store, products: &[&Product]) -> Result<(), SearchError> {
        let Some(e) = &self.embedder else { return Ok(()) };
        if products.is_empty() {
            return Ok(());
        }
        let bar = crate::progress::progress(products.len() as u64, "embeddings");
        for chunk in products.chunks(64) {
            let texts = chunk.iter().map(|p| product_text(p)).collect();
            let vecs = e.embed_blocking(texts, Role::Passage).map_err(|err| SearchError::Embed(err.to_string()))?;
            let mut v = self.vectors.write().unwrap_or_else(|e| e.into_inner());
            for (p, vec) in chunk.iter().zip(vecs) {
                VectorIndex::persist(store, &p.id, &vec)?;
                v.insert(p.id.clone(), &vec);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        store.flush_vectors()?;
        Ok(())
    }

    /// Searches a catalog of at least `min` vectors through the HNSW graph saved in `dir` (built and saved when
    /// missing, made by another model, or out of date); smaller ones exactly.
    pub fn ensure_ann(&self, dir: &Path, min: usize) -> Result<AnnState, SearchError> {
        let mut v = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        if v.len() >= min && !v.has_ann() {
            tracing::info!(vectors = v.len(), "loading or building the vector graph");
        }
        Ok(v.ensure_ann(&dir.join("vectors.ann"), min)?)
    }

    /// Adds or replaces products on both sides.
    pub fn upsert(&self, store: &Store, products: &[Product]) -> Result<(), SearchError> {
        self.keyword.upsert(products)?;
        self.embed_products(store, &products.iter().collect::<Vec<_>>())
    }

    /// Removes products from both sides.
    pub fn delete(&self, store: &Store, ids: &[&str]) -> Result<(), SearchError> {
        self.keyword.delete(ids)?;
        let mut v = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            v.remove(id);
            store.remove_vector(id)?;
        }
        Ok(())
    }

    /// Runs a search (blocking: call from `spawn_blocking` in async code).
    pub fn search(
        &self,
        req: &SearchRequest,
        catalog: &Catalog,
        popularity: impl Fn(&str) -> u32,
    ) -> Result<Vec<Hit>, SearchError> {
        let semantic_text = req.semantic_text.as_deref().unwrap_or(&req.text).trim().to_string();
        let want_semantic = req.mode != Mode::Keyword && !semantic_text.is_empty();
        // ask for the query vector first: the embedding thread works while the keyword side runs here
        let pending = match (&self.embedder, want_semantic) {
            (Some(e), true) => {
                Some(e.submit(vec![semantic_text], Role::Query).map_err(|err| SearchError::Embed(err.to_string()))?)
            }
            _ => None,
        };
        let keyword = self.keyword_side(req)?;
        let query_vector = match pending {
            Some(rx) => {
                let q = rx.blocking_recv().map_err(|_| SearchError::Embed("embedding thread stopped".into()))?;
                q.map_err(SearchError::Embed)?.pop()
            }
            None => None,
        };
        Ok(self.finish(req, keyword, query_vector.as_deref(), catalog, popularity))
    }

    /// The same search with the query vector already computed (benchmarks embed queries in batches).
    pub fn search_with_vector(
        &self,
        req: &SearchRequest,
        query_vector: Option<&[f32]>,
        catalog: &Catalog,
    ) -> Result<Vec<Hit>, SearchError> {
        let keyword = self.keyword_side(req)?;
        Ok(self.finish(req, keyword, query_vector, catalog, |_| 0))
    }

    fn keyword_side(&self, req: &SearchRequest) -> Result<Vec<(String, f32)>, SearchError> {
        if req.mode == Mode::Semantic {
            return Ok(vec![]);
        }
        self.keyword.search(&req.text, &req.filters, &self.synonyms, self.fusion.depth.max(req.limit))
    }

    fn finish(
        &self,
        req: &SearchRequest,
        keyword: Vec<(String, f32)>,
        query_vector: Option<&[f32]>,
        catalog: &Catalog,
        popularity: impl Fn(&str) -> u32,
    ) -> Vec<Hit> {
        let semantic = match (query_vector, req.mode) {
            (Some(q), Mode::Semantic | Mode::Hybrid) => {
                let v = self.vectors.read().unwrap_or_else(|e| e.into_inner());
                let depth = self.fusion.depth.max(req.limit);
                if req.filters == Filters::default() {
                    v.search(q, depth, |_| true)
                } else {
                    v.search(q, depth, |id| catalog.get(id).is_some_and(|p| req.filters.allows(&p)))
                }
            }
            _ => vec![],
        };
        let mut hits = self.fuse(&keyword, &semantic, req.mode);
        match req.sort {
            Sort::Relevance => {}
            Sort::PriceAsc | Sort::PriceDesc => {
                let price = |h: &Hit| catalog.get(&h.id).and_then(|p| p.price).unwrap_or(f64::MAX);
                hits.sort_by(|a, b| price(a).total_cmp(&price(b)));
                if req.sort == Sort::PriceDesc {
                    hits.reverse();
                }
            }
            Sort::Popularity => hits.sort_by_key(|h| std::cmp::Reverse(popularity(&h.id))),
            Sort::Rating => {
                let rating = |h: &Hit| catalog.get(&h.id).and_then(|p| p.rating).unwrap_or(f32::MIN);
                hits.sort_by(|a, b| rating(b).total_cmp(&rating(a)));
            }
        }
        hits.truncate(req.limit.max(1));
        hits
    }

    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_deref()
    }

    /// Embeds texts with the search's model (None without one).
    pub fn embed(&self, texts: Vec<String>, role: Role) -> Result<Option<Vec<Vec<f32>>>, SearchError> {
        match &self.embedder {
            Some(e) => e.embed_blocking(texts, role).map(Some).map_err(|err| SearchError::Embed(err.to_string())),
            None => Ok(None),
        }
    }

    /// Adds vectors made elsewhere (the 100k-product benchmark builds them from real products' vectors).
    pub fn insert_vectors(&self, vectors: impl IntoIterator<Item = (String, Vec<f32>)>) {
        let mut v = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (id, vec) in vectors {
            if vec.len() == v.dim {
                v.insert(id, &vec);
            } else {
                tracing::warn!(id, len = vec.len(), dim = v.dim, "vector of another size left out");
            }
        }
    }

    /// The exact semantic top `k` (the graph's reference).
    pub fn exact_vector_search(&self, query: &[f32], k: usize) -> Vec<(String, f32)> {
        self.vectors.read().unwrap_or_else(|e| e.into_inner()).exact(query, k, |_| true)
    }

    /// Builds the graph over the current vectors whatever their number (benchmarks), not saved.
    pub fn build_ann(&self) {
        self.vectors.write().unwrap_or_else(|e| e.into_inner()).build_ann();
    }

    pub fn vector_of(&self, id: &str) -> Option<Vec<f32>> {
        self.vectors.read().unwrap_or_else(|e| e.into_inner()).get(id).map(<[f32]>::to_vec)
    }

    /// Reciprocal rank fusion: each side adds weight / (k + rank).
    fn fuse(&self, keyword: &[(String, f32)], semantic: &[(String, f32)], mode: Mode) -> Vec<Hit> {
        let mut by_id: HashMap<&str, Hit> = HashMap::new();
        let k = self.fusion.rrf_k;
        for (side, list, weight) in [(0, keyword, 1.0), (1, semantic, self.fusion.semantic_weight)] {
            for (i, (id, score)) in list.iter().enumerate() {
                let part = Part { rank: i + 1, score: *score };
                let h = by_id.entry(id).or_insert_with(|| Hit {
                    id: id.clone(),
                    score: 0.0,
                    keyword: None,
                    semantic: None,
                });
                if side == 0 {
                    h.keyword = Some(part);
                } else {
                    h.semantic = Some(part);
                }
                h.score += match mode {
                    Mode::Hybrid => weight / (k + (i + 1) as f32),
                    _ => *score,
                };
            }
        }
        let mut hits: Vec<Hit> = by_id.into_values().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_group_both_ways_and_ignore_comments() {
        let s = Synonyms::parse("# family\nmum, mom, mother\n\nfairy lights, string lights");
        assert_eq!(s.of("mom"), ["mum", "mother"]);
        assert_eq!(s.of("mother"), ["mum", "mom"]);
        assert!(s.of("dad").is_empty());
    }

    #[test]
    fn chinese_titles_are_found_by_words_inside_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = Search::open(dir.path(), &store, None, Synonyms::default()).unwrap();
        let product = |id: &str, title: &str| -> Product {
            serde_json::from_value(serde_json::json!({ "id": id, "title": title })).unwrap()
        };
        let products = vec![product("car", "儿童遥控赛车玩具，带充电电池"), product("bear", "毛绒泰迪熊 Teddy bear")];
        s.upsert(&store, &products).unwrap();
        let catalog = Catalog::new(products);
        let ids = |q: &str| -> Vec<String> {
            let req = SearchRequest { text: q.into(), mode: Mode::Keyword, ..SearchRequest::default() };
            s.search(&req, &catalog, |_| 0).unwrap().into_iter().map(|h| h.id).collect()
        };
        assert_eq!(ids("遥控赛车"), ["car"]); // remote-control racing car, inside a longer run of characters
        assert_eq!(ids("泰迪熊"), ["bear"]);
        assert_eq!(ids("teddy"), ["bear"]);
        assert!(ids("飞机").is_empty(), "aeroplane: no pair of it occurs");
    }

    #[test]
    fn fusion_rewards_results_found_by_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = Search::open(dir.path(), &store, None, Synonyms::default()).unwrap();
        let kw = vec![("a".to_string(), 9.0), ("b".to_string(), 8.0)];
        let se = vec![("b".to_string(), 0.9), ("c".to_string(), 0.8)];
        let hits = s.fuse(&kw, &se, Mode::Hybrid);
        assert_eq!(hits[0].id, "b");
        assert_eq!(hits[0].keyword.unwrap().rank, 2);
        assert_eq!(hits[0].semantic.unwrap().rank, 1);
    }
}
