//! The OpenAI-compatible HTTP backend: a shop that outgrows one machine points Aisle at llama-server, vLLM or
//! Ollama. Chat completions stream (server-sent events); JSON-schema output goes as the server's
//! `response_format`; GBNF grammars and top-k/repeat-penalty go only to llama.cpp's server, which understands them.
//! Each request runs on its own thread with a blocking client, like the in-process engine's thread; dropping the
//! receiver closes the connection, which stops the server's generation.
use super::{Counters, GenParams, Generate, LlmError, Message, Metrics, ModelInfo, Output, Stats, Stop};
use crate::config::LlmConfig;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A connection to an OpenAI-compatible server.
pub struct OpenAi {
    agent: ureq::Agent,
    base: String,
    model: String,
    key: Option<String>,
    /// llama.cpp's server: takes `grammar`, `top_k` and `repeat_penalty` beside the standard fields.
    llama_server: bool,
    /// More than `limit` requests in flight (`counters.active`) are answered busy at once.
    limit: usize,
    counters: Arc<Counters>,
    info: ModelInfo,
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(timeout)
        .build()
        .into()
}

/// Adds the bearer key, when there is one.
fn authorised<B>(req: ureq::RequestBuilder<B>, key: &Option<String>) -> ureq::RequestBuilder<B> {
    match key {
        Some(k) => req.header("Authorization", format!("Bearer {k}")),
        None => req,
    }
}

impl OpenAi {
    /// Asks the server for its models: fails at start, with what was tried, when it is not there.
    pub fn connect(cfg: &LlmConfig) -> Result<Self, LlmError> {
        let base = cfg.server_url.trim_end_matches('/').to_string();
        let agent = agent(None);
        let key = (!cfg.api_key.is_empty()).then(|| cfg.api_key.expose().to_string());
        let req = authorised(agent.get(format!("{base}/models")), &key);
        let unreachable = |why: String| LlmError::Server(format!("cannot list the models at {base}/models: {why}"));
        let mut resp = req.call().map_err(|e| unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unreachable(format!("HTTP {}", resp.status())));
        }
        let models: Value = resp.body_mut().read_json().map_err(|e| unreachable(e.to_string()))?;
        let listed: Vec<&Value> = models["data"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
        let model = if cfg.server_model.is_empty() {
            listed
                .first()
                .and_then(|m| m["id"].as_str())
                .map(str::to_string)
                .ok_or_else(|| unreachable("no models".into()))?
        } else {
            cfg.server_model.clone()
        };
        let entry = listed.iter().find(|m| m["id"].as_str() == Some(model.as_str()));
        let llama_server = entry.is_some_and(|m| m["owned_by"].as_str() == Some("llamacpp"));
        let context = entry.and_then(|m| m["meta"]["n_ctx_train"].as_u64()).unwrap_or(0) as u32;
        let parameters = entry.and_then(|m| m["meta"]["n_params"].as_u64()).unwrap_or(0);
        tracing::info!(server = %base, model = %model, llama_server, "language model server ready");
        let info = ModelInfo {
            path: base.clone().into(),
            description: model.clone(),
            parameters,
            context,
            template: "the server's".into(),
        };
        Ok(Self {
            agent,
            base,
            model,
            key,
            llama_server,
            limit: cfg.slots.max(1) + cfg.queue_capacity,
            counters: Arc::new(Counters::default()),
            info,
        })
    }

