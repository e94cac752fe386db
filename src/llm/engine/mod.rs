//! The engine thread: owns the llama.cpp backend, model and context (the context borrows the model and is not
//! `Send`), reports load success through a ready channel, then serves generations with continuous batching.
//!
//! The context holds `slots` sequences, each with its own KV cache stream of `ctx_size` cells (the memory budget:
//! `slots * ctx_size` tokens, fixed at start). Every step decodes one batch: the next token of each generating
//! slot plus chunks of the prompts still being read, so requests join between steps and leave when done. A
//! finished slot keeps its tokens' KV cache; a new request takes the free slot whose cache shares the longest
//! prefix with its prompt (or copies a longer prefix from another slot's stream) and evaluates only the rest; among
//! caches that share nothing, the least recently used is overwritten.
//!
//! One unified cache for all sequences was tried first (it lets sequences share cells): with llama.cpp 0.1.161 the
//! same greedy prompt decoded four times in one batch gave three different answers, so each slot has its stream.
use super::template::ChatTemplate;
use super::{Counters, GenParams, LlmError, Message, Metrics, ModelInfo, Output, Stats, Stop};
use crate::config::LlmConfig;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::mpsc;
mod runner;
mod slots;
mod text;
use runner::*;
use slots::*;
use text::*;

struct Job {
    messages: Vec<Message>,
    params: GenParams,
    /// GBNF (root rule `root`) the output must follow.
    grammar: Option<String>,
    out: mpsc::Sender<Output>,
    enqueued: Instant,
}

/// Handle to the engine thread. Dropping the last handle, or [`Engine::shutdown`], stops and joins it.
pub struct Engine {
    jobs: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    slots: usize,
    info: ModelInfo,
}

/// Waits for a model thread's ready message. On failure the thread is joined and its error returned.
pub(crate) fn await_ready<T>(
    ready: &std::sync::mpsc::Receiver<Result<T, LlmError>>,
    thread: JoinHandle<()>,
) -> Result<(T, JoinHandle<()>), LlmError> {
    match ready.recv() {
        Ok(Ok(value)) => Ok((value, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(LlmError::Stopped)
        }
    }
}

/// llama.cpp's backend may be initialised once per process; every engine shares it.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = BACKEND.get() {
        return Ok(b);
    }
    let mut b = LlamaBackend::init().map_err(|e| LlmError::Backend(e.to_string()))?;
    if std::env::var_os("AISLE_LLAMA_LOGS").is_none() {
        b.void_logs();
    }
    Ok(BACKEND.get_or_init(|| b))
}

impl Engine {
    /// Loads the model on a new thread and waits until it is ready (or failed).
    pub fn start(cfg: &LlmConfig) -> Result<Self, LlmError> {
        if !cfg.model.is_file() {
            return Err(LlmError::ModelMissing(cfg.model.clone()));
        }
        let (tx, rx) = sync_channel::<Job>(cfg.queue_capacity.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let (cfg2, counters2) = (cfg.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("aisle-llm".into())
            .spawn(move || run(cfg2, rx, ready_tx, counters2))
            .map_err(|e| LlmError::Backend(e.to_string()))?;
        let (info, thread) = await_ready(&ready_rx, thread)?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            counters,
            slots: cfg.slots.max(1),
            info,
        })
    }

    /// Stops taking requests, lets the generations in the slots finish, and joins the thread.
    pub fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }

    fn submit(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        grammar: Option<String>,
    ) -> Result<mpsc::Receiver<Output>, LlmError> {
        // room for every token's text and the end, so the engine never waits on a slow reader
        let (out, rx) = mpsc::channel(params.max_tokens as usize + 4);
        let job = Job { messages, params, grammar, out, enqueued: Instant::now() };
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = guard.as_ref().ok_or(LlmError::Stopped)?;
        let c = &self.counters;
        c.waiting.fetch_add(1, Ordering::Relaxed);
        match sender.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => {
                Counters::add(&c.busy, 1);
                Err(LlmError::Busy(c.waiting.fetch_sub(1, Ordering::Relaxed) - 1))
            }
            Err(TrySendError::Disconnected(_)) => {
                c.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(LlmError::Stopped)
            }
        }
    }
}

impl super::Generate for Engine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(&self, messages: Vec<Message>, params: GenParams) -> Result<mpsc::Receiver<Output>, LlmError> {
        self.submit(messages, params, None)
    }

    fn generate_constrained(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        grammar: String,
    ) -> Result<mpsc::Receiver<Output>, LlmError> {
        self.submit(messages, params, Some(grammar))
    }

    fn shutdown(&self) {
        Engine::shutdown(self);
    }

    fn metrics(&self) -> Metrics {
        self.counters.snapshot(self.slots)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests;
