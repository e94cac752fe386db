//! The language model engine as the rest of Aisle uses it, with the real SmolLM2 model: continuous batching,
//! prefix reuse, limits (deadline, stop strings, long histories), schema-constrained JSON, metrics; and the
//! OpenAI-compatible backend against a real llama-server (built once by `.ci/llama-tools`).
use crate::support::*;
use aisle::config::LlmConfig;
use aisle::embed::Role;
use aisle::llm::openai::OpenAi;
use aisle::llm::{schema, Engine, GenParams, Generate, Message, Output, Stats, Stop};
use serde_json::json;
use std::time::{Duration, Instant};

fn llm_config(slots: usize) -> LlmConfig {
    let mut cfg = test_config(std::path::Path::new("unused")).llm;
    cfg.slots = slots;
    cfg
}

async fn collect(mut rx: tokio::sync::mpsc::Receiver<Output>) -> (String, Stats) {
    let mut text = String::new();
    while let Some(o) = rx.recv().await {
        match o {
            Output::Text(t) => text.push_str(&t),
            Output::Done(s) => return (text, s),
            Output::Failed(e) => panic!("generation failed: {e}"),
        }
    }
    panic!("the stream ended without Done")
}

fn greedy(max_tokens: u32) -> GenParams {
    GenParams { max_tokens, ..GenParams::default() }
}

