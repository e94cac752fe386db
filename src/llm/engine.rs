//! The engine thread: owns the llama.cpp backend, model and context (the context borrows the model and is not
//! `Send`), reports load success through a ready channel, then serves one generation at a time from a bounded queue.
use super::template::ChatTemplate;
use super::{GenParams, LlmError, Message, ModelInfo, Output, Stats, Stop};
use crate::config::LlmConfig;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::mpsc;

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
    waiting: Arc<AtomicUsize>,
    info: ModelInfo,
}

/// llama.cpp's backend may be initialised once per process; every engine shares it.
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
        let waiting = Arc::new(AtomicUsize::new(0));
        let (cfg2, waiting2) = (cfg.clone(), waiting.clone());
        let thread = std::thread::Builder::new()
            .name("aisle-llm".into())
            .spawn(move || run(cfg2, rx, ready_tx, waiting2))
            .map_err(|e| LlmError::Backend(e.to_string()))?;
        let (info, thread) = await_ready(&ready_rx, thread)?;
        Ok(Self { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), waiting, info })
    }

    /// Stops taking requests, lets the current one finish its next step, and joins the thread.
    pub fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
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
}

impl Engine {
    fn submit(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        grammar: Option<String>,
    ) -> Result<mpsc::Receiver<Output>, LlmError> {
        let (out, rx) = mpsc::channel(256);
        let job = Job { messages, params, grammar, out, enqueued: Instant::now() };
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = guard.as_ref().ok_or(LlmError::Stopped)?;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match sender.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => {
                let n = self.waiting.fetch_sub(1, Ordering::Relaxed) - 1;
                Err(LlmError::Busy(n))
            }
            Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(LlmError::Stopped)
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    cfg: LlmConfig,
    jobs: Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<ModelInfo, LlmError>>,
    waiting: Arc<AtomicUsize>,
) {
    let loaded = (|| {
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &cfg.model, &LlamaModelParams::default())
            .map_err(|e| LlmError::Load { path: cfg.model.clone(), why: e.to_string() })?;
        let template = ChatTemplate::for_model(&model)?;
        Ok::<_, LlmError>((backend, model, template))
    })();
    let (backend, model, template) = match loaded {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.ctx_size))
        .with_n_batch(cfg.batch_size)
        .with_n_ubatch(cfg.batch_size)
        .with_n_threads(cfg.threads.max(1))
        .with_n_threads_batch(cfg.threads.max(1));
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(LlmError::Backend(format!("cannot create a context: {e}"))));
            return;
        }
    };
    let info = ModelInfo {
        path: cfg.model.clone(),
        description: model.meta_val_str("general.name").unwrap_or_else(|_| "unnamed model".into()),
        parameters: model.n_params(),
        context: ctx.n_ctx(),
        template: template.kind().into(),
    };
    tracing::info!(model = %info.description, params = info.parameters, threads = cfg.threads, "language model ready");
    let _ = ready.send(Ok(info));
    while let Ok(job) = jobs.recv() {
        waiting.fetch_sub(1, Ordering::Relaxed);
        let out = job.out.clone();
        match generate(&model, &mut ctx, &template, &cfg, job) {
            Ok(stats) => {
                tracing::debug!(
                    tokens = stats.generated_tokens,
                    first_token_ms = stats.first_token_ms,
                    tok_s = stats.tokens_per_second(),
                    "generation done"
                );
                let _ = out.blocking_send(Output::Done(stats));
            }
            Err(e) => {
                tracing::warn!(error = %e, "generation failed");
                let _ = out.blocking_send(Output::Failed(e.to_string()));
            }
        }
    }
}

/// Holds back the bytes of a UTF-8 character split across tokens.
#[derive(Default)]
struct Utf8Stream(Vec<u8>);

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        match std::str::from_utf8(&self.0) {
            Ok(s) => {
                let s = s.to_string();
                self.0.clear();
                s
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.0[..valid]).to_string();
                self.0.drain(..valid);
                s
            }
            Err(_) => {
                let s = String::from_utf8_lossy(&self.0).to_string();
                self.0.clear();
                s
            }
        }
    }
}

