//! The language model: an in-process llama.cpp engine on its own thread behind a bounded queue. Each generation
//! gets its own channel of streamed text; dropping the receiver cancels it at the next token.
mod engine;
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
}

use std::path::PathBuf;

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
#[derive(Debug, Clone, Copy)]
pub struct GenParams {
    pub max_tokens: u32,
    /// 0 is greedy.
    pub temperature: f32,
    pub seed: u32,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    EndOfText,
    MaxTokens,
    Cancelled,
}

/// Figures of one finished generation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub prompt_tokens: usize,
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
}
