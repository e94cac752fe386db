//! Import: the generic format a shop can produce (products and events as CSV or JSONL, optionally gzipped)
//! and adapters that turn the demo data sets into it. Bad rows are reported with their line numbers and skipped.
pub mod amazon_toys;
pub mod columns;
pub mod feeds;
pub mod generic;
pub mod jobs;
pub mod merchant;
pub mod online_retail;
pub mod shopify;

pub use columns::ColumnMap;

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
    /// A file that imported no row, or more bad rows than good ones: nothing was written.
    #[error("{path}: {message}")]
    Rejected { path: String, message: String },
    #[error("--map {0:?}: {1}")]
    Mapping(String, String),
}

/// A row that could not be imported, with its 1-based line number in the source file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

/// What an import read and wrote.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
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

/// The physical line of each byte of a file read through [`open_counted`]: the CSV reader counts records, and a
/// quoted field may hold line breaks, so its own line numbers drift from what an editor shows.
#[derive(Clone, Default)]
pub struct LineIndex(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);

impl LineIndex {
    /// The 1-based line of the record starting at byte `offset` (after a `\r\n` the CSV reader starts the next
    /// record at the `\n`, which still ends the line before).
    pub fn line_of(&self, offset: u64) -> u64 {
        let breaks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        1 + breaks.partition_point(|&b| b <= offset) as u64
    }
}

struct Counting<R> {
    inner: R,
    pos: u64,
    breaks: LineIndex,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.0.lock().unwrap_or_else(|e| e.into_inner());
        breaks.extend(buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| self.pos + i as u64));
        self.pos += n as u64;
        Ok(n)
    }
}

/// Opens a file like [`open`], with the index that turns a record's byte offset into its line.
pub fn open_counted(path: &Path) -> Result<(Box<dyn BufRead>, LineIndex), ImportError> {
    let breaks = LineIndex::default();
    let inner = open(path)?;
    let counting = Counting { inner, pos: 0, breaks: breaks.clone() };
    Ok((Box::new(BufReader::with_capacity(1 << 16, counting)), breaks))
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
                status: vec![],
                requests: vec![],
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
    // a re-import keeps what the shop reported and the shopper asked since
    for o in orders.values_mut() {
        if let Some(old) = store.order(&o.id)? {
            o.status = old.status;
            o.requests = old.requests;
        }
    }
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
    /// A Shopify product CSV export.
    pub shopify: Option<std::path::PathBuf>,
    /// A Google Merchant Center feed (TSV, or XML by its name).
    pub merchant: Option<std::path::PathBuf>,
    /// The shop's currency (ISO 4217): a feed's price in another is a bad row. Empty: not checked.
    pub currency: String,
    /// The shop's own column names.
    pub columns: ColumnMap,
    /// Import the good rows of a file even when most of its rows are bad.
    pub keep_going: bool,
}

/// Refuses a file that imported nothing, or (unless `keep_going`) more bad rows than good ones, before anything
/// is written: a file of the wrong shape must not half-replace a catalog.
fn accept(path: &Path, good: usize, bad: &[BadRow], keep_going: bool) -> Result<(), ImportError> {
    let first =
        |n: usize| bad.iter().take(n).map(|b| format!("\n  line {}: {}", b.line, b.message)).collect::<String>();
    let message = if good == 0 && bad.is_empty() {
        "the file has no rows".to_string()
    } else if good == 0 {
        format!("no row could be imported ({} bad rows); the first:{}", bad.len(), first(3))
    } else if bad.len() > good && !keep_going {
        format!(
            "most rows are bad ({} bad, {good} good), so nothing was written; the first:{}\n\
             Fix the file, or give --keep-going to import the good rows",
            bad.len(),
            first(3)
        )
    } else {
        return Ok(());
    };
    Err(ImportError::Rejected { path: path.display().to_string(), message })
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
    let batch = read(sources, &mut report)?;
    write(&store, &search, &batch, &mut report)?;
    store.put_setting("last_import", &report)?;
    derive_tables(data_dir, &store)?;
    Ok(report)
}

