//! Sentence embeddings with llama.cpp (the same runtime as the chat model): a BERT GGUF on its own thread,
//! batches of a few sequences per decode, mean-pooled and L2-normalised vectors. [`convert`] makes the GGUF.
pub mod convert;
pub mod e5;

use crate::llm::LlmError;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Sequences per decode: measured fastest around 4 on 2 cores (bigger batches get slower).
const SEQS_PER_BATCH: usize = 4;
/// Longest text in tokens; longer texts are cut (titles and the start of a description carry most meaning).
pub const MAX_TOKENS: usize = 128;

/// What a text is to the model. Some models were trained with a prefix for each (multilingual-e5: `query: ` and
/// `passage: `, recorded in its GGUF); for the others both are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// What a shopper or staff member typed.
    Query,
    /// What is searched: product texts, policy sections.
    Passage,
}

/// The vectors of one request, or why they could not be made.
pub type Vectors = Result<Vec<Vec<f32>>, String>;

struct Job {
    texts: Vec<String>,
    reply: tokio::sync::oneshot::Sender<Vectors>,
    /// Set for a single query: its vector goes into the [`QueryCache`] under this key.
    cache_key: Option<u64>,
}

impl Job {
    /// Sends the vectors back, keeping a single query's in the cache.
    fn answer(self, result: Vectors, cache: &Mutex<QueryCache>) {
        if let (Some(key), Ok([v])) = (self.cache_key, result.as_deref()) {
            cache.lock().unwrap_or_else(|e| e.into_inner()).put(key, v.clone());
        }
        let _ = self.reply.send(result);
    }
}

/// Queries the cache holds.
pub const QUERY_CACHE_SIZE: usize = 1024;

/// The vectors of recently embedded single queries, keyed by a hash of their text (randomly keyed per process, so
/// no text can be made to collide with another on purpose; the texts themselves are not kept). A chat turn
/// embeds the shopper's message for its intent and again for its search (the same text unless it names a price or
/// an order number), and a shop's searches repeat ("lego", "puzzle"): each is embedded once. The least recently
/// used query leaves when it is full.
struct QueryCache {
    hasher: std::collections::hash_map::RandomState,
    entries: std::collections::HashMap<u64, (Vec<f32>, u64)>,
    clock: u64,
    hits: u64,
}

impl QueryCache {
    /// An empty cache, shared by the handle and its embedding thread.
    fn shared() -> std::sync::Arc<Mutex<Self>> {
        std::sync::Arc::new(Mutex::new(Self {
            hasher: Default::default(),
            entries: Default::default(),
            clock: 0,
            hits: 0,
        }))
    }

    fn key(&self, text: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, text)
    }

    fn get(&mut self, key: u64) -> Option<Vec<f32>> {
        self.clock += 1;
        let (v, used) = self.entries.get_mut(&key)?;
        *used = self.clock;
        self.hits += 1;
        Some(v.clone())
    }

    fn put(&mut self, key: u64, v: Vec<f32>) {
        if self.entries.len() >= QUERY_CACHE_SIZE && !self.entries.contains_key(&key) {
            let oldest = self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.clock += 1;
        self.entries.insert(key, (v, self.clock));
    }
}

/// Handle to the embedding thread.
pub struct Embedder {
    jobs: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    cache: std::sync::Arc<Mutex<QueryCache>>,
    /// Identifies the model, stored beside every vector so vectors of two models are never mixed.
    pub model_id: String,
    pub dim: usize,
    query_prefix: String,
    passage_prefix: String,
}