    /// The request body of a chat completion.
    fn body(&self, messages: &[Message], p: &GenParams, extra: Option<(&str, Value)>) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": p.max_tokens,
            "temperature": p.temperature.max(0.0),
            "seed": p.seed,
        });
        if p.temperature > 0.0 {
            body["top_p"] = json!(p.top_p);
            if self.llama_server {
                body["top_k"] = json!(p.top_k);
                body["repeat_penalty"] = json!(p.repeat_penalty);
            }
        }
        if !p.stop.is_empty() {
            body["stop"] = json!(p.stop);
        }
        if let Some((k, v)) = extra {
            body[k] = v;
        }
        body
    }

    fn start(&self, body: Value, p: &GenParams) -> Result<mpsc::Receiver<Output>, LlmError> {
        let active = &self.counters.active;
        let n = active.fetch_add(1, Ordering::Relaxed);
        if n >= self.limit {
            active.fetch_sub(1, Ordering::Relaxed);
            Counters::add(&self.counters.busy, 1);
            return Err(LlmError::Busy(n + 1 - self.limit.min(n + 1)));
        }
        Counters::add(&self.counters.requests, 1);
        let (tx, rx) = mpsc::channel(p.max_tokens as usize + 4);
        let mut req = authorised(self.agent.post(format!("{}/chat/completions", self.base)), &self.key);
        if let Some(d) = p.deadline {
            req = req.config().timeout_global(Some(d)).build();
        }
        let (counters, deadline) = (self.counters.clone(), p.deadline);
        std::thread::Builder::new()
            .name("aisle-llm-http".into())
            .spawn(move || {
                let started = Instant::now();
                let end = match stream(req, body, &tx, started, deadline, &counters) {
                    Ok(stats) => {
                        let first =
                            (stats.first_token_ms > 0.0).then(|| Duration::from_secs_f64(stats.first_token_ms / 1e3));
                        counters.finished(stats.stop, first);
                        Output::Done(stats)
                    }
                    Err(e) => {
                        Counters::add(&counters.failed, 1);
                        tracing::warn!(error = %e, "server generation failed");
                        Output::Failed(e.to_string())
                    }
                };
                let _ = tx.try_send(end);
                counters.active.fetch_sub(1, Ordering::Relaxed);
            })
            .map_err(|e| {
                self.counters.active.fetch_sub(1, Ordering::Relaxed);
                LlmError::Backend(e.to_string())
            })?;
        Ok(rx)
    }
}

/// Posts one streamed chat completion and forwards its text; returns its figures.
fn stream(
    req: ureq::RequestBuilder<ureq::typestate::WithBody>,
    body: Value,
    out: &mpsc::Sender<Output>,
    started: Instant,
    deadline: Option<Duration>,
    counters: &Counters,
) -> Result<Stats, LlmError> {
    let timed_out = |e: &dyn std::fmt::Display| {
        let s = e.to_string();
        deadline.is_some_and(|d| started.elapsed() >= d) || s.contains("timeout")
    };
    let mut resp = match req.send_json(&body) {
        Ok(r) => r,
        Err(e) if timed_out(&e) => return Ok(stats_of(started, None, 0, 0, 0, Stop::Deadline)),
        Err(e) => return Err(LlmError::Server(e.to_string())),
    };
    if !resp.status().is_success() {
        return Err(refused(&mut resp));
    }
    let reader = BufReader::new(resp.into_body().into_reader());
    let (mut first, mut generated, mut prompt, mut cached) = (None, 0usize, 0usize, 0usize);
    let mut stop = Stop::EndOfText;
    let mut finish: Option<String> = None;
    for line in reader.lines() {
        if out.is_closed() {
            stop = Stop::Cancelled;
            break;
        }
        let line = match line {
            Ok(l) => l,
            Err(e) if timed_out(&e) => {
                stop = Stop::Deadline;
                break;
            }
            Err(e) => return Err(LlmError::Server(format!("the stream broke: {e}"))),
        };
        let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
        if data == "[DONE]" {
            break;
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| LlmError::Server(format!("bad stream event ({e}): {data}")))?;
        if let Some(err) = v.get("error") {
            return Err(LlmError::Server(err["message"].as_str().unwrap_or("error").to_string()));
        }
        if let Some(choice) = v["choices"].get(0) {
            if let Some(t) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                first.get_or_insert_with(Instant::now);
                generated += 1;
                if out.try_send(Output::Text(t.to_string())).is_err() {
                    stop = Stop::Cancelled;
                    break;
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
        }
        usage(&v, &mut prompt, &mut generated, &mut cached);
    }
    if stop == Stop::EndOfText && finish.as_deref() == Some("length") {
        stop = Stop::MaxTokens;
    }
    Counters::add(&counters.prompt_tokens, prompt as u64);
    Counters::add(&counters.reused_tokens, cached as u64);
    Counters::add(&counters.generated, generated as u64);
    if let Some(f) = first {
        Counters::add(&counters.decode_us, f.elapsed().as_micros() as u64);
    }
    Ok(stats_of(started, first, prompt, cached, generated, stop))
}

/// The error a server's refusal means: busy (503, 429) or its own message, cut to 300 characters.
fn refused(resp: &mut ureq::http::Response<ureq::Body>) -> LlmError {
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let msg: String = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or(text)
        .chars()
        .take(300)
        .collect();
    match status.as_u16() {
        503 | 429 => LlmError::Busy(0),
        _ => LlmError::Server(format!("HTTP {status}: {msg}")),
    }
}

/// The token counts a stream event reports (OpenAI's `usage`, llama-server's `timings`), over the counted ones.
fn usage(v: &Value, prompt: &mut usize, generated: &mut usize, cached: &mut usize) {
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        *prompt = u["prompt_tokens"].as_u64().unwrap_or(0) as usize;
        *generated = u["completion_tokens"].as_u64().map_or(*generated, |n| n as usize);
        *cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0) as usize;
    }
    if let Some(t) = v.get("timings") {
        *cached = t["cache_n"].as_u64().map_or(*cached, |n| n as usize);
    }
}