/// Builds the behaviour and recommender tables from the imported events and saves them (see [`crate::derived`]),
/// so the next start loads them instead of reading every event.
fn derive_tables(data_dir: &Path, store: &Store) -> Result<(), ImportError> {
    let bar = crate::progress::progress(2, "tables");
    let (stamp, events) = (store.stamp()?, crate::derived::Events::new(store));
    crate::behavior::Live::open(data_dir, stamp, &events)?;
    bar.set_position(1);
    crate::reco::serve::Recommender::open_with(data_dir, store, stamp, &events)?;
    bar.finish_and_clear();
    Ok(())
}

/// Imports into a running shop: the same reading and checks as [`run`], written into its open store and index,
/// then every product into the running catalog at once (searchable, with vectors when the shop embeds; the
/// chat's vocabulary follows the catalog's version).
pub fn run_live(
    store: &Store,
    search: &Search,
    catalog: &Catalog,
    sources: &Sources,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let batch = read(sources, &mut report)?;
    write(store, search, &batch, &mut report)?;
    catalog.upsert_all(batch.products);
    store.put_setting("last_import", &report)?;
    Ok(report)
}

/// Reads every source into one batch, refusing a file that imports nothing or mostly bad rows.
fn read(sources: &Sources, report: &mut ImportReport) -> Result<Batch, ImportError> {
    let mut batch = Batch::default();
    if let Some(p) = &sources.online_retail {
        batch = online_retail::read(p, report)?;
    }
    if let Some(p) = &sources.products {
        let (before, mut bad) = (batch.products.len(), vec![]);
        generic::read_products(p, &sources.columns, &mut batch, &mut bad)?;
        accept(p, batch.products.len() - before, &bad, sources.keep_going)?;
        report.bad_rows.extend(bad);
    }
    if let Some(p) = &sources.shopify {
        let (before, bad_before, skipped_before) = (batch.products.len(), report.bad_rows.len(), report.skipped);
        shopify::read(p, &mut batch, report)?;
        // drafts skipped by rule are not bad rows
        let good = batch.products.len() - before + report.skipped - skipped_before;
        accept(p, good, &report.bad_rows[bad_before..], sources.keep_going)?;
    }
    if let Some(p) = &sources.merchant {
        let (before, mut bad) = (batch.products.len(), vec![]);
        merchant::read(p, &sources.currency, &mut batch, &mut bad)?;
        accept(p, batch.products.len() - before, &bad, sources.keep_going)?;
        report.bad_rows.extend(bad);
    }
    if let Some(p) = &sources.events {
        let (before, mut bad) = (batch.events.len(), vec![]);
        generic::read_events(p, &sources.columns, &mut batch, &mut bad)?;
        accept(p, batch.events.len() - before, &bad, sources.keep_going)?;
        report.bad_rows.extend(bad);
    }
    Ok(batch)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_imports_nothing_or_mostly_bad_rows_writes_nothing_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.csv");
        std::fs::write(&file, "product_id,name,price\n1,Kite,cheap\n2,Mug,free\n3,Ball,1.50\n").unwrap();
        let store = dir.path().join("store");
        let sources = Sources { products: Some(file.clone()), ..Default::default() };
        let err = run(&store, &sources, None).unwrap_err().to_string();
        assert!(err.contains("most rows are bad (2 bad, 1 good)") && err.contains("line 2"), "{err}");
        assert!(err.contains("--keep-going"), "{err}");
        assert_eq!(Store::open(&store).unwrap().product_count(), 0, "nothing was written");
        let report = run(&store, &Sources { keep_going: true, ..sources }, None).unwrap();
        assert_eq!((report.products, report.bad_rows.len()), (1, 2));

        std::fs::write(&file, "product_id,name\n").unwrap();
        let empty = Sources { products: Some(file), ..Default::default() };
        assert!(run(&store, &empty, None).unwrap_err().to_string().contains("no rows"));
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shop").join(name)
    }

    #[test]
    fn a_shopify_export_imports_each_variant_as_a_product_of_its_family() {
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources { shopify: Some(fixture("shopify_products_export.csv")), ..Default::default() };
        let report = run(dir.path(), &sources, None).unwrap();
        assert_eq!((report.products, report.skipped), (5, 1), "the draft is skipped by rule: {report:?}");
        assert_eq!(report.bad_rows.len(), 1, "{:?}", report.bad_rows);
        assert_eq!(report.bad_rows[0].line, 7, "the teacup's bad price, on its own line");
        assert!(report.bad_rows[0].message.contains("two pounds"));
        let store = Store::open(dir.path()).unwrap();
        let red = store.product("SH-85099B").unwrap().unwrap();
        assert_eq!(red.title, "Jumbo Storage Bag - Red Retrospot");
        assert_eq!((red.family.as_str(), red.attributes["design"].as_str()), ("jumbo-storage-bag", "Red Retrospot"));
        assert_eq!(red.url, "/products/jumbo-storage-bag");
        assert!(red.images[0].ends_with("jumbo-bag-red.jpg") && red.images[1].ends_with("jumbo-bag-all.jpg"));
        assert_eq!(red.description, "A roomy jumbo bag for toys, laundry & picnics. Holds up to 10kg.");
        assert_eq!(red.category, "Home & Garden > Household Supplies > Storage & Organization");
        assert_eq!(red.gtin, "5012345678900");
        let pink = store.product("SH-22386").unwrap().unwrap();
        assert_eq!((pink.stock, pink.images[0].ends_with("jumbo-bag-pink.jpg")), (Some(0), true));
        let strawberry = store.product("SH-22385").unwrap().unwrap();
        assert_eq!((strawberry.price, strawberry.compare_at_price), (Some(1.95), Some(2.08)));
        let heart = store.product("SH-85123A").unwrap().unwrap();
        assert_eq!(heart.title, "White Hanging Heart T-Light Holder", "a single default variant keeps the title");
        assert!(heart.attributes.is_empty());
        assert!(store.product("SH-22910").unwrap().is_none(), "a draft is not imported");
    }

    #[test]
    fn a_merchant_feed_imports_from_tab_separated_text_and_from_xml_alike() {
        for name in ["merchant_feed.tsv", "merchant_feed.xml"] {
            let dir = tempfile::tempdir().unwrap();
            let sources = Sources { merchant: Some(fixture(name)), currency: "GBP".into(), ..Default::default() };
            let report = run(dir.path(), &sources, None).unwrap();
            assert_eq!(report.products, 4, "{name}: {report:?}");
            assert_eq!(report.bad_rows.len(), 1, "{name}: {:?}", report.bad_rows);
            assert!(report.bad_rows[0].message.contains("USD"), "{name}: {:?}", report.bad_rows);
            let store = Store::open(dir.path()).unwrap();
            let small = store.product("MC-84879-S").unwrap().unwrap();
            assert_eq!((small.price, small.compare_at_price), (Some(1.49), Some(1.69)), "{name}: the sale price");
            assert_eq!(small.images.len(), 3, "{name}");
            assert_eq!((small.family.as_str(), small.attributes["size"].as_str()), ("MC-84879", "Small"));
            assert_eq!(store.product("MC-84879-L").unwrap().unwrap().stock, Some(0), "{name}: out_of_stock");
            let stand = store.product("MC-22423").unwrap().unwrap();
            assert_eq!((stand.category.as_str(), stand.gtin.as_str()), ("Kitchen > Cake stands", "5012345678924"));
            assert_eq!(stand.description, "Three tier cake stand in bone china with a regency rose design.");
        }
        let dir = tempfile::tempdir().unwrap();
        let xml =
            Sources { merchant: Some(fixture("merchant_feed.xml")), currency: "GBP".into(), ..Default::default() };
        run(dir.path(), &xml, None).unwrap();
        let cases = Store::open(dir.path()).unwrap().product("MC-21212").unwrap().unwrap();
        assert_eq!(cases.title, "Pack of 72 Retrospot Cake Cases & Picks", "an entity in XML text");
    }
}
