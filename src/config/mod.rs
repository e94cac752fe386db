//! The one typed configuration: defaults, then a TOML file, then `AISLE_*` environment variables, then flags.
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod alternatives;
mod env;
mod paths;
pub use alternatives::AltModel;
pub use paths::{locate_in, search_bases};

/// A secret that never prints.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(<empty>)" } else { "Secret(***)" })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to serve on. `AISLE_LISTEN`. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for the sled store and the search index. `AISLE_DATA_DIR`. Default `data/store`.
    pub data_dir: PathBuf,
    /// Directory of `prompts/` templates. `AISLE_PROMPTS_DIR`. Default `prompts`.
    pub prompts_dir: PathBuf,
    /// Directory of `templates/` pages. `AISLE_TEMPLATES_DIR`. Default `templates`.
    pub templates_dir: PathBuf,
    /// Directory of `static/` files (the widget). `AISLE_STATIC_DIR`. Default `static`.
    pub static_dir: PathBuf,
    /// The shop's policy documents (Markdown; sections list the intents they answer). Default `data/policies`.
    pub policies_dir: PathBuf,
    /// Labelled utterances the intent classifier is trained on when `DATA_DIR/intent-model.json` is missing.
    pub intent_sets: Vec<PathBuf>,
    /// Labelled texts the sentiment head is trained on when `DATA_DIR/sentiment-model.json` is missing: star-rated
    /// reviews (`product_id,stars,title,text`) and Bitext utterances. Default: the toys reviews and Bitext.
    pub sentiment_sets: Vec<PathBuf>,
    /// The shop's name, used in prompts and pages. `AISLE_SHOP_NAME`.
    pub shop_name: String,
    /// An API token with the admin role (header `Authorization: Bearer …`), for scripts and the shop's backend.
    /// Staff in the browser sign in with their accounts (`aisle user add`). `AISLE_ADMIN_TOKEN`. Empty: no token.
    pub admin_token: Secret,
    /// The language model.
    pub llm: LlmConfig,
    /// Limits on chat traffic.
    pub chat: ChatConfig,
    /// Semantic search.
    pub embed: EmbedConfig,
    /// Search settings.
    pub search: SearchConfig,
    /// Transcripts (chat sessions) last active longer ago than this many days are deleted, at start and hourly.
    /// `AISLE_RETENTION_DAYS`. Default 365; 0 keeps them forever.
    pub transcript_retention_days: u64,
    pub security: SecurityConfig,
    /// What is never offered and what is favoured, in the chat and the recommendation API alike (`[rules]`:
    /// `exclude_categories`, `boost`). `AISLE_EXCLUDE_CATEGORIES` (comma-separated).
    pub rules: crate::reco::rules::ShopRules,
}

