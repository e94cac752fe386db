//! `aisle bench import`: a catalog imported into the running server (`POST /api/import`, products embedded) while
//! honest shoppers chat. A fresh store holds the Amazon toys catalog (embedded); the server serves it with the
//! configured models; then the demo shop's ~4,000 products (the Online Retail file, as the generic format) are
//! imported while the same chats run again. Prints the import's speed (products/s, with embeddings), the chats'
//! turn p50/p99 during it beside the same chats on the idle server in the same run (the reference), how many
//! turns failed, and when the first imported product was recommendable.
use super::load::{honest_round, http_request, http_request_within, ToyShop};
use super::percentile;
use crate::config::Config;
use std::path::Path;
use std::time::{Duration, Instant};

/// Rounds of chats on the idle server (the reference).
const IDLE_ROUNDS: usize = 4;

pub async fn import(cfg: &Config, toys: &Path, demo: &Path, shoppers: usize, turns: usize) -> anyhow::Result<()> {
    // what is imported while serving: the demo shop's products in the generic format
    let mut report = crate::import::ImportReport::default();
    let demo_products = crate::import::online_retail::read(demo, &mut report)?.products;
    let file: String = demo_products.iter().map(|p| serde_json::to_string(p).unwrap_or_default() + "\n").collect();
    let first_new = demo_products.first().map(|p| p.id.clone()).unwrap_or_default();

    let shop = ToyShop::start(cfg, toys, "import").await?;
    let (port, token) = (shop.port, shop.token.clone());

    // a warm-up round of every ask (a first turn of each kind fills caches: 9.4 s once per run before this), not
    // counted; then the reference: the chats on the idle server, as many rounds as the import usually takes
    honest_round(port, shoppers, turns).await?;
    let (mut idle, mut idle_busy) = (vec![], 0);
    for _ in 0..IDLE_ROUNDS {
        let (ms, busy) = honest_round(port, shoppers, turns).await?;
        idle.extend(ms);
        idle_busy += busy;
    }

    // the import, with the chats running until it is done
    let started = Instant::now();
    let body = file.clone();
    let tok = token.clone();
    let importing = tokio::spawn(async move {
        let path = "/api/import?format=products";
        http_request_within(port, "POST", path, &tok, &body, Duration::from_secs(1800)).await
    });
    let (mut during, mut during_busy, mut failed) = (vec![], 0usize, 0usize);
    while !importing.is_finished() {
        match honest_round(port, shoppers, turns).await {
            Ok((ms, busy)) => {
                during.extend(ms);
                during_busy += busy;
            }
            Err(e) => {
                failed += 1;
                eprintln!("a chat failed during the import: {e}");
            }
        }
    }
    let (status, answer) = importing.await??;
    let import_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(status == 200, "the import was refused: HTTP {status}: {answer}");
    let imported: crate::import::ImportReport = serde_json::from_str(&answer)?;
    // when the recommender serves the new products (its next check)
    let answered = Instant::now();
    let similar = format!("/api/similar/{first_new}");
    while http_request(port, "GET", &similar, &token, "").await.map(|r| r.0).unwrap_or(0) != 200 {
        anyhow::ensure!(answered.elapsed() < Duration::from_secs(300), "the new products were not recommendable");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recommendable = answered.elapsed().as_secs_f64();
    shop.stop().await?;

    println!(
        "aisle bench import: {} products (the demo shop's, embedded) imported into a running server holding the toys \
         catalog; {shoppers} shoppers x {turns} turns per round, rounds repeated until the import ended",
        imported.products
    );
    println!("{:<56} {:>16} {:>16}", "figure", "during import", "idle (ref)");
    let row = |name: &str, v: String, r: String| println!("{name:<56} {v:>16} {r:>16}");
    row(
        "chat turn done, p50 / p99 (ms)",
        format!("{:.0}/{:.0}", percentile(&mut during.clone(), 0.5), percentile(&mut during, 0.99)),
        format!("{:.0}/{:.0}", percentile(&mut idle.clone(), 0.5), percentile(&mut idle, 0.99)),
    );
    row(
        "turns answered / busy template / rounds failed",
        format!("{}/{during_busy}/{failed}", during.len()),
        format!("{}/{idle_busy}/0", idle.len()),
    );
    row(
        "import: products/s (wall, with embeddings)",
        format!("{:.1}", imported.products as f64 / import_secs),
        format!("{:.1} s", import_secs),
    );
    row("first imported product recommendable after the answer (s)", format!("{recommendable:.1}"), "-".into());
    Ok(())
}
