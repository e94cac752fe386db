//! One function per command of the command line (the argument types live in `cli/mod.rs`).
use super::*;
use crate::app::{shutdown_signal, Application, Shop};
use anyhow::Context;
use std::path::Path;

pub fn import(cfg: &Config, sources: import::Sources, keyword_only: bool) -> anyhow::Result<()> {
    let embeds = sources.products.is_some()
        || sources.online_retail.is_some()
        || sources.shopify.is_some()
        || sources.merchant.is_some();
    anyhow::ensure!(
        embeds || sources.events.is_some(),
        "nothing to import: give --products, --events, --shopify, --merchant or --online-retail"
    );
    if crate::store::Store::in_use(&cfg.data_dir) {
        // a server has the store: it imports the files itself, while it serves
        return remote::Server::from_config(cfg, true)?.import(&sources);
    }
    if embeds && !keyword_only && cfg.embed.server_url.is_empty() && !cfg.embed.model.is_file() {
        anyhow::bail!(
            "the embedding model {} was not found (looked in the current folder, beside the config file and beside \
             the aisle binary); without it products get no vectors and semantic search cannot find them.\n\
             Fetch it with `models/fetch.sh minilm` and `aisle convert bert-q8`, point AISLE_EMBED_MODEL at it, or \
             give --keyword-only to import without vectors",
            cfg.embed.model.display()
        );
    }
    let embedder = match keyword_only {
        true => None,
        false => runtime()?.block_on(crate::app::start_embedder_with(cfg, cfg.embed.import_threads))?,
    };
    let report = import::run(&cfg.data_dir, &sources, embedder)?;
    print_report(&report);
    Ok(())
}

pub fn convert(format: &str, input: &Path, output: &Path) -> anyhow::Result<()> {
    let written = match format {
        "bert" => Some(crate::embed::convert::bert_to_gguf(input, output, "all-MiniLM-L6-v2")?),
        "bert-q8" => Some(crate::embed::convert::bert_to_gguf_as(input, output, "all-MiniLM-L6-v2", true)?),
        "e5" => Some(crate::embed::e5::e5s1_to_gguf(input, output)?),
        _ => None,
    };
    if let Some(n) = written {
        println!("wrote {} ({n} tensors)", output.display());
        return Ok(());
    }
    anyhow::ensure!(format == "amazon-toys", "unknown format {format:?}; known: amazon-toys, bert, e5");
    let (n, bad) = import::amazon_toys::convert(input, output)?;
    println!("converted {n} products into {}", output.display());
    for b in bad.iter().take(20) {
        eprintln!("line {}: {}", b.line, b.message);
    }
    Ok(())
}

