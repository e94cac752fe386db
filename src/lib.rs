//! Aisle: a self-hosted AI shop assistant in one binary.
//!
//! # Layout
//! - [`config`]: the one typed configuration (file, environment, flags).
//! - [`store`]: sled trees that hold products, behaviour events, orders and chat sessions.
//! - [`catalog`]: the product record and the in-memory catalog loaded from the store.
//! - [`import`]: the generic import format plus adapters for the demo data sets.
//! - [`search`]: the tantivy product index.
//! - [`embed`]: sentence embeddings through llama.cpp, and the BERT-to-GGUF converter.
//! - [`intent`]: the intent classifier (embeddings + character n-grams, a softmax head trained in Rust).
//! - [`events`]: behaviour events from outside, bounded and checked against what the caller may write.
//! - [`behavior`]: purchase histories, popularity and co-purchase neighbours built from events.
//! - [`reco`]: the trained recommender (BPR + Adam over id and text features), item-kNN, `aisle eval`.
//! - [`rng`]: the seeded generator behind training, splits and benchmark samples.
//! - [`recommend`]: scores search candidates with a shopper's history and explains each pick.
//! - [`llm`]: the llama.cpp engine thread, its bounded queue and streamed tokens.
//! - [`privacy`]: redaction of personal data before anything is stored or sent to the model.
//! - [`prompts`]: the minijinja environment over `prompts/` (no auto-escaping).
//! - [`chat`]: one chat turn: understand the message, pick products, write and check the reply.
//! - [`service`]: order status, policy answers and handing over to a person.
//! - [`session`]: chat sessions and their transcripts.
//! - [`transcripts`]: the full-text index of transcripts behind the support console.
//! - [`live`]: live chat rooms, so staff can watch a conversation and take it over.
//! - [`accounts`]: staff accounts (argon2), roles and signed-in sessions.
//! - [`identity`]: shopper ids signed by the shop's backend (HMAC-SHA256), checked before any customer data.
//! - [`keys`]: API keys with scopes (publishable for the storefront, secret for the shop's backend), hashed.
//! - [`shopper_data`]: a shopper's data exported or deleted on request.
//! - [`copy`]: the copy studio's engine: templates with parameters, variants checked against the facts and
//!   the brand rules, saved variants and their attribution.
//! - [`http`]: axum routes: the widget's WebSocket, the demo store page, the staff pages.
//! - [`cli`]: the command line (`aisle serve`, `import`, `eval`, ...), and [`cli::bench`]: `aisle bench`, figures
//!   beside their references.
//! - [`app`]: builds all of the above into one [`app::Application`] and runs it until stopped.

/// mimalloc keeps freed pages for reuse: with the system allocator the sequential model's training spent half its
/// time in the kernel, mapping and unmapping each batch's large tensors (BENCHMARKS.md, "Recommender v2").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod accounts;
pub mod anomaly;
pub mod app;
pub mod attribution;
pub mod behavior;
pub mod catalog;
pub mod chat;
pub mod cli;
pub mod config;
pub mod copy;
pub mod dashboard;
pub mod derived;
pub mod embed;
pub mod events;
pub mod experiments;
pub mod forecast;
pub mod http;
pub mod identity;
pub mod import;
pub mod intent;
pub mod keys;
pub mod lang;
pub mod live;
pub mod llm;
pub mod money;
pub mod orders;
pub mod privacy;
pub mod progress;
pub mod prompts;
pub mod reco;
pub mod recommend;
pub mod rng;
pub mod search;
pub mod sentiment;
pub mod service;
pub mod session;
pub mod shopper_data;
pub mod store;
pub mod support;
pub mod telemetry;
pub mod transcripts;