/// Who may do what from outside, and how much: signed shopper ids, allowed shop origins, connection limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Secret the shop's backend signs customer ids with (HMAC-SHA256). `AISLE_IDENTITY_SECRET`. Empty: a random
    /// one kept in `DATA_DIR/identity.key` (`aisle identity sign` prints signed ids with it).
    pub identity_secret: Secret,
    /// Trust unsigned customer ids (development only). `AISLE_TRUST_UNSIGNED_IDS`. Default false.
    pub trust_unsigned_ids: bool,
    /// Shop origins allowed to embed the widget (`https://shop.example`), besides Aisle's own.
    /// `AISLE_ALLOWED_ORIGINS` (comma-separated). CORS and the WebSocket's Origin check use it.
    pub allowed_origins: Vec<String>,
    /// Mark the staff cookie `Secure` (serve over HTTPS). `AISLE_SECURE_COOKIES`. Default false.
    pub secure_cookies: bool,
    /// A chat socket with no frame from the shopper for this long is closed. Default 600.
    pub chat_idle_secs: u64,
    /// Open chat sockets per client address. Default 16.
    pub sockets_per_client: usize,
    /// New chat connections per client address per minute. Default 30.
    pub chats_per_minute: u32,
    /// `POST /api/events` requests per client address per minute. Default 600.
    pub events_per_minute: u32,
    /// Sign-in attempts per client address per minute. Default 10.
    pub logins_per_minute: u32,
    /// Failed sign-ins in a row that lock an account, and for how long. Defaults 5 and 900 s.
    pub lockout_after: u32,
    pub lockout_secs: u64,
    /// Time to read a request's headers, and for a whole (non-WebSocket) request. Defaults 10 s and 120 s.
    pub header_timeout_secs: u64,
    pub request_timeout_secs: u64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            identity_secret: Secret::default(),
            trust_unsigned_ids: false,
            allowed_origins: vec![],
            secure_cookies: false,
            chat_idle_secs: 600,
            sockets_per_client: 16,
            chats_per_minute: 30,
            events_per_minute: 600,
            logins_per_minute: 10,
            lockout_after: 5,
            lockout_secs: 900,
            header_timeout_secs: 10,
            request_timeout_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// BERT GGUF for sentence embeddings (`aisle convert bert` makes it). `AISLE_EMBED_MODEL`.
    /// Default `models/all-MiniLM-L6-v2.q8_0.gguf`. Missing: search is keyword-only, with a warning.
    pub model: PathBuf,
    /// llama.cpp threads for embeddings while serving. `AISLE_EMBED_THREADS`. Default 1: on 2 cores, 2 threads
    /// embed one message a third faster alone but made searches slower, the keyword side running beside the
    /// embedding (BENCHMARKS.md). llama.cpp is built without OpenMP, with which 2 embedding threads slowed the
    /// chat model's decoding to a third. Bulk embedding at import uses `import_threads`.
    pub threads: i32,
    /// llama.cpp threads for embedding a catalog at import (no chat is generating then). Default 2.
    pub import_threads: i32,
    /// An OpenAI-compatible server's base URL (up to `/v1`) to embed on instead of `model` in process, e.g.
    /// llama-server with `--embeddings --pooling mean`. `AISLE_EMBED_URL`. Default empty: in process.
    pub server_url: String,
    /// The model name sent to that server. `AISLE_EMBED_SERVER_MODEL`.
    pub server_model: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// The shop's synonyms, one group per line (`mum, mom, mother`). Default `data/synonyms.txt`.
    pub synonyms: PathBuf,
    /// Weight of the semantic side in reciprocal rank fusion (keyword side: 1.0). Default 1.0.
    pub semantic_weight: f32,
    /// k of reciprocal rank fusion. Default 60.
    pub rrf_k: f32,
    /// Catalogs with at least this many product vectors are searched through an HNSW graph instead of
    /// exactly. `AISLE_ANN_MIN`. Default 20000 (below it the exact scan takes under 2 ms here).
    pub ann_min: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("models/all-MiniLM-L6-v2.q8_0.gguf"),
            threads: 1,
            import_threads: 2,
            server_url: String::new(),
            server_model: String::new(),
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { synonyms: PathBuf::from("data/synonyms.txt"), semantic_weight: 1.0, rrf_k: 60.0, ann_min: 20_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Path of a GGUF chat model. `AISLE_MODEL`. Default `models/SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub model: PathBuf,
    /// llama.cpp threads. `AISLE_THREADS`. Default: the machine's cores, at most 8.
    pub threads: i32,
    /// Context size in tokens. `AISLE_CTX`. Default 2048.
    pub ctx_size: u32,
    /// Largest batch handed to one `decode` call; longer prompts are split. Default 512.
    pub batch_size: u32,
    /// Generations waiting for the engine before new ones are answered "busy". `AISLE_QUEUE`. Default 16.
    pub queue_capacity: usize,
    /// Most new tokens of one chat reply. Default 80.
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 is greedy and deterministic. `AISLE_TEMPERATURE`. Default 0.3.
    pub temperature: f32,
    /// Seed for sampling. Default 42.
    pub seed: u32,
    /// Conversations decoded together in one batch (llama-server's parallel slots). Each slot has `ctx_size`
    /// tokens; the KV cache holds `slots * ctx_size` tokens, shared (a prefix cached for one slot serves all).
    /// `AISLE_SLOTS`. Default 4.
    pub slots: usize,
    /// Longest prompt in tokens; longer conversations lose their oldest turns (never the system prompt or the
    /// latest message). 0: whatever leaves room for the answer in `ctx_size`. Default 0.
    pub max_prompt_tokens: u32,
    /// Seconds one generation may run, from being queued; then it stops with what it has. `AISLE_LLM_DEADLINE`.
    /// Default 60; 0: no deadline.
    pub deadline_secs: f64,
    /// Which engine generates: `llama` (in-process llama.cpp, the default) or `openai` (an OpenAI-compatible
    /// server: llama-server, vLLM, Ollama). `AISLE_LLM_BACKEND`.
    pub backend: LlmBackend,
    /// The OpenAI-compatible server's base URL, up to and including `/v1`. `AISLE_LLM_URL`.
    /// Default `http://127.0.0.1:8081/v1`.
    pub server_url: String,
    /// The model name sent to the server. `AISLE_LLM_SERVER_MODEL`. Default empty: the server's first model.
    pub server_model: String,
    /// Bearer key for the server, if it wants one. `AISLE_LLM_API_KEY`.
    pub api_key: Secret,
    /// Other chat models a chat experiment's variant may speak with, by name (`[llm.alternatives.NAME]`): each
    /// is this configuration with its own `model` (a GGUF run in-process; a relative path is read from the
    /// working folder) or its own server (`backend = "openai"`, `server_url`, `server_model`). Started with the
    /// server; one that cannot start stops the start with its name.
    pub alternatives: std::collections::BTreeMap<String, AltModel>,
}