pub fn serve(
    mut cfg: Config,
    listen: Option<std::net::SocketAddr>,
    demo: bool,
    demo_data: &Path,
) -> anyhow::Result<()> {
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if demo {
        let embedder = runtime()?.block_on(crate::app::start_embedder_with(&cfg, cfg.embed.import_threads))?;
        if let Some(report) = import::demo_if_empty(&cfg.data_dir, demo_data, embedder)
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

pub fn bench(cfg: &Config, a: BenchArgs) -> anyhow::Result<()> {
    match a.what.as_str() {
        "shopping" => {
            runtime()?.block_on(crate::cli::bench::shopping::shopping(cfg, &a.cases, a.class.as_deref(), &a.toys))
        }
        "chat" => runtime()?.block_on(crate::cli::bench::chat::chat(cfg, a.rounds)),
        "search-quality" => match a.lang.as_deref() {
            Some(code) => crate::cli::bench::lang::search(cfg, &a.toys, code),
            None => runtime()?.block_on(crate::cli::bench::search::quality(cfg, &a.toys, a.queries)),
        },
        "search-speed" => runtime()?.block_on(crate::cli::bench::search::speed(cfg, &a.demo_data, &a.toys, a.large)),
        "intent" => {
            let root = std::path::Path::new(".");
            runtime()?.block_on(crate::cli::bench::intent::intent(
                cfg,
                root,
                a.queries.min(400),
                a.rounds as u64,
                a.lang.as_deref(),
            ))
        }
        "recommend" => crate::cli::bench::recommend::recommend(cfg, a.queries, a.large),
        "console" => crate::cli::bench::console::console(
            a.sessions,
            a.queries.min(500),
            &cfg.intent_sets[0],
            &a.demo_data,
            &mut std::io::stdout(),
        ),
        "blend" => runtime()?.block_on(crate::cli::bench::blend::blend(cfg, a.queries)),
        "experiment" => runtime()?.block_on(crate::cli::bench::experiment::experiment(
            &a.demo_data,
            a.rounds.max(1) * 100,
            a.queries.clamp(200, 100_000),
        )),
        "engine" => runtime()?.block_on(crate::cli::bench::engine::engine(cfg, 128)),
        "forecast" => crate::cli::bench::forecast::forecast(&a.demo_data, a.reference.as_deref(), &a.python),
        "anomaly" => crate::cli::bench::anomaly::anomaly(&a.demo_data, a.reference.as_deref(), &a.python),
        "sentiment" => crate::cli::bench::sentiment::sentiment(cfg, a.reference.as_deref(), &a.python),
        "contention" => runtime()?.block_on(crate::cli::bench::contention::contention(cfg, a.rounds)),
        "start" => runtime()?.block_on(crate::cli::bench::start::start(cfg, a.rounds.max(1) * 3)),
        "import" => runtime()?.block_on(crate::cli::bench::import::import(
            cfg,
            &a.toys,
            &a.demo_data,
            a.shoppers.clamp(1, 50),
            a.rounds.max(1) * 3,
        )),
        "capacity" => runtime()?.block_on(crate::cli::bench::capacity::capacity(
            cfg,
            &a.toys,
            a.shoppers.clamp(1, 64),
            a.rounds.max(1) * 3,
            5000.0,
            a.competing.min(8),
        )),
        "load" => runtime()?.block_on(crate::cli::bench::load::load(
            cfg,
            a.shoppers.clamp(1, 200),
            a.rounds.max(1) * 5,
            a.queries as u32,
        )),
        other => {
            anyhow::bail!(
            "unknown benchmark {other:?}; known: chat, shopping, search-quality, search-speed, intent, recommend, blend, console, engine, load, contention, import, capacity, start, experiment, forecast, sentiment, anomaly"
        )
        }
    }
}

pub fn intent(cfg: &Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let embedder =
            crate::app::start_embedder(cfg).await?.ok_or_else(|| anyhow::anyhow!("the embedding model is needed"))?;
        let (path, sets) = (cfg.data_dir.join("intent-model.json"), cfg.intent_sets.clone());
        let langs = crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?;
        let currency = cfg.chat.currency.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            use std::io::{BufRead, Write};
            let read = |t: &str| langs.into_english(t, &currency);
            let intents = crate::intent::Intents::load_or_train(&path, &sets, embedder, &read)?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                // a line in another language is read into English first, as the chat reads a message
                let p = match read(line.trim()) {
                    Some(english) => intents.classify_read(&english)?,
                    None => intents.classify(line.trim())?,
                };
                writeln!(out, "{}", serde_json::to_string(&p)?)?;
            }
            Ok(())
        })
        .await?
    })
}

pub fn search(cfg: &Config, args: SearchArgs) -> anyhow::Result<()> {
    let SearchArgs { query, mode, min_price, max_price, category, brand, in_stock, min_rating, attr, limit } = args;
    let attributes = crate::search::attribute_filters(&attr).map_err(|e| anyhow::anyhow!("--attr: {e}"))?;
    let filters = crate::search::Filters { min_price, max_price, category, brand, in_stock, min_rating, attributes };
    runtime()?.block_on(async move {
        let shop = Shop::open(cfg).await?;
        let a = shop.assistant.clone();
        let mode = match mode {
            SearchMode::Keyword => crate::search::Mode::Keyword,
            SearchMode::Semantic => crate::search::Mode::Semantic,
            SearchMode::Hybrid => crate::search::Mode::Hybrid,
        };
        let req = crate::search::SearchRequest { text: query, mode, limit, filters, ..Default::default() };
        let hits = tokio::task::spawn_blocking(move || {
            a.search.search(&req, &a.catalog, |id| a.behavior.get().popularity(id))
        })
        .await??;
        for h in hits {
            let p = shop.assistant.catalog.get(&h.id);
            let title = p.as_ref().map_or("?", |p| p.title.as_str());
            let price = p.as_ref().map(|p| p.price_label()).unwrap_or_default();
            let side = |s: Option<crate::search::Part>| s.map_or("-".to_string(), |p| format!("#{}", p.rank));
            println!(
                "{:>8.4}  kw {:>4}  sem {:>4}  {:<10} {} ({price})",
                h.score,
                side(h.keyword),
                side(h.semantic),
                h.id,
                title
            );
        }
        shop.engine.shutdown();
        Ok(())
    })
}

