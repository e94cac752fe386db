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

/// A generation in a slot.
struct Active {
    out: mpsc::Sender<Output>,
    params: GenParams,
    sampler: LlamaSampler,
    prompt: Vec<LlamaToken>,
    /// The sampled token not yet decoded (its KV is made in the next step).
    pending: Option<LlamaToken>,
    /// Index in this step's batch of the token whose logits this slot samples from.
    logits_at: Option<i32>,
    /// Prompt tokens put in this step's batch.
    reading: usize,
    generated: usize,
    text: Utf8Stream,
    stops: StopText,
    queue_ms: f64,
    started: Instant,
    prompt_done: Option<Instant>,
    first: Option<Instant>,
    reused: usize,
    dropped: usize,
    deadline: Option<Instant>,
}

/// One sequence of the context.
struct Slot {
    seq: i32,
    /// The tokens whose KV cache this sequence holds, by position.
    tokens: Vec<LlamaToken>,
    last_used: u64,
    work: Option<Active>,
}

struct Runner<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: ChatTemplate,
    cfg: LlmConfig,
    counters: Arc<Counters>,
    slots: Vec<Slot>,
    clock: u64,
}

fn run(
    cfg: LlmConfig,
    jobs: Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<ModelInfo, LlmError>>,
    counters: Arc<Counters>,
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
    let n_slots = cfg.slots.clamp(1, cfg.batch_size.max(1) as usize);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.ctx_size.saturating_mul(n_slots as u32)))
        .with_n_batch(cfg.batch_size)
        .with_n_ubatch(cfg.batch_size)
        .with_n_seq_max(n_slots as u32)
        .with_kv_unified(false)
        .with_n_threads(cfg.threads.max(1))
        .with_n_threads_batch(cfg.threads.max(1));
    let ctx = match model.new_context(backend, params) {
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
        context: cfg.ctx_size.min(ctx.n_ctx()),
        template: template.kind().into(),
    };
    tracing::info!(model = %info.description, params = info.parameters, threads = cfg.threads, slots = n_slots,
        "language model ready");
    let _ = ready.send(Ok(info));
    let slots = (0..n_slots).map(|i| Slot { seq: i as i32, tokens: Vec::new(), last_used: 0, work: None }).collect();
    let mut runner = Runner { model: &model, ctx, template, cfg, counters, slots, clock: 0 };
    runner.serve(&jobs);
}