impl Embedder {
    pub fn start(path: &Path, threads: i32) -> Result<Self, LlmError> {
        if !path.is_file() {
            return Err(LlmError::ModelMissing(path.to_path_buf()));
        }
        let (tx, rx) = sync_channel::<Job>(64);
        let cache = QueryCache::shared();
        let thread_cache = cache.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path2: PathBuf = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("aisle-embed".into())
            .spawn(move || {
                let loaded = (|| {
                    let backend = crate::llm::backend()?;
                    let model = LlamaModel::load_from_file(backend, &path2, &LlamaModelParams::default())
                        .map_err(|e| LlmError::Load { path: path2.clone(), why: e.to_string() })?;
                    Ok::<_, LlmError>((backend, model))
                })();
                let (backend, model) = match loaded {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let n = (MAX_TOKENS * SEQS_PER_BATCH) as u32;
                let params = LlamaContextParams::default()
                    .with_embeddings(true)
                    .with_n_ctx(NonZeroU32::new(n))
                    .with_n_batch(n)
                    .with_n_ubatch(n)
                    .with_n_seq_max(SEQS_PER_BATCH as u32)
                    .with_n_threads(threads.max(1))
                    .with_n_threads_batch(threads.max(1));
                let mut ctx = match model.new_context(backend, params) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(LlmError::Backend(format!("embedding context: {e}"))));
                        return;
                    }
                };
                let name = model.meta_val_str("general.name").unwrap_or_else(|_| "embedding model".into());
                let dim = model.n_embd() as usize;
                // the weights' type too: vectors of the f16 and the Q8_0 file differ slightly and are never mixed
                let weights = model
                    .meta_val_str("general.file_type")
                    .map_or_else(|_| "unknown".to_string(), |code| convert::file_type_name(&code));
                let id = format!("{name}/{}/{dim}/{weights}", model.n_params());
                let prefix = |key: &str| model.meta_val_str(key).unwrap_or_default();
                let prefixes = (prefix(e5::QUERY_PREFIX_KEY), prefix(e5::PASSAGE_PREFIX_KEY));
                let _ = ready_tx.send(Ok((id, dim, prefixes)));
                while let Ok(job) = rx.recv() {
                    let result = embed_all(&model, &mut ctx, &job.texts, dim);
                    job.answer(result.map_err(|e| e.to_string()), &thread_cache);
                }
            })
            .map_err(|e| LlmError::Backend(e.to_string()))?;
        let ((model_id, dim, (query_prefix, passage_prefix)), thread) = crate::llm::await_ready(&ready_rx, thread)?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            cache,
            model_id,
            dim,
            query_prefix,
            passage_prefix,
        })
    }

    /// Embeddings from an OpenAI-compatible server's `/embeddings` (llama-server with `--embeddings`, vLLM,
    /// Ollama) instead of in process: the same queue and calls, vectors normalised here. The model id names the
    /// server and model, so its vectors are never mixed with a local model's.
    pub fn connect(url: &str, model: &str, key: &str) -> Result<Self, LlmError> {
        let client = crate::llm::openai::EmbedClient::new(url, model, key);
        let probe = client.embed(&["probe".to_string()]).map_err(LlmError::Server)?;
        let dim = probe.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(LlmError::Server(format!("{url}/embeddings returned an empty vector")));
        }
        let model_id = format!("{}@{}/{dim}", client.model_name(), url.trim_end_matches('/'));
        let (tx, rx) = sync_channel::<Job>(64);
        let cache = QueryCache::shared();
        let thread_cache = cache.clone();
        let thread = std::thread::Builder::new()
            .name("aisle-embed-http".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let result = client.embed(&job.texts).map(|vs| vs.iter().map(|v| normalise(v)).collect());
                    job.answer(result, &thread_cache);
                }
            })
            .map_err(|e| LlmError::Backend(e.to_string()))?;
        tracing::info!(server = url, model = %model_id, "embedding server ready");
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            cache,
            model_id,
            dim,
            query_prefix: String::new(),
            passage_prefix: String::new(),
        })
    }

    /// Queues texts without waiting; the receiver gets the vectors.
    pub fn submit(&self, texts: Vec<String>, role: Role) -> Result<tokio::sync::oneshot::Receiver<Vectors>, LlmError> {
        let prefix = match role {
            Role::Query => &self.query_prefix,
            Role::Passage => &self.passage_prefix,
        };
        let texts = if prefix.is_empty() { texts } else { texts.into_iter().map(|t| format!("{prefix}{t}")).collect() };
        let (reply, rx) = tokio::sync::oneshot::channel();
        let cache_key = match (role, texts.as_slice()) {
            (Role::Query, [text]) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                let key = cache.key(text);
                if let Some(v) = cache.get(key) {
                    let _ = reply.send(Ok(vec![v]));
                    return Ok(rx);
                }
                Some(key)
            }
            _ => None,
        };
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = guard.as_ref().ok_or(LlmError::Stopped)?;
        match sender.try_send(Job { texts, reply, cache_key }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(LlmError::Busy(64)),
            Err(TrySendError::Disconnected(_)) => Err(LlmError::Stopped),
        }
    }

    /// Embeds texts (normalised vectors, in order). Async: waits without blocking the runtime.
    pub async fn embed(&self, texts: Vec<String>, role: Role) -> Result<Vec<Vec<f32>>, LlmError> {
        self.submit(texts, role)?.await.map_err(|_| LlmError::Stopped)?.map_err(LlmError::Backend)
    }

    /// Embeds texts from blocking code (import, benchmarks).
    pub fn embed_blocking(&self, texts: Vec<String>, role: Role) -> Result<Vec<Vec<f32>>, LlmError> {
        self.submit(texts, role)?.blocking_recv().map_err(|_| LlmError::Stopped)?.map_err(LlmError::Backend)
    }

    /// Single queries answered from the cache since start, and the queries it holds now.
    pub fn cache_stats(&self) -> (u64, usize) {
        let c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        (c.hits, c.entries.len())
    }

    /// Forgets every cached query (benchmarks time first-time queries).
    pub fn clear_cache(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
    }

    pub fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Embedder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn embed_all(
    model: &LlamaModel,
    ctx: &mut llama_cpp_2::context::LlamaContext,
    texts: &[String],
    dim: usize,
) -> Result<Vec<Vec<f32>>, LlmError> {
    let vocab = model.vocab();
    let err = |e: &dyn std::fmt::Display| LlmError::Backend(e.to_string());
    let mut out = Vec::with_capacity(texts.len());
    let mut batch = LlamaBatch::new(MAX_TOKENS * SEQS_PER_BATCH, SEQS_PER_BATCH as i32);
    for group in texts.chunks(SEQS_PER_BATCH) {
        batch.clear();
        ctx.clear_kv_cache();
        for (s, text) in group.iter().enumerate() {
            // shopper text is never parsed for special tokens
            let mut toks = vocab.tokenize(text.as_bytes(), true, false);
            if toks.len() > MAX_TOKENS {
                let sep = *toks.last().expect("non-empty");
                toks.truncate(MAX_TOKENS - 1);
                toks.push(sep);
            }
            for (p, t) in toks.iter().enumerate() {
                batch.add(*t, p as i32, &[s as i32], true).map_err(|e| err(&e))?;
            }
        }
        ctx.decode(&mut batch).map_err(|e| err(&e))?;
        for s in 0..group.len() {
            let v = ctx.embeddings_seq_ith(s as i32).map_err(|e| err(&e))?;
            out.push(normalise(&v[..dim.min(v.len())]));
        }
    }
    Ok(out)
}

pub fn normalise(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// Dot product of two normalised vectors (their cosine similarity).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // eight independent accumulators let the compiler vectorise the loop
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_cache_keeps_the_most_recently_used_queries() {
        let shared = QueryCache::shared();
        let mut c = shared.lock().unwrap();
        let keys: Vec<u64> = (0..=QUERY_CACHE_SIZE).map(|i| c.key(&format!("query {i}"))).collect();
        for (i, k) in keys[..QUERY_CACHE_SIZE].iter().enumerate() {
            c.put(*k, vec![i as f32]);
        }
        assert_eq!(c.get(keys[0]), Some(vec![0.0]), "the first query, used again now");
        c.put(keys[QUERY_CACHE_SIZE], vec![-1.0]);
        assert_eq!(c.entries.len(), QUERY_CACHE_SIZE);
        assert_eq!(c.get(keys[1]), None, "the least recently used left");
        assert_eq!(c.get(keys[0]), Some(vec![0.0]));
        assert_eq!(c.get(keys[QUERY_CACHE_SIZE]), Some(vec![-1.0]));
        assert_eq!(c.hits, 3);
        assert_ne!(c.key("lego"), c.key("Lego"), "the text as typed is the key");
    }
}
