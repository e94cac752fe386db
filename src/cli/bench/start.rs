//! `aisle bench start`: start to listening (the first `/healthz` answer) on the configured store, with the derived
//! tables loaded from their saved copies, beside the same start with the copies removed first (the tables rebuilt
//! from every event: what each start did before they were saved, and what a start after a change made by another
//! process still does). Starts of each kind alternate, each server stopped cleanly before the next start.
use super::load::http_request;
use super::percentile;
use crate::app::Application;
use crate::config::Config;
use std::time::{Duration, Instant};

pub async fn start(cfg: &Config, rounds: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        !crate::store::Store::in_use(&cfg.data_dir),
        "a server holds the store in {}: stop it first",
        cfg.data_dir.display()
    );
    let mut cfg = cfg.clone();
    cfg.listen = "127.0.0.1:0".parse()?;
    // a first start, not counted, saves the copies when there are none yet
    one_start(&cfg).await?;
    let (mut saved, mut rebuilt) = (vec![], vec![]);
    for _ in 0..rounds {
        crate::derived::remove_all(&cfg.data_dir)?;
        rebuilt.push(one_start(&cfg).await?);
        saved.push(one_start(&cfg).await?);
    }
    let store = crate::store::Store::open(&cfg.data_dir)?;
    println!(
        "aisle bench start: {} ({} products, {} events), {rounds} starts each",
        cfg.data_dir.display(),
        store.product_count(),
        store.events_with_rows()?.len(),
    );
    drop(store);
    println!("{:<44} {:>14} {:>24}", "start to listening (ms)", "saved tables", "ref: rebuilt from events");
    let row = |name: &str, f: &dyn Fn(&mut Vec<f64>) -> f64| {
        let (mut s, mut r) = (saved.clone(), rebuilt.clone());
        println!("{name:<44} {:>14.0} {:>24.0}", f(&mut s), f(&mut r));
    };
    row("p50", &|v| percentile(v, 0.5));
    row("fastest", &|v| v.iter().copied().fold(f64::MAX, f64::min));
    row("slowest", &|v| v.iter().copied().fold(0.0, f64::max));
    let (s, r) = (percentile(&mut saved.clone(), 0.5), percentile(&mut rebuilt.clone(), 0.5));
    println!("{:<44} {:>14.2}x", "saved vs rebuilt (p50)", s / r.max(1.0));
    Ok(())
}

/// One start: milliseconds from building the server to its first `/healthz` answer.
async fn one_start(cfg: &Config) -> anyhow::Result<f64> {
    let started = Instant::now();
    let app = Application::build(cfg.clone()).await?;
    let port = app.port();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));
    while http_request(port, "GET", "/healthz", "", "").await.map(|r| r.0).unwrap_or(0) != 200 {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "no answer on /healthz after 5 minutes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let _ = stop.send(());
    server.await??;
    Ok(ms)
}