impl Runner<'_> {
    fn serve(&mut self, jobs: &Receiver<Job>) {
        // every generating slot needs a place in each step's batch
        let n_batch = (self.cfg.batch_size as usize).max(self.slots.len());
        let mut batch = LlamaBatch::new(n_batch, 1);
        let mut open = true;
        loop {
            if self.slots.iter().all(|s| s.work.is_none()) {
                match jobs.recv() {
                    Ok(job) => self.admit(job),
                    Err(_) => return,
                }
            }
            while open && self.slots.iter().any(|s| s.work.is_none()) {
                match jobs.try_recv() {
                    Ok(job) => self.admit(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            self.drop_abandoned();
            if !self.fill(&mut batch, n_batch) {
                if !open && self.slots.iter().all(|s| s.work.is_none()) {
                    return;
                }
                continue;
            }
            let t = Instant::now();
            if let Err(e) = self.ctx.decode(&mut batch) {
                // each slot's prompt and answer fit its stream (checked at admission), so this is llama.cpp failing
                self.fail_batch(&format!("decode failed: {e}"));
                continue;
            }
            let decoding = self.slots.iter().any(|s| s.work.as_ref().is_some_and(|a| a.prompt_done.is_some()));
            self.after_decode();
            if decoding {
                Counters::add(&self.counters.decode_us, t.elapsed().as_micros() as u64);
            }
            self.sample_all();
        }
    }

    /// Renders and tokenises a request, picks its slot and reuses the longest cached prefix it can.
    fn admit(&mut self, job: Job) {
        let c = self.counters.clone();
        c.waiting.fetch_sub(1, Ordering::Relaxed);
        Counters::add(&c.requests, 1);
        let started = Instant::now();
        let queue_ms = started.duration_since(job.enqueued).as_secs_f64() * 1000.0;
        let prepared = self.prepare(&job);
        let (prompt, dropped, sampler) = match prepared {
            Ok(p) => p,
            Err(e) => {
                Counters::add(&c.failed, 1);
                tracing::warn!(error = %e, "generation refused");
                let _ = job.out.try_send(Output::Failed(e.to_string()));
                return;
            }
        };
        let view: Vec<(&[LlamaToken], bool, u64)> =
            self.slots.iter().map(|s| (s.tokens.as_slice(), s.work.is_none(), s.last_used)).collect();
        let Some(plan) = plan_slot(&view, &prompt) else {
            // unreachable: admit is only called with a free slot
            let _ = job.out.try_send(Output::Failed("no free slot".into()));
            return;
        };
        let seq = self.slots[plan.slot].seq;
        if let Some((src, n)) = plan.copy_from {
            // streams are copied whole (llama.cpp copies between streams only in full), then cut to the prefix
            let src_seq = self.slots[src].seq;
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            let _ = self.ctx.copy_kv_cache_seq(src_seq, seq, None, None);
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), Some(n as u32), None);
            let head = self.slots[src].tokens[..n].to_vec();
            self.slots[plan.slot].tokens = head;
        } else if !matches!(self.ctx.clear_kv_cache_seq(Some(seq as u32), Some(plan.reuse as u32), None), Ok(true)) {
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            self.slots[plan.slot].tokens.clear();
        } else {
            self.slots[plan.slot].tokens.truncate(plan.reuse);
        }
        let reused = self.slots[plan.slot].tokens.len();
        Counters::add(&c.prompt_tokens, prompt.len() as u64);
        Counters::add(&c.reused_tokens, reused as u64);
        Counters::add(if reused > 0 { &c.cache_hits } else { &c.cache_misses }, 1);
        c.active.fetch_add(1, Ordering::Relaxed);
        let deadline = job.params.deadline.map(|d| job.enqueued + d);
        let stops = StopText::new(job.params.stop.clone());
        self.clock += 1;
        let slot = &mut self.slots[plan.slot];
        slot.last_used = self.clock;
        slot.work = Some(Active {
            out: job.out,
            params: job.params,
            sampler,
            prompt,
            pending: None,
            logits_at: None,
            reading: 0,
            generated: 0,
            text: Utf8Stream::default(),
            stops,
            queue_ms,
            started,
            prompt_done: None,
            first: None,
            reused,
            dropped,
            deadline,
        });
    }

    fn prepare(&self, job: &Job) -> Result<(Vec<LlamaToken>, usize, LlamaSampler), LlmError> {
        let ctx_size = self.cfg.ctx_size as usize;
        let room = ctx_size.saturating_sub(job.params.max_tokens as usize);
        let limit = match self.cfg.max_prompt_tokens as usize {
            0 => room,
            n => n.min(room),
        };
        let vocab = self.model.vocab();
        let tokenize = |msgs: &[Message]| -> Result<Vec<LlamaToken>, LlmError> {
            let prompt = self.template.render(self.model, msgs)?;
            Ok(vocab.tokenize(prompt.as_bytes(), true, true))
        };
        let (messages, dropped) = trim_to_fit(&job.messages, limit, |m| Ok(tokenize(m)?.len()))
            .map_err(|tokens| LlmError::PromptTooLong { tokens, context: self.cfg.ctx_size })?;
        let tokens = tokenize(&messages)?;
        if tokens.is_empty() {
            return Err(LlmError::PromptTooLong { tokens: 0, context: self.cfg.ctx_size });
        }
        Ok((tokens, dropped, self.sampler(&job.params, job.grammar.as_deref())?))
    }

    fn sampler(&self, p: &GenParams, grammar: Option<&str>) -> Result<LlamaSampler, LlmError> {
        let mut chain = Vec::new();
        if let Some(g) = grammar {
            // the grammar masks every token that would leave its language
            chain.push(LlamaSampler::grammar(self.model, g, "root").map_err(|e| LlmError::Grammar(e.to_string()))?);
        }
        if p.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if (p.repeat_penalty - 1.0).abs() > f32::EPSILON {
                chain.push(LlamaSampler::penalties(self.model.n_vocab(), 64, p.repeat_penalty, 0.0, 0.0));
            }
            if p.top_k > 0 {
                chain.push(LlamaSampler::top_k(p.top_k));
            }
            if p.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(p.top_p, 1));
            }
            chain.push(LlamaSampler::temp(p.temperature));
            chain.push(LlamaSampler::dist(p.seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }

    /// Ends generations whose reader went away or whose deadline passed.
    fn drop_abandoned(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let Some(a) = &self.slots[i].work else { continue };
            if a.out.is_closed() {
                self.finish(i, Stop::Cancelled);
            } else if a.deadline.is_some_and(|d| now >= d) {
                self.finish(i, Stop::Deadline);
            }
        }
    }

    /// Puts this step's tokens in the batch: one for each generating slot, then prompt chunks in the room left.
    /// False when there is nothing to decode.
    fn fill(&mut self, batch: &mut LlamaBatch, n_batch: usize) -> bool {
        batch.clear();
        let mut n = 0usize;
        for s in &mut self.slots {
            let Some(a) = &mut s.work else { continue };
            a.logits_at = None;
            a.reading = 0;
            if let Some(t) = a.pending {
                if batch.add(t, s.tokens.len() as i32, &[s.seq], true).is_err() {
                    continue;
                }
                a.logits_at = Some(n as i32);
                n += 1;
            }
        }
        // prompts are read oldest request first
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].work.as_ref().is_some_and(|a| a.prompt_done.is_none()))
            .collect();
        order.sort_by_key(|&i| self.slots[i].work.as_ref().map(|a| a.started));
        for i in order {
            let s = &mut self.slots[i];
            let Some(a) = &mut s.work else { continue };
            let from = s.tokens.len();
            let take = (a.prompt.len() - from).min(n_batch.saturating_sub(n));
            for k in 0..take {
                let last = from + k + 1 == a.prompt.len();
                if batch.add(a.prompt[from + k], (from + k) as i32, &[s.seq], last).is_err() {
                    break;
                }
                if last {
                    a.logits_at = Some(n as i32);
                }
                a.reading += 1;
                n += 1;
            }
        }
        n > 0
    }

    /// Records what the decoded batch put in each sequence's cache.
    fn after_decode(&mut self) {
        for s in &mut self.slots {
            let Some(a) = &mut s.work else { continue };
            if let Some(t) = a.pending.take() {
                s.tokens.push(t);
            } else if a.prompt_done.is_none() {
                let from = s.tokens.len();
                s.tokens.extend_from_slice(&a.prompt[from..from + a.reading]);
                if s.tokens.len() == a.prompt.len() {
                    a.prompt_done = Some(Instant::now());
                }
            }
        }
    }

    fn sample_all(&mut self) {
        for i in 0..self.slots.len() {
            let n_ctx = self.cfg.ctx_size as usize;
            let s = &mut self.slots[i];
            let Some(a) = &mut s.work else { continue };
            let Some(idx) = a.logits_at.take() else { continue };
            if a.generated >= a.params.max_tokens as usize {
                self.finish(i, Stop::MaxTokens);
                continue;
            }
            let token = a.sampler.sample(&self.ctx, idx);
            if self.model.vocab().is_eog(token) {
                self.finish(i, Stop::EndOfText);
                continue;
            }
            a.generated += 1;
            if a.first.is_none() {
                a.first = Some(Instant::now());
            }
            let piece = a.text.push(&self.model.vocab().token_to_piece(token, false, None));
            let (send, stopped) = a.stops.push(&piece);
            if !send.is_empty() && a.out.try_send(Output::Text(send)).is_err() {
                self.finish(i, Stop::Cancelled);
                continue;
            }
            if stopped {
                self.finish(i, Stop::StopString);
            } else if a.generated >= a.params.max_tokens as usize || s.tokens.len() + 1 >= n_ctx {
                self.finish(i, Stop::MaxTokens);
            } else {
                a.pending = Some(token);
            }
        }
    }

    /// Ends slot `i`'s generation: sends what the stop-string check held back and the figures.
    fn finish(&mut self, i: usize, stop: Stop) {
        let Some(mut a) = self.slots[i].work.take() else { return };
        self.clock += 1;
        self.slots[i].last_used = self.clock;
        let c = &self.counters;
        c.active.fetch_sub(1, Ordering::Relaxed);
        Counters::add(&c.generated, a.generated as u64);
        c.finished(stop, a.first.map(|f| f.duration_since(a.started)));
        let rest = a.stops.flush(stop == Stop::StopString);
        if !rest.is_empty() {
            let _ = a.out.try_send(Output::Text(rest));
        }
        let ms = |t: Instant| t.duration_since(a.started).as_secs_f64() * 1000.0;
        let prompt_done = a.prompt_done.unwrap_or_else(Instant::now);
        let stats = Stats {
            prompt_tokens: a.prompt.len(),
            reused_tokens: a.reused,
            dropped_messages: a.dropped,
            generated_tokens: a.generated,
            queue_ms: a.queue_ms,
            prompt_ms: ms(prompt_done),
            first_token_ms: a.first.map_or(0.0, ms),
            generate_ms: Instant::now().duration_since(prompt_done).as_secs_f64() * 1000.0,
            stop,
        };
        tracing::debug!(
            tokens = stats.generated_tokens,
            reused = stats.reused_tokens,
            first_token_ms = stats.first_token_ms,
            ?stop,
            "generation done"
        );
        let _ = a.out.try_send(Output::Done(stats));
    }

    /// Fails every request in the batch that could not be decoded and forgets their caches.
    fn fail_batch(&mut self, why: &str) {
        tracing::warn!(error = why, "generation failed");
        for s in &mut self.slots {
            let Some(a) = s.work.take() else { continue };
            if a.logits_at.is_none() && a.pending.is_none() && a.prompt_done.is_some() {
                s.work = Some(a);
                continue;
            }
            self.counters.active.fetch_sub(1, Ordering::Relaxed);
            Counters::add(&self.counters.failed, 1);
            let _ = a.out.try_send(Output::Failed(format!("llama.cpp: {why}")));
            let _ = self.ctx.clear_kv_cache_seq(Some(s.seq as u32), None, None);
            s.tokens.clear();
        }
    }
}

