//! The language model: an in-process llama.cpp engine on its own thread behind a bounded queue. Each generation
//! gets its own channel of streamed text; dropping the receiver cancels it at the next token.
mod engine;
pub mod fake;
pub mod openai;
pub mod schema;
mod template;

pub use engine::Engine;
pub(crate) use engine::{await_ready, backend};

/// A source of generated text: the in-process engine, or (in tests of dialogue logic) a scripted fake.
pub trait Generate: Send + Sync {
    /// Queues a generation; the receiver streams its text. A full queue answers [`LlmError::Busy`] at once.
    fn generate(
        &self,
        messages: Vec<Message>,
        params: GenParams,
    ) -> Result<tokio::sync::mpsc::Receiver<Output>, LlmError>;
    fn info(&self) -> &ModelInfo;
    /// Like `generate`, constrained by a GBNF grammar (root rule `root`): every token sampled keeps the text a
    /// prefix of the grammar's language. Backends without grammars answer [`LlmError::Unsupported`].
    fn generate_constrained(
        &self,
        _messages: Vec<Message>,
        _params: GenParams,
        _grammar: String,
    ) -> Result<tokio::sync::mpsc::Receiver<Output>, LlmError> {
        Err(LlmError::Unsupported("grammar-constrained generation"))
    }
    /// Like `generate`, the output a JSON text that `schema` accepts (see [`schema`] for the subset). The default
    /// turns the schema into a grammar; a server backend sends it as the server's JSON-schema response format.
    /// Use [`schema::generate_json`] to get the parsed, validated value.
    fn generate_schema(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        schema: &serde_json::Value,
    ) -> Result<tokio::sync::mpsc::Receiver<Output>, LlmError> {
        self.generate_constrained(messages, params, schema::to_gbnf(schema)?)
    }
    /// Stops taking requests and waits for the running ones (the in-process engine joins its thread).
    fn shutdown(&self) {}
    /// Queue depth, slots, tokens and cache figures so far (zeros for a backend that keeps none).
    fn metrics(&self) -> Metrics {
        Metrics::default()
    }
}

/// What an engine has done since it started; `/metrics` shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub slots: usize,
    pub active_slots: usize,
    pub queue_depth: usize,
    pub requests: u64,
    pub busy_rejections: u64,
    pub cancelled: u64,
    pub deadline_stops: u64,
    pub failed: u64,
    pub prompt_tokens: u64,
    /// Prompt tokens served from the KV cache instead of being evaluated.
    pub reused_prompt_tokens: u64,
    /// Requests that reused a cached prefix / that evaluated their whole prompt.
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub generated_tokens: u64,
    /// Seconds spent in decode steps that produced tokens (all slots together).
    pub decode_seconds: f64,
    /// Mean time from being taken into a slot to the first token.
    pub mean_first_token_ms: f64,
}

/// The running counts behind [`Metrics`], shared by a backend's handle and its worker threads.
#[derive(Default)]
pub(crate) struct Counters {
    pub waiting: std::sync::atomic::AtomicUsize,
    pub active: std::sync::atomic::AtomicUsize,
    pub requests: AtomicU64,
    pub busy: AtomicU64,
    pub cancelled: AtomicU64,
    pub deadline: AtomicU64,
    pub failed: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub reused_tokens: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub generated: AtomicU64,
    pub decode_us: AtomicU64,
    pub first_token_us: AtomicU64,
    pub first_tokens: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a finished generation's ending and first-token time.
    pub fn finished(&self, stop: Stop, first_token: Option<std::time::Duration>) {
        match stop {
            Stop::Cancelled => Self::add(&self.cancelled, 1),
            Stop::Deadline => Self::add(&self.deadline, 1),
            _ => {}
        }
        if let Some(f) = first_token {
            Self::add(&self.first_token_us, f.as_micros() as u64);
            Self::add(&self.first_tokens, 1);
        }
    }

    pub fn snapshot(&self, slots: usize) -> Metrics {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let firsts = get(&self.first_tokens);
        Metrics {
            slots,
            active_slots: self.active.load(Ordering::Relaxed),
            queue_depth: self.waiting.load(Ordering::Relaxed),
            requests: get(&self.requests),
            busy_rejections: get(&self.busy),
            cancelled: get(&self.cancelled),
            deadline_stops: get(&self.deadline),
            failed: get(&self.failed),
            prompt_tokens: get(&self.prompt_tokens),
            reused_prompt_tokens: get(&self.reused_tokens),
            cache_hits: get(&self.cache_hits),
            cache_misses: get(&self.cache_misses),
            generated_tokens: get(&self.generated),
            decode_seconds: get(&self.decode_us) as f64 / 1e6,
            mean_first_token_ms: if firsts > 0 {
                get(&self.first_token_us) as f64 / firsts as f64 / 1000.0
            } else {
                0.0
            },
        }
    }
}