fn generate(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    template: &ChatTemplate,
    cfg: &LlmConfig,
    job: Job,
) -> Result<Stats, LlmError> {
    let started = Instant::now();
    let queue_ms = started.duration_since(job.enqueued).as_secs_f64() * 1000.0;
    let prompt = template.render(model, &job.messages)?;
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let n_ctx = ctx.n_ctx();
    if tokens.is_empty() || tokens.len() + job.params.max_tokens as usize > n_ctx as usize {
        return Err(LlmError::PromptTooLong { tokens: tokens.len(), context: n_ctx });
    }
    ctx.clear_kv_cache();
    let n_batch = cfg.batch_size.max(1) as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    let backend_err = |e: &dyn std::fmt::Display| LlmError::Backend(e.to_string());
    // llama.cpp aborts the process on a batch larger than n_batch, so long prompts go in chunks.
    for (c, chunk) in tokens.chunks(n_batch).enumerate() {
        if job.out.is_closed() {
            return Ok(stats(&tokens, 0, queue_ms, started, None, Stop::Cancelled));
        }
        batch.clear();
        for (k, t) in chunk.iter().enumerate() {
            let pos = c * n_batch + k;
            batch.add(*t, pos as i32, &[0], pos + 1 == tokens.len()).map_err(|e| backend_err(&e))?;
        }
        ctx.decode(&mut batch).map_err(|e| backend_err(&e))?;
    }
    let prompt_done = Instant::now();
    let mut sampler = if let Some(g) = &job.grammar {
        // the grammar masks every token that would leave its language; the best remaining one is taken
        let grammar = LlamaSampler::grammar(model, g, "root").map_err(|e| LlmError::Grammar(e.to_string()))?;
        LlamaSampler::chain_simple([grammar, LlamaSampler::greedy()])
    } else if job.params.temperature <= 0.0 {
        LlamaSampler::greedy()
    } else {
        LlamaSampler::chain_simple([
            LlamaSampler::penalties(model.n_vocab(), 64, 1.1, 0.0, 0.0),
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(0.95, 1),
            LlamaSampler::temp(job.params.temperature),
            LlamaSampler::dist(job.params.seed),
        ])
    };
    let mut text = Utf8Stream::default();
    let (mut n_pos, mut generated, mut first) = (tokens.len(), 0usize, None);
    let mut stop = Stop::MaxTokens;
    while generated < job.params.max_tokens as usize {
        let token = sampler.sample(ctx, batch.n_tokens() - 1);
        if vocab.is_eog(token) {
            stop = Stop::EndOfText;
            break;
        }
        generated += 1;
        first.get_or_insert_with(Instant::now);
        let piece = text.push(&vocab.token_to_piece(token, false, None));
        if !piece.is_empty() && job.out.blocking_send(Output::Text(piece)).is_err() {
            stop = Stop::Cancelled;
            break;
        }
        if n_pos + 1 >= n_ctx as usize {
            break;
        }
        batch.clear();
        batch.add(token, n_pos as i32, &[0], true).map_err(|e| backend_err(&e))?;
        n_pos += 1;
        ctx.decode(&mut batch).map_err(|e| backend_err(&e))?;
    }
    let mut s = stats(&tokens, generated, queue_ms, started, first, stop);
    s.prompt_ms = prompt_done.duration_since(started).as_secs_f64() * 1000.0;
    s.generate_ms = Instant::now().duration_since(prompt_done).as_secs_f64() * 1000.0;
    Ok(s)
}

fn stats(
    prompt: &[llama_cpp_2::token::LlamaToken],
    generated: usize,
    queue_ms: f64,
    started: Instant,
    first: Option<Instant>,
    stop: Stop,
) -> Stats {
    let ms = |t: Instant| t.duration_since(started).as_secs_f64() * 1000.0;
    Stats {
        prompt_tokens: prompt.len(),
        generated_tokens: generated,
        queue_ms,
        prompt_ms: 0.0,
        first_token_ms: first.map_or(0.0, ms),
        generate_ms: 0.0,
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_held_back_until_complete() {
        let mut s = Utf8Stream::default();
        let pound = "£".as_bytes();
        assert_eq!(s.push(&pound[..1]), "");
        assert_eq!(s.push(&pound[1..]), "£");
        assert_eq!(s.push(b"5"), "5");
    }

    #[test]
    fn a_missing_model_fails_to_start_with_a_clear_message() {
        let cfg = LlmConfig { model: "models/nope.gguf".into(), ..LlmConfig::default() };
        let err = Engine::start(&cfg).err().expect("must fail");
        assert!(err.to_string().contains("models/nope.gguf not found"), "{err}");
    }
}