/// Where a new request goes: among free slots whose cache shares at least half of itself with the prompt (as
/// llama-server's slot similarity), the one sharing the longest prefix, keeping `reuse` tokens of it; else an empty
/// slot, else the least recently used one (a cache that shares little is not worth more than an empty slot). When
/// another slot (busy or not) holds a prefix at least `MIN_COPY` tokens longer, `copy_from` its first n tokens.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    slot: usize,
    reuse: usize,
    copy_from: Option<(usize, usize)>,
}

/// Copying a prefix is worth it only when it saves at least this many tokens over the slot's own cache.
const MIN_COPY: usize = 16;

/// `slots`: each slot's cached tokens, whether it is free, and when it was last used.
fn plan_slot<T: PartialEq>(slots: &[(&[T], bool, u64)], prompt: &[T]) -> Option<Plan> {
    let lcp = |a: &[T]| a.iter().zip(prompt).take_while(|(x, y)| x == y).count().min(prompt.len().saturating_sub(1));
    let free: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].1).collect();
    let similar = free
        .iter()
        .copied()
        .filter(|&i| !slots[i].0.is_empty() && 2 * lcp(slots[i].0) >= slots[i].0.len().min(prompt.len()))
        .max_by_key(|&i| (lcp(slots[i].0), std::cmp::Reverse(slots[i].2)));
    let own = similar
        .or_else(|| free.iter().copied().find(|&i| slots[i].0.is_empty()))
        .or_else(|| free.iter().copied().min_by_key(|&i| slots[i].2))?;
    let own_n = lcp(slots[own].0);
    let best = (0..slots.len()).filter(|&i| i != own).max_by_key(|&i| lcp(slots[i].0));
    match best {
        Some(b) if lcp(slots[b].0) >= own_n + MIN_COPY => {
            Some(Plan { slot: own, reuse: 0, copy_from: Some((b, lcp(slots[b].0))) })
        }
        _ => Some(Plan { slot: own, reuse: own_n, copy_from: None }),
    }
}

