//! The served recommender: the current model hot-swapped when a new one is installed, shoppers forgotten on
//! request, and training + installing a model file. The tables built from the events are saved between starts
//! (see [`crate::derived`]).
use super::*;
use crate::derived::{self, Kind};
use crate::reco::neural::NeuralModel;
use crate::store::Stamp;

const SAVED: Kind = Kind { name: "recommender", format: 2 };

/// The served recommender: the current [`Served`] behind a lock, swapped whole when a new model is installed.
#[derive(Clone)]
pub struct Recommender {
    data_dir: PathBuf,
    dir: PathBuf,
    current: Arc<RwLock<Arc<Served>>>,
    /// The model file name now served ("" when none).
    loaded: Arc<RwLock<String>>,
    /// What changed in the store since the served tables were built.
    changes: Arc<std::sync::Mutex<Changes>>,
    /// Held by a swap from reading the store to swapping in: a swap after a deletion (see
    /// [`Recommender::forget`]) is never overtaken by one that read the store before it.
    building: Arc<std::sync::Mutex<()>>,
    /// Other installed model versions an experiment serves, by version, each over the current tables.
    others: Arc<std::sync::Mutex<HashMap<u64, Arc<Served>>>>,
}

/// Changes since the last build: the catalog's are served at the next check (a new product is recommendable
/// within seconds); behaviour's at most every [`BEHAVIOUR_REFRESH`] (events come all the time, a rebuild reads
/// them all).
struct Changes {
    catalog: bool,
    behaviour: bool,
    built: std::time::Instant,
    /// The store's stamp when the served tables were built (a model swap reuses them while it holds).
    stamp: Stamp,
}

/// The shortest time between two rebuilds for new behaviour alone.
pub const BEHAVIOUR_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// Where models live: `DATA_DIR/recommender/model-<version>.bin`, and `current` names the installed one.
pub fn model_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("recommender")
}

pub(super) fn installed(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("current")).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Per product: (buyers, buyers with more than one order of it).
pub(super) fn repeat_buyers(events: &[(crate::store::Event, u64)]) -> HashMap<String, (u32, u32)> {
    let mut orders: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
    for (e, _) in events.iter().filter(|(e, _)| e.kind == crate::store::EventKind::Purchase) {
        let order = e.order.as_deref().unwrap_or(&e.timestamp);
        orders.entry((&e.product, &e.user)).or_default().insert(order);
    }
    let mut out: HashMap<String, (u32, u32)> = HashMap::new();
    for ((product, _), o) in orders {
        let r = out.entry(product.to_string()).or_default();
        r.0 += 1;
        r.1 += u32::from(o.len() > 1);
    }
    out
}

/// The installed model, if any (a broken model file is reported and skipped: recommendations then come from
/// item-kNN and popularity), the sequential model beside it, if any, and the model's file name ("" when none).
pub(super) fn installed_model(dir: &Path) -> (Option<Model>, Option<NeuralModel>, String) {
    let name = installed(dir).unwrap_or_default();
    if name.is_empty() {
        return (None, None, name);
    }
    match Model::load(&dir.join(&name)) {
        Ok(m) => {
            let s = sequential_beside(dir, &m);
            (Some(m), s, name)
        }
        Err(e) => {
            tracing::error!(error = %e, "recommender model not loaded; serving item-kNN and popularity");
            (None, None, name)
        }
    }
}

/// The sequential model file trained with model version `version`.
pub fn sequential_file(dir: &Path, version: u64) -> PathBuf {
    dir.join(format!("sequential-{version}.bin"))
}

/// The sequential model trained with `model`, when there is one (a broken file is reported and skipped: the blend
/// goes on without it).
fn sequential_beside(dir: &Path, model: &Model) -> Option<NeuralModel> {
    let path = sequential_file(dir, model.version());
    if !path.exists() {
        return None;
    }
    NeuralModel::load(&path)
        .map_err(|e| tracing::error!(error = %e, "sequential model not loaded; serving the blend without it"))
        .ok()
}

