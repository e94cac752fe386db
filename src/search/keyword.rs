//! The keyword side (tantivy): English-stemmed words and CJK character pairs (`cjk.rs`) over title (weighted
//! most), category/brand/tags/attribute values and description/reviews; fuzzy matches for longer words; synonyms
//! from the shop's file; filters on price, rating, category, brand, attributes and availability as index queries.
//! Returns ids and BM25 scores; product facts stay in the catalog.
use super::{Filters, SearchError, Synonyms};
use crate::catalog::Product;
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Facet, FacetOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    body: Field,
    facets: Field,
    price: Field,
    category: Field,
    brand: Field,
    available: Field,
    rating: Field,
    /// `key=value` of each attribute, lower-cased, for exact filters.
    attribute: Field,
}

pub struct KeywordIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(super::cjk::NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        facets: b.add_text_field("facets", text),
        price: b.add_f64_field("price", NumericOptions::default().set_indexed().set_fast()),
        category: b.add_facet_field("category", FacetOptions::default()),
        brand: b.add_text_field("brand", STRING),
        available: b.add_u64_field("available", NumericOptions::default().set_indexed()),
        rating: b.add_f64_field("rating", NumericOptions::default().set_indexed().set_fast()),
        attribute: b.add_text_field("attribute", STRING),
    };
    (b.build(), fields)
}

/// Opens the tantivy index in `path` (created when absent) with Aisle's text analyzer registered (tokenizers are
/// not saved with an index). An index made with another schema (an older Aisle) is started over, empty: its
/// owner refills it from the store, where the products and transcripts live.
pub fn open_index<E>(path: &Path, schema: Schema) -> Result<Index, E>
where
    E: From<tantivy::TantivyError> + From<tantivy::directory::error::OpenDirectoryError> + From<std::io::Error>,
{
    let mmap = tantivy::directory::MmapDirectory::open(path)?;
    let index = match Index::open_or_create(mmap, schema.clone()) {
        Ok(index) => index,
        Err(tantivy::TantivyError::SchemaError(message)) => {
            tracing::warn!(%message, path = %path.display(), "index of another layout: rebuilding it");
            std::fs::remove_dir_all(path)?;
            std::fs::create_dir_all(path)?;
            Index::create_in_dir(path, schema)?
        }
        Err(e) => return Err(e.into()),
    };
    index.tokenizers().register(super::cjk::NAME, super::cjk::analyzer());
    Ok(index)
}

/// "Hobbies > Model Trains" -> the facet `/Hobbies/Model Trains`.
pub fn category_facet(path: &str) -> Option<Facet> {
    let parts: Vec<&str> = path.split('>').map(str::trim).filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| Facet::from_path(parts))
}