pub fn user(cfg: &Config, action: UserAction) -> anyhow::Result<()> {
    if crate::store::Store::in_use(&cfg.data_dir) {
        return remote::Server::from_config(cfg, false)?.user(action);
    }
    let accounts = crate::accounts::Accounts::new(open_store(
        cfg,
        "an admin adds and removes accounts on the staff Accounts page",
    )?);
    match action {
        UserAction::Add { name, role } => {
            let password = read_password()?;
            accounts.add(&name, role, &password)?;
            println!("added {name} ({})", role.as_str());
        }
        UserAction::List => {
            for a in accounts.list()? {
                println!("{}\t{}\tcreated {}", a.name, a.role.as_str(), crate::prompts::datetime_iso(a.created));
            }
        }
        UserAction::Remove { name } => {
            accounts.remove(&name)?;
            println!("removed {name}");
        }
    }
    Ok(())
}

pub fn key(cfg: &Config, action: KeyAction) -> anyhow::Result<()> {
    if crate::store::Store::in_use(&cfg.data_dir) {
        return remote::Server::from_config(cfg, false)?.key(action);
    }
    let keys = crate::keys::Keys::new(open_store(cfg, "an admin makes and revokes keys on the staff API keys page")?);
    match action {
        KeyAction::Add { name, kind } => {
            let (record, key) = keys.add(&name, kind)?;
            println!("{key}");
            eprintln!("made {} key {} ({name}); it is not shown again", kind.as_str(), record.id);
        }
        KeyAction::List => {
            for k in keys.list()? {
                print_key(&k);
            }
        }
        KeyAction::Revoke { id } => {
            let k = keys.revoke(&id)?;
            println!("revoked {} ({})", k.id, k.name);
        }
    }
    Ok(())
}

/// One line of `key list`.
pub fn print_key(k: &crate::keys::ApiKey) {
    let state = k.revoked.map_or("live".to_string(), |t| format!("revoked {}", crate::prompts::datetime_iso(t)));
    println!("{}\t{}\t{}\t{}\t{state}", k.id, k.kind.as_str(), k.hint, k.name);
}

pub fn shopper(cfg: &Config, action: ShopperAction) -> anyhow::Result<()> {
    if crate::store::Store::in_use(&cfg.data_dir) {
        return remote::Server::from_config(cfg, false)?.shopper(action);
    }
    let store = open_store(cfg, "use GET or DELETE /api/shoppers/ID with the admin token")?;
    let sessions = crate::session::Sessions::new(store.clone());
    let index = crate::transcripts::TranscriptIndex::open(&cfg.data_dir, &sessions.list()?)?;
    let sessions = sessions.with_index(std::sync::Arc::new(index));
    match action {
        ShopperAction::Export { id } => {
            anyhow::ensure!(
                crate::identity::ShopperId::parse(&id).is_some(),
                "{id:?}: {}",
                crate::identity::SHOPPER_ID_RULE
            );
            let catalog = crate::catalog::Catalog::new(store.products()?);
            let e = crate::shopper_data::export(&store, &sessions, &catalog, &id)?;
            println!("{}", serde_json::to_string_pretty(&e)?);
        }
        ShopperAction::Delete { id } => {
            anyhow::ensure!(
                crate::identity::ShopperId::parse(&id).is_some(),
                "{id:?}: {}",
                crate::identity::SHOPPER_ID_RULE
            );
            let rec = crate::reco::serve::Recommender::open(&cfg.data_dir, &store)?;
            let d = crate::shopper_data::delete(&cfg.data_dir, &store, &sessions, Some(&rec), None, &id)?;
            println!("{}", serde_json::to_string(&d)?);
        }
    }
    Ok(())
}

pub fn chat(cfg: &Config, message: &str, customer: Option<String>) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let shop = Shop::open(cfg).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let printer = tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                println!("{}", serde_json::to_string(&f).unwrap_or_default());
            }
        });
        // the message's letters choose the language, as in the widget
        let lang = shop.assistant.langs.detect(message).unwrap_or(crate::lang::DEFAULT).to_string();
        let assistant = shop.assistant.in_lang(&lang);
        let r = assistant.turn(message, customer.as_deref(), &Default::default(), &tx).await;
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
    })
}
