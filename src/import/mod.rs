//! Import: the generic format a shop can produce (products and events as CSV or JSONL, optionally gzipped)
//! and adapters that turn the demo data sets into it. Bad rows are reported with their line numbers and skipped.
pub mod amazon_toys;
pub mod generic;
pub mod online_retail;

use crate::catalog::{Catalog, Product};
use crate::progress::progress;
use crate::search::{Search, Synonyms};
use crate::store::{Event, EventKind, Order, OrderLine, Store, StoreError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search index: {0}")]
    Index(String),
}

/// A row that could not be imported, with its 1-based line number in the source file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

/// What an import read and wrote.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub products: usize,
    pub events: usize,
    pub orders: usize,
    /// Rows skipped on purpose (e.g. cancellations, non-product codes), not errors.
    pub skipped: usize,
    pub bad_rows: Vec<BadRow>,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        format!(
            "{} products, {} events, {} orders, {} rows skipped by rule, {} bad rows",
            self.products,
            self.events,
            self.orders,
            self.skipped,
            self.bad_rows.len()
        )
    }
}

/// Records read from a source, ready to write.
#[derive(Debug, Default)]
pub struct Batch {
    pub products: Vec<Product>,
    /// Each event with a source key that stays the same on a re-import (idempotency).
    pub events: Vec<(Event, String)>,
}

/// Opens a file, transparently gunzipping `*.gz`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, ImportError> {
    let file =
        std::fs::File::open(path).map_err(|source| ImportError::Open { path: path.display().to_string(), source })?;
    let read: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, read)))
}

/// Writes a batch: products into sled and the index, events into sled, and orders derived from purchases.
/// Writing the same batch twice leaves the same state (keys come from the source).
pub fn write(store: &Store, search: &Search, batch: &Batch, report: &mut ImportReport) -> Result<(), ImportError> {
    let bar = progress(batch.products.len() as u64, "products");
    for chunk in batch.products.chunks(1024) {
        store.put_products(chunk)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    // keyword index and, when an embedding model is loaded, product vectors (with their own progress bar)
    search.upsert(store, &batch.products).map_err(|e| ImportError::Index(e.to_string()))?;
    report.products += batch.products.len();

    let bar = progress(batch.events.len() as u64, "events");
    let mut orders: BTreeMap<&str, Order> = BTreeMap::new();
    let titles: std::collections::HashMap<&str, &str> =
        batch.products.iter().map(|p| (p.id.as_str(), p.title.as_str())).collect();
    for (i, (e, key)) in batch.events.iter().enumerate() {
        store.put_events([(e, key.as_str())])?;
        if let (EventKind::Purchase, Some(order)) = (e.kind, &e.order) {
            let o = orders.entry(order).or_insert_with(|| Order {
                id: order.clone(),
                customer: e.user.clone(),
                timestamp: e.timestamp.clone(),
                lines: vec![],
            });
            o.lines.push(OrderLine {
                product: e.product.clone(),
                title: titles.get(e.product.as_str()).map(|t| t.to_string()).unwrap_or_default(),
                quantity: e.quantity,
                price: e.price,
            });
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    report.events += batch.events.len();
    store.put_orders(orders.values())?;
    report.orders += orders.len();
    store.flush()?;
    Ok(())
}

/// Adds or replaces one product everywhere it lives: the store (flushed, so it is acknowledged only once on disk),
/// the search index (keywords and vector) and the running catalog. Returns whether it existed before.
pub fn put_product(store: &Store, search: &Search, catalog: &Catalog, p: Product) -> Result<bool, ImportError> {
    let existed = catalog.get(&p.id).is_some();
    store.put_products([&p])?;
    search.upsert(store, std::slice::from_ref(&p)).map_err(|e| ImportError::Index(e.to_string()))?;
    store.flush()?;
    catalog.upsert(p);
    Ok(existed)
}

/// Removes one product from the store, the search index and the running catalog. Returns whether it existed.
pub fn remove_product(store: &Store, search: &Search, catalog: &Catalog, id: &str) -> Result<bool, ImportError> {
    let existed = store.remove_product(id)? | catalog.get(id).is_some();
    search.delete(store, &[id]).map_err(|e| ImportError::Index(e.to_string()))?;
    store.flush()?;
    catalog.remove(id);
    Ok(existed)
}

/// Where an import reads from.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Generic products file (CSV or JSONL, optionally .gz).
    pub products: Option<std::path::PathBuf>,
    /// Generic events file (CSV or JSONL, optionally .gz).
    pub events: Option<std::path::PathBuf>,
    /// A raw UCI Online Retail file (the demo shop).
    pub online_retail: Option<std::path::PathBuf>,
}

/// Imports into the store and index under `data_dir`, embedding products when `embedder` is given.
/// Safe to repeat: the same sources give the same state.
pub fn run(
    data_dir: &Path,
    sources: &Sources,
    embedder: Option<std::sync::Arc<crate::embed::Embedder>>,
) -> Result<ImportReport, ImportError> {
    let store = Store::open(data_dir)?;
    let search =
        Search::open(data_dir, &store, embedder, Synonyms::default()).map_err(|e| ImportError::Index(e.to_string()))?;
    let mut report = ImportReport::default();
    let mut batch = Batch::default();
    if let Some(p) = &sources.online_retail {
        batch = online_retail::read(p, &mut report)?;
    }
    if let Some(p) = &sources.products {
        generic::read_products(p, &mut batch, &mut report.bad_rows)?;
    }
    if let Some(p) = &sources.events {
        generic::read_events(p, &mut batch, &mut report.bad_rows)?;
    }
    write(&store, &search, &batch, &mut report)?;
    store.put_setting("last_import", &report)?;
    Ok(report)
}

/// Imports the demo shop when the store has no products yet; returns the report when it did.
pub fn demo_if_empty(
    data_dir: &Path,
    online_retail: &Path,
    embedder: Option<std::sync::Arc<crate::embed::Embedder>>,
) -> Result<Option<ImportReport>, ImportError> {
    {
        let store = Store::open(data_dir)?;
        if store.product_count() > 0 {
            return Ok(None);
        }
    }
    run(data_dir, &Sources { online_retail: Some(online_retail.into()), ..Default::default() }, embedder).map(Some)
}
