//! The command line: `serve`, `import`, `convert` and `chat`. Flags override the config file and environment.
use crate::app::{shutdown_signal, Application, Shop};
use crate::config::Config;
use crate::import;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "aisle", version, about = "A self-hosted AI shop assistant")]
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
    /// Import products and events (generic format) or a raw Online Retail file. Repeatable without duplicates.
    Import {
        #[arg(long)]
        products: Option<PathBuf>,
        #[arg(long)]
        events: Option<PathBuf>,
        #[arg(long)]
        online_retail: Option<PathBuf>,
    },
    /// Convert a known data set into the generic import format.
    Convert {
        /// Only `amazon-toys` for now.
        format: String,
        input: PathBuf,
        output: PathBuf,
    },
    /// Benchmarks (figures beside a reference from the same run). `chat`: a chat turn end to end.
    Bench {
        /// Only `chat` for now.
        what: String,
        /// Passes over the request set.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// One chat turn from the command line, printed as the widget's frames (JSON lines).
    Chat {
        message: String,
        #[arg(long)]
        customer: Option<String>,
    },
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
    Ok(cfg)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = config(&cli)?;
    match cli.command {
        Command::Import { products, events, online_retail } => {
            anyhow::ensure!(
                products.is_some() || events.is_some() || online_retail.is_some(),
                "nothing to import: give --products, --events or --online-retail"
            );
            let report = import::run(&cfg.data_dir, &import::Sources { products, events, online_retail })?;
            print_report(&report);
            Ok(())
        }
        Command::Convert { format, input, output } => {
            anyhow::ensure!(format == "amazon-toys", "unknown format {format:?}; known: amazon-toys");
            let (n, bad) = import::amazon_toys::convert(&input, &output)?;
            println!("converted {n} products into {}", output.display());
            for b in bad.iter().take(20) {
                eprintln!("line {}: {}", b.line, b.message);
            }
            Ok(())
        }
        Command::Serve { listen, demo, demo_data } => {
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if demo {
                if let Some(report) = import::demo_if_empty(&cfg.data_dir, &demo_data)
                    .with_context(|| format!("importing the demo shop from {}", demo_data.display()))?
                {
                    println!("imported the demo shop:");
                    print_report(&report);
                }
            }
            runtime()?.block_on(async move {
                let app = Application::build(cfg.clone()).await?;
                println!("Aisle is serving on http://{}:{}/ (staff pages: /staff)", cfg.listen.ip(), app.port());
                app.run_until_stopped(shutdown_signal()).await?;
                Ok(())
            })
        }
        Command::Bench { what, rounds } => {
            anyhow::ensure!(what == "chat", "unknown benchmark {what:?}; known: chat");
            runtime()?.block_on(crate::bench::chat(&cfg, rounds))
        }
        Command::Chat { message, customer } => runtime()?.block_on(async move {
            let shop = Shop::open(&cfg).await?;
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let printer = tokio::spawn(async move {
                while let Some(f) = rx.recv().await {
                    println!("{}", serde_json::to_string(&f).unwrap_or_default());
                }
            });
            let r = shop.assistant.turn(&message, customer.as_deref(), &tx).await;
            drop(tx);
            printer.await?;
            if let Some(s) = r.stats {
                eprintln!(
                    "prompt {} tok in {:.0} ms, first token {:.0} ms, {} tok at {:.1} tok/s",
                    s.prompt_tokens,
                    s.prompt_ms,
                    s.first_token_ms,
                    s.generated_tokens,
                    s.tokens_per_second()
                );
            }
            shop.engine.shutdown();
            Ok(())
        }),
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