impl KeywordIndex {
    /// Opens the index under `dir/index`, creating it when absent.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let path = dir.join("index");
        std::fs::create_dir_all(&path)?;
        let (schema, fields) = schema();
        let index = open_index::<SearchError>(&path, schema)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer_with_num_threads(1, 32_000_000)?;
        let analyzer = super::cjk::analyzer();
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
    pub fn upsert(&self, products: &[Product]) -> Result<(), SearchError> {
        let f = self.fields;
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for p in products {
            w.delete_term(Term::from_field_text(f.id, &p.id));
            // attribute values in words ("wooden", "red") are searchable; yes/no answers and values with numbers
            // ("3 years and up", "1:72") mean little without their key and are left to the filters (indexed,
            // they cost the toys known-item search 1% MRR@10)
            let values: Vec<&str> = p
                .attributes
                .values()
                .map(String::as_str)
                .filter(|v| !v.chars().any(|c| c.is_ascii_digit()))
                .filter(|v| !["yes", "no", "true", "false"].contains(&v.trim().to_lowercase().as_str()))
                .collect();
            let facets =
                format!("{} {} {} {}", p.category.replace('>', " "), p.brand, p.tags.join(" "), values.join(" "));
            let body = format!("{}\n{}", p.description, p.reviews);
            let available = u64::from(p.stock.is_none_or(|s| s > 0));
            let mut d = doc!(f.id => p.id.clone(), f.title => p.title.clone(), f.body => body, f.facets => facets,
                f.available => available);
            if let Some(price) = p.price {
                d.add_f64(f.price, price);
            }
            if let Some(c) = category_facet(&p.category) {
                d.add_facet(f.category, c);
            }
            if !p.brand.is_empty() {
                d.add_text(f.brand, p.brand.to_lowercase());
            }
            if let Some(r) = p.rating {
                d.add_f64(f.rating, f64::from(r));
            }
            for (k, v) in &p.attributes {
                d.add_text(f.attribute, super::attribute_term(k, v));
            }
            w.add_document(d)?;
        }
        w.commit()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the whole index with `products` and commits.
    pub fn reindex(&self, products: &[Product]) -> Result<(), SearchError> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).delete_all_documents()?;
        self.upsert(products)
    }

    /// Removes products by id and commits.
    pub fn delete(&self, ids: &[&str]) -> Result<(), SearchError> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
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

    fn filter_clauses(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![];
        if filters.max_price.is_some() || filters.min_price.is_some() {
            let lo = filters.min_price.map_or(Bound::Unbounded, |p| Bound::Included(Term::from_field_f64(f.price, p)));
            let hi = filters.max_price.map_or(Bound::Unbounded, |p| Bound::Included(Term::from_field_f64(f.price, p)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        if let Some(c) = filters.category.as_deref().and_then(category_facet) {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_facet(f.category, &c), IndexRecordOption::Basic)),
            ));
        }
        if let Some(b) = &filters.brand {
            let t = Term::from_field_text(f.brand, &b.to_lowercase());
            clauses.push((Occur::Must, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
        }
        if let Some(r) = filters.min_rating {
            let lo = Bound::Included(Term::from_field_f64(f.rating, f64::from(r)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, Bound::Unbounded))));
        }
        for (k, v) in &filters.attributes {
            let t = Term::from_field_text(f.attribute, &super::attribute_term(k, v));
            clauses.push((Occur::Must, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
        }
        if filters.in_stock {
            let t = Term::from_field_u64(f.available, 1);
            clauses.push((Occur::Must, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
        }
        clauses
    }

    /// Products matching any of the words (title counts most; synonyms and near spellings count less),
    /// inside the filters, best first.
    pub fn search(
        &self,
        text: &str,
        filters: &Filters,
        synonyms: &Synonyms,
        limit: usize,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        let f = self.fields;
        let mut stems: Vec<(String, f32)> = vec![];
        let mut seen = HashSet::new();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            for s in self.analyze(word) {
                if seen.insert(s.clone()) {
                    stems.push((s, 1.0));
                }
            }
            for syn in synonyms.of(&word.to_lowercase()) {
                for s in self.analyze(syn) {
                    if seen.insert(s.clone()) {
                        stems.push((s, 0.7));
                    }
                }
            }
        }
        if stems.is_empty() {
            return Ok(vec![]);
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = vec![];
        for (stem, weight) in &stems {
            for (field, boost) in [(f.title, 3.0), (f.facets, 1.5), (f.body, 1.0)] {
                let tq = TermQuery::new(Term::from_field_text(field, stem), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost * weight))));
            }
            // typo tolerance on the title: one edit from 5 letters, two from 8
            let chars = stem.chars().count();
            if chars >= 5 {
                let distance = if chars >= 8 { 2 } else { 1 };
                let fq = FuzzyTermQuery::new(Term::from_field_text(f.title, stem), distance, true);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fq), 0.5 * weight))));
            }
        }
        let mut clauses = self.filter_clauses(filters);
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = doc.get_first(f.id).and_then(|v| v.as_str()) {
                hits.push((id.to_string(), score));
            }
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
