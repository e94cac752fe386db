//! Starting the parts that run on threads of their own: the chat models, the embedding model and the intent
//! classifier.
use super::AppError;
use crate::config::{Config, LlmBackend};
use crate::embed::Embedder;
use crate::llm::openai::OpenAi;
use crate::llm::{Engine, Generate};
use std::sync::Arc;

/// A chat model as configured: llama.cpp in-process or an OpenAI-compatible server.
pub(super) async fn start_model(llm_cfg: crate::config::LlmConfig) -> Result<Arc<dyn Generate>, AppError> {
    Ok(match llm_cfg.backend {
        LlmBackend::Llama => Arc::new(tokio::task::spawn_blocking(move || Engine::start(&llm_cfg)).await??),
        LlmBackend::Openai => Arc::new(tokio::task::spawn_blocking(move || OpenAi::connect(&llm_cfg)).await??),
    })
}

/// The intent classifier: the saved one when it is current; otherwise an empty slot now and a classifier trained on
/// a thread of its own (about two minutes) while the server listens, its utterances in other languages read into
/// English by `langs` as the chat reads a message.
pub(super) async fn start_intents(
    cfg: &Config,
    e: Arc<Embedder>,
    langs: Arc<crate::lang::Languages>,
) -> Result<crate::intent::Slot, AppError> {
    let intents = crate::intent::Slot::default();
    let (path, sets) = (cfg.data_dir.join("intent-model.json"), cfg.intent_sets.clone());
    let loaded = {
        let (path, e) = (path.clone(), e.clone());
        tokio::task::spawn_blocking(move || crate::intent::Intents::load_current(&path, &e)).await?
    };
    match loaded {
        Ok(Some(i)) if i.read.is_some() => intents.set(Arc::new(i)),
        // a store from before the head for read messages: the English head serves at once, both are trained
        loaded => {
            match loaded {
                Ok(Some(i)) => intents.set(Arc::new(i)),
                Err(err) => {
                    tracing::warn!(error = %err, "the saved intent classifier is unreadable: training a new one")
                }
                Ok(None) => {}
            }
            let (slot, currency) = (intents.clone(), cfg.chat.currency.clone());
            let spawned = std::thread::Builder::new().name("intent-training".into()).spawn(move || {
                let started = std::time::Instant::now();
                let read = |t: &str| langs.into_english(t, &currency);
                match crate::intent::Intents::load_or_train(&path, &sets, e, &read) {
                    Ok(i) => {
                        slot.set(Arc::new(i));
                        tracing::info!(secs = started.elapsed().as_secs(), "intent classifier ready");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "no intent classifier: service requests are read by their words")
                    }
                }
            });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "could not start training the intent classifier");
            }
        }
    }
    Ok(intents)
}

/// The sentiment head: the saved one when it is current (read at once), otherwise trained on a thread of its own
/// (about a minute, once the intent classifier is ready) while the server listens; until then reviews and chats are
/// not scored.
pub(super) fn start_sentiment(
    cfg: &Config,
    e: Arc<Embedder>,
    langs: Arc<crate::lang::Languages>,
    intents: crate::intent::Slot,
) -> crate::sentiment::Slot {
    let slot = crate::sentiment::Slot::default();
    let (path, sets, currency) =
        (cfg.data_dir.join("sentiment-model.json"), cfg.sentiment_sets.clone(), cfg.chat.currency.clone());
    if let Some(s) = crate::sentiment::Sentiment::load_current(&path, &e, &langs, &currency) {
        slot.set(Arc::new(s));
        return slot;
    }
    let filled = slot.clone();
    let spawned = std::thread::Builder::new().name("sentiment-training".into()).spawn(move || {
        // after the intent classifier (the chat needs it first; both embed on the one embedding thread), or after
        // half an hour if it never comes
        let waiting = std::time::Instant::now();
        while intents.get().is_none() && waiting.elapsed() < std::time::Duration::from_secs(1800) {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let started = std::time::Instant::now();
        match crate::sentiment::Sentiment::load_or_train(&path, &sets, e, langs, &currency) {
            Ok(s) => {
                filled.set(Arc::new(s));
                tracing::info!(ms = started.elapsed().as_millis() as u64, "sentiment head ready");
            }
            Err(err) => tracing::warn!(error = %err, "no sentiment head: reviews and chats are not scored"),
        }
    });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "could not start the sentiment head");
    }
    slot
}

/// The embedding model, or `None` (keyword-only search) when its file is missing.
pub async fn start_embedder(cfg: &Config) -> Result<Option<Arc<Embedder>>, AppError> {
    start_embedder_with(cfg, cfg.embed.threads).await
}

/// The embedding model with a given thread count (bulk work such as an import uses more).
pub async fn start_embedder_with(cfg: &Config, threads: i32) -> Result<Option<Arc<Embedder>>, AppError> {
    if !cfg.embed.server_url.is_empty() {
        let (url, model, key) = (cfg.embed.server_url.clone(), cfg.embed.server_model.clone(), cfg.llm.api_key.clone());
        let e = tokio::task::spawn_blocking(move || Embedder::connect(&url, &model, key.expose())).await??;
        return Ok(Some(Arc::new(e)));
    }
    if !cfg.embed.model.is_file() {
        tracing::warn!(model = %cfg.embed.model.display(), "embedding model not found: search is keyword-only (run `aisle convert bert`)");
        return Ok(None);
    }
    let path = cfg.embed.model.clone();
    let e = tokio::task::spawn_blocking(move || Embedder::start(&path, threads)).await??;
    Ok(Some(Arc::new(e)))
}
