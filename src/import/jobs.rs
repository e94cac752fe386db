//! Imports into the running shop: a file sent through the API or the staff page, or a feed fetched on its
//! schedule. One import runs at a time (the others wait their turn); each is a job whose stage and count a page
//! polls, ending in its report (bad rows with their lines) or the reason it was refused. A refused file writes
//! nothing; an accepted one becomes searchable at once, and the recommender's and chat's tables follow.
use super::feeds::{self, Feed};
use super::{ColumnMap, ImportError, ImportReport, Sources};
use crate::catalog::Catalog;
use crate::progress::{Stage, Watch};
use crate::search::Search;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The largest file an import takes (an upload or a fetched feed).
pub const MAX_IMPORT_BYTES: usize = 256 << 20;
/// Finished jobs remembered for the staff page.
const KEEP_JOBS: usize = 50;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The generic products file (CSV or JSONL).
    Products,
    /// The generic events file (CSV or JSONL).
    Events,
    /// A Shopify product CSV export.
    Shopify,
    /// A Google Merchant Center feed (tab-separated or RSS/Atom XML).
    Merchant,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, ImportError> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| ImportError::Format {
            path: "format".into(),
            message: format!("{s:?} is not one of products, events, shopify, merchant"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Products => "products",
            Format::Events => "events",
            Format::Shopify => "shopify",
            Format::Merchant => "merchant",
        }
    }

    /// The file name's extension the readers go by, told from the file's first bytes (gzip, JSON, XML).
    fn extension(self, head: &[u8]) -> &'static str {
        let gz = head.starts_with(&[0x1f, 0x8b]);
        let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
        match (self, first, gz) {
            (Format::Products | Format::Events, Some(b'{'), false) => "jsonl",
            (Format::Products | Format::Events | Format::Shopify, _, false) => "csv",
            (Format::Products | Format::Events | Format::Shopify, _, true) => "csv.gz",
            (Format::Merchant, Some(b'<'), false) => "xml",
            (Format::Merchant, _, false) => "tsv",
            (Format::Merchant, _, true) => "tsv.gz",
        }
    }
}

/// How to read one file.
#[derive(Debug, Clone)]
pub struct Request {
    pub format: Format,
    pub columns: ColumnMap,
    pub keep_going: bool,
    /// Where it came from, for the staff page and the log ("upload", a feed's name and address).
    pub source: String,
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Running,
    Done(ImportReport),
    Failed(String),
}

/// One import, from the moment it was asked for.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    source: String,
    format: Format,
    started: u64,
    watch: Arc<Watch>,
    state: Mutex<(State, Option<u64>)>,
}

/// A job as the API and the staff page show it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub source: String,
    pub format: Format,
    /// waiting, running, done or failed.
    pub state: &'static str,
    /// The stage and count while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ImportReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
}

impl Job {
    pub fn view(&self) -> JobView {
        let (state, finished) = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (name, stage, report, error) = match state {
            State::Waiting => ("waiting", None, None, None),
            State::Running => ("running", Some(self.watch.stage()), None, None),
            State::Done(r) => ("done", None, Some(r), None),
            State::Failed(e) => ("failed", None, None, Some(e)),
        };
        JobView {
            id: self.id.clone(),
            source: self.source.clone(),
            format: self.format,
            state: name,
            stage,
            report,
            error,
            started: self.started,
            finished,
        }
    }

    fn set(&self, state: State) {
        let finished = matches!(state, State::Done(_) | State::Failed(_)).then(crate::session::now);
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (state, finished);
    }
}

/// The shop's importer while it serves. Cloning is shallow.
#[derive(Clone)]
pub struct Importer {
    store: Store,
    search: Arc<Search>,
    catalog: Catalog,
    recommender: crate::reco::serve::Recommender,
    behavior: Arc<crate::behavior::Live>,
    /// Where uploaded and fetched files wait for their import.
    uploads: PathBuf,
    /// The shop's currency (a feed's price in another is a bad row).
    currency: String,
    /// Held while an import writes: one at a time.
    turn: Arc<Mutex<()>>,
    jobs: Arc<Mutex<VecDeque<Arc<Job>>>>,
}