/// Drops the oldest turns until `count` of the conversation fits `limit`: never a system message, never the
/// latest user message or what follows it. Err holds the smallest count reached when nothing fits.
fn trim_to_fit(
    messages: &[Message],
    limit: usize,
    count: impl Fn(&[Message]) -> Result<usize, LlmError>,
) -> Result<(Vec<Message>, usize), usize> {
    let mut msgs = messages.to_vec();
    let mut dropped = 0;
    loop {
        let n = count(&msgs).map_err(|_| 0usize)?;
        if n <= limit {
            return Ok((msgs, dropped));
        }
        let last_user = msgs.iter().rposition(|m| m.role == "user").unwrap_or(msgs.len());
        match (0..last_user).find(|&i| msgs[i].role != "system") {
            Some(i) => {
                msgs.remove(i);
                dropped += 1;
            }
            None => return Err(n),
        }
    }
}

/// Holds back text that may be the start of a stop string; reports when one is reached.
#[derive(Default)]
struct StopText {
    stops: Vec<String>,
    held: String,
}

impl StopText {
    fn new(stops: Vec<String>) -> Self {
        Self { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), held: String::new() }
    }

    /// Returns the text safe to send and whether a stop string was reached (the text before it is sent).
    fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (piece.to_string(), false);
        }
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let before = self.held[..at].to_string();
            self.held.clear();
            return (before, true);
        }
        // keep the longest tail that starts some stop string
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&self.held[i..])))
            .unwrap_or(self.held.len());
        let send = self.held[..keep].to_string();
        self.held.drain(..keep);
        (send, false)
    }

    /// What is still held when the generation ends (nothing after a stop string).
    fn flush(&mut self, stopped: bool) -> String {
        let rest = std::mem::take(&mut self.held);
        if stopped {
            String::new()
        } else {
            rest
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

    #[test]
    fn a_corrupt_model_file_fails_to_start_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gguf");
        let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
        bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        std::fs::write(&path, bytes).unwrap();
        let cfg = LlmConfig { model: path.clone(), ..LlmConfig::default() };
        let err = Engine::start(&cfg).err().expect("must fail");
        assert!(matches!(err, LlmError::Load { .. }), "{err}");
        assert!(err.to_string().contains("broken.gguf") && err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn a_stop_string_split_across_pieces_ends_the_text_before_it() {
        let mut s = StopText::new(vec!["\nUser:".into(), "###".into()]);
        assert_eq!(s.push("Hello"), ("Hello".into(), false));
        assert_eq!(s.push(" there\nUs"), (" there".into(), false), "a possible start is held back");
        assert_eq!(s.push("er: hi"), (String::new(), true));
        assert_eq!(s.flush(true), "");
        let mut s = StopText::new(vec!["###".into()]);
        assert_eq!(s.push("a #"), ("a ".into(), false));
        assert_eq!(s.push("1"), ("#1".into(), false), "not a stop after all: sent");
        assert_eq!(s.push("#"), (String::new(), false));
        assert_eq!(s.flush(false), "#", "held text is sent when the generation ends otherwise");
        let mut none = StopText::new(vec![]);
        assert_eq!(none.push("###"), ("###".into(), false));
    }

    #[test]
    fn long_conversations_lose_their_oldest_turns_never_the_system_prompt_or_the_question() {
        let msgs = vec![
            Message::system("facts: teddy £5"),
            Message::user("first question here"),
            Message::assistant("first answer here"),
            Message::user("second question"),
            Message::assistant("second answer"),
            Message::user("now?"),
        ];
        let chars = |m: &[Message]| Ok(m.iter().map(|m| m.content.len()).sum::<usize>());
        let (kept, dropped) = trim_to_fit(&msgs, 60, chars).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(kept[0].content, "facts: teddy £5");
        assert_eq!(kept[1].content, "second question");
        assert_eq!(kept.last().unwrap().content, "now?");
        let (all, none) = trim_to_fit(&msgs, 1000, chars).unwrap();
        assert_eq!((all.len(), none), (6, 0));
        // nothing left to drop: the caller learns how long the prompt still is
        assert_eq!(trim_to_fit(&msgs, 10, chars).unwrap_err(), 20);
    }

    #[test]
    fn a_request_takes_the_free_slot_with_the_longest_shared_prefix_or_copies_a_longer_one() {
        let sys: Vec<i32> = (0..40).collect();
        let turn = |t: &[i32]| sys.iter().chain(t).copied().collect::<Vec<i32>>();
        let a = turn(&[100, 101, 102]);
        let b = turn(&[200]);
        let prompt = turn(&[100, 101, 102, 103, 104]);
        // slot 1 is free and has this conversation's earlier turn
        let plan = plan_slot(&[(&b, true, 5), (&a, true, 3), (&[], true, 1)], &prompt).unwrap();
        assert_eq!(plan, Plan { slot: 1, reuse: 43, copy_from: None });
        // slot 1 is busy: slot 0 shares the system prompt (40) and slot 1's extra 3 tokens are not worth a copy
        let plan = plan_slot(&[(&b, true, 5), (&a, false, 3), (&[], true, 1)], &prompt).unwrap();
        assert_eq!(plan, Plan { slot: 0, reuse: 40, copy_from: None });
        // only an empty slot is free: the longest prefix (this conversation's) is copied from a busy slot into it
        let plan = plan_slot(&[(&b, false, 5), (&a, false, 3), (&[], true, 1)], &prompt).unwrap();
        assert_eq!(plan, Plan { slot: 2, reuse: 0, copy_from: Some((1, 43)) });
        // one token is always evaluated, so the last prompt token's logits exist
        let plan = plan_slot(&[(&prompt, true, 1)], &prompt).unwrap();
        assert_eq!(plan.reuse, prompt.len() - 1);
        assert_eq!(plan_slot(&[(&a, false, 1)], &prompt), None);
        // among caches sharing nothing, the least recently used is overwritten
        let plan = plan_slot(&[(&[7], true, 9), (&[8], true, 2)], &prompt).unwrap();
        assert_eq!(plan.slot, 1);
        // a cache sharing only the template's first tokens is kept: an empty slot is taken instead
        let other: Vec<i32> = [0, 1, 2].iter().copied().chain(500..560).collect();
        let plan = plan_slot(&[(&other, true, 5), (&[], true, 0)], &prompt).unwrap();
        assert_eq!(plan, Plan { slot: 1, reuse: 0, copy_from: None });
    }
}