/// Builds the tables from every event (one pass serves both the interaction data and the repeat-purchase counts).
fn build_tables(store: &Store, events: &[(crate::store::Event, u64)]) -> Result<Tables, StoreError> {
    let repeats = repeat_buyers(events);
    Ok(Tables::build(Dataset::from_events(store, events)?, &repeats))
}

impl Recommender {
    /// Opens the served tables (saved, or built from the store) with the installed model, if any.
    pub fn open(data_dir: &Path, store: &Store) -> Result<Self, StoreError> {
        Self::open_with(data_dir, store, store.stamp()?, &derived::Events::new(store))
    }

    /// Like [`Recommender::open`], with the store's stamp and events shared with the other tables built at start:
    /// the tables saved under `data_dir` when the store has not changed since, else built from the events and saved.
    pub fn open_with(
        data_dir: &Path,
        store: &Store,
        stamp: Stamp,
        events: &derived::Events,
    ) -> Result<Self, StoreError> {
        let (tables, pending) = derived::load_or_build(data_dir, &SAVED, stamp, || build_tables(store, events.get()?))?;
        let dir = model_dir(data_dir);
        let (model, sequential, name) = installed_model(&dir);
        // changes the previous server had not folded in are rebuilt at the first check
        let changes = Changes { catalog: pending, behaviour: false, built: std::time::Instant::now(), stamp };
        let served = Served::new(Arc::new(tables), model).with_sequential(sequential);
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            dir,
            current: Arc::new(RwLock::new(Arc::new(served))),
            loaded: Arc::new(RwLock::new(name)),
            changes: Arc::new(std::sync::Mutex::new(changes)),
            building: Arc::default(),
            others: Arc::default(),
        })
    }

    /// Swaps in the installed model with tables that are as fresh as the store: the served ones while the store is
    /// unchanged since they were built (a model swap alone reads no event), else rebuilt and saved.
    fn swap(&self, store: &Store, rebuild: bool) -> Result<usize, StoreError> {
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = store.stamp()?;
        let built = self.changes.lock().unwrap_or_else(|e| e.into_inner()).stamp;
        let tables = if rebuild || built != stamp {
            let tables = Arc::new(build_tables(store, &store.events_with_rows()?)?);
            derived::save_built(&self.data_dir, &SAVED, store, stamp, &*tables)?;
            self.changes.lock().unwrap_or_else(|e| e.into_inner()).stamp = stamp;
            tables
        } else {
            self.current().tables.clone()
        };
        let items = tables.data.items.len();
        let (model, sequential, name) = installed_model(&self.dir);
        let served = Served::new(tables, model).with_sequential(sequential);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(served);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = name;
        Ok(items)
    }

    /// Saves the served tables with the store's stamp for the next start (at shutdown). Changes not folded in yet
    /// are marked pending, so that start folds them in at its first check.
    pub fn save(&self, store: &Store) -> std::io::Result<()> {
        let stamp = store.stamp().map_err(std::io::Error::other)?;
        let pending = {
            let c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
            c.catalog || c.behaviour || c.stamp != stamp
        };
        derived::write(&self.data_dir, &SAVED, stamp, pending, &*self.current().tables)
    }

    pub fn current(&self) -> Arc<Served> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The blend with another model version from the model folder (`model-<version>.bin`, an experiment's
    /// variant) over the current tables: loaded once, kept until the tables change or a shopper is forgotten.
    /// The installed version is the current one itself.
    pub fn with_version(&self, version: u64) -> Result<Arc<Served>, crate::reco::RecoError> {
        let current = self.current();
        if current.model.as_ref().is_some_and(|m| m.version() == version) {
            return Ok(current);
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = others.get(&version).filter(|s| Arc::ptr_eq(&s.tables, &current.tables)) {
            return Ok(s.clone());
        }
        let model = Model::load(&self.dir.join(format!("model-{version}.bin")))?;
        let sequential = sequential_beside(&self.dir, &model);
        let served = Arc::new(Served::new(current.tables.clone(), Some(model)).with_sequential(sequential));
        others.insert(version, served.clone());
        Ok(served)
    }

    /// The installed model's version, if one is served.
    pub fn version(&self) -> Option<u64> {
        self.current().model.as_ref().map(Model::version)
    }

    /// Whether a sequential model is served beside the model (in the blend at its weight, and ranking the
    /// new-product places).
    pub fn serves_sequential(&self) -> bool {
        let c = self.current();
        c.sequential.is_some() && c.model.is_some()
    }

    /// Products were added, changed or removed: the served item set follows at the next check.
    pub fn catalog_changed(&self) {
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).catalog = true;
    }

    /// Purchases or other behaviour arrived: the item-kNN and popularity tables follow (see [`BEHAVIOUR_REFRESH`]).
    pub fn behaviour_changed(&self) {
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).behaviour = true;
    }

    /// Swaps in a newly installed model (and fresh behaviour tables) when `current` names a different file, and
    /// rebuilds the served tables from the store after catalog or behaviour changes. Requests keep being served
    /// from the old tables until the new ones are ready. Returns true when it swapped.
    pub fn reload_if_changed(&self, store: &Store) -> Result<bool, StoreError> {
        let name = installed(&self.dir).unwrap_or_default();
        let model_changed = *self.loaded.read().unwrap_or_else(|e| e.into_inner()) != name;
        let data_changed = {
            let mut c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
            let due = c.catalog || (c.behaviour && c.built.elapsed() >= BEHAVIOUR_REFRESH);
            if due || model_changed {
                // changes arriving while this build reads the store set the flags again
                (c.catalog, c.behaviour, c.built) = (false, false, std::time::Instant::now());
            }
            due
        };
        if !model_changed && !data_changed {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let items = self.swap(store, data_changed)?;
        tracing::info!(items, ms = started.elapsed().as_millis() as u64, model_changed, "recommender tables rebuilt");
        Ok(true)
    }

    /// Stops using shoppers whose data was deleted from the store: every model file in the directory is rewritten
    /// without them, then the served tables are rebuilt from the store. Returns how many model files knew them.
    /// `data_changed`: events were removed, so the served tables are rebuilt even when no model knew the shoppers.
    pub fn forget(&self, store: &Store, users: &[String], data_changed: bool) -> Result<usize, crate::reco::RecoError> {
        // the other versions an experiment served are read again from their rewritten files
        self.others.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut rewritten = 0;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "bin")) {
                let name = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
                if name.starts_with("sequential-") {
                    // it holds no shopper's vector, only how many products each had when it was trained
                    let mut m = NeuralModel::load(&path)?;
                    if users.iter().fold(false, |k, u| m.forget_user(u) | k) {
                        let v = m.version();
                        m.save(&path, v)?;
                        rewritten += 1;
                    }
                    continue;
                }
                let mut m = Model::load(&path)?;
                let known = users.iter().fold(false, |k, u| m.forget_user(u) | k);
                if known {
                    let v = m.version();
                    m.save(&path, v)?;
                    rewritten += 1;
                }
            }
        }
        if rewritten > 0 || data_changed {
            self.swap(store, true)?;
        }
        Ok(rewritten)
    }

    /// The shopper's distinct products (oldest first) from the store, so a click a moment ago counts now.
    pub fn history(&self, store: &Store, user: &str) -> Result<Vec<u32>, StoreError> {
        let served = self.current();
        let mut seen = HashSet::new();
        let mut out = vec![];
        // keys are user, time, source: already in time order
        for e in store.user_events(user)?.into_iter().filter(|e| e.kind.shows_interest()) {
            if let Some(i) = served.index(&e.product) {
                if seen.insert(i) {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }
}