impl Metrics {
    /// Generated tokens per second of decoding, all slots together.
    pub fn tokens_per_second(&self) -> f64 {
        if self.decode_seconds > 0.0 {
            self.generated_tokens as f64 / self.decode_seconds
        } else {
            0.0
        }
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self, backend: &str) -> String {
        let mut out = String::new();
        let labels = format!("{{backend=\"{backend}\"}}");
        let mut line = |name: &str, kind: &str, help: &str, v: f64| {
            prometheus_metric(&mut out, &format!("aisle_llm_{name}"), &labels, kind, help, v);
        };
        line("slots", "gauge", "Parallel generation slots.", self.slots as f64);
        line("active_slots", "gauge", "Slots generating now.", self.active_slots as f64);
        line("queue_depth", "gauge", "Requests waiting for a slot.", self.queue_depth as f64);
        line("requests_total", "counter", "Generations taken.", self.requests as f64);
        line("busy_total", "counter", "Requests refused because the queue was full.", self.busy_rejections as f64);
        line("cancelled_total", "counter", "Generations cancelled by their caller.", self.cancelled as f64);
        line("deadline_total", "counter", "Generations stopped by their deadline.", self.deadline_stops as f64);
        line("failed_total", "counter", "Generations that failed.", self.failed as f64);
        line("prompt_tokens_total", "counter", "Prompt tokens of all requests.", self.prompt_tokens as f64);
        line(
            "reused_prompt_tokens_total",
            "counter",
            "Prompt tokens served from the KV cache.",
            self.reused_prompt_tokens as f64,
        );
        line("cache_hits_total", "counter", "Requests that reused a cached prefix.", self.cache_hits as f64);
        line("cache_misses_total", "counter", "Requests that evaluated their whole prompt.", self.cache_misses as f64);
        line("generated_tokens_total", "counter", "Tokens generated.", self.generated_tokens as f64);
        line("decode_tokens_per_second", "gauge", "Generated tokens per second of decoding.", self.tokens_per_second());
        line("mean_first_token_ms", "gauge", "Mean time to the first token.", self.mean_first_token_ms);
        out
    }
}

/// Appends one metric in Prometheus text exposition: its help, its type and its value (`labels`: `{k="v"}` or
/// empty).
pub(crate) fn prometheus_metric(out: &mut String, name: &str, labels: &str, kind: &str, help: &str, v: f64) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {v}\n"));
}

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// One chat message in the model's conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(s: impl Into<String>) -> Self {
        Self { role: "system".into(), content: s.into() }
    }
    pub fn user(s: impl Into<String>) -> Self {
        Self { role: "user".into(), content: s.into() }
    }
    pub fn assistant(s: impl Into<String>) -> Self {
        Self { role: "assistant".into(), content: s.into() }
    }
}

/// Per-request sampling and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    pub max_tokens: u32,
    /// 0 is greedy (deterministic); above 0 the next four apply.
    pub temperature: f32,
    pub seed: u32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: i32,
    /// Keep the most likely tokens up to this probability mass; 1 keeps all.
    pub top_p: f32,
    /// Penalty on tokens among the last 64 generated; 1 is none.
    pub repeat_penalty: f32,
    /// The generation ends before any of these texts (which are not sent).
    pub stop: Vec<String>,
    /// Most time from being queued to the last token; then it ends with [`Stop::Deadline`]. None: no limit.
    pub deadline: Option<std::time::Duration>,
}

impl GenParams {
    /// A chat reply's parameters from the configuration: its token limit, temperature, seed and deadline.
    pub fn from_config(cfg: &crate::config::LlmConfig) -> Self {
        Self {
            max_tokens: cfg.max_new_tokens,
            temperature: cfg.temperature,
            seed: cfg.seed,
            deadline: (cfg.deadline_secs > 0.0).then(|| std::time::Duration::from_secs_f64(cfg.deadline_secs)),
            ..Self::default()
        }
    }
}

impl Default for GenParams {
    fn default() -> Self {
        Self {
            max_tokens: 128,
            temperature: 0.0,
            seed: 0,
            top_k: 40,
            top_p: 0.95,
            repeat_penalty: 1.1,
            stop: Vec::new(),
            deadline: None,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    EndOfText,
    MaxTokens,
    /// One of the request's stop strings.
    StopString,
    /// The receiver was dropped (the shopper left).
    Cancelled,
    /// The request's deadline passed.
    Deadline,
}

/// Figures of one finished generation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused from an earlier request (not evaluated again).
    pub reused_tokens: usize,
    /// Oldest turns dropped to fit `max_prompt_tokens`.
    pub dropped_messages: usize,
    pub generated_tokens: usize,
    /// Time spent queued before the engine took the request.
    pub queue_ms: f64,
    /// Prompt evaluation time.
    pub prompt_ms: f64,
    /// From the engine taking the request to the first generated token.
    pub first_token_ms: f64,
    pub generate_ms: f64,
    pub stop: Stop,
}

impl Stats {
    pub fn tokens_per_second(&self) -> f64 {
        if self.generate_ms <= 0.0 {
            return 0.0;
        }
        self.generated_tokens as f64 / (self.generate_ms / 1000.0)
    }
}

/// What a generation streams.
#[derive(Debug, Clone)]
pub enum Output {
    Text(String),
    Done(Stats),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub description: String,
    pub parameters: u64,
    pub context: u32,
    pub template: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("model file {0} not found: run `models/fetch.sh` or set AISLE_MODEL to a GGUF file")]
    ModelMissing(PathBuf),
    #[error("model file {path} could not be loaded (not a GGUF llama.cpp can read, or corrupt): {why}")]
    Load { path: PathBuf, why: String },
    #[error("the language model is busy ({0} requests waiting); retry in a moment")]
    Busy(usize),
    #[error("the language model engine has stopped")]
    Stopped,
    #[error("chat template: {0}")]
    Template(String),
    #[error("prompt of {tokens} tokens does not fit the context of {context} with room to answer")]
    PromptTooLong { tokens: usize, context: u32 },
    #[error("llama.cpp: {0}")]
    Backend(String),
    #[error("this backend does not support {0}")]
    Unsupported(&'static str),
    #[error("grammar: {0}")]
    Grammar(String),
    #[error("structured output: {0}")]
    Schema(String),
    #[error("language model server: {0}")]
    Server(String),
}