impl Importer {
    pub fn new(
        store: Store,
        search: Arc<Search>,
        catalog: Catalog,
        recommender: crate::reco::serve::Recommender,
        behavior: Arc<crate::behavior::Live>,
        data_dir: &std::path::Path,
        currency: &str,
    ) -> Self {
        Importer {
            store,
            search,
            catalog,
            recommender,
            behavior,
            uploads: data_dir.join("uploads"),
            currency: currency.to_string(),
            turn: Default::default(),
            jobs: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps a file's bytes in the uploads folder until its import; its path.
    pub fn save(&self, format: Format, body: &[u8]) -> Result<PathBuf, ImportError> {
        let path =
            self.uploads.join(format!("{}.{}", uuid::Uuid::new_v4(), format.extension(&body[..body.len().min(512)])));
        let io = |source| ImportError::Open { path: path.display().to_string(), source };
        std::fs::create_dir_all(&self.uploads).map_err(io)?;
        std::fs::write(&path, body).map_err(io)?;
        Ok(path)
    }

    /// Imports a saved file now (after any import already going), then removes it.
    pub fn run(&self, req: &Request, file: PathBuf) -> Result<ImportReport, ImportError> {
        let result = self.in_turn(req, &file, || {});
        if let Ok(report) = &result {
            tracing::info!(source = %req.source, summary = %report.summary(), "imported while serving");
        }
        result
    }

    /// Imports `file` once no other import runs (`started` is called then), and removes the file afterwards.
    fn in_turn(
        &self,
        req: &Request,
        file: &std::path::Path,
        started: impl FnOnce(),
    ) -> Result<ImportReport, ImportError> {
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        started();
        let result = self.import(req, file);
        let _ = std::fs::remove_file(file);
        result
    }

    fn import(&self, req: &Request, file: &std::path::Path) -> Result<ImportReport, ImportError> {
        let mut sources = Sources {
            currency: self.currency.clone(),
            columns: req.columns.clone(),
            keep_going: req.keep_going,
            ..Default::default()
        };
        let file = Some(file.to_path_buf());
        match req.format {
            Format::Products => sources.products = file,
            Format::Events => sources.events = file,
            Format::Shopify => sources.shopify = file,
            Format::Merchant => sources.merchant = file,
        }
        let report = super::run_live(&self.store, &self.search, &self.catalog, &sources)?;
        // the recommender's item set and the behaviour tables follow at their next check
        self.recommender.catalog_changed();
        if report.events > 0 {
            self.recommender.behaviour_changed();
            self.behavior.imported();
        }
        Ok(report)
    }

    /// Starts importing a saved file in the background: the job to poll.
    pub fn start(&self, req: Request, file: PathBuf) -> Arc<Job> {
        self.start_with(req, move |_| Ok(file))
    }

    /// Fetches a feed and imports it in the background; its last run is recorded on the feed.
    pub fn start_feed(&self, feed: &Feed) -> Result<Arc<Job>, ImportError> {
        let req = Request {
            format: feed.format,
            columns: ColumnMap::parse(&feed.map)?,
            keep_going: feed.keep_going,
            source: format!("feed {} ({})", feed.name, feed.url),
        };
        let (url, uploads, format) = (feed.url.clone(), self.uploads.clone(), feed.format);
        let job = self.start_with(req, move |watch| {
            let dest = uploads.join(format!("{}.download", uuid::Uuid::new_v4()));
            let head = crate::progress::watched(watch, || feeds::fetch(&url, &dest, MAX_IMPORT_BYTES as u64))?;
            let file = dest.with_extension(format.extension(&head));
            std::fs::rename(&dest, &file)
                .map_err(|source| ImportError::Open { path: file.display().to_string(), source })?;
            Ok(file)
        });
        feeds::ran(&self.store, &feed.name, &job.id)?;
        Ok(job)
    }

    fn start_with(
        &self,
        req: Request,
        file: impl FnOnce(Arc<Watch>) -> Result<PathBuf, ImportError> + Send + 'static,
    ) -> Arc<Job> {
        let job = Arc::new(Job {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            source: req.source.clone(),
            format: req.format,
            started: crate::session::now(),
            watch: Default::default(),
            state: Mutex::new((State::Waiting, None)),
        });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.push_front(job.clone());
            jobs.truncate(KEEP_JOBS);
        }
        let (this, j) = (self.clone(), job.clone());
        let work = move || {
            let result = file(j.watch.clone()).and_then(|file| {
                crate::progress::watched(j.watch.clone(), || this.in_turn(&req, &file, || j.set(State::Running)))
            });
            match result {
                Ok(report) => {
                    tracing::info!(job = %j.id, source = %j.source, summary = %report.summary(), "import done");
                    j.set(State::Done(report));
                }
                Err(e) => {
                    tracing::warn!(job = %j.id, source = %j.source, error = %e, "import refused or failed");
                    j.set(State::Failed(e.to_string()));
                }
            }
        };
        if let Err(e) = std::thread::Builder::new().name("import".into()).spawn(work) {
            job.set(State::Failed(format!("could not start the import: {e}")));
        }
        job
    }

    /// The jobs, newest first.
    pub fn jobs(&self) -> Vec<JobView> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|j| j.view()).collect()
    }

    pub fn job(&self, id: &str) -> Option<JobView> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|j| j.id == id).map(|j| j.view())
    }

    /// Starts every feed whose time has come. Returns how many started.
    pub fn run_due_feeds(&self, now: u64) -> Result<usize, ImportError> {
        let mut started = 0;
        for feed in feeds::list(&self.store)?.into_iter().filter(|f| f.due(now)) {
            let job = self.start_feed(&feed)?;
            tracing::info!(feed = %feed.name, job = %job.id, "feed fetched on its schedule");
            started += 1;
        }
        Ok(started)
    }

    /// Waits (at most `limit`) for the import going now to finish, for a clean shutdown.
    pub fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if self.turn.try_lock().is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_for_its_reader_by_its_first_bytes() {
        assert_eq!(Format::Products.extension(b"  {\"id\":1}"), "jsonl");
        assert_eq!(Format::Products.extension(b"id,title\n"), "csv");
        assert_eq!(Format::Merchant.extension(b"<?xml version"), "xml");
        assert_eq!(Format::Merchant.extension(b"id\ttitle"), "tsv");
        assert_eq!(Format::Shopify.extension(&[0x1f, 0x8b, 8, 0]), "csv.gz");
        assert!(Format::parse("excel").unwrap_err().to_string().contains("not one of products"));
        assert_eq!(Format::parse("merchant").unwrap(), Format::Merchant);
    }
}
