//! Builds every part into one [`Application`] (templates, engine, store, index, catalog, behaviour, router) and
//! runs it until stopped: on the stop signal every chat loop closes its socket and saves, then the engine thread
//! is joined and sled is flushed. Tests build the same application on port 0.
use crate::behavior;
use crate::catalog::Catalog;
use crate::chat::check::NameIndex;
use crate::chat::Assistant;
use crate::config::Config;
use crate::embed::Embedder;
use crate::http::{self, AppState};
use crate::llm::{GenParams, Generate, LlmError};
use crate::prompts::{TemplateError, Templates};
use crate::reco::serve::Recommender;
use crate::search::{Fusion, Search, SearchError, Synonyms};
use crate::session::Sessions;
use crate::store::{Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
mod housekeeping;
mod start;
pub use start::{start_embedder, start_embedder_with};
use start::{start_intents, start_model, start_sentiment};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("{0} (is another aisle process using this data directory?)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Transcripts(#[from] crate::transcripts::TranscriptIndexError),
    #[error(transparent)]
    Identity(#[from] crate::identity::SecretError),
    #[error(transparent)]
    Lang(#[from] crate::lang::LangError),
    #[error(transparent)]
    Phrases(#[from] crate::chat::PhrasesError),
    #[error("the alternative chat model {name:?} (llm.alternatives) did not start: {cause}")]
    Alternative { name: String, cause: String },
}

/// The name of the publishable key the demo store page embeds.
pub const DEMO_KEY_NAME: &str = "demo store page";

pub struct Application {
    listener: TcpListener,
    state: AppState,
    engine: Arc<dyn Generate>,
    store: Store,
    shutdown: watch::Sender<bool>,
}

/// The parts that read the data directory, shared by `serve` and the one-shot `chat` command.
pub struct Shop {
    pub store: Store,
    pub assistant: Assistant,
    pub engine: Arc<dyn Generate>,
    pub recommender: Recommender,
    /// The sentiment head (empty while it trains on a first start, or without an embedding model).
    pub sentiment: crate::sentiment::Slot,
}

impl Shop {
    /// Opens the shop with the configured model (llama.cpp in-process, or a server).
    pub async fn open(cfg: &Config) -> Result<Self, AppError> {
        let engine = start_model(cfg.llm.clone()).await?;
        let mut shop = Self::open_with(cfg, engine).await?;
        // the other chat models a chat experiment may speak with
        let mut models = std::collections::BTreeMap::new();
        for (name, alt) in &cfg.llm.alternatives {
            let m = start_model(cfg.llm.alternative(alt))
                .await
                .map_err(|e| AppError::Alternative { name: name.clone(), cause: e.to_string() })?;
            models.insert(name.clone(), m);
        }
        shop.assistant.models = Arc::new(models);
        Ok(shop)
    }

    /// Opens the shop around a given model (the tests' scripted one, for instance).
    pub async fn open_with(cfg: &Config, engine: Arc<dyn Generate>) -> Result<Self, AppError> {
        let prompts = Templates::load(&cfg.prompts_dir, false)?;
        let embedder = start_embedder(cfg).await?;
        let (p_dir, pol_dir, dict) = (cfg.prompts_dir.clone(), cfg.policies_dir.clone(), cfg.chat.dictionary.clone());
        let langs = Arc::new(
            tokio::task::spawn_blocking(move || crate::lang::Languages::load(&p_dir, &pol_dir, &dict)).await??,
        );
        let intents = match &embedder {
            Some(e) => start_intents(cfg, e.clone(), langs.clone()).await?,
            None => crate::intent::Slot::default(),
        };
        let sentiment = match &embedder {
            Some(e) => start_sentiment(cfg, e.clone(), langs.clone(), intents.clone()),
            None => crate::sentiment::Slot::default(),
        };
        let mut policies = crate::service::Policies::load(&cfg.policies_dir).map_err(SearchError::Io)?;
        if let Some(e) = &embedder {
            let e = e.clone();
            policies = tokio::task::spawn_blocking(move || policies.index(&e).map(|_| policies)).await??;
        }
        let policies = Arc::new(policies);
        let phrasebook = Arc::new(crate::chat::PhraseBook::load(&prompts, &langs.codes())?);
        let synonyms = Synonyms::load(&cfg.search.synonyms).map_err(SearchError::Io)?;
        let started = std::time::Instant::now();
        let c = cfg.clone();
        let Data { store, search, catalog, behavior, recommender } =
            tokio::task::spawn_blocking(move || Data::open(&c, embedder, synonyms)).await??;
        if catalog.is_empty() {
            tracing::warn!(dir = %cfg.data_dir.display(), "the catalog is empty: run `aisle import` or `aisle serve --demo`");
        }
        tracing::info!(
            products = catalog.len(),
            customers = behavior.get().customers(),
            ms = started.elapsed().as_millis() as u64,
            "shop loaded"
        );
        let names = Arc::new(NameIndex::new(catalog.snapshot().iter().map(|p| p.title.as_str())));
        let assistant = Assistant {
            catalog,
            behavior: Arc::new(behavior),
            search: Arc::new(search),
            intents,
            policies,
            store: store.clone(),
            recommender: recommender.clone(),
            llm: engine.clone(),
            prompts,
            names,
            shop_name: cfg.shop_name.clone(),
            cards: cfg.chat.cards,
            llm_intents: cfg.chat.llm_intent_fallback,
            reply_budget: (cfg.chat.reply_budget_secs > 0.0)
                .then(|| Duration::from_secs_f64(cfg.chat.reply_budget_secs)),
            gen: GenParams::from_config(&cfg.llm),
            vocab: Default::default(),
            reading: Default::default(),
            blend: Default::default(),
            models: Default::default(),
            phrases: phrasebook.get(crate::lang::DEFAULT),
            phrasebook,
            langs,
            model_languages: Arc::new(cfg.chat.model_languages.clone()),
            currency: cfg.chat.currency.clone(),
            rules: Arc::new(cfg.rules.clone()),
        };
        // every price is written in the shop's currency (one per process: the shop's)
        crate::catalog::set_shop_currency(&cfg.chat.currency);
        if let Err(e) = crate::money::set_shop_locale(&cfg.chat.locale) {
            tracing::warn!(error = %e, "prices are written the English way");
        }
        let vocab = assistant.vocab.get(&assistant.catalog);
        tracing::debug!(attributes = vocab.attributes(), "catalog vocabulary learned");
        Ok(Self { store, assistant, engine, recommender, sentiment })
    }
}

/// What the data directory holds, opened: the store, the search index, the catalog in memory, the behaviour and
/// recommender tables.
struct Data {
    store: Store,
    search: Search,
    catalog: Catalog,
    behavior: behavior::Live,
    recommender: Recommender,
}

impl Data {
    fn open(cfg: &Config, embedder: Option<Arc<Embedder>>, synonyms: Synonyms) -> Result<Self, AppError> {
        let dir = &cfg.data_dir;
        let store = Store::open(dir)?;
        let mut search = Search::open(dir, &store, embedder, synonyms)?;
        search.fusion =
            Fusion { rrf_k: cfg.search.rrf_k, semantic_weight: cfg.search.semantic_weight, ..Fusion::default() };
        let catalog = Catalog::new(store.products()?);
        // products imported without the embedding model (or with another one) get vectors now
        let embedded = search.ensure_vectors(&store, &catalog.snapshot())?;
        if embedded > 0 {
            tracing::info!(products = embedded, "embedded products that had no vector");
        }
        let ann = search.ensure_ann(dir, cfg.search.ann_min)?;
        tracing::debug!(?ann, "vector index");
        // the behaviour and recommender tables saved at the last stop, or built from the events read once
        let (stamp, events) = (store.stamp()?, crate::derived::Events::new(&store));
        let behavior = behavior::Live::open(dir, stamp, &events)?;
        let recommender = Recommender::open_with(dir, &store, stamp, &events)?;
        Ok(Self { store, search, catalog, behavior, recommender })
    }
}

impl Application {
    pub async fn build(cfg: Config) -> Result<Self, AppError> {
        let shop = Shop::open(&cfg).await?;
        Self::build_with(cfg, shop).await
    }

    /// Builds the server around an opened shop.
    pub async fn build_with(cfg: Config, shop: Shop) -> Result<Self, AppError> {
        let pages = Templates::load(&cfg.templates_dir, true)?;
        let listener =
            TcpListener::bind(cfg.listen).await.map_err(|source| AppError::Bind { addr: cfg.listen, source })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let demo_customers = shop.assistant.behavior.get().richest_customers(4);
        let sessions = open_sessions(&cfg, &shop.store).await?;
        let identity = crate::identity::Verifier::load(
            cfg.security.identity_secret.expose(),
            &cfg.data_dir,
            cfg.security.trust_unsigned_ids,
        )?;
        if identity.trusts_unsigned() {
            tracing::warn!(
                "security.trust_unsigned_ids is on: any visitor can claim any customer id (development only)"
            );
        }
        let keys = crate::keys::Keys::new(shop.store.clone());
        // the demo page's storefront key: made afresh at each start, the previous one revoked
        let demo_key = {
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || {
                keys.revoke_named(DEMO_KEY_NAME)?;
                keys.add(DEMO_KEY_NAME, crate::keys::KeyKind::Publishable).map(|(_, k)| Arc::<str>::from(k))
            })
            .await?
            .map_err(
                |e| tracing::warn!(error = %e, "no demo storefront key: the demo page's card clicks are not recorded"),
            )
            .ok()
        };
        let guard = crate::http::guard::Guard::new(&cfg.security);
        let importer = crate::import::jobs::Importer::new(
            shop.store.clone(),
            shop.assistant.search.clone(),
            shop.assistant.catalog.clone(),
            shop.recommender.clone(),
            shop.assistant.behavior.clone(),
            &cfg.data_dir,
            &cfg.chat.currency,
        );
        let experiments = crate::experiments::Experiments::open(shop.store.clone())?;
        let state = AppState {
            experiments,
            forecasts: Default::default(),
            sentiment: shop.sentiment.clone(),
            reviews: Default::default(),
            importer,
            identity,
            keys,
            guard,
            demo_key,
            sessions,
            accounts: crate::accounts::Accounts::new(shop.store.clone()),
            live: crate::live::Live::default(),
            store: shop.store.clone(),
            catalog: shop.assistant.catalog.clone(),
            search: shop.assistant.search.clone(),
            behavior: shop.assistant.behavior.clone(),
            llm: shop.assistant.llm.clone(),
            assistant: shop.assistant,
            pages,
            connections: Arc::new(Semaphore::new(cfg.chat.max_connections)),
            config: Arc::new(cfg),
            shutdown: shutdown_rx,
            demo_customers: Arc::new(demo_customers),
            recommender: shop.recommender,
            training: Default::default(),
        };
        Ok(Self { listener, state, engine: shop.engine, store: shop.store, shutdown })
    }

    /// The routes with this server's state, for in-process requests (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.state.clone())
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `stop` completes, then closes every chat, joins the engine and flushes the store.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let Self { listener, state, engine, store, shutdown } = self;
        let imports = state.importer.clone();
        let connections = state.connections.clone();
        let max = state.config.chat.max_connections as u32;
        let (behavior, recommender) = (state.behavior.clone(), state.recommender.clone());
        let search = state.search.clone();
        let housekeeping = housekeeping::spawn(&state);
        let header_timeout = Duration::from_secs(state.config.security.header_timeout_secs.max(1));
        let router = http::router(state);
        let signal = async move {
            stop.await;
            tracing::info!("shutting down: closing chats");
            let _ = shutdown.send(true);
        };
        http::serve::serve(listener, router, header_timeout, signal).await;
        // every chat loop holds a permit until it has closed its socket and saved its session
        if tokio::time::timeout(Duration::from_secs(10), connections.acquire_many(max)).await.is_err() {
            tracing::warn!("some chats did not close within 10 s");
        }
        if let Err(e) = housekeeping.await {
            tracing::error!(error = %e, "the housekeeping task panicked");
        }
        tokio::task::spawn_blocking(move || {
            if !imports.wait_idle(Duration::from_secs(30)) {
                tracing::warn!("an import was still writing after 30 s; stopping anyway (a re-import repeats it)");
            }
            engine.shutdown();
            // a classifier still training on its own thread gets "stopped" from its next batch instead of
            // embedding on after the server (a process ending under it crashed in llama.cpp's teardown)
            if let Some(e) = search.embedder() {
                e.shutdown();
            }
            // the derived tables as served now, so the next start need not rebuild them from every event
            if let Err(e) = behavior.save(&store).and_then(|_| recommender.save(&store)) {
                tracing::warn!(error = %e, "derived tables not saved: the next start rebuilds them");
            }
            store.flush()
        })
        .await??;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Sessions with their full-text index (rebuilt from the store when it does not match it).
pub async fn open_sessions(cfg: &Config, store: &Store) -> Result<Sessions, AppError> {
    let (dir, store) = (cfg.data_dir.clone(), store.clone());
    tokio::task::spawn_blocking(move || {
        let sessions = Sessions::new(store);
        let index = crate::transcripts::TranscriptIndex::open(&dir, &sessions.list()?)?;
        Ok::<_, AppError>(sessions.with_index(Arc::new(index)))
    })
    .await?
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