/// The engine behind [`crate::llm::Generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    Llama,
    Openai,
}

impl std::str::FromStr for LlmBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "llama" => Ok(Self::Llama),
            "openai" => Ok(Self::Openai),
            _ => Err("expected llama or openai".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Longest shopper message in characters; longer ones get an error frame. Default 2000.
    pub max_message_chars: usize,
    /// Largest WebSocket frame in bytes; a larger one closes the socket with code 1009. Default 65536.
    pub max_frame_bytes: usize,
    /// Product cards per answer. Default 4.
    pub cards: usize,
    /// Concurrent chat connections; more are refused with 503. Default 256.
    pub max_connections: usize,
    /// When the intent classifier is unsure (confidence < 0.5), let the language model choose among its three
    /// best intents (grammar-constrained JSON). Default false: the small default model chooses worse than the
    /// classifier (BENCHMARKS.md, "Intent classification"); turn it on for a model that measures better.
    /// `AISLE_LLM_INTENTS`.
    pub llm_intent_fallback: bool,
    /// Seconds the model's words for one reply may take after its first token; past them the template completes
    /// the reply. `AISLE_REPLY_BUDGET`. Default 3; 0: no budget.
    pub reply_budget_secs: f64,
    /// The bilingual dictionary (CC-CEDICT's format, gzip or plain) that reads messages in other languages against
    /// the catalog (`models/fetch.sh cedict`). `AISLE_DICTIONARY`. Default `models/cedict.txt.gz`.
    pub dictionary: PathBuf,
    /// The languages the chat model is asked to write (codes, comma-separated in `AISLE_MODEL_LANGUAGES`); in the
    /// others the templates answer. Default `["en"]`: the small default model writes no Chinese. Add "zh" for a
    /// model that does (Qwen2.5, a server); its words are checked like English ones.
    pub model_languages: Vec<String>,
    /// The shop's currency (ISO 4217): budgets said in another one are not applied, and the shopper is told.
    /// `AISLE_CURRENCY`. Default GBP.
    pub currency: String,
    /// How amounts are written: the decimal mark and the sign's side (`de-DE`: `12,50 €`; `nl`: `€ 12,50`).
    /// `AISLE_LOCALE`. Default `en`.
    pub locale: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("data/store"),
            prompts_dir: PathBuf::from("prompts"),
            templates_dir: PathBuf::from("templates"),
            static_dir: PathBuf::from("static"),
            policies_dir: PathBuf::from("data/policies"),
            intent_sets: crate::intent::data::default_sets(std::path::Path::new("")),
            sentiment_sets: crate::sentiment::model::default_sources(std::path::Path::new("")),
            shop_name: "Aisle demo gift shop".into(),
            admin_token: Secret::default(),
            llm: LlmConfig::default(),
            chat: ChatConfig::default(),
            embed: EmbedConfig::default(),
            search: SearchConfig::default(),
            transcript_retention_days: 365,
            security: SecurityConfig::default(),
            rules: Default::default(),
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            model: PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
            // small machines leave a core for the rest of the box: beside one busy process, two threads on two
            // cores collapsed (turn 2.7x quiet, 6.7x beside two) while one thread held 1.1x / 1.9x and cost 1.2x
            // when quiet (BENCHMARKS.md, bench contention)
            threads: default_threads(cores),
            ctx_size: 2048,
            batch_size: 512,
            queue_capacity: 16,
            max_new_tokens: 80,
            temperature: 0.3,
            seed: 42,
            slots: 4,
            max_prompt_tokens: 0,
            deadline_secs: 60.0,
            backend: LlmBackend::Llama,
            server_url: "http://127.0.0.1:8081/v1".into(),
            server_model: String::new(),
            api_key: Secret::default(),
            alternatives: Default::default(),
        }
    }
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_message_chars: 2000,
            max_frame_bytes: 65536,
            cards: 4,
            max_connections: 256,
            llm_intent_fallback: false,
            reply_budget_secs: 3.0,
            dictionary: PathBuf::from("models/cedict.txt.gz"),
            model_languages: vec![crate::lang::DEFAULT.to_string()],
            currency: "GBP".into(),
            locale: "en".into(),
        }
    }
}