fn stats_of(started: Instant, first: Option<Instant>, prompt: usize, cached: usize, gen: usize, stop: Stop) -> Stats {
    let first_ms = first.map_or(0.0, |f| f.duration_since(started).as_secs_f64() * 1000.0);
    Stats {
        prompt_tokens: prompt,
        reused_tokens: cached,
        dropped_messages: 0,
        generated_tokens: gen,
        queue_ms: 0.0,
        prompt_ms: first_ms,
        first_token_ms: first_ms,
        generate_ms: first.map_or(0.0, |f| f.elapsed().as_secs_f64() * 1000.0),
        stop,
    }
}

impl Generate for OpenAi {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(&self, messages: Vec<Message>, params: GenParams) -> Result<mpsc::Receiver<Output>, LlmError> {
        let body = self.body(&messages, &params, None);
        self.start(body, &params)
    }

    fn generate_constrained(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        grammar: String,
    ) -> Result<mpsc::Receiver<Output>, LlmError> {
        if !self.llama_server {
            return Err(LlmError::Unsupported("GBNF grammars on this server (use a JSON schema)"));
        }
        let body = self.body(&messages, &params, Some(("grammar", Value::String(grammar))));
        self.start(body, &params)
    }

    fn generate_schema(
        &self,
        messages: Vec<Message>,
        params: GenParams,
        schema: &Value,
    ) -> Result<mpsc::Receiver<Output>, LlmError> {
        // refuse what the grammar converter refuses, so both backends accept the same schemas
        super::schema::to_gbnf(schema)?;
        let format =
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}});
        let body = self.body(&messages, &params, Some(("response_format", format)));
        self.start(body, &params)
    }

    fn metrics(&self) -> Metrics {
        self.counters.snapshot(self.limit)
    }
}

/// A blocking client of an OpenAI-compatible `/embeddings` endpoint (the embedder's server backend).
pub struct EmbedClient {
    agent: ureq::Agent,
    url: String,
    model: String,
    key: Option<String>,
}

impl EmbedClient {
    pub fn new(base: &str, model: &str, key: &str) -> Self {
        Self {
            agent: agent(Some(Duration::from_secs(120))),
            url: format!("{}/embeddings", base.trim_end_matches('/')),
            model: model.to_string(),
            key: (!key.is_empty()).then(|| key.to_string()),
        }
    }

    pub fn model_name(&self) -> &str {
        if self.model.is_empty() {
            "server-default"
        } else {
            &self.model
        }
    }

    /// The texts' vectors, in order (as the server returns them; the embedder normalises).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let req = authorised(self.agent.post(&self.url), &self.key);
        let body = json!({"model": self.model, "input": texts, "encoding_format": "float"});
        let mut resp = req.send_json(&body).map_err(|e| format!("{}: {e}", self.url))?;
        let status = resp.status();
        let v: Value = resp.body_mut().read_json().map_err(|e| format!("{}: HTTP {status}, {e}", self.url))?;
        if !status.is_success() {
            return Err(format!("{}: HTTP {status}: {}", self.url, v["error"]["message"].as_str().unwrap_or("")));
        }
        let mut rows: Vec<(usize, Vec<f32>)> = v["data"]
            .as_array()
            .ok_or_else(|| format!("{}: no data in the answer", self.url))?
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let at = d["index"].as_u64().map_or(i, |n| n as usize);
                let vec =
                    d["embedding"].as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect());
                (at, vec.unwrap_or_default())
            })
            .collect();
        rows.sort_by_key(|(i, _)| *i);
        if rows.len() != texts.len() {
            return Err(format!("{}: {} vectors for {} texts", self.url, rows.len(), texts.len()));
        }
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_is_not_there_fails_at_start_naming_the_address() {
        let cfg = LlmConfig { server_url: "http://127.0.0.1:9/v1".into(), ..LlmConfig::default() };
        let e = OpenAi::connect(&cfg).err().expect("nothing listens on port 9");
        assert!(e.to_string().contains("http://127.0.0.1:9/v1/models"), "{e}");
    }
}
