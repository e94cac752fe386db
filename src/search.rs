//! The product index (tantivy): stemmed English text over title, category, brand, tags and description, with a
//! price field for limits. It returns ids, scores and which query words matched; product facts stay in the catalog.
use crate::catalog::Product;
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Dir(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    body: Field,
    facets: Field,
    price: Field,
}

/// One search result: the product id and its relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

/// A search: free-text words, an optional price ceiling, how many results.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub words: Vec<String>,
    pub max_price: Option<f64>,
    pub min_price: Option<f64>,
    pub limit: usize,
}

pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        facets: b.add_text_field("facets", text),
        price: b.add_f64_field("price", NumericOptions::default().set_indexed().set_fast()),
    };
    (b.build(), fields)
}

impl SearchIndex {
    /// Opens the index under `dir/index`, creating it when absent.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let path = dir.join("index");
        std::fs::create_dir_all(&path)?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(&path)?;
        let index = Index::open_or_create(mmap, schema)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer_with_num_threads(1, 32_000_000)?;
        let analyzer = index.tokenizers().get("en_stem").expect("en_stem is a default tokenizer");
        Ok(Self { reader, writer: Mutex::new(writer), fields, analyzer })
    }

    /// Stemmed, lower-cased tokens of `text`, as the index sees them.
    pub fn analyze(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = vec![];
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// Adds or replaces products (by id) and commits.
    pub fn upsert_all(&self, products: &[Product]) -> Result<(), SearchError> {
        let f = self.fields;
        let mut w = self.writer.lock().expect("index writer lock");
        for p in products {
            w.delete_term(Term::from_field_text(f.id, &p.id));
            let facets = format!("{} {} {}", p.category, p.brand, p.tags.join(" "));
            let body = format!("{}\n{}", p.description, p.reviews);
            let mut d = doc!(f.id => p.id.clone(), f.title => p.title.clone(), f.body => body, f.facets => facets);
            if let Some(price) = p.price {
                d.add_f64(f.price, price);
            }
            w.add_document(d)?;
        }
        w.commit()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// Removes products by id and commits.
    pub fn delete(&self, ids: &[&str]) -> Result<(), SearchError> {
        let mut w = self.writer.lock().expect("index writer lock");
        for id in ids {
            w.delete_term(Term::from_field_text(self.fields.id, id));
        }
        w.commit()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Products whose text matches any of the words (title counts most), inside the price limits.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, SearchError> {
        let f = self.fields;
        let stems: HashSet<String> = q.words.iter().flat_map(|w| self.analyze(w)).collect();
        if stems.is_empty() {
            return Ok(vec![]);
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = vec![];
        for stem in &stems {
            for (field, boost) in [(f.title, 3.0), (f.facets, 1.5), (f.body, 1.0)] {
                let tq = TermQuery::new(Term::from_field_text(field, stem), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost))));
            }
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
        if q.max_price.is_some() || q.min_price.is_some() {
            let lo = q.min_price.map_or(Bound::Unbounded, |p| Bound::Included(Term::from_field_f64(f.price, p)));
            let hi = q.max_price.map_or(Bound::Unbounded, |p| Bound::Included(Term::from_field_f64(f.price, p)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(q.limit.max(1)).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            hits.push(Hit { id, score });
        }
        Ok(hits)
    }

    /// Which of the shopper's words a product's text contains (stem match), in the shopper's spelling.
    pub fn matched_words(&self, words: &[String], product: &Product) -> Vec<String> {
        let text: HashSet<String> = self
            .analyze(&format!("{} {} {}", product.title, product.category, product.tags.join(" ")))
            .into_iter()
            .collect();
        words
            .iter()
            .filter(|w| {
                let stems = self.analyze(w);
                !stems.is_empty() && stems.iter().all(|s| text.contains(s))
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, title: &str, price: f64) -> Product {
        Product {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            category: String::new(),
            brand: String::new(),
            price: Some(price),
            stock: None,
            rating: None,
            reviews: String::new(),
            tags: vec![],
        }
    }

    fn index_with(products: &[Product]) -> (tempfile::TempDir, SearchIndex) {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open(dir.path()).unwrap();
        idx.upsert_all(products).unwrap();
        (dir, idx)
    }

    #[test]
    fn plural_words_find_singular_titles_within_the_price_limit() {
        let (_d, idx) = index_with(&[
            product("1", "White Hanging Heart T-Light Holder", 2.55),
            product("2", "Large Heart Mirror", 25.0),
            product("3", "Red Retrospot Bag", 1.65),
        ]);
        let hits = idx
            .search(&SearchQuery {
                words: vec!["hearts".into()],
                max_price: Some(10.0),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["1"]);
    }

    #[test]
    fn an_updated_product_replaces_the_old_one_and_a_deleted_one_disappears() {
        let (_d, idx) = index_with(&[product("1", "Blue Kite", 5.0)]);
        idx.upsert_all(&[product("1", "Green Kite", 5.0)]).unwrap();
        assert_eq!(idx.num_docs(), 1);
        let q = |w: &str| SearchQuery { words: vec![w.into()], limit: 5, ..Default::default() };
        assert!(idx.search(&q("blue")).unwrap().is_empty());
        assert_eq!(idx.search(&q("green")).unwrap().len(), 1);
        idx.delete(&["1"]).unwrap();
        assert!(idx.search(&q("kite")).unwrap().is_empty());
    }

    #[test]
    fn matched_words_are_reported_in_the_shoppers_spelling() {
        let (_d, idx) = index_with(&[]);
        let p = product("1", "White Hanging Heart T-Light Holder", 2.55);
        assert_eq!(idx.matched_words(&["hearts".into(), "mum".into()], &p), vec!["hearts".to_string()]);
    }
}
