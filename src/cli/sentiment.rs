//! `aisle sentiment`: texts scored as the sentiment head reads them, or the review roll-up of a product, a
//! category or the shop; `aisle anomalies`: traffic against its band, or the flagged shoppers (JSON). Through the
//! running server when one holds the store, as `aisle forecast` does.
use super::{open_store, remote};
use crate::config::Config;
use crate::sentiment::rollup::{self, Rollups};
use crate::sentiment::{aspects, Sentiment};

pub fn run(cfg: &Config, texts: Vec<String>, level: &str, key: &str) -> anyhow::Result<()> {
    if crate::store::Store::in_use(&cfg.data_dir) {
        let server = remote::Server::from_config(cfg, false)?;
        let v = if texts.is_empty() {
            server.call("GET", &format!("/api/sentiment?level={level}&key={}", remote::percent(key)), None)?
        } else {
            let body = serde_json::to_vec(&serde_json::json!({ "texts": texts }))?;
            server.call("POST", "/api/sentiment/score", Some(&body))?
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let store = open_store(cfg, "it answers GET /api/sentiment")?;
    let catalog = crate::catalog::Catalog::new(store.products()?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let embedder = runtime
        .block_on(crate::app::start_embedder(cfg))?
        .ok_or_else(|| anyhow::anyhow!("the embedding model is needed (bash .ci/embedding-model)"))?;
    let langs =
        std::sync::Arc::new(crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?);
    let path = cfg.data_dir.join("sentiment-model.json");
    let s = Sentiment::load_or_train(&path, &cfg.sentiment_sets, embedder, langs, &cfg.chat.currency)?;
    let out = if !texts.is_empty() {
        let moods = s.moods(&texts)?;
        let rows: Vec<serde_json::Value> = texts
            .iter()
            .zip(moods)
            .map(|(t, m)| {
                serde_json::json!({ "text": t, "label": m.label(), "score": m.score(), "mood": m, "aspects": aspects::of(t) })
            })
            .collect();
        serde_json::to_value(rows)?
    } else if level == "product" {
        let p = catalog.get(key).ok_or_else(|| anyhow::anyhow!("no product {key:?}"))?;
        let r = Rollups::default().product(&p, &s)?.ok_or_else(|| anyhow::anyhow!("product {key:?} has no reviews"))?;
        serde_json::to_value(&*r)?
    } else {
        let all = Rollups::default().all(&catalog, &s)?;
        let key = if level == "category" { key } else { "" };
        serde_json::to_value(rollup::summary(&all, key))?
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `aisle anomalies`: the traffic series beside its band, or with `--shoppers` the flagged shoppers (JSON).
pub fn anomalies(cfg: &Config, grain: &str, metric: &str, shoppers: bool) -> anyhow::Result<()> {
    if crate::store::Store::in_use(&cfg.data_dir) {
        let server = remote::Server::from_config(cfg, false)?;
        let path = if shoppers {
            "/api/anomalies/shoppers".to_string()
        } else {
            format!("/api/anomalies?grain={grain}&metric={metric}&periods=5000")
        };
        println!("{}", serde_json::to_string_pretty(&server.call("GET", &path, None)?)?);
        return Ok(());
    }
    let store = open_store(cfg, "it answers GET /api/anomalies")?;
    let events = store.all_events()?;
    let out = if shoppers {
        serde_json::to_value(crate::anomaly::shoppers::suspects(&events, &store.all_orders()?))?
    } else {
        let grain = crate::anomaly::Grain::parse(grain).ok_or_else(|| anyhow::anyhow!("--grain: day or hour"))?;
        let metric = crate::anomaly::Metric::parse(metric)
            .ok_or_else(|| anyhow::anyhow!("--metric: visitors, events, purchases or conversion"))?;
        let t = crate::anomaly::Traffic::from_events(&events, grain);
        serde_json::to_value(crate::anomaly::banded(&t, grain, metric))?
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