fn ask(q: &str) -> Vec<Message> {
    vec![Message::system("You are a shop assistant."), Message::user(q)]
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

const PROMPTS: [&str; 4] = [
    "Describe a teddy bear in two sentences.",
    "What is a good gift for a five year old?",
    "Write a short thank-you note to a customer.",
    "Name three colours of balloons.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_output_decoded_in_one_batch_agrees_with_each_prompt_decoded_alone() {
    let engine = Engine::start(&llm_config(4)).unwrap();
    let mut alone = vec![];
    for p in PROMPTS {
        alone.push(collect(engine.generate(ask(p), greedy(40)).unwrap()).await.0);
    }
    let receivers: Vec<_> = PROMPTS.iter().map(|p| engine.generate(ask(p), greedy(40)).unwrap()).collect();
    let together = futures_util::future::join_all(receivers.into_iter().map(collect)).await;
    for ((p, a), (b, _)) in PROMPTS.iter().zip(&alone).zip(&together) {
        let agree = common_prefix(a, b);
        println!("{p}: {agree} of {} characters agree", a.chars().count().max(b.chars().count()));
        // floating-point order in a batch may change late tokens (in our runs all 40 agreed); early ones must not
        let n = a.chars().count();
        assert!(agree >= (n / 2).max(24.min(n)), "batched output differs early:\nalone:    {a:?}\ntogether: {b:?}");
    }
    let m = engine.metrics();
    assert_eq!(m.requests, 8);
    assert_eq!((m.slots, m.active_slots, m.queue_depth), (4, 0, 0));
    assert!(m.generated_tokens >= 8 * 10, "{m:?}");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_joins_a_running_generation_between_steps_and_leaves_before_it() {
    let engine = Engine::start(&llm_config(2)).unwrap();
    let mut long = engine.generate(ask("Write a long story about a lantern."), greedy(160)).unwrap();
    // wait until the long one is generating, then send a short one
    let first = long.recv().await.unwrap();
    assert!(matches!(first, Output::Text(_)), "the long generation ended early: {first:?}");
    let (_, short) = collect(engine.generate(ask("Say hello."), greedy(6)).unwrap()).await;
    assert!(short.generated_tokens <= 6);
    assert!(short.queue_ms < 500.0, "the short request did not wait for the long one: {short:?}");
    // the long generation is still going: it gets its Done only now
    let (_, long_stats) = collect(long).await;
    assert_eq!(long_stats.stop, Stop::MaxTokens, "{long_stats:?}");
    assert_eq!(engine.metrics().active_slots, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_system_prompt_is_reused_from_the_cache_and_gives_the_same_answer() {
    let policy = std::fs::read_to_string(root().join("data/policies/returns.md")).unwrap();
    let system = format!("You answer questions about this shop's policy.\n\n{policy}");
    let turn = |q: &str| vec![Message::system(system.clone()), Message::user(q)];
    let engine = Engine::start(&llm_config(2)).unwrap();
    let (_, cold) = collect(engine.generate(turn("How long do I have to return a toy?"), greedy(24)).unwrap()).await;
    assert_eq!(cold.reused_tokens, 0);
    assert!(cold.prompt_tokens > 150, "the policy makes a long prefix: {cold:?}");
    let (warm_text, warm) = collect(engine.generate(turn("Who pays for return postage?"), greedy(24)).unwrap()).await;
    assert!(warm.reused_tokens >= cold.prompt_tokens - 20, "the system prompt was reused: {warm:?} after {cold:?}");
    // the same question on a fresh engine evaluates everything and answers the same
    let fresh = Engine::start(&llm_config(1)).unwrap();
    let (fresh_text, f) = collect(fresh.generate(turn("Who pays for return postage?"), greedy(24)).unwrap()).await;
    assert_eq!(f.reused_tokens, 0);
    assert!(common_prefix(&warm_text, &fresh_text) >= 20.min(fresh_text.len()), "{warm_text:?} vs {fresh_text:?}");
    let m = engine.metrics();
    assert_eq!((m.cache_hits, m.cache_misses), (1, 1), "{m:?}");
    assert_eq!(m.reused_prompt_tokens, warm.reused_tokens as u64);
    let text = m.prometheus("llama");
    assert!(text.contains("aisle_llm_cache_hits_total{backend=\"llama\"} 1\n"), "{text}");
    assert!(text.contains("# TYPE aisle_llm_queue_depth gauge"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_stop_strings_and_long_histories_are_honoured() {
    let mut cfg = llm_config(2);
    cfg.ctx_size = 384;
    let engine = Engine::start(&cfg).unwrap();
    // a deadline ends the generation with what it has
    let t = Instant::now();
    let params = GenParams { deadline: Some(Duration::from_millis(400)), ..greedy(300) };
    let (_, s) = collect(engine.generate(ask("Write a long story about a lantern."), params).unwrap()).await;
    assert_eq!(s.stop, Stop::Deadline, "{s:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(s.generated_tokens < 300);

    // a stop string ends the text just before it, even when it spans tokens
    let q = ask("List the days of the week, one per line.");
    let (full, _) = collect(engine.generate(q.clone(), greedy(40)).unwrap()).await;
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "{full:?}");
    let stop = format!("{} {}", words[2], words[3]).replace(' ', "\n");
    let stop = if full.contains(&stop) { stop } else { words[2].to_string() };
    let at = full.find(&stop).unwrap();
    let params = GenParams { stop: vec![stop.clone()], ..greedy(40) };
    let (cut, s) = collect(engine.generate(q, params).unwrap()).await;
    assert_eq!(s.stop, Stop::StopString, "stop {stop:?} in {full:?}");
    assert_eq!(cut, full[..at], "the text ends before the stop string {stop:?}");

    // a history longer than the context loses its oldest turns, keeps the system prompt and the question
    let mut history = vec![Message::system("You are a shop assistant for a toy shop.")];
    for i in 0..30 {
        history.push(Message::user(format!("Tell me about toy number {i}, please, in some detail.")));
        history.push(Message::assistant(format!("Toy number {i} is a fine wooden toy that children enjoy.")));
    }
    history.push(Message::user("Which toys did we talk about?"));
    let (_, s) = collect(engine.generate(history, greedy(32)).unwrap()).await;
    assert!(s.dropped_messages >= 20, "{s:?}");
    assert!(s.prompt_tokens + 32 <= 384, "{s:?}");
}

fn order_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "intent": {"enum": ["track_order", "get_refund", "cancel_order", "search"]},
            "order_number": {"type": ["string", "null"], "maxLength": 10},
            "quantity": {"type": "integer"},
            "urgent": {"type": "boolean"}
        },
        "required": ["intent", "order_number", "quantity", "urgent"],
        "additionalProperties": false
    })
}

const SHOPPER_MESSAGES: [&str; 5] = [
    "where is my order 536365?",
    "I want my money back for the broken train set",
    "cancel order 581475 now please!!",
    "do you sell 3 red balloons",
    "我的订单在哪里",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_constrained_output_always_parses_and_fits_the_schema() {
    let engine = Engine::start(&llm_config(2)).unwrap();
    for text in SHOPPER_MESSAGES {
        let messages =
            vec![Message::system("Extract the shopper's request as JSON."), Message::user(format!("Message: {text}"))];
        let v = schema::generate_json(&engine, messages, greedy(64), &order_schema()).await;
        let v = v.unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(schema::validate(&v, &order_schema()).is_ok(), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_shows_the_engine_to_admins() {
    let app = shared();
    let auth = format!("Bearer {TOKEN}");
    let r = http(app.port, "GET", "/metrics", &[("Authorization", auth.as_str())], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("aisle_llm_slots{backend=\"llama\"} 4\n"), "{}", r.body);
    assert!(r.body.contains("aisle_llm_requests_total"), "{}", r.body);
    assert_eq!(http(app.port, "GET", "/metrics", &[], "").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_turn_embeds_the_shoppers_message_once_for_its_intent_and_its_search() {
    let dir = slice_dir(2000);
    let app = TestApp::start(test_config(dir.path())).unwrap();
    let auth = format!("Bearer {TOKEN}");
    let hits = || async {
        let r = http(app.port, "GET", "/metrics", &[("Authorization", auth.as_str())], "").await;
        let line = r.body.lines().find(|l| l.starts_with("aisle_embed_query_cache_hits_total ")).map(str::to_string);
        let line = line.unwrap_or_else(|| panic!("no cache line in {}", r.body));
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    assert_eq!(hits().await, 0, "nothing asked yet");
    let mut shopper = ws(app.port).await;
    let frames = turn(&mut shopper, "I am looking for a Christmas decoration with lights").await;
    assert!(!cards(&frames).is_empty(), "a search answered: {frames:?}");
    // the intent classifier embedded the message; the search found its vector in the cache
    assert!(hits().await >= 1, "the search embedded the message again");
    drop(shopper);
    app.stop().unwrap();
}

/// llama-server on a free port, killed when dropped.
struct LlamaServer {
    child: std::process::Child,
    url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The llama-server that `.ci/llama-tools` built (its cache, or AISLE_LLAMA_TOOLS).
fn llama_server_binary() -> std::path::PathBuf {
    let dir = aisle::cli::bench::engine::llama_tools(&root()).unwrap_or_else(|e| panic!("llama-server is needed: {e}"));
    dir.join("llama-server")
}

async fn start_llama_server(model: &std::path::Path, args: &[&str]) -> LlamaServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(llama_server_binary())
        .args(["-m", model.to_str().unwrap(), "--port", &port.to_string(), "--host", "127.0.0.1", "-t", "1"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("llama-server starts");
    let server = LlamaServer { child, url: format!("http://127.0.0.1:{port}/v1") };
    let started = Instant::now();
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if up && http(port, "GET", "/health", &[], "").await.status == 200 {
            return server;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "llama-server did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_backend_streams_structured_output_and_cancels_on_a_real_llama_server() {
    let model = llm_config(1).model;
    let server = start_llama_server(&model, &["-np", "2", "-c", "4096"]).await;
    let cfg = LlmConfig { server_url: server.url.clone(), ..llm_config(2) };
    let llm = tokio::task::spawn_blocking(move || OpenAi::connect(&cfg)).await.unwrap().unwrap();
    let file = model.file_name().unwrap().to_string_lossy().to_string();
    assert!(llm.info().description.contains(&file), "the server's model is named: {:?}", llm.info());

    // streamed: the text comes in several pieces, then the figures
    let mut rx = llm.generate(ask("Describe a teddy bear in two sentences."), greedy(40)).unwrap();
    let (mut pieces, mut text, mut done) = (0, String::new(), None);
    while let Some(o) = rx.recv().await {
        match o {
            Output::Text(t) => {
                pieces += 1;
                text.push_str(&t);
            }
            Output::Done(s) => done = Some(s),
            Output::Failed(e) => panic!("{e}"),
        }
    }
    let done = done.expect("a Done");
    assert!(pieces >= 5, "streamed in pieces: {pieces} {text:?}");
    assert!(done.generated_tokens >= 5 && done.prompt_tokens > 5, "{done:?}");
    // the same greedy request in process answers the same words
    let engine = Engine::start(&llm_config(1)).unwrap();
    let (local, _) =
        collect(engine.generate(ask("Describe a teddy bear in two sentences."), greedy(40)).unwrap()).await;
    println!("server: {text:?}\nlocal:  {local:?}");
    assert!(common_prefix(&text, &local) >= 16.min(local.len()), "{text:?} vs {local:?}");

    // JSON schema through the server's response_format, parsed and validated here
    for m in SHOPPER_MESSAGES.iter().take(3) {
        let messages = vec![Message::system("Extract the shopper's request as JSON."), Message::user(*m)];
        let v = schema::generate_json(&llm, messages, greedy(64), &order_schema()).await;
        assert!(v.is_ok(), "{m}: {v:?}");
    }
    // a GBNF grammar goes to llama-server as its `grammar` field
    let g = "root ::= \"yes\" | \"no\"".to_string();
    let (answer, _) = collect(llm.generate_constrained(ask("Is a teddy soft?"), greedy(4), g).unwrap()).await;
    assert!(answer == "yes" || answer == "no", "{answer:?}");

    // cancelling: the receiver is dropped mid-stream; the request ends early and the backend is free again
    let mut rx = llm.generate(ask("Write a long story about a lantern."), greedy(400)).unwrap();
    assert!(matches!(rx.recv().await, Some(Output::Text(_))));
    drop(rx);
    let t = Instant::now();
    while llm.metrics().active_slots > 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the cancelled request did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = llm.metrics();
    assert_eq!(m.cancelled, 1, "{m:?}");
    assert!(m.generated_tokens < 400 + 200, "{m:?}");
    let (_, s) = collect(llm.generate(ask("Say hello."), greedy(4)).unwrap()).await;
    assert!(s.generated_tokens >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_from_a_real_llama_server_match_the_in_process_ones() {
    use aisle::embed::Embedder;
    let model = root().join("models/all-MiniLM-L6-v2.q8_0.gguf");
    let server =
        start_llama_server(&model, &["--embeddings", "--pooling", "mean", "-c", "512", "-b", "512", "-ub", "512"])
            .await;
    let url = server.url.clone();
    let remote = tokio::task::spawn_blocking(move || Embedder::connect(&url, "", "")).await.unwrap().unwrap();
    let local = tokio::task::spawn_blocking(move || Embedder::start(&model, 1)).await.unwrap().unwrap();
    assert_eq!(remote.dim, local.dim);
    assert_ne!(remote.model_id, local.model_id, "vectors of the two are never mixed");
    let texts: Vec<String> = ["a wooden train set for a toddler", "red heart tea lights", "where is my order?"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (r, l) =
        (remote.embed(texts.clone(), Role::Query).await.unwrap(), local.embed(texts, Role::Query).await.unwrap());
    for (a, b) in r.iter().zip(&l) {
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "normalised: {norm}");
        let cos = aisle::embed::dot(a, b);
        assert!(cos > 0.999, "the server's vector is the in-process one: cosine {cos}");
    }
    // different texts stay apart
    assert!(aisle::embed::dot(&r[0], &r[2]) < 0.6);
}