/// llama.cpp threads by default: one core left free on machines of up to 4 cores, else all cores up to 8.
pub fn default_threads(cores: usize) -> i32 {
    let n = if cores <= 4 { cores.saturating_sub(1).max(1) } else { cores.min(8) };
    n as i32
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("environment variable {name}={value:?} is not valid: {why}")]
    Env { name: &'static str, value: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the file (when given and present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), source: Box::new(e) })?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        if let Some(problem) = cfg.rules.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if crate::money::Locale::of(&cfg.chat.locale).is_none() {
            let known = crate::money::Locale::known();
            return Err(ConfigError::Invalid(format!(
                "chat.locale {:?} is not known (known: {known})",
                cfg.chat.locale
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_defaults() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "AISLE_THREADS" => Some("1".into()),
            "AISLE_LISTEN" => Some("127.0.0.1:0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.llm.threads, 1);
        assert_eq!(cfg.listen.port(), 0);
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let mut cfg = Config::default();
        let err = cfg.apply_env(|k| (k == "AISLE_THREADS").then(|| "many".to_string())).unwrap_err();
        assert!(err.to_string().contains("AISLE_THREADS"), "{err}");
    }

    #[test]
    fn small_machines_leave_a_core_free_by_default() {
        assert_eq!([1, 2, 3, 4, 6, 16].map(default_threads), [1, 1, 2, 3, 6, 8]);
    }

    #[test]
    fn the_secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_relative_model_path_is_found_beside_the_config_or_the_binary_not_only_in_the_current_folder() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("models")).unwrap();
        std::fs::write(home.path().join("models/m.gguf"), b"x").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let bases = vec![elsewhere.path().to_path_buf(), home.path().to_path_buf()];
        let found = locate_in(Path::new("models/m.gguf"), &bases);
        assert_eq!(found, home.path().join("models/m.gguf"));
        assert_eq!(locate_in(Path::new("models/none.gguf"), &bases), Path::new("models/none.gguf"), "kept to be named");
        let abs = elsewhere.path().join("x.gguf");
        assert_eq!(locate_in(&abs, &bases), abs, "an absolute path is the shop's choice");
        let cfg_file = home.path().join("aisle.toml");
        assert_eq!(search_bases(Some(&cfg_file))[0], home.path());
    }

    #[test]
    fn an_alternative_chat_model_changes_only_what_it_names() {
        let toml = "[llm]\nthreads = 3\n[llm.alternatives.qwen]\nmodel = \"models/qwen.gguf\"\n\
                    [llm.alternatives.big]\nbackend = \"openai\"\nserver_url = \"http://10.0.0.2:8000/v1\"\n";
        let cfg: Config = toml::from_str(toml).unwrap();
        let qwen = cfg.llm.alternative(&cfg.llm.alternatives["qwen"]);
        assert_eq!((qwen.model.to_str(), qwen.threads, qwen.backend), (Some("models/qwen.gguf"), 3, LlmBackend::Llama));
        assert!(qwen.alternatives.is_empty());
        let big = cfg.llm.alternative(&cfg.llm.alternatives["big"]);
        assert_eq!((big.backend, big.server_url.as_str()), (LlmBackend::Openai, "http://10.0.0.2:8000/v1"));
        assert_eq!(big.model, cfg.llm.model);
        assert!(
            toml::from_str::<Config>("[llm.alternatives.x]\nmodle = \"m\"\n").is_err(),
            "a misspelt key is refused"
        );
    }

    #[test]
    fn a_config_file_sets_nested_fields() {
        let cfg: Config = toml::from_str("shop_name = \"X\"\n[llm]\nthreads = 3\n").unwrap();
        assert_eq!(cfg.shop_name, "X");
        assert_eq!(cfg.llm.threads, 3);
        assert_eq!(cfg.llm.ctx_size, 2048);
    }
}
